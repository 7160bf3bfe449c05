//! Quota state: what the current period of each watched threshold has used of it — the provider
//! quotas and the platform's daily and monthly cost alert thresholds the last meter to open the file
//! was given.

use chrono::{Datelike, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::base::error::Result;
use crate::base::money::Usd;
use crate::control::Period;
use crate::persist::read::events;
use crate::persist::read::settings::{self, QuotaRow};
use crate::report::reports::{Reports, range_ms};

/// Where a quota stands in its period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaLevel {
    /// Below its warning threshold.
    Under,
    /// At or past its warning threshold.
    Warning,
    /// At or past its critical threshold.
    Critical,
    /// At or past the whole quota (for a platform threshold: reached).
    Over,
}

impl QuotaLevel {
    /// Its name, as serialized: `under`, `warning`, `critical`, `over`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaLevel::Under => "under",
            QuotaLevel::Warning => "warning",
            QuotaLevel::Critical => "critical",
            QuotaLevel::Over => "over",
        }
    }
}

impl std::fmt::Display for QuotaLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One watched threshold and what its period has used of it, up to the end of a given day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QuotaState {
    /// What it watches, as its alerts name it: `provider:elevenlabs`,
    /// `provider:openai/gpt-4o-mini`, or `platform` for the platform's cost alert thresholds.
    pub subject: String,
    /// The provider; `None` for a platform threshold (every provider).
    pub provider: Option<String>,
    /// The model, when the quota is on one.
    pub model: Option<String>,
    /// A UTC day or a UTC month.
    pub period: Period,
    /// The period's first day.
    pub period_start: NaiveDate,
    /// The period's last day.
    pub period_end: NaiveDate,
    /// Usage is counted up to the end of this day.
    pub as_of: NaiveDate,
    /// The cost used.
    pub cost: Usd,
    /// The quota in dollars, if it has one.
    pub cost_limit: Option<Usd>,
    /// The usage's units used (characters, tokens, seconds), exact.
    pub units: Decimal,
    /// The quota in units, if it has one.
    pub units_limit: Option<u64>,
    /// The unit of the usage counted, when all of it has one (`character`, `token`, `second` …).
    pub unit: Option<String>,
    /// Its warning threshold, in percent of the quota.
    pub warn_percent: u8,
    /// Its critical threshold, in percent of the quota.
    pub critical_percent: u8,
    /// The larger of cost and units used, in percent of the quota, rounded down to two decimals
    /// (a quota of zero is 100 % used from the start, as its watcher counts it).
    pub used_percent: Decimal,
    /// Where it stands, decided exactly (not from the rounded percentage).
    pub level: QuotaLevel,
}

impl Reports {
    /// The state on the day `on` of every quota and platform cost alert threshold the last meter to
    /// open the file watched: what the period containing `on` (that UTC day, or that UTC month)
    /// used up to the end of `on`, against its limits. In the order they were given, the platform's
    /// daily and monthly thresholds last. `None` for a fleet database, which holds no quotas (each
    /// server keeps its own in its file); empty for a file written before quotas were recorded.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn quotas(&self, on: NaiveDate) -> Result<Option<Vec<QuotaState>>> {
        let Some(configured) = settings::quotas(self.source())? else {
            return Ok(None);
        };
        configured
            .into_iter()
            .map(|q| self.quota_state(q, on))
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    fn quota_state(&self, q: QuotaRow, on: NaiveDate) -> Result<QuotaState> {
        let period_start = match q.period {
            Period::Day => on,
            Period::Month => on.with_day(1).unwrap_or(on),
        };
        let period_end = match q.period {
            Period::Day => on,
            Period::Month => {
                let next = period_start
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(period_start);
                next.pred_opt().unwrap_or(on)
            }
        };
        let used = events::used(
            self.source(),
            range_ms(period_start, on),
            q.provider.as_deref(),
            q.model.as_deref(),
        )?;
        let (milli_units, cost, unit) = (used.milli_units, used.cost_nanos, used.unit);
        let units = Decimal::new(milli_units, 3).normalize();
        // Each limit's share used, as (used × 100, limit): compared exactly, divided only for show.
        let mut shares: Vec<(Decimal, Decimal)> = Vec::new();
        if let Some(limit) = q.cost_nanos {
            shares.push((
                Decimal::from(cost) * Decimal::ONE_HUNDRED,
                Decimal::from(limit),
            ));
        }
        if let Some(limit) = q.units {
            shares.push((units * Decimal::ONE_HUNDRED, Decimal::from(limit)));
        }
        let reaches = |percent: u8| {
            shares
                .iter()
                .any(|(used, limit)| *used >= *limit * Decimal::from(percent))
        };
        let level = if reaches(100) {
            QuotaLevel::Over
        } else if reaches(q.critical_percent) {
            QuotaLevel::Critical
        } else if reaches(q.warn_percent) {
            QuotaLevel::Warning
        } else {
            QuotaLevel::Under
        };
        let used_percent = shares
            .iter()
            .map(|(used, limit)| {
                if limit.is_zero() {
                    Decimal::ONE_HUNDRED
                } else {
                    (used / limit)
                        .round_dp_with_strategy(2, RoundingStrategy::ToZero)
                        .normalize()
                }
            })
            .max()
            .unwrap_or_default();
        let subject = match (&q.provider, &q.model) {
            (None, _) => "platform".to_owned(),
            (Some(p), None) => format!("provider:{p}"),
            (Some(p), Some(m)) => format!("provider:{p}/{m}"),
        };
        Ok(QuotaState {
            subject,
            provider: q.provider,
            model: q.model,
            period: q.period,
            period_start,
            period_end,
            as_of: on,
            cost: Usd::from_nanos(cost),
            cost_limit: q.cost_nanos.map(Usd::from_nanos),
            units,
            units_limit: q.units.and_then(|u| u64::try_from(u).ok()),
            unit,
            warn_percent: q.warn_percent,
            critical_percent: q.critical_percent,
            used_percent,
            level,
        })
    }
}
