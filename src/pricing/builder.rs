//! The catalog's builder: collects prices, fixed costs, aliases and destination tables, checks them,
//! and compiles them into a [`Catalog`].

use std::sync::atomic::Ordering;

use rustc_hash::FxHashMap;

use super::catalog::*;
use super::destination::{Destinations, RouteTable};
use super::fee::FeeCalc;
use super::line::{Entry, Line, Lines};
use super::model::{FixedCost, ModelPrice};
use super::rate::Rate;
use crate::base::error::{Error, Result};
use crate::base::usage::UsageKind;

impl Catalog {
    /// An empty builder.
    pub fn builder() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// A builder holding this catalog's entries, to extend or override them.
    pub fn into_builder(self) -> CatalogBuilder {
        CatalogBuilder {
            entries: self.entries.into_iter().map(|e| e.price).collect(),
            fixed_costs: self.fixed_costs,
            aliases: self.aliases,
            destinations: self.destinations,
        }
    }
}

/// Collects [`ModelPrice`]s and checks them into a [`Catalog`].
#[derive(Debug, Default, Clone)]
pub struct CatalogBuilder {
    pub(super) entries: Vec<ModelPrice>,
    pub(super) fixed_costs: Vec<FixedCost>,
    /// (alias provider, alias model, provider, model).
    pub(super) aliases: Vec<(String, String, String, String)>,
    pub(super) destinations: Vec<Destinations>,
}

impl CatalogBuilder {
    /// Makes `alias` another name for `provider`/`model`. An alias written `other/name` is matched as
    /// provider `other`, model `name`; otherwise it is a model name of `provider`. Aliases are matched
    /// like catalog names (case, prefix and date suffix ignored).
    pub fn alias(
        mut self,
        alias: impl Into<String>,
        provider: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        let (alias, provider, model) = (alias.into(), provider.into(), model.into());
        let (alias_provider, alias_model) = match alias.split_once('/') {
            Some((p, m)) => (p.to_owned(), m.to_owned()),
            None => (provider.clone(), alias),
        };
        self.aliases
            .push((alias_provider, alias_model, provider, model));
        self
    }

    /// Adds a fixed monthly cost; a later one with the same name replaces an earlier one.
    pub fn fixed_cost(mut self, cost: FixedCost) -> Self {
        self.fixed_costs.retain(|c| c.name != cost.name);
        self.fixed_costs.push(cost);
        self
    }

    /// Adds an entry. A later entry for the same provider, model and [`effective_from`] replaces an
    /// earlier one; entries with different start times are versions of the model's price.
    ///
    /// [`effective_from`]: ModelPrice::effective_from
    pub fn insert(mut self, price: ModelPrice) -> Self {
        self.entries.retain(|p| {
            !(p.provider == price.provider
                && p.model == price.model
                && p.effective_from == price.effective_from)
        });
        self.entries.push(price);
        self
    }

    /// Adds a telephony table by destination ([`Destinations`]); its groups, inbound types and SIP
    /// become entries named `product:…` (added last, so they replace entries of the same names). A
    /// later table for the same provider and product replaces an earlier one.
    pub fn destinations(mut self, table: Destinations) -> Self {
        self.destinations
            .retain(|d| !(d.provider == table.provider && d.product == table.product));
        self.destinations.push(table);
        self
    }

