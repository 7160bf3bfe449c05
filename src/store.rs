//! The SQLite store: schema, migrations and batch writes.
//!
//! One file, WAL mode, created and migrated on open (`PRAGMA user_version`). Money is INTEGER nano-USD;
//! times are INTEGER milliseconds since the Unix epoch, UTC.

use std::path::Path;
use std::sync::Arc;

use once_cell::sync::Lazy;
use rusqlite::{Connection, OptionalExtension, Statement, ToSql, params};
use rustc_hash::FxHashMap;
use rustc_hash::FxHashSet;

use crate::error::{Error, Result};
use crate::tracker::CallIdent;
use crate::usage::Measure;
use crate::worker::{Batch, Resolved};

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = "
CREATE TABLE calls (
    call_id          TEXT PRIMARY KEY NOT NULL,
    user_id          TEXT,
    tenant_id        TEXT,
    persona          TEXT,
    session_kind     TEXT,
    status           TEXT NOT NULL
                     CHECK (status IN ('active', 'completed', 'failed', 'abandoned')),
    failure_reason   TEXT,
    started_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    total_cost_nanos INTEGER NOT NULL DEFAULT 0,
    revenue_nanos    INTEGER NOT NULL DEFAULT 0,
    event_count      INTEGER NOT NULL DEFAULT 0,
    metadata         TEXT
);
CREATE INDEX calls_by_started ON calls (started_at);
CREATE INDEX calls_by_user ON calls (user_id, started_at);
CREATE INDEX calls_by_tenant ON calls (tenant_id, started_at);

CREATE TABLE cost_events (
    id                  INTEGER PRIMARY KEY,
    call_id             TEXT NOT NULL,
    seq                 INTEGER NOT NULL,
    event_id            TEXT GENERATED ALWAYS AS (call_id || '#' || seq) VIRTUAL,
    created_at          INTEGER NOT NULL,
    category            TEXT NOT NULL,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    agent               TEXT,
    quantity            REAL NOT NULL,
    unit                TEXT NOT NULL,
    cost_nanos          INTEGER NOT NULL,
    kind                TEXT NOT NULL CHECK (kind IN ('usage', 'late', 'coalesced')),
    priced              INTEGER NOT NULL,
    input_tokens        INTEGER,
    cached_input_tokens INTEGER,
    cache_write_tokens  INTEGER,
    output_tokens       INTEGER,
    audio_input_tokens  INTEGER,
    audio_output_tokens INTEGER,
    audio_input_ms      INTEGER,
    audio_output_ms     INTEGER,
    amount_nanos        INTEGER,
    UNIQUE (call_id, seq)
);
CREATE INDEX cost_events_by_time ON cost_events (created_at);
";

const INSERT_CALL: &str = "INSERT OR IGNORE INTO calls
    (call_id, user_id, tenant_id, persona, session_kind, status, started_at, metadata)
    VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?7)";

const EVENT_COLUMNS: &str =
    "call_id, seq, created_at, category, provider, model, agent, quantity, unit,
     cost_nanos, kind, priced, input_tokens, cached_input_tokens, cache_write_tokens, output_tokens,
     audio_input_tokens, audio_output_tokens, audio_input_ms, audio_output_ms, amount_nanos";
const EVENT_PARAMS: usize = 21;

/// Rows per multi-row INSERT: one statement step per this many events (SQLite's per-statement work is a
/// large share of a small row's cost).
const ROWS_PER_INSERT: usize = 32;

fn insert_events_sql(rows: usize) -> String {
    let row = format!("({})", vec!["?"; EVENT_PARAMS].join(", "));
    format!(
        "INSERT OR IGNORE INTO cost_events ({EVENT_COLUMNS}) VALUES {}",
        vec![row; rows].join(", ")
    )
}

static INSERT_EVENT: Lazy<String> = Lazy::new(|| insert_events_sql(1));
static INSERT_EVENTS: Lazy<String> = Lazy::new(|| insert_events_sql(ROWS_PER_INSERT));

const ADD_TO_CALL: &str = "UPDATE calls SET
    total_cost_nanos = total_cost_nanos + ?2,
    event_count = event_count + ?3,
    revenue_nanos = revenue_nanos + ?4
    WHERE call_id = ?1";

