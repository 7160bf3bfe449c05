//! Reconciliation on a simulated month (30 days) whose "billed" side is built from the same usage with
//! known differences injected: a provider rounding each call up to the cent (a rounding rule), a
//! price rise from one day on, a day the provider's records lack, and a call callmeter never saw.
//! Each is found, and reported exactly; a provider's own rounding to the fifth decimal is within
//! the tolerance; importing the same records again changes nothing.

mod common;

use std::time::Duration;

use callmeter::adapters::BilledLine;
use callmeter::report::{Finding, Granularity, ReconcileOptions, Reconciliation};
use callmeter::{
    AlertKind, Budget, CallInfo, Ledger, ManualClock, Outcome, Reports, TokenUsage, Usd,
};
use chrono::NaiveDate;
use common::{Db, TestResult, scalar_i64};
use rust_decimal::{Decimal, dec};

/// Days simulated; the day OpenAI's price rises from; the day Deepgram's records lack.
const DAYS: u64 = 30;
const RISE: u64 = 20;
const MISSING: u64 = 14;

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 1).expect("a date") + chrono::Days::new(n)
}

/// A day's computed costs: (day, Twilio, OpenAI, Deepgram).
type Computed = (u64, Usd, Usd, Usd);

/// Thirty days, one call a day: a Twilio leg, an OpenAI turn, Deepgram transcription. Answers the
/// billed lines built from the same usage with the differences injected, and each computed cost.
fn month(db: &Db) -> Result<(Vec<BilledLine>, Vec<Computed>), Box<dyn std::error::Error>> {
    let clock = ManualClock::starting_at("2026-10-01T10:00:00Z".parse()?);
    let (meter, guard) = db
        .builder()
        .budget(Budget::unlimited())
        .clock(clock.clone())
        .open()?;
    let mut billed = Vec::new();
    let mut computed = Vec::new();
    for d in 0..DAYS {
        let call = meter.start_call(CallInfo::new(format!("CA{d}")))?;
        let phone = call.track_duration("twilio", "outbound-us", 90.0)?.cost;
        let llm = call
            .track_inference(
                "openai",
                "gpt-4o-mini",
                TokenUsage::new(1_000_000 * (d + 1), 100_000),
            )?
            .cost;
        let stt = call.track_stt("deepgram", "nova-2", 60.0)?.cost;
        call.finalize(Outcome::Completed)?;
        computed.push((d, phone, llm, stt));
        // Twilio rounds each call up to the cent.
        let cents = Usd::new(
            phone
                .as_decimal()
                .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::AwayFromZero),
        );
        billed.push(
            BilledLine::new(
                "twilio",
                format!("CA{d}"),
                day(d),
                "call outbound-api",
                cents,
            )
            .call(format!("CA{d}")),
        );
        // OpenAI raised the price by 10 % from day RISE on, and names the model with its date.
        let llm_billed = if d >= RISE {
            Usd::new(llm.as_decimal() * dec!(1.1))
        } else {
            llm
        };
        billed.push(
            BilledLine::new(
                "openai",
                format!("{}/gpt-4o-mini, input", day(d)),
                day(d),
                "gpt-4o-mini-2024-07-18, input",
                llm_billed,
            )
            .model("gpt-4o-mini-2024-07-18"),
        );
        // Deepgram's records lack day MISSING.
        if d != MISSING {
            billed.push(BilledLine::new(
                "deepgram",
                format!("{}", day(d)),
                day(d),
                "nova-2",
                stt,
            ));
        }
        clock.advance(Duration::from_secs(86_400));
    }
    // A call Twilio billed that callmeter never saw.
    billed.push(
        BilledLine::new(
            "twilio",
            "CAghost",
            day(3),
            "call outbound-api",
            Usd::new(dec!(0.05)),
        )
        .call("CAghost"),
    );
    guard.shutdown()?;
    Ok((billed, computed))
}

fn find<'a>(
    r: &'a Reconciliation,
    provider: &str,
    d: u64,
) -> &'a callmeter::report::ReconciledLine {
    r.lines
        .iter()
        .find(|l| {
            l.provider == provider && l.day == day(d) && l.call_id.as_deref() != Some("CAghost")
        })
        .unwrap_or_else(|| panic!("a {provider} line on day {d}"))
}

