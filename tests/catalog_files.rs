//! Catalog files (TOML and JSON) and model-name matching.

mod common;

use callmeter::pricing::PriceOrigin;
use callmeter::{CallInfo, Catalog, Error, Rate, TokenUsage, Usd};
use common::{Db, TestResult};
use rust_decimal::dec;

const EXAMPLE: &str = "tests/data/catalog.toml";

fn usd(d: rust_decimal::Decimal) -> Usd {
    Usd::new(d)
}

fn example() -> Catalog {
    Catalog::builtin()
        .into_builder()
        .load_file(EXAMPLE)
        .and_then(|b| b.build())
        .expect("the example file loads")
}

#[test]
fn the_example_file_loads_every_kind_of_rule() -> TestResult {
    let catalog = example();
    let de = catalog
        .get("acme-telecom", "outbound-de")
        .expect("current version");
    assert_eq!(de.origin(), PriceOrigin::File);
    assert_eq!(de.source(), "carrier contract, amendment 1");
    assert_eq!(catalog.versions("acme-telecom", "outbound-de").count(), 2);
    let sonnet = catalog
        .get("anthropic", "claude-sonnet-4-5")
        .expect("sonnet");
    assert_eq!(sonnet.rates().len(), 5);
    assert_eq!(sonnet.context_tiers()[0].above_prompt_tokens(), 200_000);
    let card = catalog.get("stripe", "card-international").expect("card");
    let fee = card.fee().expect("fee");
    assert_eq!(fee.international_surcharge(), Some(dec!(1.5)));
    let fixed: Vec<String> = catalog
        .fixed_costs()
        .iter()
        .map(|c| format!("{} {}", c.name(), c.monthly()))
        .collect();
    assert_eq!(
        fixed,
        [
            "agent server $20",
            "elevenlabs/eleven_multilingual_v2 subscription (pro) $99"
        ]
    );
    // The built-ins are still there.
    assert!(catalog.get("twilio", "outbound-us").is_some());
    Ok(())
}

#[test]
fn prices_from_a_file_are_what_track_calls_bill() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(example()).open()?;
    let call = meter.start_call(CallInfo::new("file"))?;
    // The Pro plan: $99 for 500 000 characters.
    assert_eq!(
        call.track_tts("elevenlabs", "eleven_multilingual_v2", 1_000)?
            .cost,
        usd(dec!(0.198))
    );
    let sonnet = |usage| call.track_inference("anthropic", "claude-sonnet-4-5", usage);
    // 150 000 prompt tokens: base rates, $3 and $6 per million.
    assert_eq!(
        sonnet(TokenUsage::new(100_000, 0).with_cache_write_1h(50_000))?.cost,
        usd(dec!(0.60))
    );
    // 2 000 000 prompt tokens: input at the long-context $6, the 1-hour write keeps its $6.
    assert_eq!(
        sonnet(TokenUsage::new(1_000_000, 0).with_cache_write_1h(1_000_000))?.cost,
        usd(dec!(12))
    );
    Ok(())
}

#[test]
fn json_files_use_the_same_format() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("prices.json");
    std::fs::write(
        &path,
        r#"{"model": [{"provider": "acme", "model": "voice", "category": "tts",
             "rates": {"characters": "$0.10 per 1K characters"}}]}"#,
    )?;
    let catalog = Catalog::builder().load_file(&path)?.build()?;
    let rate = catalog.get("acme", "voice").expect("entry").rates()[0].1;
    assert_eq!(rate, Rate::per_thousand_characters(usd(dec!(0.10))));
    Ok(())
}

/// The error of loading `text` as a TOML catalog file.
fn error_of(text: &str) -> Error {
    match Catalog::builder().load_toml(text, "bad.toml") {
        Ok(_) => panic!("{text} loaded"),
        Err(e) => e,
    }
}