/// A call whose events may have collided with rows already there: its totals are the sums of its rows.
const RECOUNT_CALL: &str = "UPDATE calls SET
    total_cost_nanos = (SELECT COALESCE(SUM(cost_nanos), 0) FROM cost_events WHERE call_id = ?1),
    event_count = (SELECT COUNT(*) FROM cost_events WHERE call_id = ?1),
    revenue_nanos = (SELECT COALESCE(SUM(amount_nanos), 0) FROM cost_events WHERE call_id = ?1)
    WHERE call_id = ?1";

const END_CALL: &str =
    "UPDATE calls SET status = ?2, failure_reason = ?3, ended_at = ?4 WHERE call_id = ?1";

/// What a committed batch did besides inserting its events.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    pub(crate) conflicts: u64,
    pub(crate) coalesced_rows: u64,
}

/// The writer's connection.
pub(crate) struct Store {
    conn: Connection,
    /// Keys of calls whose id was already in the database when they started.
    conflicted: FxHashSet<u64>,
}

fn storage(path: &Path, context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Storage {
        path,
        context,
        source,
    }
}

/// Per-call sums of one batch.
#[derive(Default)]
struct CallDelta {
    cost: i64,
    events: i64,
    revenue: i64,
}

impl Store {
    /// Opens or creates the database and brings its schema to [`SCHEMA_VERSION`].
    pub(crate) fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(storage(path, "opening"))?;
        Self::prepare(conn, path)
    }

    fn prepare(conn: Connection, path: &Path) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(1))
            .map_err(storage(path, "setting the busy timeout"))?;
        // journal_mode answers with a row; an in-memory database stays in "memory" mode.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(storage(path, "enabling WAL (is this a SQLite database?)"))?;
        // synchronous=NORMAL: in WAL mode a commit survives a process crash; only a power loss can take the
        // last transactions. A 64 MiB page cache keeps the event indexes' hot pages in memory, and a
        // checkpoint every 16 384 pages (64 MiB of WAL) writes pages that change often once.
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 16384;",
        )
        .map_err(storage(path, "setting pragmas"))?;
        migrate(&conn, path)?;
        Ok(Store {
            conn,
            conflicted: FxHashSet::default(),
        })
    }

    /// Writes a batch in one transaction.
    pub(crate) fn write(&mut self, batch: &Batch) -> rusqlite::Result<Written> {
        let tx = self.conn.transaction()?;
        let mut written = Written::default();
        {
            let mut insert_call = tx.prepare_cached(INSERT_CALL)?;
            let mut insert_one = tx.prepare_cached(&INSERT_EVENT)?;
            let mut insert_many = tx.prepare_cached(&INSERT_EVENTS)?;
            let mut add = tx.prepare_cached(ADD_TO_CALL)?;
            let mut recount = tx.prepare_cached(RECOUNT_CALL)?;
            let mut end = tx.prepare_cached(END_CALL)?;

            let mut ensure = |call: &CallIdent| -> rusqlite::Result<bool> {
                let inserted = insert_call.execute(params![
                    call.call_id,
                    call.user_id,
                    call.tenant_id,
                    call.persona,
                    call.session_kind,
                    call.started_at_ms,
                    call.metadata,
                ])?;
                Ok(inserted == 1)
            };
            for call in &batch.starts {
                if !ensure(call)? {
                    // The id is already in the database (reused, or another process): its events may
                    // collide, so its totals are recounted from the table instead of added to.
                    self.conflicted.insert(call.key);
                }
            }
            let mut deltas: FxHashMap<*const CallIdent, (Arc<CallIdent>, CallDelta)> =
                FxHashMap::default();
            let mut add_delta = |call: &Arc<CallIdent>, cost: i64, revenue: i64| {
                let d = &mut deltas
                    .entry(Arc::as_ptr(call))
                    .or_insert_with(|| (Arc::clone(call), CallDelta::default()))
                    .1;
                d.cost += cost;
                d.events += 1;
                d.revenue += revenue;
            };
            let mut chunks = batch.events.chunks_exact(ROWS_PER_INSERT);
            for chunk in chunks.by_ref() {
                for (i, r) in chunk.iter().enumerate() {
                    bind_event(&mut insert_many, i * EVENT_PARAMS, r)?;
                }
                let inserted = insert_many.raw_execute()?;
                if inserted < chunk.len() {
                    written.conflicts += (chunk.len() - inserted) as u64;
                    self.conflicted.extend(chunk.iter().map(|r| r.call.key));
                }
                for r in chunk {
                    add_delta(&r.call, r.event.cost, r.amount());
                }
            }
            for r in chunks.remainder() {
                bind_event(&mut insert_one, 0, r)?;
                if insert_one.raw_execute()? == 0 {
                    written.conflicts += 1;
                    self.conflicted.insert(r.call.key);
                }
                add_delta(&r.call, r.event.cost, r.amount());
            }
            for end_rec in &batch.ends {
                for c in &end_rec.coalesced {
                    let inserted = insert_one.execute(params![
                        end_rec.call.call_id,
                        int(c.seq),
                        end_rec.ended_at_ms,
                        c.category.as_str(),
                        "callmeter",
                        "coalesced",
                        Option::<&str>::None,
                        c.events as f64,
                        "event",
                        c.cost,
                        "coalesced",
                        true,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                        Option::<i64>::None,
                    ])?;
                    if inserted == 0 {
                        written.conflicts += 1;
                        self.conflicted.insert(end_rec.call.key);
                    } else {
                        written.coalesced_rows += 1;
                    }
                    add_delta(&end_rec.call, c.cost, 0);
                }
            }
            for (call, d) in deltas.values() {
                ensure(call)?;
                if self.conflicted.contains(&call.key) {
                    recount.execute(params![call.call_id])?;
                } else {
                    add.execute(params![call.call_id, d.cost, d.events, d.revenue])?;
                }
            }
            for end_rec in &batch.ends {
                ensure(&end_rec.call)?;
                end.execute(params![
                    end_rec.call.call_id,
                    end_rec.status.as_str(),
                    end_rec.reason,
                    end_rec.ended_at_ms,
                ])?;
            }
        }
        tx.commit()?;
        Ok(written)
    }
}

