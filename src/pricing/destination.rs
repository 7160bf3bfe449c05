//! Telephony priced by where a call leg goes: a table of E.164 destination prefixes (the longest
//! matching prefix wins), each country's default, inbound rates by number type, and SIP.
//!
//! A table is a set of ordinary catalog entries plus the index that picks one of them. Each group
//! of prefixes becomes a [`ModelPrice`] named `product:group` (`voice:United Kingdom - Mobile`),
//! each inbound number type `product:inbound type`, SIP `product:sip`; all per started minute.
//! Events are stored under those names, so reports, quotas and what-if repricing see them as any
//! other model.

use std::fmt;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;
use serde::Serialize;

use super::model::{ModelPrice, PriceOrigin};
use super::rate::{Increment, Rate};
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::usage::{Category, UsageKind};

/// The most digits an E.164 number has.
pub(crate) const MAX_DIGITS: usize = 15;

/// The type of a number a call comes in on, as inbound telephony is priced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NumberType {
    /// A local (geographic) number.
    Local,
    /// A toll-free number.
    TollFree,
    /// A mobile number.
    Mobile,
    /// A national (non-geographic) number.
    National,
    /// A shared-cost number.
    SharedCost,
}

impl NumberType {
    /// Every number type.
    pub const ALL: [NumberType; 5] = [
        NumberType::Local,
        NumberType::TollFree,
        NumberType::Mobile,
        NumberType::National,
        NumberType::SharedCost,
    ];

    /// Its name in entry names: `local`, `toll free`, `mobile`, `national`, `shared cost`.
    pub fn as_str(self) -> &'static str {
        match self {
            NumberType::Local => "local",
            NumberType::TollFree => "toll free",
            NumberType::Mobile => "mobile",
            NumberType::National => "national",
            NumberType::SharedCost => "shared cost",
        }
    }

    /// The type a name stands for, as Twilio writes them (`toll free`), with `-` or `_` for the
    /// space and in any case; `None` for another name.
    pub fn from_name(name: &str) -> Option<NumberType> {
        let name = name.trim().to_ascii_lowercase().replace(['-', '_'], " ");
        NumberType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where a call leg goes or comes in, for
/// [`CallCostTracker::track_leg`](crate::CallCostTracker::track_leg).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// Outbound to this number: E.164 digits, with or without `+`, spaces, dashes, dots or
    /// parentheses (`+44 7700 900123`). Priced by the longest matching prefix.
    To(&'a str),
    /// Outbound to this country (ISO 3166-1 alpha-2, `GB`): its default rate, when the table names
    /// one (a Twilio import names the group of the country's shortest prefix).
    ToCountry(&'a str),
    /// Inbound, on a number of this type.
    Inbound(NumberType),
    /// Over SIP.
    Sip,
}

impl fmt::Display for Route<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::To(number) => write!(f, "to {number}"),
            Route::ToCountry(country) => write!(f, "to country {country}"),
            Route::Inbound(t) => write!(f, "inbound on a {t} number"),
            Route::Sip => f.write_str("SIP"),
        }
    }
}

/// One group of outbound prefixes sharing a rate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) prefixes: Vec<String>,
    pub(crate) per_minute: Usd,
}

/// A telephony price table by destination for one provider's product: outbound prefix groups,
/// countries' defaults, inbound number types and SIP, each a rate per minute billed per started
/// minute. Add it to a catalog with [`CatalogBuilder::destinations`](crate::CatalogBuilder::destinations).
///
/// # Examples
///
/// ```
/// use callmeter::pricing::{Destinations, NumberType, Route};
/// use callmeter::{Catalog, Usd};
/// use rust_decimal::dec;
///
/// let table = Destinations::new("twilio", "voice")
///     .outbound("United Kingdom", ["44"], Usd::new(dec!(0.0158)))
///     .outbound("United Kingdom - Mobile", ["447"], Usd::new(dec!(0.0366)))
///     .country("GB", "United Kingdom")
///     .inbound(NumberType::Local, Usd::new(dec!(0.0085)));
/// let catalog = Catalog::builder().destinations(table).build()?;
/// assert_eq!(
///     catalog.route("twilio", "voice", Route::To("+44 7700 900123")),
///     Some("voice:United Kingdom - Mobile")
/// );
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Destinations {
    pub(crate) provider: String,
    pub(crate) product: String,
    pub(crate) groups: Vec<Group>,
    /// ISO country → group name.
    pub(crate) countries: Vec<(String, String)>,
    pub(crate) inbound: Vec<(NumberType, Usd)>,
    pub(crate) sip: Option<Usd>,
    pub(crate) source: String,
    pub(crate) checked: Option<NaiveDate>,
    pub(crate) origin: PriceOrigin,
}

