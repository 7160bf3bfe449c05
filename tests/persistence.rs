//! The database: schema contract, exact sums, counters, full queues, failing databases, reopening.

mod common;

use std::time::Duration;

use callmeter::{CallInfo, Error, Meter, Outcome, TokenUsage};
use common::{Db, TestResult, call_total, events_sum, scalar_i64};
use proptest::prelude::*;

fn columns(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    let mut stmt = conn
        .prepare(&format!("SELECT name FROM pragma_table_xinfo('{table}')"))
        .expect("table info");
    stmt.query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn schema_has_the_contract_columns() -> TestResult {
    let db = Db::new();
    let (_meter, guard) = db.open();
    guard.shutdown()?;
    let conn = db.read();
    let calls = columns(&conn, "calls");
    for c in [
        "call_id",
        "call_ref",
        "user_id",
        "tenant_id",
        "status",
        "started_at",
        "ended_at",
        "total_cost_nanos",
    ] {
        assert!(calls.iter().any(|x| x == c), "calls.{c}");
    }
    let events = columns(&conn, "cost_events");
    for c in [
        "event_id",
        "call_id",
        "call_ref",
        "created_at",
        "category",
        "provider",
        "model",
        "quantity",
        "unit",
        "cost_nanos",
    ] {
        assert!(events.iter().any(|x| x == c), "cost_events.{c}");
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    assert_eq!(mode, "wal");
    Ok(())
}

#[test]
fn events_and_calls_are_written_as_tracked() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(
        CallInfo::new("CA1")
            .user("u1")
            .tenant("acme")
            .persona("coach")
            .session_kind("phone")
            .metadata("campaign", "spring"),
    )?;
    call.agent("critic")?
        .track_inference("openai", "gpt-4o-mini", TokenUsage::new(1_000, 700))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 412)?;
    let summary = call.finalize(Outcome::Completed)?;
    meter.flush()?;
    let conn = db.read();
    let (user, tenant, status, meta, count, started, ended): (
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
    ) = conn.query_row(
        "SELECT user_id, tenant_id, status, metadata, event_count, started_at, ended_at
         FROM calls WHERE call_id = 'CA1'",
        [],
        |r| r.try_into(),
    )?;
    assert_eq!((user.as_str(), tenant.as_str()), ("u1", "acme"));
    assert_eq!(status, "completed");
    assert_eq!(meta, r#"{"campaign":"spring"}"#);
    assert_eq!(count, 2);
    assert_eq!(started, summary.started_at.timestamp_millis());
    assert_eq!(ended, summary.ended_at.timestamp_millis());
    let (event_id, agent, category, quantity, unit, output): (
        String,
        String,
        String,
        f64,
        String,
        i64,
    ) = conn.query_row(
        "SELECT event_id, agent, category, quantity, unit, output_tokens
         FROM cost_events WHERE call_id = 'CA1' AND seq = 0",
        [],
        |r| r.try_into(),
    )?;
    // `call_id#segment#seq@origin`: the segment (this start of the call) is a positive integer in
    // decimal, the origin the file's own 16 hex digits.
    let origin: String = conn.query_row("SELECT origin FROM outbox", [], |r| r.get(0))?;
    assert_eq!(origin.len(), 16, "{origin}");
    assert!(origin.bytes().all(|b| b.is_ascii_hexdigit()), "{origin}");
    let (id, at) = event_id.split_once('@').expect("an origin");
    assert_eq!(at, origin);
    let parts: Vec<&str> = id.split('#').collect();
    assert_eq!(parts.len(), 3, "{event_id}");
    assert_eq!((parts[0], parts[2]), ("CA1", "0"));
    assert!(parts[1].parse::<i64>().is_ok_and(|s| s >= 0), "{event_id}");
    assert_eq!(agent, "critic");
    assert_eq!(category, "llm");
    assert_eq!(quantity, 1_700.0);
    assert_eq!(unit, "token");
    assert_eq!(output, 700);
    assert_eq!(call_total(&conn, "CA1"), summary.total.to_nanos()?);
    drop(call);
    guard.shutdown()?;
    Ok(())
}

#[test]
fn counters_balance_after_flush() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("count"))?;
    for _ in 0..1_000 {
        call.track_tts("cartesia", "sonic-3", 100)?;
    }
    meter.flush()?;
    let s = meter.stats();
    assert_eq!(s.enqueued, 1_000);
    assert_eq!(s.enqueued, s.persisted + s.dropped + s.pending);
    assert_eq!(s.pending, 0);
    let conn = db.read();
    assert_eq!(
        scalar_i64(&conn, "SELECT COUNT(*) FROM cost_events", []),
        s.persisted as i64
    );
    drop(call);
    guard.shutdown()?;
    Ok(())
}

