"""The Pipecat integration, on the real framework: usage metrics frames through `run_test`."""

import asyncio
from decimal import Decimal

from conftest import require

import callmeter


def frames():
    metrics = require("pipecat.metrics.metrics")
    pipecat_frames = require("pipecat.frames.frames")
    llm = metrics.LLMUsageMetricsData(
        processor="OpenAILLMService#0",
        model="gpt-4o-mini",
        value=metrics.LLMTokenUsage(
            # Gross, as OpenAI reports it: the 800 cached tokens are inside the 1 000.
            prompt_tokens=1_000,
            completion_tokens=120,
            total_tokens=1_120,
            cache_read_input_tokens=800,
            reasoning_tokens=20,
        ),
    )
    claude = metrics.LLMUsageMetricsData(
        processor="AnthropicLLMService#0",
        model="claude-haiku-4-5",
        value=metrics.LLMTokenUsage(
            # Net, as Anthropic reports it: the cache counts are beside it.
            prompt_tokens=200,
            completion_tokens=50,
            total_tokens=1_250,
            cache_read_input_tokens=1_000,
        ),
    )
    tts = metrics.TTSUsageMetricsData(processor="ElevenLabsTTSService#0", model="eleven_flash_v2_5", value=1_000)
    stt = metrics.STTUsageMetricsData(
        processor="DeepgramSTTService#0", model="nova-3", value=metrics.STTUsage(audio_seconds=60.0)
    )
    ttfb = metrics.TTFBMetricsData(processor="OpenAILLMService#0", value=0.3)
    return pipecat_frames, [pipecat_frames.MetricsFrame(data=[llm, claude, tts, stt, ttfb])]


def test_usage_metrics_frames_are_tracked_on_the_call(meter):
    pipecat_frames, to_send = frames()
    integration = require("callmeter.pipecat")
    utils = require("pipecat.tests.utils")
    call = meter.start_call("pipecat")
    seen = []
    processor = integration.CostProcessor(call, on_tracked=seen.append)
    down, up = asyncio.run(
        utils.run_test(
            processor,
            frames_to_send=to_send,
            expected_down_frames=[pipecat_frames.MetricsFrame],
        )
    )
    assert len(seen) == 4, "LLM twice, TTS and STT; latency metrics bill nothing"
    # gpt-4o-mini: 200 uncached × $0.15/M + 800 cached × $0.075/M + 100 out + 20 reasoning × $0.60/M
    assert seen[0].cost == Decimal("0.000162")
    # claude-haiku-4-5: 200 × $1/M + 1 000 cached × $0.10/M + 50 × $5/M
    assert seen[1].cost == Decimal("0.00055")
    assert seen[2].cost == Decimal("0.15")  # 1 000 characters of Flash
    assert seen[3].cost == Decimal("0.0077")  # a minute of Nova-3 streaming
    assert call.total == Decimal("0.158412")


def test_a_cutoff_ends_the_pipeline(db):
    pipecat_frames, to_send = frames()
    integration = require("callmeter.pipecat")
    utils = require("pipecat.tests.utils")
    with callmeter.Meter(db, budget=Decimal("0.10")) as meter:
        call = meter.start_call("cutoff")
        processor = integration.CostProcessor(call)
        down, up = asyncio.run(
            utils.run_test(
                processor,
                frames_to_send=to_send,
                expected_down_frames=[pipecat_frames.MetricsFrame],
                expected_up_frames=[pipecat_frames.EndWorkerFrame],
            )
        )
        assert call.total > Decimal("0.10")


def test_an_unknown_service_is_reported_and_recorded_unpriced(meter):
    metrics = require("pipecat.metrics.metrics")
    integration = require("callmeter.pipecat")
    call = meter.start_call("unknown")
    data = metrics.TTSUsageMetricsData(processor="MyTTSService#0", model="v1", value=10)
    try:
        integration.track_metrics(call, data)
        raise AssertionError("an unknown provider is an error")
    except callmeter.UnknownModelError:
        pass
    tracked = integration.track_metrics(call, data, providers={"MyTTSService": "cartesia"}, models={"v1": "sonic-3"})
    assert tracked.cost == Decimal("0.00006")
    assert call.finalize()["unpriced_events"] == 1
