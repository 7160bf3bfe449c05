//! One rule for every threshold: it fires when the figure *reaches* it, not a nano-dollar, unit or
//! millisecond before. Both sides of every boundary: budget warning and cutoff, the session alert, the
//! platform's daily and monthly alerts, quota warning and critical (in units and in dollars), user and
//! tenant limits (in dollars and in minutes).

mod common;

use std::sync::{Arc, Mutex};

use callmeter::control::AlertThresholds;
use callmeter::{
    Alert, AlertKind, Budget, CallInfo, Catalog, Category, Limits, Meter, MeterBuilder, MeterGuard,
    ModelPrice, Quota, Rate, UsageKind, Usd, Verdict,
};
use common::{Db, TestResult};
use rust_decimal::Decimal;

/// `acme/voice`: one character costs one nano-dollar; `acme/line`: telephony at $0.06 a minute.
fn catalog() -> Catalog {
    Catalog::builder()
        .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_character(Usd::from_nanos(1)),
        ))
        .insert(ModelPrice::new("acme", "line", Category::Telephony).rate(
            UsageKind::CallSeconds,
            Rate::per_minute(Usd::new(Decimal::new(6, 2))),
        ))
        .build()
        .expect("catalog")
}

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<Alert>>>);

impl Collected {
    fn of(&self, kind: AlertKind) -> Vec<Alert> {
        let seen = self.0.lock().expect("lock");
        seen.iter().filter(|a| a.kind == kind).cloned().collect()
    }
}

/// Thresholds far away, so that only the one under test can fire.
fn far() -> AlertThresholds {
    let mut t = AlertThresholds::default();
    t.call = Usd::from_nanos(i64::MAX / 4);
    t.daily = Usd::from_nanos(i64::MAX / 4);
    t.monthly = Usd::from_nanos(i64::MAX / 4);
    t
}

fn meter(
    db: &Db,
    seen: &Collected,
    configure: impl Fn(MeterBuilder) -> MeterBuilder,
) -> (Meter, MeterGuard) {
    let sink = Arc::clone(&seen.0);
    configure(
        db.builder()
            .catalog(catalog())
            .budget(Budget::unlimited())
            .alert_thresholds(far())
            .alert_sink(move |a: &Alert| sink.lock().expect("lock").push(a.clone())),
    )
    .open()
    .expect("open")
}

/// Tracks `characters` (nano-dollars) on a new call, in one event, and answers its verdict.
fn spend(meter: &Meter, id: &str, characters: u64) -> Verdict {
    let call = meter
        .start_call(CallInfo::new(id).user("u").tenant("t"))
        .expect("start");
    call.track_tts("acme", "voice", characters)
        .expect("track")
        .verdict
}

#[test]
fn budget_warning_and_cutoff_fire_when_reached() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let budget = Budget::default()
        .max_cost(Usd::from_nanos(1_000))
        .warn_at_percent(50);
    let (meter, guard) = meter(&db, &seen, |b| b.budget(budget));
    let call = meter.start_call(CallInfo::new("b"))?;
    let mut verdicts = Vec::new();
    for characters in [499, 1, 499, 1] {
        verdicts.push(call.track_tts("acme", "voice", characters)?.verdict);
    }
    assert_eq!(
        verdicts,
        [
            Verdict::Fine,
            Verdict::Warning,
            Verdict::Warning,
            Verdict::Cutoff
        ]
    );
    drop(call);
    guard.shutdown()?;
    let warning = seen.of(AlertKind::CallWarning);
    let cutoff = seen.of(AlertKind::CallCutoff);
    assert_eq!((warning.len(), cutoff.len()), (1, 1));
    assert_eq!(warning[0].value, Usd::from_nanos(500));
    assert_eq!(warning[0].threshold, Some(Usd::from_nanos(500)));
    assert_eq!(cutoff[0].value, Usd::from_nanos(1_000));
    assert_eq!(cutoff[0].threshold, Some(Usd::from_nanos(1_000)));
    Ok(())
}

#[test]
fn the_session_alert_fires_when_reached() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let (meter, guard) = meter(&db, &seen, |b| {
        let mut t = far();
        t.call = Usd::from_nanos(1_000);
        b.alert_thresholds(t)
    });
    spend(&meter, "below", 999);
    spend(&meter, "at", 1_000);
    guard.shutdown()?;
    let alerts = seen.of(AlertKind::CallCost);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].call_id.as_deref(), Some("at"));
    assert_eq!(alerts[0].threshold, Some(Usd::from_nanos(1_000)));
    Ok(())
}

#[test]
fn platform_daily_and_monthly_alerts_fire_when_reached() -> TestResult {
    for (kind, set) in [
        (
            AlertKind::DailyCost,
            (|t: &mut AlertThresholds| t.daily = Usd::from_nanos(10_000))
                as fn(&mut AlertThresholds),
        ),
        (AlertKind::MonthlyCost, |t: &mut AlertThresholds| {
            t.monthly = Usd::from_nanos(10_000)
        }),
    ] {
        let db = Db::new();
        let seen = Collected::default();
        let thresholds = || {
            let mut t = far();
            set(&mut t);
            t
        };
        // One nano-dollar short, across a restart: nothing.
        let (m, guard) = meter(&db, &seen, |b| b.alert_thresholds(thresholds()));
        spend(&m, "a", 9_999);
        guard.shutdown()?;
        assert!(seen.of(kind).is_empty(), "{kind}");
        // The last nano-dollar reaches it.
        let (m, guard) = meter(&db, &seen, |b| b.alert_thresholds(thresholds()));
        spend(&m, "b", 1);
        guard.shutdown()?;
        let alerts = seen.of(kind);
        assert_eq!(alerts.len(), 1, "{kind}");
        assert_eq!(alerts[0].value, Usd::from_nanos(10_000));
        assert_eq!(alerts[0].threshold, Some(Usd::from_nanos(10_000)));
    }
    Ok(())
}

