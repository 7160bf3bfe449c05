//! The SQLite store: schema, migrations and batch writes.
//!
//! One file, WAL mode, created and migrated on open (`PRAGMA user_version`). Money is INTEGER nano-USD;
//! times are INTEGER milliseconds since the Unix epoch, UTC.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use once_cell::sync::Lazy;
use rusqlite::{
    CachedStatement, Connection, OptionalExtension, Statement, ToSql, Transaction, params,
};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::base::error::{Error, Result, storage};
use crate::base::money::Usd;
use crate::base::usage::Measure;
use crate::control::{Period, Quota};
use crate::ident::CallIdent;
use crate::persist::message::{Batch, Resolved, UNKNOWN_BIT};
use crate::persist::outbox;
use crate::persist::owner::{self, MeterLock, Recovered, not_writable_or};
use crate::persist::quarantine::{Quarantined, SCHEMA as QUARANTINE};
use crate::persist::rollup::{Deltas, SCHEMA as ROLLUPS, Sums};

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = 5;

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

// `cost_events.event_id` is `call_id#segment#seq`: read from the right, the last two fields are digits,
// so no two identities spell the same text. It is unique because (call_ref, segment, seq) is. It is
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

/// Inserts a call unless its id is already there, under the number given, or else numbered after every
/// call already there; answers its `call_ref`, or nothing when the id was there.
const INSERT_CALL: &str = "INSERT INTO calls
    (call_id, call_ref, user_id, tenant_id, persona, session_kind, status, started_at, metadata, owner)
    VALUES (?1, COALESCE(?2, (SELECT COALESCE(MAX(call_ref), 0) + 1 FROM calls)), ?3, ?4, ?5, ?6,
            'active', ?7, ?8, ?9)
    ON CONFLICT DO NOTHING
    RETURNING call_ref";

/// A call id seen again continues its call: active again, owned by this meter, one more segment.
const CONTINUE_CALL: &str = "UPDATE calls SET status = 'active', owner = ?2, ended_at = NULL,
    failure_reason = NULL, segments = segments + 1
    WHERE call_id = ?1 RETURNING call_ref";

const INSERT_ALERT: &str = "INSERT INTO alerts
    (kind, subject, call_id, user_id, tenant_id, value_nanos, threshold_nanos, raised_at, message,
     usage_used, usage_threshold, usage_unit)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";

const INSERT_PRICE: &str = "INSERT OR IGNORE INTO prices
    (provider, model, category, effective_from, effective_to, origin, source, verified_on, definition,
     first_used_at)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";

const PRICE_ID: &str = "SELECT price_id FROM prices WHERE definition = ?1";

/// Columns every event binds.
const BASE_COLUMNS: [&str; 12] = [
    "call_id",
    "call_ref",
    "seq",
    "segment",
    "created_at",
    "category",
    "provider",
    "model",
    "quantity",
    "unit",
    "cost_nanos",
    "price_id",
];

/// Groups of columns an event binds only when it has them; the others keep their default (NULL, or
/// `kind = 'usage'` and `priced = 1`). Binding a value is a large share of a row's cost, and most events
/// have none of these.
const AGENT: usize = 1;
const FLAGS: usize = 1 << 1;
const TOKENS: usize = 1 << 2;
const AUDIO: usize = 1 << 3;
const AMOUNT: usize = 1 << 4;
const LAYOUTS: usize = 1 << 5;

/// The detail columns of `cost_events`, NULL where they do not apply: the token counts (in the order
/// of `TokenUsage::parts`), the realtime audio milliseconds, a payment's amount.
pub(crate) const DETAIL_COLUMNS: [&str; 12] = [
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "cached_audio_input_tokens",
    "audio_output_tokens",
    "audio_input_ms",
    "audio_output_ms",
    "amount_nanos",
];
/// [`DETAIL_COLUMNS`] split into the token counts, the audio milliseconds and the amount.
const TOKEN_COLUMNS: &[&str] = DETAIL_COLUMNS.split_at(9).0;
const AUDIO_COLUMNS: &[&str] = DETAIL_COLUMNS.split_at(9).1.split_at(2).0;
const AMOUNT_COLUMNS: &[&str] = DETAIL_COLUMNS.split_at(11).1;

