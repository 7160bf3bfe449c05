//! What a meter reads back from its file when it opens, as plain data for the control stage: this
//! month's calls (for user and tenant limits), the current periods' spend and quota usage, and the
//! alerts already raised (so none is raised twice). Control computes with them; only this file asks
//! the database.

use std::path::Path;

use rusqlite::Connection;

use crate::base::error::Result;
use crate::control::limits::{PastCall, Period};
use crate::control::quota::{Quota, WatchStart, period_start};
use crate::persist::failure::storage;
use crate::persist::read::events::MILLI_UNITS;

/// The calls started since `since_ms`, with their cost and telephony time, for the limits.
pub(crate) fn past_calls(conn: &Connection, path: &Path, since_ms: i64) -> Result<Vec<PastCall>> {
    let mut stmt = conn
        .prepare(
            "SELECT c.user_id, c.tenant_id, c.started_at, c.total_cost_nanos,
                    (SELECT COALESCE(SUM(e.quantity), 0) FROM cost_events e
                     WHERE e.call_ref = c.call_ref AND e.unit = 'second' AND e.category = 'telephony')
             FROM calls c WHERE c.started_at >= ?1",
        )
        .map_err(storage(path, "reading this month's spend"))?;
    let rows = stmt
        .query_map([since_ms], |r| {
            let seconds: f64 = r.get(4)?;
            Ok(PastCall {
                user: r.get(0)?,
                tenant: r.get(1)?,
                started_at_ms: r.get(2)?,
                cost: r.get(3)?,
                call_ms: (seconds * 1000.0).round().max(0.0) as u64,
            })
        })
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(storage(path, "reading this month's spend"))?;
    Ok(rows)
}

/// The current periods' platform spend, each quota's usage in its period, and this month's alerts.
pub(crate) fn watch_start(
    conn: &Connection,
    path: &Path,
    quotas: &[Quota],
    now_ms: i64,
) -> Result<WatchStart> {
    let spend = |start: i64| -> Result<i64> {
        conn.query_row(
            "SELECT COALESCE(SUM(cost_nanos), 0) FROM cost_events WHERE created_at >= ?1",
            [start],
            |r| r.get(0),
        )
        .map_err(storage(path, "reading the platform's spend"))
    };
    let mut start = WatchStart {
        day_cost: spend(period_start(Period::Day, now_ms))?,
        month_cost: spend(period_start(Period::Month, now_ms))?,
        ..WatchStart::default()
    };
    let usage = format!(
        "SELECT {MILLI_UNITS}, COALESCE(SUM(cost_nanos), 0) FROM cost_events
         WHERE created_at >= ?1 AND provider = ?2 AND (?3 IS NULL OR model = ?3)"
    );
    for quota in quotas {
        let used: (i64, i64) = conn
            .query_row(
                &usage,
                rusqlite::params![
                    period_start(quota.period, now_ms),
                    quota.provider,
                    quota.model
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(storage(path, "reading quota usage"))?;
        start.quota_usage.push(used);
    }
    let mut stmt = conn
        .prepare("SELECT kind, subject, raised_at FROM alerts WHERE raised_at >= ?1")
        .map_err(storage(path, "reading this month's alerts"))?;
    start.fired = stmt
        .query_map([period_start(Period::Month, now_ms)], |r| {
            <(String, String, i64)>::try_from(r)
        })
        .and_then(|rows| rows.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(storage(path, "reading this month's alerts"))?;
    Ok(start)
}
