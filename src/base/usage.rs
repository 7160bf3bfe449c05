//! What can be billed: cost categories, usage kinds, units and token counts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The stage of a voice pipeline a cost belongs to; stored as the `category` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Category {
    /// Phone-network minutes and recordings (Twilio).
    Telephony,
    /// Speech-to-text (Deepgram).
    Stt,
    /// Text language models (OpenAI, Anthropic, Cerebras).
    Llm,
    /// Text-to-speech (ElevenLabs, Cartesia, OpenAI tts-1).
    Tts,
    /// Speech-to-speech realtime models (OpenAI realtime).
    Realtime,
    /// Media transport and rooms (LiveKit).
    Transport,
    /// Payment processing fees (Stripe).
    Payment,
    /// Platform and infrastructure charges.
    Platform,
    /// Anything else.
    Other,
}

impl Category {
    /// Number of categories.
    pub(crate) const COUNT: usize = 9;

    /// Every category, in column order.
    pub const ALL: [Category; Category::COUNT] = [
        Category::Telephony,
        Category::Stt,
        Category::Llm,
        Category::Tts,
        Category::Realtime,
        Category::Transport,
        Category::Payment,
        Category::Platform,
        Category::Other,
    ];

    /// The name stored in the database (`"telephony"`, `"stt"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Telephony => "telephony",
            Category::Stt => "stt",
            Category::Llm => "llm",
            Category::Tts => "tts",
            Category::Realtime => "realtime",
            Category::Transport => "transport",
            Category::Payment => "payment",
            Category::Platform => "platform",
            Category::Other => "other",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The unit a usage kind is counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unit {
    /// Model tokens.
    Token,
    /// Characters of text.
    Character,
    /// Seconds of time (kept internally to the millisecond).
    Second,
    /// Payment transactions.
    Transaction,
    /// API requests.
    Request,
    /// Tracked events: what a coalesced row counts (the events it stands for, dropped from a full
    /// queue). Nothing is priced per event.
    Event,
}

impl Unit {
    /// Every unit.
    pub const ALL: [Unit; 6] = [
        Unit::Token,
        Unit::Character,
        Unit::Second,
        Unit::Transaction,
        Unit::Request,
        Unit::Event,
    ];

    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Unit::Token => "token",
            Unit::Character => "character",
            Unit::Second => "second",
            Unit::Transaction => "transaction",
            Unit::Request => "request",
            Unit::Event => "event",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One billable quantity a provider puts a price on.
///
/// Time-based kinds are counted in milliseconds inside callmeter and priced per second or per minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsageKind {
    /// Uncached text input (prompt) tokens.
    InputTokens,
    /// Input tokens read from the provider's prompt cache (a cache hit).
    CachedInputTokens,
    /// Input tokens written to the prompt cache with the default lifetime (5 minutes at Anthropic).
    CacheWriteTokens,
    /// Input tokens written to the prompt cache with a one-hour lifetime.
    CacheWrite1hTokens,
    /// Output (completion) tokens, reasoning not included.
    OutputTokens,
    /// Reasoning ("thinking") output tokens; billed at the output rate unless the model prices them.
    ReasoningTokens,
    /// Uncached audio input tokens (realtime and audio models).
    AudioInputTokens,
    /// Audio input tokens read from the prompt cache.
    CachedAudioInputTokens,
    /// Audio output tokens (realtime and audio models).
    AudioOutputTokens,
    /// Characters of text synthesised to speech.
    Characters,
    /// Seconds of audio transcribed.
    AudioSeconds,
    /// Seconds of a phone call (the direction is the model: `outbound-us`, `inbound-us`).
    CallSeconds,
    /// Seconds of audio sent to a realtime model.
    AudioInputSeconds,
    /// Seconds of audio produced by a realtime model.
    AudioOutputSeconds,
    /// Participant-seconds in a media room (participants × seconds).
    ParticipantSeconds,
    /// API requests priced per request.
    Requests,
    /// Payment transactions, priced by a fee rule on the amount charged.
    Transactions,
}

impl UsageKind {
    /// Number of usage kinds.
    pub(crate) const COUNT: usize = 17;