const GROUPS: [(usize, &[&str]); 5] = [
    (AGENT, &["agent"]),
    (FLAGS, &["kind", "priced"]),
    (TOKENS, TOKEN_COLUMNS),
    (AUDIO, AUDIO_COLUMNS),
    (AMOUNT, AMOUNT_COLUMNS),
];

/// Rows per multi-row INSERT: one statement step per this many events (SQLite's per-statement work is a
/// large share of a small row's cost).
const ROWS_PER_INSERT: usize = 32;

fn layout_columns(layout: usize) -> Vec<&'static str> {
    let mut columns = BASE_COLUMNS.to_vec();
    for (bit, group) in GROUPS {
        if layout & bit != 0 {
            columns.extend_from_slice(group);
        }
    }
    columns
}

fn insert_events_sql(layout: usize, rows: usize) -> String {
    let columns = layout_columns(layout);
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT OR IGNORE INTO cost_events ({}) VALUES {}",
        columns.join(", "),
        vec![row; rows].join(", ")
    )
}

/// The INSERT statements of each layout: (one row, [`ROWS_PER_INSERT`] rows, parameters per row).
static INSERT_EVENTS: Lazy<Vec<(String, String, usize)>> = Lazy::new(|| {
    (0..LAYOUTS)
        .map(|layout| {
            (
                insert_events_sql(layout, 1),
                insert_events_sql(layout, ROWS_PER_INSERT),
                layout_columns(layout).len(),
            )
        })
        .collect()
});

/// The coalesced row of a call's final record.
const INSERT_COALESCED: &str = "INSERT OR IGNORE INTO cost_events
    (call_id, call_ref, seq, segment, created_at, category, provider, model, quantity, unit,
     cost_nanos, kind)
    VALUES (?1, ?2, ?3, ?8, ?4, ?5, 'callmeter', 'coalesced', ?6, 'event', ?7, 'coalesced')";

const ADD_TO_CALL: &str = "UPDATE calls SET
    total_cost_nanos = total_cost_nanos + ?2,
    event_count = event_count + ?3,
    revenue_nanos = revenue_nanos + ?4
    WHERE call_ref = ?1";

/// A call whose events may have collided with rows already there: its totals are the sums of its rows.
const RECOUNT_CALL: &str = "UPDATE calls SET
    total_cost_nanos = (SELECT COALESCE(SUM(cost_nanos), 0) FROM cost_events WHERE call_ref = ?1),
    event_count = (SELECT COALESCE(SUM(CASE WHEN kind = 'coalesced' THEN CAST(quantity AS INTEGER)
                                            ELSE 1 END), 0)
                   FROM cost_events WHERE call_ref = ?1),
    revenue_nanos = (SELECT COALESCE(SUM(amount_nanos), 0) FROM cost_events WHERE call_ref = ?1)
    WHERE call_ref = ?1";

/// Ends the call if this meter still owns it (a call continued by another meter is that meter's to end).
const END_CALL: &str = "UPDATE calls SET status = ?2, failure_reason = ?3, ended_at = ?4
    WHERE call_ref = ?1 AND owner = ?5";

/// What a committed batch did besides inserting its events.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Written {
    pub(crate) conflicts: u64,
    pub(crate) coalesced_rows: u64,
}

/// The writer's connection.
pub(crate) struct Store {
    conn: Connection,
    path: std::path::PathBuf,
    /// `price_id` of each catalog entry already stored, by catalog and entry.
    price_ids: FxHashMap<(u64, u32), i64>,
    /// This meter's row in `meters`: the owner of the calls it writes.
    meter_ref: i64,
    /// The lock that tells other meters this one runs; released at shutdown.
    lock: Option<MeterLock>,
    /// What opening found and closed of meters that were gone.
    pub(crate) recovered: Recovered,
    /// The file's origin (see [`outbox`]).
    origin: String,
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release(&self.conn, crate::base::clock::system_now_ms());
        }
    }
}

