//! The SQLite store: opening a file (configured, its schema migrated by [`schema`](crate::persist::schema),
//! this meter registered) and writing batches.
//!
//! One file, WAL mode. Money is INTEGER nano-USD;
//! times are INTEGER milliseconds since the Unix epoch, UTC.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{CachedStatement, Connection, OptionalExtension, Transaction, params};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::control::{Period, Quota};
use crate::ident::CallIdent;
use crate::persist::failure::storage;
use crate::persist::message::{Batch, Resolved, UNKNOWN_BIT};
use crate::persist::outbox;
use crate::persist::owner::{self, MeterLock, Recovered, not_writable_or};
use crate::persist::quarantine::Quarantined;
use crate::persist::rollup::{Deltas, Sums};
use crate::persist::rows::{LAYOUTS, ROWS_PER_INSERT, insert_rows, int, layout};
use crate::persist::schema::migrate;

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
            p.price.checked().map(|d| d.to_string()),
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
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(storage(path, "setting the busy timeout"))?;
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
            let measure = r.measure;
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
                self.written.conflicts += insert_rows(self.tx, layout, &batch.events, group)?;
                group.clear();
            }
        }
        for (layout, group) in groups.iter().enumerate() {
            self.written.conflicts += insert_rows(self.tx, layout, &batch.events, group)?;
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

/// How long opening waits for another connection's lock (switching a new file to WAL, creating or
/// migrating its schema, registering the meter): processes started together on one new file wait
/// for each other rather than fail. Writes after opening wait [`BUSY_TIMEOUT`].
const OPEN_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// WAL, `synchronous = NORMAL`, the page cache and the log's bounds; the busy timeout of opening.
fn configure(conn: &Connection, path: &Path) -> Result<()> {
    conn.busy_timeout(OPEN_BUSY_TIMEOUT)
        .map_err(storage(path, "setting the busy timeout"))?;
    // journal_mode answers with a row; an in-memory database stays in "memory" mode. Switching a new
    // file to WAL takes an exclusive lock, and SQLite answers "busy" at once, without waiting, when
    // two connections reading the new file both ask for it: it is tried again until the deadline.
    let deadline = std::time::Instant::now() + OPEN_BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(_) => break,
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(not_writable_or(
                    path,
                    "enabling WAL (is this a SQLite database?)",
                    e,
                ));
            }
        }
    }
    // synchronous=NORMAL: in WAL mode a commit survives a process crash; only a power loss can take the
    // last transactions. A 64 MiB page cache keeps the event indexes' hot pages in memory.
    conn.execute_batch(&format!(
        "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536;
         PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES};
         PRAGMA journal_size_limit = {WAL_SIZE_LIMIT};"
    ))
    .map_err(storage(path, "setting pragmas"))
}
