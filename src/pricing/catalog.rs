//! The catalog: prices indexed by provider and model, and the lookups of the hot path. The builder
//! that checks and compiles prices into one is in `builder.rs`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::destination::{Destinations, Route, RouteTable};
use super::line::{Entry, Line, Running, fallback};
use super::model::{FixedCost, ModelPrice, Subscription};
use super::names;
use crate::base::error::{Error, Result};
use crate::base::usage::UsageKind;

/// Prices indexed by provider and model.
///
/// Lookups hash the provider and model strings as given and allocate nothing. Build one with
/// [`CatalogBuilder`](crate::CatalogBuilder), or start from [`Catalog::builtin`].
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

    /// The fixed monthly costs: those added with [`CatalogBuilder::fixed_cost`](crate::CatalogBuilder::fixed_cost), then the fee of each
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
        // Zero of a kind charged at session start: the session starts.
        if let crate::base::usage::Measure::Quantity(kind, 0) = measure
            && let Some(line) = line_of(*kind).filter(|l| l.at_start())
        {
            return Ok(Priced {
                cost: line.start_cost(cumulative)?,
                missing: None,
            });
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::money::Usd;
    use crate::base::usage::{Category, UsageKind};
    use crate::base::usage::{Measure, TokenUsage};
    use crate::pricing::fee::FeeRule;
    use crate::pricing::line::Tally;
    use crate::pricing::rate::{Increment, Rate};
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
