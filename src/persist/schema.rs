//! The SQLite file's schema: its text, version by version, and the migrations that bring a file of
//! any released version to the current one (`PRAGMA user_version`), safely when several processes
//! open one new file at once.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::base::error::{Error, Result};
use crate::persist::failure::storage;
use crate::persist::outbox;
use crate::persist::owner::not_writable_or;
use crate::persist::quarantine::SCHEMA as QUARANTINE;
use crate::persist::rollup::SCHEMA as ROLLUPS;

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = 6;

/// Versions written by development builds before the first release; their layout cannot be migrated.
pub(crate) const PRE_RELEASE_VERSIONS: std::ops::RangeInclusive<i64> = 1..=2;

// Money columns that the writer adds to carry `CHECK (typeof(…) = 'integer')`: SQLite turns an integer
// sum that overflows into a float, and the check turns that into an error the writer isolates.
const SCHEMA_V3: &str = "
CREATE TABLE meters (
    meter_ref  INTEGER PRIMARY KEY,
    meter_id   TEXT NOT NULL UNIQUE,
    pid        INTEGER NOT NULL,
    opened_at  INTEGER NOT NULL,
    closed_at  INTEGER,
    closed_how TEXT CHECK (closed_how IN ('shutdown', 'recovered'))
);

CREATE TABLE calls (
    call_id          TEXT PRIMARY KEY NOT NULL,
    call_ref         INTEGER NOT NULL UNIQUE,
    user_id          TEXT,
    tenant_id        TEXT,
    persona          TEXT,
    session_kind     TEXT,
    status           TEXT NOT NULL
                     CHECK (status IN ('active', 'completed', 'failed', 'abandoned', 'interrupted')),
    failure_reason   TEXT,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    total_cost_nanos INTEGER NOT NULL DEFAULT 0 CHECK (typeof(total_cost_nanos) = 'integer'),
    revenue_nanos    INTEGER NOT NULL DEFAULT 0 CHECK (typeof(revenue_nanos) = 'integer'),
    event_count      INTEGER NOT NULL DEFAULT 0,
    segments         INTEGER NOT NULL DEFAULT 1,
    owner            INTEGER,
    metadata         TEXT
);
CREATE INDEX calls_active_by_owner ON calls (owner) WHERE status = 'active';
CREATE INDEX calls_by_started ON calls (started_at);
CREATE INDEX calls_by_user ON calls (user_id, started_at);
CREATE INDEX calls_by_tenant ON calls (tenant_id, started_at);

CREATE TABLE prices (
    price_id       INTEGER PRIMARY KEY,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    category       TEXT NOT NULL,
    effective_from INTEGER,
    effective_to   INTEGER,
    origin         TEXT NOT NULL,
    source         TEXT NOT NULL,
    verified_on    TEXT,
    definition     TEXT NOT NULL UNIQUE,
    first_used_at  INTEGER NOT NULL
);
CREATE INDEX prices_by_model ON prices (provider, model, effective_from);

CREATE TABLE alerts (
    alert_id    INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    call_id     TEXT,
    user_id     TEXT,
    tenant_id   TEXT,
    value_nanos INTEGER NOT NULL,
    threshold_nanos INTEGER,
    usage_used  TEXT,
    usage_threshold TEXT,
    usage_unit  TEXT,
    raised_at   INTEGER NOT NULL,
    message     TEXT NOT NULL
);

CREATE INDEX alerts_by_time ON alerts (raised_at);

CREATE TABLE cost_events (
    id                  INTEGER PRIMARY KEY,
    call_id             TEXT NOT NULL,
    call_ref            INTEGER NOT NULL,
    seq                 INTEGER NOT NULL,
    segment             INTEGER NOT NULL,
    event_id            TEXT GENERATED ALWAYS AS (call_id || '#' || segment || '#' || seq) VIRTUAL,
    created_at          INTEGER NOT NULL,
    category            TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    agent               TEXT,
    quantity            REAL NOT NULL,
    unit                TEXT NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    price_id            INTEGER,
    kind                TEXT NOT NULL DEFAULT 'usage'
                        CHECK (kind IN ('usage', 'late', 'coalesced')),
    priced              INTEGER NOT NULL DEFAULT 1,
    input_tokens        INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens  INTEGER,
    cache_write_1h_tokens INTEGER,
    output_tokens       INTEGER,
    reasoning_tokens    INTEGER,
    audio_input_tokens  INTEGER,
    cached_audio_input_tokens INTEGER,
    audio_output_tokens INTEGER,
    audio_input_ms      INTEGER,
    audio_output_ms     INTEGER,
    amount_nanos        INTEGER,
    UNIQUE (call_ref, segment, seq)
);
CREATE INDEX cost_events_by_time ON cost_events (created_at);
";

