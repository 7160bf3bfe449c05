//! Reports over the database: a call's breakdown, the platform over a range, groupings, top calls,
//! and clear errors for files that are not callmeter databases.

mod common;

use callmeter::report::GroupBy;
use callmeter::{CallInfo, Error, Outcome, Reports, TokenUsage, Usd};
use chrono::{Datelike, Utc};
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
            .session_kind("phone")
            .metadata("plan", "pro"),
    )?;
    a.track_duration("twilio", "outbound-us", 300.0)?; // $0.070
    a.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?; // $0.30
    a.agent("critic")?.track_inference(
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
fn missing_empty_foreign_and_corrupt_files_are_typed_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = Reports::open(dir.path().join("none.db")).err();
    assert!(
        matches!(missing, Some(Error::NoSuchDatabase { .. })),
        "{missing:?}"
    );
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"")?;
    assert!(matches!(
        Reports::open(&empty),
        Err(Error::EmptyDatabase { .. })
    ));
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

#[test]
fn economics_of_a_day_with_fixed_costs_and_break_even() -> TestResult {
    use callmeter::Category;
    use callmeter::pricing::FixedCost;
    use callmeter::report::break_even;
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    // $31 a month in a 31-day month, $30 in a 30-day month…: $1 a day either way, plus $0.
    let days = {
        let first = today.with_day0(0).expect("first");
        let next = first
            .checked_add_months(chrono::Months::new(1))
            .expect("next month");
        (next - first).num_days()
    };
    let fixed = [FixedCost::new(
        "agent server",
        Category::Platform,
        Usd::new(rust_decimal::Decimal::from(days)),
    )];
    let e = reports.economics(today, today, &fixed)?;
    assert_eq!(e.calls, 2);
    assert_eq!(e.revenue, usd(dec!(4.99)));
    assert_eq!(e.payment_fees, usd(dec!(0.46966)));
    assert_eq!(e.variable_cost, usd(dec!(0.4045)));
    assert_eq!(e.fixed_costs, usd(dec!(1)));
    // 4.99 − 0.4045 − 0.46966 − 1
    assert_eq!(e.gross_profit, usd(dec!(3.11584)));
    assert_eq!(e.margin_percent, Some(dec!(62.44)));
    let per_call = e.per_call.expect("per call");
    assert_eq!(per_call.fixed_costs, usd(dec!(0.5)));
    let b = break_even(usd(dec!(51)), usd(dec!(4.99)), usd(dec!(0.87416)));
    assert_eq!(b.contribution, usd(dec!(4.11584)));
    assert_eq!(b.calls_per_month, Some(13));
    Ok(())
}

#[test]
fn exports_round_trip_to_the_database_sums() -> TestResult {
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    let (from, to) = (today.pred_opt().expect("yesterday"), today);

    let mut events = Vec::new();
    assert_eq!(reports.export_events_csv(from, to, &mut events)?, 5);
    let mut csv = csv::Reader::from_reader(events.as_slice());
    let cost = csv
        .headers()?
        .iter()
        .position(|h| h == "cost_nanos")
        .expect("column");
    let mut sum = 0_i64;
    for record in csv.records() {
        sum += record?[cost].parse::<i64>()?;
    }
    assert_eq!(Usd::from_nanos(sum), usd(dec!(0.87416)));

    let mut calls = Vec::new();
    assert_eq!(reports.export_calls_csv(from, to, &mut calls)?, 2);
    let mut csv = csv::Reader::from_reader(calls.as_slice());
    let ids: Vec<String> = csv
        .records()
        .map(|r| r.map(|r| r[0].to_string()))
        .collect::<Result<_, _>>()?;
    assert_eq!(ids.len(), 2);

    let mut jsonl = Vec::new();
    assert_eq!(reports.export_jsonl(from, to, &mut jsonl)?, 2);
    let mut total = 0_i64;
    for line in String::from_utf8(jsonl)?.lines() {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let call_total: Usd = v["total"].as_str().expect("total").parse()?;
        let usages: i64 = v["usages"]
            .as_array()
            .expect("usages")
            .iter()
            .map(|u| {
                u["cost"]
                    .as_str()
                    .expect("cost")
                    .parse::<Usd>()
                    .and_then(|c| c.to_nanos())
                    .expect("cost")
            })
            .sum();
        assert_eq!(
            Usd::from_nanos(usages),
            call_total,
            "a call is the sum of its usages"
        );
        total += usages;
    }
    assert_eq!(Usd::from_nanos(total), usd(dec!(0.87416)));
    Ok(())
}

