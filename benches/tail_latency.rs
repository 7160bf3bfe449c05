//! Tail latency of single track calls while the writer commits: p50, p99, p99.9 and max.
//!
//! ```text
//! cargo bench --bench tail_latency
//! ```
//!
//! Every call is timed on its own with `Instant::now()` around it; the cost of the two clock reads,
//! measured the same way around nothing, is reported beside the figures (and not subtracted from them).
//! Calls run in segments of 10 000 followed by an untimed flush, so the writer is committing the previous
//! segments while the next one is timed, and the queue never fills.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::time::Instant;

use callmeter::{CallInfo, Meter, TokenUsage};

const SEGMENT: usize = 10_000;
const SEGMENTS: usize = 200;

fn percentiles(mut ns: Vec<u64>) -> [u64; 4] {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)];
    [at(0.50), at(0.99), at(0.999), ns[ns.len() - 1]]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and `cargo test --benches` probes
    }
    let dir = tempfile::tempdir()?;
    let (meter, guard) = Meter::builder()
        .path(dir.path().join("tail.db"))
        .queue_capacity(2 * SEGMENT)
        .open()?;
    let calls: Vec<_> = (0..20)
        .map(|i| meter.start_call(CallInfo::new(format!("tail-{i}"))))
        .collect::<Result<_, _>>()?;

    let mut track = Vec::with_capacity(SEGMENT * SEGMENTS);
    let mut empty = Vec::with_capacity(SEGMENT * SEGMENTS);
    for s in 0..SEGMENTS {
        for i in 0..SEGMENT {
            let call = &calls[(s + i) % calls.len()];
            let t0 = Instant::now();
            let r = match i % 4 {
                0 => call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412),
                1 => call.track_stt("deepgram", "nova-2", 2.5),
                2 => call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(9_200, 310)),
                _ => call.track_duration("twilio", "outbound-us", 1.0),
            };
            let t1 = Instant::now();
            black_box(r)?;
            track.push((t1 - t0).as_nanos() as u64);

            let t0 = Instant::now();
            let t1 = Instant::now();
            empty.push((t1 - t0).as_nanos() as u64);
        }
        meter.flush()?;
    }
    drop(calls);
    let stats = guard.shutdown()?;

    let [p50, p99, p999, max] = percentiles(track);
    let [e50, e99, e999, emax] = percentiles(empty);
    println!(
        "tail_latency: {} track calls, writer committing",
        SEGMENT * SEGMENTS
    );
    println!("  track call   p50 {p50} ns   p99 {p99} ns   p99.9 {p999} ns   max {max} ns");
    println!("  clock pair   p50 {e50} ns   p99 {e99} ns   p99.9 {e999} ns   max {emax} ns");
    println!(
        "  events persisted {} dropped {} (queue never full: {})",
        stats.persisted,
        stats.dropped,
        stats.dropped == 0
    );
    Ok(())
}
