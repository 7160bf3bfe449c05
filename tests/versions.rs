//! Versioned prices: the version in force prices each event, the database keeps every price used, and a
//! new catalog takes over for new calls without stopping running ones.

mod common;

use std::time::Duration;

use callmeter::pricing::PriceOrigin;
use callmeter::{CallInfo, Catalog, Category, Error, ModelPrice, Outcome, Rate, UsageKind, Usd};
use chrono::{DateTime, TimeZone, Utc};
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

fn tts(price: rust_decimal::Decimal) -> ModelPrice {
    ModelPrice::new("acme", "voice", Category::Tts)
        .rate(
            UsageKind::Characters,
            Rate::per_thousand_characters(Usd::new(price)),
        )
        .with_source("acme price list", None)
}

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("date")
}

fn price_at(catalog: &Catalog, t: DateTime<Utc>) -> Option<Usd> {
    catalog
        .get_at("acme", "voice", t)
        .map(|p| p.rates()[0].1.price())
}

#[test]
fn each_version_is_in_force_from_its_start_until_the_next() -> TestResult {
    let switch = at(2026, 3, 1);
    let catalog = Catalog::builder()
        .insert(tts(dec!(0.30)))
        .insert(tts(dec!(0.20)).with_effective_from(switch))
        .build()?;
    let one_ms = chrono::Duration::milliseconds(1);
    assert_eq!(
        price_at(&catalog, switch - one_ms),
        Some(Usd::new(dec!(0.30)))
    );
    assert_eq!(price_at(&catalog, switch), Some(Usd::new(dec!(0.20))));
    assert_eq!(
        price_at(&catalog, at(2030, 1, 1)),
        Some(Usd::new(dec!(0.20)))
    );
    assert_eq!(catalog.versions("acme", "voice").count(), 2);
    assert_eq!(catalog.len(), 2);
    Ok(())
}

#[test]
fn a_version_that_ended_leaves_a_gap_with_no_price() -> TestResult {
    let catalog = Catalog::builder()
        .insert(
            tts(dec!(0.30))
                .with_effective_from(at(2026, 1, 1))
                .with_effective_to(at(2026, 2, 1)),
        )
        .build()?;
    assert_eq!(price_at(&catalog, at(2025, 12, 31)), None);
    assert!(price_at(&catalog, at(2026, 1, 15)).is_some());
    assert_eq!(price_at(&catalog, at(2026, 2, 1)), None);
    Ok(())
}

#[test]
fn overlapping_or_backward_versions_are_refused_by_field() {
    let overlapping = Catalog::builder()
        .insert(tts(dec!(0.30)).with_effective_to(at(2026, 4, 1)))
        .insert(tts(dec!(0.20)).with_effective_from(at(2026, 3, 1)))
        .build();
    assert!(
        matches!(&overlapping, Err(Error::Catalog { entry, field, .. })
            if entry == "acme/voice" && field == "effective_to"),
        "{overlapping:?}"
    );
    let backward = Catalog::builder()
        .insert(
            tts(dec!(0.30))
                .with_effective_from(at(2026, 4, 1))
                .with_effective_to(at(2026, 3, 1)),
        )
        .build();
    assert!(matches!(backward, Err(Error::Catalog { .. })));
}

#[test]
fn the_same_start_replaces_and_a_new_start_adds_a_version() -> TestResult {
    let catalog = Catalog::builder()
        .insert(tts(dec!(0.30)))
        .insert(tts(dec!(0.25)))
        .insert(tts(dec!(0.20)).with_effective_from(at(2026, 3, 1)))
        .build()?;
    assert_eq!(catalog.len(), 2);
    assert_eq!(
        price_at(&catalog, at(2026, 1, 1)),
        Some(Usd::new(dec!(0.25)))
    );
    Ok(())
}

#[test]
fn events_are_priced_by_the_version_in_force_when_tracked() -> TestResult {
    let db = Db::new();
    let switch = Utc::now() + chrono::Duration::milliseconds(300);
    let catalog = Catalog::builder()
        .insert(tts(dec!(0.30)).with_origin(PriceOrigin::File))
        .insert(tts(dec!(0.20)).with_effective_from(switch))
        .build()?;
    let (meter, guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("switch"))?;
    let before = call.track_tts("acme", "voice", 1_000)?;
    std::thread::sleep(Duration::from_millis(600));
    let after = call.track_tts("acme", "voice", 1_000)?;
    assert_eq!(before.cost, Usd::new(dec!(0.30)));
    assert_eq!(after.cost, Usd::new(dec!(0.20)));
    call.finalize(Outcome::Completed)?;
    drop(call);
    guard.shutdown()?;

    let conn = db.read();
    assert_eq!(scalar_i64(&conn, "SELECT COUNT(*) FROM prices", []), 2);
    let rows: Vec<(i64, String, Option<i64>, Option<i64>)> = conn
        .prepare(
            "SELECT e.cost_nanos, p.origin, p.effective_from, p.effective_to
             FROM cost_events e JOIN prices p USING (price_id)
             WHERE e.call_id = 'switch' ORDER BY e.seq",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let switch_ms = switch.timestamp_millis();
    assert_eq!(
        rows,
        [
            (300_000_000, "file".to_string(), None, Some(switch_ms)),
            (200_000_000, "manual".to_string(), Some(switch_ms), None),
        ]
    );
    Ok(())
}

#[test]
fn no_version_in_force_is_a_typed_error_and_the_usage_is_kept() -> TestResult {
    let db = Db::new();
    let catalog = Catalog::builder()
        .insert(tts(dec!(0.30)).with_effective_from(Utc::now() + chrono::Duration::days(30)))
        .build()?;
    let (meter, guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("early"))?;
    let err = call.track_tts("acme", "voice", 1_000).err();
    assert!(
        matches!(&err, Some(e @ Error::NoPriceInForce { .. }) if e.is_recorded()),
        "{err:?}"
    );
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!((summary.events, summary.unpriced_events), (1, 1));
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM cost_events WHERE call_id = 'early' AND priced = 0
             AND price_id IS NULL AND quantity = 1000",
            []
        ),
        1
    );
    Ok(())
}

#[test]
fn a_new_catalog_prices_new_calls_and_running_calls_keep_theirs() -> TestResult {
    let db = Db::new();
    let first = Catalog::builder().insert(tts(dec!(0.30))).build()?;
    let (meter, guard) = db.builder().catalog(first).open()?;
    let running = meter.start_call(CallInfo::new("running"))?;
    meter.set_catalog(Catalog::builder().insert(tts(dec!(0.10))).build()?);
    let fresh = meter.start_call(CallInfo::new("fresh"))?;
    assert_eq!(
        running.track_tts("acme", "voice", 1_000)?.cost,
        Usd::new(dec!(0.30))
    );
    assert_eq!(
        fresh.track_tts("acme", "voice", 1_000)?.cost,
        Usd::new(dec!(0.10))
    );
    assert_eq!(
        meter
            .catalog()
            .get("acme", "voice")
            .map(|p| p.rates()[0].1.price()),
        Some(Usd::new(dec!(0.10)))
    );
    drop((running, fresh));
    guard.shutdown()?;
    // Both prices are in the database, each once.
    assert_eq!(scalar_i64(&db.read(), "SELECT COUNT(*) FROM prices", []), 2);
    Ok(())
}