/// Binds one event's columns at parameters `offset + 1 ..= offset + EVENT_PARAMS`.
fn bind_event(stmt: &mut Statement<'_>, offset: usize, r: &Resolved) -> rusqlite::Result<()> {
    let (provider, model) = r.names();
    let e = &r.event;
    let measure = e.measure();
    let (quantity, unit) = measure.headline();
    let t = match &measure {
        Measure::Tokens(t) => Some(t),
        _ => None,
    };
    let (audio_in, audio_out) = match &measure {
        Measure::Two([(_, i), (_, o)]) => (Some(int(*i)), Some(int(*o))),
        _ => (None, None),
    };
    let amount = match &measure {
        Measure::Payment(a) => Some(*a),
        _ => None,
    };
    let values: [&dyn ToSql; EVENT_PARAMS] = [
        &r.call.call_id,
        &e.seq,
        &r.at_ms(),
        &e.category().as_str(),
        &provider,
        &model,
        &r.agent.as_deref(),
        &quantity,
        &unit.as_str(),
        &e.cost,
        &if e.late() { "late" } else { "usage" },
        &e.priced(),
        &t.map(|t| int(t.input)),
        &t.map(|t| int(t.cached_input)),
        &t.map(|t| int(t.cache_write)),
        &t.map(|t| int(t.output)),
        &t.map(|t| int(t.audio_input)),
        &t.map(|t| int(t.audio_output)),
        &audio_in,
        &audio_out,
        &amount,
    ];
    for (i, v) in values.iter().enumerate() {
        stmt.raw_bind_parameter(offset + i + 1, v)?;
    }
    Ok(())
}

/// SQLite integers are signed; every count callmeter stores is far below `i64::MAX`.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(storage(path, "reading the schema version"))?;
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
            "BEGIN; {SCHEMA_V1} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))
        .map_err(storage(path, "creating the schema"))?;
    }
    Ok(())
}