// In version 3, `cost_events.event_id` was `call_id#segment#seq`; version 4 appends the file's origin
// (`call_id#segment#seq@origin`, see `outbox.rs`). Read from the right, the origin has a fixed length
// and the two numbers are digits, so no two identities spell the same text. It is unique because (call_ref, segment, seq) is. It is
// built with `||` only: a function such as printf() in a generated column, like an `ON CONFLICT (…)`
// target on the multi-row insert, makes SQLite keep a statement journal for every insert (measured
// with `benches/writer.rs` and strace: 250 000 writes to a temporary file in two seconds, half the
// writer's throughput). `INSERT OR IGNORE` is safe here: the table has no constraint a written event
// can break but its identity (every NOT NULL column is always bound, `kind` is always one of its
// three values), so an ignored row is a replay, counted in `Stats::conflicts`.

// `cost_events.price_id` names a row of `prices` but declares no REFERENCES clause: a table with a
// foreign key makes SQLite keep a statement journal for every multi-row insert (measured: 40 % of the
// writer's time), even with foreign-key enforcement off.

/// Version 5: the thresholds the last meter to open the file watched, for reports to show what was
/// used of each: provider quotas (`provider` set) and the platform's daily and monthly cost alert
/// thresholds (`provider` NULL), replaced whole each time a meter opens; and what the providers
/// billed (`billed`, one row per provider record, written by a `Ledger`) and counted
/// (`billed_usage`, the quantity as exact decimal text), to reconcile with.
const SCHEMA_V5: &str = "
CREATE TABLE quotas (
    position         INTEGER PRIMARY KEY,
    provider         TEXT,
    model            TEXT,
    period           TEXT NOT NULL CHECK (period IN ('day', 'month')),
    units            INTEGER,
    cost_nanos       INTEGER,
    warn_percent     INTEGER NOT NULL,
    critical_percent INTEGER NOT NULL,
    set_at           INTEGER NOT NULL
);
CREATE TABLE billed (
    provider     TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    day          TEXT NOT NULL,
    call_id      TEXT,
    model        TEXT,
    item         TEXT NOT NULL,
    amount_nanos INTEGER NOT NULL,
    imported_at  INTEGER NOT NULL,
    PRIMARY KEY (provider, record_id)
);
CREATE INDEX billed_by_day ON billed (day);
CREATE TABLE billed_usage (
    provider    TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    day         TEXT NOT NULL,
    model       TEXT,
    unit        TEXT NOT NULL,
    quantity    TEXT NOT NULL,
    imported_at INTEGER NOT NULL,
    PRIMARY KEY (provider, record_id)
);
CREATE INDEX billed_usage_by_day ON billed_usage (day);
";

/// Version 6: `cost_events.estimated`, 1 for a row that records an abandoned reservation at its
/// estimate (the request failed, hung, or its handle was dropped unsettled). Added as a column with a
/// default, so older rows read 0 and no row is rewritten.
const SCHEMA_V6: &str = "
ALTER TABLE cost_events ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;
";

/// Brings the schema to [`SCHEMA_VERSION`]. The version is read again, and the schema created or
/// migrated, inside one `BEGIN IMMEDIATE` transaction: of several processes opening one new file at
/// once, the first creates the schema and the others, waiting for its lock (the connection's busy
/// timeout: 30 s when a meter opens), find it there.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    if version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| not_writable_or(path, "locking the file to create its schema", e))?;
    let done = migrate_locked(conn, path).and_then(|()| {
        conn.execute_batch("COMMIT")
            .map_err(|e| not_writable_or(path, "committing the schema", e))
    });
    if done.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    done
}

/// The file's schema version.
fn version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage(path, "reading the schema version"))
}

