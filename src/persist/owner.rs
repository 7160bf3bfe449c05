//! Which meter owns which call, and closing the calls of a meter whose process is gone.
//!
//! Every meter that opens a database file registers itself in table `meters` (a random id, its process
//! id, when it opened) and holds an exclusive lock on a file of its own, `<database>-meters/<id>.lock`,
//! for as long as it runs. The operating system releases that lock when the process ends, however it
//! ends (a crash, `SIGKILL`), so a lock that can be taken belongs to a meter that is gone. Each call row
//! names its owner (`calls.owner`); a call continued by another meter changes owner.
//!
//! When a meter opens, it looks at every other meter registered as running: one whose lock it can take
//! is gone, and its calls still `active` are closed as `interrupted`, with the costs already written and
//! the time of their last event as their end. A meter that is still running (another process on the
//! same file) keeps its calls.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::base::error::{Error, Result};
use crate::persist::failure::storage;

/// The lock a running meter holds, and its row in `meters`.
#[derive(Debug)]
pub(crate) struct MeterLock {
    /// The lock file; `None` for an in-memory database, which no other meter can see.
    file: Option<(File, PathBuf)>,
    /// The meter's random id, as stored in `meters.meter_id`.
    pub(crate) id: String,
}

/// The folder of lock files beside the database file.
fn lock_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().unwrap_or_default().to_os_string();
    name.push("-meters");
    db.with_file_name(name)
}

fn lock_path(db: &Path, id: &str) -> PathBuf {
    lock_dir(db).join(format!("{id}.lock"))
}

fn is_memory(db: &Path) -> bool {
    db.as_os_str() == ":memory:" || db.as_os_str().is_empty()
}

impl MeterLock {
    /// Takes a new meter id and the lock that says it runs.
    ///
    /// # Errors
    ///
    /// [`Error::NotWritable`] when the lock folder or file cannot be created beside the database.
    pub(crate) fn claim(db: &Path) -> Result<MeterLock> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        if is_memory(db) {
            return Ok(MeterLock { file: None, id });
        }
        let not_writable = |e: std::io::Error| Error::NotWritable {
            path: db.to_path_buf(),
            reason: format!("cannot create the meter's lock file: {e}"),
        };
        match std::fs::create_dir(lock_dir(db)) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(not_writable(e)),
            _ => {}
        }
        let path = lock_path(db, &id);
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(not_writable)?;
        file.lock().map_err(not_writable)?;
        Ok(MeterLock {
            file: Some((file, path)),
            id,
        })
    }

    /// Registers the meter in `meters` and answers its `meter_ref`. This is the first write a meter
    /// makes: it proves the database can be written.
    pub(crate) fn register(&self, conn: &Connection, db: &Path, now_ms: i64) -> Result<i64> {
        conn.query_row(
            "INSERT INTO meters (meter_id, pid, opened_at) VALUES (?1, ?2, ?3) RETURNING meter_ref",
            params![self.id, std::process::id(), now_ms],
            |r| r.get(0),
        )
        .map_err(|e| not_writable_or(db, "registering the meter", e))
    }

    /// Marks the meter closed (a clean shutdown); dropping it then removes the lock file.
    pub(crate) fn release(self, conn: &Connection, now_ms: i64) {
        let _ = conn.execute(
            "UPDATE meters SET closed_at = ?2, closed_how = 'shutdown' WHERE meter_id = ?1",
            params![self.id, now_ms],
        );
    }
}

impl Drop for MeterLock {
    /// Removes the lock file (a meter that failed to open leaves none behind). The folder stays: another
    /// meter may be creating its own lock in it.
    fn drop(&mut self) {
        if let Some((file, path)) = self.file.take() {
            drop(file);
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// [`Error::NotWritable`] for the errors that say the file cannot be written, else [`Error::Storage`].
pub(crate) fn not_writable_or(db: &Path, context: &'static str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{CannotOpen, PermissionDenied, ReadOnly};
    match e.sqlite_error_code() {
        Some(ReadOnly | CannotOpen | PermissionDenied) => Error::NotWritable {
            path: db.to_path_buf(),
            reason: e.to_string(),
        },
        _ => storage(db, context)(e),
    }
}

/// What [`recover`] closed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recovered {
    /// Meters found gone.
    pub(crate) meters: u64,
    /// Their calls closed as `interrupted`.
    pub(crate) calls: u64,
}

/// Closes the calls of every registered meter whose process is gone (see the module docs).
pub(crate) fn recover(conn: &Connection, db: &Path, me: i64, now_ms: i64) -> Result<Recovered> {
    let mut recovered = Recovered::default();
    if is_memory(db) {
        return Ok(recovered);
    }
    let err = |e| storage(db, "closing the calls of meters that are gone")(e);
    let running: Vec<(i64, String)> = conn
        .prepare(
            "SELECT meter_ref, meter_id FROM meters WHERE closed_at IS NULL AND meter_ref != ?1",
        )
        .and_then(|mut s| {
            s.query_map([me], |r| <(i64, String)>::try_from(r))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(err)?;
    for (meter_ref, id) in running {
        let path = lock_path(db, &id);
        let Some(lock) = gone(&path) else { continue };
        let calls = conn
            .execute(
                "UPDATE calls SET status = 'interrupted',
                    failure_reason = 'the process tracking it ended without finalizing it',
                    ended_at = COALESCE(
                        (SELECT MAX(e.created_at) FROM cost_events e WHERE e.call_ref = calls.call_ref),
                        started_at)
                 WHERE owner = ?1 AND status = 'active'",
                [meter_ref],
            )
            .map_err(err)?;
        conn.execute(
            "UPDATE meters SET closed_at = ?2, closed_how = 'recovered' WHERE meter_ref = ?1",
            params![meter_ref, now_ms],
        )
        .map_err(err)?;
        drop(lock);
        let _ = std::fs::remove_file(&path);
        recovered.meters += 1;
        recovered.calls += calls as u64;
    }
    Ok(recovered)
}

/// The lock of a meter that is gone, taken; `None` while its process holds it.
fn gone(path: &Path) -> Option<Option<File>> {
    match OpenOptions::new().write(true).open(path) {
        // No lock file: the meter never took it, or it was removed; either way nobody holds it.
        Err(_) => Some(None),
        Ok(file) => match file.try_lock() {
            Ok(()) => Some(Some(file)),
            Err(TryLockError::WouldBlock) => None,
            // A file system without locks: the owner cannot be known, so its calls are left alone.
            Err(TryLockError::Error(_)) => None,
        },
    }
}
