//! What an operator watches besides the totals: how calls ended and what those endings cost, the
//! spread of cost per call, and a period against the one before it.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::base::error::Result;
use crate::base::money::Usd;
use crate::persist::read::{calls, settings};
use crate::report::reports::{Reports, range_ms};

/// The calls of a range that ended one way (`completed`, `failed`, `abandoned`, `interrupted`, or
/// still `active`), and what they cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Ending {
    /// The status, as stored (`completed`, `failed` …).
    pub status: String,
    /// Calls that ended so.
    pub calls: u64,
    /// Their share of the range's calls, in percent, to two decimals.
    pub percent: Decimal,
    /// What they cost.
    pub cost: Usd,
}

/// How cost per call is spread over the calls of a range: nearest-rank percentiles of the calls'
/// totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CostSpread {
    /// Calls counted.
    pub calls: u64,
    /// Half the calls cost this much or less.
    pub p50: Usd,
    /// 95 % of the calls cost this much or less.
    pub p95: Usd,
    /// 99 % of the calls cost this much or less.
    pub p99: Usd,
    /// The dearest call.
    pub max: Usd,
}

/// A range against the range of the same length just before it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PeriodChange {
    /// The range: first and last day, inclusive.
    pub from: NaiveDate,
    /// Last day of the range.
    pub to: NaiveDate,
    /// First day of the range before (as many days, ending the day before `from`).
    pub previous_from: NaiveDate,
    /// Last day of the range before.
    pub previous_to: NaiveDate,
    /// Cost of the calls started in the range.
    pub cost: Usd,
    /// Cost of the calls started in the range before.
    pub previous_cost: Usd,
    /// Calls started in the range.
    pub calls: u64,
    /// Calls started in the range before.
    pub previous_calls: u64,
    /// The change of cost in percent, to two decimals; `None` when the range before cost nothing.
    pub cost_change_percent: Option<Decimal>,
}

/// The alerts raised in a range: how many of each kind, and the latest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AlertSummary {
    /// Alerts of each kind (`call_cutoff`, `quota_warning` …), most frequent first.
    pub by_kind: Vec<(String, u64)>,
    /// The latest 25, newest first.
    pub latest: Vec<RaisedAlert>,
}

/// One alert raised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RaisedAlert {
    /// When it was raised.
    pub at: DateTime<Utc>,
    /// Its kind.
    pub kind: String,
    /// Its sentence for people.
    pub message: String,
}

/// `part` of `whole`, in percent, to two decimals; `None` for a whole of zero.
fn percent(part: i64, whole: i64) -> Option<Decimal> {
    if whole == 0 {
        return None;
    }
    let p = Decimal::from(part) * Decimal::ONE_HUNDRED / Decimal::from(whole);
    Some(p.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero))
}

impl Reports {
    /// How the calls started from `from` to `to` ended, most frequent first: failure and abandon
    /// rates, and what those calls cost.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn endings(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<Ending>> {
        let rows = calls::by_status(self.source(), range_ms(from, to))?;
        let all: i64 = rows.iter().map(|(_, n, _)| n).sum();
        Ok(rows
            .into_iter()
            .map(|(status, calls, cost)| Ending {
                status,
                calls: u64::try_from(calls).unwrap_or(0),
                percent: percent(calls, all).unwrap_or_default(),
                cost: Usd::from_nanos(cost),
            })
            .collect())
    }

    /// The spread of cost per call over the calls started from `from` to `to`; `None` without
    /// calls.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn cost_spread(&self, from: NaiveDate, to: NaiveDate) -> Result<Option<CostSpread>> {
        let span = range_ms(from, to);
        let (count, _) = calls::totals(self.source(), span)?;
        if count == 0 {
            return Ok(None);
        }
        // Nearest rank: the smallest total with at least p % of the calls at or below it.
        let at = |p: i64| -> Result<Usd> {
            let rank = (count * p + 99) / 100;
            calls::cost_at_rank(self.source(), span, rank.max(1) - 1).map(Usd::from_nanos)
        };
        Ok(Some(CostSpread {
            calls: u64::try_from(count).unwrap_or(0),
            p50: at(50)?,
            p95: at(95)?,
            p99: at(99)?,
            max: at(100)?,
        }))
    }

    /// The alerts raised from `from` to `to`, from the file's `alerts` table; `None` for a fleet
    /// database, which holds no alerts (each server keeps its own in its file).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn alerts(&self, from: NaiveDate, to: NaiveDate) -> Result<Option<AlertSummary>> {
        let span = range_ms(from, to);
        let (Some(by_kind), Some(latest)) = (
            settings::alert_counts(self.source(), span)?,
            settings::latest_alerts(self.source(), span, 25)?,
        ) else {
            return Ok(None);
        };
        let by_kind = by_kind
            .into_iter()
            .map(|(kind, n)| (kind, u64::try_from(n).unwrap_or(0)))
            .collect();
        let latest = latest
            .into_iter()
            .map(|(at, kind, message)| RaisedAlert {
                at: DateTime::from_timestamp_millis(at).unwrap_or_default(),
                kind,
                message,
            })
            .collect();
        Ok(Some(AlertSummary { by_kind, latest }))
    }

    /// The calls started from `from` to `to` against those of the as many days before.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read,
    /// [`Error::DateOutOfRange`](crate::Error::DateOutOfRange) when the period before begins before
    /// the first date callmeter can compute with.
    pub fn against_previous(&self, from: NaiveDate, to: NaiveDate) -> Result<PeriodChange> {
        let days = u64::try_from((to - from).num_days().max(0)).unwrap_or(0);
        let (previous_from, previous_to) = from
            .checked_sub_days(chrono::Days::new(1))
            .and_then(|previous_to| {
                previous_to
                    .checked_sub_days(chrono::Days::new(days))
                    .map(|previous_from| (previous_from, previous_to))
            })
            .ok_or(crate::Error::DateOutOfRange { from, to })?;
        let totals = |from, to| calls::totals(self.source(), range_ms(from, to));
        let (calls, cost) = totals(from, to)?;
        let (previous_calls, previous_cost) = totals(previous_from, previous_to)?;
        Ok(PeriodChange {
            from,
            to,
            previous_from,
            previous_to,
            cost: Usd::from_nanos(cost),
            previous_cost: Usd::from_nanos(previous_cost),
            calls: u64::try_from(calls).unwrap_or(0),
            previous_calls: u64::try_from(previous_calls).unwrap_or(0),
            cost_change_percent: percent(cost - previous_cost, previous_cost),
        })
    }
}