#[test]
fn a_subject_s_spend_comes_from_the_rollups() -> TestResult {
    use callmeter::control::SubjectKind;
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    let u1 = reports.spend(SubjectKind::User, "u1", today)?;
    assert_eq!(
        (u1.day_cost, u1.month_cost),
        (usd(dec!(0.84466)), usd(dec!(0.84466)))
    );
    let t1 = reports.spend(SubjectKind::Tenant, "t1", today)?;
    assert_eq!(t1.month_cost, usd(dec!(0.87416)));
    let nobody = reports.spend(SubjectKind::User, "nobody", today)?;
    assert_eq!(nobody.month_cost, Usd::ZERO);
    Ok(())
}

#[test]
fn what_if_reprices_recorded_usage_and_leaves_it_untouched() -> TestResult {
    use callmeter::Catalog;
    use callmeter::report::Substitution;
    let db = Db::new();
    fill(&db)?;
    let before = std::fs::read(&db.path)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    let same = reports.what_if(today, today, &Catalog::builtin(), &[])?;
    // The same catalog gives the same cost, except what is kept as recorded (the payment).
    assert_eq!(same.repriced, same.recorded);
    assert_eq!((same.events, same.kept), (4, 1));
    // All TTS on the multilingual model instead of turbo: 2 000 characters at $0.30 instead of $0.15.
    let swap = [Substitution::new(
        "elevenlabs",
        "eleven_turbo_v2_5",
        "elevenlabs",
        "eleven_multilingual_v2",
    )];
    let dearer = reports.what_if(today, today, &Catalog::builtin(), &swap)?;
    assert_eq!(dearer.difference, usd(dec!(0.30)));
    let tts = dearer
        .by_category
        .iter()
        .find(|l| l.category == "tts")
        .expect("tts");
    assert_eq!(
        (tts.recorded, tts.repriced),
        (usd(dec!(0.30)), usd(dec!(0.60)))
    );
    drop(reports);
    assert_eq!(std::fs::read(&db.path)?, before, "nothing recorded changed");
    Ok(())
}

#[test]
fn groups_by_plan_hours_and_turns() -> TestResult {
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    let plans = reports.calls_by(GroupBy::Metadata("plan".into()), today, today)?;
    let names: Vec<Option<&str>> = plans.iter().map(|g| g.name.as_deref()).collect();
    assert_eq!(names, [Some("pro"), None]);
    assert_eq!(plans[0].revenue, usd(dec!(4.99)));
    let hours = reports.cost_by_hour(today, today)?;
    let sum: i64 = hours.iter().map(|h| h.to_nanos().expect("nanos")).sum();
    assert_eq!(Usd::from_nanos(sum), usd(dec!(0.87416)));
    assert_eq!(hours.iter().filter(|h| **h != Usd::ZERO).count(), 1);
    let p = reports.platform(today, today)?;
    assert_eq!(p.turns, 1);
    assert_eq!(p.cost_per_turn, Some(usd(dec!(0.87416))));
    Ok(())
}

