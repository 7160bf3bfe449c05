//! The fleet: meters with files of their own ship to one PostgreSQL, exactly once.
//!
//! These tests need a PostgreSQL server: `bash .ci/with-postgres cargo test --features postgres --test
//! fleet` starts a throwaway one (`.ci/run` does). Without one each test says loudly that it did not
//! run; under CI that is a failure.

#[cfg(not(feature = "postgres"))]
#[test]
#[allow(clippy::print_stderr, reason = "a test that cannot run must say so")]
fn fleet_tests_need_the_postgres_feature() {
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"\n!!! NOT RUN: the fleet tests (tests/fleet.rs) need the `postgres` feature and a server: \
          `bash .ci/with-postgres cargo test --features postgres --test fleet`\n\n",
    );
}

#[cfg(feature = "postgres")]
mod common;

#[cfg(feature = "postgres")]
mod fleet {
    use std::collections::BTreeMap;
    use std::path::Path;

    use callmeter::{CallInfo, CallSummary, Meter, Stats, TokenUsage};

    use crate::common::TestResult;
    use crate::common::pg::FleetDb;

    type Totals = BTreeMap<String, i64>;

    /// A meter of its own (file, server name) shipping to `fleet`, running `calls` calls whose ids
    /// are `prefix-N` on behalf of users `u0..u4` and tenants `t0`, `t1`; answers each call's summary.
    fn run_server(
        fleet: &FleetDb,
        file: &Path,
        server: &str,
        prefix: &str,
        calls: usize,
    ) -> Result<(Vec<CallSummary>, Stats), Box<dyn std::error::Error + Send + Sync>> {
        let (meter, guard) = Meter::builder()
            .path(file)
            .postgres(&fleet.url)
            .server(server)
            .open()?;
        let mut summaries = Vec::new();
        for i in 0..calls {
            let call = meter.start_call(
                CallInfo::new(format!("{prefix}-{i}"))
                    .user(format!("u{}", i % 5))
                    .tenant(format!("t{}", i % 2)),
            )?;
            for turn in 0..(5 + i % 7) {
                call.track_stt("deepgram", "nova-2", 2.5 + turn as f64)?;
                call.track_inference(
                    "cerebras",
                    "llama3.1-8b",
                    TokenUsage::new(900 + 13 * turn as u64, 120),
                )?;
                call.track_tts("elevenlabs", "eleven_turbo_v2_5", 140 + 3 * turn as u64)?;
            }
            call.track_duration("twilio", "outbound-us", 30.0 + i as f64)?;
            summaries.push(call.finalize(callmeter::Outcome::Completed)?);
        }
        let stats = guard.shutdown()?;
        Ok((summaries, stats))
    }

    fn nanos(s: &CallSummary) -> i64 {
        s.total.to_nanos().expect("a call's total fits")
    }

    /// Sums per key of the fleet's rows.
    fn grouped(fleet: &FleetDb, sql: &str) -> Totals {
        fleet
            .client()
            .query(sql, &[])
            .expect(sql)
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
            .collect()
    }

