//! Reading the database back: a server's SQLite file, or (feature `postgres`) the fleet's PostgreSQL
//! database. Both hold the same tables with the same money and time representations, so each query
//! is written once, with `?1`-style parameters and integer sums cast to `BIGINT`; the few questions
//! the two answer differently (how a call's events are found) ask [`Source::dialect`].
//!
//! Every statement reports run lives here, one module per table read: [`calls`], [`events`],
//! [`rollups`], [`settings`] (the alerts raised and the quotas watched) and [`billed`]. Each answers
//! plain rows (integers in nano-dollars and milliseconds, names as text); `report` turns them into
//! its typed results.

use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use crate::base::error::{Error, Result};

pub(crate) mod billed;
pub(crate) mod calls;
pub(crate) mod events;
pub(crate) mod rollups;
pub(crate) mod settings;

/// Which database a [`Source`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    #[cfg(feature = "postgres")]
    Postgres,
}

/// A query parameter.
#[derive(Clone, Copy, Debug)]
enum Param<'a> {
    Int(i64),
    Text(&'a str),
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// One result row, read by column index.
#[derive(Debug)]
struct Row(Vec<Cell>);

/// A column that does not hold the type asked for.
#[derive(Debug, thiserror::Error)]
#[error("column {index}: expected {expected}, found {found:?}")]
struct ColumnType {
    index: usize,
    expected: &'static str,
    found: Cell,
}

impl Row {
    fn cell(&self, i: usize) -> &Cell {
        self.0.get(i).unwrap_or(&Cell::Null)
    }

    fn wrong(&self, i: usize, expected: &'static str) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(ColumnType {
            index: i,
            expected,
            found: self.cell(i).clone(),
        })
    }

    fn opt_int(&self, i: usize) -> std::result::Result<Option<i64>, BoxError> {
        match self.cell(i) {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            _ => Err(self.wrong(i, "an integer")),
        }
    }

    fn int(&self, i: usize) -> std::result::Result<i64, BoxError> {
        self.opt_int(i)?.ok_or_else(|| self.wrong(i, "an integer"))
    }

    fn real(&self, i: usize) -> std::result::Result<f64, BoxError> {
        match self.cell(i) {
            Cell::Real(v) => Ok(*v),
            Cell::Int(v) => Ok(*v as f64),
            _ => Err(self.wrong(i, "a number")),
        }
    }

    /// The text at `i`, taken out of the row (read each text column once).
    fn opt_text(&mut self, i: usize) -> std::result::Result<Option<String>, BoxError> {
        match self.0.get_mut(i) {
            None | Some(Cell::Null) => Ok(None),
            Some(Cell::Text(v)) => Ok(Some(std::mem::take(v))),
            Some(_) => Err(self.wrong(i, "text")),
        }
    }

    /// As [`opt_text`](Self::opt_text), not `NULL`.
    fn text(&mut self, i: usize) -> std::result::Result<String, BoxError> {
        self.opt_text(i)?.ok_or_else(|| self.wrong(i, "text"))
    }

    /// Every value as text (`NULL` as nothing), for a CSV record.
    fn fields(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|c| match c {
                Cell::Null => String::new(),
                Cell::Int(v) => v.to_string(),
                Cell::Real(v) => v.to_string(),
                Cell::Text(v) => v.clone(),
            })
            .collect()
    }
}

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The database reports read, and the place its errors name: the file, or the fleet database's URL
/// without its password.
pub(crate) struct Source {
    db: Db,
    place: PathBuf,
    /// Whether `cost_events` has the `estimated` column (SQLite schema 6, fleet schema 3); older
    /// databases read every row as not estimated.
    estimated: bool,
}

/// The connection.
enum Db {
    Sqlite(Connection),
    #[cfg(feature = "postgres")]
    Postgres(std::cell::RefCell<postgres::Client>),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("dialect", &self.dialect())
            .field("place", &self.place)
            .finish()
    }
}

