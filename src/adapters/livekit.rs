//! LiveKit Agents: the metrics events of its LLM, STT and TTS plugins.

use serde::{Deserialize, Serialize};

use super::parts::*;
use crate::base::checked::millis;
use crate::base::error::Result;
use crate::base::usage::{TokenUsage, UsageKind};

/// LiveKit Agents' `LLMMetrics` (its `metrics_collected` events), as `model_dump()` writes it:
/// `prompt_tokens` is gross of `prompt_cached_tokens`, as LiveKit's OpenAI plugin fills it from
/// OpenAI's usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
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
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when the cached tokens exceed the prompt tokens.
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

/// `metadata` of a LiveKit Agents metrics event: the plugin's model and provider (`"Deepgram"`,
/// `"ElevenLabs"`, …; callmeter matches provider names without regard to case).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct LiveKitMetadata {
    /// The model, as the plugin names it.
    pub model_name: Option<String>,
    /// The provider, as the plugin names it.
    pub model_provider: Option<String>,
}

/// LiveKit Agents' `STTMetrics`, as `model_dump()` writes it. Streaming STT emits one per usage
/// report, each for the audio pushed since the last, so they add up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LiveKitSttMetrics {
    /// Seconds of audio pushed to the STT.
    pub audio_duration: f64,
    /// Whether the STT streams (a WebSocket) rather than answering requests.
    #[serde(default)]
    pub streamed: bool,
    /// The plugin's model and provider; absent from older versions.
    #[serde(default)]
    pub metadata: Option<LiveKitMetadata>,
}

impl LiveKitSttMetrics {
    /// Seconds of audio, checked, for
    /// [`CallCostTracker::track_stt`](crate::CallCostTracker::track_stt).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when `audio_duration` is negative, not finite, or absurdly large.
    pub fn audio_seconds(&self) -> Result<f64> {
        millis(UsageKind::AudioSeconds, self.audio_duration).map(seconds_of)
    }
}

/// LiveKit Agents' `TTSMetrics`, as `model_dump()` writes it: one per synthesis, with the characters
/// sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LiveKitTtsMetrics {
    /// Characters sent to the TTS.
    pub characters_count: u64,
    /// Seconds of audio produced.
    #[serde(default)]
    pub audio_duration: f64,
    /// Whether the synthesis was cancelled (its characters are billed all the same).
    #[serde(default)]
    pub cancelled: bool,
    /// The plugin's model and provider; absent from older versions.
    #[serde(default)]
    pub metadata: Option<LiveKitMetadata>,
}
