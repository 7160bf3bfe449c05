//! What reports read of what a file's meters were told and raised: the `alerts` they raised and the
//! `quotas` the last of them watched. A fleet database keeps neither (each server keeps its own).

use crate::base::error::Result;
use crate::control::Period;
use crate::persist::read::{Dialect, Source};

/// (alert kind, how many) of the alerts raised in `span`, commonest first; `None` for a fleet
/// database.
pub(crate) fn alert_counts(src: &Source, (a, b): (i64, i64)) -> Result<Option<Vec<(String, i64)>>> {
    if src.dialect() != Dialect::Sqlite {
        return Ok(None);
    }
    src.query(
        "SELECT kind, COUNT(*) FROM alerts WHERE raised_at >= ?1 AND raised_at < ?2
         GROUP BY kind ORDER BY 2 DESC, kind",
        &[a.into(), b.into()],
        "reading alerts",
        |r| Ok((r.text(0)?, r.int(1)?)),
    )
    .map(Some)
}

/// (raised at in milliseconds, kind, message) of the latest `n` alerts raised in `span`, newest
/// first; `None` for a fleet database.
pub(crate) fn latest_alerts(
    src: &Source,
    (a, b): (i64, i64),
    n: i64,
) -> Result<Option<Vec<(i64, String, String)>>> {
    if src.dialect() != Dialect::Sqlite {
        return Ok(None);
    }
    src.query(
        "SELECT raised_at, kind, message FROM alerts WHERE raised_at >= ?1 AND raised_at < ?2
         ORDER BY raised_at DESC, alert_id DESC LIMIT ?3",
        &[a.into(), b.into(), n.into()],
        "reading alerts",
        |r| Ok((r.int(0)?, r.text(1)?, r.text(2)?)),
    )
    .map(Some)
}

/// A quota or platform cost threshold as the file records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QuotaRow {
    /// `None` for a platform threshold.
    pub(crate) provider: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) period: Period,
    pub(crate) units: Option<i64>,
    pub(crate) cost_nanos: Option<i64>,
    pub(crate) warn_percent: u8,
    pub(crate) critical_percent: u8,
}

/// The quotas and platform cost thresholds the last meter to open the file watched, in the order it
/// was given them; `None` for a fleet database, empty for a file written before quotas were recorded.
pub(crate) fn quotas(src: &Source) -> Result<Option<Vec<QuotaRow>>> {
    if src.dialect() != Dialect::Sqlite {
        return Ok(None);
    }
    if !src.has_table("quotas")? {
        return Ok(Some(Vec::new()));
    }
    src.query(
        "SELECT provider, model, period, units, cost_nanos, warn_percent, critical_percent
         FROM quotas ORDER BY position",
        &[],
        "reading the quotas",
        |r| {
            Ok(QuotaRow {
                provider: r.opt_text(0)?,
                model: r.opt_text(1)?,
                period: if r.text(2)? == "day" {
                    Period::Day
                } else {
                    Period::Month
                },
                units: r.opt_int(3)?,
                cost_nanos: r.opt_int(4)?,
                warn_percent: u8::try_from(r.int(5)?).unwrap_or(u8::MAX),
                critical_percent: u8::try_from(r.int(6)?).unwrap_or(u8::MAX),
            })
        },
    )
    .map(Some)
}
