"""Framework service names to catalog provider names."""

from __future__ import annotations

from typing import Mapping, Optional

#: Provider names as callmeter's catalog spells them, matched in a framework's service or plugin name
#: (``OpenAILLMService#0``, ``livekit.plugins.deepgram``), longest first.
PROVIDERS = (
    "assemblyai",
    "elevenlabs",
    "anthropic",
    "speechmatics",
    "cartesia",
    "cerebras",
    "deepgram",
    "gladia",
    "google",
    "gemini",
    "openai",
    "twilio",
    "telnyx",
    "azure",
    "rime",
    "hume",
)

#: Framework names that differ from the catalog's.
ALIASES = {"gemini": "google"}


def provider_of(name: Optional[str], overrides: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The catalog provider a framework's service or plugin ``name`` stands for, or ``None``.

    ``overrides`` maps a name (or its part before ``#``) to a provider first.
    """
    if not name:
        return None
    base = name.split("#", 1)[0]
    if overrides:
        for key in (name, base):
            if key in overrides:
                return overrides[key]
    lowered = base.lower()
    for provider in PROVIDERS:
        if provider in lowered:
            return ALIASES.get(provider, provider)
    return None
