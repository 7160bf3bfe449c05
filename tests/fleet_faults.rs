//! The fleet under faults, against a real PostgreSQL (`CALLMETER_TEST_POSTGRES`; `.ci/with-postgres`
//! starts one, and `CALLMETER_TEST_PG_CTL`, `_PG_DATA`, `_PG_USER` let this test stop and start it):
//!
//! - a process tracking and shipping calls is killed with SIGKILL, and started again: its backlog
//!   ships, and nothing is counted twice;
//! - PostgreSQL stops for 20 s while calls are tracked, then starts again: the backlog drains, nothing
//!   is lost, and one alert said the backlog had grown older than its threshold.
//!
//! After each, every call's total in PostgreSQL equals its total in the SQLite file, and so does the
//! number of events. The test binary is its own child (`CALLMETER_FLEET_CHILD=<file>`). Runs without a
//! server say loudly that they did not run; under CI that is a failure.

#![allow(
    clippy::print_stdout,
    reason = "the child reports its finalized calls on stdout; the parent reports each scenario"
)]

#[cfg(not(feature = "postgres"))]
fn main() {
    // Straight to the process's stderr, like every test that cannot run.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"\n!!! NOT RUN: the fleet fault tests (tests/fleet_faults.rs) need the `postgres` feature and a \
          server: `bash .ci/with-postgres cargo test --features postgres --test fleet_faults`\n\n",
    );
}

#[cfg(feature = "postgres")]
mod common;

#[cfg(feature = "postgres")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    faults::main()
}

#[cfg(feature = "postgres")]
mod faults {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use callmeter::{CallInfo, Meter, Outcome, TokenUsage};
    use rusqlite::Connection;

    use crate::common::pg::{FleetDb, PgServer};

    type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

    pub(crate) fn main() -> Result<()> {
        if let Some(db) = std::env::var_os("CALLMETER_FLEET_CHILD") {
            let url = std::env::var("CALLMETER_FLEET_URL")?;
            return child(Path::new(&db), &url);
        }
        if let Some(fleet) = FleetDb::new("fleet_faults: killed_process_ships_its_backlog_once") {
            killed_process_ships_its_backlog_once(&fleet)?;
        }
        if let Some(fleet) = FleetDb::new("fleet_faults: postgres_outage_loses_nothing") {
            postgres_outage_loses_nothing(&fleet)?;
        }
        Ok(())
    }

