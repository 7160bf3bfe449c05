//! Reconciliation: what the providers billed (table `billed`, written by a
//! [`Ledger`](crate::Ledger)) beside what callmeter computed, at the finest level each record
//! allows — per call (a record naming a call), per day and model (a record naming a model), or per
//! day and provider (anything else).
//!
//! Each level of each provider is compared only where that provider has billed records at that
//! level in the range: a provider never imported is not reconciled, and its computed costs are not
//! reported as unbilled.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Days, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::base::error::Result;
use crate::base::money::Usd;
use crate::control::{Alert, AlertKind};
use crate::persist::read::events::{self, Key as Summed};
use crate::persist::read::{billed, calls};
use crate::pricing::{strip_date, strip_provider};
use crate::report::reports::{Reports, range_ms};

/// How close a billed figure must be to the computed one to match: within `absolute` dollars or
/// within `percent` % of the billed figure, whichever is larger. The default, $0.001 or 1 %,
/// absorbs a provider writing a call's price to five decimals (Twilio) or rounding a day's bill of
/// a dollar or more to the cent; a price that differs by more than 1 %, a call or a day missing,
/// or a rounding rule that adds more than a tenth of a cent to a call do not match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Tolerance {
    /// Dollars either way that still match.
    pub absolute: Usd,
    /// Percent of the billed figure either way that still matches.
    pub percent: Decimal,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            absolute: Usd::new(Decimal::new(1, 3)),
            percent: Decimal::ONE,
        }
    }
}

impl Tolerance {
    fn accepts(&self, delta: i64, billed: i64) -> bool {
        let allowed_abs = self.absolute.to_nanos().unwrap_or(i64::MAX);
        let allowed_rel =
            Decimal::from(billed.unsigned_abs()) * self.percent / Decimal::ONE_HUNDRED;
        let delta = delta.unsigned_abs();
        Decimal::from(delta) <= allowed_rel || delta <= allowed_abs.unsigned_abs()
    }
}

/// What to reconcile how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// When lines match.
    pub tolerance: Tolerance,
    /// The metadata key of a call that holds the id a provider bills it under (a Twilio call SID),
    /// when it is not callmeter's call id itself.
    pub call_key: Option<String>,
}

/// What a line compares: one call, one day and model, or one day of a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One call (records naming a call: Twilio's Call resources).
    Call,
    /// One day and model (records naming a model: OpenAI's line items, Anthropic's models).
    DayModel,
    /// One day of a provider (everything else: usage records, invoice lines).
    Day,
}

/// How a line came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// Billed and computed agree within the tolerance.
    Matches,
    /// Billed more than computed, beyond the tolerance: callmeter under-estimated.
    Over,
    /// Billed less than computed, beyond the tolerance: callmeter over-estimated.
    Under,
    /// Computed, but the provider billed nothing for it in the records imported.
    NotBilled,
    /// Billed, but callmeter computed nothing for it: usage it never saw.
    NotComputed,
}

impl Finding {
    /// Its name: `matches`, `over`, `under`, `not_billed`, `not_computed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Matches => "matches",
            Finding::Over => "over",
            Finding::Under => "under",
            Finding::NotBilled => "not_billed",
            Finding::NotComputed => "not_computed",
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One compared line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReconciledLine {
    /// What it compares: a call, a day and model, or a day.
    pub granularity: Granularity,
    /// The provider.
    pub provider: String,
    /// The UTC day (for a call: the day the provider billed it, or it started).
    pub day: NaiveDate,
    /// The call, at the call level (callmeter's id).
    pub call_id: Option<String>,
    /// The model, at the day-and-model level (without its date suffix, in lowercase).
    pub model: Option<String>,
    /// What callmeter computed.
    pub computed: Usd,
    /// What the provider billed.
    pub billed: Usd,
    /// Billed − computed.
    pub delta: Usd,
    /// The delta in percent of the computed figure, to two decimals; `None` when nothing was
    /// computed.
    pub delta_percent: Option<Decimal>,
    /// How it came out.
    pub finding: Finding,
}

/// One compared quantity: what a provider counted on a day (and model) against what callmeter
/// tracked in the same unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct UsageLine {
    /// The provider.
    pub provider: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// The model, for per-model records (without its date suffix, in lowercase).
    pub model: Option<String>,
    /// The unit (`token`, `character`, `second`).
    pub unit: String,
    /// What callmeter tracked.
    pub computed: Decimal,
    /// What the provider counted.
    pub billed: Decimal,
    /// Counted − tracked.
    pub delta: Decimal,
    /// The delta in percent of the tracked quantity, to two decimals; `None` when nothing was
    /// tracked.
    pub delta_percent: Option<Decimal>,
    /// How it came out (quantities match within the tolerance's percentage only).
    pub finding: Finding,
}

