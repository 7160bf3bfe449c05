//! Draining on shutdown: nothing enqueued is lost.

mod common;

use callmeter::{CallInfo, Outcome, TokenUsage};
use common::{Db, TestResult, scalar_i64};

#[test]
fn a_million_events_across_shutdown_none_lost() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.builder().queue_capacity(1 << 20).open()?;
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let meter = meter.clone();
            std::thread::spawn(move || -> Result<i64, callmeter::Error> {
                let mut total = 0;
                for c in 0..10 {
                    let call = meter.start_call(CallInfo::new(format!("m{t}-{c}")))?;
                    for i in 0..25_000_u64 {
                        call.track_inference(
                            "cerebras",
                            "llama3.1-8b",
                            TokenUsage::new(i % 97, 3),
                        )?;
                    }
                    total += call.finalize(Outcome::Completed)?.total.to_nanos()?;
                }
                Ok(total)
            })
        })
        .collect();
    let mut expected = 0;
    for t in threads {
        expected += t.join().expect("thread")?;
    }
    // No flush: shutdown alone must drain everything.
    let stats = guard.shutdown()?;
    assert_eq!(stats.enqueued, 1_000_000);
    assert_eq!(stats.persisted, 1_000_000);
    assert_eq!((stats.dropped, stats.pending), (0, 0));
    let conn = db.read();
    assert_eq!(
        scalar_i64(&conn, "SELECT COUNT(*) FROM cost_events", []),
        1_000_000
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT SUM(cost_nanos) FROM cost_events", []),
        expected
    );
    assert_eq!(
        scalar_i64(&conn, "SELECT SUM(total_cost_nanos) FROM calls", []),
        expected
    );
    Ok(())
}

#[test]
fn dropping_the_guard_drains_too() -> TestResult {
    let db = Db::new();
    {
        let (meter, _guard) = db.open();
        let call = meter.start_call(CallInfo::new("guarded"))?;
        for _ in 0..5_000 {
            call.track_tts("cartesia", "sonic-3", 10)?;
        }
        call.finalize(Outcome::Completed)?;
    }
    let conn = db.read();
    assert_eq!(
        scalar_i64(&conn, "SELECT COUNT(*) FROM cost_events", []),
        5_000
    );
    Ok(())
}

#[test]
fn tracking_after_shutdown_keeps_exact_totals_and_counts_drops() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("after"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    guard.shutdown()?;
    let t = call.track_tts("elevenlabs", "eleven_turbo_v2_5", 1_000)?;
    assert_eq!(t.call_total.to_string(), "$0.3");
    assert_eq!(meter.stats().dropped, 1);
    assert!(meter.flush().is_err());
    let summary = call.finalize(Outcome::Completed)?;
    assert_eq!(summary.total.to_string(), "$0.3");
    assert_eq!(summary.dropped_events, 1);
    Ok(())
}