#[test]
fn each_injected_difference_is_found_exactly() -> TestResult {
    let db = Db::new();
    let (billed, computed) = month(&db)?;
    let mut ledger = Ledger::open(&db.path)?;
    let first = ledger.record(&billed)?;
    assert_eq!(first.added, billed.len());
    let reports = Reports::open(&db.path)?;
    let r = reports.reconcile(day(0), day(DAYS - 1), &ReconcileOptions::default())?;

    for &(d, phone, llm, stt) in &computed {
        // Twilio, per call: $0.028 billed as $0.03, a rounding rule callmeter does not apply.
        let t = find(&r, "twilio", d);
        assert_eq!(
            (t.granularity, t.call_id.as_deref()),
            (Granularity::Call, Some(format!("CA{d}").as_str()))
        );
        assert_eq!(t.computed, phone);
        assert_eq!(t.delta, Usd::new(dec!(0.002)));
        assert_eq!(t.delta_percent, Some(dec!(7.14)));
        assert_eq!(t.finding, Finding::Over);
        // OpenAI, per day and model: the dated name matches the tracked one; 10 % more from day RISE.
        let o = find(&r, "openai", d);
        assert_eq!(
            (o.granularity, o.model.as_deref()),
            (Granularity::DayModel, Some("gpt-4o-mini"))
        );
        assert_eq!(o.computed, llm);
        if d >= RISE {
            assert_eq!(o.delta, Usd::new(llm.as_decimal() * dec!(0.1)), "day {d}");
            assert_eq!(o.delta_percent, Some(dec!(10.00)));
            assert_eq!(o.finding, Finding::Over, "day {d}");
        } else {
            assert_eq!(
                (o.delta, o.finding),
                (Usd::ZERO, Finding::Matches),
                "day {d}"
            );
        }
        // Deepgram, per day: day MISSING is missing from its records.
        let g = find(&r, "deepgram", d);
        assert_eq!(g.granularity, Granularity::Day);
        if d == MISSING {
            assert_eq!(
                (g.finding, g.billed, g.delta),
                (Finding::NotBilled, Usd::ZERO, Usd::new(-stt.as_decimal()))
            );
        } else {
            assert_eq!((g.finding, g.delta), (Finding::Matches, Usd::ZERO));
        }
    }
    let ghost = r
        .lines
        .iter()
        .find(|l| l.call_id.as_deref() == Some("CAghost"))
        .expect("the unseen call");
    assert_eq!(
        (ghost.finding, ghost.billed, ghost.computed, ghost.day),
        (
            Finding::NotComputed,
            Usd::new(dec!(0.05)),
            Usd::ZERO,
            day(3)
        )
    );
    let mismatched: Vec<(&str, NaiveDate, Finding)> = r
        .mismatches()
        .map(|l| (l.provider.as_str(), l.day, l.finding))
        .collect();
    assert_eq!(
        mismatched,
        [
            vec![("deepgram", day(MISSING), Finding::NotBilled)],
            (RISE..DAYS)
                .map(|d| ("openai", day(d), Finding::Over))
                .collect(),
            (0..DAYS)
                .flat_map(|d| {
                    let mut v = vec![("twilio", day(d), Finding::Over)];
                    if d == 3 {
                        v.push(("twilio", day(3), Finding::NotComputed));
                    }
                    v
                })
                .collect::<Vec<_>>(),
        ]
        .concat()
    );
    // Totals per provider add the lines exactly.
    let openai = r
        .providers
        .iter()
        .find(|p| p.provider == "openai")
        .expect("openai");
    let extra: Decimal = computed
        .iter()
        .filter(|c| c.0 >= RISE)
        .map(|c| c.2.as_decimal() * dec!(0.1))
        .sum();
    assert_eq!(openai.delta, Usd::new(extra));
    assert_eq!((openai.lines, openai.matching), (DAYS, RISE));

    // Day by day, every provider together: the same money as the providers' totals.
    let days = r.by_day();
    assert_eq!(days.len(), DAYS as usize);
    let total = |f: fn(&callmeter::report::DayReconciliation) -> Usd| -> Decimal {
        days.iter().map(|d| f(d).as_decimal()).sum()
    };
    let providers: Decimal = r.providers.iter().map(|p| p.delta.as_decimal()).sum();
    assert_eq!(total(|d| d.delta), providers);
    // Day 0: Twilio (over), OpenAI and Deepgram (matching).
    assert_eq!((days[0].lines, days[0].matching), (3, 2));
    // The ghost call's day has a fourth line.
    assert_eq!(days[3].lines, 4);

    // The same records again: nothing changes.
    let again = ledger.record(&billed)?;
    assert_eq!(
        (again.added, again.changed, again.unchanged),
        (0, 0, billed.len())
    );
    assert_eq!(
        reports.reconcile(day(0), day(DAYS - 1), &ReconcileOptions::default())?,
        r
    );
    // A revised record replaces its line.
    let mut revised = billed[0].clone();
    revised.amount = Usd::new(dec!(0.5));
    assert_eq!(ledger.record(&[revised])?.changed, 1);
    let r2 = reports.reconcile(day(0), day(DAYS - 1), &ReconcileOptions::default())?;
    assert_eq!(find(&r2, "twilio", 0).billed, Usd::new(dec!(0.5)));
    Ok(())
}

