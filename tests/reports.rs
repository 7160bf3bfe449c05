//! Reports over the database: a call's breakdown, the platform over a range, groupings, top calls,
//! and clear errors for files that are not callmeter databases.

mod common;

use callmeter::{CallInfo, Error, GroupBy, Outcome, Reports, TokenUsage, Usd};
use chrono::Utc;
use common::{Db, TestResult};
use rust_decimal::dec;

fn usd(d: rust_decimal::Decimal) -> Usd {
    Usd::new(d)
}

fn fill(db: &Db) -> TestResult {
    let (meter, guard) = db.open();
    let a = meter.start_call(
        CallInfo::new("a")
            .user("u1")
            .tenant("t1")
            .persona("coach")
            .session_kind("phone"),
    )?;
    a.track_duration("twilio", "outbound-us", 300.0)?; // $0.070
    a.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?; // $0.30
    a.agent("critic").track_inference(
        "cerebras",
        "llama3.1-8b",
        TokenUsage::new(40_000, 10_000),
    )?; // $0.005
    a.track_payment("stripe", "card-not-present", usd(dec!(4.99)))?; // $0.46966
    a.finalize(Outcome::Completed)?;
    let b = meter.start_call(
        CallInfo::new("b")
            .user("u2")
            .tenant("t1")
            .session_kind("council"),
    )?;
    b.track_stt("deepgram", "nova-2", 300.0)?; // $0.0295
    b.finalize(Outcome::failed("hung up"))?;
    drop((a, b));
    guard.shutdown()?;
    Ok(())
}

#[test]
fn a_call_report_breaks_the_call_down_and_shows_its_margin() -> TestResult {
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let a = reports.call("a")?.expect("call a");
    assert_eq!(a.total, usd(dec!(0.84466)));
    assert_eq!(a.revenue, usd(dec!(4.99)));
    assert_eq!(a.margin, Some(usd(dec!(4.14534))));
    assert_eq!(a.status, "completed");
    assert_eq!(
        a.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [0, 1, 2, 3]
    );
    assert_eq!(a.by_category[0].name, "payment");
    let sum: i64 = a
        .by_category
        .iter()
        .map(|s| s.cost.to_nanos().expect("nanos"))
        .sum();
    assert_eq!(Usd::from_nanos(sum), a.total);
    assert_eq!(a.by_agent.len(), 1);
    assert_eq!(a.by_agent[0].name, "critic");
    assert!(reports.call("nope")?.is_none());
    let json = serde_json::to_value(&a)?;
    assert_eq!(json["total"], "0.84466");
    Ok(())
}

#[test]
fn the_platform_report_sums_the_range() -> TestResult {
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    let p = reports.platform(today.pred_opt().expect("yesterday"), today)?;
    assert_eq!(p.total, usd(dec!(0.87416)));
    assert_eq!(p.calls, 2);
    assert_eq!(p.minutes, 5.0); // the call seconds: 300 of telephony
    assert_eq!(p.cost_per_call, Some(usd(dec!(0.43708))));
    assert_eq!(p.daily.len(), 1);
    assert_eq!(p.daily[0].change, None);
    let by_provider: i64 = p
        .by_provider
        .iter()
        .map(|s| s.cost.to_nanos().expect("nanos"))
        .sum();
    assert_eq!(Usd::from_nanos(by_provider), p.total);
    let users = reports.calls_by(GroupBy::User, today, today)?;
    assert_eq!(users[0].name.as_deref(), Some("u1"));
    assert_eq!(users[0].cost, usd(dec!(0.84466)));
    let kinds = reports.calls_by(GroupBy::SessionKind, today, today)?;
    assert_eq!(kinds.len(), 2);
    let top = reports.top_calls(today, today, 1)?;
    assert_eq!(top, [("a".to_string(), usd(dec!(0.84466)))]);
    Ok(())
}

#[test]
fn missing_foreign_and_corrupt_files_are_typed_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = Reports::open(dir.path().join("none.db")).err();
    assert!(
        matches!(missing, Some(Error::Storage { .. })),
        "{missing:?}"
    );
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)?.execute_batch("CREATE TABLE notes (x TEXT);")?;
    assert!(matches!(
        Reports::open(&foreign),
        Err(Error::ForeignDatabase { .. })
    ));
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![0x42_u8; 4096])?;
    assert!(matches!(
        Reports::open(&corrupt),
        Err(Error::Storage { .. })
    ));
    Ok(())
}