impl Destinations {
    /// An empty table for `provider`'s `product` (the name track calls give, e.g. `voice`).
    pub fn new(provider: impl Into<String>, product: impl Into<String>) -> Self {
        Destinations {
            provider: provider.into(),
            product: product.into(),
            groups: Vec::new(),
            countries: Vec::new(),
            inbound: Vec::new(),
            sip: None,
            source: String::new(),
            checked: None,
            origin: PriceOrigin::Manual,
        }
    }

    /// Outbound calls to numbers starting with any of `prefixes` (E.164 digits, no `+`) cost
    /// `per_minute`; the group is named `name`. A later group of the same name replaces it.
    pub fn outbound<P: Into<String>>(
        mut self,
        name: impl Into<String>,
        prefixes: impl IntoIterator<Item = P>,
        per_minute: Usd,
    ) -> Self {
        let name = name.into();
        self.groups.retain(|g| g.name != name);
        self.groups.push(Group {
            name,
            prefixes: prefixes.into_iter().map(Into::into).collect(),
            per_minute,
        });
        self
    }

    /// Calls to country `iso` (ISO 3166-1 alpha-2) without a number are priced as group `group`.
    pub fn country(mut self, iso: impl Into<String>, group: impl Into<String>) -> Self {
        let iso = iso.into().to_ascii_uppercase();
        self.countries.retain(|(c, _)| *c != iso);
        self.countries.push((iso, group.into()));
        self
    }

    /// Inbound calls on a number of type `number_type` cost `per_minute`.
    pub fn inbound(mut self, number_type: NumberType, per_minute: Usd) -> Self {
        self.inbound.retain(|(t, _)| *t != number_type);
        self.inbound.push((number_type, per_minute));
        self
    }

    /// SIP calls cost `per_minute`.
    pub fn sip(mut self, per_minute: Usd) -> Self {
        self.sip = Some(per_minute);
        self
    }

    /// Where the prices come from, and when they were checked.
    pub fn with_source(mut self, source: impl Into<String>, checked: Option<NaiveDate>) -> Self {
        self.source = source.into();
        self.checked = checked;
        self
    }

    /// How the prices entered the catalog (default [`PriceOrigin::Manual`]; a Twilio import is
    /// [`PriceOrigin::Api`]).
    pub fn with_origin(mut self, origin: PriceOrigin) -> Self {
        self.origin = origin;
        self
    }

