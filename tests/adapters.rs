//! Provider usage objects, read from the providers' own JSON and priced with each one's cache
//! semantics (see tests/fixtures/README.md for the payloads).

mod common;

use callmeter::{
    AnthropicUsage, CallInfo, Catalog, Category, DeepgramResponse, Error, ModelPrice, OpenAiUsage,
    Rate, RealtimeUsage, TokenUsage, TwilioStatusCallback, UsageKind, Usd,
};
use common::{Db, TestResult};
use rust_decimal::dec;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("tests/fixtures/{name}")).expect(name);
    serde_json::from_str(&text).expect(name)
}

fn usage<T: serde::de::DeserializeOwned>(name: &str, pointer: &str) -> T {
    let v = fixture(name);
    serde_json::from_value(v.pointer(pointer).expect(pointer).clone()).expect(name)
}

#[test]
fn openai_chat_usage_is_gross_of_the_cache() -> TestResult {
    let u: OpenAiUsage = usage("openai_chat_cached.json", "/usage");
    assert_eq!(
        u.to_token_usage()?,
        TokenUsage::new(86, 300).with_cached_input(1_920)
    );
    Ok(())
}

#[test]
fn openai_responses_usage_separates_reasoning() -> TestResult {
    let u: OpenAiUsage = usage("openai_responses_reasoning.json", "/usage");
    assert_eq!(
        u.to_token_usage()?,
        TokenUsage::new(176, 260)
            .with_cached_input(1_024)
            .with_reasoning(640)
    );
    Ok(())
}

#[test]
fn anthropic_usage_is_net_of_the_cache_with_writes_by_lifetime() -> TestResult {
    let u: AnthropicUsage = usage("anthropic_messages_cache.json", "/usage");
    assert_eq!(
        u.to_token_usage()?,
        TokenUsage::new(86, 300)
            .with_cached_input(1_920)
            .with_cache_write(1_000)
            .with_cache_write_1h(500)
    );
    // Without the breakdown, every write has the default 5-minute lifetime.
    let plain: AnthropicUsage = serde_json::from_str(
        r#"{"input_tokens": 10, "output_tokens": 5, "cache_creation_input_tokens": 40}"#,
    )?;
    assert_eq!(
        plain.to_token_usage()?,
        TokenUsage::new(10, 5).with_cache_write(40)
    );
    Ok(())
}

#[test]
fn realtime_usage_splits_text_audio_and_their_cached_parts() -> TestResult {
    let u: RealtimeUsage = usage("openai_realtime_response_done.json", "/response/usage");
    assert_eq!(
        u.to_token_usage()?,
        TokenUsage::new(210, 60)
            .with_cached_input(640)
            .with_audio(372, 360)
            .with_cached_audio_input(128)
    );
    Ok(())
}

#[test]
fn the_same_cache_hit_costs_the_same_from_either_shape() -> TestResult {
    // One model sold by both providers at the same rates.
    let model = |provider: &str| {
        ModelPrice::new(provider, "same", Category::Llm)
            .rate(
                UsageKind::InputTokens,
                Rate::per_million_tokens(Usd::new(dec!(3))),
            )
            .rate(
                UsageKind::CachedInputTokens,
                Rate::per_million_tokens(Usd::new(dec!(0.30))),
            )
            .rate(
                UsageKind::OutputTokens,
                Rate::per_million_tokens(Usd::new(dec!(15))),
            )
    };
    let catalog = Catalog::builder()
        .insert(model("openai"))
        .insert(model("anthropic"))
        .build()?;
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("cache"))?;
    // 1 000 prompt tokens of which 800 from the cache, 100 out: OpenAI counts the 800 inside the
    // 1 000, Anthropic beside the 200.
    let openai: OpenAiUsage = serde_json::from_str(
        r#"{"prompt_tokens": 1000, "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 800}}"#,
    )?;
    let anthropic: AnthropicUsage = serde_json::from_str(
        r#"{"input_tokens": 200, "output_tokens": 100, "cache_read_input_tokens": 800}"#,
    )?;
    let a = call.track_openai_usage("same", &openai)?.cost;
    let b = call.track_anthropic_usage("same", &anthropic)?.cost;
    // 200 × $3 + 800 × $0.30 + 100 × $15, per million.
    assert_eq!(a, Usd::new(dec!(0.00234)));
    assert_eq!(a, b);
    Ok(())
}

#[test]
fn built_in_prices_take_provider_objects_directly() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("direct"))?;
    let chat: OpenAiUsage = usage("openai_chat_cached.json", "/usage");
    // gpt-4o-mini: 86 × $0.15 + 1 920 × $0.075 + 300 × $0.60, per million.
    assert_eq!(
        call.track_openai_usage("gpt-4o-mini-2024-07-18", &chat)?
            .cost,
        Usd::new(dec!(0.0003369))
    );
    let realtime: RealtimeUsage = usage("openai_realtime_response_done.json", "/response/usage");
    // gpt-realtime: text 210 × $4 + 640 × $0.40 + 60 × $16; audio 372 × $32 + 128 × $0.40 + 360 × $64.
    assert_eq!(
        call.track_openai_realtime_usage("gpt-realtime", &realtime)?
            .cost,
        Usd::new(dec!(0.0370512))
    );
    let stt: DeepgramResponse = serde_json::from_value(fixture("deepgram_prerecorded.json"))?;
    // nova-3 pre-recorded, billed per second: 26 s of $0.0043 a minute.
    assert_eq!(
        call.track_stt("deepgram", "nova-3", stt.metadata.duration)?
            .cost,
        Usd::from_nanos(1_863_333)
    );
    let twilio: TwilioStatusCallback =
        serde_json::from_value(fixture("twilio_status_callback.json"))?;
    assert_eq!(
        call.track_duration("twilio", "outbound-us", twilio.seconds()?)?
            .cost,
        Usd::new(dec!(0.028))
    );
    Ok(())
}

