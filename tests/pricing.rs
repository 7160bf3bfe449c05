//! Billing rules: token kinds, context-length tiers, subscriptions, fixed costs, payment surcharges,
//! custom increments; and two properties of every price: monotone in quantity, and parts bill the whole.

mod common;

use callmeter::pricing::{FeeRule, FixedCost, Increment, Payment, SubscriptionTier};
use callmeter::{
    CallInfo, Catalog, Category, Error, Meter, MeterGuard, ModelPrice, Rate, TokenUsage, UsageKind,
    Usd,
};
use common::{Db, TestResult};
use proptest::prelude::*;
use rust_decimal::{Decimal, dec};

fn usd(d: Decimal) -> Usd {
    Usd::new(d)
}

fn per_m(d: Decimal) -> Rate {
    Rate::per_million_tokens(usd(d))
}

/// A Claude-like model: cache reads at a tenth of input, writes at 1.25× (5 min) and 2× (1 h), and a
/// long-context tier above 200 000 prompt tokens.
fn claude_like() -> ModelPrice {
    ModelPrice::new("anthropic", "long", Category::Llm)
        .rate(UsageKind::InputTokens, per_m(dec!(3)))
        .rate(UsageKind::CachedInputTokens, per_m(dec!(0.30)))
        .rate(UsageKind::CacheWriteTokens, per_m(dec!(3.75)))
        .rate(UsageKind::CacheWrite1hTokens, per_m(dec!(6)))
        .rate(UsageKind::OutputTokens, per_m(dec!(15)))
        .rate_above(200_000, UsageKind::InputTokens, per_m(dec!(6)))
        .rate_above(200_000, UsageKind::OutputTokens, per_m(dec!(22.50)))
        .rate_above(200_000, UsageKind::CachedInputTokens, per_m(dec!(0.60)))
}

fn open(db: &Db, catalog: Catalog) -> (Meter, MeterGuard) {
    db.builder().catalog(catalog).open().expect("open")
}

#[test]
fn every_token_kind_is_billed_at_its_own_rate_once() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = open(&db, Catalog::builder().insert(claude_like()).build()?);
    let call = meter.start_call(CallInfo::new("kinds"))?;
    let usage = TokenUsage::new(10_000, 2_000)
        .with_cached_input(50_000)
        .with_cache_write(4_000)
        .with_cache_write_1h(1_000);
    // 10k × $3 + 50k × $0.30 + 4k × $3.75 + 1k × $6 + 2k × $15, per million
    let expected = dec!(0.030) + dec!(0.015) + dec!(0.015) + dec!(0.006) + dec!(0.030);
    assert_eq!(
        call.track_inference("anthropic", "long", usage)?.cost,
        usd(expected)
    );
    Ok(())
}

#[test]
fn reasoning_is_billed_at_the_output_rate_unless_priced() -> TestResult {
    let db = Db::new();
    let catalog = Catalog::builder()
        .insert(claude_like())
        .insert(
            ModelPrice::new("x", "thinker", Category::Llm)
                .rate(UsageKind::InputTokens, per_m(dec!(1)))
                .rate(UsageKind::OutputTokens, per_m(dec!(2)))
                .rate(UsageKind::ReasoningTokens, per_m(dec!(10))),
        )
        .build()?;
    let (meter, _guard) = open(&db, catalog);
    let call = meter.start_call(CallInfo::new("reasoning"))?;
    let usage = TokenUsage::new(0, 1_000_000).with_reasoning(1_000_000);
    assert_eq!(
        call.track_inference("anthropic", "long", usage)?.cost,
        usd(dec!(30))
    );
    assert_eq!(
        call.track_inference("x", "thinker", usage)?.cost,
        usd(dec!(12))
    );
    Ok(())
}

#[test]
fn a_long_prompt_moves_the_whole_request_to_the_higher_tier() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = open(&db, Catalog::builder().insert(claude_like()).build()?);
    let call = meter.start_call(CallInfo::new("tiers"))?;
    // Exactly at the threshold: base rates.
    let at = TokenUsage::new(150_000, 1_000).with_cached_input(50_000);
    assert_eq!(
        call.track_inference("anthropic", "long", at)?.cost,
        usd(dec!(0.45) + dec!(0.015) + dec!(0.015))
    );
    // One token more: every token of the request at the tier's rates, cache writes at their base rate.
    let above = TokenUsage::new(150_001, 1_000)
        .with_cached_input(50_000)
        .with_cache_write(1_000_000);
    assert_eq!(
        call.track_inference("anthropic", "long", above)?.cost,
        usd(dec!(0.900006) + dec!(0.030) + dec!(0.0225) + dec!(3.75))
    );
    Ok(())
}

