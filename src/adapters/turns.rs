//! A speech-to-speech session's turns, each one's usage as the provider reported it, summed.
//!
//! OpenAI's realtime models and Gemini Live both send the whole conversation to the model for every
//! response: each turn's reported input holds every earlier turn again, and is billed again. A
//! session therefore costs the sum of its turns' usages exactly as reported, never the last turn's
//! usage alone nor a difference of two turns.

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::usage::TokenUsage;

/// The turns of one speech-to-speech session so far.
///
/// # Examples
///
/// ```
/// use callmeter::TokenUsage;
/// use callmeter::adapters::RealtimeTurns;
///
/// let mut session = RealtimeTurns::default();
/// // Each turn's input holds the turns before it again.
/// session.add(TokenUsage::new(100, 0).with_audio(20, 40))?;
/// session.add(TokenUsage::new(100, 0).with_audio(20 + 40 + 25, 50))?;
/// assert_eq!(session.turns(), 2);
/// assert_eq!(session.total().audio_input, 20 + 85);
/// assert_eq!(session.total().input, 200, "the instructions are billed on every turn");
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RealtimeTurns {
    turns: u32,
    total: TokenUsage,
    last: Option<TokenUsage>,
}

impl RealtimeTurns {
    /// Adds one turn's usage, as reported (an OpenAI `response.done`'s usage, a Gemini Live
    /// `usageMetadata`, converted with their `to_token_usage`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when a sum would pass `u64::MAX` tokens; nothing is added then.
    pub fn add(&mut self, turn: TokenUsage) -> Result<()> {
        let overflow = || Error::InvalidQuantity {
            what: "realtime session tokens",
            reason: "the session's token count passes u64::MAX",
        };
        let t = &self.total;
        let sum = |a: u64, b: u64| a.checked_add(b).ok_or_else(overflow);
        let total = TokenUsage {
            input: sum(t.input, turn.input)?,
            cached_input: sum(t.cached_input, turn.cached_input)?,
            cache_write: sum(t.cache_write, turn.cache_write)?,
            cache_write_1h: sum(t.cache_write_1h, turn.cache_write_1h)?,
            output: sum(t.output, turn.output)?,
            reasoning: sum(t.reasoning, turn.reasoning)?,
            audio_input: sum(t.audio_input, turn.audio_input)?,
            cached_audio_input: sum(t.cached_audio_input, turn.cached_audio_input)?,
            audio_output: sum(t.audio_output, turn.audio_output)?,
        };
        self.turns = self.turns.checked_add(1).ok_or_else(overflow)?;
        self.total = total;
        self.last = Some(turn);
        Ok(())
    }

    /// Turns added.
    pub fn turns(&self) -> u32 {
        self.turns
    }

    /// Every turn's usage summed: what the session is billed for.
    pub fn total(&self) -> TokenUsage {
        self.total
    }

    /// The last turn's usage.
    pub fn last(&self) -> Option<TokenUsage> {
        self.last
    }
}
