//! Cost of one track call on the caller's thread, with the writer thread live and committing, beside the
//! naive approach: the same event inserted synchronously into SQLite (WAL, synchronous=NORMAL).
//!
//! ```text
//! cargo bench --bench hot_path
//! ```
//!
//! Each measured batch of track calls is at most `SEGMENT` long and is followed, outside the timing, by a
//! flush, so the queue never fills and every measured call takes the normal enqueue path while the
//! writer commits the previous segment's events concurrently.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callmeter::{CallCostTracker, CallInfo, Limits, Meter, MeterGuard, Outcome, TokenUsage, Usd};
use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};

const SEGMENT: u64 = 10_000;

fn meter(dir: &tempfile::TempDir) -> (Meter, MeterGuard) {
    Meter::builder()
        .path(dir.path().join("bench.db"))
        .queue_capacity(2 * SEGMENT as usize)
        .open()
        .expect("open meter")
}

/// Times `iters` calls of `f` on a call of its own, started and finalized outside the timing (so that no
/// call grows past `MAX_CALL_COST`, where track calls would take the unpriced path), flushing (untimed)
/// every `SEGMENT` calls.
fn timed(
    meter: &Meter,
    handle: impl Fn(&CallCostTracker) -> CallCostTracker,
    iters: u64,
    mut f: impl FnMut(&CallCostTracker),
) -> Duration {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let id = format!("bench-{}", CALLS.fetch_add(1, Ordering::Relaxed));
    let whole = meter
        .start_call(CallInfo::new(id).user("u").tenant("t"))
        .expect("start");
    let call = handle(&whole);
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let n = left.min(SEGMENT);
        let start = Instant::now();
        for _ in 0..n {
            f(&call);
        }
        total += start.elapsed();
        left -= n;
        meter.flush().expect("flush");
    }
    whole.finalize(Outcome::Completed).expect("finalize");
    total
}

/// The call's own handle.
fn whole(call: &CallCostTracker) -> CallCostTracker {
    call.clone()
}

fn track_calls(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (meter, guard) = meter(&dir);

    let mut g = c.benchmark_group("track");
    g.bench_function("track_tts", |b| {
        b.iter_custom(|iters| {
            timed(&meter, whole, iters, |call| {
                let _ = black_box(call.track_tts(
                    black_box("elevenlabs"),
                    black_box("eleven_turbo_v2_5"),
                    black_box(412),
                ));
            })
        })
    });
    g.bench_function("track_stt", |b| {
        b.iter_custom(|iters| {
            timed(&meter, whole, iters, |call| {
                let _ = black_box(call.track_stt(
                    black_box("deepgram"),
                    black_box("nova-2"),
                    black_box(2.5),
                ));
            })
        })
    });
    g.bench_function("track_inference", |b| {
        b.iter_custom(|iters| {
            timed(&meter, whole, iters, |call| {
                let _ = black_box(call.track_inference(
                    black_box("cerebras"),
                    black_box("llama3.1-8b"),
                    black_box(TokenUsage::new(9_200, 310)),
                ));
            })
        })
    });
    g.bench_function("track_inference_agent", |b| {
        b.iter_custom(|iters| {
            let agent = |call: &CallCostTracker| call.agent("critic").expect("agent");
            timed(&meter, agent, iters, |agent| {
                let _ = black_box(agent.track_inference(
                    black_box("anthropic"),
                    black_box("claude-sonnet-4-20250514"),
                    black_box(TokenUsage::new(9_200, 310)),
                ));
            })
        })
    });
    g.bench_function("track_duration", |b| {
        b.iter_custom(|iters| {
            timed(&meter, whole, iters, |call| {
                let _ = black_box(call.track_duration(
                    black_box("twilio"),
                    black_box("outbound-us"),
                    black_box(1.0),
                ));
            })
        })
    });
    // The same TTS call with daily and monthly limits on its user and its tenant: four more counters
    // per track call (the per-call budget is on in every benchmark: it is on by default).
    let limits = Limits::none()
        .daily_cost(Usd::from_nanos(i64::MAX / 4))
        .monthly_cost(Usd::from_nanos(i64::MAX / 4));
    let limited_dir = tempfile::tempdir().expect("tempdir");
    let (limited_meter, limited_guard) = Meter::builder()
        .path(limited_dir.path().join("limits.db"))
        .queue_capacity(2 * SEGMENT as usize)
        .user_limits(limits)
        .tenant_limits(limits)
        .open()
        .expect("open meter");
    g.bench_function("track_tts_with_user_and_tenant_limits", |b| {
        b.iter_custom(|iters| {
            timed(&limited_meter, whole, iters, |limited| {
                let _ = black_box(limited.track_tts(
                    black_box("elevenlabs"),
                    black_box("eleven_turbo_v2_5"),
                    black_box(412),
                ));
            })
        })
    });
    g.finish();
    limited_guard.shutdown().expect("shutdown");

    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(
        stats.dropped, 0,
        "no measured call may take the dropped path"
    );
}

/// The naive tracker: the same event row, in callmeter's own schema (same table, same indexes), inserted
/// synchronously by the calling thread: one autocommit INSERT per usage, WAL, synchronous=NORMAL.
fn synchronous_insert(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sync.db");
    {
        // Let callmeter create its schema, then write to it by hand.
        let (_meter, guard) = Meter::builder().path(&path).open().expect("open");
        guard.shutdown().expect("shutdown");
    }
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        .expect("pragmas");
    let mut insert = conn
        .prepare(
            "INSERT INTO cost_events (call_id, call_ref, seq, segment, created_at, category, provider,
             model, quantity, unit, cost_nanos, kind, priced) VALUES (?1, 1, ?2, 1, ?3, 'tts', ?4, ?5,
             412.0, 'character', 61800000, 'usage', 1)",
        )
        .expect("prepare");
    let mut seq = 0_i64;
    let mut g = c.benchmark_group("track");
    g.bench_function("synchronous_sqlite_insert", |b| {
        b.iter(|| {
            seq += 1;
            insert
                .execute(params![
                    "bench-call",
                    seq,
                    1_700_000_000_000_i64,
                    black_box("elevenlabs"),
                    black_box("eleven_turbo_v2_5"),
                ])
                .expect("insert")
        })
    });
    g.finish();
}

criterion_group!(benches, track_calls, synchronous_insert);
criterion_main!(benches);
