//! What reports read of `calls`: one call, the calls of a range, a subject's calls, their counts,
//! sums and groupings. Ranges are `[start, end)` in UTC milliseconds of the calls' start.

use crate::base::error::Result;
use crate::control::limits::SubjectKind;
use crate::persist::read::{BoxError, Dialect, Param, Row, Source};

/// The columns of a call that reports show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallRow {
    /// Its number in a file (what its events are found by); 0 in a fleet database.
    pub(crate) number: i64,
    pub(crate) call_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) persona: Option<String>,
    pub(crate) session_kind: Option<String>,
    pub(crate) status: String,
    pub(crate) failure_reason: Option<String>,
    pub(crate) started_at_ms: i64,
    pub(crate) ended_at_ms: Option<i64>,
    pub(crate) total_nanos: i64,
    pub(crate) revenue_nanos: i64,
}

/// The SELECT list [`call_row`] reads; `{number}` is the call's number column.
fn call_columns(src: &Source) -> String {
    let number = match src.dialect() {
        Dialect::Sqlite => "call_ref",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "0",
    };
    format!(
        "{number}, call_id, user_id, tenant_id, persona, session_kind, status, failure_reason,
         started_at, ended_at, total_cost_nanos, revenue_nanos"
    )
}

fn call_row(r: &mut Row) -> std::result::Result<CallRow, BoxError> {
    Ok(CallRow {
        number: r.int(0)?,
        call_id: r.text(1)?,
        user_id: r.opt_text(2)?,
        tenant_id: r.opt_text(3)?,
        persona: r.opt_text(4)?,
        session_kind: r.opt_text(5)?,
        status: r.text(6)?,
        failure_reason: r.opt_text(7)?,
        started_at_ms: r.int(8)?,
        ended_at_ms: r.opt_int(9)?,
        total_nanos: r.int(10)?,
        revenue_nanos: r.int(11)?,
    })
}

fn range((a, b): (i64, i64)) -> [Param<'static>; 2] {
    [a.into(), b.into()]
}

/// The call `call_id`, if the database has it.
pub(crate) fn one(src: &Source, call_id: &str) -> Result<Option<CallRow>> {
    src.query_one(
        &format!("SELECT {} FROM calls WHERE call_id = ?1", call_columns(src)),
        &[call_id.into()],
        "reading a call",
        call_row,
    )
}

/// The calls started in `span`, in order of their start, then id.
pub(crate) fn started_in(src: &Source, span: (i64, i64)) -> Result<Vec<CallRow>> {
    src.query(
        &format!(
            "SELECT {} FROM calls WHERE started_at >= ?1 AND started_at < ?2
             ORDER BY started_at, call_id",
            call_columns(src)
        ),
        &range(span),
        "reading calls",
        call_row,
    )
}

