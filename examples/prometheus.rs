//! A meter's counters in Prometheus's text format, through the `metrics` facade (feature `metrics`).
//!
//! ```text
//! cargo run --example prometheus --features metrics
//! ```
//!
//! The application installs the recorder it already uses; callmeter's writer thread records into it.
//! Here a Prometheus recorder is installed and its text rendered after a few calls. A server
//! answers `GET /metrics` with `handle.render()` (or installs the exporter with its HTTP listener
//! feature, which serves it by itself).
#![allow(clippy::print_stdout)]

use callmeter::{CallInfo, Meter, Outcome, TokenUsage};
use metrics_exporter_prometheus::PrometheusBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    let dir = tempfile::tempdir()?;
    let (meter, guard) = Meter::builder().path(dir.path().join("calls.db")).open()?;
    for i in 0..3 {
        let call = meter.start_call(CallInfo::new(format!("CA{i}")).user("u1"))?;
        call.track_stt("deepgram", "nova-2", 12.5)?;
        call.track_inference("openai", "gpt-4o-mini", TokenUsage::new(9_000, 300))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 420)?;
        call.track_duration("twilio", "outbound-us", 75.0)?;
        call.finalize(Outcome::Completed)?;
    }
    meter.flush()?;
    print!("{}", handle.render());
    drop(meter);
    guard.shutdown()?;
    Ok(())
}
