//! Catalog files: prices in TOML or JSON that override or extend a catalog.
//!
//! The format is documented in the guide (`guide::prices`, "Catalog files"). Prices are written as strings
//! (`"$0.02 per minute"`, `"2.9"`) so that they stay exact; a floating-point number is refused with an
//! error that says so. Every error names the file, the entry and the field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{
    CatalogBuilder, Destinations, FeeRule, FixedCost, Increment, ModelPrice, NumberType,
    PriceOrigin, Rate, SubscriptionTier,
};
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::usage::{Category, Unit, UsageKind};

/// A number written exactly: a string (`"0.0059"`, `"$0.30"`) or an integer, never a float.
#[derive(Debug, Clone)]
struct Exact(String);

impl<'de> Deserialize<'de> for Exact {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Exact;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a price as a string, such as \"0.0059\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Exact, E> {
                Ok(Exact(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Exact, E> {
                Ok(Exact(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Exact, E> {
                Ok(Exact(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Exact, E> {
                Err(E::custom(format!(
                    "the number {v} is a float, which is not exact; write it as a string: \"{v}\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    model: Vec<ModelEntry>,
    #[serde(default)]
    fixed_cost: Vec<FixedEntry>,
    #[serde(default)]
    destinations: Vec<DestinationsEntry>,
}

/// A telephony table by destination (see [`Destinations`]): groups written out, and/or Twilio's
/// Pricing API answers in a JSON file beside the catalog file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationsEntry {
    provider: String,
    product: String,
    #[serde(default)]
    source: String,
    /// When the prices were last checked against the source (`verified_on` is read as well).
    #[serde(alias = "verified_on")]
    checked: Option<String>,
    /// Twilio's Voice prices, as its Pricing API answers (one country or an array), relative to
    /// the catalog file; the groups below are added over them.
    twilio_file: Option<String>,
    #[serde(default)]
    outbound: Vec<OutboundEntry>,
    #[serde(default)]
    countries: BTreeMap<String, String>,
    #[serde(default)]
    inbound: BTreeMap<String, Exact>,
    sip: Option<Exact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboundEntry {
    name: String,
    prefixes: Vec<String>,
    per_minute: Exact,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelEntry {
    provider: String,
    model: String,
    category: String,
    #[serde(default)]
    source: String,
    /// When the prices were last checked against the source (`verified_on` is read as well).
    #[serde(alias = "verified_on")]
    checked: Option<String>,
    effective_from: Option<String>,
    effective_to: Option<String>,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    rates: BTreeMap<String, Exact>,
    #[serde(default)]
    increments: BTreeMap<String, IncrementEntry>,
    #[serde(default)]
    above: Vec<TierEntry>,
    fee: Option<FeeEntry>,
    subscription: Option<SubscriptionEntry>,
    /// `false` when the provider does not bill a request that fails (see
    /// [`ModelPrice::with_failed_requests_billed`]).
    failed_requests_billed: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IncrementEntry {
    step_seconds: Option<u32>,
    minimum_seconds: Option<u32>,
    step: Option<u64>,
    minimum: Option<u64>,
    /// The minimum is charged when the session starts and credited later.
    #[serde(default)]
    charged_at_start: bool,
    /// Each request is rounded on its own.
    #[serde(default)]
    per_request: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierEntry {
    prompt_tokens: u64,
    rates: BTreeMap<String, Exact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeeEntry {
    percent: Exact,
    #[serde(default)]
    fixed: Option<Exact>,
    cap: Option<Exact>,
    international_surcharge: Option<Exact>,
    conversion_surcharge: Option<Exact>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionEntry {
    active: String,
    tiers: Vec<TierPlan>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TierPlan {
    name: String,
    monthly_fee: Exact,
    included: u64,
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixedEntry {
    name: String,
    category: String,
    monthly: Exact,
    #[serde(default)]
    source: String,
}

/// The formats a catalog file can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Toml,
    Json,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// A catalog file's entries, checked and turned into prices.
pub(crate) struct Loaded {
    pub(crate) prices: Vec<(ModelPrice, Vec<String>)>,
    pub(crate) fixed_costs: Vec<FixedCost>,
    pub(crate) destinations: Vec<Destinations>,
}

/// Reads and checks a catalog file.
pub(crate) fn load(path: &Path) -> Result<Loaded> {
    let format = Format::of(path).ok_or_else(|| {
        file_err(
            path,
            None,
            None,
            "the file name must end in .toml or .json".into(),
        )
    })?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| file_err(path, None, None, format!("cannot read it: {e}")))?;
    parse(&text, format, path)
}

/// Parses catalog text in `format`; `path` names it in errors.
pub(crate) fn parse(text: &str, format: Format, path: &Path) -> Result<Loaded> {
    let file: File = match format {
        Format::Toml => toml::from_str(text).map_err(|e| {
            file_err(
                path,
                None,
                None,
                e.to_string().trim_end().replace('\n', " "),
            )
        })?,
        Format::Json => {
            serde_json::from_str(text).map_err(|e| file_err(path, None, None, e.to_string()))?
        }
    };
    let mut prices = Vec::with_capacity(file.model.len());
    for (i, m) in file.model.into_iter().enumerate() {
        let name = if m.provider.is_empty() || m.model.is_empty() {
            format!("model #{}", i + 1)
        } else {
            format!("{}/{}", m.provider, m.model)
        };
        let err = |field: &str, reason: String| file_err(path, Some(&name), Some(field), reason);
        prices.push(model_price(m, &err)?);
    }
    let mut fixed_costs = Vec::with_capacity(file.fixed_cost.len());
    for f in file.fixed_cost {
        let name = f.name.clone();
        let err = |field: &str, reason: String| file_err(path, Some(&name), Some(field), reason);
        let category = parse_category(&f.category).map_err(|r| err("category", r))?;
        let monthly = dollars(&f.monthly.0).map_err(|r| err("monthly", r))?;
        fixed_costs.push(FixedCost::new(f.name, category, monthly).with_source(f.source));
    }
    let mut destinations = Vec::with_capacity(file.destinations.len());
    for d in file.destinations {
        let name = format!("{}/{} destinations", d.provider, d.product);
        let err = |field: &str, reason: String| file_err(path, Some(&name), Some(field), reason);
        destinations.push(destination_table(d, path, &err)?);
    }
    Ok(Loaded {
        prices,
        fixed_costs,
        destinations,
    })
}

fn destination_table(
    d: DestinationsEntry,
    path: &Path,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<Destinations> {
    let verified = match &d.checked {
        Some(day) => Some(
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map_err(|e| err("checked", format!("{day:?} is not a YYYY-MM-DD date: {e}")))?,
        ),
        None => None,
    };
    let mut table = match &d.twilio_file {
        Some(file) => {
            if d.provider != "twilio" {
                return Err(err(
                    "twilio_file",
                    format!(
                        "Twilio's prices are for provider \"twilio\", not {:?}",
                        d.provider
                    ),
                ));
            }
            let beside = path.parent().unwrap_or(Path::new(".")).join(file);
            Destinations::from_twilio_file(&d.product, &beside)
                .map_err(|e| err("twilio_file", e.to_string()))?
                .0
        }
        None => Destinations::new(&d.provider, &d.product).with_origin(PriceOrigin::File),
    };
    if !d.source.is_empty() || verified.is_some() {
        table = table.with_source(d.source, verified);
    }
    for o in d.outbound {
        let field = format!("outbound.{}", o.name);
        let rate = dollars(&o.per_minute.0).map_err(|r| err(&field, r))?;
        table = table.outbound(o.name, o.prefixes, rate);
    }
    for (iso, group) in d.countries {
        table = table.country(iso, group);
    }
    for (name, per_minute) in &d.inbound {
        let field = format!("inbound.{name}");
        let number_type = NumberType::from_name(name).ok_or_else(|| {
            err(
                &field,
                "not a number type: local, toll free, mobile, national, shared cost".into(),
            )
        })?;
        table = table.inbound(
            number_type,
            dollars(&per_minute.0).map_err(|r| err(&field, r))?,
        );
    }
    if let Some(sip) = &d.sip {
        table = table.sip(dollars(&sip.0).map_err(|r| err("sip", r))?);
    }
    table
        .compile()
        .map_err(|e| err("destinations", e.to_string()))?;
    Ok(table)
}

fn file_err(path: &Path, entry: Option<&str>, field: Option<&str>, reason: String) -> Error {
    Error::CatalogFile {
        path: PathBuf::from(path),
        entry: entry.map(str::to_owned),
        field: field.map(str::to_owned),
        reason,
    }
}

fn model_price(
    m: ModelEntry,
    err: &dyn Fn(&str, String) -> Error,
) -> Result<(ModelPrice, Vec<String>)> {
    let category = parse_category(&m.category).map_err(|r| err("category", r))?;
    let verified = match &m.checked {
        Some(d) => Some(
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|e| err("checked", format!("{d:?} is not a YYYY-MM-DD date: {e}")))?,
        ),
        None => None,
    };
    let mut price = ModelPrice::new(m.provider, m.model, category)
        .with_origin(PriceOrigin::File)
        .with_source(m.source, verified)
        .with_failed_requests_billed(m.failed_requests_billed.unwrap_or(true));
    if let Some(t) = &m.effective_from {
        price = price.with_effective_from(parse_time(t).map_err(|r| err("effective_from", r))?);
    }
    if let Some(t) = &m.effective_to {
        price = price.with_effective_to(parse_time(t).map_err(|r| err("effective_to", r))?);
    }
    for (kind, text) in &m.rates {
        let field = format!("rates.{kind}");
        let (kind, rate) = kind_and_rate(kind, &text.0).map_err(|r| err(&field, r))?;
        price = price.rate(kind, rate);
    }
    for tier in &m.above {
        for (kind, text) in &tier.rates {
            let field = format!("above.{}.{kind}", tier.prompt_tokens);
            let (kind, rate) = kind_and_rate(kind, &text.0).map_err(|r| err(&field, r))?;
            price = price.rate_above(tier.prompt_tokens, kind, rate);
        }
    }
    for (kind, inc) in &m.increments {
        let field = format!("increments.{kind}");
        let k = parse_kind(kind).map_err(|r| err(&field, r))?;
        let increment = match (inc.step_seconds, inc.step) {
            (Some(step), None) if k.unit() == Unit::Second => {
                Increment::seconds(step, inc.minimum_seconds.unwrap_or(0))
            }
            (None, Some(step)) if k.unit() != Unit::Second && inc.minimum_seconds.is_none() => {
                Increment::units(step, inc.minimum.unwrap_or(0), k.unit())
            }
            _ => {
                return Err(err(
                    &field,
                    "give step_seconds (and minimum_seconds) for time, step (and minimum) for \
                     counted units"
                        .into(),
                ));
            }
        };
        let increment = match inc.charged_at_start {
            true if increment.minimum == 0 => {
                return Err(err(
                    &field,
                    "charged_at_start charges the minimum: give minimum_seconds or minimum".into(),
                ));
            }
            true => increment.charged_at_start(),
            false => increment,
        };
        let increment = match inc.per_request {
            true => increment.each_request(),
            false => increment,
        };
        price = price.increment(k, increment);
    }
    if let Some(fee) = &m.fee {
        price = price.with_fee(fee_rule(fee, err)?);
    }
    if let Some(sub) = m.subscription {
        let mut tiers = Vec::with_capacity(sub.tiers.len());
        for t in sub.tiers {
            let field = format!("subscription.{}", t.name);
            let fee = dollars(&t.monthly_fee.0).map_err(|r| err(&field, r))?;
            let kind = parse_kind(&t.kind).map_err(|r| err(&field, r))?;
            tiers.push(SubscriptionTier::new(t.name, fee, t.included, kind));
        }
        price = price.with_subscription(tiers, sub.active);
    }
    Ok((price, m.aliases))
}

fn fee_rule(fee: &FeeEntry, err: &dyn Fn(&str, String) -> Error) -> Result<FeeRule> {
    let percent = |field: &str, v: &Exact| decimal(&v.0).map_err(|r| err(field, r));
    let mut rule = FeeRule::new(
        percent("fee.percent", &fee.percent)?,
        match &fee.fixed {
            Some(f) => dollars(&f.0).map_err(|r| err("fee.fixed", r))?,
            None => Usd::ZERO,
        },
    );
    if let Some(cap) = &fee.cap {
        rule = rule.with_cap(dollars(&cap.0).map_err(|r| err("fee.cap", r))?);
    }
    if let Some(p) = &fee.international_surcharge {
        rule = rule.with_international_surcharge(percent("fee.international_surcharge", p)?);
    }
    if let Some(p) = &fee.conversion_surcharge {
        rule = rule.with_conversion_surcharge(percent("fee.conversion_surcharge", p)?);
    }
    Ok(rule)
}

fn parse_category(s: &str) -> std::result::Result<Category, String> {
    Category::from_str(s).map_err(|_| {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        format!("unknown category {s:?}; one of {}", names.join(", "))
    })
}

fn parse_kind(s: &str) -> std::result::Result<UsageKind, String> {
    UsageKind::from_str(s).map_err(|_| {
        let names: Vec<&str> = UsageKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown usage kind {s:?}; one of {}", names.join(", "))
    })
}

fn kind_and_rate(kind: &str, text: &str) -> std::result::Result<(UsageKind, Rate), String> {
    let kind = parse_kind(kind)?;
    let rate = parse_rate(text)?;
    if rate.unit() != kind.unit() {
        return Err(format!(
            "{text:?} is per {}, but {kind} is counted in {}s",
            rate.unit(),
            kind.unit()
        ));
    }
    Ok((kind, rate))
}

/// A decimal as written, with an optional `$` in front.
fn decimal(s: &str) -> std::result::Result<Decimal, String> {
    let t = s.trim();
    let t = t.strip_prefix('$').unwrap_or(t).trim();
    Decimal::from_str_exact(t).map_err(|_| format!("{s:?} is not a decimal number"))
}

fn dollars(s: &str) -> std::result::Result<Usd, String> {
    let d = decimal(s)?;
    if d.is_sign_negative() && !d.is_zero() {
        return Err(format!("{s:?} is negative"));
    }
    Ok(Usd::new(d))
}

/// `"$0.02 per minute"`, `"3 per 1M tokens"`, `"$0.15 per 1K characters"`, `"$0.0001 per request"`.
pub(crate) fn parse_rate(text: &str) -> std::result::Result<Rate, String> {
    let bad = || {
        format!(
            "{text:?} is not a rate; write \"<price> per [<count>] <unit>\", e.g. \"$0.02 per minute\" \
             or \"$3 per 1M tokens\""
        )
    };
    let (price, rest) = text.split_once(" per ").ok_or_else(bad)?;
    let price = dollars(price)?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (count, unit) = match words.as_slice() {
        [unit] => (1_u64, *unit),
        [count, unit] => (parse_count(count).ok_or_else(bad)?, *unit),
        _ => return Err(bad()),
    };
    let unit = unit.to_ascii_lowercase();
    let unit = unit.trim_end_matches('s');
    let rate = match unit {
        "token" => Rate::new(price, count, Unit::Token),
        "character" | "char" => Rate::new(price, count, Unit::Character),
        "request" => Rate::new(price, count, Unit::Request),
        "second" | "sec" => Rate::new(price, count, Unit::Second),
        "minute" | "min" => Rate::new(price, count.checked_mul(60).ok_or_else(bad)?, Unit::Second),
        "hour" => Rate::new(
            price,
            count.checked_mul(3_600).ok_or_else(bad)?,
            Unit::Second,
        ),
        _ => return Err(bad()),
    };
    Ok(rate)
}

/// `1000`, `1K`, `1M`, `1_000_000`.
fn parse_count(s: &str) -> Option<u64> {
    let s = s.replace('_', "");
    let (digits, factor) = match s.chars().last()? {
        'k' | 'K' => (&s[..s.len() - 1], 1_000),
        'm' | 'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (s.as_str(), 1),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(factor).filter(|&n| n > 0)
}

/// `2026-03-01` (midnight UTC) or an RFC 3339 time.
fn parse_time(s: &str) -> std::result::Result<DateTime<Utc>, String> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
            .ok_or_else(|| format!("{s:?} is out of range"));
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is neither a YYYY-MM-DD date nor an RFC 3339 time: {e}"))
}

impl CatalogBuilder {
    /// Adds the prices of a catalog file (TOML or JSON, by its extension; format in the guide's "Prices" chapter), each
    /// replacing an entry with the same provider, model and start, and records their aliases.
    ///
    /// # Errors
    ///
    /// [`Error::CatalogFile`] naming the file, and the entry and field where there is one: the file
    /// cannot be read, is not valid TOML or JSON, has an unknown field, a price written as a float, a
    /// rate that does not parse, a unit that does not match its usage kind, a bad date.
    pub fn load_file(self, path: impl AsRef<Path>) -> Result<CatalogBuilder> {
        let path = path.as_ref();
        Ok(self.merge(load(path)?))
    }

    /// As [`load_file`](Self::load_file), from TOML text; `name` stands for the file in errors.
    ///
    /// # Errors
    ///
    /// As [`load_file`](Self::load_file).
    pub fn load_toml(self, text: &str, name: &str) -> Result<CatalogBuilder> {
        Ok(self.merge(parse(text, Format::Toml, Path::new(name))?))
    }

    fn merge(mut self, loaded: Loaded) -> CatalogBuilder {
        for (price, aliases) in loaded.prices {
            for alias in aliases {
                self = self.alias(alias, price.provider(), price.model());
            }
            self = self.insert(price);
        }
        for cost in loaded.fixed_costs {
            self = self.fixed_cost(cost);
        }
        for table in loaded.destinations {
            self = self.destinations(table);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn rates_parse_with_their_unit_and_count() {
        let ok = |s: &str| parse_rate(s).expect(s);
        assert_eq!(
            ok("$0.02 per minute"),
            Rate::per_minute(Usd::new(dec!(0.02)))
        );
        assert_eq!(
            ok("3 per 1M tokens"),
            Rate::per_million_tokens(Usd::new(dec!(3)))
        );
        assert_eq!(
            ok("$0.15 per 1K characters"),
            Rate::per_thousand_characters(Usd::new(dec!(0.15)))
        );
        assert_eq!(ok("$0.5 per hour"), Rate::per_hour(Usd::new(dec!(0.5))));
        assert_eq!(
            ok("$0.000001 per token"),
            Rate::per_token(Usd::new(dec!(0.000001)))
        );
        assert_eq!(ok("$1 per 1000 requests").per(), 1_000);
        for bad in [
            "0.02/min",
            "$x per minute",
            "$1 per 0 tokens",
            "$1 per parsec",
            "-1 per token",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_are_dates_or_rfc3339() {
        assert_eq!(
            parse_time("2026-03-01").map(|t| t.timestamp()),
            Ok(1_772_323_200)
        );
        assert_eq!(
            parse_time("2026-03-01T01:00:00+01:00").map(|t| t.timestamp()),
            Ok(1_772_323_200)
        );
        assert!(parse_time("March 1st").is_err());
    }
}