#[test]
fn a_full_queue_drops_detail_but_never_money() -> TestResult {
    let db = Db::new();
    // A one-slot queue and a writer that sleeps a long time: nearly every event finds the queue full.
    let (meter, guard) = db
        .builder()
        .queue_capacity(1)
        .poll_interval(Duration::from_secs(5))
        .open()?;
    let call = meter.start_call(CallInfo::new("full"))?;
    for _ in 0..200 {
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
    }
    let summary = call.finalize(Outcome::Completed)?;
    assert!(summary.dropped_events > 0);
    assert_eq!(summary.events, 200);
    drop(call);
    let stats = guard.shutdown()?;
    assert_eq!(stats.dropped, summary.dropped_events);
    assert_eq!(stats.enqueued, stats.persisted + stats.dropped);
    let conn = db.read();
    assert_eq!(call_total(&conn, "full"), summary.total.to_nanos()?);
    assert_eq!(events_sum(&conn, "full"), summary.total.to_nanos()?);
    let coalesced: i64 = scalar_i64(
        &conn,
        "SELECT CAST(SUM(quantity) AS INTEGER) FROM cost_events WHERE call_id = 'full' AND kind = 'coalesced'",
        [],
    );
    assert_eq!(coalesced as u64, summary.dropped_events);
    // The call's row counts the events tracked, as the summary, the rollups and the fleet do: a
    // coalesced row stands for the events it replaces.
    let counted = scalar_i64(
        &conn,
        "SELECT event_count FROM calls WHERE call_id = 'full'",
        [],
    );
    assert_eq!(counted as u64, summary.events);
    Ok(())
}

/// A call whose row is recounted from its events (here: removed from outside, then put back) still
/// counts each coalesced row as the events it stands for.
#[test]
fn a_recounted_call_counts_the_events_its_coalesced_rows_stand_for() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db
        .builder()
        .queue_capacity(1)
        .poll_interval(Duration::from_secs(5))
        .open()?;
    let call = meter.start_call(CallInfo::new("recount"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
    meter.flush()?;
    db.read()
        .execute("DELETE FROM calls WHERE call_id = 'recount'", [])?;
    for _ in 0..50 {
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
    }
    let summary = call.finalize(Outcome::Completed)?;
    assert!(summary.dropped_events > 0);
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(call_total(&conn, "recount"), summary.total.to_nanos()?);
    let counted = scalar_i64(
        &conn,
        "SELECT event_count FROM calls WHERE call_id = 'recount'",
        [],
    );
    assert_eq!(counted as u64, summary.events);
    assert_eq!(summary.events, 51);
    Ok(())
}

#[test]
fn a_locked_database_is_counted_retried_and_caught_up() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db
        .builder()
        .flush_timeout(Duration::from_millis(1_500))
        .open()?;
    let blocker = db.read();
    blocker.execute_batch("BEGIN EXCLUSIVE")?;
    let call = meter.start_call(CallInfo::new("locked"))?;
    let tracked = call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    // The writer cannot commit while the lock is held: flush times out instead of hanging, and the
    // track call above returned at once all the same.
    assert!(matches!(meter.flush(), Err(Error::Timeout(_))));
    let stats = meter.stats();
    assert!(stats.write_errors >= 1);
    assert!(stats.last_write_error.is_some());
    assert_eq!(stats.pending, 1);
    blocker.execute_batch("COMMIT")?;
    drop(blocker);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(call_total(&conn, "locked"), tracked.cost.to_nanos()?);
    Ok(())
}