    /// Tracks calls until killed, shipping to the fleet, printing each finalized call as `id total`.
    fn child(db: &Path, url: &str) -> Result<()> {
        let (meter, _guard) = Meter::builder()
            .path(db)
            .postgres(url)
            .server("killed")
            .open()?;
        for i in 0.. {
            let call = meter.start_call(CallInfo::new(format!("k-{i}")).user("u").tenant("t"))?;
            for turn in 0..20_u64 {
                call.track_stt("deepgram", "nova-2", 1.5)?;
                call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(800 + turn, 90))?;
                call.track_tts("elevenlabs", "eleven_turbo_v2_5", 120 + turn)?;
                std::thread::sleep(Duration::from_micros(200));
            }
            let summary = call.finalize(Outcome::Completed)?;
            println!("{} {}", summary.call_id, summary.total.to_nanos()?);
        }
        Ok(())
    }

    fn killed_process_ships_its_backlog_once(fleet: &FleetDb) -> Result<()> {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("killed.db");
        let mut child = Command::new(std::env::current_exe()?)
            .env("CALLMETER_FLEET_CHILD", &db)
            .env("CALLMETER_FLEET_URL", &fleet.url)
            .stdout(Stdio::piped())
            .spawn()?;
        std::thread::sleep(Duration::from_millis(1_500));
        child.kill()?; // SIGKILL
        let out = child.wait_with_output()?;
        let finalized: BTreeMap<String, i64> = String::from_utf8(out.stdout)?
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(id, total)| Ok((id.to_owned(), total.parse()?)))
            .collect::<Result<_>>()?;
        assert!(
            !finalized.is_empty(),
            "the child finalized calls before the kill"
        );
        // The file holds more than the fleet: what was committed and not yet shipped.
        let (meter, guard) = Meter::builder()
            .path(&db)
            .postgres(&fleet.url)
            .server("killed")
            .open()?;
        wait_until_shipped(&db, Duration::from_secs(120))?;
        drop(meter);
        let stats = guard.shutdown()?;
        let (local, fleet_totals) = compare(&db, fleet)?;
        // A call finalized just before the kill may have lost its last events with the process's
        // queue (the file closed it as interrupted); one whose final record was committed is exact.
        let completed: Vec<String> = Connection::open(&db)?
            .prepare("SELECT call_id FROM calls WHERE status = 'completed'")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        assert!(!completed.is_empty());
        for id in &completed {
            assert_eq!(
                fleet_totals.get(id),
                finalized.get(id),
                "finalized call {id}"
            );
        }
        println!(
            "fleet_faults: killed after 1.5 s with {} calls finalized; {} calls and {} events in both \
             the file and the fleet; shipped again and ignored: {}",
            finalized.len(),
            local.len(),
            events(&db)?,
            stats.ship_duplicates
        );
        Ok(())
    }

    fn postgres_outage_loses_nothing(fleet: &FleetDb) -> Result<()> {
        let server = PgServer::from_env()?;
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("outage.db");
        let (meter, guard) = Meter::builder()
            .path(&db)
            .postgres(&fleet.url)
            .server("outage")
            .ship_backlog_alert(Duration::from_secs(5))
            // Limits make the shipper read the fleet's spend too, which fails during the outage.
            .user_limits(
                callmeter::Limits::none().daily_cost(callmeter::Usd::from_nanos(i64::MAX / 4)),
            )
            .fleet_refresh(Duration::from_millis(200))
            .open()?;
        let done = AtomicBool::new(false);
        let stats_during = std::thread::scope(|s| -> Result<callmeter::Stats> {
            let tracker = s.spawn(|| -> std::result::Result<u64, String> {
                let mut calls = 0;
                while !done.load(Ordering::Relaxed) {
                    let call = meter
                        .start_call(CallInfo::new(format!("o-{calls}")).user("u").tenant("t"))
                        .map_err(|e| e.to_string())?;
                    for _ in 0..10 {
                        call.track_stt("deepgram", "nova-2", 2.0)
                            .map_err(|e| e.to_string())?;
                        call.track_tts("elevenlabs", "eleven_turbo_v2_5", 200)
                            .map_err(|e| e.to_string())?;
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    call.finalize(Outcome::Completed)
                        .map_err(|e| e.to_string())?;
                    calls += 1;
                }
                Ok(calls)
            });
            std::thread::sleep(Duration::from_secs(2));
            server.stop()?;
            let stopped = Instant::now();
            std::thread::sleep(Duration::from_secs(20));
            meter.flush()?;
            let during = meter.stats();
            server.start()?;
            println!(
                "fleet_faults: PostgreSQL down for {:?}: backlog {} events, {} ship errors",
                stopped.elapsed(),
                during.ship_backlog,
                during.ship_errors
            );
            std::thread::sleep(Duration::from_secs(2));
            done.store(true, Ordering::Relaxed);
            tracker.join().map_err(|_| "tracker panicked")??;
            Ok(during)
        })?;
        assert!(
            stats_during.ship_errors > 0,
            "the outage was seen: {stats_during:?}"
        );
        assert!(stats_during.last_ship_error.is_some());
        // Twenty seconds of calls wait in the file, counted while PostgreSQL is down.
        assert!(
            stats_during.ship_backlog > 1_000,
            "the backlog grew: {stats_during:?}"
        );
        meter.flush()?;
        wait_until_shipped(&db, Duration::from_secs(120))?;
        drop(meter);
        let stats = guard.shutdown()?;
        assert_eq!(stats.last_ship_error, None, "{stats:?}");
        assert_eq!(stats.shipped, stats.persisted, "{stats:?}");
        let (local, _) = compare(&db, fleet)?;
        let backlog_alerts: i64 = Connection::open(&db)?.query_row(
            "SELECT COUNT(*) FROM alerts WHERE kind = 'ship_backlog'",
            [],
            |r| r.get(0),
        )?;
        assert_eq!(
            backlog_alerts, 1,
            "one alert for the backlog older than 5 s"
        );
        println!(
            "fleet_faults: after the outage {} calls and {} events in both the file and the fleet",
            local.len(),
            stats.persisted
        );
        Ok(())
    }

    /// Waits until the file's shipped watermark reaches its last event (a bound against hanging, not a
    /// speed requirement).
    fn wait_until_shipped(db: &Path, patience: Duration) -> Result<()> {
        let conn = Connection::open(db)?;
        let start = Instant::now();
        loop {
            let (shipped, last): (i64, i64) = conn.query_row(
                "SELECT events_shipped, (SELECT COALESCE(MAX(id), 0) FROM cost_events) FROM outbox",
                [],
                |r| r.try_into(),
            )?;
            if shipped == last {
                return Ok(());
            }
            if start.elapsed() > patience {
                return Err(format!(
                    "still {} events unshipped after {patience:?}",
                    last - shipped
                )
                .into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn events(db: &Path) -> Result<i64> {
        Ok(
            Connection::open(db)?
                .query_row("SELECT COUNT(*) FROM cost_events", [], |r| r.get(0))?,
        )
    }

    /// Every call's total and the event count, in the file and in the fleet: they must be equal.
    fn compare(
        db: &Path,
        fleet: &FleetDb,
    ) -> Result<(BTreeMap<String, i64>, BTreeMap<String, i64>)> {
        let conn = Connection::open(db)?;
        let local: BTreeMap<String, i64> = conn
            .prepare("SELECT call_id, total_cost_nanos FROM calls")?
            .query_map([], |r| r.try_into())?
            .collect::<rusqlite::Result<_>>()?;
        let remote: BTreeMap<String, i64> = fleet
            .client()
            .query("SELECT call_id, total_cost_nanos FROM calls", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        assert_eq!(remote, local, "every call's total, fleet and file");
        let remote_events = fleet.int("SELECT COUNT(*) FROM cost_events", &[]);
        assert_eq!(remote_events, events(db)?, "events, fleet and file");
        let remote_sum = fleet.int("SELECT SUM(cost_nanos)::bigint FROM cost_events", &[]);
        let local_sum: i64 =
            conn.query_row("SELECT SUM(cost_nanos) FROM cost_events", [], |r| r.get(0))?;
        assert_eq!(remote_sum, local_sum);
        let active = fleet.int("SELECT COUNT(*) FROM calls WHERE status = 'active'", &[]);
        assert_eq!(
            active, 0,
            "the killed process's calls were closed in the fleet too"
        );
        Ok((local, remote))
    }
}
