//! Faults that used to lose money silently or stop recording for good, each reproduced, each now ending
//! with a typed outcome and nothing lost: a record SQLite refuses, totals near the top of the range, a
//! call id used again, a meter whose process is gone, a file that cannot be written, a shutdown that
//! cannot finish, names of any length, stale write errors.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use callmeter::{
    Alert, AlertKind, Budget, CallCostTracker, CallInfo, Catalog, Category, Error, ModelPrice,
    Outcome, Rate, UsageKind, Usd, Verdict,
};
use common::{Db, TestResult, call_total, events_sum, scalar_i64};
use rust_decimal::dec;

/// `acme/voice`: one character costs $0.001; `acme/poison`: the same price, and rows of it are refused
/// by a trigger the tests install; `acme/gold`: one character costs $1 000.
fn catalog() -> Catalog {
    let per_char = |model: &str, dollars| {
        ModelPrice::new("acme", model, Category::Tts).rate(
            UsageKind::Characters,
            Rate::per_character(Usd::new(dollars)),
        )
    };
    Catalog::builder()
        .insert(per_char("voice", dec!(0.001)))
        .insert(per_char("poison", dec!(0.001)))
        .insert(per_char("gold", dec!(1000)))
        .build()
        .expect("catalog")
}

#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<Alert>>>);

impl Collected {
    fn sink(&self) -> impl Fn(&Alert) + Send + Sync + 'static {
        let seen = Arc::clone(&self.0);
        move |a: &Alert| seen.lock().expect("lock").push(a.clone())
    }

    fn of(&self, kind: AlertKind) -> Vec<Alert> {
        let seen = self.0.lock().expect("lock");
        seen.iter().filter(|a| a.kind == kind).cloned().collect()
    }
}

/// Point 1: a row SQLite refuses for good (here a trigger's ABORT, a constraint error) used to wedge
/// the writer: the batch was retried forever and every later event stayed pending.
#[test]
fn a_record_sqlite_refuses_is_quarantined_and_everything_else_is_written() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .alert_sink(seen.sink())
        .flush_timeout(Duration::from_secs(20))
        .open()?;
    db.read().execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON cost_events WHEN NEW.model = 'poison'
         BEGIN SELECT RAISE(ABORT, 'refused by policy'); END;",
    )?;
    let mut expected = 0;
    for c in 0..3 {
        let call = meter.start_call(CallInfo::new(format!("q{c}")))?;
        for i in 0..500 {
            let model = if c == 1 && (i == 17 || i == 400) {
                "poison"
            } else {
                "voice"
            };
            call.track_tts("acme", model, 10)?;
        }
        expected += call.finalize(Outcome::Completed)?.total.to_nanos()?;
    }
    meter.flush()?;
    // The writer goes on after it.
    let after = meter.start_call(CallInfo::new("after"))?;
    after.track_tts("acme", "voice", 5)?;
    after.finalize(Outcome::Completed)?;
    drop(after);
    let stats = guard.shutdown()?;
    assert_eq!((stats.quarantined, stats.quarantined_records), (2, 2));
    assert_eq!(stats.persisted, 1_499);
    assert_eq!(stats.pending, 0);
    assert_eq!(stats.enqueued, stats.persisted + stats.quarantined);

    let conn = db.read();
    let rows: Vec<(String, String, String, i64, String)> = conn
        .prepare("SELECT record, call_id, event_id, cost_nanos, reason FROM quarantine ORDER BY 3")?
        .query_map([], |r| r.try_into())?
        .collect::<Result<_, _>>()?;
    assert_eq!(rows.len(), 2);
    for (record, call_id, event_id, cost, reason) in &rows {
        assert_eq!((record.as_str(), call_id.as_str()), ("event", "q1"));
        assert!(event_id.starts_with("q1#"), "{event_id}");
        assert_eq!(*cost, 10_000_000);
        assert!(reason.contains("refused by policy"), "{reason}");
    }
    // Every call's stored total is the sum of its stored events; with the quarantined money, the sum
    // of what was tracked.
    for c in ["q0", "q1", "q2", "after"] {
        assert_eq!(call_total(&conn, c), events_sum(&conn, c));
    }
    let stored = scalar_i64(
        &conn,
        "SELECT SUM(total_cost_nanos) FROM calls WHERE call_id LIKE 'q%'",
        [],
    );
    let set_aside = scalar_i64(&conn, "SELECT SUM(cost_nanos) FROM quarantine", []);
    assert_eq!(stored + set_aside, expected);
    let alerts = seen.of(AlertKind::Quarantined);
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].value, Usd::new(dec!(0.01)));
    assert!(
        alerts[0].message.contains("quarantined"),
        "{}",
        alerts[0].message
    );
    Ok(())
}

