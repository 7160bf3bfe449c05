//! Platform quotas per provider and the daily and monthly cost alerts: raised by the writer once per
//! period, remembered across a restart.

mod common;

use std::time::Duration;

use callmeter::control::{AlertThresholds, Period};
use callmeter::report::{QuotaLevel, QuotaState};
use callmeter::{
    AlertKind, Budget, CallInfo, Catalog, Category, Decimal, ManualClock, MeterBuilder, ModelPrice,
    Quota, Rate, Reports, UsageKind, Usd,
};
use chrono::NaiveDate;
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

/// One character costs $0.001, for two models of one provider.
fn catalog() -> Catalog {
    let tts = |model: &str| {
        ModelPrice::new("acme", model, Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_thousand_characters(Usd::new(dec!(1))),
        )
    };
    Catalog::builder()
        .insert(tts("voice"))
        .insert(tts("other"))
        .insert(ModelPrice::new("acme", "ears", Category::Stt).rate(
            UsageKind::AudioSeconds,
            Rate::per_second(Usd::new(dec!(0.001))),
        ))
        .build()
        .expect("catalog")
}

fn builder(db: &Db) -> MeterBuilder {
    let mut quiet = AlertThresholds::default();
    quiet.call = Usd::new(dec!(1000));
    db.builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .alert_thresholds(quiet)
}

fn alerts(db: &Db, kind: AlertKind) -> i64 {
    scalar_i64(
        &db.read(),
        "SELECT COUNT(*) FROM alerts WHERE kind = ?1",
        [kind.as_str()],
    )
}

