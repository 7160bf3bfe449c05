//! A PostgreSQL database of its own for each fleet test, on the server named by
//! `CALLMETER_TEST_POSTGRES` (`.ci/with-postgres` starts a throwaway one and sets it). Without it a
//! test says loudly that it did not run, and under CI that is a failure.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The variable naming the test server.
pub const URL_VAR: &str = "CALLMETER_TEST_POSTGRES";

/// A fresh database, dropped at the end of the test.
pub struct FleetDb {
    pub url: String,
    admin: String,
    name: String,
}

impl FleetDb {
    /// A new empty database, or `None` (said loudly) when no server was given.
    pub fn new(test: &str) -> Option<FleetDb> {
        let Ok(admin) = std::env::var(URL_VAR) else {
            not_run(test);
            return None;
        };
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "callmeter_test_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            test.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        let name: String = name.chars().take(63).collect();
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("{URL_VAR}={admin}: cannot connect: {e}"));
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create the test database");
        let url = with_database(&admin, &name);
        Some(FleetDb { url, admin, name })
    }

    /// A connection to the test database.
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test database")
    }

    /// One integer the query answers.
    pub fn int(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) -> i64 {
        self.client()
            .query_one(sql, params)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }
}

impl Drop for FleetDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Says loudly that a fleet test did not run; under CI that is a failure.
#[allow(
    clippy::print_stderr,
    reason = "a test that cannot run must say so in the output"
)]
fn not_run(test: &str) {
    let line = format!(
        "!!! NOT RUN: {test}: no PostgreSQL; set {URL_VAR}, or run \
         `bash .ci/with-postgres cargo test --features postgres --test fleet`"
    );
    if std::env::var_os("CI").is_some() {
        panic!("{line} (CI must run it: .ci/run starts a PostgreSQL for it)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!` of passing tests.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), format!("\n{line}\n").as_bytes());
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The test server, stopped and started with `pg_ctl` as its owner.
pub struct PgServer {
    pg_ctl: String,
    data: String,
    user: String,
}

impl PgServer {
    pub fn from_env() -> Result<PgServer> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set: run under `bash .ci/with-postgres`, which sets it")
            })
        };
        Ok(PgServer {
            pg_ctl: var("CALLMETER_TEST_PG_CTL")?,
            data: var("CALLMETER_TEST_PG_DATA")?,
            user: var("CALLMETER_TEST_PG_USER")?,
        })
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<()> {
        let me = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?;
        let mut cmd = if me.trim() == self.user {
            Command::new(&self.pg_ctl)
        } else {
            let mut c = Command::new("runuser");
            c.args(["-u", &self.user, "--", &self.pg_ctl]);
            c
        };
        let status = cmd
            .arg("-D")
            .arg(&self.data)
            .args(args)
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("pg_ctl {args:?}: {status}").into());
        }
        Ok(())
    }

    pub fn stop(&self) -> Result<()> {
        self.pg_ctl(&["-m", "fast", "-w", "stop"])
    }

    pub fn start(&self) -> Result<()> {
        let log = format!("{}/server.log", self.data);
        self.pg_ctl(&["-l", &log, "-w", "start"])
    }
}