/// Point 1, the overflow shape: a stored total that cannot take another event (SQLite turns the
/// integer sum into a float, which the schema refuses) isolates that one event, not the writer.
#[test]
fn an_overflowing_sum_is_isolated_to_the_event_that_causes_it() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.builder().catalog(catalog()).open()?;
    let full = meter.start_call(CallInfo::new("full"))?;
    full.track_tts("acme", "voice", 1)?;
    meter.flush()?;
    // As if decades of spend had piled up on the row.
    db.read().execute(
        "UPDATE calls SET total_cost_nanos = 9223372036854775000 WHERE call_id = 'full'",
        [],
    )?;
    let fine = meter.start_call(CallInfo::new("fine"))?;
    full.track_tts("acme", "voice", 1_000)?;
    fine.track_tts("acme", "voice", 7)?;
    meter.flush()?;
    drop((full, fine));
    let stats = guard.shutdown()?;
    assert_eq!(stats.quarantined, 1);
    assert_eq!(stats.pending, 0);
    let conn = db.read();
    assert_eq!(call_total(&conn, "fine"), 7_000_000);
    let reason: String = conn.query_row("SELECT reason FROM quarantine", [], |r| r.get(0))?;
    assert!(reason.contains("CHECK"), "{reason}");
    Ok(())
}

/// Point 2: totals used to be added with `fetch_add` and wrapped: $9.18 billion became −$8.96 billion
/// and a cutoff turned back into `Fine`.
#[test]
fn totals_never_wrap_and_a_cutoff_stays_a_cutoff() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.builder().catalog(catalog()).open()?;
    let call = meter.start_call(CallInfo::new("whale"))?;
    // 1 000 characters of `gold` cost exactly CallCostTracker::MAX_EVENT_COST ($1 000 000).
    let most = call.track_tts("acme", "gold", 1_000)?;
    assert_eq!(most.cost, CallCostTracker::MAX_EVENT_COST);
    assert_eq!(most.verdict, Verdict::Cutoff);
    // One character more than that in one event is out of range: recorded, unpriced.
    let over = call.track_tts("acme", "gold", 1_001).err();
    assert!(matches!(over, Some(Error::CostOverflow { .. })), "{over:?}");
    for _ in 1..10 {
        call.track_tts("acme", "gold", 1_000)?;
    }
    assert_eq!(call.total(), CallCostTracker::MAX_CALL_COST);
    // Past the call's bound: recorded unpriced, the total stays, the cutoff stays.
    for _ in 0..30 {
        let e = call.track_tts("acme", "gold", 1_000).err();
        assert!(
            matches!(&e, Some(e @ Error::CallCostOutOfRange { .. }) if e.is_recorded()),
            "{e:?}"
        );
        assert_eq!(call.total(), CallCostTracker::MAX_CALL_COST);
        assert_eq!(call.verdict(), Verdict::Cutoff);
    }
    // Even the smallest usage does not fit once the bound is reached.
    let e = call.track_tts("acme", "voice", 1).err();
    assert!(matches!(e, Some(Error::CallCostOutOfRange { .. })), "{e:?}");
    // The shape of the reported fault: forty payments of $9 000 000 000 each.
    for _ in 0..40 {
        let e = call
            .track_payment("stripe", "standard", Usd::new(dec!(9000000000)))
            .err();
        assert!(matches!(e, Some(Error::InvalidQuantity { .. })), "{e:?}");
    }
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.total, call.total());
    assert_eq!(summary.unpriced_events, 32);
    drop(call);
    // The same call id again (a restart), on top of the stored maximum: still exact in the database.
    let again = meter.start_call(CallInfo::new("whale"))?;
    let second = again.track_tts("acme", "gold", 1_000)?;
    again.finalize(Outcome::Completed)?;
    drop(again);
    let stats = guard.shutdown()?;
    assert_eq!((stats.pending, stats.quarantined), (0, 0));
    let conn = db.read();
    let expected = summary.total.to_nanos()? + second.cost.to_nanos()?;
    assert_eq!(call_total(&conn, "whale"), expected);
    assert_eq!(events_sum(&conn, "whale"), expected);
    Ok(())
}