#[test]
fn reopening_keeps_data_and_foreign_files_are_refused() -> TestResult {
    let db = Db::new();
    {
        let (meter, guard) = db.open();
        let call = meter.start_call(CallInfo::new("first-run"))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
        call.finalize(Outcome::Completed)?;
        drop(call);
        guard.shutdown()?;
    }
    {
        let (meter, guard) = db.open();
        let call = meter.start_call(CallInfo::new("second-run"))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
        call.finalize(Outcome::Completed)?;
        drop(call);
        guard.shutdown()?;
    }
    let conn = db.read();
    assert_eq!(scalar_i64(&conn, "SELECT COUNT(*) FROM calls", []), 2);

    let dir = tempfile::tempdir()?;
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)?.execute_batch("CREATE TABLE notes (x TEXT);")?;
    assert!(matches!(
        Meter::builder().path(&foreign).open(),
        Err(Error::ForeignDatabase { .. })
    ));
    let newer = dir.path().join("newer.db");
    rusqlite::Connection::open(&newer)?.execute_batch("PRAGMA user_version = 99;")?;
    assert!(matches!(
        Meter::builder().path(&newer).open(),
        Err(Error::SchemaVersion { found: 99, .. })
    ));
    let old = dir.path().join("pre-release.db");
    rusqlite::Connection::open(&old)?
        .execute_batch("CREATE TABLE calls (call_id TEXT PRIMARY KEY); PRAGMA user_version = 1;")?;
    let refused = Meter::builder().path(&old).open().err();
    assert!(
        matches!(&refused, Some(e @ Error::PreReleaseSchema { found: 1, .. }) if e.to_string().contains("move the file away")),
        "{refused:?}"
    );
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x42_u8; 8192])?;
    assert!(matches!(
        Meter::builder().path(&garbage).open(),
        Err(Error::Storage { .. })
    ));
    Ok(())
}

#[test]
fn a_call_id_seen_again_continues_its_call() -> TestResult {
    let db = Db::new();
    let mut summaries = Vec::new();
    // Run 1 tracks the call and shuts down; run 2 (a restarted process) starts the same id again.
    for characters in [2_000, 1_000] {
        let (meter, guard) = db.open();
        let call = meter.start_call(CallInfo::new("r-1").user("u"))?;
        for _ in 0..4 {
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", characters / 4)?;
        }
        summaries.push(call.finalize(Outcome::Completed)?);
        drop(call);
        let stats = guard.shutdown()?;
        assert_eq!((stats.pending, stats.conflicts), (0, 0));
    }
    let conn = db.read();
    // Nothing dropped, nothing counted twice: $0.30 + $0.15.
    let expected = summaries
        .iter()
        .map(|s| s.total.to_nanos())
        .sum::<Result<i64, _>>()?;
    assert_eq!(expected, 450_000_000);
    assert_eq!(call_total(&conn, "r-1"), expected);
    assert_eq!(events_sum(&conn, "r-1"), expected);
    let (count, segments, status, distinct): (i64, i64, String, i64) = conn.query_row(
        "SELECT event_count, segments, status,
                (SELECT COUNT(DISTINCT event_id) FROM cost_events WHERE call_id = 'r-1')
         FROM calls WHERE call_id = 'r-1'",
        [],
        |r| r.try_into(),
    )?;
    assert_eq!(
        (count, segments, status.as_str(), distinct),
        (8, 2, "completed", 8)
    );
    // The rollups saw both runs once.
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT SUM(cost_nanos) FROM rollups WHERE scope = 'user_month' AND subject = 'u'",
            []
        ),
        expected
    );
    Ok(())
}

