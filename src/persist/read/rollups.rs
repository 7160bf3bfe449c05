//! What reports read of `rollups`: the platform's days by category and provider, and a user's or
//! tenant's spend on a day and in a month. Days are UTC, given inclusive.

use chrono::NaiveDate;

use crate::base::error::Result;
use crate::control::limits::SubjectKind;
use crate::persist::read::{Param, Source};

/// What the platform's days are summed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dimension {
    Category,
    Provider,
}

fn days(from: NaiveDate, to: NaiveDate) -> (String, String) {
    (from.to_string(), to.to_string())
}

/// (category or provider, nano-dollars, events) of the platform from `from` to `to`, dearest first.
pub(crate) fn platform_by(
    src: &Source,
    dimension: Dimension,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, i64, i64)>> {
    let column = match dimension {
        Dimension::Category => "category",
        Dimension::Provider => "provider",
    };
    let (a, b) = days(from, to);
    src.query(
        &format!(
            "SELECT {column}, CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(events) AS BIGINT)
             FROM rollups
             WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
             GROUP BY {column} ORDER BY 2 DESC, 1"
        ),
        &[Param::from(&a), Param::from(&b)],
        "reading the platform's days",
        |r| Ok((r.opt_text(0)?.unwrap_or_default(), r.int(1)?, r.int(2)?)),
    )
}

/// The platform's totals over some days.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PlatformTotals {
    pub(crate) cost_nanos: i64,
    /// Telephony time, in milliseconds.
    pub(crate) telephony_ms: i64,
    /// LLM events: the turns.
    pub(crate) llm_events: i64,
}

/// The platform's totals from `from` to `to`.
pub(crate) fn platform_totals(
    src: &Source,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<PlatformTotals> {
    let (a, b) = days(from, to);
    Ok(src
        .query_one(
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN category = 'telephony' THEN time_ms END), 0)
                         AS BIGINT),
                    CAST(COALESCE(SUM(CASE WHEN category = 'llm' THEN events END), 0) AS BIGINT)
             FROM rollups WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2",
            &[Param::from(&a), Param::from(&b)],
            "reading the platform's totals",
            |r| {
                Ok(PlatformTotals {
                    cost_nanos: r.int(0)?,
                    telephony_ms: r.int(1)?,
                    llm_events: r.int(2)?,
                })
            },
        )?
        .unwrap_or_default())
}

/// (day, nano-dollars) of each day from `from` to `to` the platform spent on, in order.
pub(crate) fn platform_daily(
    src: &Source,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, i64)>> {
    let (a, b) = days(from, to);
    src.query(
        "SELECT period, CAST(SUM(cost_nanos) AS BIGINT) FROM rollups
         WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
         GROUP BY period ORDER BY period",
        &[Param::from(&a), Param::from(&b)],
        "reading the daily series",
        |r| Ok((r.text(0)?.parse()?, r.int(1)?)),
    )
}

/// (day, category, nano-dollars) of each day from `from` to `to`, in order of day and category.
pub(crate) fn platform_daily_by_category(
    src: &Source,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, String, i64)>> {
    let (a, b) = days(from, to);
    src.query(
        "SELECT period, category, CAST(SUM(cost_nanos) AS BIGINT) FROM rollups
         WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
         GROUP BY period, category ORDER BY period, category",
        &[Param::from(&a), Param::from(&b)],
        "reading daily costs",
        |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)),
    )
}

/// What a user or tenant spent on `day` and in its month, in nano-dollars.
pub(crate) fn subject(
    src: &Source,
    kind: SubjectKind,
    id: &str,
    day: NaiveDate,
) -> Result<(i64, i64)> {
    let date = day.to_string();
    let month = date.get(..7).unwrap_or_default().to_owned();
    // Users have monthly rollups; a tenant's month is the sum of its days.
    let (day_scope, month_sql) = match kind {
        SubjectKind::User => (
            "user_day",
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollups
             WHERE scope = 'user_month' AND subject = ?1 AND period = ?2",
        ),
        SubjectKind::Tenant => (
            "tenant_day",
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollups
             WHERE scope = 'tenant_day' AND subject = ?1
                   AND period BETWEEN ?2 || '-01' AND ?2 || '-31'",
        ),
    };
    let on_day = src.int(
        "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollups
         WHERE scope = ?1 AND subject = ?2 AND period = ?3",
        &[day_scope.into(), id.into(), (&date).into()],
        "reading a day's spend",
    )?;
    let in_month = src.int(
        month_sql,
        &[id.into(), (&month).into()],
        "reading a month's spend",
    )?;
    Ok((on_day, in_month))
}
