//! A meter given a clock stamps calls and events with its time, and counts limits in its days.

mod common;

use std::time::Duration;

use callmeter::{
    Budget, CallInfo, Catalog, Category, Limits, ManualClock, ModelPrice, Outcome, Rate, UsageKind,
    Usd,
};
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

/// One character costs $0.001.
fn catalog() -> Catalog {
    Catalog::builder()
        .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_thousand_characters(Usd::new(dec!(1))),
        ))
        .build()
        .expect("catalog")
}

fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
    s.parse().expect("a time")
}

#[test]
fn calls_and_events_carry_the_clock_s_time() -> TestResult {
    let db = Db::new();
    let clock = ManualClock::starting_at(at("2026-10-01T09:00:00Z"));
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .clock(clock.clone())
        .open()?;
    let call = meter.start_call(CallInfo::new("c1"))?;
    clock.advance(Duration::from_secs(90));
    call.track_tts("acme", "voice", 10)?;
    clock.advance(Duration::from_millis(30_500));
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.started_at, at("2026-10-01T09:00:00Z"));
    assert_eq!(summary.ended_at, at("2026-10-01T09:02:00.500Z"));
    assert_eq!(summary.duration_ms, 120_500);
    drop(meter);
    guard.shutdown()?;
    let conn = db.read();
    let start = at("2026-10-01T09:00:00Z").timestamp_millis();
    assert_eq!(scalar_i64(&conn, "SELECT started_at FROM calls", []), start);
    assert_eq!(
        scalar_i64(&conn, "SELECT ended_at FROM calls", []),
        start + 120_500
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT created_at FROM cost_events", []),
        start + 90_000
    );
    Ok(())
}

#[test]
fn a_daily_limit_opens_again_on_the_clock_s_next_day() -> TestResult {
    let db = Db::new();
    let clock = ManualClock::starting_at(at("2026-10-01T23:50:00Z"));
    let (meter, _guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .user_limits(Limits::none().daily_cost(Usd::new(dec!(1))))
        .estimated_call_cost(Usd::new(dec!(0.10)))
        .clock(clock.clone())
        .open()?;
    let call = meter.start_call(CallInfo::new("day-1").user("u"))?;
    call.track_tts("acme", "voice", 950)?; // $0.95
    call.finalize(Outcome::Completed)?;
    assert!(!meter.admit(&CallInfo::new("late").user("u")).allowed);
    // Ten minutes later by the clock (however long the test took) it is the next UTC day.
    clock.set(at("2026-10-02T00:00:00Z"));
    assert!(meter.admit(&CallInfo::new("early").user("u")).allowed);
    Ok(())
}
