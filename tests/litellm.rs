//! Import of LiteLLM's price database, on a trimmed copy of the real file (see tests/data/README.md).

use callmeter::pricing::PriceOrigin;
use callmeter::{Catalog, Rate, Unit, UsageKind, Usd};
use rust_decimal::{Decimal, dec};

const FIXTURE: &str = "tests/data/litellm_prices_trimmed.json";

fn imported() -> (Catalog, callmeter::pricing::ImportReport) {
    let (builder, report) = Catalog::builder()
        .import_litellm(FIXTURE)
        .expect("the fixture imports");
    (builder.build().expect("it builds"), report)
}

fn rate(catalog: &Catalog, provider: &str, model: &str, kind: UsageKind) -> Option<Rate> {
    catalog
        .get(provider, model)?
        .rates()
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, r)| *r)
}

fn per_token(d: Decimal) -> Option<Rate> {
    Some(Rate::per_token(Usd::new(d)))
}

#[test]
fn spot_checks_match_the_file_s_own_numbers() {
    let (c, _) = imported();
    // "gpt-4o-mini": input_cost_per_token 1.5e-07, output 6e-07, cache read 7.5e-08.
    assert_eq!(
        rate(&c, "openai", "gpt-4o-mini", UsageKind::InputTokens),
        per_token(dec!(0.00000015))
    );
    assert_eq!(
        rate(&c, "openai", "gpt-4o-mini", UsageKind::OutputTokens),
        per_token(dec!(0.0000006))
    );
    assert_eq!(
        rate(&c, "openai", "gpt-4o-mini", UsageKind::CachedInputTokens),
        per_token(dec!(0.000000075))
    );
    // "claude-sonnet-4-5": cache writes 3.75e-06 (5 min) and 6e-06 (1 h).
    assert_eq!(
        rate(
            &c,
            "anthropic",
            "claude-sonnet-4-5",
            UsageKind::CacheWriteTokens
        ),
        per_token(dec!(0.00000375))
    );
    assert_eq!(
        rate(
            &c,
            "anthropic",
            "claude-sonnet-4-5",
            UsageKind::CacheWrite1hTokens
        ),
        per_token(dec!(0.000006))
    );
    // "gpt-realtime": audio in 3.2e-05, audio out 6.4e-05, cached audio 4e-07.
    assert_eq!(
        rate(&c, "openai", "gpt-realtime", UsageKind::AudioInputTokens),
        per_token(dec!(0.000032))
    );
    assert_eq!(
        rate(&c, "openai", "gpt-realtime", UsageKind::AudioOutputTokens),
        per_token(dec!(0.000064))
    );
    assert_eq!(
        rate(
            &c,
            "openai",
            "gpt-realtime",
            UsageKind::CachedAudioInputTokens
        ),
        per_token(dec!(0.0000004))
    );
    // "deepgram/nova-2": input_cost_per_second 7.167e-05, exactly as written.
    assert_eq!(
        rate(&c, "deepgram", "nova-2", UsageKind::AudioSeconds),
        Some(Rate::per_second(Usd::new(dec!(0.00007167))))
    );
    // "tts-1": input_cost_per_character 1.5e-05 = $15 per million characters.
    assert_eq!(
        rate(&c, "openai", "tts-1", UsageKind::Characters),
        Some(Rate::per_character(Usd::new(dec!(0.000015))))
    );
    // "dashscope/qwen-turbo": output_cost_per_reasoning_token 5e-07.
    assert_eq!(
        rate(&c, "dashscope", "qwen-turbo", UsageKind::ReasoningTokens),
        per_token(dec!(0.0000005))
    );
    // "perplexity/sonar-small-online": input_cost_per_request 0.005.
    assert_eq!(
        rate(&c, "perplexity", "sonar-small-online", UsageKind::Requests).map(|r| r.price()),
        Some(Usd::new(dec!(0.005)))
    );
    let mini = c.get("openai", "gpt-4o-mini").expect("entry");
    assert_eq!(mini.origin(), PriceOrigin::Litellm);
    assert!(mini.source().contains("LiteLLM"));
}

#[test]
fn above_200k_fields_become_a_context_tier() {
    let (c, _) = imported();
    let pro = c.get("gemini", "gemini-2.5-pro").expect("gemini");
    let tier = &pro.context_tiers()[0];
    assert_eq!(tier.above_prompt_tokens(), 200_000);
    let input = tier
        .rates()
        .iter()
        .find(|(k, _)| *k == UsageKind::InputTokens)
        .map(|(_, r)| *r);
    assert_eq!(input, per_token(dec!(0.0000025)));
}

#[test]
fn what_cannot_be_mapped_is_reported_not_guessed() {
    let (_, report) = imported();
    let skipped: Vec<&str> = report.skipped.iter().map(|(k, _)| k.as_str()).collect();
    assert!(skipped.contains(&"sample_spec"), "{skipped:?}");
    assert!(
        skipped.contains(&"1024-x-1024/50-steps/stability.stable-diffusion-xl-v1"),
        "{skipped:?}"
    );
    let unmapped = |entry: &str, field: &str| {
        report
            .unmapped
            .iter()
            .any(|(e, f)| e == entry && f == field)
    };
    assert!(unmapped(
        "openai/gpt-4o-mini",
        "input_cost_per_token_batches"
    ));
    assert!(unmapped(
        "openai/gpt-4o-mini",
        "search_context_cost_per_query"
    ));
    assert!(unmapped(
        "openai/gpt-realtime",
        "input_cost_per_image_token"
    ));
    // Every entry is accounted for once.
    let entries: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).expect("read")).expect("json");
    assert_eq!(
        report.imported + report.skipped.len() + report.kept_existing.len(),
        entries.len()
    );
}