/// One provider's totals over the lines reconciled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProviderReconciliation {
    /// The provider.
    pub provider: String,
    /// What callmeter computed, over the lines compared.
    pub computed: Usd,
    /// What the provider billed, over the same lines.
    pub billed: Usd,
    /// Billed − computed.
    pub delta: Usd,
    /// Lines compared.
    pub lines: u64,
    /// Lines that match.
    pub matching: u64,
}

/// One day of a reconciliation: its lines' totals, every provider together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DayReconciliation {
    /// The UTC day.
    pub day: NaiveDate,
    /// What callmeter computed, over the day's lines.
    pub computed: Usd,
    /// What the providers billed, over the same lines.
    pub billed: Usd,
    /// Billed − computed.
    pub delta: Usd,
    /// Lines compared.
    pub lines: u64,
    /// Lines that match.
    pub matching: u64,
}

/// What the providers billed against what callmeter computed, over a range of days.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Reconciliation {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The tolerance lines were matched with.
    pub tolerance: Tolerance,
    /// Each provider reconciled, by name.
    pub providers: Vec<ProviderReconciliation>,
    /// Every line, by provider, level, day and key.
    pub lines: Vec<ReconciledLine>,
    /// Every quantity compared (from usage records: OpenAI's usage, Deepgram's hours, ElevenLabs'
    /// characters), by provider, unit, day and model.
    pub usage: Vec<UsageLine>,
}

impl Reconciliation {
    /// The lines that do not match.
    pub fn mismatches(&self) -> impl Iterator<Item = &ReconciledLine> {
        self.lines.iter().filter(|l| l.finding != Finding::Matches)
    }

    /// The lines' totals day by day, every provider together: estimated against verified.
    pub fn by_day(&self) -> Vec<DayReconciliation> {
        let mut days: BTreeMap<NaiveDate, (i64, i64, u64, u64)> = BTreeMap::new();
        for l in &self.lines {
            let d = days.entry(l.day).or_default();
            d.0 = d.0.saturating_add(nanos(l.computed));
            d.1 = d.1.saturating_add(nanos(l.billed));
            d.2 += 1;
            d.3 += u64::from(l.finding == Finding::Matches);
        }
        days.into_iter()
            .map(
                |(day, (computed, billed, lines, matching))| DayReconciliation {
                    day,
                    computed: Usd::from_nanos(computed),
                    billed: Usd::from_nanos(billed),
                    delta: Usd::from_nanos(billed.saturating_sub(computed)),
                    lines,
                    matching,
                },
            )
            .collect()
    }

    /// The quantities that do not match.
    pub fn usage_mismatches(&self) -> impl Iterator<Item = &UsageLine> {
        self.usage.iter().filter(|l| l.finding != Finding::Matches)
    }

    /// One [`AlertKind::BilledDelta`] alert per provider and day whose lines' deltas add up to
    /// `threshold` or more either way (dated at the end of that day, so the same day alerts once
    /// however often it is reconciled).
    pub fn alerts(&self, threshold: Usd) -> Vec<Alert> {
        let limit = threshold.to_nanos().unwrap_or(i64::MAX);
        let mut by_day: BTreeMap<(&str, NaiveDate), (i64, i64, i64)> = BTreeMap::new();
        for l in &self.lines {
            let e = by_day.entry((&l.provider, l.day)).or_default();
            e.0 = e.0.saturating_add(nanos(l.delta));
            e.1 = e.1.saturating_add(nanos(l.billed));
            e.2 = e.2.saturating_add(nanos(l.computed));
        }
        by_day
            .into_iter()
            .filter(|(_, (delta, _, _))| delta.unsigned_abs() >= limit.unsigned_abs())
            .map(|((provider, day), (delta, billed, computed))| {
                let at = day
                    .checked_add_days(Days::new(1))
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map_or_else(Utc::now, |t| t.and_utc());
                let subject = format!("provider:{provider}");
                let (delta, billed, computed) =
                    (Usd::from_nanos(delta), Usd::from_nanos(billed), Usd::from_nanos(computed));
                Alert {
                    kind: AlertKind::BilledDelta,
                    message: format!(
                        "{} for {subject} on {day}: billed {billed}, computed {computed}, a difference of {delta} (threshold {threshold})",
                        AlertKind::BilledDelta
                    ),
                    subject,
                    call_id: None,
                    user_id: None,
                    tenant_id: None,
                    value: delta,
                    threshold: Some(threshold),
                    usage: None,
                    at,
                }
            })
            .collect()
    }
}

