//! Reservations: money held before a provider request, settled after it; what a dropped reservation
//! leaves; limits that count spent plus held; and no limit passed by reserved work, under
//! concurrency and in any order of reserve, settle, drop, track and finalize.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use callmeter::control::{Period, SubjectKind};
use callmeter::pricing::Usage;
use callmeter::{
    Budget, CallInfo, Catalog, Category, Limits, MeterBuilder, ModelPrice, Outcome, Rate,
    RefusedBy, Reports, Reserve, UsageKind, Usd,
};
use common::{Db, TestResult};
use proptest::prelude::*;
use rust_decimal::dec;

/// A character costs $0.001 (`acme/voice`, billed when a request fails) or $0.002
/// (`free/voice`, whose provider does not bill failed requests).
fn catalog() -> Catalog {
    Catalog::builder()
        .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_thousand_characters(Usd::new(dec!(1))),
        ))
        .insert(
            ModelPrice::new("free", "voice", Category::Tts)
                .rate(
                    UsageKind::Characters,
                    Rate::per_thousand_characters(Usd::new(dec!(2))),
                )
                .with_failed_requests_billed(false),
        )
        .build()
        .expect("catalog")
}

fn builder(db: &Db) -> MeterBuilder {
    db.builder().catalog(catalog()).budget(Budget::unlimited())
}

fn nanos(u: Usd) -> i64 {
    u.to_nanos().expect("in range")
}

fn reserved(r: Reserve) -> callmeter::Reservation {
    match r {
        Reserve::Reserved(r) => r,
        Reserve::Refused(why) => panic!("refused: {why:?}"),
    }
}

#[test]
fn a_settled_reservation_records_the_actual_usage_and_releases_its_hold() -> TestResult {
    let db = Db::new();
    let (meter, guard) = builder(&db).open()?;
    let call = meter.start_call(CallInfo::new("c"))?;
    let r = reserved(call.reserve_tts("acme", "voice", 500)?);
    assert_eq!(r.held(), Usd::new(dec!(0.5)));
    assert_eq!(meter.stats().held, Usd::new(dec!(0.5)));
    let settled = r.settle(Usage::Characters(300))?;
    assert_eq!(settled.tracked.cost, Usd::new(dec!(0.3)));
    assert_eq!(settled.estimate, Usd::new(dec!(0.5)));
    assert_eq!(settled.over_estimate, None);
    assert_eq!(meter.stats().held, Usd::ZERO);
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.total, Usd::new(dec!(0.3)));
    let stats = guard.shutdown()?;
    assert_eq!((stats.reservations, stats.reservations_settled), (1, 1));
    let report = Reports::open(&db.path)?.call("c")?.expect("the call");
    assert_eq!(report.events.len(), 1);
    assert!(!report.events[0].estimated);
    Ok(())
}

#[test]
fn usage_past_the_estimate_is_recorded_in_full_and_said() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = builder(&db).open()?;
    let call = meter.start_call(CallInfo::new("c"))?;
    let r = reserved(call.reserve_tts("acme", "voice", 100)?);
    let settled = r.settle(Usage::Characters(250))?;
    assert_eq!(settled.tracked.cost, Usd::new(dec!(0.25)));
    assert_eq!(settled.over_estimate, Some(Usd::new(dec!(0.15))));
    assert_eq!(call.total(), Usd::new(dec!(0.25)));
    assert_eq!(meter.stats().held, Usd::ZERO);
    Ok(())
}

#[test]
fn a_dropped_reservation_is_recorded_at_its_estimate_and_marked() -> TestResult {
    let db = Db::new();
    let (meter, guard) = builder(&db).open()?;
    let call = meter.start_call(CallInfo::new("c"))?;
    let settled = reserved(call.reserve_tts("acme", "voice", 200)?);
    settled.settle(Usage::Characters(200))?;
    // The request failed: the handle goes without a settlement.
    drop(reserved(call.reserve_tts("acme", "voice", 700)?));
    assert_eq!(meter.stats().held, Usd::ZERO);
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.total, Usd::new(dec!(0.9)));
    let stats = guard.shutdown()?;
    assert_eq!(stats.reservations_abandoned, 1);
    let reports = Reports::open(&db.path)?;
    let report = reports.call("c")?.expect("the call");
    let flags: Vec<(i64, bool)> = report
        .events
        .iter()
        .map(|e| (nanos(e.cost), e.estimated))
        .collect();
    assert_eq!(flags, [(200_000_000, false), (700_000_000, true)]);
    // The call's total is the sum of its events, the estimate included.
    assert_eq!(nanos(report.total), 900_000_000);
    // The export says so too.
    let mut csv = Vec::new();
    reports.export_events_csv(
        chrono::Utc::now().date_naive(),
        chrono::Utc::now().date_naive(),
        &mut csv,
    )?;
    let csv = String::from_utf8(csv)?;
    let header: Vec<&str> = csv.lines().next().unwrap_or_default().split(',').collect();
    let column = header
        .iter()
        .position(|c| *c == "estimated")
        .expect("an estimated column");
    let marked: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(column).unwrap_or_default())
        .collect();
    assert_eq!(marked, ["0", "1"]);
    Ok(())
}