    /// Checks every entry and builds the catalog.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] naming the entry and field when a provider or model is empty, a rate's unit does
    /// not match its usage kind, a price is negative or out of range, an increment has no rate, a fee
    /// rule is given for anything but payments, or versions of one model overlap or end before they
    /// start.
    pub fn build(mut self) -> Result<Catalog> {
        let mut routes: FxHashMap<Box<str>, FxHashMap<Box<str>, RouteTable>> = FxHashMap::default();
        for table in std::mem::take(&mut self.destinations) {
            let compiled = table.compile()?;
            routes
                .entry(table.provider.as_str().into())
                .or_default()
                .insert(table.product.as_str().into(), compiled);
            for price in table.prices() {
                self = self.insert(price);
            }
            self.destinations.push(table);
        }
        let mut catalog = Catalog {
            fixed_costs: self.fixed_costs,
            aliases: Vec::new(),
            folded: FxHashMap::default(),
            id: NEXT_CATALOG_ID.fetch_add(1, Ordering::Relaxed),
            entries: Vec::with_capacity(self.entries.len()),
            providers: Vec::new(),
            index: FxHashMap::default(),
            series: Vec::new(),
            windows: Vec::new(),
            series_names: Vec::new(),
            cumulative_lines: 0,
            destinations: self.destinations,
            routes,
        };
        for price in self.entries {
            let entry = compile(price, &mut catalog)?;
            let id = u32::try_from(catalog.entries.len())
                .map_err(|_| entry.price.err("entry", "too many catalog entries"))?;
            let next_series = catalog.series.len() as u32;
            let series = *catalog
                .index
                .entry(entry.price.provider.as_str().into())
                .or_default()
                .entry(entry.price.model.as_str().into())
                .or_insert(next_series);
            if series == next_series {
                catalog.series.push(Vec::new());
                catalog.series_names.push((
                    entry.price.provider.as_str().into(),
                    entry.price.model.as_str().into(),
                ));
            }
            catalog.series[series as usize].push(id);
            catalog.entries.push(entry);
        }
        for series in &mut catalog.series {
            close_versions(series, &mut catalog.entries)?;
        }
        catalog.windows = catalog
            .series
            .iter()
            .map(|s| {
                s.iter()
                    .map(|&i| {
                        let e = &catalog.entries[i as usize];
                        (e.from, e.to, i)
                    })
                    .collect()
            })
            .collect();
        for (provider, models) in &catalog.index {
            for (model, &series) in models {
                catalog
                    .folded
                    .entry(provider.to_ascii_lowercase().into())
                    .or_default()
                    .insert(model.to_ascii_lowercase().into(), series);
            }
        }
        for (ap, am, p, m) in &self.aliases {
            let Some(&series) = catalog
                .index
                .get(p.as_str())
                .and_then(|x| x.get(m.as_str()))
            else {
                return Err(Error::Catalog {
                    entry: format!("{p}/{m}"),
                    field: "aliases".into(),
                    reason: format!("alias {ap}/{am} names a model that is not in the catalog"),
                });
            };
            catalog
                .folded
                .entry(ap.to_ascii_lowercase().into())
                .or_default()
                .insert(am.to_ascii_lowercase().into(), series);
        }
        catalog.aliases = self.aliases;
        Ok(catalog)
    }
}

/// Orders a model's versions by start and ends each open one where the next begins.
pub(super) fn close_versions(series: &mut [u32], entries: &mut [Entry]) -> Result<()> {
    series.sort_by_key(|&i| entries[i as usize].from);
    for k in 0..series.len() {
        let next_from = series.get(k + 1).map(|&n| entries[n as usize].from);
        let e = &mut entries[series[k] as usize];
        let explicit_to = e.price.effective_to.is_some();
        if let Some(next) = next_from {
            if !explicit_to {
                e.to = next;
            } else if e.to > next {
                return Err(e.price.err(
                    "effective_to",
                    "overlaps the next version of this model's price",
                ));
            }
        }
        if e.to <= e.from {
            return Err(e.price.err("effective_to", "must be after effective_from"));
        }
    }
    Ok(())
}