    /// Every usage kind.
    pub const ALL: [UsageKind; UsageKind::COUNT] = [
        UsageKind::InputTokens,
        UsageKind::CachedInputTokens,
        UsageKind::CacheWriteTokens,
        UsageKind::CacheWrite1hTokens,
        UsageKind::OutputTokens,
        UsageKind::ReasoningTokens,
        UsageKind::AudioInputTokens,
        UsageKind::CachedAudioInputTokens,
        UsageKind::AudioOutputTokens,
        UsageKind::Characters,
        UsageKind::AudioSeconds,
        UsageKind::CallSeconds,
        UsageKind::AudioInputSeconds,
        UsageKind::AudioOutputSeconds,
        UsageKind::ParticipantSeconds,
        UsageKind::Requests,
        UsageKind::Transactions,
    ];

    /// The unit this kind is counted in.
    pub const fn unit(self) -> Unit {
        match self {
            UsageKind::InputTokens
            | UsageKind::CachedInputTokens
            | UsageKind::CacheWriteTokens
            | UsageKind::CacheWrite1hTokens
            | UsageKind::OutputTokens
            | UsageKind::ReasoningTokens
            | UsageKind::AudioInputTokens
            | UsageKind::CachedAudioInputTokens
            | UsageKind::AudioOutputTokens => Unit::Token,
            UsageKind::Characters => Unit::Character,
            UsageKind::AudioSeconds
            | UsageKind::CallSeconds
            | UsageKind::AudioInputSeconds
            | UsageKind::AudioOutputSeconds
            | UsageKind::ParticipantSeconds => Unit::Second,
            UsageKind::Requests => Unit::Request,
            UsageKind::Transactions => Unit::Transaction,
        }
    }

    /// A short snake_case name (`"input_tokens"`, `"call_seconds"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            UsageKind::InputTokens => "input_tokens",
            UsageKind::CachedInputTokens => "cached_input_tokens",
            UsageKind::CacheWriteTokens => "cache_write_tokens",
            UsageKind::CacheWrite1hTokens => "cache_write_1h_tokens",
            UsageKind::OutputTokens => "output_tokens",
            UsageKind::ReasoningTokens => "reasoning_tokens",
            UsageKind::AudioInputTokens => "audio_input_tokens",
            UsageKind::CachedAudioInputTokens => "cached_audio_input_tokens",
            UsageKind::AudioOutputTokens => "audio_output_tokens",
            UsageKind::Characters => "characters",
            UsageKind::AudioSeconds => "audio_seconds",
            UsageKind::CallSeconds => "call_seconds",
            UsageKind::AudioInputSeconds => "audio_input_seconds",
            UsageKind::AudioOutputSeconds => "audio_output_seconds",
            UsageKind::ParticipantSeconds => "participant_seconds",
            UsageKind::Requests => "requests",
            UsageKind::Transactions => "transactions",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for UsageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token counts of one model request, in callmeter's own terms.
///
/// The fields do not overlap, so none is billed twice: `input` is the uncached text input only, so a
/// request that read 800 of its 1 000 prompt tokens from the cache is `input: 200, cached_input: 800`;
/// `output` is the visible output only, and `reasoning` the reasoning tokens beside it. Providers differ
/// here: OpenAI reports prompt tokens including cached ones and completion tokens including reasoning;
/// Anthropic reports input excluding cache reads and writes. Convert before tracking.
///
/// A request may carry at most eight non-zero kinds (no provider reports more at once).
///
/// # Examples
///
/// ```
/// use callmeter::TokenUsage;
///
/// let usage = TokenUsage::new(9_000, 1_000).with_cached_input(4_000);
/// assert_eq!(usage.total(), 14_000);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TokenUsage {
    /// Uncached text input tokens.
    pub input: u64,
    /// Input tokens read from the prompt cache.
    pub cached_input: u64,
    /// Input tokens written to the prompt cache with the default (5-minute) lifetime.
    pub cache_write: u64,
    /// Input tokens written to the prompt cache with a one-hour lifetime.
    pub cache_write_1h: u64,
    /// Visible text output tokens, reasoning not included.
    pub output: u64,
    /// Reasoning ("thinking") tokens.
    pub reasoning: u64,
    /// Uncached audio input tokens.
    pub audio_input: u64,
    /// Audio input tokens read from the prompt cache.
    pub cached_audio_input: u64,
    /// Audio output tokens.
    pub audio_output: u64,
}

impl TokenUsage {
    /// Text input and output tokens, nothing cached.
    pub const fn new(input: u64, output: u64) -> Self {
        TokenUsage {
            input,
            cached_input: 0,
            cache_write: 0,
            cache_write_1h: 0,
            output,
            reasoning: 0,
            audio_input: 0,
            cached_audio_input: 0,
            audio_output: 0,
        }
    }

