//! Tail latency of single track calls while the writer commits: p50, p99, p99.9 and max, beside the
//! floor's (one read of the tracker's clock and one `try_send` of a 64-byte message on a bounded
//! crossbeam channel drained by another thread).
//!
//! ```text
//! cargo bench --bench tail_latency
//! ```
//!
//! Every operation is timed on its own with `Instant::now()` around it; the cost of the two clock reads,
//! measured the same way around nothing, is reported beside the figures (and not subtracted from them).
//! Two runs of 200 segments of 10 000 operations each:
//!
//! - **drained**: each segment is followed by an untimed flush, so the queue never fills while the
//!   writer commits the previous segments;
//! - **sustained**: no flush between segments, so the producer runs ahead of the writer, the queue
//!   fills, and the events that do not fit take the dropped path (their cost goes with the call's final
//!   record): the tail a server sees when the writer falls behind.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::time::Instant;

use callmeter::{CallInfo, Meter, TokenUsage};

mod common;

const SEGMENT: usize = 10_000;
const SEGMENTS: usize = 200;

fn percentiles(mut ns: Vec<u64>) -> [u64; 4] {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)];
    [at(0.50), at(0.99), at(0.999), ns[ns.len() - 1]]
}

fn line(what: &str, ns: Vec<u64>) {
    let [p50, p99, p999, max] = percentiles(ns);
    println!("  {what:<12} p50 {p50} ns   p99 {p99} ns   p99.9 {p999} ns   max {max} ns");
}

/// Latencies of the track calls, of the clock pair, and the events that did not fit in the queue.
struct Run {
    track: Vec<u64>,
    clock: Vec<u64>,
    dropped: u64,
}

/// Track calls in `SEGMENTS` segments; with `drain`, a flush after each.
fn track(drain: bool) -> Result<Run, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let (meter, guard) = Meter::builder().path(dir.path().join("tail.db")).open()?;
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
        if drain {
            meter.flush()?;
        }
    }
    drop(calls);
    let stats = guard.shutdown()?;
    Ok(Run {
        track,
        clock: empty,
        dropped: stats.dropped,
    })
}

/// The floor's operation in the same segments (`common::Floor`); with `drain`, the sender waits
/// (untimed) for the channel to empty after each segment.
fn floor(drain: bool) -> (Vec<u64>, u64) {
    let mut floor = common::Floor::new(65_536);
    let mut ns = Vec::with_capacity(SEGMENT * SEGMENTS);
    let mut full = 0_u64;
    for _ in 0..SEGMENTS {
        for i in 0..SEGMENT {
            let t0 = Instant::now();
            let sent = floor.send(i as u64);
            let t1 = Instant::now();
            full += u64::from(!sent);
            ns.push((t1 - t0).as_nanos() as u64);
        }
        if drain {
            floor.wait_drained();
        }
    }
    (ns, full)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and `cargo test --benches` probes
    }
    for (name, drain) in [
        ("drained (flush between segments)", true),
        ("sustained (no flush: the writer falls behind)", false),
    ] {
        let Run {
            track: calls,
            clock,
            dropped,
        } = track(drain)?;
        let (floor_ns, floor_full) = floor(drain);
        println!(
            "tail_latency, {name}: {} operations each",
            SEGMENT * SEGMENTS
        );
        line("track call", calls);
        line("floor", floor_ns);
        line("clock pair", clock);
        println!(
            "  events that did not fit: track calls {dropped}, floor {floor_full} (queues of 65 536)"
        );
    }
    Ok(())
}
