//! Prices: rates per usage kind, billing increments, payment fees, and the catalog that holds them.
//!
//! A [`Rate`] is a price for a stated number of units (`$0.15` per 1 000 characters); its constructors
//! name the unit and the denominator, so a per-thousand price cannot be taken for a per-unit one. A
//! [`ModelPrice`] gathers the rates of one provider's model; a [`Catalog`] indexes them for lookups that
//! allocate nothing.
//!
//! # How a cost is computed
//!
//! Each rate is turned, once, into an exact fraction of nano-dollars per base unit (token, character,
//! millisecond). A quantity's cost is that fraction times the quantity, rounded once to the nano-dollar
//! (half to even). Where a rate has a billing [`Increment`] (Twilio's per-started-minute) or its
//! per-unit price is not a whole number of nano-dollars (a per-minute price billed by the millisecond),
//! the call's **cumulative** quantity is priced instead, and each event costs the difference it makes: a
//! call's billed total is then exactly the price of its whole usage, however many times it was tracked.

mod builtin;
mod file;
mod litellm;
mod names;
mod quote;

pub use quote::{Quote, QuoteLine, Usage};

pub use litellm::ImportReport;

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::money::{NANO_SCALE, Usd, div_round_half_even};
use crate::base::usage::{Category, Unit, UsageKind};

/// A price for a stated number of units.
///
/// # Examples
///
/// ```
/// use callmeter::{Rate, Usd};
///
/// let turbo = Rate::per_thousand_characters("0.15".parse::<Usd>()?);
/// assert_eq!(turbo.to_string(), "$0.15 per 1K characters");
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rate {
    price: Usd,
    per: u64,
    unit: Unit,
}

impl Rate {
    const fn new(price: Usd, per: u64, unit: Unit) -> Self {
        Rate { price, per, unit }
    }

    /// `price` for each token.
    pub const fn per_token(price: Usd) -> Self {
        Rate::new(price, 1, Unit::Token)
    }

    /// `price` for every thousand tokens.
    pub const fn per_thousand_tokens(price: Usd) -> Self {
        Rate::new(price, 1_000, Unit::Token)
    }

    /// `price` for every million tokens.
    pub const fn per_million_tokens(price: Usd) -> Self {
        Rate::new(price, 1_000_000, Unit::Token)
    }

    /// `price` for each character.
    pub const fn per_character(price: Usd) -> Self {
        Rate::new(price, 1, Unit::Character)
    }

    /// `price` for every thousand characters.
    pub const fn per_thousand_characters(price: Usd) -> Self {
        Rate::new(price, 1_000, Unit::Character)
    }

    /// `price` for every million characters.
    pub const fn per_million_characters(price: Usd) -> Self {
        Rate::new(price, 1_000_000, Unit::Character)
    }

    /// `price` for each second.
    pub const fn per_second(price: Usd) -> Self {
        Rate::new(price, 1, Unit::Second)
    }

    /// `price` for each minute.
    pub const fn per_minute(price: Usd) -> Self {
        Rate::new(price, 60, Unit::Second)
    }

    /// `price` for each hour.
    pub const fn per_hour(price: Usd) -> Self {
        Rate::new(price, 3_600, Unit::Second)
    }

    /// The price.
    pub const fn price(&self) -> Usd {
        self.price
    }

    /// How many units the price buys (1 000 for a per-thousand rate, 60 seconds for a per-minute rate).
    pub const fn per(&self) -> u64 {
        self.per
    }

    /// The unit the rate is for.
    pub const fn unit(&self) -> Unit {
        self.unit
    }

    /// Base units (milliseconds for time) the price buys.
    fn per_base_units(&self) -> u128 {
        match self.unit {
            Unit::Second => u128::from(self.per) * 1000,
            _ => u128::from(self.per),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.unit, self.per) {
            (Unit::Second, 60) => write!(f, "{} per minute", self.price),
            (Unit::Second, 3_600) => write!(f, "{} per hour", self.price),
            (unit, 1) => write!(f, "{} per {unit}", self.price),
            (unit, n) if n % 1_000_000 == 0 => {
                write!(f, "{} per {}M {unit}s", self.price, n / 1_000_000)
            }
            (unit, n) if n % 1_000 == 0 => write!(f, "{} per {}K {unit}s", self.price, n / 1_000),
            (unit, n) => write!(f, "{} per {n} {unit}s", self.price),
        }
    }
}

