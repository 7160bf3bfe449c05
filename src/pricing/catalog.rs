//! The catalog: prices indexed by provider and model, the lookups of the hot path, and the builder
//! that checks and compiles prices into a catalog.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::destination::{Destinations, Route, RouteTable};
use super::fee::FeeCalc;
use super::line::{Entry, Line, Lines, Running, fallback};
use super::model::{FixedCost, ModelPrice, Subscription};
use super::names;
use super::rate::Rate;
use crate::base::error::{Error, Result};
use crate::base::usage::UsageKind;

/// Prices indexed by provider and model.
///
/// Lookups hash the provider and model strings as given and allocate nothing. Build one with
/// [`CatalogBuilder`], or start from [`Catalog::builtin`].
#[derive(Debug)]
pub struct Catalog {
    pub(super) fixed_costs: Vec<FixedCost>,
    pub(super) aliases: Vec<(String, String, String, String)>,
    /// Unique in the process: the writer remembers which prices it stored by catalog and entry.
    pub(super) id: u64,
    pub(super) entries: Vec<Entry>,
    pub(super) providers: Vec<String>,
    /// Provider → model → index into `series`.
    pub(super) index: FxHashMap<Box<str>, FxHashMap<Box<str>, u32>>,
    /// The same in ASCII lowercase, with the aliases: consulted when the exact names miss.
    pub(super) folded: FxHashMap<Box<str>, FxHashMap<Box<str>, u32>>,
    /// The versions of each provider and model: entry indexes in order of `from`.
    pub(super) series: Vec<Vec<u32>>,
    /// The exact provider and model of each series.
    pub(super) series_names: Vec<(Box<str>, Box<str>)>,
    /// The same versions as `(from, to, entry)`, so that a lookup reads one small array.
    pub(super) windows: Vec<Box<[(i64, i64, u32)]>>,
    pub(super) cumulative_lines: usize,
    /// The destination tables, as given.
    pub(super) destinations: Vec<Destinations>,
    /// Provider → product → the compiled destination table.
    pub(super) routes: FxHashMap<Box<str>, FxHashMap<Box<str>, RouteTable>>,
}

pub(super) static NEXT_CATALOG_ID: AtomicU64 = AtomicU64::new(1);

/// A catalog entry as the database stores it.
pub(crate) struct StoredPrice<'a> {
    pub(crate) price: &'a ModelPrice,
    /// Validity in milliseconds since the Unix epoch; `None` for an open end.
    pub(crate) from: Option<i64>,
    pub(crate) to: Option<i64>,
    /// Canonical JSON of everything that makes the price; the same price gives the same text.
    pub(crate) definition: String,
}

/// Slots of a [`LookupCache`].
pub(super) const LOOKUP_SLOTS: usize = 4;

/// A call's memory of the catalog series its last names resolved to (series + 1; 0 is empty). Any
/// value is safe: a hit is confirmed by comparing the names.
#[derive(Debug, Default)]
pub(crate) struct LookupCache([AtomicU32; LOOKUP_SLOTS]);

/// What a lookup at a point in time found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The entry in force.
    Found(u32),
    /// The model is in the catalog, but no version of its price is in force at that time.
    NotInForce,
    /// The model is not in the catalog.
    Unknown,
}

