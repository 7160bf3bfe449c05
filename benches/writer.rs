//! Sustained writer throughput into the real schema: events per second from the first track call to the
//! flush that sees them all committed, beside a baseline measured in the same run: SQLite inserting
//! minimal rows (an integer key, two integers and a short text) 1 000 to a transaction, WAL,
//! `synchronous=NORMAL`, no index. The ratio of the two is printed at the end; a noisy machine slows
//! both.
//!
//! Two ceilings are measured in the same run, to show what any layout could reach: SQLite alone
//! inserting the same event rows, 32 to a statement and 4 096 to a transaction, with no index, no
//! constraint and no writer around it, in two shapes:
//! - *contract rows*: the columns the storage contract asks of the table `cost_events` (the call id and
//!   the category, provider, model and unit as text), so an upper bound for every layout that keeps
//!   `cost_events` a table;
//! - *narrow rows*: integers only (call, sequence, time, a reference to the priced line, quantity,
//!   cost), the bound for a layout where `cost_events` would be a view over a narrow table;
//! - *narrow rows with identity*: the same, with the unique index on (call, sequence) that makes a
//!   replayed event collide instead of counting twice, as the storage contract's unique `event_id` needs.
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

/// Rows per statement and per transaction of the ceilings (the writer's statement width).
const CEILING_ROWS: usize = 32;
const CEILING_BATCH: u64 = 4_096;

/// The ceilings' table shapes: (schema, columns).
const CONTRACT_ROWS: (&str, &[&str]) = (
    "CREATE TABLE e (id INTEGER PRIMARY KEY, call_id TEXT NOT NULL, seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL, category TEXT NOT NULL, provider TEXT NOT NULL,
        model TEXT NOT NULL, quantity REAL NOT NULL, unit TEXT NOT NULL, cost_nanos INTEGER NOT NULL)",
    &[
        "call_id",
        "seq",
        "created_at",
        "category",
        "provider",
        "model",
        "quantity",
        "unit",
        "cost_nanos",
    ],
);
const NARROW_ROWS: (&str, &[&str]) = (
    "CREATE TABLE e (id INTEGER PRIMARY KEY, call_ref INTEGER NOT NULL, seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL, line INTEGER NOT NULL, quantity REAL NOT NULL,
        cost_nanos INTEGER NOT NULL)",
    &[
        "call_ref",
        "seq",
        "created_at",
        "line",
        "quantity",
        "cost_nanos",
    ],
);

const NARROW_ROWS_WITH_IDENTITY: (&str, &[&str]) = (
    "CREATE TABLE e (id INTEGER PRIMARY KEY, call_ref INTEGER NOT NULL, seq INTEGER NOT NULL,
        created_at INTEGER NOT NULL, line INTEGER NOT NULL, quantity REAL NOT NULL,
        cost_nanos INTEGER NOT NULL, UNIQUE (call_ref, seq))",
    NARROW_ROWS.1,
);

/// The stages the writer bench tracks, as the rows they become: (category, provider, model, unit).
const STAGES: [(&str, &str, &str, &str); 4] = [
    ("tts", "elevenlabs", "eleven_turbo_v2_5", "character"),
    ("stt", "deepgram", "nova-2", "second"),
    ("llm", "cerebras", "llama3.1-8b", "token"),
    ("telephony", "twilio", "outbound-us", "minute"),
];

/// A ceiling's table, opened like the baseline's.
fn ceiling_db(path: &std::path::Path, (schema, _): (&str, &[&str])) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .expect("pragmas");
    conn.execute_batch(schema).expect("schema");
    conn
}

/// SQLite alone: at least `EVENTS` event rows of one shape (whole transactions), [`CEILING_ROWS`] to
/// a statement (`OR IGNORE`, as the writer's: a multi-row statement that could abort half-done makes
/// SQLite journal every statement), bound without allocating, interleaved over `CALLS` calls like the writer's. Answers
/// the rows inserted and the time they took.
fn ceiling_rows(
    conn: &rusqlite::Connection,
    (_, columns): (&str, &[&str]),
    sids: &[String],
    round: u64,
) -> (u64, Duration) {
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    let sql = format!(
        "INSERT OR IGNORE INTO e ({}) VALUES {}",
        columns.join(", "),
        vec![row; CEILING_ROWS].join(", ")
    );
    let narrow = !columns.contains(&"call_id");
    let start = Instant::now();
    let mut n = 0;
    while n < EVENTS {
        let tx = conn.unchecked_transaction().expect("begin");
        {
            let mut insert = tx.prepare_cached(&sql).expect("prepare");
            for _ in 0..CEILING_BATCH / CEILING_ROWS as u64 {
                let mut at = 1;
                for _ in 0..CEILING_ROWS {
                    let call = (n % CALLS) as usize;
                    let (category, provider, model, unit) = STAGES[(n % 4) as usize];
                    let seq = (round << 32 | n) as i64;
                    let mut bind = |v: &dyn rusqlite::ToSql| {
                        insert.raw_bind_parameter(at, v).expect("bind");
                        at += 1;
                    };
                    if narrow {
                        bind(&(call as i64));
                    } else {
                        bind(&sids[call].as_str());
                    }
                    bind(&seq);
                    bind(&(1_790_000_000_000 + seq));
                    if narrow {
                        bind(&((n % 4) as i64));
                    } else {
                        bind(&category);
                        bind(&provider);
                        bind(&model);
                    }
                    bind(&412.0_f64);
                    if !narrow {
                        bind(&unit);
                    }
                    bind(&(61_800 + seq % 1_000));
                    n += 1;
                }
                insert.raw_execute().expect("insert");
            }
        }
        tx.commit().expect("commit");
    }
    (n, start.elapsed())
}

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
    let ceilings = [
        ("ceiling_contract_rows", CONTRACT_ROWS, Tally::default()),
        ("ceiling_narrow_rows", NARROW_ROWS, Tally::default()),
        (
            "ceiling_narrow_rows_with_identity",
            NARROW_ROWS_WITH_IDENTITY,
            Tally::default(),
        ),
    ];
    let sids: Vec<String> = (0..CALLS).map(|i| call_sid(u64::MAX, i)).collect();
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
    for (name, shape, tally) in &ceilings {
        let conn = ceiling_db(&base_dir.path().join(format!("{name}.db")), *shape);
        let mut round = 0;
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (rows, t) = ceiling_rows(&conn, *shape, &sids, round);
                    round += 1;
                    tally.add(rows, t);
                    total += t;
                }
                total
            })
        });
    }
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
    for (name, _, tally) in &ceilings {
        let r = tally.per_second();
        println!(
            "{name}: {r:.0} rows/s = {:.1} % of the baseline (the writer reaches {:.1} % of this)",
            100.0 * r / b,
            100.0 * w / r
        );
    }
    let stats = guard.shutdown().expect("shutdown");
    assert_eq!(stats.dropped, 0, "the queue held every event");
    assert_eq!(stats.pending, 0);
}

criterion_group!(benches, sustained);
criterion_main!(benches);