#[test]
fn plan_margins_at_their_usage_limits() -> TestResult {
    use callmeter::pricing::FeeRule;
    use callmeter::report::{CallCosts, Plan, plan_margin};
    let costs = CallCosts::new(usd(dec!(0.60)), dec!(5));
    let card = FeeRule::new(dec!(2.9), usd(dec!(0.30)));
    let per_call = plan_margin(
        &Plan::PayPerCall {
            price: usd(dec!(4.99)),
        },
        &costs,
        Some(&card),
    )?;
    // 4.99 − 0.60 − (0.14471 + 0.30)
    assert_eq!(per_call.margin, usd(dec!(3.94529)));
    assert_eq!(per_call.margin_percent, Some(dec!(79.06)));
    let pack = plan_margin(
        &Plan::Pack {
            price: usd(dec!(20)),
            calls: 10,
        },
        &costs,
        Some(&card),
    )?;
    // 20 − 10 × 0.60 − (0.58 + 0.30)
    assert_eq!((pack.calls, pack.margin), (10, usd(dec!(13.12))));
    let sub = plan_margin(
        &Plan::Subscription {
            monthly: usd(dec!(10)),
            included_calls: 20,
            overage_per_call: usd(dec!(0.50)),
        },
        &costs,
        None,
    )?;
    // At its limit the subscription loses money, and so does each call beyond it.
    assert_eq!(sub.margin, usd(dec!(-2)));
    assert_eq!(sub.overage_margin_per_call, Some(usd(dec!(-0.10))));
    let minutes = plan_margin(
        &Plan::PerMinute {
            price_per_minute: usd(dec!(0.25)),
        },
        &costs,
        None,
    )?;
    assert_eq!(
        (minutes.revenue, minutes.margin),
        (usd(dec!(1.25)), usd(dec!(0.65)))
    );

    // The same from recorded averages.
    let db = Db::new();
    fill(&db)?;
    let today = Utc::now().date_naive();
    let recorded = Reports::open(&db.path)?
        .call_costs(today, today)?
        .expect("calls");
    // (0.87416 − 0.46966 fees) ÷ 2 calls; 5 call minutes ÷ 2 calls.
    assert_eq!(recorded.cost_per_call, usd(dec!(0.20225)));
    assert_eq!(recorded.minutes_per_call, dec!(2.5));
    Ok(())
}

#[test]
fn a_subject_s_calls_over_a_range() -> TestResult {
    use callmeter::control::SubjectKind;
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let today = Utc::now().date_naive();
    let calls = reports.calls_of(SubjectKind::Tenant, "t1", today, today)?;
    let ids: Vec<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&"a") && ids.contains(&"b"));
    let u2 = reports.calls_of(SubjectKind::User, "u2", today, today)?;
    assert_eq!(
        (u2[0].status.as_str(), u2[0].total),
        ("failed", usd(dec!(0.0295)))
    );
    Ok(())
}

/// Four calls of $0.05 in the week of 1 October 2026, then ten in the week of the 8th costing $0.01
/// to $0.10 by steps of a cent: seven completed, two failed ($0.03 and $0.09), one abandoned ($0.05).
mod operations {
    use super::*;
    use callmeter::{Catalog, Category, ManualClock, ModelPrice, Rate, UsageKind};
    use chrono::NaiveDate;
    use rust_decimal::Decimal;
    use std::time::Duration;