/// Per-call sums of one batch.
#[derive(Default)]
struct CallDelta {
    cost: i64,
    events: i64,
    revenue: i64,
}

/// The transaction's statements for call rows, and the `call_ref` of each call it numbered. A number
/// assigned in a transaction is kept on the call only once the transaction commits: a failed batch is
/// written again whole and numbers its calls again.
struct CallRows<'c> {
    insert: CachedStatement<'c>,
    resume: CachedStatement<'c>,
    /// This meter's `meter_ref`: the owner of the calls it starts or continues.
    owner: i64,
    assigned: FxHashMap<u64, i64>,
}

impl CallRows<'_> {
    /// The call's number, inserting its row if this is the first time it is seen.
    fn number(&mut self, call: &CallIdent) -> rusqlite::Result<i64> {
        match call.call_ref.load(Ordering::Relaxed) {
            0 => match self.assigned.get(&call.key) {
                Some(&r) => Ok(r),
                None => self.start(call),
            },
            r => Ok(r),
        }
    }

    /// Inserts the call if its id is new, or else continues the call already there (see
    /// [`CONTINUE_CALL`]); answers its `call_ref`.
    fn start(&mut self, call: &CallIdent) -> rusqlite::Result<i64> {
        let call_ref = match self.insert_row(call, None)? {
            Some(r) => r,
            None => self
                .resume
                .query_row(params![call.call_id, self.owner], |r| r.get(0))?,
        };
        self.assigned.insert(call.key, call_ref);
        Ok(call_ref)
    }

    /// Puts the call's row back under its number if it is missing.
    fn restore(&mut self, call: &CallIdent, call_ref: i64) -> rusqlite::Result<()> {
        self.insert_row(call, Some(call_ref)).map(drop)
    }

    fn insert_row(
        &mut self,
        call: &CallIdent,
        call_ref: Option<i64>,
    ) -> rusqlite::Result<Option<i64>> {
        self.insert
            .query_row(
                params![
                    call.call_id,
                    call_ref,
                    call.user_id,
                    call.tenant_id,
                    call.persona,
                    call.session_kind,
                    call.started_at_ms,
                    call.metadata,
                    self.owner,
                ],
                |r| r.get(0),
            )
            .optional()
    }
}

/// The transaction's statements for prices, and the `price_id` of each entry it stored; like call
/// numbers, they are remembered only once the transaction commits.
struct PriceRows<'c> {
    insert: CachedStatement<'c>,
    lookup: CachedStatement<'c>,
    assigned: FxHashMap<(u64, u32), i64>,
}

impl PriceRows<'_> {
    /// The `price_id` of the event's price, storing the price the first time it is used; `None` for an
    /// event without one (an unknown model).
    fn id(
        &mut self,
        stored: &FxHashMap<(u64, u32), i64>,
        r: &Resolved,
    ) -> rusqlite::Result<Option<i64>> {
        let entry = r.event.entry;
        if entry & UNKNOWN_BIT != 0 {
            return Ok(None);
        }
        let catalog = &r.call.catalog;
        let key = (catalog.id(), entry);
        if let Some(&id) = stored.get(&key).or_else(|| self.assigned.get(&key)) {
            return Ok(Some(id));
        }
        let p = catalog.stored(entry);
        self.insert.execute(params![
            p.price.provider(),
            p.price.model(),
            p.price.category().as_str(),
            p.from,
            p.to,
            p.price.origin().as_str(),
            p.price.source(),
            p.price.verified_on().map(|d| d.to_string()),
            p.definition,
            r.at_ms(),
        ])?;
        let id: i64 = self.lookup.query_row([&p.definition], |row| row.get(0))?;
        self.assigned.insert(key, id);
        Ok(Some(id))
    }
}

