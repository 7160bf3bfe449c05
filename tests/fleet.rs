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

    /// A part holding events the fleet has and events it has not (an acknowledgement lost, then more
    /// written) is sent plainly first, refused, and sent again skipping the ones held.
    #[test]
    fn a_shipment_half_held_adds_only_the_new_half() -> TestResult {
        let Some(fleet) = FleetDb::new("a_shipment_half_held_adds_only_the_new_half") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("a.db");
        let (old, first) = run_server(&fleet, &file, "a", "old", 6).map_err(|e| e.to_string())?;
        // More calls, written while no fleet is configured: they wait in the file.
        let (meter, guard) = Meter::builder().path(&file).open()?;
        let mut new = Vec::new();
        for i in 0..4 {
            let call = meter.start_call(CallInfo::new(format!("new-{i}")).user("u9"))?;
            call.track_stt("deepgram", "nova-2", 3.0 + f64::from(i))?;
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", 200)?;
            new.push(call.finalize(callmeter::Outcome::Completed)?);
        }
        let written = guard.shutdown()?.persisted;
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
        assert_eq!(second.shipped, written, "{second:?}");
        assert_eq!(second.ship_duplicates, first.persisted, "{second:?}");
        let total: i64 = old.iter().chain(&new).map(nanos).sum();
        assert_eq!(
            fleet.int("SELECT SUM(total_cost_nanos)::bigint FROM calls", &[]),
            total
        );
        assert_eq!(
            fleet.int(
                "SELECT SUM(cost_nanos)::bigint FROM rollups WHERE scope = 'platform_day'",
                &[]
            ),
            total
        );
        assert_eq!(
            fleet.int(
                "SELECT SUM(cost_nanos)::bigint FROM rollups WHERE scope = 'user_day' AND subject = 'u9'",
                &[]
            ),
            new.iter().map(nanos).sum::<i64>()
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

    /// A meter of the fleet with a daily limit `limit` on every user, each call estimated at `each`.
    fn limited(
        fleet: &FleetDb,
        file: &Path,
        server: &str,
        limit: callmeter::Usd,
        each: callmeter::Usd,
    ) -> callmeter::Result<(Meter, callmeter::MeterGuard)> {
        Meter::builder()
            .path(file)
            .postgres(&fleet.url)
            .server(server)
            .fleet_refresh(std::time::Duration::from_millis(200))
            .user_limits(callmeter::Limits::none().daily_cost(limit))
            .estimated_call_cost(each)
            .open()
    }

    /// One call of `user` costing what 2 000 ElevenLabs characters cost; `None` when not admitted.
    fn spend_once(meter: &Meter, id: String, user: &str) -> callmeter::Result<Option<i64>> {
        let info = CallInfo::new(id).user(user);
        if !meter.admit(&info).allowed {
            return Ok(None);
        }
        let call = meter.start_call(info)?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?;
        Ok(Some(nanos(&call.finalize(callmeter::Outcome::Completed)?)))
    }

    /// What one [`spend_once`] call costs, measured on a meter of its own in `dir`.
    fn one_call_cost(dir: &Path) -> Result<i64, Box<dyn std::error::Error>> {
        let (meter, guard) = Meter::builder().path(dir.join("probe.db")).open()?;
        let cost = spend_once(&meter, "probe".into(), "nobody")?.ok_or("admitted")?;
        drop(meter);
        guard.shutdown()?;
        Ok(cost)
    }

    #[test]
    fn a_limit_reached_on_one_server_refuses_calls_on_another() -> TestResult {
        let Some(fleet) = FleetDb::new("a_limit_reached_on_one_server") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let probe = one_call_cost(dir.path())?;
        let each = callmeter::Usd::from_nanos(probe);
        let limit = callmeter::Usd::from_nanos(probe * 10);
        let (a, guard_a) = limited(&fleet, &dir.path().join("a.db"), "a", limit, each)?;
        let (b, guard_b) = limited(&fleet, &dir.path().join("b.db"), "b", limit, each)?;
        // B knows the user before A spends: its counter exists and is refreshed.
        assert!(b.admit(&CallInfo::new("x").user("u")).allowed);
        let mut spent_on_a = 0;
        for i in 0..10 {
            spent_on_a += spend_once(&a, format!("a-{i}"), "u")?.ok_or("A admits its ten")?;
        }
        assert_eq!(spent_on_a, probe * 10);
        assert!(
            spend_once(&a, "a-10".into(), "u")?.is_none(),
            "A is at the limit"
        );
        // Once A's calls are shipped and B has refreshed, B sees the whole fleet's spend.
        let start = std::time::Instant::now();
        let seen = loop {
            let seen: i64 = b
                .limit_status(callmeter::control::SubjectKind::User, "u")
                .iter()
                .map(|s| s.spent.to_nanos().unwrap_or(0))
                .max()
                .unwrap_or(0);
            if seen >= spent_on_a || start.elapsed() > std::time::Duration::from_secs(30) {
                break seen;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(seen, spent_on_a, "B's view of the user's day is A's spend");
        assert!(
            spend_once(&b, "b-0".into(), "u")?.is_none(),
            "B refuses the user too"
        );
        // Another user is untouched.
        assert!(spend_once(&b, "b-1".into(), "v")?.is_some());
        drop((a, b));
        guard_a.shutdown()?;
        guard_b.shutdown()?;
        Ok(())
    }

    #[test]
    #[allow(
        clippy::print_stdout,
        reason = "the measured overshoot is part of the test's report"
    )]
    fn three_servers_overshoot_a_shared_limit_within_the_bound() -> TestResult {
        let Some(fleet) = FleetDb::new("three_servers_overshoot_a_shared_limit") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let probe = one_call_cost(dir.path())?;
        const SERVERS: i64 = 3;
        const LIMIT_CALLS: i64 = 40;
        let pace = std::time::Duration::from_millis(50);
        let each = callmeter::Usd::from_nanos(probe);
        let limit = callmeter::Usd::from_nanos(probe * LIMIT_CALLS);
        let spent: Vec<i64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..SERVERS)
                .map(|n| {
                    let file = dir.path().join(format!("s{n}.db"));
                    let fleet = &fleet;
                    s.spawn(move || -> Result<i64, String> {
                        let (meter, guard) = limited(fleet, &file, &format!("s{n}"), limit, each)
                            .map_err(|e| e.to_string())?;
                        let mut spent = 0;
                        for i in 0..200 {
                            match spend_once(&meter, format!("s{n}-{i}"), "u")
                                .map_err(|e| e.to_string())?
                            {
                                Some(cost) => spent += cost,
                                None => break,
                            }
                            std::thread::sleep(pace);
                        }
                        drop(meter);
                        guard.shutdown().map_err(|e| e.to_string())?;
                        Ok(spent)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect::<Result<_, _>>()
        })?;
        let total: i64 = spent.iter().sum();
        // The bound (guide, "Fleets"): each server sees the others' spend at most the refresh
        // interval plus their shipping delay late, and a call admitted is a call spent, so the fleet
        // can exceed the limit by (servers - 1) x each server's spend rate x that lag, plus one call
        // per server. Here: 200 ms refresh, a generous 500 ms shipping delay on a loaded machine, one
        // call per 50 ms per server.
        let lag_calls = (200 + 500) / 50;
        let bound = probe * (LIMIT_CALLS + (SERVERS - 1) * lag_calls + SERVERS);
        println!(
            "fleet limit: {SERVERS} servers, limit {LIMIT_CALLS} calls, spent {:.1} calls \
             (per server {:?}), bound {} calls; without the fleet each server would spend {LIMIT_CALLS}",
            total as f64 / probe as f64,
            spent.iter().map(|s| s / probe).collect::<Vec<_>>(),
            bound / probe
        );
        assert!(
            total >= probe * (LIMIT_CALLS - SERVERS),
            "the limit was reached"
        );
        assert!(
            total <= bound,
            "overshoot beyond the bound: {total} > {bound}"
        );
        assert!(
            total < probe * LIMIT_CALLS * SERVERS,
            "the servers did not each spend the limit"
        );
        assert_eq!(
            fleet.int(
                "SELECT SUM(total_cost_nanos)::bigint FROM calls WHERE user_id = 'u'",
                &[]
            ),
            total
        );
        Ok(())
    }

    #[test]
    fn a_provider_quota_counts_the_other_servers_usage() -> TestResult {
        let Some(fleet) = FleetDb::new("a_provider_quota_counts_the_other_servers") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let quota = || callmeter::Quota::monthly("elevenlabs").units(10_000);
        // Server A uses 7 000 of the 10 000 characters: under the 80 % warning.
        let (a, guard_a) = Meter::builder()
            .path(dir.path().join("a.db"))
            .postgres(&fleet.url)
            .server("a")
            .quota(quota())
            .open()?;
        let call = a.start_call(CallInfo::new("a-0"))?;
        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 7_000)?;
        call.finalize(callmeter::Outcome::Completed)?;
        drop(a);
        let stats_a = guard_a.shutdown()?;
        assert_eq!(stats_a.alerts_raised, 0, "A alone is under the warning");
        assert_eq!(stats_a.shipped, stats_a.persisted);
        // Server B's own usage stays far under 80 %: only the fleet's total can reach it.
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = std::sync::Mutex::new(tx);
        let (b, guard_b) = Meter::builder()
            .path(dir.path().join("b.db"))
            .postgres(&fleet.url)
            .server("b")
            .fleet_refresh(std::time::Duration::from_millis(100))
            .quota(quota())
            .alert_sink(move |alert: &callmeter::Alert| {
                if let Ok(t) = tx.lock() {
                    let _ = t.send(alert.clone());
                }
            })
            .open()?;
        let mut used_on_b = 0;
        let alert = loop {
            let call = b.start_call(CallInfo::new(format!("b-{used_on_b}")))?;
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
            call.finalize(callmeter::Outcome::Completed)?;
            used_on_b += 100;
            b.flush()?;
            if let Ok(alert) = rx.recv_timeout(std::time::Duration::from_millis(50)) {
                break alert;
            }
            assert!(
                used_on_b < 1_000,
                "B raised no quota alert at {used_on_b} characters of its own"
            );
        };
        assert_eq!(alert.kind, callmeter::AlertKind::QuotaWarning);
        let usage = alert.usage.ok_or("a units quota reports its units")?;
        assert!(
            usage.used >= rust_decimal::Decimal::from(8_000),
            "the alert counts the fleet: {usage:?}"
        );
        drop(b);
        guard_b.shutdown()?;
        Ok(())
    }

    /// With the queue full, dropped events reach the file and the fleet as coalesced rows: both count
    /// the events tracked in `calls.event_count`, as the call's summary does.
    #[test]
    fn a_call_with_dropped_events_counts_the_same_in_the_file_and_the_fleet() -> TestResult {
        let Some(fleet) = FleetDb::new("dropped_events_count_the_same") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("a.db");
        let (meter, guard) = Meter::builder()
            .path(&file)
            .queue_capacity(1)
            .poll_interval(std::time::Duration::from_secs(5))
            .postgres(&fleet.url)
            .server("a")
            .open()?;
        let call = meter.start_call(CallInfo::new("dropped"))?;
        for _ in 0..100 {
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
        }
        let summary = call.finalize(callmeter::Outcome::Completed)?;
        assert!(summary.dropped_events > 0, "the queue was full");
        assert_eq!(summary.events, 100);
        drop(call);
        drop(meter);
        let stats = guard.shutdown()?;
        assert_eq!(stats.ship_backlog, 0, "everything shipped");
        let sql = "SELECT event_count, total_cost_nanos FROM calls WHERE call_id = 'dropped'";
        let in_file: (i64, i64) = rusqlite::Connection::open(&file)?
            .query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let row = fleet.client().query_one(sql, &[])?;
        let in_fleet: (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(in_file, (100, nanos(&summary)));
        assert_eq!(in_fleet, in_file);
        // Every export of the calls reads the same from both.
        let today = chrono::Utc::now().date_naive();
        let (from, to) = (
            today.pred_opt().unwrap_or(today),
            today.succ_opt().unwrap_or(today),
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let local = callmeter::Reports::open(&file)?.export_calls_csv(from, to, &mut a)?;
        let remote =
            callmeter::Reports::postgres(&fleet.url)?.export_calls_csv(from, to, &mut b)?;
        assert_eq!(
            (local, String::from_utf8(a)?),
            (remote, String::from_utf8(b)?)
        );
        Ok(())
    }

    /// While the fleet database is unreachable and the shipper backs off, the backlog it reports
    /// follows the events committed, before the next attempt to ship them.
    #[test]
    fn the_backlog_is_counted_while_shipping_backs_off() -> TestResult {
        use std::time::{Duration, Instant};

        let dir = tempfile::tempdir()?;
        // Nothing listens on a port just freed: every attempt fails at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let (meter, guard) = Meter::builder()
            .path(dir.path().join("a.db"))
            .postgres(format!("postgres://callmeter@127.0.0.1:{port}/none"))
            .open()?;
        // An event to ship: the shipper tries only when there is one.
        let first = meter.start_call(CallInfo::new("first"))?;
        first.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
        first.finalize(callmeter::Outcome::Completed)?;
        drop(first);
        meter.flush()?;
        let patience = Instant::now() + Duration::from_secs(60);
        // Five failures: the backoff is now over a second long.
        while meter.stats().ship_errors < 5 {
            assert!(Instant::now() < patience, "the shipper never tried");
            std::thread::sleep(Duration::from_millis(20));
        }
        let call = meter.start_call(CallInfo::new("waiting"))?;
        for _ in 0..500 {
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
        }
        call.finalize(callmeter::Outcome::Completed)?;
        meter.flush()?;
        let before = meter.stats();
        assert_eq!(before.persisted, 501);
        // Either the backlog shows the 500 events, or the next attempt came first (the defect).
        let stats = loop {
            let stats = meter.stats();
            if stats.ship_backlog == stats.persisted || stats.ship_errors > before.ship_errors {
                break stats;
            }
            assert!(Instant::now() < patience, "neither happened: {stats:?}");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(
            (stats.ship_backlog, stats.ship_errors),
            (501, before.ship_errors),
            "the backlog was counted during the backoff"
        );
        drop(call);
        drop(meter);
        guard.shutdown()?;
        Ok(())
    }

    /// Every report a file gives, the fleet database gives the same (one server: the same data).
    #[test]
    fn every_report_reads_the_same_from_the_fleet_database() -> TestResult {
        use callmeter::Reports;
        use callmeter::control::SubjectKind;
        use callmeter::report::{GroupBy, Substitution};

        let Some(fleet) = FleetDb::new("every_report_reads_the_same") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("a.db");
        let (meter, guard) = Meter::builder()
            .path(&file)
            .postgres(&fleet.url)
            .server("a")
            .open()?;
        for i in 0..30_u64 {
            let call = meter.start_call(
                CallInfo::new(format!("r-{i}"))
                    .user(format!("u{}", i % 4))
                    .tenant(format!("t{}", i % 3))
                    .session_kind(["phone", "web"][(i % 2) as usize])
                    .metadata("plan", ["basic", "pro", "max"][(i % 3) as usize]),
            )?;
            call.track_duration("twilio", "outbound-us", 40.0 + i as f64)?;
            call.track_stt("deepgram", "nova-2", 12.5)?;
            call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(1_000 + i, 200))?;
            call.agent("critic")?
                .track_tts("elevenlabs", "eleven_turbo_v2_5", 300 + i)?;
            if i % 3 == 0 {
                // A request that failed: its reservation is recorded at its estimate.
                drop(call.reserve_tts("elevenlabs", "eleven_turbo_v2_5", 100 + i)?);
            }
            if i % 5 == 0 {
                call.track_payment(
                    "stripe",
                    "card-not-present",
                    callmeter::Usd::from_nanos(4_990_000_000),
                )?;
            }
            if i % 7 == 0 {
                call.finalize(callmeter::Outcome::failed("hung up"))?;
            } else {
                call.finalize(callmeter::Outcome::Completed)?;
            }
        }
        drop(meter);
        let stats = guard.shutdown()?;
        assert_eq!(stats.shipped, stats.persisted);
        let local = Reports::open(&file)?;
        let remote = Reports::postgres(&fleet.url)?;
        let today = chrono::Utc::now().date_naive();
        let (from, to) = (
            today.pred_opt().unwrap_or(today),
            today.succ_opt().unwrap_or(today),
        );
        let same = |what: &str, a: serde_json::Value, b: serde_json::Value| {
            assert_eq!(a, b, "{what}: file and fleet differ");
        };
        let json = |v: &dyn erased::Json| v.json();
        same(
            "platform",
            json(&local.platform(from, to)?),
            json(&remote.platform(from, to)?),
        );
        same(
            "endings",
            json(&local.endings(from, to)?),
            json(&remote.endings(from, to)?),
        );
        same(
            "cost spread",
            json(&local.cost_spread(from, to)?),
            json(&remote.cost_spread(from, to)?),
        );
        same(
            "against the period before",
            json(&local.against_previous(from, to)?),
            json(&remote.against_previous(from, to)?),
        );
        // What the providers billed, imported into each: the same reconciliation.
        let billed: Vec<callmeter::adapters::BilledLine> = (0..10)
            .map(|i| {
                callmeter::adapters::BilledLine::new(
                    "twilio",
                    format!("r-{i}"),
                    today,
                    "call",
                    callmeter::Usd::from_nanos(28_000_000),
                )
                .call(format!("r-{i}"))
            })
            .chain([
                callmeter::adapters::BilledLine::new(
                    "deepgram",
                    "day",
                    today,
                    "nova-2",
                    callmeter::Usd::from_nanos(1_000_000),
                ),
                callmeter::adapters::BilledLine::new(
                    "cerebras",
                    "day",
                    today,
                    "llama",
                    callmeter::Usd::from_nanos(5_000),
                )
                .model("llama3.1-8b"),
            ])
            .collect();
        let added = callmeter::Ledger::open(&file)?.record(&billed)?.added;
        let mut fleet_ledger = callmeter::Ledger::postgres(&fleet.url)?;
        assert_eq!(fleet_ledger.record(&billed)?.added, added);
        assert_eq!(
            fleet_ledger.record(&billed)?.unchanged,
            billed.len(),
            "idempotent"
        );
        let counted = [callmeter::adapters::BilledUsage::new(
            "deepgram",
            "day",
            today,
            callmeter::Unit::Second,
            rust_decimal::Decimal::new(3_750, 1),
        )];
        callmeter::Ledger::open(&file)?.record_usage(&counted)?;
        assert_eq!(fleet_ledger.record_usage(&counted)?.added, 1);
        let options = callmeter::report::ReconcileOptions::default();
        let reconciled = local.reconcile(from, to, &options)?;
        assert_eq!(reconciled.usage.len(), 1);
        assert_eq!(
            reconciled.usage[0].computed,
            rust_decimal::Decimal::new(375, 0),
            "30 × 12.5 s"
        );
        assert_eq!(
            reconciled.lines.len(),
            30 + 1 + 1,
            "every call of twilio, a day of each other"
        );
        same(
            "reconciliation",
            json(&reconciled),
            json(&remote.reconcile(from, to, &options)?),
        );
        for group in [
            GroupBy::User,
            GroupBy::Tenant,
            GroupBy::SessionKind,
            GroupBy::Metadata("plan".into()),
        ] {
            // (by server: a file is one unnamed group, the fleet names it: below)
            same(
                "calls_by",
                json(&local.calls_by(group.clone(), from, to)?),
                json(&remote.calls_by(group, from, to)?),
            );
        }
        let (file_servers, fleet_servers) = (
            local.calls_by(GroupBy::Server, from, to)?,
            remote.calls_by(GroupBy::Server, from, to)?,
        );
        assert_eq!(file_servers.len(), 1);
        assert_eq!(fleet_servers.len(), 1);
        assert_eq!(file_servers[0].name, None);
        assert_eq!(fleet_servers[0].name.as_deref(), Some("a"));
        assert_eq!(
            (file_servers[0].calls, file_servers[0].cost),
            (fleet_servers[0].calls, fleet_servers[0].cost)
        );
        for (kind, id) in [(SubjectKind::User, "u1"), (SubjectKind::Tenant, "t2")] {
            same(
                "spend",
                json(&local.spend(kind, id, today)?),
                json(&remote.spend(kind, id, today)?),
            );
            same(
                "calls_of",
                json(&local.calls_of(kind, id, from, to)?),
                json(&remote.calls_of(kind, id, from, to)?),
            );
        }
        same(
            "call",
            json(&local.call("r-3")?),
            json(&remote.call("r-3")?),
        );
        let shipped = remote.call("r-3")?.expect("r-3 in the fleet");
        assert_eq!(
            shipped.events.iter().filter(|e| e.estimated).count(),
            1,
            "the estimate is shipped marked"
        );
        same(
            "no call",
            json(&local.call("none")?),
            json(&remote.call("none")?),
        );
        same(
            "cost_by_hour",
            json(&local.cost_by_hour(from, to)?),
            json(&remote.cost_by_hour(from, to)?),
        );
        same(
            "top_calls",
            json(&local.top_calls(from, to, 5)?),
            json(&remote.top_calls(from, to, 5)?),
        );
        same(
            "economics",
            json(&local.economics(from, to, &[])?),
            json(&remote.economics(from, to, &[])?),
        );
        let catalog = callmeter::Catalog::builtin();
        let swap = [Substitution::new(
            "cerebras",
            "llama3.1-8b",
            "openai",
            "gpt-4o-mini",
        )];
        same(
            "what_if",
            json(&local.what_if(from, to, &catalog, &swap)?),
            json(&remote.what_if(from, to, &catalog, &swap)?),
        );
        let text = |f: &dyn Fn(&Reports, &mut Vec<u8>) -> callmeter::Result<u64>| {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let (n, m) = (f(&local, &mut a), f(&remote, &mut b));
            (
                n.map_err(|e| e.to_string()),
                m.map_err(|e| e.to_string()),
                a,
                b,
            )
        };
        let (n, m, a, b) = text(&|r, out| r.export_calls_csv(from, to, out));
        assert_eq!(
            (n?, String::from_utf8(a)?),
            (m?, String::from_utf8(b)?),
            "calls CSV"
        );
        let (n, m, a, b) = text(&|r, out| r.export_jsonl(from, to, out));
        assert_eq!(
            (n?, String::from_utf8(a)?),
            (m?, String::from_utf8(b)?),
            "JSON Lines"
        );
        // The same page, but for its alerts and quotas: they stay in each server's file.
        let without = |page: String, id: &str| -> (String, String) {
            let open = format!("<section id=\"{id}\">");
            let start = page.find(&open).unwrap_or(0);
            let end = page[start..]
                .find("</section>")
                .map_or(start, |e| start + e + "</section>".len());
            (
                format!("{}{}", &page[..start], &page[end..]),
                page[start..end].to_owned(),
            )
        };
        let (file_page, _) = without(local.html(from, to, &[])?, "alerts");
        let (file_page, _) = without(file_page, "quotas");
        let (fleet_page, fleet_alerts) = without(remote.html(from, to, &[])?, "alerts");
        let (fleet_page, fleet_quotas) = without(fleet_page, "quotas");
        assert_eq!(file_page, fleet_page, "HTML report");
        for section in [fleet_alerts, fleet_quotas] {
            assert!(section.contains("each server keeps its own"), "{section}");
        }
        assert_eq!(remote.quotas(to)?, None, "a fleet holds no quotas");
        Ok(())
    }

    /// A fleet database of version 1 (before `billed` and `cost_events.estimated`) is read as
    /// having nothing billed and nothing estimated, and a ledger brings it to version 3.
    #[test]
    fn a_version_1_fleet_gains_the_billed_table() -> TestResult {
        let Some(fleet) = FleetDb::new("a_version_1_fleet_gains_billed") else {
            return Ok(());
        };
        drop(callmeter::Ledger::postgres(&fleet.url)?);
        fleet.client().batch_execute(
            "DROP TABLE billed; DROP TABLE billed_usage;
             ALTER TABLE cost_events DROP COLUMN estimated;
             UPDATE callmeter_schema SET version = 1",
        )?;
        let today = chrono::Utc::now().date_naive();
        let mut csv = Vec::new();
        callmeter::Reports::postgres(&fleet.url)?.export_events_csv(today, today, &mut csv)?;
        assert!(String::from_utf8(csv)?.starts_with("event_id,"));
        let options = callmeter::report::ReconcileOptions::default();
        let before = callmeter::Reports::postgres(&fleet.url)?.reconcile(today, today, &options)?;
        assert!(before.lines.is_empty());
        drop(callmeter::Ledger::postgres(&fleet.url)?);
        assert_eq!(
            fleet.int("SELECT CAST(version AS BIGINT) FROM callmeter_schema", &[]),
            3
        );
        assert_eq!(fleet.int("SELECT COUNT(*) FROM billed", &[]), 0);
        assert_eq!(
            fleet.int("SELECT COUNT(*) FROM cost_events WHERE estimated", &[]),
            0
        );
        Ok(())
    }

    /// `callmeter report --postgres URL`: the fleet by server, from the command line.
    #[cfg(feature = "cli")]
    #[test]
    fn the_command_line_reports_the_fleet_by_server() -> TestResult {
        let Some(fleet) = FleetDb::new("the_command_line_reports_the_fleet") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        let mut expected = Totals::new();
        for server in ["east", "west"] {
            let (summaries, _) = run_server(
                &fleet,
                &dir.path().join(format!("{server}.db")),
                server,
                server,
                3,
            )
            .map_err(|e| e.to_string())?;
            expected.insert(server.to_owned(), summaries.iter().map(nanos).sum());
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_callmeter"))
            .args([
                "report",
                "--postgres",
                &fleet.url,
                "--by",
                "server",
                "--json",
            ])
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)?;
        let got: Totals = rows
            .iter()
            .map(|r| {
                let name = r["name"].as_str().unwrap_or_default().to_owned();
                let cost: rust_decimal::Decimal = r["cost"]
                    .as_str()
                    .unwrap_or("0")
                    .parse()
                    .unwrap_or_default();
                let nanos = (cost * rust_decimal::Decimal::from(1_000_000_000_i64))
                    .try_into()
                    .unwrap_or(0_i64);
                (name, nanos)
            })
            .collect();
        assert_eq!(got, expected);
        let html = dir.path().join("fleet.html");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_callmeter"))
            .args(["report", "--postgres", &fleet.url, "--html"])
            .arg(&html)
            .output()?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(std::fs::read_to_string(&html)?.contains("<html"));
        Ok(())
    }

    /// Serialising any report for comparison.
    mod erased {
        pub(super) trait Json {
            fn json(&self) -> serde_json::Value;
        }

        impl<T: serde::Serialize> Json for T {
            fn json(&self) -> serde_json::Value {
                serde_json::to_value(self).expect("a report serialises")
            }
        }
    }
}

/// A connection string's password never shows: not in a report's or a ledger's error, not in the
/// shipper's last error, not in the command line's output. No server is needed: nothing listens
/// where these point.
#[cfg(feature = "postgres")]
mod secrets {
    const SECRET: &str = "s3cret";

    /// Every form `postgres` accepts, pointing at a port where nothing listens.
    fn forms() -> Vec<String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        vec![
            format!("postgres://alice:{SECRET}@127.0.0.1:{port}/meter"),
            format!("postgresql://alice@127.0.0.1:{port}/meter?password={SECRET}"),
            format!("host=127.0.0.1 port={port} user=alice password={SECRET} dbname=meter"),
            format!("host=127.0.0.1 port={port} user=alice password='{SECRET} x' dbname=meter"),
            format!("host=127.0.0.1 port={port} password='{SECRET}"),
        ]
    }

    /// The error, its debug form and every source.
    fn all_of(e: &callmeter::Error) -> String {
        let mut text = format!("{e} {e:?}");
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        text
    }

    #[test]
    fn reports_and_ledgers_never_show_the_password() {
        for conn in forms() {
            let errors = [
                callmeter::Reports::postgres(&conn).map(drop),
                callmeter::Ledger::postgres(&conn).map(drop),
            ];
            for e in errors {
                let text = all_of(&e.expect_err("nothing listens there"));
                assert!(!text.contains(SECRET), "{conn}: {text}");
            }
        }
    }

    #[test]
    fn the_shippers_last_error_never_shows_the_password() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        for (i, conn) in forms().into_iter().enumerate() {
            let (meter, guard) = callmeter::Meter::builder()
                .path(dir.path().join(format!("{i}.db")))
                .postgres(&conn)
                .open()?;
            let call = meter.start_call(callmeter::CallInfo::new("c"))?;
            call.track_tts("elevenlabs", "eleven_turbo_v2_5", 100)?;
            call.finalize(callmeter::Outcome::Completed)?;
            drop(call);
            meter.flush()?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while meter.stats().last_ship_error.is_none() {
                assert!(std::time::Instant::now() < deadline, "no attempt to ship");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let stats = meter.stats();
            let text = format!("{stats:?}");
            assert!(!text.contains(SECRET), "{conn}: {text}");
            drop(meter);
            if let Err(e) = guard.shutdown() {
                let text = all_of(&e);
                assert!(!text.contains(SECRET), "{conn}: {text}");
            }
        }
        Ok(())
    }

    #[cfg(feature = "cli")]
    #[test]
    fn the_command_line_never_shows_the_password() -> Result<(), Box<dyn std::error::Error>> {
        for conn in forms() {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_callmeter"))
                .args(["report", "--postgres", &conn])
                .output()?;
            assert!(!out.status.success());
            let said = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!said.contains(SECRET), "{conn}: {said}");
            assert!(
                said.contains("127.0.0.1") || said.contains("cannot be read"),
                "{said}"
            );
        }
        Ok(())
    }
}
