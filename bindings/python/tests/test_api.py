"""The Python API over the Rust meter: exact money, errors, reservations, reports, threads."""

import sqlite3
import threading
from decimal import Decimal

import pytest

import callmeter
from callmeter import Verdict


def test_a_track_call_answers_its_exact_cost_and_the_verdict(meter):
    call = meter.start_call("CA1", user="u1", tenant="t1", metadata={"room": "r1"})
    tracked = call.track_tts("elevenlabs", "eleven_flash_v2_5", 1_000)
    assert tracked.cost == Decimal("0.15")
    assert isinstance(tracked.cost, Decimal)
    assert tracked.verdict == Verdict.Fine
    tracked = call.track_inference("openai", "gpt-4o-mini", input_tokens=1_000, output_tokens=100,
                                   cached_input_tokens=10_000)
    # 1 000 × $0.15/M + 10 000 × $0.075/M + 100 × $0.60/M
    assert tracked.cost == Decimal("0.00096")
    assert call.total == Decimal("0.15096")
    summary = call.finalize()
    assert summary["total"] == Decimal("0.15096")
    assert summary["by_provider"] == {"elevenlabs": Decimal("0.15"), "openai": Decimal("0.00096")}
    assert summary["status"] == "completed"


def test_exactness_where_floats_drift(meter):
    # A thousand $0.0001-a-call requests: Decimal sums exactly, float does not.
    call = meter.start_call("exact")
    for _ in range(1_000):
        call.track_stt("openai", "whisper-1", 1.0)  # $0.006 a minute: $0.0001 a second
    assert call.total == Decimal("0.1")
    assert sum(0.0001 for _ in range(1_000)) != 0.1


def test_money_going_in_is_never_a_float(meter):
    call = meter.start_call("pay")
    tracked = call.track_payment("stripe", "card-not-present", Decimal("4.99"))
    assert tracked.cost == Decimal("0.46966")
    assert call.track_payment("stripe", "standard", "100").cost == Decimal("3.2")
    with pytest.raises(TypeError, match="exact"):
        call.track_payment("stripe", "standard", 4.99)
    with pytest.raises(ValueError):
        call.track_payment("stripe", "standard", "four dollars")


def test_errors_are_exception_classes_and_an_unknown_model_still_records(db):
    with callmeter.Meter(db) as meter:
        call = meter.start_call("errors")
        with pytest.raises(callmeter.UnknownModelError, match="no price for acme/voice"):
            call.track_tts("acme", "voice", 10)
        with pytest.raises(callmeter.InvalidQuantityError):
            call.track_stt("deepgram", "nova-3", -1.0)
        with pytest.raises(callmeter.DuplicateCallError):
            meter.start_call("errors")
        assert issubclass(callmeter.UnknownModelError, callmeter.CallmeterError)
        summary = call.finalize()
        assert summary["unpriced_events"] == 1, "the unknown model's usage is recorded"
        with pytest.raises(callmeter.CallFinalizedError):
            call.track_tts("elevenlabs", "eleven_v3", 1)
    with pytest.raises(callmeter.CatalogError):
        callmeter.Meter(db, catalog=["/nonexistent/catalog.toml"])


def test_the_budget_cuts_a_call_off(db):
    with callmeter.Meter(db, budget=Decimal("0.20"), warn_at_percent=50) as meter:
        call = meter.start_call("budget")
        assert call.track_tts("elevenlabs", "eleven_v3", 400).verdict == Verdict.Warning  # $0.12
        assert call.track_tts("elevenlabs", "eleven_v3", 400).verdict == Verdict.Cutoff  # $0.24


