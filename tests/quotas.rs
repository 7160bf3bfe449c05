//! Platform quotas per provider and the daily and monthly cost alerts: raised by the writer once per
//! period, remembered across a restart.

mod common;

use callmeter::control::AlertThresholds;
use callmeter::{
    AlertKind, Budget, CallInfo, Catalog, Category, MeterBuilder, ModelPrice, Quota, Rate,
    UsageKind, Usd,
};
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
    quiet.session = Usd::new(dec!(1000));
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
    thresholds.session = Usd::new(dec!(1000));
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
    let quota = || Quota::monthly("acme").model("ears").units(1).warn_at_percent(90);
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