/// How a cumulative quantity is rounded before it is priced: up to a whole number of steps, and to at
/// least a minimum once anything is used.
///
/// The rounding applies to the call's cumulative quantity of that kind, not to each track call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Increment {
    step: u64,
    minimum: u64,
    unit: Unit,
}

impl Increment {
    /// Per started minute: 1 min 20 s bills as 2 minutes (Twilio).
    pub const fn per_started_minute() -> Self {
        Increment {
            step: 60_000,
            minimum: 0,
            unit: Unit::Second,
        }
    }

    /// Per started second (Deepgram).
    pub const fn per_second() -> Self {
        Increment {
            step: 1_000,
            minimum: 0,
            unit: Unit::Second,
        }
    }

    /// Steps of `step_seconds`, with at least `minimum_seconds` billed once anything is used
    /// (e.g. 6-second billing with a 30-second minimum).
    pub const fn seconds(step_seconds: u32, minimum_seconds: u32) -> Self {
        Increment {
            step: step_seconds as u64 * 1000,
            minimum: minimum_seconds as u64 * 1000,
            unit: Unit::Second,
        }
    }

    /// Steps of `step` units of a counted kind (characters, tokens), with a minimum.
    pub const fn units(step: u64, minimum: u64, unit: Unit) -> Self {
        Increment {
            step,
            minimum,
            unit,
        }
    }

    /// The quantity billed for a cumulative `q` base units.
    const fn quantize(&self, q: u64) -> u128 {
        if q == 0 {
            return 0;
        }
        let step = if self.step == 0 { 1 } else { self.step as u128 };
        let up = (q as u128).div_ceil(step) * step;
        if up < self.minimum as u128 {
            self.minimum as u128
        } else {
            up
        }
    }
}

/// A payment processor's fee: a percentage of the amount plus a fixed amount, optionally capped.
///
/// # Examples
///
/// ```
/// use callmeter::{FeeRule, Usd};
/// use rust_decimal::dec;
///
/// let ach = FeeRule::new(dec!(0.8), Usd::ZERO).with_cap(Usd::new(dec!(5.00)));
/// assert_eq!(ach.fee(Usd::new(dec!(100)))?, Usd::new(dec!(0.80)));
/// assert_eq!(ach.fee(Usd::new(dec!(10000)))?, Usd::new(dec!(5.00)));
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FeeRule {
    percent: Decimal,
    fixed: Usd,
    cap: Option<Usd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    international: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    currency_conversion: Option<Decimal>,
}

impl FeeRule {
    /// `percent` of the amount (2.9 for 2.9 %) plus `fixed`.
    pub const fn new(percent: Decimal, fixed: Usd) -> Self {
        FeeRule {
            percent,
            fixed,
            cap: None,
            international: None,
            currency_conversion: None,
        }
    }

    /// Adds `percent` for payments by cards issued abroad ([`Payment::international`]).
    pub const fn with_international_surcharge(mut self, percent: Decimal) -> Self {
        self.international = Some(percent);
        self
    }

    /// Adds `percent` for payments that need a currency conversion
    /// ([`Payment::currency_conversion`]).
    pub const fn with_conversion_surcharge(mut self, percent: Decimal) -> Self {
        self.currency_conversion = Some(percent);
        self
    }

    /// The international-card surcharge, in percent.
    pub const fn international_surcharge(&self) -> Option<Decimal> {
        self.international
    }

    /// The currency-conversion surcharge, in percent.
    pub const fn conversion_surcharge(&self) -> Option<Decimal> {
        self.currency_conversion
    }

    /// Caps the fee at `cap`.
    pub const fn with_cap(mut self, cap: Usd) -> Self {
        self.cap = Some(cap);
        self
    }

    /// The percentage.
    pub const fn percent(&self) -> Decimal {
        self.percent
    }

