//! The ledger of what providers billed: [`BilledLine`]s stored in table `billed` of a meter's file
//! or of a fleet's PostgreSQL database, one row per provider record, so that reports can set them
//! beside what callmeter computed.
//!
//! Importing is idempotent: a record already stored with the same figures is left alone, one whose
//! figures changed (a provider revised a day) replaces its row, so the same records imported twice
//! change nothing. One import is one transaction: a line that cannot be stored stores none.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::adapters::{BilledLine, BilledUsage};
use crate::base::error::{Error, Result, storage};
use crate::control::Alert;
use crate::persist::owner::not_writable_or;
use crate::persist::store::{SCHEMA_VERSION, migrate};

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Recorded {
    /// Records stored for the first time.
    pub added: usize,
    /// Records stored before with other figures, now replaced.
    pub changed: usize,
    /// Records stored before with the same figures: nothing done.
    pub unchanged: usize,
}

/// Where a [`Ledger`] writes.
enum Backend {
    Sqlite(Connection),
    #[cfg(feature = "postgres")]
    Postgres(Box<postgres::Client>),
}

/// Writes what providers billed into a callmeter database, beside what the meter computed.
///
/// # Examples
///
/// ```no_run
/// use callmeter::Ledger;
/// use callmeter::adapters::OpenAiCosts;
///
/// let costs: OpenAiCosts = serde_json::from_str(&std::fs::read_to_string("openai-costs.json")?)?;
/// let mut ledger = Ledger::open("callmeter.db")?;
/// let recorded = ledger.record(&costs.billed_lines(None)?)?;
/// println!("{} added, {} changed", recorded.added, recorded.changed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ledger {
    backend: Backend,
    /// The file, or the fleet database's URL without its password: what errors name.
    place: PathBuf,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

fn day_text(line: &BilledLine) -> String {
    line.day.format("%Y-%m-%d").to_string()
}

fn nanos(line: &BilledLine) -> Result<i64> {
    line.amount.to_nanos().map_err(|_| Error::BilledRecord {
        provider: line.provider.clone(),
        record: line.record_id.clone(),
        reason: format!("amount {} out of range", line.amount),
    })
}

impl Ledger {
    /// Opens a meter's database file for importing what providers billed (migrating it to the
    /// current schema, as a meter would). A running meter may write the same file meanwhile.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchDatabase`] for a missing file, [`Error::EmptyDatabase`] or
    /// [`Error::ForeignDatabase`] for one no meter wrote, [`Error::NotWritable`] when it cannot be
    /// written, [`Error::SchemaVersion`] when a newer callmeter wrote it.
    pub fn open(path: impl AsRef<Path>) -> Result<Ledger> {
        let path = path.as_ref().to_path_buf();
        if !path.exists() {
            return Err(Error::NoSuchDatabase { path });
        }
        let conn = Connection::open(&path).map_err(|e| not_writable_or(&path, "opening", e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(storage(&path, "setting the busy timeout"))?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(storage(&path, "reading the schema version"))?;
        if version == 0 {
            let tables: i64 = conn
                .query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(storage(&path, "reading the tables"))?;
            return Err(if tables == 0 {
                Error::EmptyDatabase { path }
            } else {
                Error::ForeignDatabase { path }
            });
        }
        if version < SCHEMA_VERSION {
            migrate(&conn, &path)?;
        } else if version > SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                path,
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Ledger {
            backend: Backend::Sqlite(conn),
            place: path,
        })
    }

    /// Connects to a fleet's PostgreSQL database for importing what providers billed (creating or
    /// migrating the fleet schema, as a shipping server would).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when it cannot be reached or migrated.
    #[cfg(feature = "postgres")]
    pub fn postgres(url: &str) -> Result<Ledger> {
        let place = PathBuf::from(crate::base::error::redacted(url));
        let fail =
            |context: &'static str, e: Box<dyn std::error::Error + Send + Sync>| Error::Storage {
                path: place.clone(),
                context,
                source: e,
            };
        let mut client = postgres::Client::connect(url, postgres::NoTls)
            .map_err(|e| fail("connecting", Box::new(e)))?;
        crate::persist::ship::schema::migrate(&mut client)
            .map_err(|e| fail("migrating the fleet schema", Box::new(e)))?;
        Ok(Ledger {
            backend: Backend::Postgres(Box::new(client)),
            place,
        })
    }