impl Store {
    /// Opens or creates the database, brings its schema to [`SCHEMA_VERSION`], registers this meter
    /// (the write that proves the file can be written) and closes the calls of meters that are gone.
    pub(crate) fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).map_err(|e| not_writable_or(path, "opening", e))?;
        let lock = MeterLock::claim(path)?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(Error::NotWritable {
                path: path.to_path_buf(),
                reason: "SQLite opened it read-only (no write permission on the file)".into(),
            });
        }
        configure(&conn, path)?;
        migrate(&conn, path)?;
        let now = crate::base::clock::system_now_ms();
        let meter_ref = lock.register(&conn, path, now)?;
        let recovered = owner::recover(&conn, path, meter_ref, now)?;
        let origin = outbox::origin(&conn).map_err(storage(path, "reading the origin"))?;
        // Two INSERT statements per column layout in use, plus the call statements.
        conn.set_prepared_statement_cache_capacity(2 * LAYOUTS + 8);
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            price_ids: FxHashMap::default(),
            meter_ref,
            lock: Some(lock),
            recovered,
            origin,
        })
    }

    /// Replaces the file's `quotas` with what this meter watches: `quotas`, then the platform's
    /// `daily` and `monthly` cost alert thresholds (one transaction).
    pub(crate) fn record_quotas(
        &mut self,
        quotas: &[Quota],
        daily: Usd,
        monthly: Usd,
        now_ms: i64,
    ) -> Result<()> {
        let path = self.path.clone();
        let write = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute("DELETE FROM quotas", [])?;
            {
                let mut insert = tx.prepare(
                    "INSERT INTO quotas (provider, model, period, units, cost_nanos, warn_percent,
                                         critical_percent, set_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for q in quotas {
                    insert.execute(params![
                        q.provider,
                        q.model,
                        q.period.as_str(),
                        q.units.map(|u| i64::try_from(u).unwrap_or(i64::MAX)),
                        q.cost.map(|c| c.to_nanos().unwrap_or(i64::MAX)),
                        q.warn_percent,
                        q.critical_percent,
                        now_ms
                    ])?;
                }
                for (period, threshold) in [(Period::Day, daily), (Period::Month, monthly)] {
                    let nanos = threshold.to_nanos().unwrap_or(i64::MAX);
                    insert.execute(params![
                        None::<&str>,
                        None::<&str>,
                        period.as_str(),
                        None::<i64>,
                        nanos,
                        100,
                        100,
                        now_ms
                    ])?;
                }
            }
            tx.commit()
        };
        write(&mut self.conn).map_err(|e| not_writable_or(&path, "recording the quotas", e))
    }

    /// Writes one refused record to `quarantine` (a transaction of its own).
    pub(crate) fn quarantine(&self, q: &Quarantined) -> rusqlite::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO quarantine
                 (record, call_id, event_id, cost_nanos, events, detail, reason, quarantined_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                q.record,
                q.call_id,
                q.event_id,
                q.cost,
                int(q.events),
                q.detail,
                q.reason,
                q.at_ms
            ])
            .map(drop)
    }

    /// Moves the write-ahead log into the database and truncates it to nothing: keeps the log's
    /// file small (see [`WAL_CHECKPOINT_PAGES`]), and frees its space after a "disk full".
    pub(crate) fn checkpoint(&self) -> rusqlite::Result<()> {
        // Answers (busy, log pages, pages moved); a reader in the way makes it partial, not an error.
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
    }

    /// The connection, for reads made before the writer starts.
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The file's origin, the last part of every `event_id` it holds.
    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    /// The database file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a batch in one transaction.
    /// Writes `batch` in one transaction, as a sequence of steps (see [`Txn`]). The call numbers a
    /// transaction assigns are kept on the calls only once it commits: a failed batch is written again
    /// whole and numbers its calls again.
    pub(crate) fn write(&mut self, batch: &Batch) -> rusqlite::Result<Written> {
        let tx = self.conn.transaction()?;
        let (written, calls, prices) = {
            let mut t = Txn::new(&tx, self.meter_ref)?;
            t.start_calls(batch)?;
            t.insert_events(batch, &self.price_ids)?;
            t.insert_coalesced(batch)?;
            t.add_to_calls()?;
            t.end_calls(batch)?;
            t.rollups.write(&tx, &conflicted(batch))?;
            insert_alerts(&tx, batch)?;
            (t.written, t.calls.assigned, t.prices.assigned)
        };
        tx.commit()?;
        self.price_ids.extend(prices);
        keep_numbers(batch, &calls);
        Ok(written)
    }
}