#[derive(Debug, Clone)]
enum Step {
    Tts(u64),
    Stt(u32),
    Llm(u32, u32, u32),
    Call(u32),
    Pay(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..5_000_u64).prop_map(Step::Tts),
        (0..600_000_u32).prop_map(Step::Stt),
        (0..50_000_u32, 0..50_000_u32, 0..5_000_u32).prop_map(|(a, b, c)| Step::Llm(a, b, c)),
        (0..600_000_u32).prop_map(Step::Call),
        (1..100_000_u32).prop_map(Step::Pay),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// For random calls: the sum of the events' costs = the summary total = the database's call total =
    /// the database's sum of event rows.
    #[test]
    fn event_sum_equals_call_total_equals_database_sum(
        calls in prop::collection::vec(prop::collection::vec(step(), 0..40), 1..6)
    ) {
        let db = Db::new();
        let (meter, guard) = db.open();
        let mut expected = Vec::new();
        for (i, steps) in calls.iter().enumerate() {
            let id = format!("p{i}");
            let call = meter.start_call(CallInfo::new(&id)).expect("start");
            let mut sum = 0_i64;
            for s in steps {
                let t = match s {
                    Step::Tts(n) => call.track_tts("elevenlabs", "eleven_multilingual_v2", *n),
                    Step::Stt(ms) => call.track_stt("deepgram", "nova-2", f64::from(*ms) / 1000.0),
                    Step::Llm(a, b, c) => call.track_inference(
                        "anthropic",
                        "claude-opus-4-20250514",
                        TokenUsage::new((*a).into(), (*b).into()).with_cached_input((*c).into()),
                    ),
                    Step::Call(ms) => call.track_duration("twilio", "inbound-us", f64::from(*ms) / 1000.0),
                    Step::Pay(cents) => call.track_payment(
                        "stripe",
                        "standard",
                        callmeter::Usd::from_nanos(i64::from(*cents) * 10_000_000),
                    ),
                };
                match t {
                    Ok(t) => sum += t.cost.to_nanos().expect("nanos"),
                    // Anthropic's Opus entry has no cached-input rate yet: recorded, that part unpriced.
                    Err(Error::MissingRate { .. }) => {}
                    Err(e) => panic!("{e}"),
                }
            }
            let summary = call.finalize(Outcome::Completed).expect("finalize");
            expected.push((id, summary.total.to_nanos().expect("nanos"), summary.events));
            prop_assert!(sum <= summary.total.to_nanos().expect("nanos"));
        }
        guard.shutdown().expect("shutdown");
        let conn = db.read();
        for (id, total, events) in expected {
            prop_assert_eq!(call_total(&conn, &id), total);
            prop_assert_eq!(events_sum(&conn, &id), total);
            prop_assert_eq!(
                scalar_i64(&conn, "SELECT COUNT(*) FROM cost_events WHERE call_id = ?1", [&id]),
                events as i64
            );
        }
    }
}

