//! The `callmeter` command-line tool (built with the `cli` feature).

use std::process::Command;

fn callmeter(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callmeter"))
        .args(args)
        .output()
        .expect("run callmeter");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quote_shows_rate_increment_source_and_total() {
    let (ok, out, err) = callmeter(&["quote", "twilio", "outbound-us", "--seconds", "80"]);
    assert!(ok, "{err}");
    assert!(out.contains("twilio/outbound-us (telephony)"), "{out}");
    assert!(out.contains("twilio.com/voice/pricing/us"), "{out}");
    assert!(out.contains("billed as 120 seconds"), "{out}");
    assert!(out.contains("$0.014 per minute"), "{out}");
    assert!(out.contains("total: $0.028"), "{out}");
}

#[test]
fn quote_prices_token_kinds_and_payments() {
    let (ok, out, err) = callmeter(&[
        "quote",
        "openai",
        "gpt-4o-mini-2024-07-18",
        "--input-tokens",
        "9000",
        "--cached-input-tokens",
        "1000",
        "--output-tokens",
        "310",
    ]);
    assert!(ok, "{err}");
    // 9 000 × $0.15 + 1 000 × $0.075 + 310 × $0.60, per million.
    assert!(out.contains("$0.15 per 1M tokens = $0.00135"), "{out}");
    assert!(out.contains("total: $0.001611"), "{out}");
    let (ok, out, err) = callmeter(&[
        "quote",
        "stripe",
        "card-not-present",
        "--payment",
        "4.99",
        "--international",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("total: $0.54451"), "{out}");
}

#[test]
fn quote_as_json_is_machine_readable() {
    let (ok, out, err) = callmeter(&[
        "quote",
        "elevenlabs",
        "eleven_turbo_v2_5",
        "--characters",
        "2000",
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["total"], "0.3");
    assert_eq!(v["lines"][0]["kind"], "characters");
}

#[test]
fn an_unknown_model_fails_with_suggestions() {
    let (ok, _, err) = callmeter(&["quote", "openai", "gpt-4o-mni", "--input-tokens", "10"]);
    assert!(!ok);
    assert!(err.contains("did you mean openai/gpt-4o-mini"), "{err}");
    let (ok, _, err) = callmeter(&["quote", "openai", "gpt-4o"]);
    assert!(!ok);
    assert!(err.contains("give a usage"), "{err}");
}
