//! Stale prices are named: an event priced with a price checked longer ago than the meter's threshold
//! (or never) raises one `stale_price` alert per price, on both sides of the boundary day.

mod common;

use std::sync::{Arc, Mutex};

use callmeter::control::AlertThresholds;
use callmeter::{
    Alert, AlertKind, Budget, CallInfo, Catalog, Category, ManualClock, ModelPrice, Outcome, Rate,
    UsageKind, Usd,
};
use chrono::{NaiveDate, TimeZone, Utc};
use common::{Db, TestResult};
use rust_decimal::Decimal;

fn day(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Four TTS voices at one nano-dollar a character, checked on different days (one never).
fn catalog() -> Catalog {
    let voice = |model: &str, checked: Option<NaiveDate>| {
        ModelPrice::new("acme", model, Category::Tts)
            .rate(
                UsageKind::Characters,
                Rate::per_character(Usd::from_nanos(1)),
            )
            .with_source("acme.example/pricing", checked)
    };
    Catalog::builder()
        // 2026-06-01 is 151 days after 2026-01-01, 90 days after 2026-03-03, 91 after 2026-03-02.
        .insert(voice("old", day(2026, 1, 1)))
        .insert(voice("ninety-days", day(2026, 3, 3)))
        .insert(voice("ninety-one-days", day(2026, 3, 2)))
        .insert(voice("never-checked", None))
        .build()
        .expect("catalog")
}

fn far() -> AlertThresholds {
    let mut t = AlertThresholds::default();
    t.call = Usd::from_nanos(i64::MAX / 4);
    t.daily = Usd::from_nanos(i64::MAX / 4);
    t.monthly = Usd::from_nanos(i64::MAX / 4);
    t
}

#[test]
fn a_price_older_than_the_threshold_raises_one_alert_per_price() -> TestResult {
    let db = Db::new();
    let seen: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let now = Utc
        .with_ymd_and_hms(2026, 6, 1, 12, 0, 0)
        .single()
        .expect("time");
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .clock(ManualClock::starting_at(now))
        .budget(Budget::unlimited())
        .alert_thresholds(far())
        .stale_price_alert(90)
        .alert_sink(move |a: &Alert| sink.lock().expect("lock").push(a.clone()))
        .open()?;
    for id in ["first", "second"] {
        let call = meter.start_call(CallInfo::new(id).user("u1"))?;
        for model in ["old", "ninety-days", "ninety-one-days", "never-checked"] {
            call.track_tts("acme", model, 1_000)?;
            call.track_tts("acme", model, 500)?;
        }
        call.finalize(Outcome::Completed)?;
    }
    guard.shutdown()?;
    let alerts: Vec<Alert> = seen
        .lock()
        .expect("lock")
        .iter()
        .filter(|a| a.kind == AlertKind::StalePrice)
        .cloned()
        .collect();
    let mut subjects: Vec<&str> = alerts.iter().map(|a| a.subject.as_str()).collect();
    subjects.sort_unstable();
    assert_eq!(
        subjects,
        [
            "price:acme/never-checked",
            "price:acme/ninety-one-days",
            "price:acme/old"
        ],
        "once per stale price; 90 days old is not stale yet: {alerts:?}"
    );
    let old = alerts
        .iter()
        .find(|a| a.subject == "price:acme/old")
        .expect("old");
    assert_eq!(old.call_id.as_deref(), Some("first"));
    assert_eq!(old.user_id.as_deref(), Some("u1"));
    assert_eq!(
        old.value,
        Usd::from_nanos(1_000),
        "the first event it priced"
    );
    let usage = old.usage.as_ref().expect("age in days");
    assert_eq!(
        (usage.used, usage.threshold),
        (Decimal::from(151), Decimal::from(90))
    );
    assert_eq!(usage.unit, "day");
    assert!(
        old.message.contains("acme.example/pricing"),
        "{}",
        old.message
    );
    let never = alerts
        .iter()
        .find(|a| a.subject == "price:acme/never-checked")
        .expect("never");
    assert!(never.usage.is_none());
    assert!(never.message.contains("never checked"), "{}", never.message);
    // Stored with the others.
    let stored = common::scalar_i64(
        &db.read(),
        "SELECT COUNT(*) FROM alerts WHERE kind = 'stale_price'",
        [],
    );
    assert_eq!(stored, 3);
    Ok(())
}

#[test]
fn without_the_setting_no_price_is_called_stale() -> TestResult {
    let db = Db::new();
    let seen: Arc<Mutex<Vec<Alert>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .alert_thresholds(far())
        .alert_sink(move |a: &Alert| sink.lock().expect("lock").push(a.clone()))
        .open()?;
    let call = meter.start_call(CallInfo::new("c"))?;
    call.track_tts("acme", "never-checked", 10)?;
    call.finalize(Outcome::Completed)?;
    guard.shutdown()?;
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .all(|a| a.kind != AlertKind::StalePrice)
    );
    Ok(())
}

/// Every built-in price has a source and the day it was checked. The December 2026 refresh re-checked
/// every price whose provider's own page it could read; the others keep the day they were last
/// checked and are named stale. This list is the whole of them, so that none is left behind unnoticed.
const NOT_RECHECKED: &[&str] = &[
    "cartesia/sonic-2",
    "cartesia/sonic-3",
    "cerebras/llama3.1-405b",
    "cerebras/llama3.1-70b",
    "cerebras/llama3.1-8b",
    "deepgram/nova-2",
    "deepgram/nova-2-prerecorded",
    "deepgram/nova-3",
    "deepgram/nova-3-streaming",
    "elevenlabs/eleven_flash_v2",
    "elevenlabs/eleven_flash_v2_5",
    "elevenlabs/eleven_multilingual_v2",
    "elevenlabs/eleven_turbo_v2",
    "elevenlabs/eleven_turbo_v2_5",
    "elevenlabs/eleven_v3",
    "livekit/cloud",
    "openai/gpt-4-turbo",
    "openai/gpt-4.1",
    "openai/gpt-4.1-mini",
    "openai/gpt-4.1-nano",
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/gpt-4o-realtime",
    "openai/gpt-realtime",
    "stripe/ach",
    "stripe/card-not-present",
    "stripe/standard",
    "twilio/inbound-us",
    "twilio/outbound-us",
    "twilio/recording",
];

#[test]
fn every_builtin_price_has_a_source_and_a_date_checked() {
    let today = day(2026, 12, 5).expect("day");
    let listing = Catalog::builtin().listing(today);
    let mut stale = Vec::new();
    for row in &listing {
        assert!(
            !row.source.is_empty(),
            "{}/{} has a source",
            row.provider,
            row.model
        );
        let checked = row
            .checked
            .unwrap_or_else(|| panic!("{}/{} has a date", row.provider, row.model));
        if checked < day(2026, 12, 1).expect("day") {
            stale.push(format!("{}/{}", row.provider, row.model));
        }
    }
    assert_eq!(
        stale, NOT_RECHECKED,
        "the prices this refresh could not re-check"
    );
    // And `--stale-after 90d` names exactly those.
    let named: Vec<String> = listing
        .iter()
        .filter(|r| r.is_stale(90))
        .map(|r| format!("{}/{}", r.provider, r.model))
        .collect();
    assert_eq!(named, NOT_RECHECKED);
}