/// Point 3 is `persistence::a_call_id_seen_again_continues_its_call`. Point 4, in one process: calls
/// left by a meter that is gone (a row in `meters`, no process holding its lock) are closed as
/// `interrupted` when a meter opens; the calls of a meter that still runs are left alone.
#[test]
fn calls_of_a_gone_meter_close_as_interrupted_and_a_live_meters_stay_open() -> TestResult {
    let db = Db::new();
    let (live, live_guard) = db.builder().catalog(catalog()).open()?;
    let running = live.start_call(CallInfo::new("running"))?;
    running.track_tts("acme", "voice", 100)?;
    live.flush()?;
    // What a process killed mid-call leaves: its meter row, its call, its events; no lock held.
    let conn = db.read();
    conn.execute_batch(
        "INSERT INTO meters (meter_ref, meter_id, pid, opened_at) VALUES (77, 'gone', 1, 0);
         INSERT INTO calls (call_id, call_ref, status, started_at, total_cost_nanos, event_count, owner)
                VALUES ('orphan', 900, 'active', 1000, 5000000, 1, 77);
         INSERT INTO cost_events (call_id, call_ref, seq, segment, created_at, category, provider,
                                  model, quantity, unit, cost_nanos)
                VALUES ('orphan', 900, 0, 42, 61000, 'tts', 'acme', 'voice', 5, 'character', 5000000);",
    )?;
    let (other, other_guard) = db.builder().catalog(catalog()).open()?;
    assert_eq!(other.stats().calls_interrupted, 1);
    let (status, ended, total): (String, i64, i64) = conn.query_row(
        "SELECT status, ended_at, total_cost_nanos FROM calls WHERE call_id = 'orphan'",
        [],
        |r| r.try_into(),
    )?;
    // Closed at its last event, its costs kept.
    assert_eq!(
        (status.as_str(), ended, total),
        ("interrupted", 61_000, 5_000_000)
    );
    let status: String = conn.query_row(
        "SELECT status FROM calls WHERE call_id = 'running'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(status, "active", "a live meter's call stays open");
    // A gone meter's call continued later picks up where it stopped.
    let resumed = other.start_call(CallInfo::new("orphan"))?;
    resumed.track_tts("acme", "voice", 1)?;
    resumed.finalize(Outcome::Completed)?;
    running.finalize(Outcome::Completed)?;
    drop((resumed, running));
    other_guard.shutdown()?;
    live_guard.shutdown()?;
    let (status, total): (String, i64) = conn.query_row(
        "SELECT status, total_cost_nanos FROM calls WHERE call_id = 'orphan'",
        [],
        |r| r.try_into(),
    )?;
    assert_eq!((status.as_str(), total), ("completed", 6_000_000));
    Ok(())
}

/// Point 6: a file that cannot be written used to open fine, and then every write failed.
#[test]
fn a_database_that_cannot_be_written_is_refused_at_open() -> TestResult {
    let Some(ro) = common::fs::ReadOnlyDb::new()? else {
        return Ok(());
    };
    let refused = Db::at(&ro.path).open_result().err();
    match &refused {
        Some(e @ Error::NotWritable { path, .. }) => {
            assert_eq!(path, &ro.path);
            assert!(
                e.to_string().contains(&ro.path.display().to_string()),
                "{e}"
            );
        }
        other => panic!("expected NotWritable, got {other:?}"),
    }
    Ok(())
}

/// Opening a database in a folder that does not exist is an error naming the file; callmeter creates
/// no folders (its lock folder goes beside the file only once SQLite could open it).
#[test]
fn a_database_in_a_missing_folder_is_an_error_and_creates_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("missing").join("costs.db");
    let err = callmeter::Meter::builder().path(&path).open().err();
    match &err {
        Some(e @ (Error::Storage { .. } | Error::NotWritable { .. })) => {
            assert!(e.to_string().contains("costs.db"), "{e}");
        }
        other => panic!("expected a storage error, got {other:?}"),
    }
    assert!(!dir.path().join("missing").exists());
    Ok(())
}

