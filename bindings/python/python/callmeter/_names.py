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


def catalog_model(provider: str, model: str, streamed: Optional[bool] = None) -> str:
    """The catalog's name for a framework's ``model`` of ``provider``.

    Deepgram prices streaming and pre-recorded audio apart, and frameworks name its models with a
    domain suffix (``nova-3-general``): a streamed ``nova-3`` is the catalog's ``nova-3-streaming``,
    a streamed ``nova-2`` its ``nova-2`` (pre-recorded: ``nova-3``, ``nova-2-prerecorded``).
    """
    if provider == "deepgram":
        for family, live, recorded in (
            ("nova-3", "nova-3-streaming", "nova-3"),
            ("nova-2", "nova-2", "nova-2-prerecorded"),
        ):
            if model == family or model.startswith(family + "-"):
                if model.endswith("-streaming") or model.endswith("-prerecorded"):
                    return model
                return live if streamed else recorded
    return model
