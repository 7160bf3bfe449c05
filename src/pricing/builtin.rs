//! The built-in voice catalog.
//!
//! Every price here is the one the core specification fixes, with the provider's public pricing page it
//! comes from and the date it was quoted. Providers change prices: override any entry with your own
//! catalog (see [`CatalogBuilder::insert`](super::CatalogBuilder::insert)).

use chrono::NaiveDate;
use rust_decimal::{Decimal, dec};

use super::{Catalog, FeeRule, Increment, ModelPrice, PriceOrigin, Rate};
use crate::base::money::Usd;
use crate::base::usage::{Category, UsageKind};

const fn usd(d: Decimal) -> Usd {
    Usd::new(d)
}

fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, d)
}

/// The day this refresh checked a price against its source.
fn refreshed() -> Option<NaiveDate> {
    date(2026, 12, 5)
}

/// The day the prices not re-checked in this refresh were last checked: their provider's page was
/// not reachable from where the refresh was made, so they keep that date and are named stale by
/// `callmeter catalog --stale-after` (see the guide's price chapter).
fn kept() -> Option<NaiveDate> {
    date(2025, 11, 21)
}

fn per_m(d: Decimal) -> Rate {
    Rate::per_million_tokens(usd(d))
}

fn tokens(provider: &str, model: &str, input: Decimal, output: Decimal, src: &str) -> ModelPrice {
    ModelPrice::new(provider, model, Category::Llm)
        .rate(UsageKind::InputTokens, per_m(input))
        .rate(UsageKind::OutputTokens, per_m(output))
        .with_source(src, kept())
}

/// Per million tokens: input, cache read, cache write (5 min), cache write (1 h), output.
struct Llm(Decimal, Decimal, Decimal, Decimal, Decimal);

/// A model with prompt caching; a zero write price means the provider does not sell cache writes.
fn cached(
    provider: &str,
    model: &str,
    p: Llm,
    src: &str,
    checked: Option<NaiveDate>,
) -> ModelPrice {
    let mut price = ModelPrice::new(provider, model, Category::Llm)
        .rate(UsageKind::InputTokens, per_m(p.0))
        .rate(UsageKind::CachedInputTokens, per_m(p.1))
        .rate(UsageKind::OutputTokens, per_m(p.4))
        .with_source(src, checked);
    if !p.2.is_zero() {
        price = price
            .rate(UsageKind::CacheWriteTokens, per_m(p.2))
            .rate(UsageKind::CacheWrite1hTokens, per_m(p.3));
    }
    price
}

/// Anthropic's long-context pricing for Sonnet 4 and 4.5: above 200 000 prompt tokens, input and cache
/// prices double and output is 1.5 times.
fn long_context_sonnet(price: ModelPrice) -> ModelPrice {
    price
        .rate_above(200_000, UsageKind::InputTokens, per_m(dec!(6)))
        .rate_above(200_000, UsageKind::CachedInputTokens, per_m(dec!(0.60)))
        .rate_above(200_000, UsageKind::CacheWriteTokens, per_m(dec!(7.50)))
        .rate_above(200_000, UsageKind::CacheWrite1hTokens, per_m(dec!(12)))
        .rate_above(200_000, UsageKind::OutputTokens, per_m(dec!(22.50)))
}

/// Per million tokens: text input, text cache read, text output, audio input, audio cache read, audio
/// output.
fn realtime(model: &str, t: [Decimal; 6], src: &str, checked: Option<NaiveDate>) -> ModelPrice {
    ModelPrice::new("openai", model, Category::Realtime)
        .rate(UsageKind::InputTokens, per_m(t[0]))
        .rate(UsageKind::CachedInputTokens, per_m(t[1]))
        .rate(UsageKind::OutputTokens, per_m(t[2]))
        .rate(UsageKind::AudioInputTokens, per_m(t[3]))
        .rate(UsageKind::CachedAudioInputTokens, per_m(t[4]))
        .rate(UsageKind::AudioOutputTokens, per_m(t[5]))
        .with_source(src, checked)
}