    /// Sets the input tokens read from the prompt cache.
    pub const fn with_cached_input(mut self, tokens: u64) -> Self {
        self.cached_input = tokens;
        self
    }

    /// Sets the input tokens written to the prompt cache with the default (5-minute) lifetime.
    pub const fn with_cache_write(mut self, tokens: u64) -> Self {
        self.cache_write = tokens;
        self
    }

    /// Sets the input tokens written to the prompt cache with a one-hour lifetime.
    pub const fn with_cache_write_1h(mut self, tokens: u64) -> Self {
        self.cache_write_1h = tokens;
        self
    }

    /// Sets the reasoning tokens (not included in `output`).
    pub const fn with_reasoning(mut self, tokens: u64) -> Self {
        self.reasoning = tokens;
        self
    }

    /// Sets the uncached audio input and the audio output tokens.
    pub const fn with_audio(mut self, input: u64, output: u64) -> Self {
        self.audio_input = input;
        self.audio_output = output;
        self
    }

    /// Sets the audio input tokens read from the prompt cache.
    pub const fn with_cached_audio_input(mut self, tokens: u64) -> Self {
        self.cached_audio_input = tokens;
        self
    }

    /// All tokens of every kind (saturating).
    pub fn total(&self) -> u64 {
        self.parts()
            .iter()
            .fold(0_u64, |sum, &(_, n)| sum.saturating_add(n))
    }

    /// The prompt's size as context-length tiers count it: every input token, text and audio, cached,
    /// written to the cache or not (saturating).
    pub fn prompt(&self) -> u64 {
        self.input
            .saturating_add(self.cached_input)
            .saturating_add(self.cache_write)
            .saturating_add(self.cache_write_1h)
            .saturating_add(self.audio_input)
            .saturating_add(self.cached_audio_input)
    }

    pub(crate) const fn parts(&self) -> [(UsageKind, u64); 9] {
        [
            (UsageKind::InputTokens, self.input),
            (UsageKind::CachedInputTokens, self.cached_input),
            (UsageKind::CacheWriteTokens, self.cache_write),
            (UsageKind::CacheWrite1hTokens, self.cache_write_1h),
            (UsageKind::OutputTokens, self.output),
            (UsageKind::ReasoningTokens, self.reasoning),
            (UsageKind::AudioInputTokens, self.audio_input),
            (UsageKind::CachedAudioInputTokens, self.cached_audio_input),
            (UsageKind::AudioOutputTokens, self.audio_output),
        ]
    }
}

/// The most tokens of one kind a single track call accepts.
pub(crate) const MAX_TOKENS_PER_TRACK: u64 = 1_000_000_000;
/// The most non-zero kinds in one [`TokenUsage`].
pub(crate) const MAX_TOKEN_KINDS: usize = 8;
/// The most characters a single track call accepts.
pub(crate) const MAX_CHARACTERS_PER_TRACK: u64 = 1_000_000_000;
/// The most seconds a single track call accepts (one day).
pub(crate) const MAX_SECONDS_PER_TRACK: f64 = 86_400.0;
/// The most participants a single track call accepts.
pub(crate) const MAX_PARTICIPANTS: u32 = 100_000;

/// A validated quantity, in base units (tokens, characters, milliseconds, transactions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Measure {
    /// A model request's tokens.
    Tokens(TokenUsage),
    /// One quantity of one kind.
    Quantity(UsageKind, u64),
    /// Two quantities (realtime audio in and out).
    Pair([(UsageKind, u64); 2]),
    /// One payment of this many nano-dollars, with its surcharge flags.
    Payment(i64, u8),
}