/// One batch's transaction: its statements, and what it has numbered and summed so far.
struct Txn<'t, 'b> {
    tx: &'t Transaction<'t>,
    prices: PriceRows<'t>,
    calls: CallRows<'t>,
    /// Per call: its number and what this batch adds to its row.
    deltas: FxHashMap<*const CallIdent, (Arc<CallIdent>, i64, CallDelta)>,
    rollups: Deltas<'b>,
    written: Written,
}

impl<'t, 'b> Txn<'t, 'b> {
    fn new(tx: &'t Transaction<'t>, owner: i64) -> rusqlite::Result<Self> {
        Ok(Txn {
            tx,
            prices: PriceRows {
                insert: tx.prepare_cached(INSERT_PRICE)?,
                lookup: tx.prepare_cached(PRICE_ID)?,
                assigned: FxHashMap::default(),
            },
            calls: CallRows {
                insert: tx.prepare_cached(INSERT_CALL)?,
                resume: tx.prepare_cached(CONTINUE_CALL)?,
                owner,
                assigned: FxHashMap::default(),
            },
            deltas: FxHashMap::default(),
            rollups: Deltas::default(),
            written: Written::default(),
        })
    }

    /// Step 1: a row for each call started (or continued) and not numbered yet. A call's start is
    /// written before or with its first event, so every call the later steps meet is numbered;
    /// [`CallRows::number`] would number one that is not rather than lose it.
    fn start_calls(&mut self, batch: &'b Batch) -> rusqlite::Result<()> {
        for call in &batch.starts {
            if call.call_ref.load(Ordering::Relaxed) == 0
                && !self.calls.assigned.contains_key(&call.key)
            {
                self.calls.start(call)?;
            }
        }
        Ok(())
    }

    /// Counts one row of `call`, standing for `events` tracked events, in its call's delta.
    fn add_delta(
        &mut self,
        call: &Arc<CallIdent>,
        call_ref: i64,
        cost: i64,
        events: i64,
        revenue: i64,
    ) {
        let d = &mut self
            .deltas
            .entry(Arc::as_ptr(call))
            .or_insert_with(|| (Arc::clone(call), call_ref, CallDelta::default()))
            .2;
        d.cost += cost;
        d.events += events;
        d.revenue += revenue;
    }

    /// Step 2: the events, [`ROWS_PER_INSERT`] to a statement, grouped by the columns they bind; their
    /// prices the first time each is used; their sums for the call rows and the rollups.
    fn insert_events(
        &mut self,
        batch: &'b Batch,
        stored_prices: &FxHashMap<(u64, u32), i64>,
    ) -> rusqlite::Result<()> {
        let mut groups: Vec<Vec<(usize, i64, Option<i64>)>> = (0..LAYOUTS)
            .map(|_| Vec::with_capacity(ROWS_PER_INSERT))
            .collect();
        for (i, r) in batch.events.iter().enumerate() {
            let call_ref = self.calls.number(&r.call)?;
            let price_id = self.prices.id(stored_prices, r)?;
            self.add_delta(&r.call, call_ref, r.event.cost, 1, r.amount());
            let measure = r.event.measure();
            self.rollups.add(
                &r.call,
                r.at_ms(),
                r.event.category(),
                r.names().0,
                Sums::of(r.event.cost, Some(&measure), 1),
            );
            let layout = layout(r);
            let group = &mut groups[layout];
            group.push((i, call_ref, price_id));
            if group.len() == ROWS_PER_INSERT {
                insert_rows(self.tx, layout, &batch.events, group, &mut self.written)?;
                group.clear();
            }
        }
        for (layout, group) in groups.iter().enumerate() {
            insert_rows(self.tx, layout, &batch.events, group, &mut self.written)?;
        }
        Ok(())
    }