fn characters(
    provider: &str,
    model: &str,
    rate: Rate,
    src: &str,
    checked: Option<NaiveDate>,
) -> ModelPrice {
    ModelPrice::new(provider, model, Category::Tts)
        .rate(UsageKind::Characters, rate)
        .with_source(src, checked)
}

fn twilio(model: &str, per_minute: Decimal) -> ModelPrice {
    ModelPrice::new("twilio", model, Category::Telephony)
        .rate(UsageKind::CallSeconds, Rate::per_minute(usd(per_minute)))
        .increment(UsageKind::CallSeconds, Increment::per_started_minute())
        .with_source(TWILIO, kept())
}

fn deepgram(model: &str, per_minute: Decimal, src: &str) -> ModelPrice {
    ModelPrice::new("deepgram", model, Category::Stt)
        .rate(UsageKind::AudioSeconds, Rate::per_minute(usd(per_minute)))
        .increment(UsageKind::AudioSeconds, Increment::per_second())
        .with_source(src, kept())
}

/// A price per minute of a duration (`track_duration`, `track_duration_of_leg`).
fn per_minute(
    provider: &str,
    model: &str,
    category: Category,
    dollars: Decimal,
    src: &str,
) -> ModelPrice {
    ModelPrice::new(provider, model, category)
        .rate(UsageKind::CallSeconds, Rate::per_minute(usd(dollars)))
        .with_source(src, refreshed())
}

/// A transcription model priced per minute of audio (`track_stt`).
fn stt_per_minute(model: &str, dollars: Decimal, src: &str) -> ModelPrice {
    ModelPrice::new("openai", model, Category::Stt)
        .rate(UsageKind::AudioSeconds, Rate::per_minute(usd(dollars)))
        .with_source(src, refreshed())
}

fn stripe(model: &str, fee: FeeRule, src: &str) -> ModelPrice {
    ModelPrice::new("stripe", model, Category::Payment)
        .with_fee(fee)
        .with_source(src, kept())
}

const OPENAI: &str = "OpenAI API pricing, openai.com/api/pricing";
const OPENAI_MODELS: &str = "https://developers.openai.com/api/docs/models/";
const ANTHROPIC: &str = "Anthropic API pricing, anthropic.com/pricing#api";
const ANTHROPIC_2026: &str =
    "https://platform.claude.com/docs/en/about-claude/pricing (model pricing table)";
const ANTHROPIC_LONG: &str = "https://platform.claude.com/docs/en/about-claude/pricing (model pricing table); \
                              long context above 200K input tokens: docs.anthropic.com/en/docs/about-claude/pricing";
const CEREBRAS: &str = "Cerebras inference pricing, inference-docs.cerebras.ai/pricing";
const ELEVENLABS: &str = "ElevenLabs API pricing, elevenlabs.io/pricing/api; one credit per character \
                          (help.elevenlabs.io/hc/en-us/articles/21811236079505)";
const ELEVENLABS_HALF: &str = "ElevenLabs API pricing, elevenlabs.io/pricing/api: half a credit per \
                               character (help.elevenlabs.io/hc/en-us/articles/21811236079505), priced as \
                               eleven_turbo_v2_5";
const TWILIO: &str = "Twilio US voice pricing, twilio.com/voice/pricing/us; partial minutes rounded up, each \
                      Call SID billed as its own call: \
                      https://support.twilio.com/hc/en-us/articles/223132307";
const CARTESIA: &str = "Cartesia pricing, cartesia.ai/pricing; credits only for successful requests: \
                        https://docs.cartesia.ai/pricing";
const GPT_LIVE_WEBRTC: &str = "https://developers.openai.com/api/docs/guides/voice-latency-cost (WebRTC \
                               initialization charges: 15 seconds billed at session creation, credited against \
                               duration charges)";