#[test]
fn an_import_keeps_the_prices_already_in_the_catalog() {
    let (builder, report) = Catalog::builtin()
        .into_builder()
        .import_litellm(FIXTURE)
        .expect("import");
    let catalog = builder.build().expect("build");
    // The built-in nova-2 is the streaming price ($0.0059 a minute); LiteLLM's is pre-recorded.
    assert_eq!(
        rate(&catalog, "deepgram", "nova-2", UsageKind::AudioSeconds),
        Some(Rate::per_minute(Usd::new(dec!(0.0059))))
    );
    assert!(
        report
            .kept_existing
            .contains(&"deepgram/nova-2".to_string())
    );
    assert!(
        report
            .kept_existing
            .contains(&"openai/gpt-4o-mini".to_string())
    );
    // And the import adds what the built-ins lack.
    assert!(catalog.get("openai", "gpt-4o").is_some());
}

#[test]
fn a_file_that_is_not_the_database_is_a_typed_error() {
    let err = Catalog::builder()
        .import_litellm_json("[1, 2]", "prices.json")
        .err();
    assert!(
        matches!(&err, Some(callmeter::Error::CatalogFile { reason, .. }) if reason.contains("not LiteLLM")),
        "{err:?}"
    );
}

/// LiteLLM's entries for every built-in model it also prices, from the `litellm==1.110.2` wheel
/// (tests/data/README.md).
const SHARED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/litellm_shared.json"
);

/// The price of one unit (token, character, second) of a rate, exactly.
fn per_unit(rate: &Rate) -> Decimal {
    rate.price().as_decimal() / Decimal::from(rate.per())
}

/// The rates where the built-in catalog and LiteLLM differ, each explained in the README's
/// "Cross-check with LiteLLM" section: (provider, model, kind as the built-in prices it).
const EXPLAINED: &[(&str, &str, UsageKind)] = &[
    ("deepgram", "nova-2", UsageKind::AudioSeconds),
    ("deepgram", "nova-3", UsageKind::AudioSeconds),
    ("elevenlabs", "eleven_flash_v2", UsageKind::Characters),
    ("elevenlabs", "eleven_flash_v2_5", UsageKind::Characters),
    (
        "elevenlabs",
        "eleven_multilingual_v2",
        UsageKind::Characters,
    ),
    ("elevenlabs", "eleven_turbo_v2", UsageKind::Characters),
    ("elevenlabs", "eleven_turbo_v2_5", UsageKind::Characters),
    ("elevenlabs", "eleven_v3", UsageKind::Characters),
    ("openai", "gpt-live-1", UsageKind::CallSeconds),
    ("openai", "gpt-live-transcribe", UsageKind::AudioSeconds),
    ("openai", "gpt-realtime-whisper", UsageKind::AudioSeconds),
];

/// Every token, audio, character and second rate of a built-in model that LiteLLM also prices is
/// the same to the last digit, or the difference is one the README explains.
#[test]
fn shared_models_price_as_litellm_does_or_the_readme_says_why() {
    let (builder, _) = Catalog::builder()
        .import_litellm(SHARED)
        .expect("the snapshot imports");
    let litellm = builder.build().expect("it builds");
    let builtin = Catalog::builtin();
    let (mut compared, mut differ) = (0, Vec::new());
    for theirs in litellm.iter() {
        let ours = builtin
            .get(theirs.provider(), theirs.model())
            .unwrap_or_else(|| panic!("{}/{} is built in", theirs.provider(), theirs.model()));
        for (kind, rate) in ours.rates() {
            // LiteLLM has one per-second field: match it to whichever kind of seconds ours bills.
            let same_unit = theirs.rates().iter().find(|(k, r)| {
                k == kind || (kind.unit() == Unit::Second && r.unit() == Unit::Second)
            });
            let Some((_, their_rate)) = same_unit else {
                continue;
            };
            compared += 1;
            if per_unit(rate) != per_unit(their_rate) {
                differ.push((ours.provider().to_owned(), ours.model().to_owned(), *kind));
            }
        }
    }
    assert!(compared > 80, "the rates were compared: {compared}");
    differ.sort();
    let explained: Vec<(String, String, UsageKind)> = EXPLAINED
        .iter()
        .map(|(p, m, k)| ((*p).to_owned(), (*m).to_owned(), *k))
        .collect();
    assert_eq!(
        differ, explained,
        "every difference, and only those, is explained"
    );
    let readme = include_str!("../README.md");
    let section = readme
        .split("### Cross-check with LiteLLM")
        .nth(1)
        .expect("the README has the cross-check section");
    for (provider, model, _) in EXPLAINED {
        assert!(
            section.contains(&format!("{provider}/{model}")),
            "the README explains {provider}/{model}"
        );
    }
}
