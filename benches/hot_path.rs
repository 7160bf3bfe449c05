//! Cost of one track call on the caller's thread, with the writer thread live and committing, beside the
//! naive approach: the same event inserted synchronously into SQLite (WAL, synchronous=NORMAL), and
//! beside the *floor*: the unavoidable work of one event — one read of the clock the tracker uses
//! (`coarsetime`) and one `try_send` of a 64-byte message on a bounded crossbeam channel drained by
//! another thread. The slowest track call's median over the floor's is printed at the end.
//!
//! ```text
//! cargo bench --bench hot_path
//! ```
//!
//! Each measured batch of track calls is at most `SEGMENT` long and is followed, outside the timing, by a
//! flush, so the queue never fills and every measured call takes the normal enqueue path while the
//! writer commits the previous segment's events concurrently.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use callmeter::{CallCostTracker, CallInfo, Limits, Meter, MeterGuard, Outcome, TokenUsage, Usd};
use criterion::{Criterion, criterion_group, criterion_main};
use rusqlite::{Connection, params};

mod common;

const SEGMENT: u64 = 10_000;

/// Nanoseconds per call of each measured batch, by benchmark: their medians give the ratio printed at
/// the end (criterion's own medians are in its report).
static SAMPLES: Mutex<BTreeMap<&'static str, Vec<f64>>> = Mutex::new(BTreeMap::new());

fn sample(name: &'static str, iters: u64, time: Duration) {
    if iters > 0 {
        let mut samples = SAMPLES.lock().unwrap_or_else(|p| p.into_inner());
        samples
            .entry(name)
            .or_default()
            .push(time.as_nanos() as f64 / iters as f64);
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

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
    name: &'static str,
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
    sample(name, iters, total);
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
            timed("track_tts", &meter, whole, iters, |call| {
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
            timed("track_stt", &meter, whole, iters, |call| {
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
            timed("track_inference", &meter, whole, iters, |call| {
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
            timed("track_inference_agent", &meter, agent, iters, |agent| {
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
            timed("track_duration", &meter, whole, iters, |call| {
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
            timed(
                "track_tts_with_user_and_tenant_limits",
                &limited_meter,
                whole,
                iters,
                |limited| {
                    let _ = black_box(limited.track_tts(
                        black_box("elevenlabs"),
                        black_box("eleven_turbo_v2_5"),
                        black_box(412),
                    ));
                },
            )
        })
    });
    // Reservations, on a meter with the same user and tenant limits (four periods to hold against)
    // and no call budget (a bench call grows past any).
    let reserve_dir = tempfile::tempdir().expect("tempdir");
    let (reserve_meter, reserve_guard) = Meter::builder()
        .path(reserve_dir.path().join("reserve.db"))
        .queue_capacity(2 * SEGMENT as usize)
        .user_limits(limits)
        .tenant_limits(limits)
        .budget(callmeter::Budget::unlimited())
        .open()
        .expect("open meter");
    // The reservation alone: each handle is forgotten (its hold stays; the meter's limits are far
    // above what a run holds), so only `reserve` is timed.
    g.bench_function("reserve_tts", |b| {
        b.iter_custom(|iters| {
            timed("reserve_tts", &reserve_meter, whole, iters, |call| {
                if let Ok(reserve) = call.reserve_tts(
                    black_box("elevenlabs"),
                    black_box("eleven_turbo_v2_5"),
                    black_box(412),
                ) {
                    std::mem::forget(black_box(reserve));
                }
            })
        })
    });
    g.bench_function("reserve_and_release_tts", |b| {
        b.iter_custom(|iters| {
            timed(
                "reserve_and_release_tts",
                &reserve_meter,
                whole,
                iters,
                |call| {
                    if let Ok(callmeter::Reserve::Reserved(r)) = call.reserve_tts(
                        black_box("elevenlabs"),
                        black_box("eleven_turbo_v2_5"),
                        black_box(412),
                    ) {
                        r.release();
                    }
                },
            )
        })
    });
    g.bench_function("reserve_and_settle_tts", |b| {
        b.iter_custom(|iters| {
            timed(
                "reserve_and_settle_tts",
                &reserve_meter,
                whole,
                iters,
                |call| {
                    if let Ok(callmeter::Reserve::Reserved(r)) = call.reserve_tts(
                        black_box("elevenlabs"),
                        black_box("eleven_turbo_v2_5"),
                        black_box(412),
                    ) {
                        let _ = black_box(
                            r.settle(callmeter::pricing::Usage::Characters(black_box(400))),
                        );
                    }
                },
            )
        })
    });
    // Telephony by destination: Twilio's US prices (the vendored Pricing API body); the number's
    // 11 digits are looked up from the table's longest prefix (4 digits) down to the match (`1`).
    let country: callmeter::pricing::TwilioVoiceCountry = serde_json::from_str(include_str!(
        "../tests/fixtures/sdk_twilio_voice_country_us.json"
    ))
    .expect("Twilio's body");
    let (table, _) =
        callmeter::pricing::Destinations::from_twilio("voice", &[country]).expect("imported");
    let routed_dir = tempfile::tempdir().expect("tempdir");
    let (routed_meter, routed_guard) = Meter::builder()
        .path(routed_dir.path().join("routes.db"))
        .queue_capacity(2 * SEGMENT as usize)
        .catalog(
            callmeter::Catalog::builtin()
                .into_builder()
                .destinations(table)
                .build()
                .expect("catalog"),
        )
        .open()
        .expect("open meter");
    g.bench_function("track_leg", |b| {
        b.iter_custom(|iters| {
            timed("track_leg", &routed_meter, whole, iters, |call| {
                let _ = black_box(call.track_leg(
                    black_box("twilio"),
                    black_box("voice"),
                    black_box(callmeter::pricing::Route::To("+14155550100")),
                    black_box(1.0),
                ));
            })
        })
    });
    g.finish();
    limited_guard.shutdown().expect("shutdown");
    reserve_guard.shutdown().expect("shutdown");
    routed_guard.shutdown().expect("shutdown");

    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(
        stats.dropped, 0,
        "no measured call may take the dropped path"
    );
}

/// The floor: per event, one read of the tracker's clock and one `try_send` of a 64-byte message on a
/// bounded crossbeam channel drained by another thread (`common::Floor`). Timed in segments, like the
/// track calls, with the channel drained between segments outside the timing.
fn floor(c: &mut Criterion) {
    let mut floor = common::Floor::new(2 * SEGMENT as usize);
    let mut g = c.benchmark_group("track");
    g.bench_function("floor_clock_and_try_send", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(SEGMENT);
                let start = Instant::now();
                for i in 0..n {
                    black_box(floor.send(i));
                }
                total += start.elapsed();
                left -= n;
                floor.wait_drained();
            }
            sample("floor_clock_and_try_send", iters, total);
            total
        })
    });
    g.finish();
    drop(floor);
    report_ratio();
}

/// The slowest track call's median over the floor's, from this run's samples.
fn report_ratio() {
    let samples = SAMPLES.lock().unwrap_or_else(|p| p.into_inner());
    let Some(floor) = samples.get("floor_clock_and_try_send").map(|v| median(v)) else {
        return;
    };
    let slowest = samples
        .iter()
        .filter(|(name, _)| name.starts_with("track_"))
        .map(|(name, v)| (*name, median(v)))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    if let Some((name, ns)) = slowest {
        println!(
            "floor {floor:.1} ns; slowest track call {name} {ns:.1} ns; ratio {:.2}",
            ns / floor
        );
    }
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

criterion_group!(benches, track_calls, synchronous_insert, floor);
criterion_main!(benches);