    /// Stores `lines`, in one transaction: a record not stored yet is added, one stored with other
    /// figures is replaced, one stored with the same figures is left alone.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for an amount out of range, [`Error::Storage`] when the database
    /// refuses the transaction (nothing of it is stored).
    pub fn record(&mut self, lines: &[BilledLine]) -> Result<Recorded> {
        let now = chrono::Utc::now().timestamp_millis();
        let amounts = lines.iter().map(nanos).collect::<Result<Vec<i64>>>()?;
        let place = self.place.clone();
        match &mut self.backend {
            Backend::Sqlite(conn) => record_sqlite(conn, lines, &amounts, now)
                .map_err(storage(&place, "storing billed records")),
            #[cfg(feature = "postgres")]
            Backend::Postgres(client) => {
                record_postgres(client, lines, &amounts, now).map_err(|e| Error::Storage {
                    path: place,
                    context: "storing billed records",
                    source: Box::new(e),
                })
            }
        }
    }

    /// Stores what providers counted (`usage`) in table `billed_usage`, as [`record`](Self::record)
    /// stores what they billed: in one transaction, idempotently.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database refuses the transaction (nothing of it is stored).
    pub fn record_usage(&mut self, usage: &[BilledUsage]) -> Result<Recorded> {
        let now = chrono::Utc::now().timestamp_millis();
        let rows: Vec<UsageRow<'_>> = usage
            .iter()
            .map(|u| UsageRow {
                provider: &u.provider,
                record_id: &u.record_id,
                figures: (
                    u.day.format("%Y-%m-%d").to_string(),
                    u.model.clone(),
                    u.unit.as_str().to_owned(),
                    u.quantity.normalize().to_string(),
                ),
            })
            .collect();
        let place = self.place.clone();
        match &mut self.backend {
            Backend::Sqlite(conn) => record_usage_sqlite(conn, &rows, now)
                .map_err(storage(&place, "storing billed usage")),
            #[cfg(feature = "postgres")]
            Backend::Postgres(client) => {
                record_usage_postgres(client, &rows, now).map_err(|e| Error::Storage {
                    path: place,
                    context: "storing billed usage",
                    source: Box::new(e),
                })
            }
        }
    }

    /// Stores `alerts` in the file's `alerts` table, each once (an alert of the same kind and
    /// subject raised at the same time is already there); answers how many were new. A fleet
    /// database keeps no alerts: it answers 0.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the file refuses them.
    pub fn record_alerts(&mut self, alerts: &[Alert]) -> Result<usize> {
        let place = self.place.clone();
        match &mut self.backend {
            Backend::Sqlite(conn) => {
                let write = |conn: &mut Connection| -> rusqlite::Result<usize> {
                    let tx = conn.transaction()?;
                    let mut new = 0;
                    for a in alerts {
                        let at = a.at.timestamp_millis();
                        let there: Option<i64> = tx
                            .query_row(
                                "SELECT alert_id FROM alerts WHERE kind = ?1 AND subject = ?2 AND raised_at = ?3",
                                params![a.kind.as_str(), a.subject, at],
                                |r| r.get(0),
                            )
                            .optional()?;
                        if there.is_some() {
                            continue;
                        }
                        tx.execute(
                            "INSERT INTO alerts (kind, subject, value_nanos, threshold_nanos, raised_at, message)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                            params![
                                a.kind.as_str(),
                                a.subject,
                                a.value.to_nanos().unwrap_or(i64::MAX),
                                a.threshold.map(|t| t.to_nanos().unwrap_or(i64::MAX)),
                                at,
                                a.message
                            ],
                        )?;
                        new += 1;
                    }
                    tx.commit()?;
                    Ok(new)
                };
                write(conn).map_err(storage(&place, "storing alerts"))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(0),
        }
    }
}

/// A stored record's figures: day, call, model, item, nano-dollars.
type Stored = (String, Option<String>, Option<String>, String, i64);