/// Compiles one set of rates (the base rates, or a tier's) into lines; `field` prefixes error fields.
pub(super) fn compile_lines(
    price: &ModelPrice,
    rates: &[(UsageKind, Rate)],
    field: &str,
    catalog: &mut Catalog,
) -> Result<Lines> {
    let mut lines: Lines = [None; UsageKind::COUNT];
    for (kind, rate) in rates {
        if *kind == UsageKind::Transactions {
            return Err(price.err(
                format!("{field}{kind}"),
                "payments are priced by a fee rule, not a rate",
            ));
        }
        if rate.unit() != kind.unit() {
            return Err(price.err(
                format!("{field}{kind}"),
                format!(
                    "rate is per {}, usage is counted in {}s",
                    rate.unit(),
                    kind.unit()
                ),
            ));
        }
        let increment = price
            .increments
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, i)| *i);
        if let Some(inc) = increment
            && (inc.unit != kind.unit() || inc.step == 0)
        {
            return Err(price.err(
                format!("{kind}.increment"),
                "increment must be a positive step in the usage's unit",
            ));
        }
        if let Some(inc) = increment
            && inc.at_start
            && inc.minimum == 0
        {
            return Err(price.err(
                format!("{kind}.increment"),
                "a start charge is the increment's minimum: give a minimum",
            ));
        }
        let mut line = Line::new(rate, increment).ok_or_else(|| {
            price.err(
                format!("{field}{kind}"),
                "price must be zero or more and in range",
            )
        })?;
        if line.needs_cumulative() {
            if catalog.cumulative_lines >= 1 << super::line::LEG_SHIFT {
                return Err(price.err(
                    format!("{field}{kind}"),
                    "the catalog has more lines priced on the whole than a call can count",
                ));
            }
            line.slot = Some(catalog.cumulative_lines as u32);
            catalog.cumulative_lines += 1;
        }
        lines[kind.index()] = Some(line);
    }
    Ok(lines)
}

pub(super) fn compile(price: ModelPrice, catalog: &mut Catalog) -> Result<Entry> {
    if price.provider.trim().is_empty() {
        return Err(price.err("provider", "must not be empty"));
    }
    if price.model.trim().is_empty() {
        return Err(price.err("model", "must not be empty"));
    }
    let mut rates = price.rates.clone();
    if let Some(sub) = &price.subscription {
        let tier = sub.active().ok_or_else(|| {
            price.err(
                "subscription.active",
                format!("no tier named {:?}", sub.active),
            )
        })?;
        if tier.included == 0 {
            return Err(price.err(
                format!("subscription.{}", tier.name),
                "a tier must include some usage",
            ));
        }
        if rates.iter().any(|(k, _)| *k == tier.kind) {
            return Err(price.err(
                tier.kind.as_str(),
                "priced both by a rate and by the subscription",
            ));
        }
        rates.push((tier.kind, tier.marginal_rate()));
    }
    let lines = compile_lines(&price, &rates, "", catalog)?;
    let mut tiers = Vec::with_capacity(price.context_tiers.len());
    for tier in &price.context_tiers {
        let field = format!("above_{}_tokens.", tier.above_prompt_tokens);
        tiers.push((
            tier.above_prompt_tokens,
            compile_lines(&price, &tier.rates, &field, catalog)?,
        ));
    }
    if let Some((kind, _)) = price
        .increments
        .iter()
        .find(|(k, _)| lines[k.index()].is_none())
    {
        return Err(price.err(format!("{kind}.increment"), "increment without a rate"));
    }
    let fee = match &price.fee {
        Some(rule) => Some(
            FeeCalc::new(rule)
                .ok_or_else(|| price.err("fee", "percent and amounts must be zero or more"))?,
        ),
        None => None,
    };
    let provider = match catalog.providers.iter().position(|p| *p == price.provider) {
        Some(i) => i,
        None => {
            catalog.providers.push(price.provider.clone());
            catalog.providers.len() - 1
        }
    };
    Ok(Entry {
        from: price
            .effective_from
            .map_or(i64::MIN, |t| t.timestamp_millis()),
        to: price
            .effective_to
            .map_or(i64::MAX, |t| t.timestamp_millis()),
        price,
        provider: provider as u32,
        lines,
        tiers,
        fee,
    })
}