/// One row of `cost_events` as the columns that depend on the kind of event.
type Detail = (
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

#[test]
fn each_kind_of_event_fills_its_own_columns() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("kinds"))?;
    call.track_tts("cartesia", "sonic-3", 400)?;
    call.track_inference("openai", "gpt-4o-mini", TokenUsage::new(1_000, 200))?;
    call.track_realtime_audio("openai", "gpt-4o-realtime", 2.0, 3.5)?;
    call.track_payment(
        "stripe",
        "card-not-present",
        callmeter::Usd::from_nanos(4_990_000_000),
    )?;
    call.agent("critic")?.track_tts("cartesia", "sonic-3", 10)?;
    assert!(call.track_tts("nobody", "nothing", 10).is_err());
    call.finalize(Outcome::Completed)?;
    assert!(call.track_tts("cartesia", "sonic-3", 10).is_err());
    drop(call);
    guard.shutdown()?;

    let conn = db.read();
    let row = |seq: i64| -> rusqlite::Result<Detail> {
        conn.query_row(
            "SELECT kind, priced, agent, input_tokens, cached_input_tokens, audio_input_ms,
                    audio_output_ms, amount_nanos
             FROM cost_events WHERE call_id = 'kinds' AND seq = ?1",
            [seq],
            |r| r.try_into(),
        )
    };
    let usage = || "usage".to_string();
    let none = (None, None, None, None, None);
    let expect = |kind: String, priced, agent: Option<&str>, rest: (_, _, _, _, _)| -> Detail {
        let (a, b, c, d, e) = rest;
        (kind, priced, agent.map(String::from), a, b, c, d, e)
    };
    assert_eq!(row(0)?, expect(usage(), 1, None, none));
    assert_eq!(
        row(1)?,
        expect(usage(), 1, None, (Some(1_000), Some(0), None, None, None))
    );
    assert_eq!(
        row(2)?,
        expect(
            usage(),
            1,
            None,
            (None, None, Some(2_000), Some(3_500), None)
        )
    );
    assert_eq!(
        row(3)?,
        expect(
            usage(),
            1,
            None,
            (None, None, None, None, Some(4_990_000_000))
        )
    );
    assert_eq!(row(4)?, expect(usage(), 1, Some("critic"), none));
    assert_eq!(row(5)?, expect(usage(), 0, None, none));
    assert_eq!(row(6)?, expect("late".into(), 1, None, none));
    Ok(())
}

#[test]
fn events_point_to_their_call_by_number_in_start_order() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let calls = ["b", "a", "c"].map(|id| meter.start_call(CallInfo::new(id)).expect("start"));
    for (i, call) in calls.iter().enumerate() {
        for _ in 0..=i {
            call.track_tts("cartesia", "sonic-3", 100)?;
        }
    }
    drop(calls);
    guard.shutdown()?;
    let conn = db.read();
    let refs: Vec<(String, i64)> = conn
        .prepare("SELECT call_id, call_ref FROM calls ORDER BY call_ref")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        refs,
        [
            ("b".to_string(), 1),
            ("a".to_string(), 2),
            ("c".to_string(), 3)
        ]
    );
    let mismatched = scalar_i64(
        &conn,
        "SELECT COUNT(*) FROM cost_events e JOIN calls c ON c.call_id = e.call_id
         WHERE c.call_ref != e.call_ref",
        [],
    );
    assert_eq!(mismatched, 0);
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM cost_events WHERE call_ref = 3",
            []
        ),
        3
    );
    Ok(())
}

#[test]
fn a_call_row_removed_from_outside_is_put_back_with_its_total() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("gone").user("u"))?;
    call.track_tts("cartesia", "sonic-3", 1_000)?;
    meter.flush()?;
    db.read()
        .execute("DELETE FROM calls WHERE call_id = 'gone'", [])?;
    call.track_tts("cartesia", "sonic-3", 2_000)?;
    let summary = call.finalize(Outcome::Completed)?;
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(call_total(&conn, "gone"), summary.total.to_nanos()?);
    assert_eq!(events_sum(&conn, "gone"), summary.total.to_nanos()?);
    let (status, user, events): (String, String, i64) = conn.query_row(
        "SELECT status, user_id, event_count FROM calls WHERE call_id = 'gone'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    assert_eq!(
        (status.as_str(), user.as_str(), events),
        ("completed", "u", 2)
    );
    Ok(())
}

#[test]
fn an_in_memory_meter_tracks_and_leaves_no_file_behind() -> TestResult {
    let (meter, guard) = Meter::builder().path(":memory:").open()?;
    let call = meter.start_call(CallInfo::new("mem"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    assert_eq!(
        call.finalize(Outcome::Completed)?.total.to_string(),
        "$0.15"
    );
    drop(call);
    let stats = guard.shutdown()?;
    assert_eq!((stats.persisted, stats.pending), (1, 0));
    assert!(!std::path::Path::new(":memory:-meters").exists());
    assert!(!std::path::Path::new(":memory:").exists());
    Ok(())
}
