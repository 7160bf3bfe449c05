//! Billing rules as providers apply them, each built from the provider's own statement (quoted).
//! Exact money throughout: nano-dollars and Decimals, never floats.

mod common;

use callmeter::adapters::{GeminiUsage, RealtimeTurns, RealtimeUsage, TwilioStatusCallback};
use callmeter::pricing::{Increment, Turn};
use callmeter::{
    CallInfo, Catalog, Category, ModelPrice, Rate, Reserve, TokenUsage, UsageKind, Usd,
};
use chrono::{TimeZone, Utc};
use common::{Db, TestResult};
use rust_decimal::{Decimal, dec};

fn usd(d: Decimal) -> Usd {
    Usd::new(d)
}

/// Twilio: "any partial minutes (under 60 seconds) are rounded up to the next full minute … a two-way
/// call connecting two different Call SIDs for 1 minute and 20 seconds would bill you for two
/// different calls of 2 minutes."
/// (https://support.twilio.com/hc/en-us/articles/223132307)
#[test]
fn twilio_bills_each_call_sid_as_a_call_of_its_own() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let two_legs = meter.start_call(CallInfo::new("two-legs"))?;
    two_legs.track_duration_of_leg("twilio", "outbound-us", 1, 80.0)?;
    two_legs.track_duration_of_leg("twilio", "outbound-us", 2, 80.0)?;
    // Two calls of 2 minutes at $0.014.
    assert_eq!(two_legs.total(), usd(dec!(0.056)));
    // One leg of the same 2 min 40 s is 3 minutes; tracked in parts it is still one leg.
    let one_leg = meter.start_call(CallInfo::new("one-leg"))?;
    one_leg.track_duration_of_leg("twilio", "outbound-us", 1, 80.0)?;
    one_leg.track_duration_of_leg("twilio", "outbound-us", 1, 80.0)?;
    assert_eq!(one_leg.total(), usd(dec!(0.042)));
    // Leg 0 is the call's own duration.
    let own = meter.start_call(CallInfo::new("own"))?;
    own.track_duration("twilio", "outbound-us", 80.0)?;
    own.track_duration_of_leg("twilio", "outbound-us", 0, 80.0)?;
    assert_eq!(own.total(), usd(dec!(0.042)));
    Ok(())
}

/// Twilio: "Effective 8 July 2021 Twilio will be updating our systems to round the duration of any
/// completed sub-second call up to 1 second and emit a billing event for those calls."
/// (https://www.twilio.com/en-us/changelog/upcoming-changes-to-programmable-voice-billing-for-outbound-call)
#[test]
fn twilio_bills_a_completed_sub_second_call_as_one_second() -> TestResult {
    let completed: TwilioStatusCallback =
        serde_json::from_str(r#"{"CallDuration": "0", "CallStatus": "completed"}"#)?;
    assert_eq!(completed.seconds()?, 1.0);
    let unanswered: TwilioStatusCallback =
        serde_json::from_str(r#"{"CallDuration": "0", "CallStatus": "no-answer"}"#)?;
    assert_eq!(
        unanswered.seconds()?,
        0.0,
        "only a completed call is billed"
    );
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("blip"))?;
    call.track_duration("twilio", "outbound-us", completed.seconds()?)?;
    assert_eq!(
        call.total(),
        usd(dec!(0.014)),
        "one second is a started minute"
    );
    Ok(())
}

/// Telnyx: "A 6/6 billing indicates a 6 second minimum with subsequent 6 second increments. For
/// example, a 1 second call will be billed at 6 seconds; a 7 second call will be billed at 12
/// seconds. We charge $0.01 / minute …"
/// (https://support.telnyx.com/en/articles/1130666-flat-rate-vs-tariff-rate-deck-outbound)
#[test]
fn telnyx_bills_a_six_second_minimum_then_six_second_steps() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    for (seconds, billed) in [(1.0, 6), (7.0, 12), (11.0, 12), (61.0, 66)] {
        let call = meter.start_call(CallInfo::new(format!("telnyx-{seconds}")))?;
        call.track_duration("telnyx", "outbound-us", seconds)?;
        // $0.01 a minute is 1/6 of a cent (166 666.6… nano-dollars) every 10 seconds.
        let expected = Decimal::from(billed) * dec!(0.01) / dec!(60);
        assert_eq!(
            call.total(),
            Usd::from_nanos(i64::try_from((expected * dec!(1_000_000_000)).round())?),
            "{seconds} s bills {billed} s"
        );
    }
    Ok(())
}

