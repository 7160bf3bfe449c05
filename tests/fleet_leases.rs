//! Strict fleet limits against a real PostgreSQL (`CALLMETER_TEST_POSTGRES`; `.ci/with-postgres`
//! starts one, and `CALLMETER_TEST_PG_CTL`, `_PG_DATA`, `_PG_USER` let this test stop and start it):
//!
//! - three servers in separate processes reserve and settle against one $5.00 tenant limit: they
//!   end at or below $5.00, and reach at least 95 % of it;
//! - the same against $20.00 with PostgreSQL stopped for 10 s mid-run: nothing passes the limit;
//! - a server killed with SIGKILL while holding a lease: its unused slice returns to the fleet once
//!   the lease has expired (and three times its life has passed), and another server spends it.
//!
//! The test binary is its own child (`CALLMETER_LEASE_CHILD=<file>`). Runs without a server say
//! loudly that they did not run; under CI that is a failure.

#![allow(
    clippy::print_stdout,
    reason = "a child reports what it spent on stdout; the parent reports each scenario"
)]

#[cfg(not(feature = "postgres"))]
fn main() {
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"\n!!! NOT RUN: the fleet lease tests (tests/fleet_leases.rs) need the `postgres` feature and a \
          server: `bash .ci/with-postgres cargo test --features postgres --test fleet_leases`\n\n",
    );
}

#[cfg(feature = "postgres")]
mod common;

#[cfg(feature = "postgres")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    leases::main()
}

#[cfg(feature = "postgres")]
mod leases {
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use callmeter::control::FleetLimits;
    use callmeter::pricing::Usage;
    use callmeter::{
        Budget, CallInfo, Catalog, Category, Limits, Meter, ModelPrice, Outcome, Rate, Reserve,
        UsageKind, Usd,
    };

    use crate::common::pg::{FleetDb, PgServer};

    type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

    /// A character costs $0.001: a reservation of 50 characters holds $0.05.
    fn catalog() -> Catalog {
        Catalog::builder()
            .insert(ModelPrice::new("acme", "voice", Category::Tts).rate(
                UsageKind::Characters,
                Rate::per_thousand_characters(Usd::from_nanos(1_000_000_000)),
            ))
            .build()
            .expect("catalog")
    }

    pub(crate) fn main() -> Result<()> {
        if let Some(db) = std::env::var_os("CALLMETER_LEASE_CHILD") {
            return child(Path::new(&db));
        }
        if let Some(fleet) = FleetDb::new("fleet_leases: three_servers_stay_within_a_strict_limit")
        {
            three_servers_stay_within_a_strict_limit(&fleet)?;
        }
        if let Some(fleet) = FleetDb::new("fleet_leases: a_postgres_outage_passes_nothing") {
            a_postgres_outage_passes_nothing(&fleet)?;
        }
        if let Some(fleet) = FleetDb::new("fleet_leases: a_killed_servers_slice_returns") {
            a_killed_servers_slice_returns(&fleet)?;
        }
        Ok(())
    }

