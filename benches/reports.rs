//! Report queries on a large database: a call's breakdown, a user's month spend, a 30-day platform
//! summary.
//!
//! ```text
//! cargo bench --bench reports                                  # 10 000 000 events
//! CALLMETER_BENCH_EVENTS=1000000 cargo bench --bench reports   # a smaller database
//! ```
//!
//! The database is built once through a meter (20 000 calls of 500 events over 2 000 users and 50
//! tenants) in `target/bench-data/` and reused by later runs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::hint::black_box;
use std::path::PathBuf;

use callmeter::control::SubjectKind;
use callmeter::{Budget, CallInfo, Meter, Reports, TokenUsage};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};

const EVENTS_PER_CALL: u64 = 500;

fn events() -> u64 {
    std::env::var("CALLMETER_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn database() -> PathBuf {
    let events = events();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-data");
    std::fs::create_dir_all(&dir).expect("bench-data dir");
    let path = dir.join(format!("reports-{events}.db"));
    if let Ok(reports) = Reports::open(&path)
        && reports
            .call("bench-0")
            .ok()
            .flatten()
            .is_some_and(|c| c.status == "completed")
        && reports
            .call(&format!("bench-{}", events / EVENTS_PER_CALL - 1))
            .ok()
            .flatten()
            .is_some()
    {
        return path;
    }
    let _ = std::fs::remove_file(&path);
    eprintln!("building {} with {events} events…", path.display());
    let (meter, guard) = Meter::builder()
        .path(&path)
        .budget(Budget::unlimited())
        .queue_capacity(1 << 20)
        .open()
        .expect("open");
    for c in 0..events / EVENTS_PER_CALL {
        let call = meter
            .start_call(
                CallInfo::new(format!("bench-{c}"))
                    .user(format!("user-{}", c % 2_000))
                    .tenant(format!("tenant-{}", c % 50)),
            )
            .expect("start");
        for n in 0..EVENTS_PER_CALL {
            let _ = match n % 4 {
                0 => call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412),
                1 => call.track_stt("deepgram", "nova-2", 2.5),
                2 => call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(9_200, 310)),
                _ => call.track_duration("twilio", "outbound-us", 1.0),
            };
        }
        call.finalize(callmeter::Outcome::Completed)
            .expect("finalize");
        if c % 200 == 199 {
            meter.flush().expect("flush");
        }
    }
    guard.shutdown().expect("shutdown");
    path
}

fn queries(c: &mut Criterion) {
    let path = database();
    let reports = Reports::open(&path).expect("reports");
    let today = Utc::now().date_naive();
    let month_ago = today - chrono::Duration::days(29);
    let middle = format!("bench-{}", events() / EVENTS_PER_CALL / 2);
    assert!(
        reports.call(&middle).expect("call").is_some(),
        "{middle} is in the database"
    );
    let mut g = c.benchmark_group("reports");
    g.bench_function("call_breakdown_500_events", |b| {
        b.iter(|| black_box(reports.call(black_box(&middle)).expect("call")))
    });
    g.bench_function("user_month_spend", |b| {
        b.iter(|| {
            black_box(
                reports
                    .spend(SubjectKind::User, black_box("user-77"), today)
                    .expect("spend"),
            )
        })
    });
    g.bench_function("platform_30_days", |b| {
        b.iter(|| black_box(reports.platform(month_ago, today).expect("platform")))
    });
    g.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
