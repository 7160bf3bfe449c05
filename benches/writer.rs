//! Sustained writer throughput into the real schema: events per second from the first track call to the
//! flush that sees them all committed, beside a baseline measured in the same run: SQLite inserting
//! minimal rows (an integer key, two integers and a short text) 1 000 to a transaction, WAL,
//! `synchronous=NORMAL`, no index. The ratio of the two is printed at the end; a noisy machine slows
//! both.
//!
//! ```text
//! cargo bench --bench writer
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::cell::Cell;
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

/// Rows per transaction of the baseline.
const BASELINE_BATCH: u64 = 1_000;

/// Events (or rows) and the time they took, summed over every measured iteration.
#[derive(Default)]
struct Tally {
    items: Cell<u64>,
    time: Cell<Duration>,
}

impl Tally {
    fn add(&self, items: u64, time: Duration) {
        self.items.set(self.items.get() + items);
        self.time.set(self.time.get() + time);
    }

    fn per_second(&self) -> f64 {
        self.items.get() as f64 / self.time.get().as_secs_f64().max(1e-9)
    }
}

/// SQLite alone: `EVENTS` minimal rows in transactions of `BASELINE_BATCH`.
fn baseline_rows(conn: &rusqlite::Connection, round: u64) -> Duration {
    let start = Instant::now();
    let mut n = 0;
    while n < EVENTS {
        let tx = conn.unchecked_transaction().expect("begin");
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO t (id, a, b, s) VALUES (?1, ?2, ?3, ?4)")
                .expect("prepare");
            for _ in 0..BASELINE_BATCH {
                let id = (round * EVENTS + n) as i64;
                insert
                    .execute(rusqlite::params![id, id * 7, id % 1_000, "tts"])
                    .expect("insert");
                n += 1;
            }
        }
        tx.commit().expect("commit");
    }
    start.elapsed()
}

fn sustained(c: &mut Criterion) {
    let base_dir = tempfile::tempdir().expect("tempdir");
    let base = rusqlite::Connection::open(base_dir.path().join("baseline.db")).expect("open");
    base.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL, s TEXT NOT NULL);",
    )
    .expect("schema");
    let baseline = Tally::default();
    let writer = Tally::default();
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
    let mut base_round = 0_u64;
    g.bench_function("baseline_minimal_rows", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = baseline_rows(&base, base_round);
                base_round += 1;
                baseline.add(EVENTS, t);
                total += t;
            }
            total
        })
    });
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
                let t = start.elapsed();
                writer.add(EVENTS, t);
                total += t;
                drop(calls);
            }
            total
        })
    });
    g.finish();
    let (w, b) = (writer.per_second(), baseline.per_second());
    println!(
        "writer: {w:.0} events/s; baseline: {b:.0} minimal rows/s; writer / baseline = {:.1} %",
        100.0 * w / b
    );
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.dropped, 0, "the queue held every event");
    assert_eq!(stats.pending, 0);
}

criterion_group!(benches, sustained);
criterion_main!(benches);
