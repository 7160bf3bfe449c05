//! Provider objects, deserialised from the providers' own JSON and turned into what callmeter bills.
//!
//! One file per provider holds both its usage shapes (what a response or an event reports) and its
//! billing shapes (what its billing and usage APIs report): `openai`, `anthropic`, `deepgram`,
//! `elevenlabs`, `twilio`, `livekit`, `pipecat`, `gemini`; `billed` holds what they share, `turns` sums
//! a speech-to-speech session's turns.
//!
//! Language models each count cached tokens their own way:
//!
//! - **OpenAI** (Chat Completions, Responses) reports input tokens **gross**: `prompt_tokens` /
//!   `input_tokens` include the cached tokens and the audio tokens, and `completion_tokens` /
//!   `output_tokens` include reasoning and audio. callmeter subtracts the details, so each token is
//!   billed once at its own rate.
//! - **Anthropic** (Messages) reports input tokens **net**: `input_tokens` excludes
//!   `cache_read_input_tokens` and `cache_creation_input_tokens`. The 5-minute and 1-hour cache writes
//!   come from `cache_creation` when present; without it every write is a 5-minute write.
//! - **OpenAI Realtime** (`response.done`) reports text and audio apart, with the cached part of each.
//! - **Gemini** (`usageMetadata`, Live API and `generateContent`) reports the prompt **gross** by
//!   modality, the cached part included; thinking apart.
//!
//! Speech: Deepgram's pre-recorded response and live-stream messages, LiveKit Agents' STT and TTS
//! metrics. Telephony: Twilio's status callback and Call resource. What providers billed: Twilio's
//! Call resources and Usage Records, OpenAI's Costs API, Anthropic's cost report, Deepgram's
//! requests and invoice lines as CSV, as [`BilledLine`]s to reconcile with; what they counted, as
//! [`BilledUsage`].
//!
//! Missing counts are zero; a detail larger than the total it is part of, or a duration that is not a
//! number of seconds, is a typed error ([`Error::InvalidQuantity`](crate::Error::InvalidQuantity)), never a negative or made-up count.
//!
//! Layer: above `base` only; the tracker (`call`) turns these into track calls.

mod anthropic;
mod billed;
mod deepgram;
mod elevenlabs;
mod gemini;
mod livekit;
mod openai;
mod parts;
mod pipecat;
mod turns;
mod twilio;

pub use anthropic::{
    AnthropicCacheCreation, AnthropicCacheWrites, AnthropicCostBucket, AnthropicCostReport,
    AnthropicCostResult, AnthropicUsage, AnthropicUsageBucket, AnthropicUsageReport,
    AnthropicUsageResult,
};
pub use billed::{Amount, BilledLine, BilledUsage, ExchangeRate, invoice_lines_csv};
pub use deepgram::{
    DeepgramLiveMessage, DeepgramMetadata, DeepgramRequest, DeepgramRequestDetails,
    DeepgramRequestResponse, DeepgramRequests, DeepgramResponse, DeepgramStream,
    DeepgramUsageResult, DeepgramUsageSummary,
};
pub use elevenlabs::ElevenLabsCharacterStats;
pub use gemini::{GeminiModalityTokens, GeminiUsage};
pub use livekit::{LiveKitLlmMetrics, LiveKitMetadata, LiveKitSttMetrics, LiveKitTtsMetrics};
pub use openai::{
    OpenAiAmount, OpenAiCostBucket, OpenAiCostResult, OpenAiCosts, OpenAiInputDetails,
    OpenAiOutputDetails, OpenAiUsage, OpenAiUsageBucket, OpenAiUsageReport, OpenAiUsageResult,
    RealtimeCachedDetails, RealtimeInputDetails, RealtimeOutputDetails, RealtimeUsage,
};
pub use pipecat::PipecatTokenUsage;
pub use turns::RealtimeTurns;
pub use twilio::{
    TwilioCall, TwilioCallsPage, TwilioStatusCallback, TwilioUsageRecord, TwilioUsageRecords,
};