    /// Step 3: the coalesced rows of ended calls (what did not fit in the queue, one row per
    /// category).
    fn insert_coalesced(&mut self, batch: &'b Batch) -> rusqlite::Result<()> {
        let mut insert = self.tx.prepare_cached(INSERT_COALESCED)?;
        for end in &batch.ends {
            let call_ref = self.calls.number(&end.call)?;
            for c in &end.coalesced {
                let inserted = insert.execute(params![
                    end.call.call_id,
                    call_ref,
                    int(c.seq),
                    end.ended_at_ms,
                    c.category.as_str(),
                    c.events as f64,
                    c.cost,
                    end.call.segment,
                ])?;
                if inserted == 0 {
                    self.written.conflicts += 1;
                    end.call.conflicted.store(true, Ordering::Relaxed);
                } else {
                    self.written.coalesced_rows += 1;
                }
                // The row stands for the events it replaces, in the call's count as in the rollups.
                let events = i64::try_from(c.events).unwrap_or(i64::MAX);
                self.add_delta(&end.call, call_ref, c.cost, events, 0);
                self.rollups.add(
                    &end.call,
                    end.ended_at_ms,
                    c.category,
                    "callmeter",
                    Sums::of(c.cost, None, events),
                );
            }
        }
        Ok(())
    }

    /// Step 4: each call's row gets this batch's sums, or is recounted from its rows when one of them
    /// collided (or the row was removed from outside, which puts it back).
    fn add_to_calls(&mut self) -> rusqlite::Result<()> {
        let mut add = self.tx.prepare_cached(ADD_TO_CALL)?;
        let mut recount = self.tx.prepare_cached(RECOUNT_CALL)?;
        for (call, call_ref, d) in self.deltas.values() {
            let updated = if call.conflicted.load(Ordering::Relaxed) {
                recount.execute([call_ref])?
            } else {
                add.execute(params![call_ref, d.cost, d.events, d.revenue])?
            };
            if updated == 0 {
                self.calls.restore(call, *call_ref)?;
                call.conflicted.store(true, Ordering::Relaxed);
                recount.execute([call_ref])?;
            }
        }
        Ok(())
    }

    /// Step 5: the final record of each ended call (status, reason, end time), after its events.
    fn end_calls(&mut self, batch: &'b Batch) -> rusqlite::Result<()> {
        let mut end = self.tx.prepare_cached(END_CALL)?;
        let owner = self.calls.owner;
        for rec in &batch.ends {
            let call_ref = self.calls.number(&rec.call)?;
            let row = params![
                call_ref,
                rec.status.as_str(),
                rec.reason,
                rec.ended_at_ms,
                owner
            ];
            if end.execute(row)? == 0 {
                // Missing (removed from outside: put back), or continued by another meter, which
                // now owns it and will end it.
                self.calls.restore(&rec.call, call_ref)?;
                end.execute(row)?;
            }
        }
        Ok(())
    }
}

/// The calls of `batch` whose rows may have collided: step 6 rebuilds their rollups from their rows
/// instead of adding to them.
fn conflicted(batch: &Batch) -> FxHashSet<*const CallIdent> {
    batch
        .events
        .iter()
        .map(|r| &r.call)
        .chain(batch.ends.iter().map(|e| &e.call))
        .filter(|c| c.conflicted.load(Ordering::Relaxed))
        .map(Arc::as_ptr)
        .collect()
}

