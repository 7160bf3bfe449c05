//! A voice pipeline wired to callmeter from provider responses: each stage hands its response's usage
//! over in one line. The responses are kept in `tests/fixtures/`: bodies recorded by the providers'
//! official SDKs' test suites where those keep one, else an API reference's example or a body written
//! to the documented shape (the note there gives each one's origin).
//!
//! ```text
//! cargo run --example openai_pipeline
//! ```
#![allow(clippy::print_stdout)]

use callmeter::adapters::{
    AnthropicUsage, DeepgramLiveMessage, DeepgramResponse, DeepgramStream, OpenAiUsage,
    RealtimeUsage, TwilioCall,
};
use callmeter::{CallInfo, Meter, Outcome};
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

    // Speech to text: Deepgram's response says how much audio it transcribed (recorded: nova-3).
    let stt: DeepgramResponse = serde_json::from_value(response("sdk_deepgram_prerecorded.json")?)?;
    call.track_stt("deepgram", "nova-3", stt.billed_seconds()?)?;

    // A live Deepgram stream: each final result says how far the audio has gone; the stream is
    // billed once, however many results and the closing Metadata arrive.
    let mut stream = DeepgramStream::new();
    for name in [
        "sdk_deepgram_live_results.json",
        "deepgram_close_stream_metadata.json",
    ] {
        let message: DeepgramLiveMessage = serde_json::from_value(response(name)?)?;
        if let Some(seconds) = stream.advance(&message)? {
            call.track_stt("deepgram", "nova-3-streaming", seconds)?;
        }
    }

    // The language model: OpenAI's usage counts cached tokens inside prompt_tokens…
    let chat = response("sdk_openai_chat_completion.json")?;
    let usage: OpenAiUsage = part(&chat, "/usage")?;
    call.track_openai_usage(part::<String>(&chat, "/model")?.as_str(), &usage)?;

    // …and Anthropic's beside input_tokens; callmeter bills each token once either way. (The
    // Anthropic SDK's recording is for a retired model; this body is written to the documented
    // shape, with a cache hit.)
    let message = response("anthropic_messages_cache.json")?;
    let usage: AnthropicUsage = part(&message, "/usage")?;
    call.track_anthropic_usage("claude-sonnet-4-5", &usage)?;

    // A realtime turn: text and audio tokens, with their cached parts (the API reference's example).
    let usage: RealtimeUsage =
        serde_json::from_value(response("openai_realtime_reference_usage.json")?)?;
    call.track_openai_realtime_usage("gpt-realtime", &usage)?;

    // Text to speech: the characters sent.
    let reply = "Your appointment is at three. Anything else?";
    call.track_tts(
        "elevenlabs",
        "eleven_turbo_v2_5",
        reply.chars().count() as u64,
    )?;

    // Telephony: once the call has ended, Twilio's Call resource (or the `completed` status
    // callback, `TwilioStatusCallback`) gives its duration; Twilio's own price comes later, to
    // reconcile with.
    let twilio: TwilioCall = serde_json::from_value(response("sdk_twilio_call.json")?)?;
    call.track_duration("twilio", "inbound-us", twilio.seconds()?)?;
    if let Some(price) = twilio.billed()? {
        println!("Twilio's own price for {}: {price}", twilio.sid);
    }

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