fn assert_names(err: &Error, want_entry: Option<&str>, want_field: Option<&str>, says: &str) {
    match err {
        Error::CatalogFile {
            path,
            entry,
            field,
            reason,
        } => {
            assert_eq!(path.to_str(), Some("bad.toml"));
            assert_eq!(entry.as_deref(), want_entry, "{err}");
            assert_eq!(field.as_deref(), want_field, "{err}");
            assert!(reason.contains(says), "{reason:?} should say {says:?}");
        }
        other => panic!("expected a catalog file error, got {other:?}"),
    }
}

const HEAD: &str = "[[model]]\nprovider = \"acme\"\nmodel = \"voice\"\ncategory = \"tts\"\n";

#[test]
fn a_float_price_is_refused_and_the_error_says_how_to_write_it() {
    let err = error_of(
        "[[model]]\nprovider = \"stripe\"\nmodel = \"x\"\ncategory = \"payment\"\nfee = { percent = 2.9 }\n",
    );
    assert_names(&err, None, None, "write it as a string");
}

/// Rates get the same advice as fees, in entries and in prompt-size tiers.
#[test]
fn a_float_rate_is_refused_with_the_same_advice() {
    for body in [
        "rates = { characters = 0.5 }\n",
        "[[model.above]]\nprompt_tokens = 200000\nrates = { input_tokens = 0.000003 }\n",
    ] {
        let err = error_of(&format!("{HEAD}{body}"));
        assert_names(&err, None, None, "write it as a string");
    }
}

#[test]
fn file_errors_name_the_entry_and_the_field() {
    let cases = [
        (
            "rates = { characters = \"$0.10 per minute\" }",
            "rates.characters",
            "counted in characters",
        ),
        (
            "rates = { characters = \"ten cents\" }",
            "rates.characters",
            "is not a rate",
        ),
        (
            "rates = { syllables = \"$1 per token\" }",
            "rates.syllables",
            "unknown usage kind",
        ),
        ("effective_from = \"soon\"", "effective_from", "RFC 3339"),
        ("checked = \"2025-13-01\"", "checked", "YYYY-MM-DD"),
        // The earlier name is read as the same field.
        ("verified_on = \"2025-13-01\"", "checked", "YYYY-MM-DD"),
        (
            "rates = { call_seconds = \"$0.05 per minute\" }\nincrements = { call_seconds = { step_seconds = 1, charged_at_start = true } }",
            "increments.call_seconds",
            "charged_at_start charges the minimum",
        ),
    ];
    for (line, field, says) in cases {
        let err = error_of(&format!("{HEAD}{line}\n"));
        assert_names(&err, Some("acme/voice"), Some(field), says);
    }
    let err = error_of("[[model]]\nprovider = \"acme\"\nmodel = \"voice\"\ncategory = \"music\"\n");
    assert_names(
        &err,
        Some("acme/voice"),
        Some("category"),
        "unknown category",
    );
}

#[test]
fn unknown_fields_and_broken_syntax_are_refused_with_the_place() {
    let err = error_of(&format!("{HEAD}colour = \"blue\"\n"));
    assert_names(&err, None, None, "colour");
    let err = error_of("[[model]\n");
    assert_names(&err, None, None, "line 1");
}

#[test]
fn a_missing_file_or_extension_is_a_typed_error() {
    let missing = Catalog::builder().load_file("no/such/prices.toml").err();
    assert!(
        matches!(&missing, Some(Error::CatalogFile { reason, .. }) if reason.contains("cannot read")),
        "{missing:?}"
    );
    let extension = Catalog::builder().load_file("prices.yaml").err();
    assert!(
        matches!(&extension, Some(Error::CatalogFile { reason, .. }) if reason.contains(".toml")),
        "{extension:?}"
    );
}