fn nanos(u: Usd) -> i64 {
    u.to_nanos().unwrap_or(0)
}

/// A model as both sides are compared: lowercase, without a `provider/` prefix or a date suffix.
fn model_key(provider: &str, model: &str) -> String {
    let m = strip_provider(provider, model).unwrap_or(model);
    let m = strip_date(m).unwrap_or(m);
    m.to_ascii_lowercase()
}

fn epoch_day(n: i64) -> NaiveDate {
    DateTime::from_timestamp(n.saturating_mul(86_400), 0)
        .unwrap_or_default()
        .date_naive()
}

/// A line's key within its provider and level.
type Key = (NaiveDate, String);

impl Reports {
    /// What the providers billed from `from` to `to` (as imported by a [`Ledger`](crate::Ledger))
    /// against what callmeter computed, line by line (see the module documentation for the
    /// levels), with each provider's totals.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn reconcile(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        options: &ReconcileOptions,
    ) -> Result<Reconciliation> {
        let billed = billed::amounts(self.source(), from, to)?;
        let (start, end) = range_ms(from, to);
        // provider → level → key → nano-dollars billed.
        let mut wanted: BTreeMap<String, BTreeMap<Granularity, BTreeMap<Key, i64>>> =
            BTreeMap::new();
        let mut call_days: BTreeMap<(String, String), NaiveDate> = BTreeMap::new();
        let sid_to_call = match &options.call_key {
            Some(key) => self.calls_by_metadata(key, (start, end))?,
            None => BTreeMap::new(),
        };
        for billed::Billed {
            provider,
            day,
            call_id: call,
            model,
            amount_nanos: amount,
        } in billed
        {
            let (level, key) = match (call, model) {
                (Some(c), _) => {
                    let id = sid_to_call.get(&c).cloned().unwrap_or(c);
                    (Granularity::Call, (day, id))
                }
                (None, Some(m)) => (Granularity::DayModel, (day, model_key(&provider, &m))),
                (None, None) => (Granularity::Day, (day, String::new())),
            };
            // A call keeps the day it was first billed on (rows come by provider and day).
            let key = match level {
                Granularity::Call => {
                    let first = *call_days
                        .entry((provider.clone(), key.1.clone()))
                        .or_insert(key.0);
                    (first, key.1)
                }
                _ => key,
            };
            let slot = wanted
                .entry(provider)
                .or_default()
                .entry(level)
                .or_default();
            let v = slot.entry(key).or_insert(0);
            *v = v.saturating_add(amount);
        }
        let mut lines = Vec::new();
        for (provider, levels) in &wanted {
            for (&level, billed) in levels {
                let computed = self.computed(provider, level, start, end)?;
                lines.extend(compare(
                    provider,
                    level,
                    billed,
                    &computed,
                    &options.tolerance,
                ));
            }
        }
        let providers = wanted
            .keys()
            .map(|p| {
                let mine: Vec<&ReconciledLine> =
                    lines.iter().filter(|l| l.provider == *p).collect();
                let sum = |f: fn(&ReconciledLine) -> Usd| {
                    Usd::from_nanos(
                        mine.iter()
                            .map(|l| nanos(f(l)))
                            .fold(0_i64, i64::saturating_add),
                    )
                };
                ProviderReconciliation {
                    provider: p.clone(),
                    computed: sum(|l| l.computed),
                    billed: sum(|l| l.billed),
                    delta: sum(|l| l.delta),
                    lines: mine.len() as u64,
                    matching: mine
                        .iter()
                        .filter(|l| l.finding == Finding::Matches)
                        .count() as u64,
                }
            })
            .collect();
        let usage = self.reconcile_usage(from, to, &options.tolerance)?;
        Ok(Reconciliation {
            from,
            to,
            tolerance: options.tolerance,
            providers,
            lines,
            usage,
        })
    }

    /// The quantities of `billed_usage` from `from` to `to` against those tracked.
    fn reconcile_usage(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        tolerance: &Tolerance,
    ) -> Result<Vec<UsageLine>> {
        let rows = billed::usage(self.source(), from, to)?;
        // (provider, unit, per model?) → (day, model key) → quantity counted.
        let mut wanted: BTreeMap<(String, String, bool), BTreeMap<Key, Decimal>> = BTreeMap::new();
        for billed::BilledUsage {
            provider,
            day,
            model,
            unit,
            quantity,
        } in rows
        {
            let key = (
                day,
                model
                    .as_deref()
                    .map(|m| model_key(&provider, m))
                    .unwrap_or_default(),
            );
            *wanted
                .entry((provider, unit, model.is_some()))
                .or_default()
                .entry(key)
                .or_default() += quantity;
        }
        let (start, end) = range_ms(from, to);
        let mut lines = Vec::new();
        for ((provider, unit, per_model), billed) in &wanted {
            let key = if *per_model {
                Summed::DayModel
            } else {
                Summed::Day
            };
            let tracked = events::units_by(self.source(), provider, unit, key, (start, end))?;
            let mut computed: BTreeMap<Key, Decimal> = BTreeMap::new();
            for (day, model, milli) in tracked {
                let name = if *per_model {
                    model_key(provider, &model)
                } else {
                    model
                };
                *computed.entry((epoch_day(day), name)).or_default() += Decimal::new(milli, 3);
            }
            let keys: BTreeSet<&Key> = billed.keys().chain(computed.keys()).collect();
            for key in keys {
                let (b, c) = (billed.get(key).copied(), computed.get(key).copied());
                let (bq, cq) = (b.unwrap_or_default(), c.unwrap_or_default());
                let delta = bq - cq;
                let finding = match (b, c) {
                    (None, _) => Finding::NotBilled,
                    (_, None) => Finding::NotComputed,
                    _ if delta.abs() * Decimal::ONE_HUNDRED <= bq.abs() * tolerance.percent => {
                        Finding::Matches
                    }
                    _ if delta > Decimal::ZERO => Finding::Over,
                    _ => Finding::Under,
                };
                lines.push(UsageLine {
                    provider: provider.clone(),
                    day: key.0,
                    model: per_model.then(|| key.1.clone()),
                    unit: unit.clone(),
                    computed: cq.normalize(),
                    billed: bq.normalize(),
                    delta: delta.normalize(),
                    delta_percent: (!cq.is_zero()).then(|| {
                        (delta * Decimal::ONE_HUNDRED / cq).round_dp_with_strategy(
                            2,
                            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                        )
                    }),
                    finding,
                });
            }
        }
        Ok(lines)
    }

    /// What each provider billed for the call `call_id`, by provider.
    pub(crate) fn billed_for_call(&self, call_id: &str) -> Result<Vec<crate::report::Share>> {
        Ok(billed::for_call(self.source(), call_id)?
            .into_iter()
            .map(|(name, cost, events)| crate::report::Share {
                name,
                cost: Usd::from_nanos(cost),
                events,
            })
            .collect())
    }

    /// The provider's id of each call started in the range → callmeter's call id, from the calls'
    /// metadata under `key`.
    fn calls_by_metadata(&self, key: &str, span: (i64, i64)) -> Result<BTreeMap<String, String>> {
        Ok(calls::metadata(self.source(), span)?
            .into_iter()
            .filter_map(|(call, meta)| {
                let v: serde_json::Value = serde_json::from_str(&meta).ok()?;
                Some((v.get(key)?.as_str()?.to_owned(), call))
            })
            .collect())
    }

    /// What callmeter computed for `provider` at `level` from `start` to `end`, by key.
    fn computed(
        &self,
        provider: &str,
        level: Granularity,
        start: i64,
        end: i64,
    ) -> Result<BTreeMap<Key, i64>> {
        let key = match level {
            Granularity::Call => Summed::Call,
            Granularity::DayModel => Summed::DayModel,
            Granularity::Day => Summed::Day,
        };
        let rows = events::cost_by(self.source(), provider, key, (start, end))?;
        let mut out = BTreeMap::new();
        for (day, name, cost) in rows {
            let name = match level {
                Granularity::DayModel => model_key(provider, &name),
                _ => name,
            };
            let v = out.entry((epoch_day(day), name)).or_insert(0_i64);
            *v = v.saturating_add(cost);
        }
        Ok(out)
    }
}

