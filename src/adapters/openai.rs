//! OpenAI: a response's `usage` (Chat Completions and the Realtime API), and what the organization
//! APIs report as billed (the Costs API) and counted (the Usage API).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::billed::*;
use super::parts::*;
use crate::base::error::Result;
use crate::base::usage::{TokenUsage, Unit};

/// `prompt_tokens_details` / `input_tokens_details` of an OpenAI usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiInputDetails {
    /// Tokens read from the prompt cache.
    pub cached_tokens: u64,
    /// Audio tokens in the prompt.
    pub audio_tokens: u64,
}

/// `completion_tokens_details` / `output_tokens_details` of an OpenAI usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiOutputDetails {
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Audio tokens produced.
    pub audio_tokens: u64,
}

/// The `usage` object of an OpenAI Chat Completions or Responses API response (both spellings are
/// read: `prompt_tokens` / `input_tokens`, `completion_tokens` / `output_tokens`, and their details).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiUsage {
    /// Input tokens, gross: cached and audio tokens included.
    #[serde(alias = "input_tokens")]
    pub prompt_tokens: u64,
    /// Output tokens, gross: reasoning and audio tokens included.
    #[serde(alias = "output_tokens")]
    pub completion_tokens: u64,
    /// Details of the input.
    #[serde(alias = "input_tokens_details")]
    pub prompt_tokens_details: OpenAiInputDetails,
    /// Details of the output.
    #[serde(alias = "output_tokens_details")]
    pub completion_tokens_details: OpenAiOutputDetails,
}

impl OpenAiUsage {
    /// The usage in callmeter's terms, each token once.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when a detail exceeds its total.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let i = &self.prompt_tokens_details;
        let o = &self.completion_tokens_details;
        let uncached = part_of(self.prompt_tokens, i.cached_tokens, "prompt tokens")?;
        let text_in = part_of(uncached, i.audio_tokens, "prompt tokens")?;
        let after_reasoning = part_of(
            self.completion_tokens,
            o.reasoning_tokens,
            "completion tokens",
        )?;
        let text_out = part_of(after_reasoning, o.audio_tokens, "completion tokens")?;
        Ok(TokenUsage::new(text_in, text_out)
            .with_cached_input(i.cached_tokens)
            .with_reasoning(o.reasoning_tokens)
            .with_audio(i.audio_tokens, o.audio_tokens))
    }
}

/// The cached part of a realtime response's input, by modality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RealtimeCachedDetails {
    /// Cached text tokens.
    pub text_tokens: u64,
    /// Cached audio tokens.
    pub audio_tokens: u64,
}

/// `input_token_details` of a realtime response's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RealtimeInputDetails {
    /// Cached tokens, text and audio.
    pub cached_tokens: u64,
    /// Text tokens, cached ones included.
    pub text_tokens: u64,
    /// Audio tokens, cached ones included.
    pub audio_tokens: u64,
    /// Image tokens, cached ones included (billed as text input).
    pub image_tokens: u64,
    /// The cached tokens by modality.
    pub cached_tokens_details: Option<RealtimeCachedDetails>,
}

/// `output_token_details` of a realtime response's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RealtimeOutputDetails {
    /// Text tokens.
    pub text_tokens: u64,
    /// Audio tokens.
    pub audio_tokens: u64,
}

/// The `response.usage` of an OpenAI Realtime `response.done` event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct RealtimeUsage {
    /// All input tokens.
    pub input_tokens: u64,
    /// All output tokens.
    pub output_tokens: u64,
    /// Input by modality, with the cached part.
    pub input_token_details: RealtimeInputDetails,
    /// Output by modality.
    pub output_token_details: RealtimeOutputDetails,
}

impl RealtimeUsage {
    /// The usage in callmeter's terms: uncached and cached text and audio input, text and audio output.
    /// Without a modality breakdown of the cached tokens, they are taken as text. Image tokens are
    /// billed as text input. Tokens the details do not account for (some `response.done` events carry
    /// only `input_tokens` and `output_tokens`) are billed as audio, the dearer modality, so that a
    /// missing breakdown never shows a speech-to-speech turn as cheaper than it was.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when a cached part exceeds its modality's tokens.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let i = &self.input_token_details;
        let o = &self.output_token_details;
        let cached = i.cached_tokens_details.unwrap_or(RealtimeCachedDetails {
            text_tokens: i.cached_tokens,
            audio_tokens: 0,
        });
        let text_in = part_of(
            i.text_tokens.saturating_add(i.image_tokens),
            cached.text_tokens,
            "realtime text input tokens",
        )?;
        let audio_in = part_of(
            i.audio_tokens,
            cached.audio_tokens,
            "realtime audio input tokens",
        )?;
        let listed_in = i
            .text_tokens
            .saturating_add(i.image_tokens)
            .saturating_add(i.audio_tokens);
        let unlisted_in = self.input_tokens.saturating_sub(listed_in);
        let unlisted_out = self
            .output_tokens
            .saturating_sub(o.text_tokens.saturating_add(o.audio_tokens));
        Ok(TokenUsage::new(text_in, o.text_tokens)
            .with_cached_input(cached.text_tokens)
            .with_audio(
                audio_in.saturating_add(unlisted_in),
                o.audio_tokens.saturating_add(unlisted_out),
            )
            .with_cached_audio_input(cached.audio_tokens))
    }
}

/// A page of OpenAI's organization costs (`GET https://api.openai.com/v1/organization/costs`,
/// daily buckets, best grouped by `line_item`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiCosts {
    /// Daily buckets.
    pub data: Vec<OpenAiCostBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of OpenAI's costs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiCostBucket {
    /// Its start, in Unix seconds.
    pub start_time: i64,
    /// Its end, in Unix seconds.
    pub end_time: i64,
    /// Its costs, one per group.
    pub results: Vec<OpenAiCostResult>,
}

