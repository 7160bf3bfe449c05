//! Provider usage objects, read from the providers' own JSON and priced with each one's cache
//! semantics (see tests/fixtures/README.md for the payloads).

mod common;

use callmeter::adapters::{
    AnthropicUsage, DeepgramResponse, OpenAiUsage, RealtimeUsage, TwilioStatusCallback,
};
use callmeter::{CallInfo, Catalog, Category, Error, ModelPrice, Rate, TokenUsage, UsageKind, Usd};
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
    let bad_duration: TwilioStatusCallback =
        serde_urlencoded::from_str("CallDuration=eighty").expect("a form body");
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
    use callmeter::adapters::{LiveKitLlmMetrics, PipecatTokenUsage};
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

#[test]
fn deepgram_responses_recorded_by_the_sdk_price_per_second() -> TestResult {
    use callmeter::adapters::{DeepgramLiveMessage, DeepgramStream};
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("deepgram"))?;

    // Pre-recorded, nova-3, one channel: 19.097937 s, billed as 20 s at $0.0043 a minute.
    let file: DeepgramResponse = serde_json::from_value(fixture("sdk_deepgram_prerecorded.json"))?;
    assert_eq!(file.billed_seconds()?, 19.098);
    assert_eq!(
        call.track_stt("deepgram", "nova-3", file.billed_seconds()?)?
            .cost,
        Usd::from_nanos(1_433_333)
    );

    // Live: a final result for 5.9 s + 1.73 s shows 7.63 s of audio streamed (billed as 8 s at
    // $0.0077 a minute); the docs' closing Metadata of an empty stream adds nothing.
    let mut stream = DeepgramStream::new();
    let result: DeepgramLiveMessage =
        serde_json::from_value(fixture("sdk_deepgram_live_results.json"))?;
    let seconds = stream.advance(&result)?.expect("a final result adds audio");
    assert_eq!(seconds, 7.63);
    assert_eq!(
        call.track_stt("deepgram", "nova-3-streaming", seconds)?
            .cost,
        Usd::from_nanos(1_026_667)
    );
    let closed: DeepgramLiveMessage =
        serde_json::from_value(fixture("deepgram_close_stream_metadata.json"))?;
    assert_eq!(stream.advance(&closed)?, None);
    assert_eq!(call.total(), Usd::from_nanos(1_433_333 + 1_026_667));
    Ok(())
}

#[test]
fn twilio_call_resources_from_the_sdk_give_duration_and_twilios_price() -> TestResult {
    use callmeter::adapters::TwilioCall;
    // A completed inbound call of 15 s: one started minute at $0.0085; Twilio's own price is there
    // to reconcile with (this example's $0.03 is from 2010's rates).
    let completed: TwilioCall = serde_json::from_value(fixture("sdk_twilio_call.json"))?;
    assert_eq!(completed.seconds()?, 15.0);
    assert_eq!(completed.billed()?, Some(Usd::new(dec!(0.03))));
    // A failed call: zero seconds and not priced.
    let page = fixture("sdk_twilio_calls_page.json");
    let failed: TwilioCall = serde_json::from_value(page["calls"][0].clone())?;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.seconds()?, 0.0);
    assert_eq!(failed.billed()?, None);

    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new(completed.sid.clone()))?;
    assert_eq!(
        call.track_duration("twilio", "inbound-us", completed.seconds()?)?
            .cost,
        Usd::new(dec!(0.0085))
    );
    let failed_call = meter.start_call(CallInfo::new("failed"))?;
    assert_eq!(
        failed_call
            .track_duration("twilio", "outbound-us", failed.seconds()?)?
            .cost,
        Usd::ZERO
    );
    Ok(())
}

#[test]
fn a_twilio_status_callback_reads_from_its_form_body() -> TestResult {
    // Twilio posts status callbacks form-encoded; the parameter names are Twilio's.
    let body = "AccountSid=ACexample&ApiVersion=2010-04-01&CallSid=CAexample&CallStatus=completed\
                &CallDuration=80&Direction=outbound-api&From=%2B14155550100&To=%2B14155550199\
                &Timestamp=Fri%2C+21+Nov+2025+10%3A00%3A00+%2B0000&SequenceNumber=3";
    let callback: TwilioStatusCallback = serde_urlencoded::from_str(body)?;
    assert_eq!(callback.seconds()?, 80.0);
    // An earlier callback (ringing) has no CallDuration: a deserialisation error, not a zero.
    let ringing: Result<TwilioStatusCallback, _> =
        serde_urlencoded::from_str("CallSid=CAexample&CallStatus=ringing");
    assert!(ringing.is_err());
    Ok(())
}

#[test]
fn livekit_speech_metrics_give_audio_seconds_and_characters() -> TestResult {
    use callmeter::adapters::{LiveKitSttMetrics, LiveKitTtsMetrics};
    // STTMetrics.model_dump() of a streaming Deepgram STT (livekit-agents 1.2.14 field names).
    let stt: LiveKitSttMetrics = serde_json::from_str(
        r#"{"type": "stt_metrics", "label": "livekit.plugins.deepgram.stt.STT", "request_id": "r2",
            "timestamp": 1763726400.0, "duration": 0.0, "audio_duration": 5.05, "streamed": true,
            "metadata": {"model_name": "nova-3", "model_provider": "Deepgram"}}"#,
    )?;
    assert_eq!(stt.audio_seconds()?, 5.05);
    let meta = stt.metadata.clone().expect("metadata");
    assert_eq!(meta.model_provider.as_deref(), Some("Deepgram"));
    // TTSMetrics.model_dump() of an ElevenLabs synthesis.
    let tts: LiveKitTtsMetrics = serde_json::from_str(
        r#"{"type": "tts_metrics", "label": "livekit.plugins.elevenlabs.tts.TTS", "request_id": "r3",
            "timestamp": 1763726401.0, "ttfb": 0.2, "duration": 1.1, "audio_duration": 2.4,
            "cancelled": false, "characters_count": 47, "streamed": true, "segment_id": "s1",
            "speech_id": "sp1",
            "metadata": {"model_name": "eleven_turbo_v2_5", "model_provider": "ElevenLabs"}}"#,
    )?;
    assert_eq!(tts.characters_count, 47);

    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("livekit"))?;
    // The plugin's provider name matches the catalog's regardless of case.
    assert_eq!(
        call.track_stt("Deepgram", "nova-3-streaming", stt.audio_seconds()?)?
            .cost,
        // 6 s (per second, rounded up) at $0.0077 a minute.
        Usd::from_nanos(770_000)
    );
    let tts_meta = tts.metadata.expect("metadata");
    let (provider, model) = (
        tts_meta.model_provider.expect("provider"),
        tts_meta.model_name.expect("model"),
    );
    // 47 characters at $0.15 per thousand.
    assert_eq!(
        call.track_tts(&provider, &model, tts.characters_count)?
            .cost,
        Usd::new(dec!(0.00705))
    );
    // A negative duration is a typed error.
    let bad: LiveKitSttMetrics = serde_json::from_str(r#"{"audio_duration": -1.0}"#)?;
    assert!(matches!(
        bad.audio_seconds(),
        Err(Error::InvalidQuantity { .. })
    ));
    Ok(())
}