/// The built-in entries, in the order of the guide's table.
pub(super) fn entries() -> Vec<ModelPrice> {
    let model_page = |id: &str| format!("{OPENAI_MODELS}{id}");
    vec![
        twilio("outbound-us", dec!(0.014)),
        twilio("inbound-us", dec!(0.0085)),
        twilio("recording", dec!(0.0025)),
        // Telnyx: flat $0.01 a minute outbound, 6/6 billing (a 1 s call bills 6 s, a 7 s call 12 s).
        per_minute(
            "telnyx",
            "outbound-us",
            Category::Telephony,
            dec!(0.01),
            "https://support.telnyx.com/en/articles/1130666-flat-rate-vs-tariff-rate-deck-outbound; 6/6 \
             increments for US and Canada: https://support.telnyx.com/en/articles/1130659-billing-increments",
        )
        .increment(UsageKind::CallSeconds, Increment::seconds(6, 6)),
        deepgram(
            "nova-2",
            dec!(0.0059),
            "Deepgram pricing, deepgram.com/pricing: Nova-2 streaming; billed per second",
        ),
        deepgram(
            "nova-2-prerecorded",
            dec!(0.0043),
            "Deepgram pricing, deepgram.com/pricing: Nova-2 pre-recorded; billed per second",
        ),
        deepgram(
            "nova-3",
            dec!(0.0043),
            "Deepgram pricing, deepgram.com/pricing: Nova-3 pre-recorded; billed per second",
        ),
        deepgram(
            "nova-3-streaming",
            dec!(0.0077),
            "Deepgram pricing, deepgram.com/pricing: Nova-3 streaming; billed per second",
        ),
        tokens("cerebras", "llama3.1-8b", dec!(0.10), dec!(0.10), CEREBRAS),
        tokens("cerebras", "llama3.1-70b", dec!(0.60), dec!(0.60), CEREBRAS),
        tokens("cerebras", "llama3.1-405b", dec!(6.00), dec!(12.00), CEREBRAS),
        tokens("openai", "gpt-4-turbo", dec!(10), dec!(30), OPENAI),
        tokens("openai", "gpt-4o-mini", dec!(0.15), dec!(0.60), OPENAI)
            .rate(UsageKind::CachedInputTokens, per_m(dec!(0.075))),
        cached("openai", "gpt-4o", Llm(dec!(2.50), dec!(1.25), Decimal::ZERO, Decimal::ZERO, dec!(10)), OPENAI, kept()),
        cached("openai", "gpt-4.1", Llm(dec!(2.00), dec!(0.50), Decimal::ZERO, Decimal::ZERO, dec!(8.00)), OPENAI, kept()),
        cached("openai", "gpt-4.1-mini", Llm(dec!(0.40), dec!(0.10), Decimal::ZERO, Decimal::ZERO, dec!(1.60)), OPENAI, kept()),
        cached("openai", "gpt-4.1-nano", Llm(dec!(0.10), dec!(0.025), Decimal::ZERO, Decimal::ZERO, dec!(0.40)), OPENAI, kept()),
        realtime(
            "gpt-realtime",
            [dec!(4), dec!(0.40), dec!(16), dec!(32), dec!(0.40), dec!(64)],
            "OpenAI API pricing, openai.com/api/pricing: realtime models, per token",
            kept(),
        ),
        realtime(
            "gpt-realtime-1.5",
            [dec!(4), dec!(0.40), dec!(16), dec!(32), dec!(0.40), dec!(64)],
            &model_page("gpt-realtime-1.5"),
            refreshed(),
        ),
        realtime(
            "gpt-realtime-2",
            [dec!(4), dec!(0.40), dec!(24), dec!(32), dec!(0.40), dec!(64)],
            &model_page("gpt-realtime-2"),
            refreshed(),
        ),
        realtime(
            "gpt-realtime-2.1-mini",
            [dec!(0.60), dec!(0.06), dec!(2.40), dec!(10), dec!(0.30), dec!(20)],
            &model_page("gpt-realtime-2.1-mini"),
            refreshed(),
        ),
        realtime(
            "gpt-4o-realtime-preview",
            [dec!(5), dec!(2.50), dec!(20), dec!(40), dec!(2.50), dec!(80)],
            &format!("{} (the model is shut down; kept to price earlier calls)", model_page("gpt-4o-realtime-preview")),
            refreshed(),
        ),
        realtime(
            "gpt-4o-mini-realtime-preview",
            [dec!(0.60), dec!(0.30), dec!(2.40), dec!(10), dec!(0.30), dec!(20)],
            &model_page("gpt-4o-mini-realtime-preview"),
            refreshed(),
        ),
        // GPT-Live: voice sessions billed by the second of session time, not rounded up to the minute.
        per_minute("openai", "gpt-live-1", Category::Realtime, dec!(0.05), &model_page("gpt-live-1"))
            .increment(UsageKind::CallSeconds, Increment::per_second()),
        per_minute("openai", "gpt-live-1:webrtc", Category::Realtime, dec!(0.05), &format!("{}; {GPT_LIVE_WEBRTC}", model_page("gpt-live-1")))
            .increment(UsageKind::CallSeconds, Increment::seconds(1, 15).charged_at_start()),
        per_minute("openai", "gpt-live-1.1", Category::Realtime, dec!(0.05), &format!("{}: active session time", model_page("gpt-live-1.1")))
            .increment(UsageKind::CallSeconds, Increment::per_second()),
        per_minute("openai", "gpt-live-1.1:webrtc", Category::Realtime, dec!(0.05), &format!("{}: active session time; {GPT_LIVE_WEBRTC}", model_page("gpt-live-1.1")))
            .increment(UsageKind::CallSeconds, Increment::seconds(1, 15).charged_at_start()),
        per_minute("openai", "gpt-live-1.1:standby", Category::Realtime, dec!(0.02), &format!("{}: standby (WebRTC, inference paused)", model_page("gpt-live-1.1")))
            .increment(UsageKind::CallSeconds, Increment::per_second()),
        characters("openai", "tts-1-hd", Rate::per_million_characters(usd(dec!(30.00))), &model_page("tts-1-hd"), refreshed()),
        ModelPrice::new("openai", "gpt-4o-mini-tts", Category::Tts)
            .rate(UsageKind::InputTokens, per_m(dec!(0.60)))
            .rate(UsageKind::AudioOutputTokens, per_m(dec!(12)))
            .with_source(model_page("gpt-4o-mini-tts"), refreshed()),
        stt_per_minute("whisper-1", dec!(0.006), &model_page("whisper-1")),
        stt_per_minute("gpt-realtime-whisper", dec!(0.017), &model_page("gpt-realtime-whisper")),
        stt_per_minute("gpt-live-transcribe", dec!(0.017), &model_page("gpt-live-transcribe")),
        ModelPrice::new("openai", "gpt-4o-transcribe", Category::Stt)
            .rate(UsageKind::AudioInputTokens, per_m(dec!(2.50)))
            .rate(UsageKind::OutputTokens, per_m(dec!(10)))
            .with_source(model_page("gpt-4o-transcribe"), refreshed()),
        characters("openai", "tts-1", Rate::per_million_characters(usd(dec!(15.00))), &model_page("tts-1"), refreshed()),
        ModelPrice::new("openai", "gpt-4o-realtime", Category::Realtime)
            .rate(UsageKind::AudioInputSeconds, Rate::per_minute(usd(dec!(0.06))))
            .rate(UsageKind::AudioOutputSeconds, Rate::per_minute(usd(dec!(0.24))))
            .rate(UsageKind::InputTokens, per_m(dec!(5.00)))
            .rate(UsageKind::OutputTokens, per_m(dec!(20.00)))
            .with_source(
                "OpenAI Realtime API pricing, openai.com/api/pricing: audio per minute, text per token",
                kept(),
            ),
        characters("elevenlabs", "eleven_multilingual_v2", Rate::per_thousand_characters(usd(dec!(0.30))), ELEVENLABS, kept()),
        characters("elevenlabs", "eleven_turbo_v2_5", Rate::per_thousand_characters(usd(dec!(0.15))), ELEVENLABS_HALF, kept()),
        characters("elevenlabs", "eleven_flash_v2_5", Rate::per_thousand_characters(usd(dec!(0.15))), ELEVENLABS_HALF, kept()),
        characters("elevenlabs", "eleven_flash_v2", Rate::per_thousand_characters(usd(dec!(0.15))), ELEVENLABS_HALF, kept()),
        characters("elevenlabs", "eleven_turbo_v2", Rate::per_thousand_characters(usd(dec!(0.15))), ELEVENLABS_HALF, kept()),
        characters(
            "elevenlabs",
            "eleven_v3",
            Rate::per_thousand_characters(usd(dec!(0.30))),
            "ElevenLabs API pricing, elevenlabs.io/pricing/api: one credit per character, priced as \
             eleven_multilingual_v2",
            kept(),
        ),
        long_context_sonnet(cached(
            "anthropic",
            "claude-sonnet-4-20250514",
            Llm(dec!(3), dec!(0.30), dec!(3.75), dec!(6), dec!(15)),
            ANTHROPIC_LONG,
            refreshed(),
        )),
        cached(
            "anthropic",
            "claude-opus-4-20250514",
            Llm(dec!(15), dec!(1.50), dec!(18.75), dec!(30), dec!(75)),
            &format!("{ANTHROPIC_2026}: Claude Opus 4 (retired, except on Google Cloud)"),
            refreshed(),
        ),
        tokens("anthropic", "claude-haiku-4-20250514", dec!(0.25), dec!(1.25), ANTHROPIC)
            .with_source(format!("{ANTHROPIC_2026}: priced as Claude Haiku 3"), refreshed()),
        long_context_sonnet(cached(
            "anthropic",
            "claude-sonnet-4-5",
            Llm(dec!(3), dec!(0.30), dec!(3.75), dec!(6), dec!(15)),
            ANTHROPIC_LONG,
            refreshed(),
        )),
        cached(
            "anthropic",
            "claude-sonnet-4-6",
            Llm(dec!(3), dec!(0.30), dec!(3.75), dec!(6), dec!(15)),
            ANTHROPIC_2026,
            refreshed(),
        ),
        cached(
            "anthropic",
            "claude-opus-4-1",
            Llm(dec!(15), dec!(1.50), dec!(18.75), dec!(30), dec!(75)),
            &format!("{ANTHROPIC_2026}: Claude Opus 4.1 (retired, except on Bedrock and Google Cloud)"),
            refreshed(),
        ),
        cached(
            "anthropic",
            "claude-opus-4-5",
            Llm(dec!(5), dec!(0.50), dec!(6.25), dec!(10), dec!(25)),
            ANTHROPIC_2026,
            refreshed(),
        ),
        cached(
            "anthropic",
            "claude-opus-4-6",
            Llm(dec!(5), dec!(0.50), dec!(6.25), dec!(10), dec!(25)),
            ANTHROPIC_2026,
            refreshed(),
        ),
        cached(
            "anthropic",
            "claude-sonnet-5",
            Llm(dec!(2), dec!(0.20), dec!(2.50), dec!(4), dec!(10)),
            "https://platform.claude.com/docs/en/models/sonnet-5/overview (pricing)",
            refreshed(),
        ),
        cached(
            "anthropic",
            "claude-haiku-4-5",
            Llm(dec!(1), dec!(0.10), dec!(1.25), dec!(2), dec!(5)),
            ANTHROPIC_2026,
            refreshed(),
        ),
        cached(
            "anthropic",
            "claude-3-5-haiku",
            Llm(dec!(0.80), dec!(0.08), dec!(1), dec!(1.60), dec!(4)),
            &format!("{ANTHROPIC_2026}: Claude Haiku 3.5"),
            refreshed(),
        ),
        characters("cartesia", "sonic-3", Rate::per_thousand_characters(usd(dec!(0.006))), CARTESIA, kept())
            .with_failed_requests_billed(false),
        characters(
            "cartesia",
            "sonic-2",
            Rate::per_thousand_characters(usd(dec!(0.006))),
            "Cartesia pricing, cartesia.ai/pricing: one credit per character, priced as sonic-3; credits only \
             for successful requests: https://docs.cartesia.ai/pricing",
            kept(),
        )
        .with_failed_requests_billed(false),
        per_minute(
            "cartesia",
            "line-agent",
            Category::Platform,
            dec!(0.06),
            "https://docs.cartesia.ai/pricing (Agents: agent calling, per minute in USD)",
        ),
        per_minute(
            "cartesia",
            "line-telephony",
            Category::Telephony,
            dec!(0.014),
            "https://docs.cartesia.ai/pricing (Agents: telephony add-on with a Cartesia-provided number)",
        ),
        ModelPrice::new("livekit", "cloud", Category::Transport)
            .rate(UsageKind::ParticipantSeconds, Rate::per_minute(usd(dec!(0.02))))
            .with_source(
                "LiveKit Cloud pricing, livekit.io/pricing: per participant-minute",
                kept(),
            ),
        stripe(
            "standard",
            FeeRule::new(dec!(2.9), usd(dec!(0.30)))
                .with_international_surcharge(dec!(1.5))
                .with_conversion_surcharge(dec!(1)),
            "Stripe US pricing, stripe.com/pricing: cards; +1.5% international, +1% conversion",
        ),
        stripe(
            "card-not-present",
            FeeRule::new(dec!(3.4), usd(dec!(0.30)))
                .with_international_surcharge(dec!(1.5))
                .with_conversion_surcharge(dec!(1)),
            "Stripe US pricing, stripe.com/pricing: card not present; +1.5% international, +1% \
             conversion",
        ),
        stripe(
            "ach",
            FeeRule::new(dec!(0.8), Usd::ZERO).with_cap(usd(dec!(5.00))),
            "Stripe US pricing, stripe.com/pricing: ACH Direct Debit, capped",
        ),
    ]
}

