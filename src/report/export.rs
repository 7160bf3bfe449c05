//! Exports for a date range, streamed row by row (constant memory whatever the database's size): CSV
//! of calls, CSV of events, and JSON Lines with one record per call and its usages.

use std::io::Write;

use chrono::NaiveDate;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::persist::source::Dialect;
use crate::report::reports::{CallKey, Reports, range_ms};
use crate::report::results::EventLine;

/// One call as a JSON Lines record.
#[derive(Debug, Serialize)]
struct CallRecord {
    call_id: String,
    user_id: Option<String>,
    tenant_id: Option<String>,
    persona: Option<String>,
    session_kind: Option<String>,
    status: String,
    started_at_ms: i64,
    ended_at_ms: Option<i64>,
    total: Usd,
    revenue: Usd,
    usages: Vec<EventLine>,
}

fn io(e: impl std::fmt::Display) -> Error {
    Error::Export(e.to_string())
}

const CALL_COLUMNS: &str =
    "call_id, user_id, tenant_id, persona, session_kind, status, failure_reason,
    started_at, ended_at, total_cost_nanos, revenue_nanos, event_count";

impl Reports {
    /// Writes the calls started from `from` to `to` (UTC days, inclusive) as CSV, with a header row;
    /// money in nano-dollars, times in Unix milliseconds. Returns the number of calls written.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read, [`Error::Export`] when `out` fails.
    pub fn export_calls_csv(&self, from: NaiveDate, to: NaiveDate, out: impl Write) -> Result<u64> {
        let (a, b) = range_ms(from, to);
        let mut w = csv::Writer::from_writer(out);
        let columns: Vec<&str> = CALL_COLUMNS.split(',').map(str::trim).collect();
        w.write_record(&columns).map_err(io)?;
        let sql = format!(
            "SELECT {CALL_COLUMNS} FROM calls WHERE started_at >= ?1 AND started_at < ?2
             ORDER BY started_at, call_id"
        );
        self.csv_rows(&sql, (a, b), &mut w, "exporting calls")
    }

    /// Writes the events made from `from` to `to` (UTC days, inclusive) as CSV, with a header row.
    /// Returns the number of events written.
    ///
    /// # Errors
    ///
    /// As [`export_calls_csv`](Self::export_calls_csv).
    pub fn export_events_csv(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        out: impl Write,
    ) -> Result<u64> {
        let (a, b) = range_ms(from, to);
        let mut w = csv::Writer::from_writer(out);
        let columns = [
            "event_id",
            "call_id",
            "seq",
            "created_at",
            "category",
            "provider",
            "model",
            "agent",
            "quantity",
            "unit",
            "cost_nanos",
            "kind",
            "priced",
            "price_id",
        ];
        w.write_record(columns).map_err(io)?;
        // A fleet database keeps no price ids (they are numbered per file) and orders a moment's
        // events by their call's id.
        let (price_id, order) = match self.dialect() {
            Dialect::Sqlite => ("price_id", "call_ref"),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => ("NULL", "call_id"),
        };
        let sql = format!(
            "SELECT {}, {price_id} FROM cost_events WHERE created_at >= ?1 AND created_at < ?2
             ORDER BY created_at, {order}, segment, seq",
            columns[..columns.len() - 1].join(", ")
        );
        self.csv_rows(&sql, (a, b), &mut w, "exporting events")
    }

    /// Streams the rows of `sql` over `[a, b)` into `w` as text fields; flushes; counts them.
    fn csv_rows<W: Write>(
        &self,
        sql: &str,
        (a, b): (i64, i64),
        w: &mut csv::Writer<W>,
        context: &'static str,
    ) -> Result<u64> {
        let mut n = 0;
        self.for_each(sql, &[a.into(), b.into()], context, |r| {
            w.write_record(r.fields())?;
            n += 1;
            Ok(())
        })?;
        w.flush().map_err(io)?;
        Ok(n)
    }

    /// Writes one JSON object per line for each call started from `from` to `to`, with its usages in
    /// order (the shape agent servers log). Returns the number of calls written.
    ///
    /// # Errors
    ///
    /// As [`export_calls_csv`](Self::export_calls_csv).
    pub fn export_jsonl(&self, from: NaiveDate, to: NaiveDate, mut out: impl Write) -> Result<u64> {
        let (a, b) = range_ms(from, to);
        let number = self.call_number();
        let calls = self.query(
            &format!(
                "SELECT {number}, call_id, user_id, tenant_id, persona, session_kind, status,
                        started_at, ended_at, total_cost_nanos, revenue_nanos
                 FROM calls WHERE started_at >= ?1 AND started_at < ?2 ORDER BY started_at, call_id"
            ),
            &[a.into(), b.into()],
            "exporting calls",
            |r| {
                Ok((
                    r.int(0)?,
                    CallRecord {
                        call_id: r.text(1)?,
                        user_id: r.opt_text(2)?,
                        tenant_id: r.opt_text(3)?,
                        persona: r.opt_text(4)?,
                        session_kind: r.opt_text(5)?,
                        status: r.text(6)?,
                        started_at_ms: r.int(7)?,
                        ended_at_ms: r.opt_int(8)?,
                        total: Usd::from_nanos(r.int(9)?),
                        revenue: Usd::from_nanos(r.int(10)?),
                        usages: Vec::new(),
                    },
                ))
            },
        )?;
        let mut n = 0;
        for (call_ref, mut record) in calls {
            record.usages = self.events_of(CallKey {
                call_ref,
                call_id: &record.call_id,
            })?;
            serde_json::to_writer(&mut out, &record).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            n += 1;
        }
        out.flush().map_err(io)?;
        Ok(n)
    }
}
