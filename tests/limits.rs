//! Per-user and per-tenant limits: admission before a call, live cutoff during it, spend kept across
//! a restart, and no overspend under concurrency beyond what the bound in the docs allows.

mod common;

use std::sync::atomic::{AtomicI64, Ordering};

use callmeter::control::{Period, SubjectKind};
use callmeter::{
    AlertKind, Budget, CallInfo, Catalog, Category, Limits, Meter, MeterBuilder, MeterGuard,
    ModelPrice, Rate, UsageKind, Usd, Verdict,
};
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

/// One character costs $0.001; a minute of call costs $0.01.
fn catalog() -> Catalog {
    Catalog::builder()
        .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_thousand_characters(Usd::new(dec!(1))),
        ))
        .insert(ModelPrice::new("acme", "phone", Category::Telephony).rate(
            UsageKind::CallSeconds,
            Rate::per_minute(Usd::new(dec!(0.01))),
        ))
        .build()
        .expect("catalog")
}

fn builder(db: &Db) -> MeterBuilder {
    db.builder().catalog(catalog()).budget(Budget::unlimited())
}

fn open(b: MeterBuilder) -> (Meter, MeterGuard) {
    b.open().expect("open")
}

fn usd(d: rust_decimal::Decimal) -> Usd {
    Usd::new(d)
}

#[test]
fn admission_counts_spend_plus_the_estimate() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = open(
        builder(&db)
            .user_limits(Limits::none().monthly_cost(usd(dec!(1))))
            .estimated_call_cost_for("council", usd(dec!(2))),
    );
    let info = CallInfo::new("a").user("u1");
    let first = meter.admit(&info);
    assert!(first.allowed);
    assert_eq!(first.estimate, usd(dec!(0.90)));
    assert_eq!(first.status[0].remaining_cost, Some(usd(dec!(1))));
    // A council session is estimated at $2: more than the whole limit.
    assert!(
        !meter
            .admit(&CallInfo::new("c").user("u1").session_kind("council"))
            .allowed
    );

    let call = meter.start_call(info)?;
    call.track_tts("acme", "voice", 100)?; // $0.10: 0.10 + 0.90 fits exactly
    assert!(meter.admit(&CallInfo::new("b").user("u1")).allowed);
    call.track_tts("acme", "voice", 1)?;
    let denied = meter.admit(&CallInfo::new("b").user("u1"));
    assert!(!denied.allowed);
    let why = &denied.denied_by[0];
    assert_eq!((why.kind, why.period), (SubjectKind::User, Period::Month));
    assert_eq!(why.spent, usd(dec!(0.101)));
    assert_eq!(why.remaining_cost, Some(usd(dec!(0.899))));
    // Another user is not affected.
    assert!(meter.admit(&CallInfo::new("x").user("u2")).allowed);
    Ok(())
}

#[test]
fn reaching_a_limit_cuts_off_every_call_of_the_subject_and_alerts_once() -> TestResult {
    let db = Db::new();
    let (meter, guard) =
        open(builder(&db).tenant_limits_for("acme", Limits::none().daily_cost(usd(dec!(0.50)))));
    let one = meter.start_call(CallInfo::new("one").tenant("acme"))?;
    let two = meter.start_call(CallInfo::new("two").tenant("acme"))?;
    let other = meter.start_call(CallInfo::new("other").tenant("globex"))?;
    assert_eq!(one.track_tts("acme", "voice", 300)?.verdict, Verdict::Fine);
    assert_eq!(two.track_tts("acme", "voice", 199)?.verdict, Verdict::Fine);
    assert_eq!(two.track_tts("acme", "voice", 1)?.verdict, Verdict::Cutoff);
    assert_eq!(one.track_tts("acme", "voice", 1)?.verdict, Verdict::Cutoff);
    assert_eq!(
        other.track_tts("acme", "voice", 1_000)?.verdict,
        Verdict::Fine
    );
    let status = meter.limit_status(SubjectKind::Tenant, "acme");
    assert_eq!(status[0].spent, usd(dec!(0.501)));
    assert_eq!(status[0].remaining_cost, Some(Usd::ZERO));
    drop((one, two, other));
    guard.shutdown()?;
    assert_eq!(
        scalar_i64(
            &db.read(),
            &format!(
                "SELECT COUNT(*) FROM alerts WHERE kind = '{}' AND subject = 'tenant:acme'",
                AlertKind::TenantLimit.as_str()
            ),
            []
        ),
        1
    );
    Ok(())
}

