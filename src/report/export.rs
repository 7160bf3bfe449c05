//! Exports for a date range, streamed row by row (constant memory whatever the database's size): CSV
//! of calls, CSV of events, and JSON Lines with one record per call and its usages.

use std::io::Write;

use chrono::NaiveDate;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::persist::read::{BoxError, calls, events};
use crate::report::reports::{Reports, range_ms};
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

/// Writes a header of `columns`, then the records `rows` hands to its writer; flushes; answers how
/// many records `rows` counted.
fn write_csv<W: Write>(
    out: W,
    columns: &[&str],
    rows: impl FnOnce(&mut dyn FnMut(Vec<String>) -> std::result::Result<(), BoxError>) -> Result<u64>,
) -> Result<u64> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(columns).map_err(io)?;
    let n = rows(&mut |r| Ok(w.write_record(r)?))?;
    w.flush().map_err(io)?;
    Ok(n)
}

impl Reports {
    /// Writes the calls started from `from` to `to` (UTC days, inclusive) as CSV, with a header row;
    /// money in nano-dollars, times in Unix milliseconds. Returns the number of calls written.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read, [`Error::Export`] when `out` fails.
    pub fn export_calls_csv(&self, from: NaiveDate, to: NaiveDate, out: impl Write) -> Result<u64> {
        let span = range_ms(from, to);
        write_csv(out, &calls::CSV_COLUMNS, |write| {
            calls::each_as_text(self.source(), span, write)
        })
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
        let span = range_ms(from, to);
        write_csv(out, &events::CSV_COLUMNS, |write| {
            events::each_as_text(self.source(), span, write)
        })
    }

    /// Writes one JSON object per line for each call started from `from` to `to`, with its usages in
    /// order (the shape agent servers log). Returns the number of calls written.
    ///
    /// # Errors
    ///
    /// As [`export_calls_csv`](Self::export_calls_csv).
    pub fn export_jsonl(&self, from: NaiveDate, to: NaiveDate, mut out: impl Write) -> Result<u64> {
        let calls = calls::started_in(self.source(), range_ms(from, to))?;
        let mut n = 0;
        for call in calls {
            let record = CallRecord {
                usages: self.events_of(call.number, &call.call_id)?,
                call_id: call.call_id,
                user_id: call.user_id,
                tenant_id: call.tenant_id,
                persona: call.persona,
                session_kind: call.session_kind,
                status: call.status,
                started_at_ms: call.started_at_ms,
                ended_at_ms: call.ended_at_ms,
                total: Usd::from_nanos(call.total_nanos),
                revenue: Usd::from_nanos(call.revenue_nanos),
            };
            serde_json::to_writer(&mut out, &record).map_err(io)?;
            out.write_all(b"\n").map_err(io)?;
            n += 1;
        }
        out.flush().map_err(io)?;
        Ok(n)
    }
}