/// OpenAI GPT-Live: "A `POST /v1/live/sessions` request to create a WebRTC session bills 15 seconds
/// of voice duration while the session initializes. That amount is credited against duration
/// charges once the session runs" — a 90-second session costs 90 seconds, not 105; "voice sessions
/// cost $0.05 per minute, billed per second".
/// (https://developers.openai.com/api/docs/guides/voice-latency-cost,
/// https://developers.openai.com/api/docs/models/gpt-live-1)
#[test]
fn a_webrtc_session_is_charged_fifteen_seconds_at_creation_and_credited() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let fifteen_seconds = usd(dec!(0.0125));
    let session = meter.start_call(CallInfo::new("ninety"))?;
    let start = session.track_session_start("openai", "gpt-live-1:webrtc")?;
    assert_eq!(
        start.cost, fifteen_seconds,
        "charged when the session is created"
    );
    assert_eq!(
        session
            .track_session_start("openai", "gpt-live-1:webrtc")?
            .cost,
        Usd::ZERO,
        "a session starts once"
    );
    let first = session.track_duration("openai", "gpt-live-1:webrtc", 10.0)?;
    assert_eq!(
        first.cost,
        Usd::ZERO,
        "the first 15 seconds are the start charge"
    );
    session.track_duration("openai", "gpt-live-1:webrtc", 80.0)?;
    assert_eq!(session.total(), usd(dec!(0.075)), "90 seconds, not 105");

    let abandoned = meter.start_call(CallInfo::new("abandoned"))?;
    abandoned.track_session_start("openai", "gpt-live-1:webrtc")?;
    assert_eq!(abandoned.total(), fifteen_seconds, "created, never run");

    let short = meter.start_call(CallInfo::new("short"))?;
    short.track_session_start("openai", "gpt-live-1:webrtc")?;
    short.track_duration("openai", "gpt-live-1:webrtc", 4.0)?;
    assert_eq!(short.total(), fifteen_seconds);

    // Without WebRTC there is no start charge, and no minimum: 10 s is 10 s.
    let websocket = meter.start_call(CallInfo::new("websocket"))?;
    assert_eq!(
        websocket.track_session_start("openai", "gpt-live-1")?.cost,
        Usd::ZERO
    );
    websocket.track_duration("openai", "gpt-live-1", 10.0)?;
    assert_eq!(websocket.total(), Usd::from_nanos(8_333_333));
    Ok(())
}

/// pyannote: "There is a 20-second minimum charge for all requests to /diarize and /identify … An
/// 8-second /diarize request is billed as 20 seconds … A 182-second /diarize request is billed as 182
/// seconds." (https://docs.pyannote.ai/administration/billing). The rate is the test's own: the
/// provider's plan page was not reachable.
#[test]
fn a_minimum_per_request_rounds_each_request_on_its_own() -> TestResult {
    let diarize = ModelPrice::new("pyannote", "diarize", Category::Stt)
        .rate(
            UsageKind::AudioSeconds,
            Rate::per_second(Usd::from_nanos(1_000)),
        )
        .increment(
            UsageKind::AudioSeconds,
            Increment::seconds(1, 20).each_request(),
        );
    let catalog = Catalog::builder().insert(diarize).build()?;
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("diarize"))?;
    let eight = call.track_stt("pyannote", "diarize", 8.0)?;
    assert_eq!(eight.cost, Usd::from_nanos(20_000), "8 s is billed as 20 s");
    let again = call.track_stt("pyannote", "diarize", 8.0)?;
    assert_eq!(
        again.cost,
        Usd::from_nanos(20_000),
        "the minimum is per request, not per call"
    );
    let long = call.track_stt("pyannote", "diarize", 182.0)?;
    assert_eq!(long.cost, Usd::from_nanos(182_000));
    assert_eq!(call.total(), Usd::from_nanos(222_000));
    Ok(())
}

/// Anthropic: Sonnet 4 and 4.5 prompts over 200K input tokens are billed at "Input: $6 / MTok …
/// Output: $22.50 / MTok" instead of $3 and $15, for the whole request.
/// (docs.anthropic.com/en/docs/about-claude/pricing, long context pricing)
#[test]
fn a_prompt_over_200k_tokens_moves_the_whole_request_to_the_long_context_rates() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("long"))?;
    let short = call.track_inference(
        "anthropic",
        "claude-sonnet-4-5",
        TokenUsage::new(200_000, 1_000),
    )?;
    assert_eq!(
        short.cost,
        usd(dec!(0.615)),
        "200 000 × $3/M + 1 000 × $15/M"
    );
    let long = call.track_inference(
        "anthropic",
        "claude-sonnet-4-5",
        TokenUsage::new(200_001, 1_000),
    )?;
    assert_eq!(
        long.cost,
        usd(dec!(1.2225060)),
        "200 001 × $6/M + 1 000 × $22.50/M"
    );
    Ok(())
}