/// The `limit` dearest calls started in `span`, dearest first.
pub(crate) fn dearest(src: &Source, (a, b): (i64, i64), limit: usize) -> Result<Vec<CallRow>> {
    src.query(
        &format!(
            "SELECT {} FROM calls WHERE started_at >= ?1 AND started_at < ?2
             ORDER BY total_cost_nanos DESC, call_id LIMIT ?3",
            call_columns(src)
        ),
        &[
            a.into(),
            b.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
        "listing calls",
        call_row,
    )
}

/// The calls of a user or tenant started in `span`, newest first.
pub(crate) fn of_subject(
    src: &Source,
    kind: SubjectKind,
    id: &str,
    (a, b): (i64, i64),
) -> Result<Vec<CallRow>> {
    let column = match kind {
        SubjectKind::User => "user_id",
        SubjectKind::Tenant => "tenant_id",
    };
    src.query(
        &format!(
            "SELECT {} FROM calls WHERE {column} = ?1 AND started_at >= ?2 AND started_at < ?3
             ORDER BY started_at DESC, call_id",
            call_columns(src)
        ),
        &[id.into(), a.into(), b.into()],
        "listing calls",
        call_row,
    )
}

/// How many calls started in `span`, and their total cost in nano-dollars.
pub(crate) fn totals(src: &Source, span: (i64, i64)) -> Result<(i64, i64)> {
    Ok(src
        .query_one(
            "SELECT COUNT(*), CAST(COALESCE(SUM(total_cost_nanos), 0) AS BIGINT) FROM calls
             WHERE started_at >= ?1 AND started_at < ?2",
            &range(span),
            "summing calls",
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?
        .unwrap_or((0, 0)))
}

/// The revenue of the calls started in `span`, in nano-dollars.
pub(crate) fn revenue(src: &Source, span: (i64, i64)) -> Result<i64> {
    src.int(
        "SELECT CAST(COALESCE(SUM(revenue_nanos), 0) AS BIGINT) FROM calls
         WHERE started_at >= ?1 AND started_at < ?2",
        &range(span),
        "summing revenue",
    )
}

/// The cost of each call started in `span`, in no order.
pub(crate) fn costs(src: &Source, span: (i64, i64)) -> Result<Vec<i64>> {
    src.query(
        "SELECT total_cost_nanos FROM calls WHERE started_at >= ?1 AND started_at < ?2",
        &range(span),
        "reading call costs",
        |r| r.int(0),
    )
}

/// The cost of the call at `offset` (from 0) when the calls started in `span` are ordered by cost,
/// cheapest first.
pub(crate) fn cost_at_rank(src: &Source, (a, b): (i64, i64), offset: i64) -> Result<i64> {
    src.int(
        "SELECT total_cost_nanos FROM calls WHERE started_at >= ?1 AND started_at < ?2
         ORDER BY total_cost_nanos LIMIT 1 OFFSET ?3",
        &[a.into(), b.into(), offset.into()],
        "reading a percentile of cost per call",
    )
}

/// (hour of the UTC day, nano-dollars) of the calls started in `span`, by the hour they started in.
pub(crate) fn cost_by_hour(src: &Source, span: (i64, i64)) -> Result<Vec<(i64, i64)>> {
    src.query(
        "SELECT (started_at / 3600000) % 24, CAST(SUM(total_cost_nanos) AS BIGINT) FROM calls
         WHERE started_at >= ?1 AND started_at < ?2 GROUP BY 1",
        &range(span),
        "reading cost by hour",
        |r| Ok((r.int(0)?, r.int(1)?)),
    )
}

/// (status, calls, nano-dollars) of the calls started in `span`, commonest status first.
pub(crate) fn by_status(src: &Source, span: (i64, i64)) -> Result<Vec<(String, i64, i64)>> {
    src.query(
        "SELECT status, COUNT(*), CAST(COALESCE(SUM(total_cost_nanos), 0) AS BIGINT) FROM calls
         WHERE started_at >= ?1 AND started_at < ?2
         GROUP BY status ORDER BY 2 DESC, status",
        &range(span),
        "reading how calls ended",
        |r| Ok((r.text(0)?, r.int(1)?, r.int(2)?)),
    )
}

/// (call id, metadata JSON) of the calls started in `span` that have metadata.
pub(crate) fn metadata(src: &Source, span: (i64, i64)) -> Result<Vec<(String, String)>> {
    src.query(
        "SELECT call_id, metadata FROM calls
         WHERE started_at >= ?1 AND started_at < ?2 AND metadata IS NOT NULL",
        &range(span),
        "reading calls' metadata",
        |r| Ok((r.text(0)?, r.text(1)?)),
    )
}

/// What calls are grouped by.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Column<'a> {
    User,
    Tenant,
    Persona,
    SessionKind,
    /// The value of a top-level key of the calls' metadata.
    Metadata(&'a str),
    /// The server that recorded the call (a fleet database's; a file's calls are all its own).
    Server,
}

/// One group of calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Group {
    /// The column's value; `None` for the calls without one.
    pub(crate) name: Option<String>,
    pub(crate) calls: i64,
    pub(crate) cost_nanos: i64,
    pub(crate) revenue_nanos: i64,
}

/// The calls started in `span` grouped by `column`, dearest group first.
pub(crate) fn grouped(src: &Source, column: Column<'_>, (a, b): (i64, i64)) -> Result<Vec<Group>> {
    let (expression, key) = match (column, src.dialect()) {
        (Column::User, _) => ("user_id", String::new()),
        (Column::Tenant, _) => ("tenant_id", String::new()),
        (Column::Persona, _) => ("persona", String::new()),
        (Column::SessionKind, _) => ("session_kind", String::new()),
        (Column::Metadata(key), Dialect::Sqlite) => {
            ("json_extract(metadata, ?3)", format!("$.\"{key}\""))
        }
        (Column::Server, Dialect::Sqlite) => ("NULL", String::new()),
        #[cfg(feature = "postgres")]
        (Column::Metadata(key), Dialect::Postgres) => ("(metadata::json ->> ?3)", key.to_owned()),
        #[cfg(feature = "postgres")]
        (Column::Server, Dialect::Postgres) => ("server", String::new()),
    };
    src.query(
        &format!(
            "SELECT {expression}, COUNT(*), CAST(SUM(total_cost_nanos) AS BIGINT),
                    CAST(SUM(revenue_nanos) AS BIGINT)
             FROM calls
             WHERE started_at >= ?1 AND started_at < ?2 AND ?3 IS NOT NULL
             GROUP BY {expression} ORDER BY 3 DESC, 1"
        ),
        &[a.into(), b.into(), (&key).into()],
        "grouping calls",
        |r| {
            Ok(Group {
                name: r.opt_text(0)?,
                calls: r.int(1)?,
                cost_nanos: r.int(2)?,
                revenue_nanos: r.int(3)?,
            })
        },
    )
}

/// The columns of the calls CSV, in order.
pub(crate) const CSV_COLUMNS: [&str; 12] = [
    "call_id",
    "user_id",
    "tenant_id",
    "persona",
    "session_kind",
    "status",
    "failure_reason",
    "started_at",
    "ended_at",
    "total_cost_nanos",
    "revenue_nanos",
    "event_count",
];

/// Hands [`CSV_COLUMNS`] of each call started in `span` to `f` as text, in order of start, as they
/// are read; answers how many.
pub(crate) fn each_as_text(
    src: &Source,
    span: (i64, i64),
    mut f: impl FnMut(Vec<String>) -> std::result::Result<(), BoxError>,
) -> Result<u64> {
    let mut n = 0;
    src.for_each(
        &format!(
            "SELECT {} FROM calls WHERE started_at >= ?1 AND started_at < ?2
             ORDER BY started_at, call_id",
            CSV_COLUMNS.join(", ")
        ),
        &range(span),
        "exporting calls",
        |r| {
            n += 1;
            f(r.fields())
        },
    )?;
    Ok(n)
}