#[test]
fn a_day_past_the_threshold_alerts_once() -> TestResult {
    let db = Db::new();
    let (billed, _) = month(&db)?;
    let mut ledger = Ledger::open(&db.path)?;
    ledger.record(&billed)?;
    let r =
        Reports::open(&db.path)?.reconcile(day(0), day(DAYS - 1), &ReconcileOptions::default())?;
    let alerts = r.alerts(Usd::new(dec!(0.0001)));
    let subjects: Vec<(String, i64)> = alerts
        .iter()
        .map(|a| (a.subject.clone(), a.at.timestamp()))
        .collect();
    assert!(alerts.iter().all(|a| a.kind == AlertKind::BilledDelta));
    // Twilio's days carry the rounding ($0.002 a day) and the unseen call; OpenAI from day RISE;
    // Deepgram's missing day.
    assert!(subjects.iter().any(|(s, _)| s == "provider:openai"));
    assert!(subjects.iter().any(|(s, _)| s == "provider:deepgram"));
    assert_eq!(ledger.record_alerts(&alerts)?, alerts.len());
    assert_eq!(
        ledger.record_alerts(&alerts)?,
        0,
        "each alert is stored once"
    );
    assert_eq!(
        scalar_i64(
            &db.read(),
            "SELECT COUNT(*) FROM alerts WHERE kind = 'billed_delta'",
            []
        ),
        alerts.len() as i64
    );
    // A threshold above every day's difference raises nothing.
    assert!(r.alerts(Usd::new(dec!(100))).is_empty());
    Ok(())
}

#[test]
fn a_provider_bills_calls_under_an_id_of_its_own() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.builder().budget(Budget::unlimited()).open()?;
    let call = meter.start_call(CallInfo::new("internal-7").metadata("twilio_sid", "CA777"))?;
    let cost = call.track_duration("twilio", "outbound-us", 30.0)?.cost;
    drop(call);
    guard.shutdown()?;
    let today = chrono::Utc::now().date_naive();
    let mut ledger = Ledger::open(&db.path)?;
    ledger.record(&[BilledLine::new("twilio", "CA777", today, "call", cost).call("CA777")])?;
    let reports = Reports::open(&db.path)?;
    let options = ReconcileOptions {
        call_key: Some("twilio_sid".into()),
        ..ReconcileOptions::default()
    };
    let r = reports.reconcile(today, today, &options)?;
    assert_eq!(r.lines.len(), 1);
    assert_eq!(
        (r.lines[0].call_id.as_deref(), r.lines[0].finding),
        (Some("internal-7"), Finding::Matches)
    );
    // Without the key, the two ids are two lines, one on each side.
    let plain = reports.reconcile(today, today, &ReconcileOptions::default())?;
    let findings: Vec<Finding> = plain.lines.iter().map(|l| l.finding).collect();
    assert_eq!(findings, [Finding::NotComputed, Finding::NotBilled]);
    Ok(())
}

#[test]
fn a_missing_database_is_named_and_nothing_is_created() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("nowhere.db");
    assert!(matches!(
        Ledger::open(&path),
        Err(callmeter::Error::NoSuchDatabase { .. })
    ));
    assert!(!path.exists());
}