#[test]
fn quota_warning_and_critical_fire_when_reached_in_units_and_in_dollars() -> TestResult {
    let units = Quota::daily("acme").units(1_000);
    let dollars = Quota::daily("acme").cost(Usd::from_nanos(1_000));
    for (quota, by_units) in [(units, true), (dollars, false)] {
        let db = Db::new();
        let seen = Collected::default();
        let (m, guard) = meter(&db, &seen, |b| b.quota(quota.clone()));
        let call = m.start_call(CallInfo::new("q"))?;
        // Warning at 80 %: 800; critical at 95 %: 950. Each alert's figure is the usage that reached
        // it, so one fired a unit early would show 799 or 949.
        for characters in [799, 1, 149, 1] {
            call.track_tts("acme", "voice", characters)?;
        }
        drop(call);
        guard.shutdown()?;
        let warning = seen.of(AlertKind::QuotaWarning);
        let critical = seen.of(AlertKind::QuotaCritical);
        assert_eq!((warning.len(), critical.len()), (1, 1), "units: {by_units}");
        for (alert, at) in [(&warning[0], 800), (&critical[0], 950)] {
            assert_eq!(alert.value, Usd::from_nanos(at));
            if by_units {
                let usage = alert.usage.as_ref().expect("a units quota reports units");
                assert_eq!(
                    (usage.used, usage.threshold),
                    (Decimal::from(at), Decimal::from(at))
                );
                assert_eq!(
                    alert.threshold, None,
                    "no dollar threshold on a units quota"
                );
            } else {
                assert_eq!(alert.threshold, Some(Usd::from_nanos(at)));
                assert!(alert.usage.is_none());
            }
        }
    }
    Ok(())
}

#[test]
fn user_and_tenant_limits_cut_off_when_reached_in_dollars_and_minutes() -> TestResult {
    let cost = Limits::none().daily_cost(Usd::from_nanos(1_000));
    for (kind, limits) in [
        (AlertKind::UserLimit, (cost, Limits::none())),
        (AlertKind::TenantLimit, (Limits::none(), cost)),
    ] {
        let db = Db::new();
        let seen = Collected::default();
        let (m, guard) = meter(&db, &seen, |b| {
            b.user_limits(limits.0).tenant_limits(limits.1)
        });
        assert_eq!(spend(&m, "a", 999), Verdict::Fine);
        assert_eq!(spend(&m, "b", 1), Verdict::Cutoff);
        guard.shutdown()?;
        let alerts = seen.of(kind);
        assert_eq!(alerts.len(), 1, "{kind}");
        assert_eq!(alerts[0].threshold, Some(Usd::from_nanos(1_000)));
        assert!(seen.of(AlertKind::CallCutoff).is_empty());
    }
    // Minutes: one minute a day is reached at exactly 60 seconds of calls.
    let db = Db::new();
    let seen = Collected::default();
    let (m, guard) = meter(&db, &seen, |b| {
        b.user_limits(Limits::none().daily_minutes(1))
    });
    let call = m.start_call(CallInfo::new("talk").user("u"))?;
    assert_eq!(
        call.track_duration("acme", "line", 59.999)?.verdict,
        Verdict::Fine
    );
    assert_eq!(
        call.track_duration("acme", "line", 0.001)?.verdict,
        Verdict::Cutoff
    );
    drop(call);
    guard.shutdown()?;
    let alerts = seen.of(AlertKind::UserLimit);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].threshold, None,
        "the minutes limit fired, not a cost limit"
    );
    let usage = alerts[0].usage.as_ref().expect("minutes");
    assert_eq!(
        (usage.used, usage.threshold, usage.unit.as_str()),
        (Decimal::ONE, Decimal::ONE, "minute")
    );
    assert!(
        alerts[0].message.contains("daily minutes limit"),
        "{}",
        alerts[0].message
    );
    Ok(())
}

#[test]
fn a_quota_in_seconds_is_reached_exactly_where_floats_fall_short() -> TestResult {
    // 0.7 s + 0.1 s is 0.7999999999999999 in floating point: the 80 % threshold of one second must
    // still be reached by the second event, and not by the first.
    let db = Db::new();
    let seen = Collected::default();
    let (m, guard) = meter(&db, &seen, |b| b.quota(Quota::daily("acme").units(1)));
    let call = m.start_call(CallInfo::new("secs"))?;
    call.track_duration("acme", "line", 0.7)?;
    m.flush()?;
    guard.shutdown()?;
    assert!(seen.of(AlertKind::QuotaWarning).is_empty());
    let (m, guard) = meter(&db, &seen, |b| b.quota(Quota::daily("acme").units(1)));
    let call2 = m.start_call(CallInfo::new("secs-2"))?;
    call2.track_duration("acme", "line", 0.1)?;
    drop((call, call2));
    guard.shutdown()?;
    let warning = seen.of(AlertKind::QuotaWarning);
    assert_eq!(warning.len(), 1);
    let usage = warning[0].usage.as_ref().expect("units");
    assert_eq!(
        (usage.used, usage.threshold),
        (Decimal::new(8, 1), Decimal::new(8, 1))
    );
    Ok(())
}
