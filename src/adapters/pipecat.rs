//! Pipecat: the token usage its LLM services report.

use serde::{Deserialize, Serialize};

use super::parts::*;
use crate::base::error::Result;
use crate::base::usage::TokenUsage;

/// Pipecat's `LLMTokenUsage`, as `model_dump()` writes it. Its cache fields are net, as Pipecat's
/// Anthropic service fills them (`prompt_tokens` excludes cache reads and writes); its OpenAI service
/// leaves them empty, so a cache hit reported that way is priced as uncached input — track OpenAI's
/// own usage object ([`OpenAiUsage`](crate::adapters::OpenAiUsage)) to price it right.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
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
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when the reasoning tokens exceed the completion tokens.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let reasoning = self.reasoning_tokens.unwrap_or(0);
        let output = part_of(self.completion_tokens, reasoning, "completion tokens")?;
        Ok(TokenUsage::new(self.prompt_tokens, output)
            .with_reasoning(reasoning)
            .with_cached_input(self.cache_read_input_tokens.unwrap_or(0))
            .with_cache_write(self.cache_creation_input_tokens.unwrap_or(0)))
    }
}