    /// The fixed part.
    pub const fn fixed(&self) -> Usd {
        self.fixed
    }

    /// The cap, if any.
    pub const fn cap(&self) -> Option<Usd> {
        self.cap
    }

    /// The fee on a payment, exact to the nano-dollar: `percent` of the amount plus `fixed`, at most
    /// the cap, then each surcharge that applies to the payment (surcharges are not capped). A
    /// surcharge the rule does not have adds nothing.
    ///
    /// # Errors
    ///
    /// [`Error::AmountOutOfRange`] for amounts beyond nano-dollar range or negative amounts.
    pub fn fee(&self, payment: impl Into<Payment>) -> Result<Usd> {
        let payment = payment.into();
        let calc = FeeCalc::new(self).ok_or(Error::AmountOutOfRange)?;
        calc.fee_nanos(payment.amount.to_nanos()?, payment.flags())
            .map(Usd::from_nanos)
    }
}

impl fmt::Display for FeeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}% + {}", self.percent.normalize(), self.fixed)?;
        if let Some(cap) = self.cap {
            write!(f, ", capped at {cap}")?;
        }
        if let Some(p) = self.international {
            write!(f, "; +{}% international cards", p.normalize())?;
        }
        if let Some(p) = self.currency_conversion {
            write!(f, "; +{}% currency conversion", p.normalize())?;
        }
        Ok(())
    }
}

/// A payment charged to a customer: the amount, and what makes the processor add a surcharge.
///
/// # Examples
///
/// ```
/// use callmeter::{FeeRule, Payment, Usd};
/// use rust_decimal::dec;
///
/// let card = FeeRule::new(dec!(2.9), Usd::new(dec!(0.30)))
///     .with_international_surcharge(dec!(1.5))
///     .with_conversion_surcharge(dec!(1));
/// let abroad = Payment::new(Usd::new(dec!(100))).international().currency_conversion();
/// assert_eq!(card.fee(abroad)?, Usd::new(dec!(5.70)));
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    amount: Usd,
    international: bool,
    currency_conversion: bool,
}

const PAY_INTERNATIONAL: u8 = 1;
const PAY_CONVERSION: u8 = 2;

impl Payment {
    /// A domestic payment of `amount` in the account's currency.
    pub const fn new(amount: Usd) -> Self {
        Payment {
            amount,
            international: false,
            currency_conversion: false,
        }
    }

    /// Paid with a card issued in another country.
    pub const fn international(mut self) -> Self {
        self.international = true;
        self
    }

    /// Paid in a currency that has to be converted.
    pub const fn currency_conversion(mut self) -> Self {
        self.currency_conversion = true;
        self
    }

    /// The amount charged.
    pub const fn amount(&self) -> Usd {
        self.amount
    }

    pub(crate) const fn flags(&self) -> u8 {
        (if self.international {
            PAY_INTERNATIONAL
        } else {
            0
        }) | (if self.currency_conversion {
            PAY_CONVERSION
        } else {
            0
        })
    }
}

impl From<Usd> for Payment {
    fn from(amount: Usd) -> Self {
        Payment::new(amount)
    }
}

/// One tier of a provider's subscription: a monthly fee that includes a quantity of usage.
///
/// callmeter prices usage under a subscription at the **marginal rate of the active tier**: its monthly
/// fee divided by the quantity it includes (Creator, $22 for 100 000 characters, bills $0.22 per 1 000
/// characters). Summed over a month that used the whole allowance, calls then cost exactly the fee;
/// usage beyond the allowance is priced at the same rate unless a higher tier is made active.
///
/// # Examples
///
/// ```
/// use callmeter::{SubscriptionTier, UsageKind, Usd};
/// use rust_decimal::dec;
///
/// let creator = SubscriptionTier::new("creator", Usd::new(dec!(22)), 100_000, UsageKind::Characters);
/// assert_eq!(creator.marginal_rate().to_string(), "$22 per 100K characters");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriptionTier {
    name: String,
    monthly_fee: Usd,
    included: u64,
    kind: UsageKind,
}