/// A priced quantity: the category it belongs to, its cost, and whether every part had a rate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Priced {
    pub(crate) cost: i64,
    pub(crate) missing: Option<UsageKind>,
}

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

    /// The catalog model a telephony `route` of `provider`'s `product` is priced as (a group of a
    /// [`Destinations`] table, `product:group`); `None` when there is no table for them, or it has
    /// nothing for the route.
    pub fn route(&self, provider: &str, product: &str, route: Route<'_>) -> Option<&str> {
        self.routes.get(provider)?.get(product)?.resolve(route)
    }

    /// `provider`'s `product`'s destination table, if it has one.
    pub(crate) fn routes_of(&self, provider: &str, product: &str) -> Option<&RouteTable> {
        self.routes.get(provider)?.get(product)
    }

    /// The destination tables.
    pub fn destinations(&self) -> &[Destinations] {
        &self.destinations
    }

    /// The fixed monthly costs: those added with [`CatalogBuilder::fixed_cost`], then the fee of each
    /// active subscription tier (named `provider/model subscription (tier)`) of the entries in force now.
    pub fn fixed_costs(&self) -> Vec<FixedCost> {
        let now = Utc::now().timestamp_millis();
        let mut costs = self.fixed_costs.clone();
        for e in &self.entries {
            if let Some(tier) = e.price.subscription.as_ref().and_then(Subscription::active)
                && e.from <= now
                && now < e.to
            {
                costs.push(
                    FixedCost::new(
                        format!("{} subscription ({})", e.price.name(), tier.name),
                        e.price.category,
                        tier.monthly_fee,
                    )
                    .with_source(e.price.source.clone()),
                );
            }
        }
        costs
    }

    /// The version of `provider`/`model`'s price in force now (names matched as the track calls match
    /// them).
    pub fn get(&self, provider: &str, model: &str) -> Option<&ModelPrice> {
        self.get_at(provider, model, Utc::now())
    }

    /// The version of `provider`/`model`'s price in force at `at`.
    pub fn get_at(&self, provider: &str, model: &str, at: DateTime<Utc>) -> Option<&ModelPrice> {
        match self.find_at(provider, model, at.timestamp_millis()) {
            Lookup::Found(i) => Some(&self.entries[i as usize].price),
            Lookup::NotInForce | Lookup::Unknown => None,
        }
    }

    /// Every version of `provider`/`model`'s price, oldest first.
    pub fn versions(&self, provider: &str, model: &str) -> impl Iterator<Item = &ModelPrice> {
        self.series_of(provider, model)
            .map(|s| self.series[s as usize].as_slice())
            .unwrap_or_default()
            .iter()
            .map(|&i| &self.entries[i as usize].price)
    }

    /// The aliases: (alias provider, alias model) → (provider, model).
    pub fn aliases(&self) -> impl Iterator<Item = ((&str, &str), (&str, &str))> {
        self.aliases
            .iter()
            .map(|(ap, am, p, m)| ((ap.as_str(), am.as_str()), (p.as_str(), m.as_str())))
    }

    /// Every entry, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &ModelPrice> {
        self.entries.iter().map(|e| &e.price)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the catalog has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The series of versions `provider`/`model` names: exactly, or else as described in the guide's
    /// "Model names" (case, provider prefix, date suffix, aliases). Allocates nothing.
    pub(super) fn series_of(&self, provider: &str, model: &str) -> Option<u32> {
        if let Some(&s) = self.index.get(provider).and_then(|m| m.get(model)) {
            return Some(s);
        }
        let mut pbuf = [0_u8; names::MAX_FOLDED];
        let mut mbuf = [0_u8; names::MAX_FOLDED];
        let provider = names::fold(provider, &mut pbuf)?;
        let model = names::fold(model, &mut mbuf)?;
        let models = self.folded.get(provider)?;
        let bare = names::strip_provider(provider, model).unwrap_or(model);
        [Some(model), Some(bare), names::strip_date(bare)]
            .into_iter()
            .flatten()
            .find_map(|m| models.get(m).copied())
    }

    /// Up to three catalog names near `provider`/`model`, nearest first, for an error message.
    pub fn suggest(&self, provider: &str, model: &str) -> Vec<String> {
        let lower = provider.to_ascii_lowercase();
        match self.folded.get(lower.as_str()) {
            Some(models) => {
                let bare = names::strip_provider(provider, model).unwrap_or(model);
                names::nearest(bare, models.keys().map(|m| &**m), 3)
                    .into_iter()
                    .map(|m| format!("{lower}/{m}"))
                    .collect()
            }
            None => names::nearest(provider, self.folded.keys().map(|p| &**p), 3)
                .into_iter()
                .map(|p| format!("{p}/…"))
                .collect(),
        }
    }

    /// The entry of `provider`/`model` in force at `at_ms` (milliseconds since the Unix epoch).
    pub(crate) fn find_at(&self, provider: &str, model: &str, at_ms: i64) -> Lookup {
        match self.series_of(provider, model) {
            Some(series) => self.in_force(series, at_ms),
            None => Lookup::Unknown,
        }
    }

    /// As [`find_at`](Self::find_at), first trying the series `cache` remembers for names of this
    /// length: a hit costs two short comparisons instead of two string hashes.
    pub(crate) fn find_cached(
        &self,
        provider: &str,
        model: &str,
        at_ms: i64,
        cache: &LookupCache,
    ) -> Lookup {
        let slot = &cache.0[(provider.len() ^ model.len().rotate_left(2)) % LOOKUP_SLOTS];
        let cached = slot.load(Ordering::Relaxed);
        let series = match cached.checked_sub(1).map(|s| s as usize) {
            Some(s)
                if self
                    .series_names
                    .get(s)
                    .is_some_and(|(p, m)| **p == *provider && **m == *model) =>
            {
                s as u32
            }
            _ => {
                let Some(series) = self.series_of(provider, model) else {
                    return Lookup::Unknown;
                };
                // Only exact names are remembered (a hit is checked by comparing them).
                if self.series_names[series as usize].0.as_ref() == provider
                    && self.series_names[series as usize].1.as_ref() == model
                {
                    slot.store(series + 1, Ordering::Relaxed);
                }
                series
            }
        };
        self.in_force(series, at_ms)
    }

    /// The version of `series` in force at `at_ms`.
    pub(super) fn in_force(&self, series: u32, at_ms: i64) -> Lookup {
        // Few versions per model, newest last: scan back to the latest one started by `at_ms`.
        for &(from, to, entry) in self.windows[series as usize].iter().rev() {
            if from <= at_ms {
                return if at_ms < to {
                    Lookup::Found(entry)
                } else {
                    Lookup::NotInForce
                };
            }
        }
        Lookup::NotInForce
    }

    /// The row the database keeps for `entry`: its columns and a JSON definition that identifies it.
    pub(crate) fn stored(&self, entry: u32) -> StoredPrice<'_> {
        let e = &self.entries[entry as usize];
        let open = |t: i64| (t != i64::MIN && t != i64::MAX).then_some(t);
        let (from, to) = (open(e.from), open(e.to));
        let mut definition = serde_json::to_value(&e.price).unwrap_or_default();
        if let Some(map) = definition.as_object_mut() {
            // The version's validity as resolved in this catalog (an open end closes where the next
            // version starts), in milliseconds since the Unix epoch.
            map.insert("in_force_from".into(), from.into());
            map.insert("in_force_to".into(), to.into());
        }
        StoredPrice {
            price: &e.price,
            from,
            to,
            definition: definition.to_string(),
        }
    }

    /// The process-unique identity of this catalog.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn provider_count(&self) -> usize {
        self.providers.len()
    }

    pub(crate) fn provider_name(&self, index: usize) -> &str {
        &self.providers[index]
    }

    pub(crate) fn entry_price(&self, entry: u32) -> &ModelPrice {
        &self.entries[entry as usize].price
    }

    pub(crate) fn entry_provider(&self, entry: u32) -> usize {
        self.entries[entry as usize].provider as usize
    }

    /// Prices `parts` of usage under `entry`, advancing the call's cumulative counters.
    pub(crate) fn price(
        &self,
        entry: u32,
        measure: &crate::base::usage::Measure,
        cumulative: &impl Running,
    ) -> Result<Priced> {
        let entry = &self.entries[entry as usize];
        if let crate::base::usage::Measure::Payment(amount, flags) = measure {
            return match entry.fee {
                Some(fee) => Ok(Priced {
                    cost: fee.fee_nanos(*amount, *flags)?,
                    missing: None,
                }),
                None => Ok(Priced {
                    cost: 0,
                    missing: Some(UsageKind::Transactions),
                }),
            };
        }
        let tier = match measure {
            crate::base::usage::Measure::Tokens(t) if !entry.tiers.is_empty() => {
                let prompt = t.prompt();
                entry
                    .tiers
                    .iter()
                    .rev()
                    .find(|(above, _)| prompt > *above)
                    .map(|(_, lines)| lines)
            }
            _ => None,
        };
        let line_of = |kind: UsageKind| -> Option<&Line> {
            tier.and_then(|t| t[kind.index()].as_ref())
                .or(entry.lines[kind.index()].as_ref())
        };
        let mut cost: i64 = 0;
        let mut missing = None;
        let mut overflow = false;
        measure.for_each(|kind, qty| {
            if qty == 0 {
                return;
            }
            match line_of(kind).or_else(|| fallback(kind).and_then(line_of)) {
                Some(line) => match line.cost(qty, cumulative) {
                    Ok(c) => match cost.checked_add(c) {
                        Some(sum) => cost = sum,
                        None => overflow = true,
                    },
                    Err(_) => overflow = true,
                },
                None => missing = missing.or(Some(kind)),
            }
        });
        if overflow {
            return Err(Error::AmountOutOfRange);
        }
        Ok(Priced { cost, missing })
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
        let mut line = Line::new(rate, increment).ok_or_else(|| {
            price.err(
                format!("{field}{kind}"),
                "price must be zero or more and in range",
            )
        })?;
        if line.needs_cumulative() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::money::Usd;
    use crate::base::usage::{Category, UsageKind};
    use crate::base::usage::{Measure, TokenUsage};
    use crate::pricing::fee::FeeRule;
    use crate::pricing::line::Tally;
    use crate::pricing::rate::Increment;
    use rust_decimal::Decimal;
    use rust_decimal::dec;

    fn usd(d: Decimal) -> Usd {
        Usd::new(d)
    }

    #[test]
    fn per_minute_line_is_exact_fraction() {
        let line = Line::new(&Rate::per_minute(usd(dec!(0.0059))), None);
        let line = line.expect("valid");
        // 0.0059 $/min = 5_900_000 nanos / 60_000 ms = 295/3
        assert_eq!((line.num, line.den), (295, 3));
        assert_eq!(line.billed(300_000), 29_500_000);
    }

    #[test]
    fn increment_rounds_up_cumulatively() -> Result<()> {
        let inc = Increment::per_started_minute();
        assert_eq!(inc.quantize(0), 0);
        assert_eq!(inc.quantize(1), 60_000);
        assert_eq!(inc.quantize(60_000), 60_000);
        assert_eq!(inc.quantize(80_000), 120_000);
        let six_thirty = Increment::seconds(6, 30);
        assert_eq!(six_thirty.quantize(1_000), 30_000);
        assert_eq!(six_thirty.quantize(31_000), 36_000);
        Ok(())
    }

    #[test]
    fn unit_mismatch_is_rejected_with_entry_and_field() {
        let err = Catalog::builder()
            .insert(
                ModelPrice::new("x", "y", Category::Tts)
                    .rate(UsageKind::Characters, Rate::per_minute(usd(dec!(1)))),
            )
            .build()
            .err();
        match err {
            Some(Error::Catalog { entry, field, .. }) => {
                assert_eq!(entry, "x/y");
                assert_eq!(field, "characters");
            }
            other => panic!("expected a catalog error, got {other:?}"),
        }
    }

    #[test]
    fn negative_price_and_orphan_increment_are_rejected() {
        let negative = Catalog::builder()
            .insert(
                ModelPrice::new("x", "y", Category::Tts)
                    .rate(UsageKind::Characters, Rate::per_character(usd(dec!(-1)))),
            )
            .build();
        assert!(matches!(negative, Err(Error::Catalog { .. })));
        let orphan = Catalog::builder()
            .insert(
                ModelPrice::new("x", "y", Category::Telephony)
                    .increment(UsageKind::CallSeconds, Increment::per_second()),
            )
            .build();
        assert!(matches!(orphan, Err(Error::Catalog { .. })));
    }

    #[test]
    fn missing_rate_is_reported_and_rest_is_billed() -> Result<()> {
        let catalog = Catalog::builder()
            .insert(ModelPrice::new("x", "y", Category::Llm).rate(
                UsageKind::InputTokens,
                Rate::per_million_tokens(usd(dec!(1))),
            ))
            .build()?;
        let Lookup::Found(id) = catalog.find_at("x", "y", 0) else {
            panic!("entry")
        };
        let priced = catalog.price(
            id,
            &Measure::tokens(TokenUsage::new(1_000, 10))?,
            &Tally::default(),
        )?;
        assert_eq!(priced.cost, 1_000_000);
        assert_eq!(priced.missing, Some(UsageKind::OutputTokens));
        Ok(())
    }

    #[test]
    fn fee_rule_applies_percent_fixed_and_cap() -> Result<()> {
        let cnp = FeeRule::new(dec!(3.4), usd(dec!(0.30)));
        assert_eq!(cnp.fee_for(usd(dec!(4.99)))?, usd(dec!(0.46966)));
        let ach = FeeRule::new(dec!(0.8), Usd::ZERO).with_cap(usd(dec!(5)));
        assert_eq!(ach.fee_for(usd(dec!(625)))?, usd(dec!(5)));
        assert_eq!(ach.fee_for(usd(dec!(624)))?, usd(dec!(4.992)));
        Ok(())
    }

    #[test]
    fn the_lookup_cache_never_answers_for_other_names() -> Result<()> {
        let rate = Rate::per_character(usd(dec!(1)));
        let catalog = Catalog::builder()
            .insert(ModelPrice::new("acme", "aa", Category::Tts).rate(UsageKind::Characters, rate))
            .insert(ModelPrice::new("acme", "bb", Category::Tts).rate(UsageKind::Characters, rate))
            .build()?;
        let cache = LookupCache::default();
        // Same lengths: the same slot, every time a different answer.
        for _ in 0..3 {
            for model in ["aa", "bb"] {
                let Lookup::Found(i) = catalog.find_cached("acme", model, 0, &cache) else {
                    panic!("{model}")
                };
                assert_eq!(catalog.entry_price(i).model(), model);
            }
            assert_eq!(
                catalog.find_cached("acme", "cc", 0, &cache),
                Lookup::Unknown
            );
            // A folded name resolves, and is not remembered as if it were exact.
            assert!(matches!(
                catalog.find_cached("ACME", "AA", 0, &cache),
                Lookup::Found(_)
            ));
        }
        Ok(())
    }
}