#[test]
fn minute_limits_count_call_seconds() -> TestResult {
    let db = Db::new();
    let (meter, _guard) =
        open(builder(&db).user_limits_for("u1", Limits::none().monthly_minutes(10)));
    let call = meter.start_call(CallInfo::new("talk").user("u1"))?;
    assert_eq!(
        call.track_duration("acme", "phone", 599.0)?.verdict,
        Verdict::Fine
    );
    assert!(meter.admit(&CallInfo::new("next").user("u1")).allowed);
    assert_eq!(
        call.track_duration("acme", "phone", 1.0)?.verdict,
        Verdict::Cutoff
    );
    let denied = meter.admit(&CallInfo::new("next").user("u1"));
    assert!(!denied.allowed);
    assert_eq!(denied.denied_by[0].remaining_minutes, Some(dec!(0)));
    assert_eq!(denied.denied_by[0].minutes, dec!(10));
    Ok(())
}

#[test]
fn a_restart_keeps_everyone_s_spend() -> TestResult {
    let db = Db::new();
    let limits = Limits::none().daily_cost(usd(dec!(1))).monthly_minutes(100);
    {
        let (meter, guard) = open(builder(&db).user_limits(limits));
        let call = meter.start_call(CallInfo::new("before").user("u1").tenant("t"))?;
        call.track_tts("acme", "voice", 300)?;
        call.track_duration("acme", "phone", 90.0)?;
        drop(call);
        guard.shutdown()?;
    }
    let (meter, _guard) = open(builder(&db).user_limits(limits));
    let status = meter.limit_status(SubjectKind::User, "u1");
    let day = status
        .iter()
        .find(|s| s.period == Period::Day)
        .expect("day");
    let month = status
        .iter()
        .find(|s| s.period == Period::Month)
        .expect("month");
    assert_eq!(day.spent, usd(dec!(0.315)));
    assert_eq!(month.minutes, dec!(1.5));
    // $0.315 spent + $0.90 estimated > $1.
    assert!(!meter.admit(&CallInfo::new("after").user("u1")).allowed);
    Ok(())
}

#[test]
fn concurrent_calls_never_share_the_same_dollar() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = open(builder(&db).user_limits(Limits::none().daily_cost(usd(dec!(1)))));
    // Usage answered with a verdict other than Cutoff was tracked while room remained.
    let admitted_nanos = AtomicI64::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let meter = &meter;
            let admitted = &admitted_nanos;
            s.spawn(move || {
                for c in 0..4 {
                    let call = meter
                        .start_call(CallInfo::new(format!("t{t}-c{c}")).user("u1"))
                        .expect("start");
                    for _ in 0..50 {
                        let tracked = call.track_tts("acme", "voice", 10).expect("track");
                        if tracked.verdict != Verdict::Cutoff {
                            admitted.fetch_add(
                                tracked.cost.to_nanos().expect("nanos"),
                                Ordering::Relaxed,
                            );
                        }
                    }
                }
            });
        }
    });
    let spent = meter.limit_status(SubjectKind::User, "u1")[0].spent;
    // 16 calls × 50 × $0.01 = $8 tracked in all; what ran with room is at most the limit.
    assert_eq!(spent, usd(dec!(8)));
    assert!(admitted_nanos.load(Ordering::Relaxed) < 1_000_000_000);
    assert!(admitted_nanos.load(Ordering::Relaxed) >= 990_000_000);
    Ok(())
}
