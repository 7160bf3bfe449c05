"""LiveKit Agents: price an ``AgentSession``'s metrics on the call it belongs to.

``track_session(session, call)`` subscribes to the session's ``metrics_collected`` events and tracks
LLM tokens (cache reads and writes, reasoning), STT audio seconds, TTS characters and realtime model
usage (text and audio tokens, each with its cached part) with the room or job's call. The provider
and model come from each metric's ``metadata`` (the plugin's), mapped to the catalog's names.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from livekit.agents.metrics import LLMMetrics, RealtimeModelMetrics, STTMetrics, TTSMetrics

from . import Call, Tracked, UnknownModelError
from ._names import catalog_model, provider_of


def _names(metrics: Any, providers: Optional[Mapping[str, str]], models: Optional[Mapping[str, str]]):
    meta = getattr(metrics, "metadata", None)
    raw_provider = getattr(meta, "model_provider", None) or getattr(metrics, "label", "")
    provider = provider_of(raw_provider, providers) or (raw_provider or "unknown")
    model = getattr(meta, "model_name", None) or ""
    if models and model in models:
        model = models[model]
    return provider, model


def track_metrics(
    call: Call,
    metrics: Any,
    providers: Optional[Mapping[str, str]] = None,
    models: Optional[Mapping[str, str]] = None,
) -> Optional[Tracked]:
    """Tracks one LiveKit Agents metric on ``call``; ``None`` for metrics that bill nothing."""
    if isinstance(metrics, LLMMetrics):
        provider, model = _names(metrics, providers, models)
        cached = metrics.prompt_cached_tokens or 0
        written = metrics.cache_creation_tokens or 0
        reasoning = metrics.reasoning_tokens or 0
        # LiveKit reports prompt tokens gross: the cache reads and writes are inside.
        return call.track_inference(
            provider,
            model,
            input_tokens=max(metrics.prompt_tokens - cached - written, 0),
            cached_input_tokens=cached,
            cache_write_tokens=written,
            output_tokens=max(metrics.completion_tokens - reasoning, 0),
            reasoning_tokens=reasoning,
        )
    if isinstance(metrics, STTMetrics):
        provider, model = _names(metrics, providers, models)
        model = catalog_model(provider, model, streamed=bool(metrics.streamed))
        return call.track_stt(provider, model, float(metrics.audio_duration))
    if isinstance(metrics, TTSMetrics):
        provider, model = _names(metrics, providers, models)
        return call.track_tts(provider, model, int(metrics.characters_count))
    if isinstance(metrics, RealtimeModelMetrics):
        provider, model = _names(metrics, providers, models)
        i, o = metrics.input_token_details, metrics.output_token_details
        cached = i.cached_tokens_details
        cached_text = cached.text_tokens + cached.image_tokens if cached else i.cached_tokens
        cached_audio = cached.audio_tokens if cached else 0
        return call.track_inference(
            provider,
            model,
            input_tokens=max(i.text_tokens + i.image_tokens - cached_text, 0),
            cached_input_tokens=cached_text,
            audio_input_tokens=max(i.audio_tokens - cached_audio, 0),
            cached_audio_input_tokens=cached_audio,
            output_tokens=o.text_tokens,
            audio_output_tokens=o.audio_tokens,
        )
    return None


def track_session(
    session: Any,
    call: Call,
    *,
    providers: Optional[Mapping[str, str]] = None,
    models: Optional[Mapping[str, str]] = None,
    on_tracked: Optional[Callable[[Tracked], None]] = None,
    on_error: Optional[Callable[[Exception], None]] = None,
) -> Callable[[Any], None]:
    """Tracks every billable metric ``session`` collects on ``call``; returns the handler (pass it to
    ``session.off("metrics_collected", handler)`` to stop)."""

    def handler(event: Any) -> None:
        try:
            tracked = track_metrics(call, event.metrics, providers, models)
        except UnknownModelError as e:
            if on_error:
                on_error(e)
            return
        if tracked is not None and on_tracked:
            on_tracked(tracked)

    session.on("metrics_collected", handler)
    return handler
