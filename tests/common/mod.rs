//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

pub mod fs;
#[cfg(feature = "postgres")]
pub mod pg;

use std::path::PathBuf;

use callmeter::{Meter, MeterBuilder, MeterGuard};
use rusqlite::Connection;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A temporary directory with a database path in it.
pub struct Db {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl Db {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("costs.db");
        Db { _dir: dir, path }
    }

    /// A database at `path` (the caller owns its directory).
    pub fn at(path: &std::path::Path) -> Self {
        Db {
            _dir: tempfile::tempdir().expect("temp dir"),
            path: path.to_path_buf(),
        }
    }

    pub fn open_result(&self) -> callmeter::Result<(Meter, MeterGuard)> {
        self.builder().open()
    }

    pub fn builder(&self) -> MeterBuilder {
        Meter::builder().path(&self.path)
    }

    pub fn open(&self) -> (Meter, MeterGuard) {
        self.builder().open().expect("open meter")
    }

    /// A separate read connection, as an operator's tool would open.
    pub fn read(&self) -> Connection {
        Connection::open(&self.path).expect("read connection")
    }
}

pub fn scalar_i64(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> i64 {
    conn.query_row(sql, params, |r| r.get::<_, Option<i64>>(0))
        .expect(sql)
        .unwrap_or(0)
}

pub fn call_total(conn: &Connection, call_id: &str) -> i64 {
    scalar_i64(
        conn,
        "SELECT total_cost_nanos FROM calls WHERE call_id = ?1",
        [call_id],
    )
}

pub fn events_sum(conn: &Connection, call_id: &str) -> i64 {
    scalar_i64(
        conn,
        "SELECT SUM(cost_nanos) FROM cost_events WHERE call_id = ?1",
        [call_id],
    )
}