/// Point 7: shutdown used to wait its timeout twice (a flush, then the drain) and said only how many
/// events were lost.
#[test]
fn shutdown_keeps_to_its_timeout_and_names_what_it_could_not_write() -> TestResult {
    let db = Db::new();
    let timeout = Duration::from_secs(2);
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .shutdown_timeout(timeout)
        .open()?;
    // Another process holds the write lock for the whole shutdown.
    let blocker = db.read();
    blocker.execute_batch("BEGIN IMMEDIATE")?;
    let mut expected = Vec::new();
    for (id, n) in [("a", 3), ("b", 5)] {
        let call = meter.start_call(CallInfo::new(id))?;
        for _ in 0..n {
            call.track_tts("acme", "voice", 100)?;
        }
        expected.push((id, n, call.finalize(Outcome::Completed)?.total));
    }
    let started = Instant::now();
    let result = guard.shutdown();
    let took = started.elapsed();
    // The promise is a bound, not a speed: well under twice the timeout (the old behaviour), with
    // room for a loaded machine.
    assert!(took < timeout * 3 / 2, "shutdown took {took:?}");
    match result {
        Err(Error::Unpersisted {
            unpersisted, calls, ..
        }) => {
            assert_eq!(unpersisted, 8);
            let got: Vec<_> = calls
                .iter()
                .map(|c| (c.call_id.as_str(), c.events, c.cost, c.call_record))
                .collect();
            let want: Vec<_> = expected
                .iter()
                .map(|&(id, n, total)| (id, n, total, true))
                .collect();
            assert_eq!(got, want);
        }
        other => panic!("expected Unpersisted, got {other:?}"),
    }
    blocker.execute_batch("ROLLBACK")?;
    Ok(())
}