    /// The provider.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The product track calls name.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// Outbound prefix groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// The catalog entries the table stands for, one per group, inbound type and SIP.
    pub(crate) fn prices(&self) -> Vec<ModelPrice> {
        let entry = |name: String, per_minute: Usd| {
            let price = ModelPrice::new(&self.provider, name, Category::Telephony)
                .rate(UsageKind::CallSeconds, Rate::per_minute(per_minute))
                .increment(UsageKind::CallSeconds, Increment::per_started_minute())
                .with_origin(self.origin);
            if self.source.is_empty() {
                price
            } else {
                price.with_source(self.source.clone(), self.checked)
            }
        };
        let product = &self.product;
        let mut prices: Vec<ModelPrice> = self
            .groups
            .iter()
            .map(|g| entry(format!("{product}:{}", g.name), g.per_minute))
            .collect();
        prices.extend(
            self.inbound
                .iter()
                .map(|(t, rate)| entry(format!("{product}:inbound {t}"), *rate)),
        );
        prices.extend(self.sip.map(|rate| entry(format!("{product}:sip"), rate)));
        prices
    }

    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Catalog {
            entry: format!("{}/{} destinations", self.provider, self.product),
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Checks the table and compiles its index.
    pub(crate) fn compile(&self) -> Result<RouteTable> {
        let product = &self.product;
        let mut prefixes: FxHashMap<u64, Box<str>> = FxHashMap::default();
        let mut names: FxHashMap<&str, ()> = FxHashMap::default();
        let mut longest = 0;
        for g in &self.groups {
            if g.name.is_empty() || names.insert(&g.name, ()).is_some() {
                return Err(self.err(
                    "outbound",
                    format!("group name {:?} empty or repeated", g.name),
                ));
            }
            if g.prefixes.is_empty() {
                return Err(self.err(format!("outbound {}", g.name), "no prefix"));
            }
            let model: Box<str> = format!("{product}:{}", g.name).into();
            for p in &g.prefixes {
                let valid =
                    !p.is_empty() && p.len() <= MAX_DIGITS && p.bytes().all(|b| b.is_ascii_digit());
                if !valid {
                    return Err(self.err(
                        format!("outbound {}", g.name),
                        format!("prefix {p:?} is not 1 to {MAX_DIGITS} digits"),
                    ));
                }
                if let Some(other) = prefixes.insert(prefix_key(p.as_bytes()), model.clone()) {
                    return Err(self.err(
                        format!("outbound {}", g.name),
                        format!("prefix {p} is also in {other}"),
                    ));
                }
                longest = longest.max(p.len());
            }
        }
        let mut countries = FxHashMap::default();
        for (iso, group) in &self.countries {
            let code: [u8; 2] = match iso.as_bytes() {
                &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => [a, b],
                _ => {
                    return Err(self.err(
                        "country",
                        format!("{iso:?} is not an ISO 3166 alpha-2 code"),
                    ));
                }
            };
            if !names.contains_key(group.as_str()) {
                return Err(self.err(
                    format!("country {iso}"),
                    format!("no outbound group {group:?}"),
                ));
            }
            countries.insert(code, format!("{product}:{group}").into_boxed_str());
        }
        Ok(RouteTable {
            prefixes,
            longest,
            countries,
            inbound: self
                .inbound
                .iter()
                .map(|(t, _)| (*t, format!("{product}:inbound {t}").into_boxed_str()))
                .collect(),
            sip: self.sip.map(|_| format!("{product}:sip").into_boxed_str()),
        })
    }
}

/// A compiled [`Destinations`]: which catalog model a route is priced as.
#[derive(Debug, Clone)]
pub(crate) struct RouteTable {
    /// Digits ([`prefix_key`]) → model name.
    prefixes: FxHashMap<u64, Box<str>>,
    longest: usize,
    countries: FxHashMap<[u8; 2], Box<str>>,
    inbound: Vec<(NumberType, Box<str>)>,
    sip: Option<Box<str>>,
}

impl RouteTable {
    /// The model `route` is priced as; `None` when the table has nothing for it (or the number is
    /// not a number).
    pub(crate) fn resolve(&self, route: Route<'_>) -> Option<&str> {
        match route {
            Route::To(number) => {
                let mut digits = [0_u8; MAX_DIGITS];
                let len = e164_digits(number, &mut digits)?;
                (1..=len.min(self.longest))
                    .rev()
                    .find_map(|n| self.prefixes.get(&prefix_key(&digits[..n])))
                    .map(|m| &**m)
            }
            Route::ToCountry(iso) => match iso.as_bytes() {
                &[a, b] => self
                    .countries
                    .get(&[a.to_ascii_uppercase(), b.to_ascii_uppercase()])
                    .map(|m| &**m),
                _ => None,
            },
            Route::Inbound(t) => self
                .inbound
                .iter()
                .find(|(i, _)| *i == t)
                .map(|(_, m)| &**m),
            Route::Sip => self.sip.as_deref(),
        }
    }
}

/// A prefix of at most 15 ASCII digits as one integer: its value times 16 plus its length (`44`
/// and `044` differ), hashed as a word rather than a slice.
fn prefix_key(digits: &[u8]) -> u64 {
    let value = digits
        .iter()
        .fold(0_u64, |v, d| v * 10 + u64::from(d - b'0'));
    value * 16 + digits.len() as u64
}

/// The digits of an E.164 number written with an optional `+` and spaces, dashes, dots or
/// parentheses, into `out`; their count, or `None` for anything else or more than 15 digits.
fn e164_digits(number: &str, out: &mut [u8; MAX_DIGITS]) -> Option<usize> {
    let number = number.trim();
    let number = number.strip_prefix('+').unwrap_or(number);
    let mut len = 0;
    for b in number.bytes() {
        match b {
            b'0'..=b'9' => {
                *out.get_mut(len)? = b;
                len += 1;
            }
            b' ' | b'-' | b'.' | b'(' | b')' => {}
            _ => return None,
        }
    }
    (len > 0).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    fn table() -> RouteTable {
        Destinations::new("twilio", "voice")
            .outbound("US & Canada", ["1"], Usd::new(dec!(0.014)))
            .outbound("US - Alaska", ["1907"], Usd::new(dec!(0.09)))
            .outbound("United Kingdom", ["44"], Usd::new(dec!(0.0158)))
            .outbound(
                "United Kingdom - Mobile",
                ["447", "4475"],
                Usd::new(dec!(0.0366)),
            )
            .country("gb", "United Kingdom")
            .inbound(NumberType::TollFree, Usd::new(dec!(0.022)))
            .sip(Usd::new(dec!(0.004)))
            .compile()
            .expect("a valid table")
    }

    #[test]
    fn the_longest_matching_prefix_wins() {
        let t = table();
        for (number, model) in [
            ("+1 907 555 0100", Some("voice:US - Alaska")),
            ("+1 (415) 555-0100", Some("voice:US & Canada")),
            ("447700900123", Some("voice:United Kingdom - Mobile")),
            ("+44 20 7946 0000", Some("voice:United Kingdom")),
            ("+33 1 23 45 67 89", None),
            ("+44 not a number", None),
            ("+", None),
            ("1234567890123456", None),
        ] {
            assert_eq!(t.resolve(Route::To(number)), model, "{number}");
        }
    }

    #[test]
    fn countries_inbound_types_and_sip() {
        let t = table();
        assert_eq!(
            t.resolve(Route::ToCountry("GB")),
            Some("voice:United Kingdom")
        );
        assert_eq!(t.resolve(Route::ToCountry("FR")), None);
        assert_eq!(
            t.resolve(Route::Inbound(NumberType::TollFree)),
            Some("voice:inbound toll free")
        );
        assert_eq!(t.resolve(Route::Inbound(NumberType::Local)), None);
        assert_eq!(t.resolve(Route::Sip), Some("voice:sip"));
    }

    #[test]
    fn a_prefix_in_two_groups_or_not_digits_is_refused() {
        let twice = Destinations::new("p", "voice")
            .outbound("a", ["44"], Usd::ZERO)
            .outbound("b", ["44"], Usd::ZERO);
        assert!(matches!(twice.compile(), Err(Error::Catalog { .. })));
        let letters = Destinations::new("p", "voice").outbound("a", ["4x"], Usd::ZERO);
        assert!(matches!(letters.compile(), Err(Error::Catalog { .. })));
        let no_group = Destinations::new("p", "voice").country("GB", "nowhere");
        assert!(matches!(no_group.compile(), Err(Error::Catalog { .. })));
    }

    #[test]
    fn number_types_read_as_twilio_writes_them() {
        assert_eq!(
            NumberType::from_name("toll free"),
            Some(NumberType::TollFree)
        );
        assert_eq!(
            NumberType::from_name("Toll-Free"),
            Some(NumberType::TollFree)
        );
        assert_eq!(
            NumberType::from_name("shared_cost"),
            Some(NumberType::SharedCost)
        );
        assert_eq!(NumberType::from_name("satellite"), None);
    }
}