/// Other names of built-in models, as the guide's catalog table lists them: (provider, alias, model).
pub(super) const ALIASES: [(&str, &str, &str); 5] = [
    ("deepgram", "nova-2-streaming", "nova-2"),
    ("deepgram", "nova-3-prerecorded", "nova-3"),
    ("anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514"),
    ("anthropic", "claude-opus-4", "claude-opus-4-20250514"),
    ("anthropic", "claude-haiku-4", "claude-haiku-4-20250514"),
];

impl Catalog {
    /// The built-in voice catalog: every price in the guide's table (`guide::prices`), each with its
    /// source and date.
    pub fn builtin() -> Catalog {
        catalog()
    }
}

fn catalog() -> Catalog {
    let builder = entries().into_iter().fold(Catalog::builder(), |b, entry| {
        b.insert(entry.with_origin(PriceOrigin::Builtin))
    });
    let builder = ALIASES.iter().fold(builder, |b, (provider, alias, model)| {
        b.alias(*alias, *provider, *model)
    });
    // The entries above are constants checked by the unit test below; building them cannot fail.
    match builder.build() {
        Ok(catalog) => catalog,
        Err(e) => unreachable!("built-in catalog is invalid: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_entries_build_and_are_unique() -> crate::Result<()> {
        let n = entries().len();
        let catalog = entries()
            .into_iter()
            .fold(Catalog::builder(), |b, e| b.insert(e))
            .build()?;
        assert_eq!(catalog.len(), n, "no entry replaced another");
        for p in catalog.iter() {
            assert!(!p.source().is_empty(), "{} has a source", p.model());
            assert!(p.checked().is_some(), "{} has a date", p.model());
        }
        Ok(())
    }
}
