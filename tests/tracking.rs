//! Pricing on the hot path, running totals, summaries, errors.

mod common;

use std::sync::Arc;

use callmeter::{CallInfo, Category, Error, Outcome, TokenUsage, Usd};
use common::{Db, TestResult, call_total, events_sum, scalar_i64};
use rust_decimal::dec;

fn usd(s: &str) -> Usd {
    s.parse().expect("amount")
}

#[test]
fn seed_figures_are_exact() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("seed"))?;
    assert_eq!(
        call.track_duration("twilio", "outbound-us", 300.0)?.cost,
        usd("0.070")
    );
    assert_eq!(
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?
            .cost,
        usd("0.30")
    );
    assert_eq!(
        call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(40_000, 10_000))?
            .cost,
        usd("0.005")
    );
    assert_eq!(
        call.track_stt("deepgram", "nova-2", 300.0)?.cost,
        usd("0.0295")
    );
    assert_eq!(call.total(), usd("0.4045"));
    Ok(())
}

#[test]
fn twilio_bills_started_minutes_of_the_cumulative_duration() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let whole = meter.start_call(CallInfo::new("whole"))?;
    assert_eq!(
        whole.track_duration("twilio", "outbound-us", 80.0)?.cost,
        usd("0.028")
    );
    let parts = meter.start_call(CallInfo::new("parts"))?;
    assert_eq!(
        parts.track_duration("twilio", "outbound-us", 50.0)?.cost,
        usd("0.014")
    );
    assert_eq!(
        parts.track_duration("twilio", "outbound-us", 10.0)?.cost,
        Usd::ZERO
    );
    assert_eq!(
        parts.track_duration("twilio", "outbound-us", 20.0)?.cost,
        usd("0.014")
    );
    assert_eq!(parts.total(), whole.total());
    Ok(())
}

#[test]
fn per_second_rates_billed_in_parts_sum_to_the_whole() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let whole = meter.start_call(CallInfo::new("whole"))?;
    whole.track_stt("deepgram", "nova-2", 100.0)?;
    let parts = meter.start_call(CallInfo::new("parts"))?;
    for _ in 0..40 {
        parts.track_stt("deepgram", "nova-2", 2.5)?;
    }
    assert_eq!(parts.total(), whole.total());
    // 100 s at $0.0059/min = $0.00983333…, rounded once to the nano-dollar.
    assert_eq!(whole.total(), usd("0.009833333"));
    Ok(())
}

#[test]
fn realtime_participants_and_payments_are_priced() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("mixed"))?;
    let rt = call.track_realtime_audio("openai", "gpt-4o-realtime", 60.0, 60.0)?;
    assert_eq!(rt.cost, usd("0.30"));
    let room = call.track_participants("livekit", "cloud", 2, 300.0)?;
    assert_eq!(room.cost, usd("0.20"));
    let fee = call.track_payment("stripe", "card-not-present", usd("4.99"))?;
    assert_eq!(fee.cost, usd("0.46966"));
    let ach = call.track_payment("stripe", "ach", usd("1000"))?;
    assert_eq!(ach.cost, usd("5.00"));
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.revenue, usd("1004.99"));
    assert_eq!(summary.by_category[&Category::Realtime], usd("0.30"));
    assert_eq!(summary.by_category[&Category::Transport], usd("0.20"));
    assert_eq!(summary.by_category[&Category::Payment], usd("5.46966"));
    Ok(())
}

#[test]
fn unknown_model_is_an_error_and_still_recorded() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("unknown"))?;
    let err = call
        .track_inference("openai", "gpt-9-ultra", TokenUsage::new(100, 10))
        .expect_err("unknown model");
    assert!(matches!(&err, Error::UnknownModel { model, .. } if model == "gpt-9-ultra"));
    assert!(err.is_recorded());
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.events, 1);
    assert_eq!(summary.unpriced_events, 1);
    let stats = guard.shutdown()?;
    assert_eq!(stats.unpriced, 1);
    let conn = db.read();
    let (provider, model, priced, tokens): (String, String, bool, i64) = conn.query_row(
        "SELECT provider, model, priced, input_tokens FROM cost_events WHERE call_id = 'unknown'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    assert_eq!(
        (provider.as_str(), model.as_str()),
        ("openai", "gpt-9-ultra")
    );
    assert!(!priced);
    assert_eq!(tokens, 100);
    Ok(())
}