    #[test]
    fn three_servers_add_up_exactly_in_the_fleet_database() -> TestResult {
        let Some(fleet) = FleetDb::new("three_servers_add_up_exactly_in_the_fleet_database") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = ["a", "b", "c"]
                .iter()
                .map(|server| {
                    let file = dir.path().join(format!("{server}.db"));
                    let fleet = &fleet;
                    s.spawn(move || run_server(fleet, &file, server, server, 40))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        let mut by_call = Totals::new();
        let mut by_user = Totals::new();
        let mut by_tenant = Totals::new();
        let mut events = 0;
        for r in results {
            let (summaries, stats) = r.map_err(|e| e.to_string())?;
            assert_eq!(stats.ship_backlog, 0, "{stats:?}");
            assert_eq!(stats.shipped, stats.persisted, "{stats:?}");
            assert_eq!(stats.ship_duplicates, 0);
            events += stats.persisted;
            for s in &summaries {
                by_call.insert(s.call_id.clone(), nanos(s));
                *by_user
                    .entry(s.user_id.clone().unwrap_or_default())
                    .or_default() += nanos(s);
                *by_tenant
                    .entry(s.tenant_id.clone().unwrap_or_default())
                    .or_default() += nanos(s);
            }
        }
        let platform: i64 = by_call.values().sum();
        assert_eq!(by_call.len(), 120);
        assert_eq!(
            grouped(&fleet, "SELECT call_id, total_cost_nanos FROM calls"),
            by_call
        );
        assert_eq!(
            grouped(
                &fleet,
                "SELECT call_id, SUM(cost_nanos)::bigint FROM cost_events GROUP BY call_id"
            ),
            by_call
        );
        assert_eq!(
            grouped(
                &fleet,
                "SELECT subject, SUM(cost_nanos)::bigint FROM rollups WHERE scope = 'user_month'
                 GROUP BY subject"
            ),
            by_user
        );
        assert_eq!(
            grouped(
                &fleet,
                "SELECT subject, SUM(cost_nanos)::bigint FROM rollups WHERE scope = 'tenant_day'
                 GROUP BY subject"
            ),
            by_tenant
        );
        assert_eq!(
            fleet.int(
                "SELECT SUM(cost_nanos)::bigint FROM rollups WHERE scope = 'platform_day'",
                &[]
            ),
            platform
        );
        assert_eq!(
            fleet.int("SELECT COUNT(*) FROM cost_events", &[]),
            i64::try_from(events)?
        );
        assert_eq!(
            grouped(&fleet, "SELECT server, COUNT(*) FROM calls GROUP BY server"),
            [("a", 40), ("b", 40), ("c", 40)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect()
        );
        assert_eq!(
            fleet.int(
                "SELECT COUNT(*) FROM calls WHERE status = 'completed' AND ended_at IS NOT NULL",
                &[]
            ),
            120
        );
        Ok(())
    }

    #[test]
    fn the_same_outbox_shipped_twice_counts_once() -> TestResult {
        let Some(fleet) = FleetDb::new("the_same_outbox_shipped_twice_counts_once") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("a.db");
        let (summaries, first) =
            run_server(&fleet, &file, "a", "again", 10).map_err(|e| e.to_string())?;
        let total: i64 = summaries.iter().map(nanos).sum();
        assert_eq!(first.shipped, first.persisted);
        // The file forgets it shipped anything (as if every acknowledgement had been lost).
        rusqlite::Connection::open(&file)?.execute_batch(
            "UPDATE outbox SET events_shipped = 0, changes_shipped = 0;
             INSERT INTO call_changes (call_ref) SELECT call_ref FROM calls;",
        )?;
        let (meter, guard) = Meter::builder()
            .path(&file)
            .postgres(&fleet.url)
            .server("a")
            .open()?;
        drop(meter);
        let second = guard.shutdown()?;
        assert_eq!(second.shipped, 0, "{second:?}");
        assert_eq!(second.ship_duplicates, first.persisted, "{second:?}");
        assert_eq!(second.ship_backlog, 0);
        assert_eq!(
            fleet.int("SELECT SUM(total_cost_nanos)::bigint FROM calls", &[]),
            total
        );
        assert_eq!(
            fleet.int("SELECT SUM(cost_nanos)::bigint FROM cost_events", &[]),
            total
        );
        assert_eq!(
            fleet.int(
                "SELECT SUM(cost_nanos)::bigint FROM rollups WHERE scope = 'platform_day'",
                &[]
            ),
            total
        );
        Ok(())
    }

    #[test]
    fn a_call_moved_to_another_server_is_one_call_with_both_usages() -> TestResult {
        let Some(fleet) = FleetDb::new("a_call_moved_to_another_server") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let (a, _) = run_server(&fleet, &dir.path().join("a.db"), "a", "moved", 1)
            .map_err(|e| e.to_string())?;
        let (b, _) = run_server(&fleet, &dir.path().join("b.db"), "b", "moved", 1)
            .map_err(|e| e.to_string())?;
        let both = nanos(&a[0]) + nanos(&b[0]);
        assert_eq!(fleet.int("SELECT COUNT(*) FROM calls", &[]), 1);
        assert_eq!(
            fleet.int(
                "SELECT total_cost_nanos FROM calls WHERE call_id = 'moved-0'",
                &[]
            ),
            both
        );
        assert_eq!(
            fleet.int(
                "SELECT SUM(cost_nanos)::bigint FROM cost_events WHERE call_id = 'moved-0'",
                &[]
            ),
            both
        );
        assert_eq!(
            fleet.int("SELECT COUNT(DISTINCT server) FROM cost_events", &[]),
            2
        );
        assert_eq!(fleet.int("SELECT COUNT(*) FROM call_segments", &[]), 2);
        Ok(())
    }
}