/// OpenAI Realtime: "The entire conversation is sent to the model for each Response. The output from
/// a turn will be added as Items to the server Conversation and become the input to subsequent
/// turns, thus turns later in the session will be more expensive."
/// (https://developers.openai.com/api/docs/guides/realtime-costs). A session costs the sum of its
/// turns as reported, and `quote_turns` shows the growth.
#[test]
fn every_realtime_turn_is_billed_for_the_whole_conversation() -> TestResult {
    let at = Utc
        .with_ymd_and_hms(2026, 12, 5, 0, 0, 0)
        .single()
        .ok_or("time")?;
    let turn = Turn::new(1_000, 100, 200).with_output_text(20);
    let rows = Catalog::builtin().quote_turns("openai", "gpt-realtime-1.5", turn, 3, at)?;
    // Turn k: text in 1000 + 20(k−1) at $4/M, audio in 100 + 300(k−1) at $32/M, 20 text out at $16/M,
    // 200 audio out at $64/M.
    let costs: Vec<Usd> = rows.iter().map(|r| r.cost).collect();
    assert_eq!(
        costs,
        [usd(dec!(0.02032)), usd(dec!(0.03)), usd(dec!(0.03968))]
    );
    assert_eq!(rows[2].session_total, usd(dec!(0.09)));
    assert_eq!(rows[2].usage.audio_input, 700);

    // The same session tracked turn by turn from `response.done` usages costs the same.
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("session"))?;
    let mut session = RealtimeTurns::default();
    for k in 0..3_u64 {
        let usage: RealtimeUsage = serde_json::from_value(serde_json::json!({
            "input_tokens": 1_000 + 20 * k + 100 + 300 * k,
            "output_tokens": 220,
            "input_token_details": {"text_tokens": 1_000 + 20 * k, "audio_tokens": 100 + 300 * k},
            "output_token_details": {"text_tokens": 20, "audio_tokens": 200},
        }))?;
        session.add(usage.to_token_usage()?)?;
        call.track_openai_realtime_usage("gpt-realtime-1.5", &usage)?;
    }
    assert_eq!(call.total(), usd(dec!(0.09)));
    assert_eq!(session.turns(), 3);
    assert_eq!(session.total().audio_input, 100 + 400 + 700);
    Ok(())
}

/// Gemini Live bills every turn for all the tokens in the context window, the audio of earlier turns
/// included ("re-billing applies to all tokens, including raw audio from previous turns", Google's
/// answer on discuss.ai.google.dev, citing ai.google.dev/gemini-api/docs/live-api/best-practices).
/// Built-in prices for Gemini were not reachable: the rates here are the test's own.
#[test]
fn gemini_live_turns_are_tracked_as_reported() -> TestResult {
    let live = ModelPrice::new("google", "gemini-live", Category::Realtime)
        .rate(
            UsageKind::InputTokens,
            Rate::per_million_tokens(usd(dec!(1))),
        )
        .rate(
            UsageKind::AudioInputTokens,
            Rate::per_million_tokens(usd(dec!(3))),
        )
        .rate(
            UsageKind::OutputTokens,
            Rate::per_million_tokens(usd(dec!(2))),
        )
        .rate(
            UsageKind::AudioOutputTokens,
            Rate::per_million_tokens(usd(dec!(12))),
        );
    let catalog = Catalog::builder().insert(live).build()?;
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("live"))?;
    let mut session = RealtimeTurns::default();
    for (text, audio) in [(500_u64, 100_u64), (500, 300)] {
        let usage: GeminiUsage = serde_json::from_value(serde_json::json!({
            "promptTokenCount": text + audio,
            "responseTokenCount": 100,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": text},
                                    {"modality": "AUDIO", "tokenCount": audio}],
            "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 100}],
        }))?;
        session.add(usage.to_token_usage()?)?;
        call.track_gemini_usage("gemini-live", &usage)?;
    }
    // Text 1 000 × $1/M, audio in 400 × $3/M, audio out 200 × $12/M.
    assert_eq!(call.total(), usd(dec!(0.0046)));
    assert_eq!(session.total().audio_input, 400);
    Ok(())
}

/// Cartesia: "Credits are only used by successful requests; errors will not consume credits."
/// (https://docs.cartesia.ai/pricing). A reservation for a request that failed is released, not
/// recorded at its estimate.
#[test]
fn a_failed_cartesia_request_costs_nothing() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("failed"))?;
    match call.reserve_tts("cartesia", "sonic-3", 1_000)? {
        Reserve::Reserved(held) => drop(held),
        Reserve::Refused(r) => return Err(format!("refused: {r:?}").into()),
    }
    assert_eq!(call.total(), Usd::ZERO);
    Ok(())
}