#[test]
fn bad_input_gets_typed_errors_and_records_nothing() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    for bad in ["", "   "] {
        assert!(matches!(
            meter.start_call(CallInfo::new(bad)),
            Err(Error::InvalidCallInfo(_))
        ));
    }
    assert!(matches!(
        meter.start_call(CallInfo::new("ok").user("")),
        Err(Error::InvalidCallInfo(_))
    ));
    assert!(matches!(
        meter.start_call(CallInfo::new(
            "x".repeat(callmeter::CallInfo::MAX_ID_LEN + 1)
        )),
        Err(Error::InvalidCallInfo(_))
    ));
    let call = meter.start_call(CallInfo::new("bad-input"))?;
    for seconds in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 1e9] {
        let e = call.track_stt("deepgram", "nova-2", seconds);
        assert!(matches!(e, Err(Error::InvalidQuantity { .. })), "{seconds}");
        let e = call.track_duration("twilio", "outbound-us", seconds);
        assert!(matches!(e, Err(Error::InvalidQuantity { .. })), "{seconds}");
        let e = call.track_realtime_audio("openai", "gpt-4o-realtime", 1.0, seconds);
        assert!(matches!(e, Err(Error::InvalidQuantity { .. })), "{seconds}");
    }
    assert!(matches!(
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", u64::MAX),
        Err(Error::InvalidQuantity { .. })
    ));
    assert!(matches!(
        call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(u64::MAX, 1)),
        Err(Error::InvalidQuantity { .. })
    ));
    assert!(matches!(
        call.track_participants("livekit", "cloud", u32::MAX, 1.0),
        Err(Error::InvalidQuantity { .. })
    ));
    for amount in ["0", "-4.99", "100000000000"] {
        assert!(
            call.track_payment("stripe", "standard", usd(amount))
                .is_err()
        );
    }
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.events, 0);
    assert_eq!(summary.total, Usd::ZERO);
    assert_eq!(meter.stats().rejected, 21);
    Ok(())
}

#[test]
fn second_finalize_is_an_error_not_a_double_count() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("twice"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    let first = call.finalize(Outcome::Completed)?;
    assert!(matches!(
        call.finalize(Outcome::Completed),
        Err(Error::AlreadyFinalized)
    ));
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(call_total(&conn, "twice"), first.total.to_nanos()?);
    let status: String = conn.query_row(
        "SELECT status FROM calls WHERE call_id = 'twice'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(status, "completed", "not overwritten by an abandon");
    Ok(())
}

#[test]
fn usage_after_finalize_is_recorded_late() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("late"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    let summary = call.finalize(Outcome::Completed)?;
    let late = call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000);
    assert!(matches!(late, Err(Error::CallFinalized)));
    drop(call);
    let stats = guard.shutdown()?;
    assert_eq!(stats.late, 1);
    let conn = db.read();
    assert_eq!(summary.total, usd("0.15"));
    assert_eq!(call_total(&conn, "late"), 300_000_000);
    assert_eq!(events_sum(&conn, "late"), 300_000_000);
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM cost_events WHERE call_id = 'late' AND kind = 'late'",
            []
        ),
        1
    );
    Ok(())
}

#[test]
fn failed_and_abandoned_calls_keep_their_costs() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let failed = meter.start_call(CallInfo::new("failed"))?;
    failed.track_duration("twilio", "outbound-us", 30.0)?;
    let summary = failed.finalize(Outcome::failed("caller hung up during TTS"))?;
    assert_eq!(summary.total, usd("0.014"));
    {
        let abandoned = meter.start_call(CallInfo::new("abandoned"))?;
        abandoned.track_stt("deepgram", "nova-2", 60.0)?;
        let clone = abandoned.clone();
        drop(abandoned);
        clone.track_stt("deepgram", "nova-2", 60.0)?;
    }
    let stats = guard.shutdown()?;
    assert_eq!((stats.calls_finalized, stats.calls_abandoned), (1, 1));
    let conn = db.read();
    let row = |id: &str| -> rusqlite::Result<(String, Option<String>, i64)> {
        conn.query_row(
            "SELECT status, failure_reason, total_cost_nanos FROM calls WHERE call_id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
    };
    let (status, reason, total) = row("failed")?;
    assert_eq!(status, "failed");
    assert_eq!(reason.as_deref(), Some("caller hung up during TTS"));
    assert_eq!(total, 14_000_000);
    let (status, _, total) = row("abandoned")?;
    assert_eq!(status, "abandoned");
    assert_eq!(total, 11_800_000);
    Ok(())
}

#[test]
fn council_costs_break_down_per_agent() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("council").session_kind("council"))?;
    let names: Vec<String> = (1..=8)
        .map(|i| format!("member-{i}"))
        .chain(["synthesis".to_owned()])
        .collect();
    let agents = names
        .iter()
        .map(|n| call.agent(n))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, agent) in agents.iter().enumerate() {
        let tokens = TokenUsage::new(1_000 * (i as u64 + 1), 100);
        agent.track_inference("anthropic", "claude-sonnet-4-20250514", tokens)?;
    }
    call.track_tts("cartesia", "sonic-3", 2_000)?;
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.by_agent.len(), 9);
    // member-1: 1 000 in × $3/M + 100 out × $15/M = $0.0045
    assert_eq!(summary.by_agent["member-1"], usd("0.0045"));
    let agents_sum = summary
        .by_agent
        .values()
        .try_fold(Usd::ZERO, |a, b| a.checked_add(*b))
        .expect("no overflow");
    assert_eq!(
        agents_sum.checked_add(usd("0.012")),
        Some(summary.total),
        "agents plus the TTS"
    );
    Ok(())
}