#[test]
fn a_subscription_bills_the_marginal_rate_of_the_active_tier() -> TestResult {
    let db = Db::new();
    let catalog = Catalog::builder()
        .insert(
            ModelPrice::new("elevenlabs", "eleven_multilingual_v2", Category::Tts)
                .with_subscription(SubscriptionTier::elevenlabs(), "creator"),
        )
        .fixed_cost(FixedCost::new(
            "agent server",
            Category::Platform,
            usd(dec!(20)),
        ))
        .build()?;
    let fixed = catalog.fixed_costs();
    let (meter, _guard) = open(&db, catalog);
    let call = meter.start_call(CallInfo::new("plan"))?;
    let one_k = call.track_tts("elevenlabs", "eleven_multilingual_v2", 1_000)?;
    assert_eq!(one_k.cost, usd(dec!(0.22)));
    let rest = call.track_tts("elevenlabs", "eleven_multilingual_v2", 99_000)?;
    // The whole allowance costs exactly the monthly fee.
    assert_eq!(rest.call_total, usd(dec!(22)));
    let names: Vec<(&str, Usd)> = fixed.iter().map(|c| (c.name(), c.monthly())).collect();
    assert_eq!(
        names,
        [
            ("agent server", usd(dec!(20))),
            (
                "elevenlabs/eleven_multilingual_v2 subscription (creator)",
                usd(dec!(22))
            ),
        ]
    );
    Ok(())
}

#[test]
fn an_unknown_active_tier_is_a_catalog_error() {
    let err = Catalog::builder()
        .insert(
            ModelPrice::new("elevenlabs", "v2", Category::Tts)
                .with_subscription(SubscriptionTier::elevenlabs(), "enterprise"),
        )
        .build();
    assert!(
        matches!(&err, Err(Error::Catalog { field, .. }) if field == "subscription.active"),
        "{err:?}"
    );
}

#[test]
fn every_elevenlabs_tier_has_the_published_fee_and_allowance() {
    let tiers: Vec<(String, Usd, u64)> = SubscriptionTier::elevenlabs()
        .iter()
        .map(|t| (t.name().to_string(), t.monthly_fee(), t.included()))
        .collect();
    assert_eq!(
        tiers,
        [
            ("free".to_string(), usd(dec!(0)), 10_000),
            ("starter".to_string(), usd(dec!(5)), 30_000),
            ("creator".to_string(), usd(dec!(22)), 100_000),
            ("pro".to_string(), usd(dec!(99)), 500_000),
            ("scale".to_string(), usd(dec!(330)), 2_000_000),
        ]
    );
}

#[test]
fn surcharges_add_to_the_fee_after_its_cap() -> TestResult {
    let card = FeeRule::new(dec!(2.9), usd(dec!(0.30)))
        .with_international_surcharge(dec!(1.5))
        .with_conversion_surcharge(dec!(1));
    let amount = usd(dec!(4.99));
    assert_eq!(card.fee_for(amount)?, usd(dec!(0.44471)));
    assert_eq!(
        card.fee_for(Payment::new(amount).international())?,
        usd(dec!(0.44471) + dec!(0.07485))
    );
    assert_eq!(
        card.fee_for(Payment::new(amount).international().currency_conversion())?,
        usd(dec!(0.44471) + dec!(0.07485) + dec!(0.0499))
    );
    let ach = FeeRule::new(dec!(0.8), Usd::ZERO)
        .with_cap(usd(dec!(5)))
        .with_conversion_surcharge(dec!(1));
    assert_eq!(
        ach.fee_for(Payment::new(usd(dec!(1000))).currency_conversion())?,
        usd(dec!(15))
    );
    // A surcharge the method does not have adds nothing.
    assert_eq!(
        ach.fee_for(Payment::new(usd(dec!(100))).international())?,
        usd(dec!(0.80))
    );
    Ok(())
}

