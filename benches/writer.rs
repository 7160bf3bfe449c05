//! Sustained writer throughput into the real schema: events per second from the first track call to the
//! flush that sees them all committed.
//!
//! ```text
//! cargo bench --bench writer
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use callmeter::{CallInfo, Meter, TokenUsage};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: u64 = 200_000;
const CALLS: u64 = 50;

/// A call id shaped like a Twilio call SID (`CA` and 32 hex digits), unique per round and call.
fn call_sid(round: u64, call: u64) -> String {
    let mix = (round << 32 | call).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("CA{mix:016x}{:016x}", mix.rotate_left(29) ^ round)
}

fn sustained(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (meter, guard) = Meter::builder()
        .path(dir.path().join("writer.db"))
        .queue_capacity(EVENTS as usize + 1)
        .open()
        .expect("open");
    let mut round = 0_u64;
    let mut g = c.benchmark_group("writer");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("events_committed", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let calls: Vec<_> = (0..CALLS)
                    .map(|i| {
                        meter
                            .start_call(CallInfo::new(call_sid(round, i)).user("u"))
                            .expect("start")
                    })
                    .collect();
                let start = Instant::now();
                for n in 0..EVENTS {
                    let call = &calls[(n % CALLS) as usize];
                    let _ = black_box(match n % 4 {
                        0 => call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412),
                        1 => call.track_stt("deepgram", "nova-2", 2.5),
                        2 => call.track_inference(
                            "cerebras",
                            "llama3.1-8b",
                            TokenUsage::new(9_200, 310),
                        ),
                        _ => call.track_duration("twilio", "outbound-us", 1.0),
                    });
                }
                meter.flush().expect("flush");
                total += start.elapsed();
                drop(calls);
            }
            total
        })
    });
    g.finish();
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.dropped, 0, "the queue held every event");
    assert_eq!(stats.pending, 0);
}

criterion_group!(benches, sustained);
criterion_main!(benches);
