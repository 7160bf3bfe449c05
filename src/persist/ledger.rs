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
use crate::base::error::{Error, Result};
use crate::control::Alert;
use crate::persist::failure::storage;
use crate::persist::owner::not_writable_or;
use crate::persist::schema::{SCHEMA_VERSION, migrate};

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
        let place = PathBuf::from(crate::persist::failure::redacted(url));
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
        let rows = lines
            .iter()
            .map(|l| {
                Ok(Row {
                    provider: l.provider.clone(),
                    record_id: l.record_id.clone(),
                    texts: [
                        Some(day_text(l)),
                        l.call_id.clone(),
                        l.model.clone(),
                        Some(l.item.clone()),
                    ],
                    int: Some(nanos(l)?),
                })
            })
            .collect::<Result<Vec<Row>>>()?;
        self.store(&BILLED, &rows, "storing billed records")
    }

    /// Stores what providers counted (`usage`) in table `billed_usage`, as [`record`](Self::record)
    /// stores what they billed: in one transaction, idempotently.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database refuses the transaction (nothing of it is stored).
    pub fn record_usage(&mut self, usage: &[BilledUsage]) -> Result<Recorded> {
        let rows: Vec<Row> = usage
            .iter()
            .map(|u| Row {
                provider: u.provider.clone(),
                record_id: u.record_id.clone(),
                texts: [
                    Some(u.day.format("%Y-%m-%d").to_string()),
                    u.model.clone(),
                    Some(u.unit.as_str().to_owned()),
                    Some(u.quantity.normalize().to_string()),
                ],
                int: None,
            })
            .collect();
        self.store(&BILLED_USAGE, &rows, "storing billed usage")
    }

    /// Stores `rows` in `table`, in one transaction.
    fn store(&mut self, table: &Table, rows: &[Row], context: &'static str) -> Result<Recorded> {
        let now = chrono::Utc::now().timestamp_millis();
        let place = self.place.clone();
        match &mut self.backend {
            Backend::Sqlite(conn) => {
                store_sqlite(conn, table, rows, now).map_err(storage(&place, context))
            }
            #[cfg(feature = "postgres")]
            Backend::Postgres(client) => {
                store_postgres(client, table, rows, now).map_err(|e| Error::Storage {
                    path: place,
                    context,
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

/// A table of provider records: keyed by `(provider, record_id)`, with four text columns and, for
/// money, one integer column.
struct Table {
    name: &'static str,
    texts: [&'static str; 4],
    int: Option<&'static str>,
}

const BILLED: Table = Table {
    name: "billed",
    texts: ["day", "call_id", "model", "item"],
    int: Some("amount_nanos"),
};

const BILLED_USAGE: Table = Table {
    name: "billed_usage",
    texts: ["day", "model", "unit", "quantity"],
    int: None,
};

/// One record as a [`Table`] stores it.
struct Row {
    provider: String,
    record_id: String,
    texts: [Option<String>; 4],
    int: Option<i64>,
}

impl Table {
    /// Its figure columns, in order.
    fn columns(&self) -> Vec<&'static str> {
        self.texts.iter().copied().chain(self.int).collect()
    }

    /// The statement reading a record's figures; `p(n)` spells the n-th parameter.
    fn find(&self, p: fn(usize) -> String) -> String {
        format!(
            "SELECT {} FROM {} WHERE provider = {} AND record_id = {}",
            self.columns().join(", "),
            self.name,
            p(1),
            p(2)
        )
    }

    /// The statement adding a record or replacing its figures.
    fn upsert(&self, p: fn(usize) -> String) -> String {
        let columns = self.columns();
        let values: Vec<String> = (1..=columns.len() + 3).map(p).collect();
        let set: Vec<String> = columns
            .iter()
            .chain(["imported_at"].iter())
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(
            "INSERT INTO {} (provider, record_id, {}, imported_at) VALUES ({})
             ON CONFLICT (provider, record_id) DO UPDATE SET {}",
            self.name,
            columns.join(", "),
            values.join(", "),
            set.join(", ")
        )
    }
}

/// Counts what storing `rows` does: `stored(row)` answers whether the record is there with the
/// same figures (`Some(true)`), with others (`Some(false)`) or not at all; `write(row)` stores it.
fn each_row<E>(
    rows: &[Row],
    mut stored: impl FnMut(&Row) -> Result<Option<bool>, E>,
    mut write: impl FnMut(&Row) -> Result<(), E>,
) -> Result<Recorded, E> {
    let mut recorded = Recorded::default();
    for row in rows {
        match stored(row)? {
            Some(true) => {
                recorded.unchanged += 1;
                continue;
            }
            Some(false) => recorded.changed += 1,
            None => recorded.added += 1,
        }
        write(row)?;
    }
    Ok(recorded)
}

fn sqlite_param(n: usize) -> String {
    format!("?{n}")
}

fn store_sqlite(
    conn: &mut Connection,
    table: &Table,
    rows: &[Row],
    now: i64,
) -> rusqlite::Result<Recorded> {
    let tx = conn.transaction()?;
    let recorded = {
        let mut find = tx.prepare(&table.find(sqlite_param))?;
        let mut upsert = tx.prepare(&table.upsert(sqlite_param))?;
        each_row(
            rows,
            |row| {
                find.query_row(params![row.provider, row.record_id], |r| {
                    let texts: [Option<String>; 4] = [r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?];
                    let int: Option<i64> = match table.int {
                        Some(_) => r.get(4)?,
                        None => None,
                    };
                    Ok(texts == row.texts && int == row.int)
                })
                .optional()
            },
            |row| {
                let mut values: Vec<&dyn rusqlite::ToSql> = vec![&row.provider, &row.record_id];
                values.extend(row.texts.iter().map(|t| t as &dyn rusqlite::ToSql));
                if table.int.is_some() {
                    values.push(&row.int);
                }
                values.push(&now);
                upsert.execute(values.as_slice()).map(drop)
            },
        )?
    };
    tx.commit()?;
    Ok(recorded)
}

#[cfg(feature = "postgres")]
fn postgres_param(n: usize) -> String {
    format!("${n}")
}

#[cfg(feature = "postgres")]
fn store_postgres(
    client: &mut postgres::Client,
    table: &Table,
    rows: &[Row],
    now: i64,
) -> std::result::Result<Recorded, postgres::Error> {
    let mut tx = client.transaction()?;
    let find = tx.prepare(&table.find(postgres_param))?;
    let upsert = tx.prepare(&table.upsert(postgres_param))?;
    let recorded = {
        let tx = std::cell::RefCell::new(&mut tx);
        each_row(
            rows,
            |row| {
                let found = tx
                    .borrow_mut()
                    .query_opt(&find, &[&row.provider, &row.record_id])?;
                Ok(found.map(|r| {
                    let texts: [Option<String>; 4] = [r.get(0), r.get(1), r.get(2), r.get(3)];
                    let int: Option<i64> = table.int.and_then(|_| r.get(4));
                    texts == row.texts && int == row.int
                }))
            },
            |row| {
                let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> =
                    vec![&row.provider, &row.record_id];
                values.extend(
                    row.texts
                        .iter()
                        .map(|t| t as &(dyn postgres::types::ToSql + Sync)),
                );
                if table.int.is_some() {
                    values.push(&row.int);
                }
                values.push(&now);
                tx.borrow_mut().execute(&upsert, &values).map(drop)
            },
        )?
    };
    tx.commit()?;
    Ok(recorded)
}