/// Point 8: a 1 MB model name stalled the calling thread under a lock and was stored in full on
/// every row.
#[test]
fn over_long_names_are_typed_errors_and_the_usage_is_kept_under_a_cut_name() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.builder().catalog(catalog()).open()?;
    let call = meter.start_call(CallInfo::new("names"))?;
    let huge = "m".repeat(1 << 20);
    for _ in 0..3 {
        let e = call.track_tts("acme", &huge, 10).err();
        assert!(
            matches!(&e, Some(e @ Error::NameTooLong { what: "model", len: 1_048_576, max: CallCostTracker::MAX_NAME_LEN }) if e.is_recorded()),
            "{e:?}"
        );
    }
    let e = call.track_tts(&huge, "voice", 10).err();
    assert!(
        matches!(
            e,
            Some(Error::NameTooLong {
                what: "provider",
                ..
            })
        ),
        "{e:?}"
    );
    // Exactly the longest name is fine (unknown here, so unpriced).
    let longest = "x".repeat(CallCostTracker::MAX_NAME_LEN);
    assert!(matches!(
        call.track_tts("acme", &longest, 1),
        Err(Error::UnknownModel { .. })
    ));
    assert!(matches!(
        call.agent(&huge),
        Err(Error::NameTooLong { what: "agent", .. })
    ));
    assert!(
        call.agent(&"a".repeat(CallCostTracker::MAX_NAME_LEN))
            .is_ok()
    );
    let long_id = "p".repeat(callmeter::CallInfo::MAX_ID_LEN + 1);
    for info in [
        CallInfo::new("x").persona(long_id.as_str()),
        CallInfo::new("x").user(long_id.as_str()),
        CallInfo::new("x").tenant(long_id.as_str()),
        CallInfo::new("x").session_kind(long_id.as_str()),
        CallInfo::new("x").metadata("k", "v".repeat(callmeter::CallInfo::MAX_METADATA_LEN)),
    ] {
        assert!(matches!(
            meter.start_call(info),
            Err(Error::InvalidCallInfo(_))
        ));
    }
    call.finalize(Outcome::Completed)?;
    drop(call);
    let stats = guard.shutdown()?;
    assert_eq!(stats.persisted, 5);
    let conn = db.read();
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT MAX(length(model)) + MAX(length(provider)) FROM cost_events",
            []
        ),
        2 * CallCostTracker::MAX_NAME_LEN as i64
    );
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM cost_events WHERE priced = 0",
            []
        ),
        5
    );
    Ok(())
}

/// Point 10: `last_write_error` used to keep the first error for ever, even after writes recovered.
#[test]
fn the_last_write_error_clears_once_writes_succeed_again() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .flush_timeout(Duration::from_millis(600))
        .open()?;
    let blocker = db.read();
    blocker.execute_batch("BEGIN IMMEDIATE")?;
    let call = meter.start_call(CallInfo::new("busy"))?;
    call.track_tts("acme", "voice", 1)?;
    assert!(matches!(meter.flush(), Err(Error::Timeout(_))));
    let during = meter.stats();
    assert!(during.write_errors > 0);
    assert!(
        during
            .last_write_error
            .as_deref()
            .is_some_and(|e| e.contains("locked"))
    );
    blocker.execute_batch("ROLLBACK")?;
    let _ = meter.flush();
    meter.flush()?;
    let after = meter.stats();
    assert_eq!(after.last_write_error, None);
    assert!(after.write_errors >= during.write_errors);
    assert_eq!(after.pending, 0);
    drop(call);
    guard.shutdown()?;
    Ok(())
}

/// Point 10: a user's limit that forces a cutoff is reported as that limit, not as the call's budget.
#[test]
fn a_limit_cutoff_is_reported_as_the_limit_with_its_own_threshold() -> TestResult {
    let db = Db::new();
    let seen = Collected::default();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::default())
        .user_limits(callmeter::Limits::none().daily_cost(Usd::new(dec!(0.30))))
        .alert_sink(seen.sink())
        .open()?;
    let call = meter.start_call(CallInfo::new("lim").user("u1"))?;
    assert_eq!(call.track_tts("acme", "voice", 299)?.verdict, Verdict::Fine);
    assert_eq!(call.track_tts("acme", "voice", 1)?.verdict, Verdict::Cutoff);
    drop(call);
    guard.shutdown()?;
    assert!(seen.of(AlertKind::CallCutoff).is_empty());
    assert!(seen.of(AlertKind::CallWarning).is_empty());
    let limit = seen.of(AlertKind::UserLimit);
    assert_eq!(limit.len(), 1);
    assert_eq!(limit[0].threshold, Some(Usd::new(dec!(0.30))));
    assert_eq!(limit[0].value, Usd::new(dec!(0.3)));
    assert_eq!(limit[0].subject, "user:u1");
    assert!(
        limit[0].message.contains("daily cost limit"),
        "{}",
        limit[0].message
    );
    Ok(())
}
