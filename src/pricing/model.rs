//! One model's prices: rates, context tiers, increments, a fee, a subscription, where the price came from and when it is in force; and fixed costs.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::fee::FeeRule;
use super::rate::{Increment, Rate};
use crate::base::error::Error;
use crate::base::money::Usd;
use crate::base::usage::{Category, UsageKind};

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
/// use callmeter::{UsageKind, Usd};
/// use callmeter::pricing::SubscriptionTier;
/// use rust_decimal::dec;
///
/// let creator = SubscriptionTier::new("creator", Usd::new(dec!(22)), 100_000, UsageKind::Characters);
/// assert_eq!(creator.marginal_rate().to_string(), "$22 per 100K characters");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SubscriptionTier {
    pub(super) name: String,
    pub(super) monthly_fee: Usd,
    pub(super) included: u64,
    pub(super) kind: UsageKind,
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
    pub(super) tiers: Vec<SubscriptionTier>,
    pub(super) active: String,
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
    pub(super) name: String,
    pub(super) category: Category,
    pub(super) monthly: Usd,
    pub(super) source: String,
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
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
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
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Rates that replace a model's base rates for requests whose prompt is longer than a threshold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContextTier {
    pub(super) above_prompt_tokens: u64,
    pub(super) rates: Vec<(UsageKind, Rate)>,
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
/// use callmeter::{Category, ModelPrice, Rate, UsageKind, Usd};
/// use callmeter::pricing::Increment;
/// use rust_decimal::dec;
///
/// let carrier = ModelPrice::new("acme-telecom", "outbound-de", Category::Telephony)
///     .rate(UsageKind::CallSeconds, Rate::per_minute(Usd::new(dec!(0.02))))
///     .increment(UsageKind::CallSeconds, Increment::seconds(6, 30))
///     .with_source("contract 2025-07", None);
/// assert_eq!(carrier.model(), "outbound-de");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelPrice {
    pub(super) provider: String,
    pub(super) model: String,
    pub(super) category: Category,
    pub(super) rates: Vec<(UsageKind, Rate)>,
    pub(super) increments: Vec<(UsageKind, Increment)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) context_tiers: Vec<ContextTier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) subscription: Option<Subscription>,
    pub(super) fee: Option<FeeRule>,
    pub(super) effective_from: Option<DateTime<Utc>>,
    pub(super) effective_to: Option<DateTime<Utc>>,
    pub(super) origin: PriceOrigin,
    pub(super) source: String,
    pub(super) checked: Option<NaiveDate>,
    #[serde(skip_serializing_if = "is_true")]
    pub(super) failed_requests_billed: bool,
}

fn is_true(v: &bool) -> bool {
    *v
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
            checked: None,
            failed_requests_billed: true,
        }
    }

    /// Whether the provider bills a request that fails or is cancelled (the default: `true`). A
    /// reservation dropped unsettled is recorded at its estimate when it does, and released without
    /// a record when it does not. Set it to `false` only on the provider's word.
    pub fn with_failed_requests_billed(mut self, billed: bool) -> Self {
        self.failed_requests_billed = billed;
        self
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
    /// [`SubscriptionTier`]); the active tier's fee is listed in [`Catalog::fixed_costs`](crate::Catalog::fixed_costs).
    pub fn with_subscription(
        mut self,
        tiers: Vec<SubscriptionTier>,
        active: impl Into<String>,
    ) -> Self {
        self.subscription = Some(Subscription {
            tiers,
            active: active.into(),
        });
        self
    }

    /// The subscription, if the entry is priced by one.
    pub fn subscription(&self) -> Option<&Subscription> {
        self.subscription.as_ref()
    }

    /// Sets the billing increment of one usage kind.
    pub fn increment(mut self, kind: UsageKind, increment: Increment) -> Self {
        self.increments.retain(|(k, _)| *k != kind);
        self.increments.push((kind, increment));
        self
    }

    /// Sets the fee rule applied to payments ([`UsageKind::Transactions`]).
    pub fn with_fee(mut self, fee: FeeRule) -> Self {
        self.fee = Some(fee);
        self
    }

    /// Records where the price comes from and when it was last checked against that source.
    pub fn with_source(mut self, source: impl Into<String>, checked: Option<NaiveDate>) -> Self {
        self.source = source.into();
        self.checked = checked;
        self
    }

    /// Records how the price entered the catalog (see [`PriceOrigin`]; [`PriceOrigin::Manual`] unless set).
    pub fn with_origin(mut self, origin: PriceOrigin) -> Self {
        self.origin = origin;
        self
    }

    /// The time from which this version of the price is in force (inclusive). Without it, the version
    /// is in force from the beginning of time.
    pub fn with_effective_from(mut self, from: DateTime<Utc>) -> Self {
        self.effective_from = Some(from);
        self
    }

    /// The time at which this version stops being in force (exclusive). Without it, the version is in
    /// force until the next version of the same provider and model starts, or forever.
    pub fn with_effective_to(mut self, to: DateTime<Utc>) -> Self {
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
    pub fn fee(&self) -> Option<&FeeRule> {
        self.fee.as_ref()
    }

    /// Where the price comes from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// When the price was last checked against its source.
    pub fn checked(&self) -> Option<NaiveDate> {
        self.checked
    }

    /// Whether the provider bills a request that fails or is cancelled (see
    /// [`with_failed_requests_billed`](Self::with_failed_requests_billed)).
    pub fn failed_requests_billed(&self) -> bool {
        self.failed_requests_billed
    }

    /// How the price entered the catalog.
    pub fn origin(&self) -> PriceOrigin {
        self.origin
    }

    /// Start of the version's validity, if it has one.
    pub fn effective_from(&self) -> Option<DateTime<Utc>> {
        self.effective_from
    }

    /// End of the version's validity as given, if it has one.
    pub fn effective_to(&self) -> Option<DateTime<Utc>> {
        self.effective_to
    }

    pub(super) fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }

    pub(super) fn err(&self, field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Catalog {
            entry: self.name(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}