#[test]
fn a_quota_warns_then_goes_critical_once_each() -> TestResult {
    let db = Db::new();
    let (meter, guard) = builder(&db)
        .quota(Quota::monthly("acme").model("voice").units(1_000))
        .open()?;
    let call = meter.start_call(CallInfo::new("q"))?;
    call.track_tts("acme", "voice", 799)?;
    call.track_tts("acme", "other", 5_000)?; // another model: not in the quota
    meter.flush()?;
    call.track_tts("acme", "voice", 1)?; // 800 = 80 %
    call.track_tts("acme", "voice", 100)?;
    meter.flush()?;
    call.track_tts("acme", "voice", 50)?; // 950 = 95 %
    call.track_tts("acme", "voice", 500)?;
    drop(call);
    guard.shutdown()?;
    assert_eq!(alerts(&db, AlertKind::QuotaWarning), 1);
    assert_eq!(alerts(&db, AlertKind::QuotaCritical), 1);
    let subject: String = db.read().query_row(
        "SELECT subject FROM alerts WHERE kind = 'quota_critical'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(subject, "provider:acme/voice");
    Ok(())
}

#[test]
fn a_dollar_quota_and_the_daily_cost_alert() -> TestResult {
    let db = Db::new();
    let mut thresholds = AlertThresholds::default();
    thresholds.call = Usd::new(dec!(1000));
    thresholds.daily = Usd::new(dec!(2));
    let (meter, guard) = builder(&db)
        .alert_thresholds(thresholds)
        .quota(Quota::daily("acme").cost(Usd::new(dec!(1))))
        .open()?;
    let call = meter.start_call(CallInfo::new("d"))?;
    call.track_tts("acme", "voice", 1_000)?; // $1: 100 % of the quota: critical (not also a warning)
    call.track_tts("acme", "other", 1_500)?; // $2.50 today
    drop(call);
    guard.shutdown()?;
    assert_eq!(alerts(&db, AlertKind::QuotaCritical), 1);
    assert_eq!(alerts(&db, AlertKind::QuotaWarning), 0);
    assert_eq!(alerts(&db, AlertKind::DailyCost), 1);
    assert_eq!(alerts(&db, AlertKind::MonthlyCost), 0);
    Ok(())
}

#[test]
fn after_a_restart_usage_counts_on_and_no_alert_repeats() -> TestResult {
    let db = Db::new();
    let quota = || Quota::monthly("acme").units(1_000);
    {
        let (meter, guard) = builder(&db).quota(quota()).open()?;
        let call = meter.start_call(CallInfo::new("before"))?;
        call.track_tts("acme", "voice", 850)?; // warning
        drop(call);
        guard.shutdown()?;
    }
    let (meter, guard) = builder(&db).quota(quota()).open()?;
    let call = meter.start_call(CallInfo::new("after"))?;
    call.track_tts("acme", "voice", 50)?; // 900: still only the warning, already raised
    meter.flush()?;
    call.track_tts("acme", "voice", 60)?; // 960: critical
    drop(call);
    guard.shutdown()?;
    assert_eq!(alerts(&db, AlertKind::QuotaWarning), 1);
    assert_eq!(alerts(&db, AlertKind::QuotaCritical), 1);
    Ok(())
}

/// Seconds are counted exactly across a restart: 0.7 s and 0.1 s read back are 0.8 s, not the
/// 0.7999999999999999 s their stored floats add to, so 0.1 s more reaches 90 % of a 1-second quota.
#[test]
fn seconds_read_back_after_a_restart_add_up_exactly() -> TestResult {
    let db = Db::new();
    let quota = || {
        Quota::monthly("acme")
            .model("ears")
            .units(1)
            .warn_at_percent(90)
    };
    {
        let (meter, guard) = builder(&db).quota(quota()).open()?;
        let call = meter.start_call(CallInfo::new("before"))?;
        call.track_stt("acme", "ears", 0.7)?;
        call.track_stt("acme", "ears", 0.1)?; // 0.8 s: under 90 %
        drop(call);
        guard.shutdown()?;
    }
    assert_eq!(alerts(&db, AlertKind::QuotaWarning), 0);
    let (meter, guard) = builder(&db).quota(quota()).open()?;
    let call = meter.start_call(CallInfo::new("after"))?;
    call.track_stt("acme", "ears", 0.1)?; // 0.9 s: the warning
    drop(call);
    guard.shutdown()?;
    assert_eq!(alerts(&db, AlertKind::QuotaWarning), 1);
    Ok(())
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

/// The figures of a state a test compares: subject, period's first and last day, cost, units, unit,
/// percentage used and level.
type Figures = (
    String,
    NaiveDate,
    NaiveDate,
    Usd,
    Decimal,
    Option<String>,
    Decimal,
    QuotaLevel,
);

fn figures(s: &QuotaState) -> Figures {
    (
        s.subject.clone(),
        s.period_start,
        s.period_end,
        s.cost,
        s.units,
        s.unit.clone(),
        s.used_percent,
        s.level,
    )
}

/// Reports read each quota's period up to the end of the day asked: a month's quota counts the
/// month so far, a day's quota that day alone, and the platform's thresholds come last.
#[test]
fn quota_state_counts_each_period_up_to_the_day_asked() -> TestResult {
    let db = Db::new();
    let clock = ManualClock::starting_at("2026-10-30T10:00:00Z".parse()?);
    let mut thresholds = AlertThresholds::default();
    thresholds.call = Usd::new(dec!(1000));
    thresholds.daily = Usd::new(dec!(2));
    thresholds.monthly = Usd::new(dec!(100));
    let (meter, guard) = builder(&db)
        .alert_thresholds(thresholds)
        .clock(clock.clone())
        .quota(Quota::monthly("acme").model("voice").units(1_000))
        .quota(Quota::daily("acme").cost(Usd::new(dec!(1))))
        .open()?;
    let call = meter.start_call(CallInfo::new("oct-30"))?;
    call.track_tts("acme", "voice", 300)?; // $0.30
    call.track_stt("acme", "ears", 0.7)?; // $0.0007
    drop(call);
    clock.advance(Duration::from_secs(86_400));
    let call = meter.start_call(CallInfo::new("oct-31"))?;
    call.track_tts("acme", "voice", 550)?; // 850 this month: 85 %
    call.track_tts("acme", "other", 400)?; // $0.95 today: 95 %
    drop(call);
    clock.advance(Duration::from_secs(86_400));
    let call = meter.start_call(CallInfo::new("nov-01"))?;
    call.track_tts("acme", "other", 960)?;
    call.track_tts("acme", "voice", 40)?; // $1.00 today: the whole quota
    drop(call);
    guard.shutdown()?;

    let reports = Reports::open(&db.path)?;
    let state = |on: &str| -> Result<Vec<Figures>, callmeter::Error> {
        let states = reports.quotas(day(on))?.expect("a file holds its quotas");
        Ok(states.iter().map(figures).collect())
    };
    let row = |subject: &str,
               (first, last): (&str, &str),
               cost: Decimal,
               units: Decimal,
               unit: Option<&str>,
               percent: Decimal,
               level: QuotaLevel|
     -> Figures {
        (
            subject.to_owned(),
            day(first),
            day(last),
            Usd::new(cost),
            units,
            unit.map(str::to_owned),
            percent,
            level,
        )
    };
    let october = ("2026-10-01", "2026-10-31");
    assert_eq!(
        state("2026-10-30")?,
        [
            row(
                "provider:acme/voice",
                october,
                dec!(0.3),
                dec!(300),
                Some("character"),
                dec!(30),
                QuotaLevel::Under
            ),
            // Characters and seconds together: no one unit.
            row(
                "provider:acme",
                ("2026-10-30", "2026-10-30"),
                dec!(0.3007),
                dec!(300.7),
                None,
                dec!(30.07),
                QuotaLevel::Under
            ),
            // $0.3007 of $2 is 15.035 %: rounded down for show.
            row(
                "platform",
                ("2026-10-30", "2026-10-30"),
                dec!(0.3007),
                dec!(300.7),
                None,
                dec!(15.03),
                QuotaLevel::Under
            ),
            row(
                "platform",
                october,
                dec!(0.3007),
                dec!(300.7),
                None,
                dec!(0.30),
                QuotaLevel::Under
            ),
        ]
    );
    assert_eq!(
        state("2026-10-31")?,
        [
            row(
                "provider:acme/voice",
                october,
                dec!(0.85),
                dec!(850),
                Some("character"),
                dec!(85),
                QuotaLevel::Warning
            ),
            row(
                "provider:acme",
                ("2026-10-31", "2026-10-31"),
                dec!(0.95),
                dec!(950),
                Some("character"),
                dec!(95),
                QuotaLevel::Critical
            ),
            row(
                "platform",
                ("2026-10-31", "2026-10-31"),
                dec!(0.95),
                dec!(950),
                Some("character"),
                dec!(47.5),
                QuotaLevel::Under
            ),
            row(
                "platform",
                october,
                dec!(1.2507),
                dec!(1250.7),
                None,
                dec!(1.25),
                QuotaLevel::Under
            ),
        ]
    );
    let november = ("2026-11-01", "2026-11-30");
    assert_eq!(
        state("2026-11-01")?,
        [
            row(
                "provider:acme/voice",
                november,
                dec!(0.04),
                dec!(40),
                Some("character"),
                dec!(4),
                QuotaLevel::Under
            ),
            row(
                "provider:acme",
                ("2026-11-01", "2026-11-01"),
                dec!(1),
                dec!(1000),
                Some("character"),
                dec!(100),
                QuotaLevel::Over
            ),
            row(
                "platform",
                ("2026-11-01", "2026-11-01"),
                dec!(1),
                dec!(1000),
                Some("character"),
                dec!(50),
                QuotaLevel::Under
            ),
            row(
                "platform",
                november,
                dec!(1),
                dec!(1000),
                Some("character"),
                dec!(1),
                QuotaLevel::Under
            ),
        ]
    );
    let platform = &reports.quotas(day("2026-11-01"))?.expect("quotas")[2];
    assert_eq!(
        (platform.period, platform.cost_limit, platform.units_limit),
        (Period::Day, Some(Usd::new(dec!(2))), None)
    );
    Ok(())
}

/// The quotas shown are the last opened meter's: opening again with others replaces them.
#[test]
fn the_last_meter_s_quotas_are_the_ones_reported() -> TestResult {
    let db = Db::new();
    let (_meter, guard) = builder(&db)
        .quota(Quota::monthly("acme").units(10))
        .open()?;
    guard.shutdown()?;
    let (_meter, guard) = builder(&db)
        .quota(
            Quota::daily("other")
                .model("m")
                .cost(Usd::new(dec!(3)))
                .warn_at_percent(50),
        )
        .open()?;
    guard.shutdown()?;
    let states = Reports::open(&db.path)?
        .quotas(day("2026-11-24"))?
        .expect("quotas");
    let subjects: Vec<(&str, Option<Usd>, Option<u64>, u8)> = states
        .iter()
        .map(|s| {
            (
                s.subject.as_str(),
                s.cost_limit,
                s.units_limit,
                s.warn_percent,
            )
        })
        .collect();
    assert_eq!(
        subjects,
        [
            ("provider:other/m", Some(Usd::new(dec!(3))), None, 50),
            ("platform", Some(Usd::new(dec!(100))), None, 100),
            ("platform", Some(Usd::new(dec!(2000))), None, 100),
        ]
    );
    Ok(())
}

/// A file of schema version 4 (written before quotas were recorded) is still read: it has none.
#[test]
fn a_version_4_file_reports_no_quotas() -> TestResult {
    let db = Db::new();
    let (_meter, guard) = builder(&db)
        .quota(Quota::monthly("acme").units(10))
        .open()?;
    guard.shutdown()?;
    db.read()
        .execute_batch("DROP TABLE quotas; PRAGMA user_version = 4;")?;
    let states = Reports::open(&db.path)?.quotas(day("2026-11-24"))?;
    assert_eq!(states, Some(Vec::new()));
    Ok(())
}