impl Source {
    /// A callmeter file opened read-only for reports, its schema version checked.
    ///
    /// # Errors
    ///
    /// As [`Reports::open`](crate::Reports::open).
    pub(crate) fn open_file(path: &Path) -> Result<Source> {
        let path = path.to_path_buf();
        let storage = |context| crate::persist::failure::storage(&path, context);
        if !path.exists() {
            return Err(Error::NoSuchDatabase { path });
        }
        let src = Source {
            db: Db::Sqlite(
                Connection::open_with_flags(
                    &path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(storage("opening for reports"))?,
            ),
            place: path.clone(),
            estimated: false,
        };
        let version: i64 = src
            .sqlite_connection()
            .map(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .unwrap_or(Ok(0))
            .map_err(storage(
                "reading the schema version (is this a SQLite database?)",
            ))?;
        match version {
            // Version 4 lacks the quotas, which then read as none; versions 4 and 5 lack
            // `cost_events.estimated`, which then reads as 0.
            4..=crate::persist::schema::SCHEMA_VERSION => Ok(Source {
                estimated: version >= 6,
                ..src
            }),
            0 => {
                let tables: i64 = src
                    .sqlite_connection()
                    .map(|c| c.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get(0)))
                    .unwrap_or(Ok(1))
                    .map_err(storage("reading the tables"))?;
                if tables == 0 {
                    Err(Error::EmptyDatabase { path })
                } else {
                    Err(Error::ForeignDatabase { path })
                }
            }
            v if crate::persist::schema::PRE_RELEASE_VERSIONS.contains(&v) => {
                Err(Error::PreReleaseSchema {
                    path,
                    found: version,
                })
            }
            found => Err(Error::SchemaVersion {
                path,
                found,
                supported: crate::persist::schema::SCHEMA_VERSION,
            }),
        }
    }

    /// A fleet's PostgreSQL database opened for reports (named by its URL without the password in
    /// errors), its schema version checked.
    ///
    /// # Errors
    ///
    /// As [`Reports::postgres`](crate::Reports::postgres).
    #[cfg(feature = "postgres")]
    pub(crate) fn open_fleet(url: &str) -> Result<Source> {
        let place = PathBuf::from(crate::persist::failure::redacted(url));
        let fail = |context: &'static str| {
            let place = place.clone();
            move |e: postgres::Error| Error::Storage {
                path: place,
                context,
                source: Box::new(e),
            }
        };
        let mut client =
            postgres::Client::connect(url, postgres::NoTls).map_err(fail("connecting"))?;
        let version: Option<i32> = client
            .query_opt(
                "SELECT version FROM callmeter_schema WHERE to_regclass('callmeter_schema') IS NOT NULL",
                &[],
            )
            .map(|row| row.map(|r| r.get(0)))
            .or_else(|e| {
                if e.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) {
                    Ok(None)
                } else {
                    Err(e)
                }
            })
            .map_err(fail("reading the fleet schema version"))?;
        let supported = crate::persist::ship::schema::VERSION;
        match version {
            None => Err(Error::ForeignDatabase { path: place }),
            // Version 1 lacks `billed`, which then reads as nothing billed; versions 1 and 2 lack
            // `cost_events.estimated`, which then reads as false.
            Some(v @ 1..) if v <= supported => Ok(Source {
                db: Db::Postgres(std::cell::RefCell::new(client)),
                place,
                estimated: v >= 3,
            }),
            Some(v) => Err(Error::SchemaVersion {
                path: place,
                found: i64::from(v),
                supported: i64::from(supported),
            }),
        }
    }

    /// The SQL of a row's `estimated` flag as an integer: the column, or 0 where the database has none.
    fn estimated_column(&self) -> &'static str {
        match (self.estimated, self.dialect()) {
            (false, _) => "0",
            (true, Dialect::Sqlite) => "estimated",
            #[cfg(feature = "postgres")]
            (true, Dialect::Postgres) => "CAST(estimated AS INTEGER)",
        }
    }

    /// Which database it is.
    pub(crate) fn dialect(&self) -> Dialect {
        match self.db {
            Db::Sqlite(_) => Dialect::Sqlite,
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection (the file's own question: its schema version).
    fn sqlite_connection(&self) -> Option<&Connection> {
        match &self.db {
            Db::Sqlite(c) => Some(c),
            #[cfg(feature = "postgres")]
            Db::Postgres(_) => None,
        }
    }

    /// The rows `sql` answers, each read by `f`.
    fn query<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        f: impl Fn(&mut Row) -> std::result::Result<T, BoxError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.for_each(sql, params, context, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// The first row `sql` answers, read by `f`.
    fn query_one<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        f: impl Fn(&mut Row) -> std::result::Result<T, BoxError>,
    ) -> Result<Option<T>> {
        Ok(self.query(sql, params, context, f)?.into_iter().next())
    }

    /// One integer `sql` answers (a sum, a count); 0 when it answers no row.
    fn int(&self, sql: &str, params: &[Param<'_>], context: &'static str) -> Result<i64> {
        Ok(self
            .query_one(sql, params, context, |r| r.int(0))?
            .unwrap_or(0))
    }

    /// Whether the database has the table `name` (files and fleets of earlier versions lack some).
    fn has_table(&self, name: &str) -> Result<bool> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1"
            }
            #[cfg(feature = "postgres")]
            Dialect::Postgres => {
                "SELECT CAST(COUNT(*) AS BIGINT) FROM pg_tables WHERE tablename = ?1"
            }
        };
        Ok(self.int(sql, &[name.into()], "reading the schema")? > 0)
    }

    /// Hands each row `sql` answers to `f` as it is read (constant memory whatever the result's
    /// size); a failure names the place and `context`.
    fn for_each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        f: impl FnMut(&mut Row) -> std::result::Result<(), BoxError>,
    ) -> Result<()> {
        self.rows(sql, params, f).map_err(|source| Error::Storage {
            path: self.place.clone(),
            context,
            source,
        })
    }

    fn rows(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut f: impl FnMut(&mut Row) -> std::result::Result<(), BoxError>,
    ) -> std::result::Result<(), BoxError> {
        match &self.db {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                for (i, p) in params.iter().enumerate() {
                    match p {
                        Param::Int(v) => stmt.raw_bind_parameter(i + 1, v)?,
                        Param::Text(v) => stmt.raw_bind_parameter(i + 1, v)?,
                    }
                }
                let columns = stmt.column_count();
                let mut rows = stmt.raw_query();
                let mut row = Row(Vec::with_capacity(columns));
                while let Some(r) = rows.next()? {
                    row.0.clear();
                    for i in 0..columns {
                        row.0.push(match r.get_ref(i)? {
                            ValueRef::Null => Cell::Null,
                            ValueRef::Integer(v) => Cell::Int(v),
                            ValueRef::Real(v) => Cell::Real(v),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Cell::Text(String::from_utf8_lossy(t).into_owned())
                            }
                        });
                    }
                    f(&mut row)?;
                }
                Ok(())
            }
            #[cfg(feature = "postgres")]
            Db::Postgres(client) => postgres_rows(&mut client.borrow_mut(), sql, params, f),
        }
    }
}

