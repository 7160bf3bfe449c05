//! One call, a few track calls, finalize, print the summary.
//!
//! ```text
//! cargo run --example quickstart
//! ```
#![allow(clippy::print_stdout)]

use callmeter::{CallInfo, Meter, Outcome, TokenUsage, Usd};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("callmeter-quickstart");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("quickstart.db");
    let (meter, guard) = Meter::builder().path(&path).open()?;

    let call_id = format!("quickstart-{}", std::process::id());
    let call = meter.start_call(
        CallInfo::new(call_id)
            .user("user-7")
            .tenant("acme")
            .persona("coach")
            .session_kind("phone"),
    )?;

    // The pipeline reports usage as it happens.
    call.track_stt("deepgram", "nova-2", 42.5)?;
    let turn = call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(9_200, 310))?;
    println!("LLM turn: {} (call so far {})", turn.cost, turn.call_total);
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412)?;
    call.track_duration("twilio", "outbound-us", 80.0)?; // 1 min 20 s bills as 2 minutes
    call.track_payment("stripe", "card-not-present", "4.99".parse::<Usd>()?)?;

    let summary = call.finalize(Outcome::Completed)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);

    let stats = guard.shutdown()?;
    println!(
        "events persisted: {} of {} (database: {})",
        stats.persisted,
        stats.enqueued,
        path.display()
    );
    Ok(())
}