/// [`migrate`]'s work, inside its transaction.
fn migrate_locked(conn: &Connection, path: &Path) -> Result<()> {
    let version = version(conn, path)?;
    if PRE_RELEASE_VERSIONS.contains(&version) {
        return Err(Error::PreReleaseSchema {
            path: path.to_path_buf(),
            found: version,
        });
    }
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaVersion {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        let foreign: Option<String> = conn
            .query_row(
                "SELECT name FROM sqlite_master WHERE type = 'table' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage(path, "reading the schema"))?;
        if foreign.is_some() {
            return Err(Error::ForeignDatabase {
                path: path.to_path_buf(),
            });
        }
        conn.execute_batch(&format!(
            "{SCHEMA_V3} {ROLLUPS} {QUARANTINE} {} {SCHEMA_V5} {SCHEMA_V6}
             PRAGMA user_version = {SCHEMA_VERSION};",
            outbox::migrate_3_to_4()
        ))
        .map_err(|e| not_writable_or(path, "creating the schema", e))?;
        return Ok(());
    }
    if version == 3 {
        conn.execute_batch(&format!(
            "{} PRAGMA user_version = 4;",
            outbox::migrate_3_to_4()
        ))
        .map_err(|e| not_writable_or(path, "migrating the schema from version 3 to 4", e))?;
    }
    if version <= 4 {
        conn.execute_batch(&format!("{SCHEMA_V5} PRAGMA user_version = 5;"))
            .map_err(|e| not_writable_or(path, "migrating the schema from version 4 to 5", e))?;
    }
    if version <= 5 {
        conn.execute_batch(&format!("{SCHEMA_V6} PRAGMA user_version = 6;"))
            .map_err(|e| not_writable_or(path, "migrating the schema from version 5 to 6", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::money::Usd;

    /// The event columns the writer binds ([`rows`](crate::persist::rows): the base columns and the
    /// optional groups, which the outbox and what-if read too) are exactly the columns of
    /// `cost_events` but its key and generated id: a column added to one and not the other fails here.
    #[test]
    fn the_event_column_table_is_the_schema() {
        use crate::persist::rows::{BASE_COLUMNS, GROUPS};
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = Connection::open(dir.path().join("c.db")).expect("open");
        migrate(&conn, dir.path()).expect("migrated");
        let mut stmt = conn
            .prepare("SELECT name FROM pragma_table_xinfo('cost_events') ORDER BY cid")
            .expect("prepare");
        let mut table: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("read");
        table.retain(|c| c != "id" && c != "event_id");
        let mut bound: Vec<String> = BASE_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        for (_, group) in GROUPS {
            bound.extend(group.iter().map(|c| (*c).to_owned()));
        }
        table.sort();
        bound.sort();
        assert_eq!(table, bound);
    }
    use crate::control::Quota;
    use crate::persist::store::Store;

    /// A file written by a version-3 build: its events keep their rows and totals, gain the file's
    /// origin in `event_id`, and every call is logged once as changed so a shipper sends it.
    #[test]
    fn version_3_files_migrate_to_the_current_schema() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v3.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(&format!(
            "{SCHEMA_V3} {ROLLUPS} {QUARANTINE} PRAGMA user_version = 3;
             INSERT INTO calls (call_id, call_ref, status, started_at, total_cost_nanos)
                 VALUES ('a', 1, 'completed', 1000, 7), ('b', 2, 'active', 2000, 0);
             INSERT INTO cost_events (call_id, call_ref, seq, segment, created_at, category, provider,
                                      model, quantity, unit, cost_nanos)
                 VALUES ('a', 1, 0, 1, 1000, 'tts', 'p', 'm', 3.0, 'character', 3),
                        ('a', 1, 1, 1, 1001, 'tts', 'p', 'm', 4.0, 'character', 4);"
        ))
        .expect("a version-3 file");
        assert_eq!(
            conn.query_row("SELECT event_id FROM cost_events WHERE seq = 1", [], |r| {
                r.get::<_, String>(0)
            })
            .expect("v3 id"),
            "a#1#1"
        );
        migrate(&conn, &path).expect("migrated");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        let origin = outbox::origin(&conn).expect("origin");
        let ids: Vec<String> = conn
            .prepare("SELECT event_id FROM cost_events ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(ids, [format!("a#1#0@{origin}"), format!("a#1#1@{origin}")]);
        let sum: i64 = conn
            .query_row("SELECT SUM(cost_nanos) FROM cost_events", [], |r| r.get(0))
            .expect("sum");
        assert_eq!(sum, 7);
        let changed: Vec<i64> = conn
            .prepare("SELECT call_ref FROM call_changes ORDER BY id")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(changed, [1, 2]);
        // The triggers log a call's end, not its totals.
        conn.execute_batch(
            "UPDATE calls SET total_cost_nanos = 9 WHERE call_ref = 2;
             UPDATE calls SET status = 'completed', ended_at = 3000 WHERE call_ref = 2;",
        )
        .expect("updates");
        let logged: i64 = conn
            .query_row("SELECT COUNT(*) FROM call_changes", [], |r| r.get(0))
            .expect("count");
        assert_eq!(logged, 3);
    }

    /// A file written by a version-4 build keeps its calls and events and gains an empty `quotas`
    /// table, which a meter opening it then fills.
    /// A version-5 file gains `cost_events.estimated`; its rows read as not estimated.
    #[test]
    fn version_5_files_gain_the_estimated_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v5.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V3} {ROLLUPS} {QUARANTINE} {} {SCHEMA_V5} PRAGMA user_version = 5;
                 COMMIT;
                 INSERT INTO calls (call_id, call_ref, status, started_at, total_cost_nanos)
                     VALUES ('a', 1, 'completed', 1000, 3);
                 INSERT INTO cost_events (call_id, call_ref, seq, segment, created_at, category,
                                          provider, model, quantity, unit, cost_nanos)
                     VALUES ('a', 1, 0, 1, 1000, 'tts', 'p', 'm', 3.0, 'character', 3);",
                outbox::migrate_3_to_4()
            ))
            .expect("a version-5 file");
        }
        let store = Store::open(&path).expect("opened and migrated");
        let read = |sql: &str| -> i64 {
            store
                .connection()
                .query_row(sql, [], |r| r.get(0))
                .expect("read")
        };
        assert_eq!(read("PRAGMA user_version"), 6);
        assert_eq!(read("SELECT SUM(estimated) FROM cost_events"), 0);
        assert_eq!(read("SELECT SUM(cost_nanos) FROM cost_events"), 3);
    }

    #[test]
    fn version_4_files_gain_the_quotas_table() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v4.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA_V3} {ROLLUPS} {QUARANTINE} {} PRAGMA user_version = 4; COMMIT;
                 INSERT INTO calls (call_id, call_ref, status, started_at, total_cost_nanos)
                     VALUES ('a', 1, 'completed', 1000, 3);
                 INSERT INTO cost_events (call_id, call_ref, seq, segment, created_at, category,
                                          provider, model, quantity, unit, cost_nanos)
                     VALUES ('a', 1, 0, 1, 1000, 'tts', 'p', 'm', 3.0, 'character', 3);",
                outbox::migrate_3_to_4()
            ))
            .expect("a version-4 file");
        }
        let mut store = Store::open(&path).expect("opened and migrated");
        let count = |store: &Store, sql: &str| -> i64 {
            store
                .connection()
                .query_row(sql, [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(count(&store, "PRAGMA user_version"), SCHEMA_VERSION);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM quotas"), 0);
        assert_eq!(count(&store, "SELECT SUM(cost_nanos) FROM cost_events"), 3);
        let quota = Quota::daily("p").units(10);
        store
            .record_quotas(&[quota], Usd::from_nanos(5), Usd::from_nanos(7), 2000)
            .expect("recorded");
        type QuotaRow = (Option<String>, String, Option<i64>, Option<i64>);
        let rows: Vec<QuotaRow> = store
            .connection()
            .prepare("SELECT provider, period, units, cost_nanos FROM quotas ORDER BY position")
            .expect("prepare")
            .query_map([], |r| {
                <(Option<String>, String, Option<i64>, Option<i64>)>::try_from(r)
            })
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(
            rows,
            [
                (Some("p".to_owned()), "day".to_owned(), Some(10), None),
                (None, "day".to_owned(), None, Some(5)),
                (None, "month".to_owned(), None, Some(7)),
            ]
        );
    }
}