/// `sql` with SQLite's `?N` parameters spelled `$N`.
#[cfg(feature = "postgres")]
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(feature = "postgres")]
fn postgres_rows(
    client: &mut postgres::Client,
    sql: &str,
    params: &[Param<'_>],
    mut f: impl FnMut(&mut Row) -> std::result::Result<(), BoxError>,
) -> std::result::Result<(), BoxError> {
    use postgres::fallible_iterator::FallibleIterator;
    use postgres::types::{ToSql, Type};
    let values: Vec<Box<dyn ToSql + Sync>> = params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match *p {
                Param::Int(v) => Box::new(v),
                Param::Text(v) => Box::new(v.to_owned()),
            }
        })
        .collect();
    let statement = client.prepare_typed(
        &dollar_params(sql),
        &params
            .iter()
            .map(|p| match p {
                Param::Int(_) => Type::INT8,
                Param::Text(_) => Type::TEXT,
            })
            .collect::<Vec<_>>(),
    )?;
    let mut rows = client.query_raw(&statement, values.iter().map(|b| b.as_ref()))?;
    let mut row = Row(Vec::new());
    while let Some(r) = rows.next()? {
        row.0.clear();
        for (i, column) in r.columns().iter().enumerate() {
            let t = column.type_();
            row.0.push(if *t == Type::INT8 {
                r.get::<_, Option<i64>>(i).map_or(Cell::Null, Cell::Int)
            } else if *t == Type::INT4 {
                r.get::<_, Option<i32>>(i)
                    .map_or(Cell::Null, |v| Cell::Int(v.into()))
            } else if *t == Type::INT2 {
                r.get::<_, Option<i16>>(i)
                    .map_or(Cell::Null, |v| Cell::Int(v.into()))
            } else if *t == Type::BOOL {
                r.get::<_, Option<bool>>(i)
                    .map_or(Cell::Null, |v| Cell::Int(v.into()))
            } else if *t == Type::FLOAT8 {
                r.get::<_, Option<f64>>(i).map_or(Cell::Null, Cell::Real)
            } else if *t == Type::FLOAT4 {
                r.get::<_, Option<f32>>(i)
                    .map_or(Cell::Null, |v| Cell::Real(v.into()))
            } else if *t == Type::TEXT || *t == Type::VARCHAR || *t == Type::NAME {
                r.get::<_, Option<String>>(i).map_or(Cell::Null, Cell::Text)
            } else {
                return Err(format!(
                    "column {} has type {t}: a report's SQL casts it to BIGINT, DOUBLE PRECISION \
                     or TEXT",
                    column.name()
                )
                .into());
            });
        }
        f(&mut row)?;
    }
    Ok(())
}
