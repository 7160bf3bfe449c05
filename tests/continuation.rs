//! Call ids used again, in any order: random interleavings of start, track, finalize, abandon and
//! process restart over a few call ids. After shutdown, each call id's total in the database equals the
//! sum of every summary (or last running total, for a call left unfinished) returned for it, and equals
//! the sum of its stored events.

mod common;

use std::collections::BTreeMap;

use callmeter::{CallCostTracker, CallInfo, Error, Meter, MeterGuard, Outcome, Usd};
use common::{Db, call_total, events_sum, scalar_i64};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Start(u8),
    Track(u8, u64),
    Finalize(u8),
    /// The tracker dropped without `finalize`.
    Abandon(u8),
    /// Every open call dropped, the meter shut down and opened again on the same file.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3_u8).prop_map(Op::Start),
        6 => (0..3_u8, 1..5_000_u64).prop_map(|(c, n)| Op::Track(c, n)),
        2 => (0..3_u8).prop_map(Op::Finalize),
        1 => (0..3_u8).prop_map(Op::Abandon),
        1 => Just(Op::Restart),
    ]
}

fn nanos(u: Usd) -> i64 {
    u.to_nanos().expect("in range")
}

/// Open calls: the tracker and its running total as the last track call returned it.
type Open = BTreeMap<u8, (CallCostTracker, i64)>;

fn close_all(open: &mut Open, expected: &mut BTreeMap<u8, i64>) {
    for (id, (tracker, last)) in std::mem::take(open) {
        *expected.entry(id).or_default() += last;
        drop(tracker);
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let db = Db::new();
    let mut meter: Option<(Meter, MeterGuard)> = Some(db.open());
    let mut open = Open::new();
    let mut expected: BTreeMap<u8, i64> = BTreeMap::new();
    for op in ops {
        let m = &meter.as_ref().expect("a meter").0;
        match *op {
            Op::Start(id) => match m.start_call(CallInfo::new(format!("call-{id}")).user("u")) {
                Ok(tracker) => {
                    prop_assert!(!open.contains_key(&id));
                    expected.entry(id).or_default();
                    open.insert(id, (tracker, 0));
                }
                Err(Error::DuplicateCall(_)) => prop_assert!(open.contains_key(&id)),
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            },
            Op::Track(id, characters) => {
                if let Some((tracker, last)) = open.get_mut(&id) {
                    let t = tracker
                        .track_tts("elevenlabs", "eleven_turbo_v2_5", characters)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    *last = nanos(t.call_total);
                }
            }
            Op::Finalize(id) => {
                if let Some((tracker, last)) = open.remove(&id) {
                    let summary = tracker
                        .finalize(Outcome::Completed)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(nanos(summary.total), last);
                    *expected.entry(id).or_default() += nanos(summary.total);
                }
            }
            Op::Abandon(id) => {
                if let Some((tracker, last)) = open.remove(&id) {
                    drop(tracker);
                    *expected.entry(id).or_default() += last;
                }
            }
            Op::Restart => {
                close_all(&mut open, &mut expected);
                let (_, guard) = meter.take().expect("a meter");
                let stats = guard
                    .shutdown()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!((stats.pending, stats.conflicts), (0, 0));
                meter = Some(db.open());
            }
        }
    }
    close_all(&mut open, &mut expected);
    let (_, guard) = meter.take().expect("a meter");
    guard
        .shutdown()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let conn = db.read();
    for (id, total) in &expected {
        let call_id = format!("call-{id}");
        prop_assert_eq!(call_total(&conn, &call_id), *total, "{}", call_id);
        prop_assert_eq!(events_sum(&conn, &call_id), *total, "{}", call_id);
    }
    prop_assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM calls c WHERE event_count !=
               (SELECT COUNT(*) FROM cost_events e WHERE e.call_ref = c.call_ref)",
            []
        ),
        0
    );
    prop_assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM calls WHERE status = 'active'",
            []
        ),
        0
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn every_summary_of_a_call_id_adds_up_in_the_database(ops in prop::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}