    /// Reserves $0.05 and settles 25 to 50 characters every `CALLMETER_LEASE_PAUSE_MS` for
    /// `CALLMETER_LEASE_SECONDS`, against tenant `t`'s daily limit of `CALLMETER_LEASE_LIMIT` dollars;
    /// prints `spent <nano-dollars>` after shutting down (every lease given back, every event
    /// shipped).
    fn child(db: &Path) -> Result<()> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let url = var("CALLMETER_FLEET_URL")?;
        let server = var("CALLMETER_LEASE_SERVER")?;
        let seconds: f64 = var("CALLMETER_LEASE_SECONDS")?.parse()?;
        let pause = Duration::from_millis(var("CALLMETER_LEASE_PAUSE_MS")?.parse()?);
        let limit: Usd = var("CALLMETER_LEASE_LIMIT")?.parse()?;
        let ttl = Duration::from_millis(var("CALLMETER_LEASE_TTL_MS")?.parse()?);
        let (meter, guard) = Meter::builder()
            .path(db)
            .catalog(catalog())
            .budget(Budget::unlimited())
            .tenant_limits(Limits::none().daily_cost(limit))
            .postgres(&url)
            .server(&server)
            .fleet_limits(FleetLimits::Strict)
            .lease_ttl(ttl)
            .open()?;
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        let mut spent = 0_i64;
        let mut n = 0_u64;
        while Instant::now() < end {
            let call = meter.start_call(CallInfo::new(format!("{server}-{n}")).tenant("t"))?;
            for i in 0..20_u64 {
                match call.reserve_tts("acme", "voice", 50)? {
                    Reserve::Reserved(r) => {
                        let settled = r.settle(Usage::Characters(25 + (n + i) % 26))?;
                        spent += settled.tracked.cost.to_nanos()?;
                    }
                    Reserve::Refused(_) => {}
                }
                std::thread::sleep(pause);
            }
            call.finalize(Outcome::Completed)?;
            n += 1;
        }
        drop(meter);
        guard.shutdown()?;
        println!("spent {spent}");
        Ok(())
    }

    fn spawn(
        fleet: &FleetDb,
        db: &Path,
        server: &str,
        (seconds, pause_ms, limit, ttl_ms): (f64, u64, &str, u64),
    ) -> Result<Child> {
        Ok(Command::new(std::env::current_exe()?)
            .env("CALLMETER_LEASE_CHILD", db)
            .env("CALLMETER_FLEET_URL", &fleet.url)
            .env("CALLMETER_LEASE_SERVER", server)
            .env("CALLMETER_LEASE_SECONDS", seconds.to_string())
            .env("CALLMETER_LEASE_PAUSE_MS", pause_ms.to_string())
            .env("CALLMETER_LEASE_LIMIT", limit)
            .env("CALLMETER_LEASE_TTL_MS", ttl_ms.to_string())
            .stdout(Stdio::piped())
            .spawn()?)
    }

    /// What a child spent, from its last line.
    fn spent(child: Child) -> Result<i64> {
        let out = child.wait_with_output()?;
        if !out.status.success() {
            return Err(format!("a child failed: {}", out.status).into());
        }
        let text = String::from_utf8(out.stdout)?;
        let line = text
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("spent "))
            .ok_or("a child said nothing")?;
        Ok(line.trim().parse()?)
    }

    /// What the fleet database holds of tenant `t`'s calls.
    fn fleet_spend(fleet: &FleetDb) -> i64 {
        fleet.int(
            "SELECT COALESCE(SUM(total_cost_nanos), 0)::bigint FROM calls WHERE tenant_id = 't'",
            &[],
        )
    }

    fn three_servers_stay_within_a_strict_limit(fleet: &FleetDb) -> Result<()> {
        let dir = tempfile::tempdir()?;
        let limit = 5_000_000_000_i64;
        let children = ["a", "b", "c"]
            .iter()
            .map(|s| {
                spawn(
                    fleet,
                    &dir.path().join(format!("{s}.db")),
                    s,
                    (3.0, 5, "5", 2_000),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let spends = children
            .into_iter()
            .map(spent)
            .collect::<Result<Vec<_>>>()?;
        let total: i64 = spends.iter().sum();
        println!(
            "fleet_leases: three servers against a $5.00 strict limit spent {spends:?} = {}",
            Usd::from_nanos(total)
        );
        assert!(total <= limit, "the fleet passed the limit: {total}");
        assert!(total * 100 >= limit * 95, "the fleet reached only {total}");
        assert_eq!(fleet_spend(fleet), total, "what the fleet database holds");
        Ok(())
    }

    fn a_postgres_outage_passes_nothing(fleet: &FleetDb) -> Result<()> {
        let pg = PgServer::from_env()?;
        let dir = tempfile::tempdir()?;
        let limit = 20_000_000_000_i64;
        // About $1.50 a second together: the limit lasts past the outage.
        let children = ["a", "b", "c"]
            .iter()
            .map(|s| {
                spawn(
                    fleet,
                    &dir.path().join(format!("{s}.db")),
                    s,
                    (22.0, 75, "20", 10_000),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        std::thread::sleep(Duration::from_secs(3));
        pg.stop()?;
        let stopped = Instant::now();
        std::thread::sleep(Duration::from_secs(10));
        pg.start()?;
        let spends = children
            .into_iter()
            .map(spent)
            .collect::<Result<Vec<_>>>()?;
        let total: i64 = spends.iter().sum();
        println!(
            "fleet_leases: PostgreSQL down for {:?} of a strict $20.00 limit: spent {spends:?} = {}",
            stopped.elapsed().min(Duration::from_secs(10)),
            Usd::from_nanos(total)
        );
        assert!(total <= limit, "the fleet passed the limit: {total}");
        assert_eq!(fleet_spend(fleet), total, "what the fleet database holds");
        Ok(())
    }

    fn a_killed_servers_slice_returns(fleet: &FleetDb) -> Result<()> {
        let dir = tempfile::tempdir()?;
        let limit = 5_000_000_000_i64;
        // Slow enough that it holds a slice it has not used when it is killed.
        let mut killed = spawn(
            fleet,
            &dir.path().join("killed.db"),
            "killed",
            (60.0, 200, "5", 1_000),
        )?;
        std::thread::sleep(Duration::from_secs(2));
        killed.kill()?;
        let _ = killed.wait();
        let unused = fleet.int(
            "SELECT COALESCE(SUM(granted_nanos - used_nanos), 0)::bigint FROM leases
             WHERE server = 'killed'",
            &[],
        );
        assert!(unused > 0, "the killed server held no unused slice");
        // Its lease lives 1 s and returns 2 s after that: another server then spends the rest.
        std::thread::sleep(Duration::from_secs(3));
        let survivor = spawn(
            fleet,
            &dir.path().join("survivor.db"),
            "survivor",
            (3.0, 2, "5", 1_000),
        )?;
        let survived = spent(survivor)?;
        let reported = fleet.int(
            "SELECT COALESCE(SUM(used_nanos), 0)::bigint FROM leases WHERE server = 'killed'",
            &[],
        );
        let left = fleet.int(
            "SELECT COALESCE(SUM(granted_nanos - used_nanos), 0)::bigint FROM leases
             WHERE server = 'killed'",
            &[],
        );
        println!(
            "fleet_leases: killed holding {} unused; after its lease ended the survivor spent {} \
             (the killed server reported {})",
            Usd::from_nanos(unused),
            Usd::from_nanos(survived),
            Usd::from_nanos(reported)
        );
        assert_eq!(left, 0, "the killed server's slice did not return");
        assert!(
            (reported + survived) * 100 >= limit * 95,
            "the rest of the limit was not spent"
        );
        Ok(())
    }
}
