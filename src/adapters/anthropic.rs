//! Anthropic: a message's `usage`, and the Admin API's cost and usage reports.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::billed::*;
use super::parts::*;
use crate::base::error::{Error, Result};
use crate::base::usage::{TokenUsage, Unit};

/// `cache_creation` of an Anthropic usage: cache writes by lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicCacheCreation {
    /// Tokens written with a 5-minute lifetime.
    pub ephemeral_5m_input_tokens: u64,
    /// Tokens written with a 1-hour lifetime.
    pub ephemeral_1h_input_tokens: u64,
}

/// The `usage` object of an Anthropic Messages API response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicUsage {
    /// Input tokens, net: neither read from nor written to the cache.
    pub input_tokens: u64,
    /// Output tokens (extended thinking included, billed as output).
    pub output_tokens: u64,
    /// Tokens written to the cache.
    pub cache_creation_input_tokens: u64,
    /// Tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// The cache writes by lifetime, when the API gives them.
    pub cache_creation: Option<AnthropicCacheCreation>,
}

impl AnthropicUsage {
    /// The usage in callmeter's terms.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when the writes by lifetime exceed the writes.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let (five, hour) = match self.cache_creation {
            Some(c) => {
                let listed = c
                    .ephemeral_5m_input_tokens
                    .checked_add(c.ephemeral_1h_input_tokens)
                    .ok_or(Error::InvalidQuantity {
                        what: "cache creation tokens",
                        reason: "out of range",
                    })?;
                // Writes the breakdown does not list are 5-minute writes, the default lifetime.
                let rest = part_of(
                    self.cache_creation_input_tokens.max(listed),
                    listed,
                    "cache creation tokens",
                )?;
                (
                    c.ephemeral_5m_input_tokens + rest,
                    c.ephemeral_1h_input_tokens,
                )
            }
            None => (self.cache_creation_input_tokens, 0),
        };
        Ok(TokenUsage::new(self.input_tokens, self.output_tokens)
            .with_cached_input(self.cache_read_input_tokens)
            .with_cache_write(five)
            .with_cache_write_1h(hour))
    }
}

/// A page of Anthropic's cost report (`GET https://api.anthropic.com/v1/organizations/cost_report`,
/// daily buckets, best grouped by `description`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicCostReport {
    /// Daily buckets.
    pub data: Vec<AnthropicCostBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of Anthropic's costs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicCostBucket {
    /// Its start (RFC 3339).
    pub starting_at: String,
    /// Its end (RFC 3339).
    pub ending_at: String,
    /// Its costs.
    pub results: Vec<AnthropicCostResult>,
}

/// One cost of a day. `amount` is in the currency's **lowest units** (cents), as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicCostResult {
    /// Cents, as a decimal text (`"123.78912"` is $1.2378912).
    pub amount: String,
    /// The currency (`USD`).
    pub currency: String,
    /// With `group_by=description`: the description.
    #[serde(deserialize_with = "null_as_empty")]
    pub description: String,
    /// With `group_by=description`: `tokens`, `web_search`, `code_execution` …
    pub cost_type: Option<String>,
    /// The model, for token costs.
    pub model: Option<String>,
    /// The token type (`uncached_input_tokens`, `output_tokens` …).
    pub token_type: Option<String>,
    /// The context window (`0-200k`).
    pub context_window: Option<String>,
    /// The service tier.
    pub service_tier: Option<String>,
    /// The workspace, when grouped by it.
    pub workspace_id: Option<String>,
}

impl AnthropicCostReport {
    /// One line per day and result, in dollars (cents ÷ 100, exactly).
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a bucket start that is not RFC 3339, an amount that is not a
    /// decimal, or another currency without a rate.
    pub fn billed_lines(&self, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for bucket in &self.data {
            let day = day_of_rfc3339(&bucket.starting_at, "anthropic", &bucket.starting_at)?;
            for r in &bucket.results {
                let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                let id = format!(
                    "{day}/{}/{}/{}/{}/{}/{}",
                    opt(&r.workspace_id),
                    r.description,
                    opt(&r.model),
                    opt(&r.token_type),
                    opt(&r.context_window),
                    opt(&r.service_tier)
                );
                let cents = decimal(&r.amount, "anthropic", &id)?;
                let amount = in_usd(
                    cents / Decimal::ONE_HUNDRED,
                    &r.currency,
                    rate,
                    "anthropic",
                    &id,
                )?;
                let item = if r.description.is_empty() {
                    opt(&r.cost_type)
                } else {
                    r.description.clone()
                };
                let mut line = BilledLine::new("anthropic", id, day, item, amount);
                if let Some(model) = &r.model {
                    line = line.model(model.clone());
                }
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

/// A page of Anthropic's usage report (`GET
/// https://api.anthropic.com/v1/organizations/usage_report/messages`, daily buckets, best grouped
/// by `model`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicUsageReport {
    /// Daily buckets.
    pub data: Vec<AnthropicUsageBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of Anthropic's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicUsageBucket {
    /// Its start (RFC 3339).
    pub starting_at: String,
    /// Its end (RFC 3339).
    pub ending_at: String,
    /// Its usage, one per group.
    pub results: Vec<AnthropicUsageResult>,
}

/// The tokens of one group of a day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicUsageResult {
    /// Input tokens neither read from nor written to the cache.
    pub uncached_input_tokens: u64,
    /// Input tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the cache.
    pub cache_creation: AnthropicCacheWrites,
    /// Output tokens.
    pub output_tokens: u64,
    /// With `group_by=model`: the model.
    pub model: Option<String>,
    /// With `group_by=workspace_id`: the workspace.
    pub workspace_id: Option<String>,
    /// With `group_by=api_key_id`: the key.
    pub api_key_id: Option<String>,
    /// With `group_by=service_tier`: the tier.
    pub service_tier: Option<String>,
    /// With `group_by=context_window`: the window.
    pub context_window: Option<String>,
}

/// Cache writes by lifetime.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct AnthropicCacheWrites {
    /// Written for five minutes.
    pub ephemeral_5m_input_tokens: u64,
    /// Written for an hour.
    pub ephemeral_1h_input_tokens: u64,
}

impl AnthropicUsageReport {
    /// One usage per day and result, in tokens: uncached, cache-read and cache-written input, and
    /// output.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a bucket start that is not RFC 3339.
    pub fn billed_usage(&self) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for bucket in &self.data {
            let day = day_of_rfc3339(&bucket.starting_at, "anthropic", &bucket.starting_at)?;
            for r in &bucket.results {
                let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                let id = format!(
                    "{day}/{}/{}/{}/{}/{}",
                    opt(&r.workspace_id),
                    opt(&r.api_key_id),
                    opt(&r.model),
                    opt(&r.service_tier),
                    opt(&r.context_window)
                );
                let tokens = [
                    r.uncached_input_tokens,
                    r.cache_read_input_tokens,
                    r.cache_creation.ephemeral_5m_input_tokens,
                    r.cache_creation.ephemeral_1h_input_tokens,
                    r.output_tokens,
                ]
                .into_iter()
                .fold(0_u64, u64::saturating_add);
                let mut usage =
                    BilledUsage::new("anthropic", id, day, Unit::Token, Decimal::from(tokens));
                if let Some(m) = &r.model {
                    usage = usage.model(m.clone());
                }
                out.push(usage);
            }
        }
        Ok(out)
    }
}