/// Step 7: the alerts raised since the last batch.
fn insert_alerts(tx: &Transaction<'_>, batch: &Batch) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(INSERT_ALERT)?;
    for a in &batch.alerts {
        let usage = a.usage.as_ref();
        insert.execute(params![
            a.kind.as_str(),
            a.subject,
            a.call_id,
            a.user_id,
            a.tenant_id,
            a.value.to_nanos().unwrap_or(i64::MAX),
            a.threshold.map(|t| t.to_nanos().unwrap_or(i64::MAX)),
            a.at.timestamp_millis(),
            a.message,
            usage.map(|u| u.used.to_string()),
            usage.map(|u| u.threshold.to_string()),
            usage.map(|u| u.unit.as_str()),
        ])?;
    }
    Ok(())
}

/// After the commit: each call numbered by the transaction keeps its number.
fn keep_numbers(batch: &Batch, assigned: &FxHashMap<u64, i64>) {
    if assigned.is_empty() {
        return;
    }
    for call in batch
        .starts
        .iter()
        .chain(batch.events.iter().map(|r| &r.call))
        .chain(batch.ends.iter().map(|e| &e.call))
    {
        if let Some(&r) = assigned.get(&call.key) {
            call.call_ref.store(r, Ordering::Relaxed);
        }
    }
}

/// Inserts events of one layout: [`ROWS_PER_INSERT`] of them in one statement, fewer one by one.
fn insert_rows(
    tx: &Transaction<'_>,
    layout: usize,
    events: &[Resolved],
    rows: &[(usize, i64, Option<i64>)],
    written: &mut Written,
) -> rusqlite::Result<()> {
    let (one, many, width) = &INSERT_EVENTS[layout];
    let mut collided = |i: usize, n: usize| {
        written.conflicts += n as u64;
        events[i].call.conflicted.store(true, Ordering::Relaxed);
    };
    if rows.len() == ROWS_PER_INSERT {
        let mut stmt = tx.prepare_cached(many)?;
        for (k, &(i, call_ref, price_id)) in rows.iter().enumerate() {
            bind_event(
                &mut stmt,
                k * width,
                (call_ref, price_id),
                &events[i],
                layout,
            )?;
        }
        let inserted = stmt.raw_execute()?;
        if inserted < rows.len() {
            // Which rows collided is not known: every call of the statement is recounted.
            collided(rows[0].0, rows.len() - inserted);
            for &(i, ..) in &rows[1..] {
                collided(i, 0);
            }
        }
    } else if !rows.is_empty() {
        let mut stmt = tx.prepare_cached(one)?;
        for &(i, call_ref, price_id) in rows {
            bind_event(&mut stmt, 0, (call_ref, price_id), &events[i], layout)?;
            if stmt.raw_execute()? == 0 {
                collided(i, 1);
            }
        }
    }
    Ok(())
}

/// Which optional column groups the event binds.
fn layout(r: &Resolved) -> usize {
    let e = &r.event;
    let mut layout = match e.measure() {
        Measure::Tokens(_) => TOKENS,
        Measure::Two(_) => AUDIO,
        Measure::Payment(..) => AMOUNT,
        Measure::One(..) => 0,
    };
    if r.agent.is_some() {
        layout |= AGENT;
    }
    if e.late() || !e.priced() {
        layout |= FLAGS;
    }
    layout
}