#[test]
fn a_dropped_reservation_of_a_provider_that_does_not_bill_failures_is_released() -> TestResult {
    let db = Db::new();
    let (meter, guard) = builder(&db).open()?;
    let call = meter.start_call(CallInfo::new("c"))?;
    drop(reserved(call.reserve_tts("free", "voice", 700)?));
    // A reservation whose request was never sent is released by hand, whatever the provider.
    reserved(call.reserve_tts("acme", "voice", 100)?).release();
    assert_eq!(meter.stats().held, Usd::ZERO);
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.total, Usd::ZERO);
    let stats = guard.shutdown()?;
    assert_eq!(
        (stats.reservations_abandoned, stats.reservations_released),
        (0, 2)
    );
    assert!(
        Reports::open(&db.path)?
            .call("c")?
            .expect("the call")
            .events
            .is_empty()
    );
    Ok(())
}

#[test]
fn holds_count_against_limits_and_a_refusal_says_which_and_how_much() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = builder(&db)
        .user_limits(Limits::none().daily_cost(Usd::new(dec!(1))))
        .open()?;
    let call = meter.start_call(CallInfo::new("c").user("u1"))?;
    call.track_tts("acme", "voice", 200)?;
    let held = reserved(call.reserve_tts("acme", "voice", 600)?);
    // $0.20 spent + $0.60 held: $0.30 more does not fit.
    let Reserve::Refused(why) = call.reserve_tts("acme", "voice", 300)? else {
        panic!("a reservation past the limit was held");
    };
    assert_eq!(
        why.by,
        RefusedBy::Limit {
            kind: SubjectKind::User,
            id: "u1".into(),
            period: Period::Day,
        }
    );
    assert_eq!(
        (why.estimate, why.spent, why.held, why.remaining),
        (
            Usd::new(dec!(0.3)),
            Usd::new(dec!(0.2)),
            Usd::new(dec!(0.6)),
            Usd::new(dec!(0.2))
        )
    );
    let status = &meter.limit_status(SubjectKind::User, "u1")[0];
    assert_eq!(
        (status.spent, status.held),
        (Usd::new(dec!(0.2)), Usd::new(dec!(0.6)))
    );
    assert_eq!(status.remaining_cost, Some(Usd::new(dec!(0.2))));
    // Admission counts the hold too.
    assert!(!meter.admit(&CallInfo::new("d").user("u1")).allowed);
    // Settling below the estimate frees the difference at once (no hold pins the limit).
    held.settle(Usage::Characters(100))?;
    assert!(matches!(
        call.reserve_tts("acme", "voice", 300)?,
        Reserve::Reserved(_)
    ));
    Ok(())
}

#[test]
fn a_call_budget_refuses_what_would_pass_its_cutoff() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = builder(&db).open()?;
    let call = meter.start_call(
        CallInfo::new("c").budget(
            Budget::unlimited()
                .max_cost(Usd::new(dec!(0.5)))
                .auto_cutoff(true),
        ),
    )?;
    let _held = reserved(call.reserve_tts("acme", "voice", 400)?);
    let Reserve::Refused(why) = call.reserve_tts("acme", "voice", 200)? else {
        panic!("held past the call's budget");
    };
    assert_eq!(why.by, RefusedBy::CallBudget);
    assert_eq!(
        (why.held, why.remaining),
        (Usd::new(dec!(0.4)), Usd::new(dec!(0.1)))
    );
    Ok(())
}

#[test]
fn a_model_the_catalog_cannot_price_holds_nothing() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = builder(&db).open()?;
    let call = meter.start_call(CallInfo::new("c"))?;
    let err = call.reserve_tts("acme", "vioce", 10).expect_err("unknown");
    assert!(
        matches!(err, callmeter::Error::UnknownModel { .. }),
        "{err}"
    );
    let err = call
        .reserve_stt("acme", "voice", -1.0)
        .expect_err("a negative estimate");
    assert!(
        matches!(err, callmeter::Error::InvalidQuantity { .. }),
        "{err}"
    );
    assert_eq!(meter.stats().held, Usd::ZERO);
    call.finalize(Outcome::Completed)?;
    assert!(matches!(
        call.reserve_tts("acme", "voice", 1),
        Err(callmeter::Error::CallFinalized)
    ));
    Ok(())
}