    /// One character costs a tenth of a cent: ten characters are a cent.
    fn catalog() -> Catalog {
        Catalog::builder()
            .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
                UsageKind::Characters,
                Rate::per_thousand_characters(usd(dec!(1))),
            ))
            .build()
            .expect("catalog")
    }

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 10, d).expect("day")
    }

    fn fill(db: &Db) -> TestResult {
        let clock = ManualClock::starting_at("2026-10-01T10:00:00Z".parse()?);
        let (meter, guard) = db
            .builder()
            .catalog(catalog())
            .clock(clock.clone())
            .open()?;
        // The week before: four calls of $0.05.
        for i in 0..4 {
            let call = meter.start_call(CallInfo::new(format!("before-{i}")))?;
            call.track_tts("acme", "voice", 50)?;
            call.finalize(Outcome::Completed)?;
        }
        clock.set("2026-10-08T10:00:00Z".parse()?);
        for cents in 1..=10_u64 {
            clock.advance(Duration::from_secs(60));
            let call = meter.start_call(CallInfo::new(format!("c{cents}")))?;
            call.track_tts("acme", "voice", 10 * cents)?;
            match cents {
                3 | 9 => {
                    call.finalize(Outcome::failed("dropped"))?;
                }
                5 => drop(call),
                _ => {
                    call.finalize(Outcome::Completed)?;
                }
            }
        }
        drop(meter);
        guard.shutdown()?;
        Ok(())
    }

    #[test]
    fn endings_give_failure_and_abandon_rates_with_their_cost() -> TestResult {
        let db = Db::new();
        fill(&db)?;
        let r = Reports::open(&db.path)?;
        let endings = r.endings(day(8), day(14))?;
        let got: Vec<(&str, u64, Decimal, Usd)> = endings
            .iter()
            .map(|e| (e.status.as_str(), e.calls, e.percent, e.cost))
            .collect();
        assert_eq!(
            got,
            [
                ("completed", 7, dec!(70), usd(dec!(0.38))),
                ("failed", 2, dec!(20), usd(dec!(0.12))),
                ("abandoned", 1, dec!(10), usd(dec!(0.05))),
            ]
        );
        Ok(())
    }

    #[test]
    fn cost_spread_gives_nearest_rank_percentiles() -> TestResult {
        let db = Db::new();
        fill(&db)?;
        let r = Reports::open(&db.path)?;
        let spread = r.cost_spread(day(8), day(14))?.ok_or("no calls")?;
        assert_eq!(spread.calls, 10);
        assert_eq!(
            (spread.p50, spread.p95, spread.p99, spread.max),
            (
                usd(dec!(0.05)),
                usd(dec!(0.10)),
                usd(dec!(0.10)),
                usd(dec!(0.10))
            )
        );
        assert_eq!(r.cost_spread(day(20), day(21))?, None);
        Ok(())
    }

    #[test]
    fn a_week_against_the_week_before() -> TestResult {
        let db = Db::new();
        fill(&db)?;
        let r = Reports::open(&db.path)?;
        let change = r.against_previous(day(8), day(14))?;
        assert_eq!((change.previous_from, change.previous_to), (day(1), day(7)));
        assert_eq!((change.calls, change.previous_calls), (10, 4));
        assert_eq!(
            (change.cost, change.previous_cost),
            (usd(dec!(0.55)), usd(dec!(0.20)))
        );
        assert_eq!(change.cost_change_percent, Some(dec!(175)));
        Ok(())
    }
}

/// Ranges at the ends of the calendar (as a request to `callmeter serve` may ask for) give a report or
/// a typed error, never a panic: the period before `against_previous` compares with is computed with
/// checked arithmetic.
#[test]
fn ranges_at_the_ends_of_the_calendar_are_answered_or_refused_never_a_panic() -> TestResult {
    use chrono::NaiveDate;
    let db = Db::new();
    fill(&db)?;
    let reports = Reports::open(&db.path)?;
    let (min, max) = (NaiveDate::MIN, NaiveDate::MAX);
    let month = |d: NaiveDate| {
        d.checked_add_days(chrono::Days::new(30))
            .expect("a month on")
    };
    let before = |d: NaiveDate| {
        d.checked_sub_days(chrono::Days::new(30))
            .expect("a month back")
    };
    for (from, to) in [
        (min, min),
        (max, max),
        (min, month(min)),
        (before(max), max),
    ] {
        reports.platform(from, to)?;
        reports.endings(from, to)?;
        reports.cost_spread(from, to)?;
        reports.calls_by(GroupBy::User, from, to)?;
        reports.top_calls(from, to, 5)?;
        reports.cost_by_hour(from, to)?;
        reports.economics(from, to, &[])?;
        reports.html(from, to, &[])?;
        reports.reconcile(from, to, &callmeter::report::ReconcileOptions::default())?;
        reports.quotas(to)?;
        reports.export_calls_csv(from, to, std::io::sink())?;
        reports.export_events_csv(from, to, std::io::sink())?;
        reports.export_jsonl(from, to, std::io::sink())?;
        match reports.against_previous(from, to) {
            Ok(_) => assert_ne!(from, min, "no day before {min}"),
            Err(Error::DateOutOfRange { from: f, to: t }) => assert_eq!((f, t), (from, to)),
            Err(e) => return Err(e.into()),
        }
    }
    let change = reports.against_previous(max, max)?;
    assert_eq!(change.previous_to, max.pred_opt().expect("a day before"));
    Ok(())
}