/// Binds one event's columns in `layout` at parameters `offset + 1 ..`.
fn bind_event(
    stmt: &mut Statement<'_>,
    offset: usize,
    (call_ref, price_id): (i64, Option<i64>),
    r: &Resolved,
    layout: usize,
) -> rusqlite::Result<()> {
    let (provider, model) = r.names();
    let e = &r.event;
    let measure = e.measure();
    let (quantity, unit) = measure.headline();
    let base: [&dyn ToSql; BASE_COLUMNS.len()] = [
        &r.call.call_id,
        &call_ref,
        &e.seq,
        &r.call.segment,
        &r.at_ms(),
        &e.category().as_str(),
        &provider,
        &model,
        &quantity,
        &unit.as_str(),
        &e.cost,
        &price_id,
    ];
    let mut at = offset;
    let mut bind = |v: &dyn ToSql| {
        at += 1;
        stmt.raw_bind_parameter(at, v)
    };
    for v in base {
        bind(v)?;
    }
    if layout & AGENT != 0 {
        bind(&r.agent.as_deref())?;
    }
    if layout & FLAGS != 0 {
        bind(&if e.late() { "late" } else { "usage" })?;
        bind(&e.priced())?;
    }
    match measure {
        Measure::Tokens(t) if layout & TOKENS != 0 => {
            for (_, n) in t.parts() {
                bind(&int(n))?;
            }
        }
        Measure::Two([(_, i), (_, o)]) if layout & AUDIO != 0 => {
            bind(&int(i))?;
            bind(&int(o))?;
        }
        Measure::Payment(a, _) if layout & AMOUNT != 0 => bind(&a)?,
        _ => {}
    }
    Ok(())
}

/// SQLite integers are signed; every count callmeter stores is far below `i64::MAX`.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Pages of write-ahead log after which SQLite moves it into the database (16 MiB of 4 KiB pages),
/// and the size the log file is cut back to after a checkpoint. Measured with `benches/writer.rs` on one
/// run: 1 000 pages cut to 8 MiB, 265 000 events/s; 4 096 pages cut to 16 MiB, 319 000; 16 384 pages
/// uncut (the former setting), 326 000, but that log grew to 67 MB for 6.6 MB of data and filled a
/// small disk (`tests/small_disk.rs` fails with it).
pub(crate) const WAL_CHECKPOINT_PAGES: u32 = 4_096;
/// See [`WAL_CHECKPOINT_PAGES`] (bytes).
pub(crate) const WAL_SIZE_LIMIT: u64 = 16 << 20;

/// How long a write waits for another connection's lock before it fails as busy (and the writer
/// retries it with its own backoff, seeing shutdown requests in between).
pub(crate) const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(250);

/// WAL, `synchronous = NORMAL`, the page cache and the log's bounds.
fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(storage(path, "setting the busy timeout"))?;
    // journal_mode answers with a row; an in-memory database stays in "memory" mode.
    let _mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| not_writable_or(path, "enabling WAL (is this a SQLite database?)", e))?;
    // synchronous=NORMAL: in WAL mode a commit survives a process crash; only a power loss can take the
    // last transactions. A 64 MiB page cache keeps the event indexes' hot pages in memory.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
    ))
    .map_err(storage(path, "setting pragmas"))
}

/// How long opening waits for another process that is creating or migrating the schema of the same
/// file (two agent processes started together on one new file).
const MIGRATE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Brings the schema to [`SCHEMA_VERSION`]. The version is read again, and the schema created or
/// migrated, inside one `BEGIN IMMEDIATE` transaction: of several processes opening one new file at
/// once, the first creates the schema and the others, waiting for its lock, find it there.
pub(crate) fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    if version(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    let busy: i64 = conn
        .query_row("PRAGMA busy_timeout", [], |r| r.get(0))
        .map_err(storage(path, "reading the busy timeout"))?;
    let wait = std::time::Duration::from_millis(u64::try_from(busy).unwrap_or(0));
    conn.busy_timeout(wait.max(MIGRATE_BUSY_TIMEOUT))
        .map_err(storage(path, "setting the busy timeout"))?;
    let result = conn
        .execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| not_writable_or(path, "locking the file to create its schema", e))
        .and_then(|()| {
            let done = migrate_locked(conn, path).and_then(|()| {
                conn.execute_batch("COMMIT")
                    .map_err(|e| not_writable_or(path, "committing the schema", e))
            });
            if done.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            done
        });
    conn.busy_timeout(wait)
        .map_err(storage(path, "setting the busy timeout"))?;
    result
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
            "{SCHEMA_V3} {ROLLUPS} {QUARANTINE} {} {SCHEMA_V5}
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(count(&store, "PRAGMA user_version"), 5);
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