#[test]
fn a_tracked_payment_with_surcharges_costs_the_surcharged_fee() -> TestResult {
    let db = Db::new();
    let catalog = Catalog::builder()
        .insert(
            ModelPrice::new("stripe", "intl", Category::Payment).with_fee(
                FeeRule::new(dec!(2.9), usd(dec!(0.30))).with_international_surcharge(dec!(1.5)),
            ),
        )
        .build()?;
    let (meter, _guard) = open(&db, catalog);
    let call = meter.start_call(CallInfo::new("pay"))?;
    let paid = call.track_payment_with(
        "stripe",
        "intl",
        Payment::new(usd(dec!(100))).international(),
    )?;
    assert_eq!(paid.cost, usd(dec!(4.70)));
    Ok(())
}

#[test]
fn six_second_billing_with_a_thirty_second_minimum_is_cumulative() -> TestResult {
    let db = Db::new();
    let catalog = Catalog::builder()
        .insert(
            ModelPrice::new("carrier", "de", Category::Telephony)
                .rate(UsageKind::CallSeconds, Rate::per_minute(usd(dec!(0.06))))
                .increment(UsageKind::CallSeconds, Increment::seconds(6, 30)),
        )
        .build()?;
    let (meter, _guard) = open(&db, catalog);
    let call = meter.start_call(CallInfo::new("six"))?;
    // 1 s bills the 30 s minimum ($0.03); 29 s more stay inside it; 1 s more starts a 6 s step.
    assert_eq!(
        call.track_duration("carrier", "de", 1.0)?.cost,
        usd(dec!(0.03))
    );
    assert_eq!(
        call.track_duration("carrier", "de", 29.0)?.cost,
        usd(dec!(0))
    );
    assert_eq!(
        call.track_duration("carrier", "de", 1.0)?.cost,
        usd(dec!(0.006))
    );
    assert_eq!(call.total(), usd(dec!(0.036)));
    Ok(())
}

#[test]
fn nine_kinds_of_tokens_at_once_are_refused() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = open(&db, Catalog::builder().insert(claude_like()).build()?);
    let call = meter.start_call(CallInfo::new("nine"))?;
    let all = TokenUsage::new(1, 1)
        .with_cached_input(1)
        .with_cache_write(1)
        .with_cache_write_1h(1)
        .with_reasoning(1)
        .with_audio(1, 1)
        .with_cached_audio_input(1);
    let err = call.track_inference("anthropic", "long", all).err();
    assert!(
        matches!(err, Some(Error::InvalidQuantity { .. })),
        "{err:?}"
    );
    assert_eq!(call.total(), Usd::ZERO);
    Ok(())
}