fn record_sqlite(
    conn: &mut Connection,
    lines: &[BilledLine],
    amounts: &[i64],
    now: i64,
) -> rusqlite::Result<Recorded> {
    let tx = conn.transaction()?;
    let mut recorded = Recorded::default();
    {
        let mut find = tx.prepare(
            "SELECT day, call_id, model, item, amount_nanos FROM billed
             WHERE provider = ?1 AND record_id = ?2",
        )?;
        let mut upsert = tx.prepare(
            "INSERT INTO billed (provider, record_id, day, call_id, model, item, amount_nanos, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (provider, record_id) DO UPDATE SET day = excluded.day,
                 call_id = excluded.call_id, model = excluded.model, item = excluded.item,
                 amount_nanos = excluded.amount_nanos, imported_at = excluded.imported_at",
        )?;
        for (line, &amount) in lines.iter().zip(amounts) {
            let day = day_text(line);
            let stored: Option<Stored> = find
                .query_row(params![line.provider, line.record_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()?;
            let same = (
                day.clone(),
                line.call_id.clone(),
                line.model.clone(),
                line.item.clone(),
                amount,
            );
            match stored {
                Some(s) if s == same => {
                    recorded.unchanged += 1;
                    continue;
                }
                Some(_) => recorded.changed += 1,
                None => recorded.added += 1,
            }
            upsert.execute(params![
                line.provider,
                line.record_id,
                day,
                line.call_id,
                line.model,
                line.item,
                amount,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(recorded)
}

#[cfg(feature = "postgres")]
fn record_postgres(
    client: &mut postgres::Client,
    lines: &[BilledLine],
    amounts: &[i64],
    now: i64,
) -> std::result::Result<Recorded, postgres::Error> {
    let mut tx = client.transaction()?;
    let mut recorded = Recorded::default();
    let find = tx.prepare(
        "SELECT day, call_id, model, item, amount_nanos FROM billed
         WHERE provider = $1 AND record_id = $2",
    )?;
    let upsert = tx.prepare(
        "INSERT INTO billed (provider, record_id, day, call_id, model, item, amount_nanos, imported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (provider, record_id) DO UPDATE SET day = excluded.day,
             call_id = excluded.call_id, model = excluded.model, item = excluded.item,
             amount_nanos = excluded.amount_nanos, imported_at = excluded.imported_at",
    )?;
    for (line, &amount) in lines.iter().zip(amounts) {
        let day = day_text(line);
        let stored = tx.query_opt(&find, &[&line.provider, &line.record_id])?;
        match stored {
            Some(r)
                if r.get::<_, String>(0) == day
                    && r.get::<_, Option<String>>(1) == line.call_id
                    && r.get::<_, Option<String>>(2) == line.model
                    && r.get::<_, String>(3) == line.item
                    && r.get::<_, i64>(4) == amount =>
            {
                recorded.unchanged += 1;
                continue;
            }
            Some(_) => recorded.changed += 1,
            None => recorded.added += 1,
        }
        tx.execute(
            &upsert,
            &[
                &line.provider,
                &line.record_id,
                &day,
                &line.call_id,
                &line.model,
                &line.item,
                &amount,
                &now,
            ],
        )?;
    }
    tx.commit()?;
    Ok(recorded)
}

/// A usage record's figures: day, model, unit, quantity (exact decimal text).
type UsageFigures = (String, Option<String>, String, String);

/// A usage record as stored.
struct UsageRow<'a> {
    provider: &'a str,
    record_id: &'a str,
    figures: UsageFigures,
}

fn record_usage_sqlite(
    conn: &mut Connection,
    rows: &[UsageRow<'_>],
    now: i64,
) -> rusqlite::Result<Recorded> {
    let tx = conn.transaction()?;
    let mut recorded = Recorded::default();
    {
        let mut find = tx.prepare(
            "SELECT day, model, unit, quantity FROM billed_usage WHERE provider = ?1 AND record_id = ?2",
        )?;
        let mut upsert = tx.prepare(
            "INSERT INTO billed_usage (provider, record_id, day, model, unit, quantity, imported_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (provider, record_id) DO UPDATE SET day = excluded.day,
                 model = excluded.model, unit = excluded.unit, quantity = excluded.quantity,
                 imported_at = excluded.imported_at",
        )?;
        for row in rows {
            let stored: Option<UsageFigures> = find
                .query_row(params![row.provider, row.record_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            match stored {
                Some(s) if s == row.figures => {
                    recorded.unchanged += 1;
                    continue;
                }
                Some(_) => recorded.changed += 1,
                None => recorded.added += 1,
            }
            let (day, model, unit, quantity) = &row.figures;
            upsert.execute(params![
                row.provider,
                row.record_id,
                day,
                model,
                unit,
                quantity,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(recorded)
}

#[cfg(feature = "postgres")]
fn record_usage_postgres(
    client: &mut postgres::Client,
    rows: &[UsageRow<'_>],
    now: i64,
) -> std::result::Result<Recorded, postgres::Error> {
    let mut tx = client.transaction()?;
    let mut recorded = Recorded::default();
    let find = tx.prepare(
        "SELECT day, model, unit, quantity FROM billed_usage WHERE provider = $1 AND record_id = $2",
    )?;
    let upsert = tx.prepare(
        "INSERT INTO billed_usage (provider, record_id, day, model, unit, quantity, imported_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (provider, record_id) DO UPDATE SET day = excluded.day,
             model = excluded.model, unit = excluded.unit, quantity = excluded.quantity,
             imported_at = excluded.imported_at",
    )?;
    for row in rows {
        let stored = tx.query_opt(&find, &[&row.provider, &row.record_id])?;
        let stored: Option<UsageFigures> = stored.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)));
        match stored {
            Some(s) if s == row.figures => {
                recorded.unchanged += 1;
                continue;
            }
            Some(_) => recorded.changed += 1,
            None => recorded.added += 1,
        }
        let (day, model, unit, quantity) = &row.figures;
        tx.execute(
            &upsert,
            &[
                &row.provider,
                &row.record_id,
                day,
                model,
                unit,
                quantity,
                &now,
            ],
        )?;
    }
    tx.commit()?;
    Ok(recorded)
}