/// 64 threads reserve $0.01 at a time against one $1.00 daily user limit and settle each with
/// 50–100 % of it: the user ends at most at $1.00 spent, every time, and at least at $0.95 (holds
/// are released at settlement, so they do not over-block).
#[test]
fn sixty_four_threads_never_pass_a_reserved_limit() -> TestResult {
    for round in 0..5 {
        let db = Db::new();
        let (meter, guard) = builder(&db)
            .user_limits(Limits::none().daily_cost(Usd::new(dec!(1))))
            .open()?;
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..64)
            .map(|t| {
                let meter = meter.clone();
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || -> callmeter::Result<()> {
                    let call =
                        meter.start_call(CallInfo::new(format!("r{round}-t{t}")).user("u"))?;
                    let mut i = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        match call.reserve_tts("acme", "voice", 10)? {
                            Reserve::Reserved(r) => {
                                r.settle(Usage::Characters(5 + (i + t) % 6))?;
                            }
                            // Refused with nothing held anywhere: the limit is reached.
                            Reserve::Refused(_) if meter.stats().held == Usd::ZERO => {
                                stop.store(true, Ordering::Relaxed);
                            }
                            Reserve::Refused(_) => std::thread::yield_now(),
                        }
                    }
                    call.finalize(Outcome::Completed)?;
                    Ok(())
                })
            })
            .collect();
        for t in threads {
            t.join().expect("a thread")?;
        }
        let spent = meter.limit_status(SubjectKind::User, "u")[0].spent;
        assert!(spent <= Usd::new(dec!(1)), "round {round}: spent {spent}");
        assert!(
            spent >= Usd::new(dec!(0.95)),
            "round {round}: spent {spent}"
        );
        let stats = guard.shutdown()?;
        assert_eq!(stats.held, Usd::ZERO);
        assert!(stats.reservations_refused > 0);
    }
    Ok(())
}

/// One step of a call's life.
#[derive(Clone, Debug)]
enum Step {
    Reserve(u64),
    /// Settle the oldest open reservation with this many characters.
    Settle(u64),
    /// Drop the oldest open reservation unsettled.
    Drop,
    Track(u64),
    Finalize,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1..400_u64).prop_map(Step::Reserve),
        3 => (0..400_u64).prop_map(Step::Settle),
        1 => Just(Step::Drop),
        2 => (1..200_u64).prop_map(Step::Track),
        1 => Just(Step::Finalize),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Against a model of spent and held: a reservation is held exactly when spent + held + its
    /// estimate fit the limit; nothing reserved and settled within its estimate passes it; the
    /// call's events sum to its total, estimates of dropped reservations included.
    #[test]
    fn reserve_settle_drop_track_and_finalize_keep_the_books(steps in prop::collection::vec(step(), 1..40)) {
        let db = Db::new();
        let (meter, guard) = builder(&db)
            .user_limits(Limits::none().daily_cost(Usd::new(dec!(1))))
            .open()
            .expect("open");
        let call = meter.start_call(CallInfo::new("p").user("u")).expect("start");
        let limit = 1_000_000_000_i64;
        let (mut spent, mut held, mut open, mut closed) = (0_i64, 0_i64, Vec::new(), false);
        // A character costs $0.001.
        let cost = |chars: u64| chars as i64 * 1_000_000;
        for s in steps {
            match s {
                Step::Reserve(n) => match call.reserve_tts("acme", "voice", n) {
                    Err(callmeter::Error::CallFinalized) => prop_assert!(closed),
                    Err(e) => panic!("{e}"),
                    Ok(Reserve::Reserved(r)) => {
                        prop_assert!(!closed);
                        prop_assert!(spent + held + cost(n) <= limit, "held past the limit");
                        held += cost(n);
                        open.push((r, n));
                    }
                    Ok(Reserve::Refused(_)) => {
                        prop_assert!(!closed);
                        prop_assert!(spent + held + cost(n) > limit, "refused with room");
                    }
                },
                Step::Settle(n) => if !open.is_empty() {
                    let (r, estimate) = open.remove(0);
                    let actual = n.min(estimate);
                    let _ = r.settle(Usage::Characters(actual));
                    held -= cost(estimate);
                    spent += cost(actual);
                },
                Step::Drop => if !open.is_empty() {
                    let (r, estimate) = open.remove(0);
                    drop(r);
                    held -= cost(estimate);
                    spent += cost(estimate);
                },
                Step::Track(n) => {
                    let _ = call.track_tts("acme", "voice", n);
                    spent += cost(n);
                }
                Step::Finalize => {
                    let _ = call.finalize(Outcome::Completed);
                    closed = true;
                }
            }
            let status = &meter.limit_status(SubjectKind::User, "u")[0];
            prop_assert_eq!(nanos(status.spent), spent);
            prop_assert_eq!(nanos(status.held), held);
        }
        for (r, estimate) in open.drain(..) {
            drop(r);
            spent += cost(estimate);
        }
        let _ = call.finalize(Outcome::Completed);
        drop(call);
        guard.shutdown().expect("shutdown");
        let report = Reports::open(&db.path).expect("reports").call("p").expect("read").expect("the call");
        let sum: i64 = report.events.iter().map(|e| nanos(e.cost)).sum();
        prop_assert_eq!(sum, nanos(report.total));
        prop_assert_eq!(sum, spent);
    }
}