/// One cost of a day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiCostResult {
    /// The amount and its currency.
    pub amount: OpenAiAmount,
    /// With `group_by=line_item`: the line item (`gpt-4o-mini-2024-07-18, input`).
    pub line_item: Option<String>,
    /// With `group_by=project_id`: the project.
    pub project_id: Option<String>,
}

/// An amount of OpenAI's costs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiAmount {
    /// The value, in units of `currency` (dollars, not cents).
    pub value: Amount,
    /// The currency (`usd`).
    pub currency: String,
}

impl OpenAiCosts {
    /// One line per day and result; a line item names its model (the text before its first comma:
    /// `gpt-4o-mini-2024-07-18, input` bills `gpt-4o-mini-2024-07-18`).
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`](crate::Error::BilledRecord) for an amount that is not a number, or in another currency without a
    /// rate.
    pub fn billed_lines(&self, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for bucket in &self.data {
            let day = day_of_unix(bucket.start_time, "openai", "bucket")?;
            for r in &bucket.results {
                let item = r.line_item.clone().unwrap_or_else(|| "costs".to_owned());
                let id = format!(
                    "{day}/{}/{}",
                    r.project_id.as_deref().unwrap_or(""),
                    r.line_item.as_deref().unwrap_or("")
                );
                let value = r.amount.value.exact("openai", &id)?;
                let amount = in_usd(value, &r.amount.currency, rate, "openai", &id)?;
                let mut line = BilledLine::new("openai", id, day, item, amount);
                if let Some(li) = &r.line_item {
                    let model = li.split(',').next().unwrap_or(li).trim();
                    if !model.is_empty() {
                        line = line.model(model);
                    }
                }
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

/// A page of OpenAI's organization usage (`GET /v1/organization/usage/completions`,
/// `…/audio_speeches`, `…/audio_transcriptions`; daily buckets, best grouped by `model`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiUsageReport {
    /// Daily buckets.
    pub data: Vec<OpenAiUsageBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of OpenAI's usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiUsageBucket {
    /// Its start, in Unix seconds.
    pub start_time: i64,
    /// Its end, in Unix seconds.
    pub end_time: i64,
    /// Its usage, one per group.
    #[serde(alias = "result")]
    pub results: Vec<OpenAiUsageResult>,
}

/// One usage result: completions count tokens, audio speeches characters, audio transcriptions
/// seconds (each field absent from the others).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct OpenAiUsageResult {
    /// `organization.usage.completions.result`, `organization.usage.audio_speeches.result`,
    /// `organization.usage.audio_transcriptions.result` …
    pub object: String,
    /// Text input tokens, cached ones included.
    pub input_tokens: u64,
    /// Text input tokens read from the cache (part of `input_tokens`).
    pub input_cached_tokens: u64,
    /// Text output tokens.
    pub output_tokens: u64,
    /// Audio input tokens, cached ones included.
    pub input_audio_tokens: u64,
    /// Audio output tokens.
    pub output_audio_tokens: u64,
    /// Characters synthesised (audio speeches).
    pub characters: u64,
    /// Seconds transcribed (audio transcriptions).
    pub seconds: Option<Amount>,
    /// Requests.
    pub num_model_requests: u64,
    /// With `group_by=model`: the model.
    pub model: Option<String>,
    /// With `group_by=project_id`: the project.
    pub project_id: Option<String>,
}

impl OpenAiUsageReport {
    /// One usage per day and result: completions in tokens (text and audio, input and output),
    /// audio speeches in characters, audio transcriptions in seconds; other kinds of usage
    /// (embeddings, images …) are not voice and are left out.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`](crate::Error::BilledRecord) for a bucket time out of range or seconds that are not a number.
    pub fn billed_usage(&self) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for bucket in &self.data {
            let day = day_of_unix(bucket.start_time, "openai", "bucket")?;
            for r in &bucket.results {
                let kind = r
                    .object
                    .strip_prefix("organization.usage.")
                    .and_then(|k| k.strip_suffix(".result"))
                    .unwrap_or("");
                let id = format!(
                    "{day}/{kind}/{}/{}",
                    r.project_id.as_deref().unwrap_or(""),
                    r.model.as_deref().unwrap_or("")
                );
                let (unit, quantity) = match kind {
                    "completions" => (
                        Unit::Token,
                        Decimal::from(
                            r.input_tokens
                                .saturating_add(r.output_tokens)
                                .saturating_add(r.input_audio_tokens)
                                .saturating_add(r.output_audio_tokens),
                        ),
                    ),
                    "audio_speeches" => (Unit::Character, Decimal::from(r.characters)),
                    "audio_transcriptions" => (
                        Unit::Second,
                        r.seconds
                            .as_ref()
                            .map_or(Ok(Decimal::ZERO), |s| s.exact("openai", &id))?,
                    ),
                    _ => continue,
                };
                let mut usage = BilledUsage::new("openai", id, day, unit, quantity);
                if let Some(m) = &r.model {
                    usage = usage.model(m.clone());
                }
                out.push(usage);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::Error;

    #[test]
    fn a_detail_larger_than_its_total_is_an_error_not_a_negative_count() {
        let bad = OpenAiUsage {
            prompt_tokens: 10,
            prompt_tokens_details: OpenAiInputDetails {
                cached_tokens: 11,
                audio_tokens: 0,
            },
            ..OpenAiUsage::default()
        };
        assert!(matches!(
            bad.to_token_usage(),
            Err(Error::InvalidQuantity { .. })
        ));
    }
}
