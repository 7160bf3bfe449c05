//! What-if: the recorded usage of a period priced again under another catalog, or with some models
//! swapped for others, without touching what was recorded.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::base::error::Result as CrateResult;
use crate::base::money::Usd;
use crate::base::usage::{Measure, TokenUsage, UsageKind};
use crate::persist::rows::DETAIL_COLUMNS;
use crate::persist::source::{BoxError, Dialect, Row};
use crate::pricing::{Catalog, Lookup, Tally};
use crate::report::reports::{Reports, range_ms};

/// A model to price recorded usage as, instead of the one recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Substitution {
    /// Provider recorded.
    pub from_provider: String,
    /// Model recorded.
    pub from_model: String,
    /// Provider to price as.
    pub to_provider: String,
    /// Model to price as.
    pub to_model: String,
}

impl Substitution {
    /// Prices `from_provider`/`from_model` usage as `to_provider`/`to_model`.
    pub fn new(
        from_provider: impl Into<String>,
        from_model: impl Into<String>,
        to_provider: impl Into<String>,
        to_model: impl Into<String>,
    ) -> Self {
        Substitution {
            from_provider: from_provider.into(),
            from_model: from_model.into(),
            to_provider: to_provider.into(),
            to_model: to_model.into(),
        }
    }
}

/// Recorded and re-priced cost of one category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WhatIfLine {
    /// The category.
    pub category: String,
    /// What was recorded.
    pub recorded: Usd,
    /// What the same usage costs under the other catalog or models.
    pub repriced: Usd,
}

/// The result of [`Reports::what_if`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WhatIf {
    /// Events priced again.
    pub events: u64,
    /// Events kept at their recorded cost: coalesced rows (their detail was dropped), usage the other
    /// catalog has no price for, payments (a fee is priced on the amount only; surcharges were not
    /// recorded).
    pub kept: u64,
    /// Total recorded.
    pub recorded: Usd,
    /// Total re-priced.
    pub repriced: Usd,
    /// Re-priced minus recorded.
    pub difference: Usd,
    /// By category.
    pub by_category: Vec<WhatIfLine>,
}

/// The columns [`measure_of`] reads after the first nine of the re-pricing query: the detail
/// columns but the payment's amount.
const DETAIL: &[&str] = DETAIL_COLUMNS.split_at(11).0;

