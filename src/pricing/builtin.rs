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

fn tokens(provider: &str, model: &str, input: Decimal, output: Decimal, src: &str) -> ModelPrice {
    ModelPrice::new(provider, model, Category::Llm)
        .rate(UsageKind::InputTokens, Rate::per_million_tokens(usd(input)))
        .rate(
            UsageKind::OutputTokens,
            Rate::per_million_tokens(usd(output)),
        )
        .with_source(src, date(2025, 11, 21))
}

/// Per million tokens: input, cache read, cache write (5 min), cache write (1 h), output.
struct Llm(Decimal, Decimal, Decimal, Decimal, Decimal);

/// A model with prompt caching; a zero write price means the provider does not sell cache writes.
fn cached(provider: &str, model: &str, p: Llm, src: &str) -> ModelPrice {
    let per_m = |d| Rate::per_million_tokens(usd(d));
    let mut price = ModelPrice::new(provider, model, Category::Llm)
        .rate(UsageKind::InputTokens, per_m(p.0))
        .rate(UsageKind::CachedInputTokens, per_m(p.1))
        .rate(UsageKind::OutputTokens, per_m(p.4))
        .with_source(src, date(2025, 11, 21));
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
    let per_m = |d| Rate::per_million_tokens(usd(d));
    price
        .rate_above(200_000, UsageKind::InputTokens, per_m(dec!(6)))
        .rate_above(200_000, UsageKind::CachedInputTokens, per_m(dec!(0.60)))
        .rate_above(200_000, UsageKind::CacheWriteTokens, per_m(dec!(7.50)))
        .rate_above(200_000, UsageKind::CacheWrite1hTokens, per_m(dec!(12)))
        .rate_above(200_000, UsageKind::OutputTokens, per_m(dec!(22.50)))
}

/// Per million tokens: text input, text cache read, text output, audio input, audio cache read, audio
/// output.
fn realtime(model: &str, t: [Decimal; 6]) -> ModelPrice {
    let per_m = |d| Rate::per_million_tokens(usd(d));
    ModelPrice::new("openai", model, Category::Realtime)
        .rate(UsageKind::InputTokens, per_m(t[0]))
        .rate(UsageKind::CachedInputTokens, per_m(t[1]))
        .rate(UsageKind::OutputTokens, per_m(t[2]))
        .rate(UsageKind::AudioInputTokens, per_m(t[3]))
        .rate(UsageKind::CachedAudioInputTokens, per_m(t[4]))
        .rate(UsageKind::AudioOutputTokens, per_m(t[5]))
        .with_source(
            "OpenAI API pricing, openai.com/api/pricing: realtime models, per token",
            date(2025, 11, 21),
        )
}

fn characters(provider: &str, model: &str, rate: Rate, src: &str) -> ModelPrice {
    ModelPrice::new(provider, model, Category::Tts)
        .rate(UsageKind::Characters, rate)
        .with_source(src, date(2025, 11, 21))
}

fn twilio(model: &str, per_minute: Decimal) -> ModelPrice {
    ModelPrice::new("twilio", model, Category::Telephony)
        .rate(UsageKind::CallSeconds, Rate::per_minute(usd(per_minute)))
        .increment(UsageKind::CallSeconds, Increment::per_started_minute())
        .with_source(
            "Twilio US voice pricing, twilio.com/voice/pricing/us; billed per started minute",
            date(2025, 11, 21),
        )
}

fn deepgram(model: &str, per_minute: Decimal, src: &str) -> ModelPrice {
    ModelPrice::new("deepgram", model, Category::Stt)
        .rate(UsageKind::AudioSeconds, Rate::per_minute(usd(per_minute)))
        .increment(UsageKind::AudioSeconds, Increment::per_second())
        .with_source(src, date(2025, 11, 21))
}

fn stripe(model: &str, fee: FeeRule, src: &str) -> ModelPrice {
    ModelPrice::new("stripe", model, Category::Payment)
        .with_fee(fee)
        .with_source(src, date(2025, 11, 21))
}

const OPENAI: &str = "OpenAI API pricing, openai.com/api/pricing";
const ANTHROPIC: &str = "Anthropic API pricing, anthropic.com/pricing#api";
const CEREBRAS: &str = "Cerebras inference pricing, inference-docs.cerebras.ai/pricing";
const ELEVENLABS: &str = "ElevenLabs API pricing, elevenlabs.io/pricing/api";
const ELEVENLABS_HALF: &str = "ElevenLabs API pricing, elevenlabs.io/pricing/api: half a credit per \
                               character, priced as eleven_turbo_v2_5";