/// What providers counted, against what was tracked: 500 characters ElevenLabs counted that the
/// pipeline never tracked, a day Deepgram's records lack, tokens that match, whatever the date
/// suffix of the model's name.
#[test]
fn usage_records_show_usage_never_tracked() -> TestResult {
    use callmeter::Unit;
    use callmeter::adapters::BilledUsage;
    let db = Db::new();
    let clock = ManualClock::starting_at("2026-10-01T10:00:00Z".parse()?);
    let (meter, guard) = db
        .builder()
        .budget(Budget::unlimited())
        .clock(clock.clone())
        .open()?;
    let mut counted = Vec::new();
    for d in 0..3 {
        let call = meter.start_call(CallInfo::new(format!("CA{d}")))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
        call.track_stt("deepgram", "nova-2", 60.5)?;
        call.track_inference("openai", "gpt-4o-mini", TokenUsage::new(900, 100))?;
        call.finalize(Outcome::Completed)?;
        let chars = if d == 2 { dec!(1500) } else { dec!(1000) };
        counted.push(BilledUsage::new(
            "elevenlabs",
            format!("{}/All", day(d)),
            day(d),
            Unit::Character,
            chars,
        ));
        if d != 1 {
            counted.push(BilledUsage::new(
                "deepgram",
                day(d).to_string(),
                day(d),
                Unit::Second,
                dec!(60.5),
            ));
        }
        counted.push(
            BilledUsage::new(
                "openai",
                format!("{}/completions", day(d)),
                day(d),
                Unit::Token,
                dec!(1000),
            )
            .model("gpt-4o-mini-2024-07-18"),
        );
        clock.advance(Duration::from_secs(86_400));
    }
    guard.shutdown()?;
    let mut ledger = Ledger::open(&db.path)?;
    assert_eq!(ledger.record_usage(&counted)?.added, counted.len());
    assert_eq!(ledger.record_usage(&counted)?.unchanged, counted.len());
    let r = Reports::open(&db.path)?.reconcile(day(0), day(2), &ReconcileOptions::default())?;
    type Found<'a> = (
        &'a str,
        NaiveDate,
        Option<&'a str>,
        Decimal,
        Decimal,
        Finding,
    );
    let found: Vec<Found<'_>> = r
        .usage
        .iter()
        .map(|u| {
            (
                u.provider.as_str(),
                u.day,
                u.model.as_deref(),
                u.computed,
                u.billed,
                u.finding,
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "deepgram",
                day(0),
                None,
                dec!(60.5),
                dec!(60.5),
                Finding::Matches
            ),
            (
                "deepgram",
                day(1),
                None,
                dec!(60.5),
                dec!(0),
                Finding::NotBilled
            ),
            (
                "deepgram",
                day(2),
                None,
                dec!(60.5),
                dec!(60.5),
                Finding::Matches
            ),
            (
                "elevenlabs",
                day(0),
                None,
                dec!(1000),
                dec!(1000),
                Finding::Matches
            ),
            (
                "elevenlabs",
                day(1),
                None,
                dec!(1000),
                dec!(1000),
                Finding::Matches
            ),
            (
                "elevenlabs",
                day(2),
                None,
                dec!(1000),
                dec!(1500),
                Finding::Over
            ),
            (
                "openai",
                day(0),
                Some("gpt-4o-mini"),
                dec!(1000),
                dec!(1000),
                Finding::Matches
            ),
            (
                "openai",
                day(1),
                Some("gpt-4o-mini"),
                dec!(1000),
                dec!(1000),
                Finding::Matches
            ),
            (
                "openai",
                day(2),
                Some("gpt-4o-mini"),
                dec!(1000),
                dec!(1000),
                Finding::Matches
            ),
        ]
    );
    assert_eq!(r.usage_mismatches().count(), 2);
    assert_eq!(r.usage[5].delta_percent, Some(dec!(50.00)));
    assert!(r.lines.is_empty(), "no money was imported");
    Ok(())
}

/// A call billed in two records on two days (a call across midnight, or two legs) is one line, on
/// the first day, with both amounts.
#[test]
fn a_call_billed_twice_is_one_line_on_its_first_day() -> TestResult {
    let db = Db::new();
    let clock = ManualClock::starting_at("2026-10-01T23:59:00Z".parse()?);
    let (meter, guard) = db
        .builder()
        .budget(Budget::unlimited())
        .clock(clock.clone())
        .open()?;
    let call = meter.start_call(CallInfo::new("CAmidnight"))?;
    let cost = call.track_duration("twilio", "outbound-us", 120.0)?.cost;
    drop(call);
    guard.shutdown()?;
    let half = Usd::new(cost.as_decimal() / dec!(2));
    let mut ledger = Ledger::open(&db.path)?;
    ledger.record(&[
        BilledLine::new("twilio", "leg-1", day(0), "call", half).call("CAmidnight"),
        BilledLine::new("twilio", "leg-2", day(1), "call", half).call("CAmidnight"),
    ])?;
    let r = Reports::open(&db.path)?.reconcile(day(0), day(1), &ReconcileOptions::default())?;
    assert_eq!(r.lines.len(), 1);
    assert_eq!(
        (r.lines[0].day, r.lines[0].billed, r.lines[0].finding),
        (day(0), cost, Finding::Matches)
    );
    Ok(())
}
