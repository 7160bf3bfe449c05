//! Shipping throughput (feature `postgres`): events per second from a SQLite file holding a backlog to
//! the fleet database, through the real shipper: a meter opens on a copy of a file of 200 000
//! committed events (400 calls, four stages) and the time runs until the file's watermark reaches
//! its last event. The fleet tables are emptied before each round (not timed).
//!
//! Needs a PostgreSQL server named by `CALLMETER_TEST_POSTGRES`:
//!
//! ```text
//! bash .ci/with-postgres cargo bench --features postgres --bench ship
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[cfg(not(feature = "postgres"))]
fn main() {
    eprintln!(
        "!!! NOT RUN: the ship bench needs the `postgres` feature and a server: \
         `bash .ci/with-postgres cargo bench --features postgres --bench ship`"
    );
}

#[cfg(feature = "postgres")]
fn main() {
    ship::main();
}

#[cfg(feature = "postgres")]
mod ship {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use callmeter::{CallInfo, Meter, Outcome, TokenUsage};
    use criterion::{Criterion, Throughput};

    const EVENTS: u64 = 200_000;
    const CALLS: u64 = 400;

    /// A file with `EVENTS` committed events and nothing shipped.
    fn backlog(path: &Path) {
        let (meter, guard) = Meter::builder()
            .path(path)
            .queue_capacity(EVENTS as usize + 1)
            .open()
            .expect("open");
        let calls: Vec<_> = (0..CALLS)
            .map(|i| {
                meter
                    .start_call(
                        CallInfo::new(format!("CA{i:032x}"))
                            .user(format!("u{}", i % 50))
                            .tenant(format!("t{}", i % 5)),
                    )
                    .expect("start")
            })
            .collect();
        for n in 0..EVENTS {
            let call = &calls[(n % CALLS) as usize];
            let _ = match n % 4 {
                0 => call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412),
                1 => call.track_stt("deepgram", "nova-2", 2.5),
                2 => call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(9_200, 310)),
                _ => call.track_duration("twilio", "outbound-us", 1.0),
            };
        }
        for call in calls {
            call.finalize(Outcome::Completed).expect("finalize");
        }
        let stats = guard.shutdown().expect("shutdown");
        assert_eq!(stats.persisted, EVENTS);
    }

    /// Ships the copy at `path` to `url`; answers the time until every event is shipped.
    fn ship(path: &Path, url: &str) -> Duration {
        let conn = rusqlite::Connection::open(path).expect("open the copy");
        let start = Instant::now();
        let (meter, guard) = Meter::builder()
            .path(path)
            .postgres(url)
            .server("bench")
            .open()
            .expect("open");
        loop {
            let (shipped, last): (i64, i64) = conn
                .query_row(
                    "SELECT events_shipped, (SELECT MAX(id) FROM cost_events) FROM outbox",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("watermark");
            if shipped == last {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let t = start.elapsed();
        drop(meter);
        let stats = guard.shutdown().expect("shutdown");
        assert_eq!(stats.shipped, EVENTS, "{stats:?}");
        t
    }

    pub(crate) fn main() {
        let Ok(url) = std::env::var("CALLMETER_TEST_POSTGRES") else {
            eprintln!(
                "!!! NOT RUN: the ship bench needs CALLMETER_TEST_POSTGRES: \
                 `bash .ci/with-postgres cargo bench --features postgres --bench ship`"
            );
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let template = dir.path().join("backlog.db");
        backlog(&template);
        let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        let mut c = Criterion::default().configure_from_args();
        let mut g = c.benchmark_group("ship");
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(30));
        g.throughput(Throughput::Elements(EVENTS));
        let mut round = 0;
        let mut total = (0_u64, Duration::ZERO);
        g.bench_function("events_to_postgres", |b| {
            b.iter_custom(|iters| {
                let mut time = Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    let _ = admin.batch_execute(
                        "TRUNCATE cost_events, calls, call_segments, rollups, usage_by_origin, callmeter_servers",
                    );
                    let copy = dir.path().join(format!("copy-{round}.db"));
                    std::fs::copy(&template, &copy).expect("copy");
                    let t = ship(&copy, &url);
                    let _ = std::fs::remove_file(&copy);
                    total = (total.0 + EVENTS, total.1 + t);
                    time += t;
                }
                time
            })
        });
        g.finish();
        println!(
            "ship: {:.0} events/s into PostgreSQL",
            total.0 as f64 / total.1.as_secs_f64().max(1e-9)
        );
    }
}