/// The built-in entries, in the order of the guide's table.
pub(super) fn entries() -> Vec<ModelPrice> {
    vec![
        twilio("outbound-us", dec!(0.014)),
        twilio("inbound-us", dec!(0.0085)),
        twilio("recording", dec!(0.0025)),
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
        tokens("openai", "gpt-4o-mini", dec!(0.15), dec!(0.60), OPENAI).rate(
            UsageKind::CachedInputTokens,
            Rate::per_million_tokens(usd(dec!(0.075))),
        ),
        cached("openai", "gpt-4o", Llm(dec!(2.50), dec!(1.25), Decimal::ZERO, Decimal::ZERO, dec!(10)), OPENAI),
        cached("openai", "gpt-4.1", Llm(dec!(2.00), dec!(0.50), Decimal::ZERO, Decimal::ZERO, dec!(8.00)), OPENAI),
        cached("openai", "gpt-4.1-mini", Llm(dec!(0.40), dec!(0.10), Decimal::ZERO, Decimal::ZERO, dec!(1.60)), OPENAI),
        cached("openai", "gpt-4.1-nano", Llm(dec!(0.10), dec!(0.025), Decimal::ZERO, Decimal::ZERO, dec!(0.40)), OPENAI),
        realtime(
            "gpt-realtime",
            [dec!(4), dec!(0.40), dec!(16), dec!(32), dec!(0.40), dec!(64)],
        ),
        realtime(
            "gpt-4o-realtime-preview",
            [dec!(5), dec!(2.50), dec!(20), dec!(40), dec!(2.50), dec!(80)],
        ),
        realtime(
            "gpt-4o-mini-realtime-preview",
            [dec!(0.60), dec!(0.30), dec!(2.40), dec!(10), dec!(0.30), dec!(20)],
        ),
        characters(
            "openai",
            "tts-1-hd",
            Rate::per_million_characters(usd(dec!(30.00))),
            OPENAI,
        ),
        ModelPrice::new("openai", "gpt-4o-mini-tts", Category::Tts)
            .rate(UsageKind::InputTokens, Rate::per_million_tokens(usd(dec!(0.60))))
            .rate(UsageKind::AudioOutputTokens, Rate::per_million_tokens(usd(dec!(12))))
            .with_source(OPENAI, date(2025, 11, 21)),
        ModelPrice::new("openai", "whisper-1", Category::Stt)
            .rate(UsageKind::AudioSeconds, Rate::per_minute(usd(dec!(0.006))))
            .with_source(OPENAI, date(2025, 11, 21)),
        characters(
            "openai",
            "tts-1",
            Rate::per_million_characters(usd(dec!(15.00))),
            OPENAI,
        ),
        ModelPrice::new("openai", "gpt-4o-realtime", Category::Realtime)
            .rate(UsageKind::AudioInputSeconds, Rate::per_minute(usd(dec!(0.06))))
            .rate(UsageKind::AudioOutputSeconds, Rate::per_minute(usd(dec!(0.24))))
            .rate(UsageKind::InputTokens, Rate::per_million_tokens(usd(dec!(5.00))))
            .rate(UsageKind::OutputTokens, Rate::per_million_tokens(usd(dec!(20.00))))
            .with_source(
                "OpenAI Realtime API pricing, openai.com/api/pricing: audio per minute, text per token",
                date(2025, 11, 21),
            ),
        characters(
            "elevenlabs",
            "eleven_multilingual_v2",
            Rate::per_thousand_characters(usd(dec!(0.30))),
            ELEVENLABS,
        ),
        characters(
            "elevenlabs",
            "eleven_turbo_v2_5",
            Rate::per_thousand_characters(usd(dec!(0.15))),
            ELEVENLABS,
        ),
        characters(
            "elevenlabs",
            "eleven_flash_v2_5",
            Rate::per_thousand_characters(usd(dec!(0.15))),
            ELEVENLABS_HALF,
        ),
        characters(
            "elevenlabs",
            "eleven_flash_v2",
            Rate::per_thousand_characters(usd(dec!(0.15))),
            ELEVENLABS_HALF,
        ),
        characters(
            "elevenlabs",
            "eleven_turbo_v2",
            Rate::per_thousand_characters(usd(dec!(0.15))),
            ELEVENLABS_HALF,
        ),
        characters(
            "elevenlabs",
            "eleven_v3",
            Rate::per_thousand_characters(usd(dec!(0.30))),
            "ElevenLabs API pricing, elevenlabs.io/pricing/api: one credit per character, priced as \
             eleven_multilingual_v2",
        ),
        long_context_sonnet(cached(
            "anthropic",
            "claude-sonnet-4-20250514",
            Llm(dec!(3), dec!(0.30), dec!(3.75), dec!(6), dec!(15)),
            ANTHROPIC,
        )),
        cached(
            "anthropic",
            "claude-opus-4-20250514",
            Llm(dec!(15), dec!(1.50), dec!(18.75), dec!(30), dec!(75)),
            ANTHROPIC,
        ),
        tokens("anthropic", "claude-haiku-4-20250514", dec!(0.25), dec!(1.25), ANTHROPIC),
        long_context_sonnet(cached(
            "anthropic",
            "claude-sonnet-4-5",
            Llm(dec!(3), dec!(0.30), dec!(3.75), dec!(6), dec!(15)),
            ANTHROPIC,
        )),
        cached(
            "anthropic",
            "claude-opus-4-1",
            Llm(dec!(15), dec!(1.50), dec!(18.75), dec!(30), dec!(75)),
            ANTHROPIC,
        ),
        cached(
            "anthropic",
            "claude-haiku-4-5",
            Llm(dec!(1), dec!(0.10), dec!(1.25), dec!(2), dec!(5)),
            ANTHROPIC,
        ),
        cached(
            "anthropic",
            "claude-3-5-haiku",
            Llm(dec!(0.80), dec!(0.08), dec!(1), dec!(1.60), dec!(4)),
            ANTHROPIC,
        ),
        characters(
            "cartesia",
            "sonic-3",
            Rate::per_thousand_characters(usd(dec!(0.006))),
            "Cartesia pricing, cartesia.ai/pricing",
        ),
        characters(
            "cartesia",
            "sonic-2",
            Rate::per_thousand_characters(usd(dec!(0.006))),
            "Cartesia pricing, cartesia.ai/pricing: one credit per character, priced as sonic-3",
        ),
        ModelPrice::new("livekit", "cloud", Category::Transport)
            .rate(UsageKind::ParticipantSeconds, Rate::per_minute(usd(dec!(0.02))))
            .with_source(
                "LiveKit Cloud pricing, livekit.io/pricing: per participant-minute",
                date(2025, 11, 21),
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
