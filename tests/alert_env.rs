//! The environment overrides the alert thresholds set in code. (Its own test binary: it sets a process
//! environment variable.)
#![allow(unsafe_code)] // std::env::set_var, in a binary with one thread of tests

mod common;

use callmeter::control::AlertThresholds;
use callmeter::{Budget, CallInfo, Catalog, Category, ModelPrice, Rate, UsageKind, Usd};
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

#[test]
fn alert_session_cost_from_the_environment_wins_over_code() -> TestResult {
    // SAFETY: this test binary has a single test, so no other thread reads the environment now.
    unsafe { std::env::set_var("ALERT_SESSION_COST", "0.25") };
    let db = Db::new();
    let mut in_code = AlertThresholds::default();
    in_code.call = Usd::new(dec!(100));
    let (meter, guard) = db
        .builder()
        .catalog(
            Catalog::builder()
                .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
                    UsageKind::Characters,
                    Rate::per_thousand_characters(Usd::new(dec!(1))),
                ))
                .build()?,
        )
        .budget(Budget::unlimited())
        .alert_thresholds(in_code)
        .open()?;
    let call = meter.start_call(CallInfo::new("env"))?;
    call.track_tts("acme", "voice", 300)?;
    drop(call);
    guard.shutdown()?;
    assert_eq!(
        scalar_i64(
            &db.read(),
            "SELECT threshold_nanos FROM alerts WHERE kind = 'session_cost'",
            []
        ),
        250_000_000
    );
    Ok(())
}
