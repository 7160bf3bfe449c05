//! Provider objects, deserialised from the providers' own JSON and turned into what callmeter bills.
//!
//! Language models (`llm`) each count cached tokens their own way:
//!
//! - **OpenAI** (Chat Completions, Responses) reports input tokens **gross**: `prompt_tokens` /
//!   `input_tokens` include the cached tokens and the audio tokens, and `completion_tokens` /
//!   `output_tokens` include reasoning and audio. callmeter subtracts the details, so each token is
//!   billed once at its own rate.
//! - **Anthropic** (Messages) reports input tokens **net**: `input_tokens` excludes
//!   `cache_read_input_tokens` and `cache_creation_input_tokens`. The 5-minute and 1-hour cache writes
//!   come from `cache_creation` when present; without it every write is a 5-minute write.
//! - **OpenAI Realtime** (`response.done`) reports text and audio apart, with the cached part of each.
//!
//! Speech (`speech`): Deepgram's pre-recorded response and live-stream messages, LiveKit Agents'
//! STT and TTS metrics. Telephony (`telephony`): Twilio's status callback and Call resource.
//! What providers billed (`billed`): Twilio's Call resources and Usage Records, OpenAI's Costs API,
//! Anthropic's cost report and invoice lines as CSV, as [`BilledLine`]s to reconcile with.
//!
//! Missing counts are zero; a detail larger than the total it is part of, or a duration that is not a
//! number of seconds, is a typed error ([`Error::InvalidQuantity`](crate::Error::InvalidQuantity)), never a negative or made-up count.
//!
//! Layer: above `base` only; the tracker (`call`) turns these into track calls.

mod billed;
mod llm;
mod speech;
mod telephony;

pub use billed::{
    Amount, AnthropicCacheWrites, AnthropicCostBucket, AnthropicCostReport, AnthropicCostResult,
    AnthropicUsageBucket, AnthropicUsageReport, AnthropicUsageResult, BilledLine, BilledUsage,
    DeepgramRequest, DeepgramRequestDetails, DeepgramRequestResponse, DeepgramRequests,
    DeepgramUsageResult, DeepgramUsageSummary, ElevenLabsCharacterStats, ExchangeRate,
    OpenAiAmount, OpenAiCostBucket, OpenAiCostResult, OpenAiCosts, OpenAiUsageBucket,
    OpenAiUsageReport, OpenAiUsageResult, TwilioCallsPage, TwilioUsageRecord, TwilioUsageRecords,
    invoice_lines_csv,
};
pub use llm::{
    AnthropicCacheCreation, AnthropicUsage, LiveKitLlmMetrics, OpenAiInputDetails,
    OpenAiOutputDetails, OpenAiUsage, PipecatTokenUsage, RealtimeCachedDetails,
    RealtimeInputDetails, RealtimeOutputDetails, RealtimeUsage,
};
pub use speech::{
    DeepgramLiveMessage, DeepgramMetadata, DeepgramResponse, DeepgramStream, LiveKitMetadata,
    LiveKitSttMetrics, LiveKitTtsMetrics,
};
pub use telephony::{TwilioCall, TwilioStatusCallback};