impl SubscriptionTier {
    /// A tier named `name` costing `monthly_fee` a month for `included` units of `kind` (seconds for
    /// time-based kinds).
    pub fn new(name: impl Into<String>, monthly_fee: Usd, included: u64, kind: UsageKind) -> Self {
        SubscriptionTier {
            name: name.into(),
            monthly_fee,
            included,
            kind,
        }
    }

    /// ElevenLabs' plans as published on its pricing page (quoted 2025-11-21): Free $0 for 10 000
    /// characters, Starter $5 for 30 000, Creator $22 for 100 000, Pro $99 for 500 000, Scale $330 for
    /// 2 000 000.
    pub fn elevenlabs() -> Vec<SubscriptionTier> {
        [
            ("free", 0_u32, 10_000_u64),
            ("starter", 5, 30_000),
            ("creator", 22, 100_000),
            ("pro", 99, 500_000),
            ("scale", 330, 2_000_000),
        ]
        .into_iter()
        .map(|(name, fee, chars)| {
            SubscriptionTier::new(
                name,
                Usd::new(Decimal::from(fee)),
                chars,
                UsageKind::Characters,
            )
        })
        .collect()
    }

    /// The tier's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The monthly fee.
    pub fn monthly_fee(&self) -> Usd {
        self.monthly_fee
    }

    /// Units of usage the fee includes each month.
    pub fn included(&self) -> u64 {
        self.included
    }

    /// The kind of usage the tier includes.
    pub fn kind(&self) -> UsageKind {
        self.kind
    }

    /// The fee divided by the included quantity, as a rate.
    pub fn marginal_rate(&self) -> Rate {
        Rate::new(self.monthly_fee, self.included, self.kind.unit())
    }
}

/// A subscription on a catalog entry: the provider's tiers and the one the account is on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscription {
    tiers: Vec<SubscriptionTier>,
    active: String,
}

impl Subscription {
    /// Every tier.
    pub fn tiers(&self) -> &[SubscriptionTier] {
        &self.tiers
    }

    /// The active tier, if its name is one of the tiers.
    pub fn active(&self) -> Option<&SubscriptionTier> {
        self.tiers.iter().find(|t| t.name == self.active)
    }
}

/// A cost that does not depend on calls (a server, a database tier, a subscription fee), kept in the
/// catalog so that reports can spread it over the calls of a month. Never charged per event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FixedCost {
    name: String,
    category: Category,
    monthly: Usd,
    source: String,
}

impl FixedCost {
    /// `monthly` dollars a month for `name`.
    pub fn new(name: impl Into<String>, category: Category, monthly: Usd) -> Self {
        FixedCost {
            name: name.into(),
            category,
            monthly,
            source: String::new(),
        }
    }

    /// Records where the figure comes from.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// What the cost is for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The category it belongs to.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The amount per month.
    pub fn monthly(&self) -> Usd {
        self.monthly
    }

    /// Where the figure comes from.
    pub fn source_note(&self) -> &str {
        &self.source
    }
}

/// Rates that replace a model's base rates for requests whose prompt is longer than a threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextTier {
    above_prompt_tokens: u64,
    rates: Vec<(UsageKind, Rate)>,
}

impl ContextTier {
    /// The tier applies to requests whose prompt has more tokens than this.
    pub fn above_prompt_tokens(&self) -> u64 {
        self.above_prompt_tokens
    }

    /// The rates of the tier, by usage kind.
    pub fn rates(&self) -> &[(UsageKind, Rate)] {
        &self.rates
    }
}

/// How a price entered the catalog; stored with every price the database records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PriceOrigin {
    /// callmeter's built-in catalog.
    Builtin,
    /// A catalog file.
    File,
    /// An import of LiteLLM's price database.
    Litellm,
    /// Set in code by the application.
    Manual,
    /// Fetched from a provider's API.
    Api,
}

impl PriceOrigin {
    /// The name stored in the database (`"builtin"`, `"file"`, `"litellm"`, `"manual"`, `"api"`).
    pub const fn as_str(self) -> &'static str {
        match self {
            PriceOrigin::Builtin => "builtin",
            PriceOrigin::File => "file",
            PriceOrigin::Litellm => "litellm",
            PriceOrigin::Manual => "manual",
            PriceOrigin::Api => "api",
        }
    }
}

