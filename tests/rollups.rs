//! Rollups are exactly the sums of the events they roll up, for every scope, whatever the workload:
//! several users and tenants, dropped events, late events, reused call ids.

mod common;

use callmeter::{CallInfo, Outcome, TokenUsage};
use common::{Db, TestResult};
use proptest::prelude::*;
use rusqlite::Connection;

/// Every rollup row, and the same rows computed from the events, sorted.
fn both(conn: &Connection) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let read = |sql: &str| -> Vec<Vec<String>> {
        let mut stmt = conn.prepare(sql).expect(sql);
        let n = stmt.column_count();
        let mut rows: Vec<Vec<String>> = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect()
            })
            .expect(sql)
            .collect::<Result<_, _>>()
            .expect(sql);
        rows.sort();
        rows
    };
    let rollups = read(
        "SELECT scope, subject, period, category, provider, cost_nanos, events, tokens, characters,
                time_ms FROM rollups",
    );
    let sums = "e.category, e.provider, SUM(e.cost_nanos),
        SUM(CASE WHEN e.kind = 'coalesced' THEN CAST(e.quantity AS INTEGER) ELSE 1 END),
        SUM(CASE WHEN e.unit = 'token' THEN CAST(e.quantity AS INTEGER) ELSE 0 END),
        SUM(CASE WHEN e.unit = 'character' THEN CAST(e.quantity AS INTEGER) ELSE 0 END),
        SUM(CASE WHEN e.unit = 'second' THEN CAST(ROUND(e.quantity * 1000) AS INTEGER) ELSE 0 END)";
    let day = "strftime('%Y-%m-%d', e.created_at / 1000, 'unixepoch')";
    let month = "strftime('%Y-%m', e.created_at / 1000, 'unixepoch')";
    let from = "FROM cost_events e JOIN calls c ON c.call_ref = e.call_ref";
    let expected = read(&format!(
        "SELECT 'call', c.call_id, '', {sums} {from} GROUP BY c.call_id, e.category, e.provider
         UNION ALL
         SELECT 'user_day', c.user_id, {day}, {sums} {from} WHERE c.user_id IS NOT NULL
             GROUP BY c.user_id, {day}, e.category, e.provider
         UNION ALL
         SELECT 'user_month', c.user_id, {month}, {sums} {from} WHERE c.user_id IS NOT NULL
             GROUP BY c.user_id, {month}, e.category, e.provider
         UNION ALL
         SELECT 'tenant_day', c.tenant_id, {day}, {sums} {from} WHERE c.tenant_id IS NOT NULL
             GROUP BY c.tenant_id, {day}, e.category, e.provider
         UNION ALL
         SELECT 'platform_day', '', {day}, {sums} {from} GROUP BY {day}, e.category, e.provider"
    ));
    (rollups, expected)
}

#[derive(Clone, Debug)]
enum Step {
    Tts(u64),
    Stt(u32),
    Llm(u32, u32),
    Duration(u32),
    Unknown(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1..5_000_u64).prop_map(Step::Tts),
        (1..120_000_u32).prop_map(Step::Stt),
        (1..20_000_u32, 1..2_000_u32).prop_map(|(i, o)| Step::Llm(i, o)),
        (1..600_000_u32).prop_map(Step::Duration),
        (1..100_u64).prop_map(Step::Unknown),
    ]
}

fn run(call: &callmeter::CallCostTracker, step: &Step) {
    let _ = match step {
        Step::Tts(n) => call.track_tts("elevenlabs", "eleven_turbo_v2_5", *n),
        Step::Stt(ms) => call.track_stt("deepgram", "nova-2", f64::from(*ms) / 1000.0),
        Step::Llm(i, o) => call.track_inference(
            "openai",
            "gpt-4o-mini",
            TokenUsage::new(u64::from(*i), u64::from(*o)),
        ),
        Step::Duration(ms) => call.track_duration("twilio", "outbound-us", f64::from(*ms) / 1000.0),
        Step::Unknown(n) => call.track_tts("nobody", "nothing", *n),
    };
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn rollups_are_the_sums_of_their_events(
        calls in proptest::collection::vec(
            (0..3_u8, 0..2_u8, proptest::collection::vec(step(), 1..30)),
            1..8,
        ),
        tiny_queue in any::<bool>(),
        reuse in any::<bool>(),
    ) {
        let db = Db::new();
        let open = || {
            let b = db.builder();
            // A one-slot queue drops most events: their cost arrives as coalesced rows.
            let b = if tiny_queue { b.queue_capacity(1) } else { b };
            b.open().expect("open")
        };
        let start = |meter: &callmeter::Meter, i: usize, user: u8, tenant: u8| {
            meter
                .start_call(
                    CallInfo::new(format!("c{i}"))
                        .user(format!("u{user}"))
                        .tenant(format!("t{tenant}")),
                )
                .expect("start")
        };
        let (meter, guard) = open();
        for (i, (user, tenant, steps)) in calls.iter().enumerate() {
            let call = start(&meter, i, *user, *tenant);
            for s in steps {
                run(&call, s);
            }
            call.finalize(Outcome::Completed).expect("finalize");
            if let Some(s) = steps.first() {
                run(&call, s); // late
            }
        }
        guard.shutdown().expect("shutdown");
        if reuse {
            // The same ids again: their events collide with the rows already there.
            let (meter, guard) = open();
            for (i, (user, tenant, steps)) in calls.iter().enumerate() {
                let call = start(&meter, i, *user, *tenant);
                for s in steps.iter().rev() {
                    run(&call, s);
                }
            }
            guard.shutdown().expect("shutdown");
        }
        let (rollups, expected) = both(&db.read());
        prop_assert!(!rollups.is_empty());
        prop_assert_eq!(rollups, expected);
    }
}

#[test]
fn a_call_s_rollup_has_its_categories_and_quantities() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db.open();
    let call = meter.start_call(CallInfo::new("r1").user("u").tenant("t"))?;
    call.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?;
    call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(40_000, 10_000))?;
    call.track_duration("twilio", "outbound-us", 300.0)?;
    call.finalize(Outcome::Completed)?;
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    let rows: Vec<(String, i64, i64, i64, i64)> = conn
        .prepare(
            "SELECT category, cost_nanos, tokens, characters, time_ms FROM rollups
             WHERE scope = 'call' AND subject = 'r1' ORDER BY category",
        )?
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        rows,
        [
            ("llm".to_string(), 5_000_000, 50_000, 0, 0),
            ("telephony".to_string(), 70_000_000, 0, 0, 300_000),
            ("tts".to_string(), 300_000_000, 0, 2_000, 0),
        ]
    );
    Ok(())
}
