//! What-if: the recorded usage of a period priced again under another catalog, or with some models
//! swapped for others, without touching what was recorded.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::base::error::Result as CrateResult;
use crate::base::money::Usd;
use crate::persist::read::events::{Priced, each_priced};
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
        let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        let (mut events, mut kept) = (0_u64, 0_u64);
        let mut current: Option<String> = None;
        let mut cumulative = Tally::default();
        each_priced(self.source(), range_ms(from, to), |e: Priced| {
            if current.as_deref() != Some(e.call.as_str()) {
                current = Some(e.call);
                cumulative = Tally::default();
            }
            let (p, m) = substitutions
                .iter()
                .find(|s| s.from_provider == e.provider && s.from_model == e.model)
                .map_or((e.provider.as_str(), e.model.as_str()), |s| {
                    (s.to_provider.as_str(), s.to_model.as_str())
                });
            let repriced = match (e.measure, catalog.find_at(p, m, e.at_ms)) {
                (Some(measure), Lookup::Found(entry)) => catalog
                    .price(entry, &measure, &cumulative)
                    .ok()
                    .filter(|priced| priced.missing.is_none())
                    .map(|priced| priced.cost),
                _ => None,
            };
            let s = sums.entry(e.category).or_default();
            s.0 = s.0.saturating_add(e.cost_nanos);
            match repriced {
                Some(cost) => {
                    events += 1;
                    s.1 = s.1.saturating_add(cost);
                }
                None => {
                    kept += 1;
                    s.1 = s.1.saturating_add(e.cost_nanos);
                }
            }
        })?;
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