impl Measure {
    /// The (kind, base quantity) pairs this measure bills.
    pub(crate) fn for_each(&self, mut f: impl FnMut(UsageKind, u64)) {
        match self {
            Measure::Tokens(t) => t.parts().into_iter().for_each(|(k, n)| f(k, n)),
            Measure::Quantity(k, n) => f(*k, *n),
            Measure::Pair(parts) => parts.iter().for_each(|&(k, n)| f(k, n)),
            Measure::Payment(..) => f(UsageKind::Transactions, 1),
        }
    }

    /// The category a usage of this shape belongs to when the catalog does not say.
    pub(crate) fn default_category(&self) -> Category {
        match self {
            Measure::Tokens(_) => Category::Llm,
            Measure::Quantity(UsageKind::Characters, _) => Category::Tts,
            Measure::Quantity(UsageKind::AudioSeconds, _) => Category::Stt,
            Measure::Quantity(UsageKind::CallSeconds, _) => Category::Telephony,
            Measure::Quantity(UsageKind::ParticipantSeconds, _) => Category::Transport,
            Measure::Pair(_) => Category::Realtime,
            Measure::Payment(..) => Category::Payment,
            Measure::Quantity(..) => Category::Other,
        }
    }

    /// The headline quantity and unit stored with the event.
    pub(crate) fn headline(&self) -> (f64, Unit) {
        match self {
            Measure::Tokens(t) => (t.total() as f64, Unit::Token),
            Measure::Quantity(k, n) => as_unit(*k, *n),
            Measure::Pair([(k, a), (_, b)]) => as_unit(*k, a.saturating_add(*b)),
            Measure::Payment(..) => (1.0, Unit::Transaction),
        }
    }
}

fn as_unit(kind: UsageKind, n: u64) -> (f64, Unit) {
    let unit = kind.unit();
    match unit {
        Unit::Second => (n as f64 / 1000.0, unit),
        _ => (n as f64, unit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::checked::millis;
    use crate::base::error::Error;

    #[test]
    fn indices_match_all() {
        for (i, c) in Category::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
            assert_eq!(c.as_str().parse::<Category>().ok(), Some(*c));
        }
        for (i, k) in UsageKind::ALL.iter().enumerate() {
            assert_eq!(k.index(), i);
        }
    }

    #[test]
    fn seconds_are_validated() {
        assert_eq!(millis(UsageKind::CallSeconds, 80.0).ok(), Some(80_000));
        assert_eq!(millis(UsageKind::CallSeconds, 0.0004).ok(), Some(0));
        assert_eq!(millis(UsageKind::CallSeconds, 1.2345).ok(), Some(1_235));
        for bad in [f64::NAN, f64::INFINITY, -1.0, -0.001, 1e12] {
            assert!(matches!(
                millis(UsageKind::AudioSeconds, bad),
                Err(Error::InvalidQuantity { .. })
            ));
        }
    }

    #[test]
    fn absurd_counts_are_rejected() {
        assert!(Measure::characters(MAX_CHARACTERS_PER_TRACK + 1).is_err());
        assert!(Measure::tokens(TokenUsage::new(MAX_TOKENS_PER_TRACK + 1, 0)).is_err());
        assert!(Measure::tokens(TokenUsage::new(0, 0).with_audio(0, u64::MAX)).is_err());
        assert!(Measure::payment(0, 0).is_err());
        assert!(Measure::payment(-5, 0).is_err());
    }
}