/// Rebuilds the measure of a stored event of `category` from its columns (`quantity` at 5, `unit` at
/// 6, then [`DETAIL`] from 9).
fn measure_of(row: &mut Row, category: &str) -> Result<Option<Measure>, BoxError> {
    let unit = row.text(6)?;
    let quantity = row.real(5)?;
    let detail = |name: &str| -> Result<Option<i64>, BoxError> {
        let i = DETAIL.iter().position(|d| *d == name).unwrap_or(0);
        row.opt_int(9 + i)
    };
    let n = |name: &str| -> Result<u64, BoxError> {
        Ok(detail(name)?.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    };
    let ms = (quantity * 1000.0).round().max(0.0) as u64;
    Ok(match unit.as_str() {
        "token" => Some(Measure::Tokens(
            TokenUsage::new(n("input_tokens")?, n("output_tokens")?)
                .with_cached_input(n("cached_input_tokens")?)
                .with_cache_write(n("cache_write_tokens")?)
                .with_cache_write_1h(n("cache_write_1h_tokens")?)
                .with_reasoning(n("reasoning_tokens")?)
                .with_audio(n("audio_input_tokens")?, n("audio_output_tokens")?)
                .with_cached_audio_input(n("cached_audio_input_tokens")?),
        )),
        "character" => Some(Measure::Quantity(UsageKind::Characters, quantity as u64)),
        "request" => Some(Measure::Quantity(UsageKind::Requests, quantity as u64)),
        "second" => match category {
            "telephony" => Some(Measure::Quantity(UsageKind::CallSeconds, ms)),
            "stt" => Some(Measure::Quantity(UsageKind::AudioSeconds, ms)),
            "transport" => Some(Measure::Quantity(UsageKind::ParticipantSeconds, ms)),
            _ => match (detail("audio_input_ms")?, detail("audio_output_ms")?) {
                (Some(i), Some(o)) => Some(Measure::Pair([
                    (UsageKind::AudioInputSeconds, u64::try_from(i).unwrap_or(0)),
                    (UsageKind::AudioOutputSeconds, u64::try_from(o).unwrap_or(0)),
                ])),
                _ => None,
            },
        },
        _ => None,
    })
}

impl Reports {
    /// Prices the usage recorded from `from` to `to` (UTC days, by event time) again under `catalog`,
    /// with `substitutions` applied, as it would have been billed: events in order within each call,
    /// billing increments on each call's cumulative quantities. Nothing recorded is changed.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn what_if(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        catalog: &Catalog,
        substitutions: &[Substitution],
    ) -> CrateResult<WhatIf> {
        let (start, end) = range_ms(from, to);
        // A call's events in order: by its number in a file, by its id in a fleet database.
        let call = match self.dialect() {
            Dialect::Sqlite => "call_ref",
            #[cfg(feature = "postgres")]
            Dialect::Postgres => "call_id",
        };
        let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let (mut events, mut kept) = (0_u64, 0_u64);
        let mut current: Option<String> = None;
        let mut cumulative = Tally::default();
        self.for_each(
            &format!(
                "SELECT CAST({call} AS TEXT), created_at, category, provider, model, quantity, unit,
                        cost_nanos, kind, {}
                 FROM cost_events WHERE created_at >= ?1 AND created_at < ?2
                 ORDER BY {call}, segment, seq",
                DETAIL.join(", ")
            ),
            &[start.into(), end.into()],
            "reading events to re-price",
            |row| {
                let call = row.text(0)?;
                if current.as_deref() != Some(call.as_str()) {
                    current = Some(call);
                    cumulative = Tally::default();
                }
                let at = row.int(1)?;
                let category = row.text(2)?;
                let provider = row.text(3)?;
                let model = row.text(4)?;
                let recorded = row.int(7)?;
                let kind = row.text(8)?;
                let (p, m) = substitutions
                    .iter()
                    .find(|s| s.from_provider == provider && s.from_model == model)
                    .map_or((provider.as_str(), model.as_str()), |s| {
                        (s.to_provider.as_str(), s.to_model.as_str())
                    });
                let measure = if kind == "coalesced" {
                    None
                } else {
                    measure_of(row, &category)?
                };
                let repriced = match (measure, catalog.find_at(p, m, at)) {
                    (Some(measure), Lookup::Found(entry)) => catalog
                        .price(entry, &measure, &cumulative)
                        .ok()
                        .filter(|priced| priced.missing.is_none())
                        .map(|priced| priced.cost),
                    _ => None,
                };
                let s = sums.entry(category).or_default();
                s.0 = s.0.saturating_add(recorded);
                match repriced {
                    Some(cost) => {
                        events += 1;
                        s.1 = s.1.saturating_add(cost);
                    }
                    None => {
                        kept += 1;
                        s.1 = s.1.saturating_add(recorded);
                    }
                }
                Ok(())
            },
        )?;
        let (recorded, repriced) = sums.values().fold((0_i64, 0_i64), |(a, b), (r, p)| {
            (a.saturating_add(*r), b.saturating_add(*p))
        });
        Ok(WhatIf {
            events,
            kept,
            recorded: Usd::from_nanos(recorded),
            repriced: Usd::from_nanos(repriced),
            difference: Usd::from_nanos(repriced.saturating_sub(recorded)),
            by_category: sums
                .into_iter()
                .map(|(category, (r, p))| WhatIfLine {
                    category,
                    recorded: Usd::from_nanos(r),
                    repriced: Usd::from_nanos(p),
                })
                .collect(),
        })
    }
}
