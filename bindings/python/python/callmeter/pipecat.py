"""Pipecat: price the usage metrics a pipeline reports, on the call it belongs to.

Put a :class:`CostProcessor` at the end of the pipeline (after the output transport) and enable
``PipelineParams(enable_metrics=True, enable_usage_metrics=True)``. Each ``MetricsFrame`` it sees is
tracked: LLM token usage (with cache reads and writes, reasoning and audio tokens), TTS characters,
STT audio seconds. When a track call answers ``Verdict.Cutoff`` (the call's budget, or its user's
or tenant's limit) the processor pushes an ``EndWorkerFrame`` upstream once, ending the pipeline.

Pipecat reports ``prompt_tokens`` gross of the prompt cache for OpenAI-compatible services and net
for Anthropic and Bedrock; the processor subtracts the cache counts where they are inside.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional

from pipecat.frames.frames import EndWorkerFrame, Frame, MetricsFrame
from pipecat.metrics.metrics import (
    LLMUsageMetricsData,
    MetricsData,
    STTUsageMetricsData,
    TTSUsageMetricsData,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from . import Call, Tracked, UnknownModelError, Verdict
from ._names import catalog_model, provider_of

#: Services whose ``prompt_tokens`` leave the cache counts out (net); every other is gross.
NET_PROMPT = ("anthropic", "bedrock")


def track_metrics(
    call: Call,
    data: MetricsData,
    providers: Optional[Mapping[str, str]] = None,
    models: Optional[Mapping[str, str]] = None,
) -> Optional[Tracked]:
    """Tracks one Pipecat usage metric on ``call``; ``None`` for metrics that bill nothing.

    ``providers`` maps a service name (``MyLLMService``) to a catalog provider, ``models`` a
    framework model name to a catalog model. An unknown provider or model raises
    :class:`callmeter.UnknownModelError`, after recording the usage unpriced.
    """
    if not isinstance(data, (LLMUsageMetricsData, TTSUsageMetricsData, STTUsageMetricsData)):
        return None
    provider = provider_of(data.processor, providers) or data.processor.split("#", 1)[0]
    model = data.model or ""
    if models and model in models:
        model = models[model]
    if isinstance(data, TTSUsageMetricsData):
        return call.track_tts(provider, model, int(data.value))
    if isinstance(data, STTUsageMetricsData):
        # Pipecat's speech-to-text services stream the call's audio.
        model = catalog_model(provider, model, streamed=True)
        return call.track_stt(provider, model, float(data.value.audio_seconds))
    usage = data.value
    cache_read = usage.cache_read_input_tokens or 0
    cache_write = usage.cache_creation_input_tokens or 0
    audio_in = usage.input_audio_tokens or 0
    cached_audio = usage.cache_read_input_audio_tokens or 0
    audio_out = usage.output_audio_tokens or 0
    reasoning = usage.reasoning_tokens or 0
    net = any(name in data.processor.lower() for name in NET_PROMPT)
    prompt = usage.prompt_tokens if net else usage.prompt_tokens - cache_read - cache_write
    return call.track_inference(
        provider,
        model,
        input_tokens=max(prompt - (audio_in - cached_audio), 0),
        cached_input_tokens=cache_read - cached_audio,
        cache_write_tokens=cache_write,
        output_tokens=max(usage.completion_tokens - reasoning - audio_out, 0),
        reasoning_tokens=reasoning,
        audio_input_tokens=audio_in - cached_audio,
        cached_audio_input_tokens=cached_audio,
        audio_output_tokens=audio_out,
    )


class CostProcessor(FrameProcessor):
    """Tracks the usage metrics passing through it on ``call``, and ends the pipeline on a cutoff.

    ``on_tracked`` is called with each :class:`callmeter.Tracked`; ``on_error`` with each error of
    a track call (an unknown model: the usage is recorded unpriced all the same). Frames pass on
    unchanged.
    """

    def __init__(
        self,
        call: Call,
        *,
        providers: Optional[Mapping[str, str]] = None,
        models: Optional[Mapping[str, str]] = None,
        end_on_cutoff: bool = True,
        on_tracked: Optional[Callable[[Tracked], None]] = None,
        on_error: Optional[Callable[[Exception], None]] = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.call = call
        self._providers = providers
        self._models = models
        self._end_on_cutoff = end_on_cutoff
        self._on_tracked = on_tracked
        self._on_error = on_error
        self._ended = False

    async def process_frame(self, frame: Frame, direction: FrameDirection):
        await super().process_frame(frame, direction)
        cutoff = False
        if isinstance(frame, MetricsFrame):
            for data in frame.data:
                try:
                    tracked = track_metrics(self.call, data, self._providers, self._models)
                except UnknownModelError as e:
                    if self._on_error:
                        self._on_error(e)
                    continue
                if tracked is None:
                    continue
                if self._on_tracked:
                    self._on_tracked(tracked)
                cutoff = cutoff or tracked.verdict == Verdict.Cutoff
        await self.push_frame(frame, direction)
        if cutoff and self._end_on_cutoff and not self._ended:
            self._ended = True
            await self.push_frame(EndWorkerFrame(), FrameDirection.UPSTREAM)
