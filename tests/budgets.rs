//! Per-call budgets and the alerts they raise: verdicts exact at the thresholds, each alert once,
//! delivered off the hot path, sinks that fail or panic or dawdle never touching tracking.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callmeter::control::AlertThresholds;
use callmeter::{
    Alert, AlertKind, Budget, CallInfo, Catalog, Category, Error, ModelPrice, Outcome, Rate,
    UsageKind, Usd, Verdict,
};
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

/// One character costs exactly $0.001.
fn catalog() -> Catalog {
    Catalog::builder()
        .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_thousand_characters(Usd::new(dec!(1))),
        ))
        .build()
        .expect("catalog")
}

fn dollars(d: rust_decimal::Decimal) -> Usd {
    Usd::new(d)
}

/// Alerts delivered to a sink, with the name of the thread that delivered each.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<Delivery>>>);

/// An alert and the name of the thread that delivered it.
type Delivery = (Alert, Option<String>);

impl Collected {
    fn sink(&self) -> impl Fn(&Alert) + Send + Sync + 'static {
        let seen = Arc::clone(&self.0);
        move |alert: &Alert| {
            let thread = std::thread::current().name().map(str::to_owned);
            seen.lock().expect("lock").push((alert.clone(), thread));
        }
    }

    fn kinds(&self) -> Vec<AlertKind> {
        let seen = self.0.lock().expect("lock");
        seen.iter().map(|(a, _)| a.kind).collect()
    }
}

fn quiet_thresholds() -> AlertThresholds {
    let mut t = AlertThresholds::default();
    t.call = dollars(dec!(1000));
    t
}

#[test]
fn verdicts_change_exactly_at_the_thresholds() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::default().max_cost(dollars(dec!(1))))
        .alert_thresholds(quiet_thresholds())
        .open()?;
    let call = meter.start_call(CallInfo::new("edge"))?;
    let t = call.track_tts("acme", "voice", 749)?;
    assert_eq!(
        (t.verdict, t.remaining),
        (Verdict::Fine, dollars(dec!(0.251)))
    );
    let t = call.track_tts("acme", "voice", 1)?;
    assert_eq!(
        (t.verdict, t.call_total),
        (Verdict::Warning, dollars(dec!(0.75)))
    );
    let t = call.track_tts("acme", "voice", 249)?;
    assert_eq!(
        (t.verdict, t.remaining),
        (Verdict::Warning, dollars(dec!(0.001)))
    );
    let t = call.track_tts("acme", "voice", 1)?;
    assert_eq!((t.verdict, t.remaining), (Verdict::Cutoff, Usd::ZERO));
    assert_eq!(call.verdict(), Verdict::Cutoff);
    // A cut-off call still records what it is given: the money was spent.
    let t = call.track_tts("acme", "voice", 500)?;
    assert_eq!(
        (t.verdict, t.call_total),
        (Verdict::Cutoff, dollars(dec!(1.5)))
    );
    Ok(())
}

#[test]
fn a_call_budget_overrides_the_meter_default_and_soft_budgets_only_warn() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog()).open()?;
    let call = meter.start_call(
        CallInfo::new("soft").budget(
            Budget::default()
                .max_cost(dollars(dec!(0.10)))
                .auto_cutoff(false),
        ),
    )?;
    assert_eq!(
        call.track_tts("acme", "voice", 200)?.verdict,
        Verdict::Warning
    );
    let default = meter.start_call(CallInfo::new("default"))?;
    // The default budget: $10.00, warning at $7.50.
    assert_eq!(
        default.track_tts("acme", "voice", 7_499)?.verdict,
        Verdict::Fine
    );
    assert_eq!(
        default.track_tts("acme", "voice", 1)?.verdict,
        Verdict::Warning
    );
    assert_eq!(
        default.track_tts("acme", "voice", 2_500)?.verdict,
        Verdict::Cutoff
    );
    Ok(())
}

#[test]
fn a_call_past_its_maximum_duration_is_cut_off() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog()).open()?;
    let call = meter.start_call(
        CallInfo::new("long").budget(Budget::default().max_duration(Duration::from_millis(100))),
    )?;
    assert_eq!(call.track_tts("acme", "voice", 1)?.verdict, Verdict::Fine);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(call.track_tts("acme", "voice", 1)?.verdict, Verdict::Cutoff);
    Ok(())
}