/// Every entry of the built-in catalog with each kind it prices.
fn builtin_lines() -> Vec<(String, String, UsageKind)> {
    Catalog::builtin()
        .iter()
        .flat_map(|p| {
            p.rates()
                .iter()
                .map(|(k, _)| (p.provider().to_string(), p.model().to_string(), *k))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn track(
    call: &callmeter::CallCostTracker,
    provider: &str,
    model: &str,
    kind: UsageKind,
    n: u64,
) -> Usd {
    let r = match kind {
        UsageKind::Characters => call.track_tts(provider, model, n),
        UsageKind::AudioSeconds => call.track_stt(provider, model, n as f64 / 1000.0),
        UsageKind::CallSeconds => call.track_duration(provider, model, n as f64 / 1000.0),
        UsageKind::ParticipantSeconds => {
            call.track_participants(provider, model, 1, n as f64 / 1000.0)
        }
        UsageKind::AudioInputSeconds => {
            call.track_realtime_audio(provider, model, n as f64 / 1000.0, 0.0)
        }
        UsageKind::AudioOutputSeconds => {
            call.track_realtime_audio(provider, model, 0.0, n as f64 / 1000.0)
        }
        UsageKind::InputTokens => call.track_inference(provider, model, TokenUsage::new(n, 0)),
        UsageKind::OutputTokens => call.track_inference(provider, model, TokenUsage::new(0, n)),
        _ => return Usd::ZERO,
    };
    r.map(|t| t.cost).unwrap_or(Usd::ZERO)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Tracked whole or in parts (each part in milliseconds or units), every built-in rate bills the
    /// same, and more usage never costs less. (Parts stay below 200 000 in total: a long-context tier
    /// prices each request by its own prompt, so one long request is rightly dearer than short ones.)
    #[test]
    fn builtin_prices_bill_parts_as_the_whole_and_are_monotone(
        line in 0..128_usize,
        parts in proptest::collection::vec(1..25_000_u64, 1..8),
    ) {
        let lines = builtin_lines();
        let (provider, model, kind) = &lines[line % lines.len()];
        let db = Db::new();
        let (meter, _guard) = db.open();
        let whole = meter.start_call(CallInfo::new("whole")).expect("start");
        let split = meter.start_call(CallInfo::new("split")).expect("start");
        let total: u64 = parts.iter().sum();
        let whole_cost = track(&whole, provider, model, *kind, total);
        let mut previous = Usd::ZERO;
        for &p in &parts {
            track(&split, provider, model, *kind, p);
            prop_assert!(split.total() >= previous, "monotone");
            previous = split.total();
        }
        prop_assert_eq!(split.total(), whole_cost);
    }
}

/// Provider, model, and the published price of each kind it bills.
type PublishedPrices = (
    &'static str,
    &'static str,
    &'static [(UsageKind, &'static str)],
);

/// Every built-in price, as published (per million tokens or characters, per minute, or the fee on a
/// $100 payment), checked through a meter: each kind is tracked alone, and the entry has no other kind.
#[test]
fn every_builtin_price_bills_as_published() -> TestResult {
    use UsageKind::*;
    #[rustfmt::skip]
    let table: &[PublishedPrices] = &[
        ("twilio", "outbound-us", &[(CallSeconds, "0.014")]),
        ("twilio", "inbound-us", &[(CallSeconds, "0.0085")]),
        ("twilio", "recording", &[(CallSeconds, "0.0025")]),
        ("telnyx", "outbound-us", &[(CallSeconds, "0.01")]),
        ("deepgram", "nova-2", &[(AudioSeconds, "0.0059")]),
        ("deepgram", "nova-2-prerecorded", &[(AudioSeconds, "0.0043")]),
        ("deepgram", "nova-3", &[(AudioSeconds, "0.0043")]),
        ("deepgram", "nova-3-streaming", &[(AudioSeconds, "0.0077")]),
        ("cerebras", "llama3.1-8b", &[(InputTokens, "0.10"), (OutputTokens, "0.10")]),
        ("cerebras", "llama3.1-70b", &[(InputTokens, "0.60"), (OutputTokens, "0.60")]),
        ("cerebras", "llama3.1-405b", &[(InputTokens, "6"), (OutputTokens, "12")]),
        ("openai", "gpt-4-turbo", &[(InputTokens, "10"), (OutputTokens, "30")]),
        ("openai", "gpt-4o-mini", &[(InputTokens, "0.15"), (CachedInputTokens, "0.075"), (OutputTokens, "0.60")]),
        ("openai", "gpt-4o", &[(InputTokens, "2.50"), (CachedInputTokens, "1.25"), (OutputTokens, "10")]),
        ("openai", "gpt-4.1", &[(InputTokens, "2"), (CachedInputTokens, "0.50"), (OutputTokens, "8")]),
        ("openai", "gpt-4.1-mini", &[(InputTokens, "0.40"), (CachedInputTokens, "0.10"), (OutputTokens, "1.60")]),
        ("openai", "gpt-4.1-nano", &[(InputTokens, "0.10"), (CachedInputTokens, "0.025"), (OutputTokens, "0.40")]),
        ("openai", "gpt-realtime", &[(InputTokens, "4"), (CachedInputTokens, "0.40"), (OutputTokens, "16"),
            (AudioInputTokens, "32"), (CachedAudioInputTokens, "0.40"), (AudioOutputTokens, "64")]),
        ("openai", "gpt-realtime-1.5", &[(InputTokens, "4"), (CachedInputTokens, "0.40"), (OutputTokens, "16"),
            (AudioInputTokens, "32"), (CachedAudioInputTokens, "0.40"), (AudioOutputTokens, "64")]),
        ("openai", "gpt-realtime-2", &[(InputTokens, "4"), (CachedInputTokens, "0.40"), (OutputTokens, "24"),
            (AudioInputTokens, "32"), (CachedAudioInputTokens, "0.40"), (AudioOutputTokens, "64")]),
        ("openai", "gpt-realtime-2.1-mini", &[(InputTokens, "0.60"), (CachedInputTokens, "0.06"), (OutputTokens, "2.40"),
            (AudioInputTokens, "10"), (CachedAudioInputTokens, "0.30"), (AudioOutputTokens, "20")]),
        ("openai", "gpt-live-1", &[(CallSeconds, "0.05")]),
        ("openai", "gpt-live-1:webrtc", &[(CallSeconds, "0.05")]),
        ("openai", "gpt-live-1.1", &[(CallSeconds, "0.05")]),
        ("openai", "gpt-live-1.1:webrtc", &[(CallSeconds, "0.05")]),
        ("openai", "gpt-live-1.1:standby", &[(CallSeconds, "0.02")]),
        ("openai", "gpt-realtime-whisper", &[(AudioSeconds, "0.017")]),
        ("openai", "gpt-live-transcribe", &[(AudioSeconds, "0.017")]),
        ("openai", "gpt-4o-transcribe", &[(AudioInputTokens, "2.50"), (OutputTokens, "10")]),
        ("openai", "gpt-4o-realtime-preview", &[(InputTokens, "5"), (CachedInputTokens, "2.50"), (OutputTokens, "20"),
            (AudioInputTokens, "40"), (CachedAudioInputTokens, "2.50"), (AudioOutputTokens, "80")]),
        ("openai", "gpt-4o-mini-realtime-preview", &[(InputTokens, "0.60"), (CachedInputTokens, "0.30"),
            (OutputTokens, "2.40"), (AudioInputTokens, "10"), (CachedAudioInputTokens, "0.30"), (AudioOutputTokens, "20")]),
        ("openai", "tts-1", &[(Characters, "15")]),
        ("openai", "tts-1-hd", &[(Characters, "30")]),
        ("openai", "gpt-4o-mini-tts", &[(InputTokens, "0.60"), (AudioOutputTokens, "12")]),
        ("openai", "whisper-1", &[(AudioSeconds, "0.006")]),
        ("openai", "gpt-4o-realtime", &[(AudioInputSeconds, "0.06"), (AudioOutputSeconds, "0.24"),
            (InputTokens, "5"), (OutputTokens, "20")]),
        ("elevenlabs", "eleven_multilingual_v2", &[(Characters, "300")]),
        ("elevenlabs", "eleven_turbo_v2_5", &[(Characters, "150")]),
        ("elevenlabs", "eleven_flash_v2_5", &[(Characters, "150")]),
        ("elevenlabs", "eleven_flash_v2", &[(Characters, "150")]),
        ("elevenlabs", "eleven_turbo_v2", &[(Characters, "150")]),
        ("elevenlabs", "eleven_v3", &[(Characters, "300")]),
        ("anthropic", "claude-sonnet-4-20250514", &[(InputTokens, "3"), (CachedInputTokens, "0.30"),
            (CacheWriteTokens, "3.75"), (CacheWrite1hTokens, "6"), (OutputTokens, "15")]),
        ("anthropic", "claude-opus-4-20250514", &[(InputTokens, "15"), (CachedInputTokens, "1.50"),
            (CacheWriteTokens, "18.75"), (CacheWrite1hTokens, "30"), (OutputTokens, "75")]),
        ("anthropic", "claude-haiku-4-20250514", &[(InputTokens, "0.25"), (OutputTokens, "1.25")]),
        ("anthropic", "claude-sonnet-4-5", &[(InputTokens, "3"), (CachedInputTokens, "0.30"),
            (CacheWriteTokens, "3.75"), (CacheWrite1hTokens, "6"), (OutputTokens, "15")]),
        ("anthropic", "claude-sonnet-4-6", &[(InputTokens, "3"), (CachedInputTokens, "0.30"),
            (CacheWriteTokens, "3.75"), (CacheWrite1hTokens, "6"), (OutputTokens, "15")]),
        ("anthropic", "claude-opus-4-5", &[(InputTokens, "5"), (CachedInputTokens, "0.50"),
            (CacheWriteTokens, "6.25"), (CacheWrite1hTokens, "10"), (OutputTokens, "25")]),
        ("anthropic", "claude-opus-4-6", &[(InputTokens, "5"), (CachedInputTokens, "0.50"),
            (CacheWriteTokens, "6.25"), (CacheWrite1hTokens, "10"), (OutputTokens, "25")]),
        ("anthropic", "claude-sonnet-5", &[(InputTokens, "2"), (CachedInputTokens, "0.20"),
            (CacheWriteTokens, "2.50"), (CacheWrite1hTokens, "4"), (OutputTokens, "10")]),
        ("anthropic", "claude-opus-4-1", &[(InputTokens, "15"), (CachedInputTokens, "1.50"),
            (CacheWriteTokens, "18.75"), (CacheWrite1hTokens, "30"), (OutputTokens, "75")]),
        ("anthropic", "claude-haiku-4-5", &[(InputTokens, "1"), (CachedInputTokens, "0.10"),
            (CacheWriteTokens, "1.25"), (CacheWrite1hTokens, "2"), (OutputTokens, "5")]),
        ("anthropic", "claude-3-5-haiku", &[(InputTokens, "0.80"), (CachedInputTokens, "0.08"),
            (CacheWriteTokens, "1"), (CacheWrite1hTokens, "1.60"), (OutputTokens, "4")]),
        ("cartesia", "sonic-3", &[(Characters, "6")]),
        ("cartesia", "sonic-2", &[(Characters, "6")]),
        ("cartesia", "line-agent", &[(CallSeconds, "0.06")]),
        ("cartesia", "line-telephony", &[(CallSeconds, "0.014")]),
        ("livekit", "cloud", &[(ParticipantSeconds, "0.02")]),
        ("stripe", "standard", &[(Transactions, "3.20")]),
        ("stripe", "card-not-present", &[(Transactions, "3.70")]),
        ("stripe", "ach", &[(Transactions, "0.80")]),
    ];
    let catalog = Catalog::builtin();
    assert_eq!(catalog.len(), table.len(), "every entry is in the table");
    let db = Db::new();
    let (meter, _guard) = db.open();
    for (provider, model, prices) in table {
        let entry = catalog
            .get(provider, model)
            .unwrap_or_else(|| panic!("{provider}/{model}"));
        let kinds = entry.rates().len() + usize::from(entry.fee().is_some());
        assert_eq!(
            kinds,
            prices.len(),
            "{provider}/{model} prices nothing else"
        );
        for (kind, published) in prices.iter() {
            let published: Decimal = published.parse()?;
            let call = meter.start_call(CallInfo::new(format!("{provider}/{model}/{kind}")))?;
            // 100 000 tokens (a prompt below every long-context threshold), 1 000 000 characters, one
            // minute, or one $100 payment.
            let tokens = |t: TokenUsage| call.track_inference(provider, model, t);
            let n = 100_000;
            let (tracked, expected) = match kind {
                InputTokens => (tokens(TokenUsage::new(n, 0)), published / dec!(10)),
                OutputTokens => (tokens(TokenUsage::new(0, n)), published / dec!(10)),
                CachedInputTokens => (
                    tokens(TokenUsage::new(0, 0).with_cached_input(n)),
                    published / dec!(10),
                ),
                CacheWriteTokens => (
                    tokens(TokenUsage::new(0, 0).with_cache_write(n)),
                    published / dec!(10),
                ),
                CacheWrite1hTokens => (
                    tokens(TokenUsage::new(0, 0).with_cache_write_1h(n)),
                    published / dec!(10),
                ),
                AudioInputTokens => (
                    tokens(TokenUsage::new(0, 0).with_audio(n, 0)),
                    published / dec!(10),
                ),
                AudioOutputTokens => (
                    tokens(TokenUsage::new(0, 0).with_audio(0, n)),
                    published / dec!(10),
                ),
                CachedAudioInputTokens => (
                    tokens(TokenUsage::new(0, 0).with_cached_audio_input(n)),
                    published / dec!(10),
                ),
                Characters => (call.track_tts(provider, model, 1_000_000), published),
                CallSeconds => (call.track_duration(provider, model, 60.0), published),
                AudioSeconds => (call.track_stt(provider, model, 60.0), published),
                AudioInputSeconds => (
                    call.track_realtime_audio(provider, model, 60.0, 0.0),
                    published,
                ),
                AudioOutputSeconds => (
                    call.track_realtime_audio(provider, model, 0.0, 60.0),
                    published,
                ),
                ParticipantSeconds => {
                    (call.track_participants(provider, model, 1, 60.0), published)
                }
                Transactions => (
                    call.track_payment(provider, model, usd(dec!(100))),
                    published,
                ),
                other => panic!("no check for {other}"),
            };
            assert_eq!(tracked?.cost, usd(expected), "{provider}/{model} {kind}");
        }
    }
    Ok(())
}

#[test]
fn a_sub_second_transcription_bills_one_second_and_later_seconds_whole() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("short"))?;
    // nova-2 streaming: $0.0059 a minute, billed by the started second: one second is 98 333.3…
    // nano-dollars, two are 196 666.6…, each rounded once, half to even.
    let first = call.track_stt("deepgram", "nova-2", 0.3)?;
    assert_eq!(first.cost, Usd::from_nanos(98_333));
    let second = call.track_stt("deepgram", "nova-2", 0.6)?;
    assert_eq!(
        second.cost,
        Usd::ZERO,
        "0.9 s so far: still inside the first second"
    );
    call.track_stt("deepgram", "nova-2", 0.2)?;
    assert_eq!(call.total(), Usd::from_nanos(196_667));
    Ok(())
}

