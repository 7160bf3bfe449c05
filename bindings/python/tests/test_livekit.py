"""The LiveKit Agents integration, on the real framework: an AgentSession's metrics events."""

from decimal import Decimal

from conftest import require


def test_a_sessions_metrics_are_tracked_on_the_call(meter):
    agents = require("livekit.agents")
    metrics = require("livekit.agents.metrics")
    events = require("livekit.agents.voice.events")
    integration = require("callmeter.livekit")
    call = meter.start_call("room-1")
    session = agents.AgentSession()
    seen, errors = [], []
    integration.track_session(session, call, on_tracked=seen.append, on_error=errors.append)

    meta = lambda provider, model: metrics.base.Metadata(model_provider=provider, model_name=model)  # noqa: E731
    llm = metrics.LLMMetrics(
        label="livekit.plugins.openai.llm.LLM", request_id="r1", timestamp=0.0, duration=0.5, ttft=0.1,
        cancelled=False, completion_tokens=100, prompt_tokens=1_000, prompt_cached_tokens=800,
        total_tokens=1_100, tokens_per_second=200.0, metadata=meta("openai", "gpt-4o-mini"),
    )
    stt = metrics.STTMetrics(
        label="livekit.plugins.deepgram.stt.STT", request_id="r2", timestamp=0.0, duration=0.0,
        audio_duration=30.0, streamed=True, metadata=meta("deepgram", "nova-3-general"),
    )
    tts = metrics.TTSMetrics(
        label="livekit.plugins.cartesia.tts.TTS", request_id="r3", timestamp=0.0, ttfb=0.1, duration=1.0,
        audio_duration=3.0, cancelled=False, characters_count=1_000, streamed=True,
        metadata=meta("cartesia", "sonic-3"),
    )
    realtime = metrics.RealtimeModelMetrics(
        request_id="r4", timestamp=0.0,
        input_tokens=1_500, output_tokens=300, total_tokens=1_800,
        input_token_details=metrics.RealtimeModelMetrics.InputTokenDetails(
            text_tokens=1_000, audio_tokens=500, cached_tokens=600,
            cached_tokens_details=metrics.RealtimeModelMetrics.CachedTokenDetails(text_tokens=400, audio_tokens=200),
        ),
        output_token_details=metrics.RealtimeModelMetrics.OutputTokenDetails(text_tokens=100, audio_tokens=200),
        metadata=meta("openai", "gpt-realtime-1.5"),
    )
    vad = metrics.VADMetrics(label="vad", timestamp=0.0, idle_time=1.0, inference_duration_total=0.1, inference_count=3)
    for m in [llm, stt, tts, realtime, vad]:
        session.emit("metrics_collected", events.MetricsCollectedEvent(metrics=m))

    assert errors == []
    assert len(seen) == 4, "VAD bills nothing"
    # gpt-4o-mini: 200 × $0.15/M + 800 cached × $0.075/M + 100 × $0.60/M
    assert seen[0].cost == Decimal("0.00015")
    assert seen[1].cost == Decimal("0.00385")  # 30 s of Nova-3 streaming at $0.0077 a minute
    assert seen[2].cost == Decimal("0.006")  # 1 000 characters of Sonic-3
    # gpt-realtime-1.5: text 600 × $4/M + 400 cached × $0.40/M + 100 out × $16/M;
    # audio 300 × $32/M + 200 cached × $0.40/M + 200 out × $64/M
    assert seen[3].cost == Decimal("0.02664")
    assert call.total == sum((t.cost for t in seen), Decimal(0))