/// The lines of one provider and level: every key billed or computed.
fn compare(
    provider: &str,
    level: Granularity,
    billed: &BTreeMap<Key, i64>,
    computed: &BTreeMap<Key, i64>,
    tolerance: &Tolerance,
) -> Vec<ReconciledLine> {
    // A call is matched by its id, whatever day each side puts it on.
    let by_id = |map: &BTreeMap<Key, i64>| -> BTreeMap<String, (NaiveDate, i64)> {
        map.iter()
            .map(|((d, id), v)| (id.clone(), (*d, *v)))
            .collect()
    };
    let keys: Vec<(NaiveDate, String, Option<i64>, Option<i64>)> = if level == Granularity::Call {
        let (b, c) = (by_id(billed), by_id(computed));
        let ids: BTreeSet<&String> = b.keys().chain(c.keys()).collect();
        ids.into_iter()
            .map(|id| {
                let (bd, bv) = b
                    .get(id)
                    .map_or((None, None), |(d, v)| (Some(*d), Some(*v)));
                let (cd, cv) = c
                    .get(id)
                    .map_or((None, None), |(d, v)| (Some(*d), Some(*v)));
                (bd.or(cd).unwrap_or_default(), id.clone(), bv, cv)
            })
            .collect()
    } else {
        let all: BTreeSet<&Key> = billed.keys().chain(computed.keys()).collect();
        all.into_iter()
            .map(|k| {
                (
                    k.0,
                    k.1.clone(),
                    billed.get(k).copied(),
                    computed.get(k).copied(),
                )
            })
            .collect()
    };
    let mut lines: Vec<ReconciledLine> = keys
        .into_iter()
        .map(|(day, name, b, c)| {
            let (bn, cn) = (b.unwrap_or(0), c.unwrap_or(0));
            let delta = bn.saturating_sub(cn);
            let finding = match (b, c) {
                (None, _) => Finding::NotBilled,
                (_, None) => Finding::NotComputed,
                _ if tolerance.accepts(delta, bn) => Finding::Matches,
                _ if delta > 0 => Finding::Over,
                _ => Finding::Under,
            };
            ReconciledLine {
                granularity: level,
                provider: provider.to_owned(),
                day,
                call_id: (level == Granularity::Call).then(|| name.clone()),
                model: (level == Granularity::DayModel).then_some(name),
                computed: Usd::from_nanos(cn),
                billed: Usd::from_nanos(bn),
                delta: Usd::from_nanos(delta),
                delta_percent: (cn != 0).then(|| {
                    (Decimal::from(delta) * Decimal::ONE_HUNDRED / Decimal::from(cn))
                        .round_dp_with_strategy(
                            2,
                            rust_decimal::RoundingStrategy::MidpointAwayFromZero,
                        )
                }),
                finding,
            }
        })
        .collect();
    lines.sort_by(|a, b| (a.day, &a.call_id, &a.model).cmp(&(b.day, &b.call_id, &b.model)));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_tolerance_takes_a_tenth_of_a_cent_or_one_percent() {
        let t = Tolerance::default();
        // Twilio writes a call's price to five decimals: half of 0.00001 either way matches.
        assert!(t.accepts(-5_000, 28_000_000));
        // A rounding rule adding $0.002 to a $0.028 call does not.
        assert!(!t.accepts(2_000_000, 30_000_000));
        // A tenth of a cent exactly matches, whatever the bill.
        assert!(t.accepts(1_000_000, 0));
        assert!(!t.accepts(1_000_001, 0));
        // A day of $2.00 rounded to the cent: 1 % of it is $0.02.
        assert!(t.accepts(20_000_000, 2_000_000_000));
        assert!(!t.accepts(20_000_001, 2_000_000_000));
    }
}