/// The README's table of built-in prices, between its markers.
fn readme_price_table() -> &'static str {
    let readme = include_str!("../README.md");
    let begin = "<!-- begin: callmeter catalog --markdown -->\n";
    let from = readme
        .find(begin)
        .expect("the README has the table's begin marker")
        + begin.len();
    let to = readme
        .find("<!-- end: callmeter catalog --markdown -->")
        .expect("and its end marker");
    &readme[from..to]
}

/// The aliases the guide lists (docs/guide/prices.md): (provider, alias, model).
fn guide_aliases() -> Vec<(String, String, String)> {
    let guide = include_str!("../docs/guide/prices.md");
    guide
        .lines()
        .skip_while(|l| !l.starts_with("| provider | alias | model |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (
                cells[1].to_owned(),
                cells[2].to_owned(),
                cells[3].to_owned(),
            )
        })
        .collect()
}

/// The README's price table is the catalog's own listing, row for row: regenerate it with
/// `cargo run --features cli -- catalog --markdown` when a price changes.
#[test]
fn the_readme_price_table_is_the_builtin_catalog() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 5).expect("day");
    let generated = callmeter::pricing::Listed::markdown_table(&Catalog::builtin().listing(today));
    assert_eq!(readme_price_table(), generated);
}

#[test]
fn every_alias_in_the_guide_is_the_catalogs() -> TestResult {
    let listed = guide_aliases();
    let catalog = Catalog::builtin();
    let mut aliases: Vec<(String, String, String)> = catalog
        .aliases()
        .map(|((p, alias), (_, model))| (p.to_owned(), alias.to_owned(), model.to_owned()))
        .collect();
    aliases.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted, aliases,
        "the guide lists every alias, and only those"
    );
    for (provider, alias, _) in &listed {
        assert!(
            catalog.get(provider, alias).is_some(),
            "{provider}/{alias} resolves"
        );
    }

    // Tracking by an alias prices exactly as the model it names.
    let db = Db::new();
    let (meter, guard) = open(&db, Catalog::builtin());
    let call = meter.start_call(CallInfo::new("aliases"))?;
    let by_alias = call.track_stt("deepgram", "nova-2-streaming", 60.0)?;
    let by_name = call.track_stt("deepgram", "nova-2", 60.0)?;
    assert_eq!(by_alias.cost, by_name.cost);
    let sonnet = call.track_inference("anthropic", "claude-sonnet-4", TokenUsage::new(1_000, 0))?;
    assert_eq!(sonnet.cost, usd(dec!(0.003)));
    call.finalize(callmeter::Outcome::Completed)?;
    guard.shutdown()?;
    Ok(())
}
