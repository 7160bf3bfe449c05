//! Language-model usage objects: OpenAI Chat Completions / Responses, Anthropic Messages, the OpenAI
//! Realtime `response.done` usage, and the same counts as LiveKit Agents and Pipecat report them.

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::usage::TokenUsage;

/// `prompt_tokens_details` / `input_tokens_details` of an OpenAI usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiInputDetails {
    /// Tokens read from the prompt cache.
    pub cached_tokens: u64,
    /// Audio tokens in the prompt.
    pub audio_tokens: u64,
}

/// `completion_tokens_details` / `output_tokens_details` of an OpenAI usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
    /// [`Error::InvalidQuantity`] when a detail exceeds its total.
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

/// `cache_creation` of an Anthropic usage: cache writes by lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicCacheCreation {
    /// Tokens written with a 5-minute lifetime.
    pub ephemeral_5m_input_tokens: u64,
    /// Tokens written with a 1-hour lifetime.
    pub ephemeral_1h_input_tokens: u64,
}

/// The `usage` object of an Anthropic Messages API response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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

/// The cached part of a realtime response's input, by modality.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RealtimeCachedDetails {
    /// Cached text tokens.
    pub text_tokens: u64,
    /// Cached audio tokens.
    pub audio_tokens: u64,
}

/// `input_token_details` of a realtime response's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
pub struct RealtimeOutputDetails {
    /// Text tokens.
    pub text_tokens: u64,
    /// Audio tokens.
    pub audio_tokens: u64,
}

/// The `response.usage` of an OpenAI Realtime `response.done` event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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
    /// [`Error::InvalidQuantity`] when a cached part exceeds its modality's tokens.
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

/// LiveKit Agents' `LLMMetrics` (its `metrics_collected` events), as `model_dump()` writes it:
/// `prompt_tokens` is gross of `prompt_cached_tokens`, as LiveKit's OpenAI plugin fills it from
/// OpenAI's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LiveKitLlmMetrics {
    /// Input tokens, cached ones included.
    pub prompt_tokens: u64,
    /// Input tokens read from the cache.
    pub prompt_cached_tokens: u64,
    /// Output tokens.
    pub completion_tokens: u64,
}

impl LiveKitLlmMetrics {
    /// The usage in callmeter's terms.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when the cached tokens exceed the prompt tokens.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let uncached = part_of(
            self.prompt_tokens,
            self.prompt_cached_tokens,
            "prompt tokens",
        )?;
        Ok(TokenUsage::new(uncached, self.completion_tokens)
            .with_cached_input(self.prompt_cached_tokens))
    }
}

/// Pipecat's `LLMTokenUsage`, as `model_dump()` writes it. Its cache fields are net, as Pipecat's
/// Anthropic service fills them (`prompt_tokens` excludes cache reads and writes); its OpenAI service
/// leaves them empty, so a cache hit reported that way is priced as uncached input — track OpenAI's
/// own usage object ([`OpenAiUsage`]) to price it right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipecatTokenUsage {
    /// Input tokens not read from or written to the cache.
    pub prompt_tokens: u64,
    /// Output tokens, reasoning included.
    pub completion_tokens: u64,
    /// Tokens read from the cache.
    pub cache_read_input_tokens: Option<u64>,
    /// Tokens written to the cache.
    pub cache_creation_input_tokens: Option<u64>,
    /// Reasoning tokens (part of `completion_tokens`).
    pub reasoning_tokens: Option<u64>,
}

impl PipecatTokenUsage {
    /// The usage in callmeter's terms.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when the reasoning tokens exceed the completion tokens.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let reasoning = self.reasoning_tokens.unwrap_or(0);
        let output = part_of(self.completion_tokens, reasoning, "completion tokens")?;
        Ok(TokenUsage::new(self.prompt_tokens, output)
            .with_reasoning(reasoning)
            .with_cached_input(self.cache_read_input_tokens.unwrap_or(0))
            .with_cache_write(self.cache_creation_input_tokens.unwrap_or(0)))
    }
}

/// `total - part`, or a typed error when a detail is larger than the total it is part of.
fn part_of(total: u64, part: u64, what: &'static str) -> Result<u64> {
    total.checked_sub(part).ok_or(Error::InvalidQuantity {
        what,
        reason: "a detail of the usage is larger than the total it is part of",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
