//! Many concurrent calls on a tokio runtime: admission before each call, a budget that cuts a call
//! off, and a clean async shutdown.
//!
//! ```text
//! cargo run --example tokio_agent
//! ```
//!
//! Track calls never block, so async tasks call them directly. The calls that wait (`flush`,
//! `MeterGuard::shutdown`) have async forms that wait on a thread of their own; `Meter::open` and
//! `Reports` queries read SQLite and belong in `tokio::task::spawn_blocking`.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use callmeter::{Budget, CallInfo, Limits, Meter, Outcome, TokenUsage, Usd, Verdict};

/// One conversation: turns of listening, thinking and speaking, ended early on a cutoff.
async fn converse(meter: Meter, n: u32) -> Result<Option<Usd>, callmeter::Error> {
    let info = CallInfo::new(format!("tokio-{n}")).user(format!("user-{}", n % 40));
    if !meter.admit(&info).allowed {
        return Ok(None);
    }
    let call = meter.start_call(info)?;
    for turn in 0..(4 + n % 6) {
        call.track_stt("deepgram", "nova-2", 4.0)?;
        // Every seventh caller talks to an expensive model: its budget ends the call.
        let model = if n.is_multiple_of(7) {
            "gpt-4-turbo"
        } else {
            "gpt-4o-mini"
        };
        call.track_inference(
            "openai",
            model,
            TokenUsage::new(9_000 + 400 * u64::from(turn), 250),
        )?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 380)?;
        if call.verdict() == Verdict::Cutoff {
            return Ok(Some(
                call.finalize(Outcome::failed("budget reached"))?.total,
            ));
        }
        // The pipeline waits for the caller; the task yields, the thread serves other calls.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    call.track_duration("twilio", "outbound-us", 60.0)?;
    Ok(Some(call.finalize(Outcome::Completed)?.total))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("tokio.db");
    // Opening creates or migrates the file: blocking work, off the executor.
    let budget = Budget::default().max_cost(Usd::from_nanos(250_000_000)); // $0.25 a call
    let daily = Limits::none().daily_cost(Usd::from_nanos(1_500_000_000)); // $1.50 a user a day
    let (meter, guard) = tokio::task::spawn_blocking(move || {
        Meter::builder()
            .path(path)
            .budget(budget)
            .user_limits(daily)
            .open()
    })
    .await??;
    let tasks: Vec<_> = (0..400)
        .map(|n| tokio::spawn(converse(meter.clone(), n)))
        .collect();
    let (mut done, mut refused, mut total) = (0, 0, Usd::ZERO);
    for task in tasks {
        match task.await?? {
            Some(cost) => {
                done += 1;
                total = total.checked_add(cost).ok_or("total out of range")?;
            }
            None => refused += 1,
        }
    }
    meter.flush_async().await?;
    let alerts = meter.stats().alerts_raised;
    drop(meter);
    let stats = guard.shutdown_async().await?;
    println!("calls        {done} finished, {refused} refused by a user's daily limit");
    println!("alerts       {alerts}");
    println!("cost         {} ({})", total.rounded(), total);
    println!(
        "events       {} persisted, {} dropped",
        stats.persisted, stats.dropped
    );
    Ok(())
}