impl fmt::Display for PriceOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The prices of one provider's model (or product: a Twilio call direction, a Stripe payment method).
///
/// # Examples
///
/// ```
/// use callmeter::{Category, Increment, ModelPrice, Rate, Usd, UsageKind};
/// use rust_decimal::dec;
///
/// let carrier = ModelPrice::new("acme-telecom", "outbound-de", Category::Telephony)
///     .rate(UsageKind::CallSeconds, Rate::per_minute(Usd::new(dec!(0.02))))
///     .increment(UsageKind::CallSeconds, Increment::seconds(6, 30))
///     .source("contract 2025-07", None);
/// assert_eq!(carrier.model(), "outbound-de");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelPrice {
    provider: String,
    model: String,
    category: Category,
    rates: Vec<(UsageKind, Rate)>,
    increments: Vec<(UsageKind, Increment)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    context_tiers: Vec<ContextTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription: Option<Subscription>,
    fee: Option<FeeRule>,
    effective_from: Option<DateTime<Utc>>,
    effective_to: Option<DateTime<Utc>>,
    origin: PriceOrigin,
    source: String,
    verified_on: Option<NaiveDate>,
}

impl ModelPrice {
    /// A model with no rates yet.
    pub fn new(provider: impl Into<String>, model: impl Into<String>, category: Category) -> Self {
        ModelPrice {
            provider: provider.into(),
            model: model.into(),
            category,
            rates: Vec::new(),
            increments: Vec::new(),
            context_tiers: Vec::new(),
            subscription: None,
            fee: None,
            effective_from: None,
            effective_to: None,
            origin: PriceOrigin::Manual,
            source: String::new(),
            verified_on: None,
        }
    }

    /// Sets the rate of one usage kind (replacing an earlier one).
    pub fn rate(mut self, kind: UsageKind, rate: Rate) -> Self {
        self.rates.retain(|(k, _)| *k != kind);
        self.rates.push((kind, rate));
        self
    }

    /// Sets the rate of one usage kind for requests whose prompt is longer than `prompt_tokens` (see
    /// [`TokenUsage::prompt`](crate::TokenUsage::prompt)). As providers bill it, the whole request then
    /// pays the higher rate, not just the tokens beyond the threshold. Kinds without a rate at a
    /// threshold keep their base rate; with several thresholds, the highest one exceeded applies.
    pub fn rate_above(mut self, prompt_tokens: u64, kind: UsageKind, rate: Rate) -> Self {
        let tier = match self
            .context_tiers
            .iter()
            .position(|t| t.above_prompt_tokens == prompt_tokens)
        {
            Some(i) => &mut self.context_tiers[i],
            None => {
                self.context_tiers.push(ContextTier {
                    above_prompt_tokens: prompt_tokens,
                    rates: Vec::new(),
                });
                self.context_tiers.sort_by_key(|t| t.above_prompt_tokens);
                let i = self
                    .context_tiers
                    .iter()
                    .position(|t| t.above_prompt_tokens == prompt_tokens)
                    .unwrap_or(0);
                &mut self.context_tiers[i]
            }
        };
        tier.rates.retain(|(k, _)| *k != kind);
        tier.rates.push((kind, rate));
        self
    }

    /// Prices the tiers' kind of usage at the marginal rate of the `active` tier (see
    /// [`SubscriptionTier`]); the active tier's fee is listed in [`Catalog::fixed_costs`].
    pub fn subscription(mut self, tiers: Vec<SubscriptionTier>, active: impl Into<String>) -> Self {
        self.subscription = Some(Subscription {
            tiers,
            active: active.into(),
        });
        self
    }

    /// The subscription, if the entry is priced by one.
    pub fn subscription_plan(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }

    /// Sets the billing increment of one usage kind.
    pub fn increment(mut self, kind: UsageKind, increment: Increment) -> Self {
        self.increments.retain(|(k, _)| *k != kind);
        self.increments.push((kind, increment));
        self
    }