#[test]
fn missing_fields_are_zero_and_wrong_ones_are_typed_errors() -> TestResult {
    let empty: OpenAiUsage = serde_json::from_str("{}")?;
    assert_eq!(empty.to_token_usage()?, TokenUsage::default());
    let wrong: Result<OpenAiUsage, _> = serde_json::from_str(r#"{"prompt_tokens": "many"}"#);
    assert!(wrong.is_err());
    let negative: Result<AnthropicUsage, _> = serde_json::from_str(r#"{"input_tokens": -1}"#);
    assert!(negative.is_err());
    let bad_duration = TwilioStatusCallback {
        call_duration: "eighty".into(),
    };
    assert!(matches!(
        bad_duration.seconds(),
        Err(Error::InvalidQuantity { .. })
    ));
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("bad"))?;
    let inconsistent: OpenAiUsage = serde_json::from_str(
        r#"{"completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 9}}"#,
    )?;
    assert!(matches!(
        call.track_openai_usage("gpt-4o-mini", &inconsistent),
        Err(Error::InvalidQuantity { .. })
    ));
    assert_eq!(call.total(), Usd::ZERO);
    Ok(())
}

#[test]
fn responses_recorded_by_the_official_sdks_deserialise_and_price() -> TestResult {
    let chat: OpenAiUsage = usage("sdk_openai_chat_completion.json", "/usage");
    assert_eq!(chat.to_token_usage()?, TokenUsage::new(14, 37));
    let response: OpenAiUsage = usage("sdk_openai_response.json", "/usage");
    assert_eq!(response.to_token_usage()?, TokenUsage::new(14, 50));
    let message: AnthropicUsage = usage("sdk_anthropic_message.json", "/usage");
    assert_eq!(message.to_token_usage()?, TokenUsage::new(518, 114));
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("sdk"))?;
    let model = fixture("sdk_openai_chat_completion.json")["model"]
        .as_str()
        .expect("model")
        .to_string();
    // gpt-4o-2024-08-06 matches gpt-4o: 14 × $2.50 + 37 × $10, per million.
    assert_eq!(
        call.track_openai_usage(&model, &chat)?.cost,
        Usd::new(dec!(0.000405))
    );
    Ok(())
}

#[test]
fn framework_metrics_use_their_own_cache_semantics() -> TestResult {
    use callmeter::{LiveKitLlmMetrics, PipecatTokenUsage};
    // LiveKit Agents' LLMMetrics.model_dump(): prompt_tokens includes prompt_cached_tokens.
    let livekit: LiveKitLlmMetrics = serde_json::from_str(
        r#"{"type": "llm_metrics", "label": "livekit.plugins.openai.llm.LLM", "request_id": "r1",
            "timestamp": 1763726400.0, "duration": 0.8, "ttft": 0.3, "cancelled": false,
            "completion_tokens": 100, "prompt_tokens": 1000, "prompt_cached_tokens": 800,
            "total_tokens": 1100, "tokens_per_second": 125.0}"#,
    )?;
    // Pipecat's LLMTokenUsage.model_dump() from its Anthropic service: net of the cache.
    let pipecat: PipecatTokenUsage = serde_json::from_str(
        r#"{"prompt_tokens": 200, "completion_tokens": 100, "total_tokens": 300,
            "cache_read_input_tokens": 800, "cache_creation_input_tokens": null,
            "reasoning_tokens": null}"#,
    )?;
    let expected = TokenUsage::new(200, 100).with_cached_input(800);
    assert_eq!(livekit.to_token_usage()?, expected);
    assert_eq!(pipecat.to_token_usage()?, expected);
    Ok(())
}

#[test]
fn the_realtime_reference_usage_and_a_totals_only_usage() -> TestResult {
    let reference: RealtimeUsage =
        serde_json::from_value(fixture("openai_realtime_reference_usage.json"))?;
    assert_eq!(
        reference.to_token_usage()?,
        TokenUsage::new(55, 30)
            .with_cached_input(64)
            .with_audio(13, 91)
    );
    // Only totals: nothing is lost, the tokens are billed at the audio rates.
    let totals: RealtimeUsage =
        serde_json::from_str(r#"{"input_tokens": 132, "output_tokens": 121}"#)?;
    assert_eq!(
        totals.to_token_usage()?,
        TokenUsage::new(0, 0).with_audio(132, 121)
    );
    Ok(())
}