def test_reservations_hold_settle_release_and_refuse(db):
    limits = {"daily_cost": Decimal("0.10")}
    with callmeter.Meter(db, user_limits=limits) as meter:
        call = meter.start_call("reserve", user="u1")
        held = call.reserve_tts("elevenlabs", "eleven_v3", 200)  # $0.06
        assert held.granted and held.held == Decimal("0.06")
        refused = call.reserve_tts("elevenlabs", "eleven_v3", 200)
        assert not refused.granted
        assert refused.by == "user u1 day"
        assert refused.held == Decimal("0.06")
        assert held.settle_tts(100).cost == Decimal("0.03")
        with pytest.raises(callmeter.CallFinalizedError):
            held.release()
        again = call.reserve_inference("openai", "gpt-4o-mini", input_tokens=1_000, output_tokens=100)
        assert again.granted
        again.release()
        assert call.total == Decimal("0.03")
        stats = meter.stats()
        assert (stats["reservations_settled"], stats["reservations_released"]) == (1, 1)


def test_reports_read_the_database_with_decimals(db):
    with callmeter.Meter(db) as meter:
        call = meter.start_call("report")
        call.track_duration("twilio", "outbound-us", 80)
        call.track_duration("twilio", "outbound-us", 80, leg=1)
        call.finalize()
    reports = callmeter.Reports(db)
    report = reports.call("report")
    assert report["total"] == Decimal("0.056"), "two legs of 1 min 20 s: two calls of 2 minutes"
    assert [e["cost"] for e in report["events"]] == [Decimal("0.028"), Decimal("0.028")]
    assert reports.call("nobody") is None
    day = report["started_at"][:10]
    platform = reports.platform(day, day)
    assert platform["total"] == Decimal("0.056")


def test_track_calls_from_many_threads_add_up_exactly(meter):
    call = meter.start_call("threads")

    def work():
        for _ in range(500):
            call.track_tts("cartesia", "sonic-3", 1_000)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 4 000 × 1 000 characters at $0.006 per 1 000.
    assert call.total == Decimal("24")
    summary = call.finalize()
    meter.flush()
    assert summary["events"] == 4_000
    assert meter.stats()["persisted"] == 4_000


def test_the_meter_shuts_down_on_exit_and_writes_everything(db):
    with callmeter.Meter(db) as meter:
        call = meter.start_call("exit")
        call.track_tts("elevenlabs", "eleven_v3", 10)
    stats = meter.shutdown()
    assert stats["persisted"] == 1 and stats["pending"] == 0
    assert callmeter.Reports(db).call("exit")["events"][0]["cost"] == Decimal("0.003")


def test_a_gpt_live_webrtc_session_and_a_stale_price_alert(db):
    meter = callmeter.Meter(db, stale_price_alert_days=90)
    call = meter.start_call("live")
    assert call.track_session_start("openai", "gpt-live-1:webrtc").cost == Decimal("0.0125")
    call.track_duration("openai", "gpt-live-1:webrtc", 90)
    assert call.total == Decimal("0.075")
    call.track_stt("deepgram", "nova-3", 60)  # checked 2025-11-21: stale
    call.finalize()
    stats = meter.shutdown()  # delivers every alert before it returns
    assert stats["alerts_raised"] == 1
    with sqlite3.connect(db) as conn:
        kinds = [row[0] for row in conn.execute("SELECT kind FROM alerts")]
    assert kinds == ["stale_price"]


def test_framework_names_map_to_the_catalogs():
    from callmeter._names import catalog_model, provider_of

    assert provider_of("OpenAILLMService#0") == "openai"
    assert provider_of("livekit.plugins.deepgram.stt.STT") == "deepgram"
    assert provider_of("GoogleGeminiLiveLLMService#1") == "google"
    assert provider_of("MyService#0") is None
    assert provider_of("MyService#0", {"MyService": "cartesia"}) == "cartesia"
    assert catalog_model("deepgram", "nova-3-general", streamed=True) == "nova-3-streaming"
    assert catalog_model("deepgram", "nova-3", streamed=False) == "nova-3"
    assert catalog_model("deepgram", "nova-2-phonecall", streamed=True) == "nova-2"
    assert catalog_model("deepgram", "nova-2", streamed=False) == "nova-2-prerecorded"
    assert catalog_model("openai", "gpt-4o-mini") == "gpt-4o-mini"