#[test]
fn summary_breakdowns_sum_to_the_total() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("sums"))?;
    call.track_duration("twilio", "inbound-us", 61.0)?;
    call.track_stt("deepgram", "nova-3", 61.0)?;
    call.track_inference("openai", "gpt-4o-mini", TokenUsage::new(12_345, 678))?;
    call.track_tts("openai", "tts-1", 999)?;
    let s = call.finalize(Outcome::Completed)?;
    let sum = |m: Vec<Usd>| m.into_iter().try_fold(Usd::ZERO, Usd::checked_add);
    assert_eq!(
        sum(s.by_category.values().copied().collect()),
        Some(s.total)
    );
    assert_eq!(
        sum(s.by_provider.values().copied().collect()),
        Some(s.total)
    );
    assert_eq!(s.by_provider["twilio"], usd("0.017"));
    assert_eq!(s.events, 4);
    Ok(())
}

#[test]
fn duplicate_active_call_id_is_refused() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let _call = meter.start_call(CallInfo::new("same"))?;
    assert!(matches!(
        meter.start_call(CallInfo::new("same")),
        Err(Error::DuplicateCall(_))
    ));
    Ok(())
}

#[test]
fn many_threads_many_calls_totals_are_exact() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let threads = 8;
    let calls_per_thread = 25;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let meter = meter.clone();
            std::thread::spawn(move || -> Result<Vec<(String, i64)>, callmeter::Error> {
                let mut out = Vec::new();
                for c in 0..calls_per_thread {
                    let id = format!("t{t}-c{c}");
                    let call = meter.start_call(CallInfo::new(&id).user(format!("u{t}")))?;
                    for i in 0..40_u64 {
                        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100 + i)?;
                        call.track_stt("deepgram", "nova-2", 1.3)?;
                        call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(i, i))?;
                    }
                    call.track_duration("twilio", "outbound-us", 95.0)?;
                    let s = call.finalize(Outcome::Completed)?;
                    out.push((id, s.total.to_nanos()?));
                }
                Ok(out)
            })
        })
        .collect();
    let mut totals = Vec::new();
    for h in handles {
        totals.extend(h.join().expect("thread")?);
    }
    meter.flush()?;
    let conn = db.read();
    for (id, total) in &totals {
        assert_eq!(call_total(&conn, id), *total, "{id}");
        assert_eq!(events_sum(&conn, id), *total, "{id}");
    }
    let stats = guard.shutdown()?;
    assert_eq!(stats.persisted, (threads * calls_per_thread * 121) as u64);
    assert_eq!(stats.dropped, 0);
    Ok(())
}

#[test]
fn one_call_tracked_from_many_threads_while_it_is_finalized() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("shared"))?;
    let barrier = Arc::new(std::sync::Barrier::new(5));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let call = call.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                let (mut ok, mut late) = (0_i64, 0_i64);
                for _ in 0..20_000 {
                    match call.track_stt("deepgram", "nova-2", 0.25) {
                        Ok(t) => ok += t.cost.to_nanos().expect("nanos"),
                        Err(Error::CallFinalized) => late += 1,
                        Err(e) => panic!("{e}"),
                    }
                }
                (ok, late)
            })
        })
        .collect();
    barrier.wait();
    std::thread::yield_now();
    let summary = call.finalize(Outcome::Completed)?;
    let mut ok_sum = 0;
    for w in workers {
        ok_sum += w.join().expect("worker").0;
    }
    // Every track call that returned Ok is in the summary, and nothing else is.
    assert_eq!(summary.total.to_nanos()?, ok_sum);
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(call_total(&conn, "shared"), events_sum(&conn, "shared"));
    // 80 000 × 0.25 s = 20 000 s of audio, billed per second: the database has all of it.
    assert_eq!(call_total(&conn, "shared"), 1_966_666_667);
    Ok(())
}

#[test]
fn custom_catalog_prices_are_used() -> TestResult {
    use callmeter::pricing::Increment;
    use callmeter::{Catalog, ModelPrice, Rate, UsageKind};
    let catalog = Catalog::builtin()
        .into_builder()
        .insert(
            ModelPrice::new("acme-telecom", "outbound-de", Category::Telephony)
                .rate(
                    UsageKind::CallSeconds,
                    Rate::per_minute(Usd::new(dec!(0.02))),
                )
                .increment(UsageKind::CallSeconds, Increment::seconds(6, 30)),
        )
        .build()?;
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("custom"))?;
    // 10 s bills the 30 s minimum: $0.01
    assert_eq!(
        call.track_duration("acme-telecom", "outbound-de", 10.0)?
            .cost,
        usd("0.01")
    );
    // 31 s total bills 36 s: $0.012, so $0.002 more
    assert_eq!(
        call.track_duration("acme-telecom", "outbound-de", 21.0)?
            .cost,
        usd("0.002")
    );
    Ok(())
}
