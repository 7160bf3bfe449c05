//! The SQLite file as an outbox: what identifies its events across a fleet, and what has been shipped.
//!
//! - Table `outbox`, one row: `origin`, a random 16-hex-digit id given to the file when its schema is
//!   created (or migrated to version 4), and the shipper's two watermarks: `events_shipped` (the last
//!   `cost_events.id` a fleet database has committed) and `changes_shipped` (the last `call_changes.id`).
//! - `cost_events.event_id` is `call_id#segment#seq@origin`: segments are numbered per file, so the
//!   origin is what keeps two servers' events of one call id apart once they meet in one database.
//!   Read from the right it is unambiguous: the origin has a fixed length, the two numbers are digits.
//! - Table `call_changes`: a log of the calls whose row changed in a way a fleet database must learn
//!   (started, continued, ended, closed by recovery), filled by triggers on `calls`; totals are not in
//!   it (a fleet database sums the events it receives). The shipper deletes what it has shipped.
//!
//! Both watermarks only grow: `cost_events.id` is given in commit order (one writer at a time), and
//! `call_changes.id` is `AUTOINCREMENT`, never reused even once the rows below it are deleted.

use rusqlite::{Connection, OptionalExtension};

/// Schema version 4 on top of version 3: the outbox, the origin in `event_id`, the call change log.
/// `{origin}` is replaced by the file's new origin.
const MIGRATE_3_TO_4: &str = "
CREATE TABLE outbox (
    origin          TEXT NOT NULL,
    events_shipped  INTEGER NOT NULL DEFAULT 0,
    changes_shipped INTEGER NOT NULL DEFAULT 0
);
INSERT INTO outbox (origin) VALUES ('{origin}');
ALTER TABLE cost_events DROP COLUMN event_id;
ALTER TABLE cost_events ADD COLUMN event_id TEXT
    GENERATED ALWAYS AS (call_id || '#' || segment || '#' || seq || '@{origin}') VIRTUAL;
CREATE TABLE call_changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    call_ref INTEGER NOT NULL
);
INSERT INTO call_changes (call_ref) SELECT call_ref FROM calls ORDER BY call_ref;
CREATE TRIGGER calls_started AFTER INSERT ON calls
    BEGIN INSERT INTO call_changes (call_ref) VALUES (new.call_ref); END;
CREATE TRIGGER calls_changed AFTER UPDATE OF status, ended_at, owner, segments ON calls
    BEGIN INSERT INTO call_changes (call_ref) VALUES (new.call_ref); END;
";

/// The statements that bring a version-3 schema to version 4, with a new random origin.
pub(crate) fn migrate_3_to_4() -> String {
    MIGRATE_3_TO_4.replace("{origin}", &new_origin())
}

/// A random origin: 16 lowercase hex digits (64 random bits).
fn new_origin() -> String {
    let id = uuid::Uuid::new_v4().as_u64_pair().0;
    format!("{id:016x}")
}

/// The file's origin.
pub(crate) fn origin(conn: &Connection) -> rusqlite::Result<String> {
    conn.query_row("SELECT origin FROM outbox", [], |r| r.get(0))
}

/// The shipper's watermarks: the last event and the last call change a fleet database has committed.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Watermarks {
    pub(crate) events: i64,
    pub(crate) changes: i64,
}

#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl Watermarks {
    /// Reads them.
    pub(crate) fn read(conn: &Connection) -> rusqlite::Result<Watermarks> {
        conn.query_row(
            "SELECT events_shipped, changes_shipped FROM outbox",
            [],
            |r| {
                Ok(Watermarks {
                    events: r.get(0)?,
                    changes: r.get(1)?,
                })
            },
        )
    }

    /// Moves them forward (never back) and deletes the call changes now shipped.
    pub(crate) fn advance(&self, conn: &Connection) -> rusqlite::Result<()> {
        let tx = conn.unchecked_transaction()?;
        tx.execute(
            "UPDATE outbox SET events_shipped = MAX(events_shipped, ?1),
                               changes_shipped = MAX(changes_shipped, ?2)",
            [self.events, self.changes],
        )?;
        tx.execute("DELETE FROM call_changes WHERE id <= ?1", [self.changes])?;
        tx.commit()
    }
}

/// What is not shipped yet: the number of events after the watermark, and the oldest one's time.
/// Event ids are contiguous (given as the largest plus one, never deleted, not used by a rolled-back
/// insert), so the count is a difference.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
pub(crate) fn backlog(conn: &Connection, after: i64) -> rusqlite::Result<(u64, Option<i64>)> {
    let last: i64 = conn.query_row("SELECT COALESCE(MAX(id), 0) FROM cost_events", [], |r| {
        r.get(0)
    })?;
    let oldest: Option<i64> = conn
        .query_row(
            "SELECT created_at FROM cost_events WHERE id > ?1 ORDER BY id LIMIT 1",
            [after],
            |r| r.get(0),
        )
        .optional()?;
    Ok((u64::try_from(last - after).unwrap_or(0), oldest))
}
