//! Google Gemini: the `usageMetadata` of a Live API server message, and of a `generateContent`
//! response (the same object; the Live API names its output `response…`, `generateContent` names it
//! `candidates…`).
//!
//! The Live API bills every turn for all the tokens in the session's context window, the audio of
//! earlier turns included, at the input rates: each turn's `usageMetadata` reports them, so a
//! session costs the sum of its turns' usages as reported (see [`RealtimeTurns`](super::RealtimeTurns)).

use serde::{Deserialize, Serialize};

use super::parts::part_of;
use crate::base::error::Result;
use crate::base::usage::TokenUsage;

/// One modality's tokens (`{"modality": "AUDIO", "tokenCount": 165}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct GeminiModalityTokens {
    /// `TEXT`, `AUDIO`, `IMAGE`, `VIDEO` or `DOCUMENT`.
    pub modality: String,
    /// Tokens of that modality.
    pub token_count: u64,
}

/// A Gemini `usageMetadata` object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[non_exhaustive]
pub struct GeminiUsage {
    /// The prompt's tokens, the context of earlier turns and the cached part included.
    pub prompt_token_count: u64,
    /// The part of the prompt read from the context cache.
    pub cached_content_token_count: u64,
    /// The output's tokens (Live API).
    pub response_token_count: u64,
    /// The output's tokens (`generateContent`).
    pub candidates_token_count: u64,
    /// Tokens of tool results added to the prompt.
    pub tool_use_prompt_token_count: u64,
    /// Thinking tokens (billed at the output rate).
    pub thoughts_token_count: u64,
    /// All of them.
    pub total_token_count: u64,
    /// The prompt by modality.
    pub prompt_tokens_details: Vec<GeminiModalityTokens>,
    /// The cached part by modality.
    pub cache_tokens_details: Vec<GeminiModalityTokens>,
    /// The output by modality (Live API).
    pub response_tokens_details: Vec<GeminiModalityTokens>,
    /// The output by modality (`generateContent`).
    pub candidates_tokens_details: Vec<GeminiModalityTokens>,
}

/// Text tokens and audio tokens of a modality breakdown; every other modality (image, video,
/// document) goes with audio, and so do tokens the breakdown does not account for: the dearer input
/// rate, so that a missing breakdown never shows a turn as cheaper than it was.
fn text_and_audio(details: &[GeminiModalityTokens], total: u64) -> (u64, u64) {
    let text: u64 = details
        .iter()
        .filter(|d| d.modality.eq_ignore_ascii_case("TEXT"))
        .map(|d| d.token_count)
        .fold(0, u64::saturating_add);
    (text, total.saturating_sub(text))
}

impl GeminiUsage {
    /// The usage in callmeter's terms: uncached and cached text and audio input, text and audio
    /// output, thinking as reasoning. Tool-use prompt tokens are text input. Tokens of other
    /// modalities (image, video), and tokens no modality detail accounts for, are billed as audio.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when a cached part exceeds its
    /// modality's prompt tokens.
    pub fn to_token_usage(&self) -> Result<TokenUsage> {
        let (text_in, audio_in) =
            text_and_audio(&self.prompt_tokens_details, self.prompt_token_count);
        let (text_cached, audio_cached) =
            text_and_audio(&self.cache_tokens_details, self.cached_content_token_count);
        let text_in = part_of(text_in, text_cached, "Gemini text prompt tokens")?;
        let audio_in = part_of(audio_in, audio_cached, "Gemini audio prompt tokens")?;
        let (output, output_details) = if self.response_token_count > 0 {
            (self.response_token_count, &self.response_tokens_details)
        } else {
            (self.candidates_token_count, &self.candidates_tokens_details)
        };
        let (text_out, audio_out) = text_and_audio(output_details, output);
        Ok(TokenUsage::new(
            text_in.saturating_add(self.tool_use_prompt_token_count),
            text_out,
        )
        .with_cached_input(text_cached)
        .with_audio(audio_in, audio_out)
        .with_cached_audio_input(audio_cached)
        .with_reasoning(self.thoughts_token_count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_turn_splits_text_audio_cache_and_thinking() -> Result<()> {
        // A turn as the Live API reports it: 522 prompt tokens, of which 332 text and 165 audio
        // detailed (25 not detailed), 42 audio tokens out, 136 thinking.
        let usage: GeminiUsage = serde_json::from_str(
            r#"{"promptTokenCount": 522, "responseTokenCount": 42, "totalTokenCount": 700,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 332},
                                        {"modality": "AUDIO", "tokenCount": 165}],
                "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 42}],
                "thoughtsTokenCount": 136}"#,
        )
        .expect("a usageMetadata object");
        let t = usage.to_token_usage()?;
        assert_eq!(
            (t.input, t.audio_input),
            (332, 190),
            "the 25 undetailed go with audio"
        );
        assert_eq!((t.output, t.audio_output, t.reasoning), (0, 42, 136));
        assert_eq!(t.total(), 522 + 42 + 136);
        Ok(())
    }

    #[test]
    fn cached_tokens_come_off_their_modality() -> Result<()> {
        let usage = GeminiUsage {
            prompt_token_count: 1_000,
            cached_content_token_count: 600,
            prompt_tokens_details: vec![
                GeminiModalityTokens {
                    modality: "TEXT".into(),
                    token_count: 400,
                },
                GeminiModalityTokens {
                    modality: "AUDIO".into(),
                    token_count: 600,
                },
            ],
            cache_tokens_details: vec![
                GeminiModalityTokens {
                    modality: "TEXT".into(),
                    token_count: 300,
                },
                GeminiModalityTokens {
                    modality: "AUDIO".into(),
                    token_count: 300,
                },
            ],
            candidates_token_count: 50,
            ..GeminiUsage::default()
        };
        let t = usage.to_token_usage()?;
        assert_eq!((t.input, t.cached_input), (100, 300));
        assert_eq!((t.audio_input, t.cached_audio_input), (300, 300));
        assert_eq!(t.audio_output, 50, "undetailed output is audio");
        let too_much = GeminiUsage {
            cached_content_token_count: 1_001,
            ..usage
        };
        assert!(too_much.to_token_usage().is_err());
        Ok(())
    }
}