#[test]
fn each_threshold_alerts_once_off_the_hot_path_and_is_stored() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::default().max_cost(dollars(dec!(1))))
        .alert_thresholds(quiet_thresholds())
        .alert_sink(seen.sink())
        .open()?;
    let call = meter.start_call(CallInfo::new("once").user("u1").tenant("t1"))?;
    // Many threads push the call past both thresholds at once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    let _ = call.track_tts("acme", "voice", 5);
                }
            });
        }
    });
    assert_eq!(call.total(), dollars(dec!(2)));
    call.finalize(Outcome::Completed)?;
    drop(call);
    let stats = guard.shutdown()?;
    // Two threads may cross the two thresholds at the same moment: the order is not fixed.
    let mut kinds = seen.kinds();
    kinds.sort_by_key(|k| k.as_str());
    assert_eq!(kinds, [AlertKind::CallCutoff, AlertKind::CallWarning]);
    assert_eq!(stats.alerts_raised, 2);
    let delivered = seen.0.lock().expect("lock");
    for (alert, thread) in delivered.iter() {
        assert_eq!(thread.as_deref(), Some("callmeter-alerts"));
        assert_eq!(alert.call_id.as_deref(), Some("once"));
        assert_eq!(alert.user_id.as_deref(), Some("u1"));
        // Each names its own rule: the warning at 75 % of the $1 maximum, the cutoff at the maximum.
        let threshold = match alert.kind {
            AlertKind::CallWarning => dollars(dec!(0.75)),
            _ => dollars(dec!(1)),
        };
        assert_eq!(alert.threshold, Some(threshold));
    }
    let conn = db.read();
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM alerts WHERE call_id = 'once' AND tenant_id = 't1'",
            []
        ),
        2
    );
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT threshold_nanos FROM alerts WHERE kind = 'call_cutoff'",
            []
        ),
        1_000_000_000
    );
    Ok(())
}

#[test]
fn the_session_cost_alert_fires_once_per_call() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let mut thresholds = AlertThresholds::default();
    thresholds.call = dollars(dec!(0.50));
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .alert_thresholds(thresholds)
        .alert_sink(seen.sink())
        .open()?;
    for id in ["a", "b"] {
        let call = meter.start_call(CallInfo::new(id))?;
        for _ in 0..10 {
            call.track_tts("acme", "voice", 100)?;
        }
    }
    guard.shutdown()?;
    assert_eq!(seen.kinds(), [AlertKind::CallCost, AlertKind::CallCost]);
    let delivered = seen.0.lock().expect("lock");
    assert_eq!(delivered[0].0.value, dollars(dec!(0.5)));
    Ok(())
}

#[test]
fn failing_panicking_and_slow_sinks_do_not_touch_tracking() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::default().max_cost(dollars(dec!(0.01))))
        .alert_thresholds(quiet_thresholds())
        .alert_sink(|_: &Alert| panic!("this sink panics"))
        .alert_sink(FailingSink)
        .alert_sink(|_: &Alert| std::thread::sleep(Duration::from_millis(200)))
        .alert_sink(seen.sink())
        .open()?;
    let mut calls = Vec::new();
    for i in 0..5 {
        let call = meter.start_call(CallInfo::new(format!("c{i}")))?;
        for _ in 0..20 {
            call.track_tts("acme", "voice", 1)?;
        }
        assert_eq!(call.total(), dollars(dec!(0.02)));
        calls.push(call);
    }
    drop(calls);
    let stats = guard.shutdown()?;
    // Every call crossed both thresholds: 10 alerts, each delivered past the two bad sinks.
    assert_eq!(seen.kinds().len(), 10);
    assert_eq!(stats.alerts_raised, 10);
    assert_eq!(stats.alert_sink_failures, 20);
    assert_eq!(stats.persisted, 100);
    assert_eq!(
        scalar_i64(&db.read(), "SELECT COUNT(*) FROM alerts", []),
        10
    );
    Ok(())
}

struct FailingSink;

impl callmeter::AlertSink for FailingSink {
    fn deliver(&self, _: &Alert) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        Err("the channel is down".into())
    }
}

#[test]
fn an_impossible_budget_is_a_typed_error() -> TestResult {
    let db = Db::new();
    let bad = db
        .builder()
        .budget(Budget::default().warn_at_percent(150))
        .open()
        .err();
    assert!(matches!(bad, Some(Error::InvalidBudget(_))), "{bad:?}");
    let (meter, _guard) = db.open();
    let err = meter
        .start_call(CallInfo::new("neg").budget(Budget::default().max_cost(dollars(dec!(-1)))))
        .err();
    assert!(matches!(err, Some(Error::InvalidBudget(_))), "{err:?}");
    Ok(())
}
