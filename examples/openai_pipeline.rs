//! A voice pipeline wired to callmeter from provider responses: each stage hands its response's usage
//! over in one line. The responses are the payloads in `tests/fixtures/` (see the note there).
//!
//! ```text
//! cargo run --example openai_pipeline
//! ```
#![allow(clippy::print_stdout)]

use callmeter::{
    AnthropicUsage, CallInfo, DeepgramResponse, Meter, OpenAiUsage, Outcome, RealtimeUsage,
    TwilioStatusCallback,
};
use serde_json::Value;

/// A recorded response body.
fn response(name: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?)
}

/// The part of a response at `pointer`, as `T`.
fn part<T: serde::de::DeserializeOwned>(
    body: &Value,
    pointer: &str,
) -> Result<T, Box<dyn std::error::Error>> {
    let v = body.pointer(pointer).ok_or(format!("no {pointer}"))?;
    Ok(serde_json::from_value(v.clone())?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile_dir()?;
    let (meter, guard) = Meter::builder().path(dir.join("pipeline.db")).open()?;
    let call = meter.start_call(
        CallInfo::new("CAexample")
            .user("user-7")
            .session_kind("phone"),
    )?;

    // Speech to text: Deepgram's response says how much audio it transcribed.
    let stt: DeepgramResponse = serde_json::from_value(response("deepgram_prerecorded.json")?)?;
    call.track_stt("deepgram", "nova-3", stt.metadata.duration)?;

    // The language model: OpenAI's usage counts cached tokens inside prompt_tokens…
    let chat = response("openai_chat_cached.json")?;
    let usage: OpenAiUsage = part(&chat, "/usage")?;
    call.track_openai_usage("gpt-4o-mini", &usage)?;

    // …and Anthropic's beside input_tokens; callmeter bills each token once either way.
    let message = response("anthropic_messages_cache.json")?;
    let usage: AnthropicUsage = part(&message, "/usage")?;
    call.track_anthropic_usage("claude-sonnet-4-5", &usage)?;

    // A realtime turn: text and audio tokens, with their cached parts.
    let done = response("openai_realtime_response_done.json")?;
    let usage: RealtimeUsage = part(&done, "/response/usage")?;
    call.track_openai_realtime_usage("gpt-realtime", &usage)?;

    // Text to speech: the characters sent.
    let reply = "Your appointment is at three. Anything else?";
    call.track_tts(
        "elevenlabs",
        "eleven_turbo_v2_5",
        reply.chars().count() as u64,
    )?;

    // Telephony: Twilio's status callback gives the call's duration when it ends.
    let status: TwilioStatusCallback =
        serde_json::from_value(response("twilio_status_callback.json")?)?;
    call.track_duration("twilio", "outbound-us", status.seconds()?)?;

    let summary = call.finalize(Outcome::Completed)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    drop(call);
    guard.shutdown()?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A fresh directory for the example's database.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("callmeter-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