    /// Sets the fee rule applied to payments ([`UsageKind::Transactions`]).
    pub fn fee(mut self, fee: FeeRule) -> Self {
        self.fee = Some(fee);
        self
    }

    /// Records where the price comes from and when it was last checked against that source.
    pub fn source(mut self, source: impl Into<String>, verified_on: Option<NaiveDate>) -> Self {
        self.source = source.into();
        self.verified_on = verified_on;
        self
    }

    /// Records how the price entered the catalog (see [`PriceOrigin`]; [`PriceOrigin::Manual`] unless set).
    pub fn origin(mut self, origin: PriceOrigin) -> Self {
        self.origin = origin;
        self
    }

    /// The time from which this version of the price is in force (inclusive). Without it, the version
    /// is in force from the beginning of time.
    pub fn effective_from(mut self, from: DateTime<Utc>) -> Self {
        self.effective_from = Some(from);
        self
    }

    /// The time at which this version stops being in force (exclusive). Without it, the version is in
    /// force until the next version of the same provider and model starts, or forever.
    pub fn effective_to(mut self, to: DateTime<Utc>) -> Self {
        self.effective_to = Some(to);
        self
    }

    /// The provider (`"twilio"`).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The model (`"outbound-us"`).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The category its costs belong to.
    pub fn category(&self) -> Category {
        self.category
    }

    /// The rates, by usage kind.
    pub fn rates(&self) -> &[(UsageKind, Rate)] {
        &self.rates
    }

    /// The context-length tiers, lowest threshold first.
    pub fn context_tiers(&self) -> &[ContextTier] {
        &self.context_tiers
    }

    /// The billing increments, by usage kind.
    pub fn increments(&self) -> &[(UsageKind, Increment)] {
        &self.increments
    }

    /// The payment fee rule, if this is a payment method.
    pub fn fee_rule(&self) -> Option<&FeeRule> {
        self.fee.as_ref()
    }

    /// Where the price comes from.
    pub fn source_note(&self) -> &str {
        &self.source
    }

    /// When the price was last checked against its source.
    pub fn verified_on(&self) -> Option<NaiveDate> {
        self.verified_on
    }

    /// How the price entered the catalog.
    pub fn price_origin(&self) -> PriceOrigin {
        self.origin
    }

    /// Start of the version's validity, if it has one.
    pub fn effective_from_time(&self) -> Option<DateTime<Utc>> {
        self.effective_from
    }

    /// End of the version's validity as given, if it has one.
    pub fn effective_to_time(&self) -> Option<DateTime<Utc>> {
        self.effective_to
    }

    fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Catalog {
            entry: self.name(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A rate ready for the hot path: nano-dollars per base unit as an exact reduced fraction.
#[derive(Clone, Copy, Debug)]
struct Line {
    num: u128,
    den: u128,
    increment: Option<Increment>,
    /// Index of the call's cumulative counter for this line, when cumulative pricing is needed.
    slot: Option<u32>,
}

impl Line {
    fn new(rate: &Rate, increment: Option<Increment>) -> Option<Self> {
        let price = rate.price.as_decimal();
        if price.is_sign_negative() && !price.is_zero() {
            return None;
        }
        let mantissa = u128::try_from(price.mantissa()).ok()?;
        let scale = price.scale();
        // nanos per base unit = mantissa × 10^9 / (10^scale × per_base)
        let mut num = mantissa.checked_mul(10_u128.pow(NANO_SCALE))?;
        let mut den = 10_u128
            .checked_pow(scale)?
            .checked_mul(rate.per_base_units())?;
        let g = gcd(num, den);
        if g > 1 {
            num /= g;
            den /= g;
        }
        Some(Line {
            num,
            den,
            increment,
            slot: None,
        })
    }

    fn needs_cumulative(&self) -> bool {
        self.increment.is_some() || self.den != 1
    }

    fn billed(&self, q: u64) -> u128 {
        let q = match self.increment {
            Some(inc) => inc.quantize(q),
            None => u128::from(q),
        };
        // q ≤ ~2^64 and num ≤ ~2^100 for any believable price; saturate rather than wrap.
        let n = q.saturating_mul(self.num);
        if self.den == 1 {
            n
        } else {
            div_round_half_even(n, self.den)
        }
    }

    fn cost(&self, qty: u64, cumulative: &impl Running) -> Result<i64> {
        let nanos = match self.slot {
            Some(line) => {
                // Each caller gets its own disjoint interval [prev, prev + qty): the costs telescope, so
                // concurrent track calls of one call still sum to the price of the whole.
                let prev = cumulative.fetch_add(line, qty);
                self.billed(prev.saturating_add(qty)) - self.billed(prev)
            }
            None => self.billed(qty),
        };
        i64::try_from(nanos).map_err(|_| Error::AmountOutOfRange)
    }
}

/// A call's cumulative quantity per line priced on the whole (billing increments, prices that are not
/// a whole number of nano-dollars per unit). A live call keeps it in atomics (`call::cumulative`); a
/// quote or a what-if keeps it in a [`Tally`].
pub(crate) trait Running {
    /// Adds `qty` to `line`'s quantity and returns the quantity before. Concurrent callers get
    /// disjoint intervals `[before, before + qty)`, so their costs telescope to the price of the whole.
    fn fetch_add(&self, line: u32, qty: u64) -> u64;
}

/// Cumulative quantities for pricing outside a live call, on one thread.
#[derive(Debug, Default)]
pub(crate) struct Tally(std::cell::RefCell<rustc_hash::FxHashMap<u32, u64>>);

impl Running for Tally {
    fn fetch_add(&self, line: u32, qty: u64) -> u64 {
        let mut lines = self.0.borrow_mut();
        let quantity = lines.entry(line).or_insert(0);
        let before = *quantity;
        *quantity = quantity.saturating_add(qty);
        before
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A fee rule ready for the hot path.
#[derive(Clone, Copy, Debug)]
struct FeeCalc {
    num: u128,
    den: u128,
    fixed: i64,
    cap: Option<i64>,
    /// Surcharges as (numerator, denominator) of a fraction of the amount.
    international: Option<(u128, u128)>,
    conversion: Option<(u128, u128)>,
}

/// `percent` as an exact fraction of one.
fn percent_fraction(percent: Decimal) -> Option<(u128, u128)> {
    if percent.is_sign_negative() && !percent.is_zero() {
        return None;
    }
    let num = u128::try_from(percent.mantissa()).ok()?;
    let den = 10_u128.checked_pow(percent.scale())?.checked_mul(100)?;
    Some((num, den))
}

impl FeeCalc {
    fn new(rule: &FeeRule) -> Option<Self> {
        let (num, den) = percent_fraction(rule.percent)?;
        let international = match rule.international {
            Some(p) => Some(percent_fraction(p)?),
            None => None,
        };
        let conversion = match rule.currency_conversion {
            Some(p) => Some(percent_fraction(p)?),
            None => None,
        };
        let fixed = rule.fixed.to_nanos().ok()?;
        let cap = match rule.cap {
            Some(c) => Some(c.to_nanos().ok()?),
            None => None,
        };
        if fixed < 0 || cap.is_some_and(|c| c < 0) {
            return None;
        }
        Some(FeeCalc {
            num,
            den,
            fixed,
            cap,
            international,
            conversion,
        })
    }

    fn fee_nanos(&self, amount: i64, flags: u8) -> Result<i64> {
        let amount = u128::try_from(amount).map_err(|_| Error::AmountOutOfRange)?;
        let part = |(num, den): (u128, u128)| {
            i64::try_from(div_round_half_even(amount.saturating_mul(num), den))
                .map_err(|_| Error::AmountOutOfRange)
        };
        let fee = part((self.num, self.den))?
            .checked_add(self.fixed)
            .ok_or(Error::AmountOutOfRange)?;
        let mut fee = match self.cap {
            Some(cap) => fee.min(cap),
            None => fee,
        };
        for (flag, surcharge) in [
            (PAY_INTERNATIONAL, self.international),
            (PAY_CONVERSION, self.conversion),
        ] {
            if flags & flag != 0
                && let Some(s) = surcharge
            {
                fee = fee.checked_add(part(s)?).ok_or(Error::AmountOutOfRange)?;
            }
        }
        Ok(fee)
    }
}

/// One catalog entry (one version of a model's prices), compiled for lookups.
#[derive(Debug)]
struct Entry {
    price: ModelPrice,
    /// Validity in milliseconds since the Unix epoch, `[from, to)`.
    from: i64,
    to: i64,
    provider: u32,
    lines: Lines,
    /// Context-length tiers: (threshold, lines), lowest threshold first.
    tiers: Vec<(u64, Lines)>,
    fee: Option<FeeCalc>,
}

type Lines = [Option<Line>; UsageKind::COUNT];

/// The kind whose rate bills a kind that has none, where providers bill it so.
const fn fallback(kind: UsageKind) -> Option<UsageKind> {
    match kind {
        UsageKind::ReasoningTokens => Some(UsageKind::OutputTokens),
        _ => None,
    }
}

/// Prices indexed by provider and model.
///
/// Lookups hash the provider and model strings as given and allocate nothing. Build one with
/// [`CatalogBuilder`], or start from [`Catalog::builtin`].
#[derive(Debug)]
pub struct Catalog {
    fixed_costs: Vec<FixedCost>,
    aliases: Vec<(String, String, String, String)>,
    /// Unique in the process: the writer remembers which prices it stored by catalog and entry.
    id: u64,
    entries: Vec<Entry>,
    providers: Vec<String>,
    /// Provider → model → index into `series`.
    index: FxHashMap<Box<str>, FxHashMap<Box<str>, u32>>,
    /// The same in ASCII lowercase, with the aliases: consulted when the exact names miss.
    folded: FxHashMap<Box<str>, FxHashMap<Box<str>, u32>>,
    /// The versions of each provider and model: entry indexes in order of `from`.
    series: Vec<Vec<u32>>,
    /// The exact provider and model of each series.
    series_names: Vec<(Box<str>, Box<str>)>,
    /// The same versions as `(from, to, entry)`, so that a lookup reads one small array.
    windows: Vec<Box<[(i64, i64, u32)]>>,
    cumulative_lines: usize,
}

static NEXT_CATALOG_ID: AtomicU64 = AtomicU64::new(1);

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
const LOOKUP_SLOTS: usize = 4;

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
    /// The built-in voice catalog: every price in the README's table, each with its source and date.
    pub fn builtin() -> Catalog {
        builtin::catalog()
    }

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
        }
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
                    .source(e.price.source.clone()),
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

    /// The series of versions `provider`/`model` names: exactly, or else as described in the README's
    /// "Model names" (case, provider prefix, date suffix, aliases). Allocates nothing.
    fn series_of(&self, provider: &str, model: &str) -> Option<u32> {
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
    fn in_force(&self, series: u32, at_ms: i64) -> Lookup {
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
    entries: Vec<ModelPrice>,
    fixed_costs: Vec<FixedCost>,
    /// (alias provider, alias model, provider, model).
    aliases: Vec<(String, String, String, String)>,
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

    /// Checks every entry and builds the catalog.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] naming the entry and field when a provider or model is empty, a rate's unit does
    /// not match its usage kind, a price is negative or out of range, an increment has no rate, a fee
    /// rule is given for anything but payments, or versions of one model overlap or end before they
    /// start.
    pub fn build(self) -> Result<Catalog> {
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
fn close_versions(series: &mut [u32], entries: &mut [Entry]) -> Result<()> {
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
fn compile_lines(
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

fn compile(price: ModelPrice, catalog: &mut Catalog) -> Result<Entry> {
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
    use crate::base::usage::{Measure, TokenUsage};
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
        assert_eq!(cnp.fee(usd(dec!(4.99)))?, usd(dec!(0.46966)));
        let ach = FeeRule::new(dec!(0.8), Usd::ZERO).with_cap(usd(dec!(5)));
        assert_eq!(ach.fee(usd(dec!(625)))?, usd(dec!(5)));
        assert_eq!(ach.fee(usd(dec!(624)))?, usd(dec!(4.992)));
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