#[test]
fn names_match_across_case_prefixes_dates_and_aliases() -> TestResult {
    let catalog = example();
    for (provider, model, want) in [
        ("openai", "gpt-4o-mini", "gpt-4o-mini"),
        ("OpenAI", "GPT-4o-mini", "gpt-4o-mini"),
        ("openai", "openai/gpt-4o-mini", "gpt-4o-mini"),
        ("openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("openai", "openai/gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("acme-telecom", "outbound-germany", "outbound-de"),
        ("acme", "DE", "outbound-de"),
    ] {
        let found = catalog.get(provider, model).map(|p| p.model());
        assert_eq!(found, Some(want), "{provider}/{model}");
    }
    assert!(catalog.get("anthropic", "openai/gpt-4o-mini").is_none());
    Ok(())
}

#[test]
fn an_alias_to_nothing_is_refused() {
    let err = Catalog::builder()
        .alias("voice", "acme", "missing")
        .build()
        .err();
    assert!(
        matches!(&err, Some(Error::Catalog { field, .. }) if field == "aliases"),
        "{err:?}"
    );
}

#[test]
fn an_unknown_model_error_suggests_the_nearest_names() -> TestResult {
    let db = Db::new();
    let (meter, _guard) = db.open();
    let call = meter.start_call(CallInfo::new("typo"))?;
    let err = call
        .track_inference("openai", "gpt-4o-mni", TokenUsage::new(10, 10))
        .err();
    match &err {
        Some(e @ Error::UnknownModel { suggestions, .. }) => {
            assert_eq!(
                suggestions.first().map(String::as_str),
                Some("openai/gpt-4o-mini")
            );
            assert!(
                e.to_string().contains("did you mean openai/gpt-4o-mini"),
                "{e}"
            );
        }
        other => panic!("expected an unknown model, got {other:?}"),
    }
    let err = call.track_tts("elevenlab", "eleven_turbo_v2_5", 10).err();
    assert!(
        matches!(&err, Some(Error::UnknownModel { suggestions, .. }) if suggestions == &["elevenlabs/…"]),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn the_guides_example_file_loads() -> TestResult {
    let readme = std::fs::read_to_string("docs/guide/prices.md")?;
    let start = readme.find("```toml\n").expect("a TOML example") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("its end");
    let catalog = Catalog::builder()
        .load_toml(&readme[start..end], "docs/guide/prices.md")?
        .build()?;
    assert_eq!(catalog.versions("acme-telecom", "outbound-de").count(), 2);
    assert!(catalog.get("stripe", "card-international").is_some());
    assert_eq!(catalog.fixed_costs().len(), 2);
    Ok(())
}

/// A start charge and a minimum per request, written in a catalog file, bill as their builder
/// forms do (the rules' own tests are in tests/billing_rules.rs).
#[test]
fn a_file_can_charge_at_start_and_round_each_request() -> TestResult {
    let text = r#"
[[model]]
provider = "acme"
model = "live"
category = "realtime"
source = "https://acme.example/pricing"
checked = "2026-12-01"
rates = { call_seconds = "$0.06 per minute" }
increments = { call_seconds = { step_seconds = 1, minimum_seconds = 15, charged_at_start = true } }

[[model]]
provider = "acme"
model = "diarize"
category = "stt"
rates = { audio_seconds = "$0.06 per minute" }
increments = { audio_seconds = { step_seconds = 1, minimum_seconds = 20, per_request = true } }
"#;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, text)?;
    let catalog = Catalog::builder().load_file(&path)?.build()?;
    let live = catalog.get("acme", "live").ok_or("live")?;
    assert_eq!(live.checked(), chrono::NaiveDate::from_ymd_opt(2026, 12, 1));
    assert!(live.increments()[0].1.is_charged_at_start());
    let db = Db::new();
    let (meter, _guard) = db.builder().catalog(catalog).open()?;
    let call = meter.start_call(CallInfo::new("rules"))?;
    // 15 s at $0.001 a second, when the session starts.
    assert_eq!(
        call.track_session_start("acme", "live")?.cost,
        Usd::from_nanos(15_000_000)
    );
    call.track_duration("acme", "live", 20.0)?;
    assert_eq!(
        call.total(),
        Usd::from_nanos(20_000_000),
        "credited: 20 s in all"
    );
    call.track_stt("acme", "diarize", 5.0)?;
    call.track_stt("acme", "diarize", 5.0)?;
    assert_eq!(
        call.total(),
        Usd::from_nanos(60_000_000),
        "20 s per request, twice"
    );
    Ok(())
}
