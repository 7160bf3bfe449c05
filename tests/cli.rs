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
        "--exact",
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

fn database_with_calls(dir: &std::path::Path) -> std::path::PathBuf {
    use callmeter::{CallInfo, Meter, Outcome, Quota, Usd};
    let path = dir.join("calls.db");
    // The call's $0.07 is 87.5 % of this quota: past its warning.
    let quota = Quota::monthly("twilio").cost(Usd::new(rust_decimal::dec!(0.08)));
    let (meter, guard) = Meter::builder()
        .path(&path)
        .quota(quota)
        .open()
        .expect("open");
    let call = meter
        .start_call(CallInfo::new("CA<script>").user("u1").session_kind("phone"))
        .expect("start");
    call.track_duration("twilio", "outbound-us", 300.0)
        .expect("track");
    call.finalize(Outcome::Completed).expect("finalize");
    drop(call);
    guard.shutdown().expect("shutdown");
    path
}

#[test]
fn report_summarises_a_database_and_breaks_down_a_call() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database_with_calls(dir.path());
    let db = db.to_str().expect("utf-8 path");
    let (ok, out, err) = callmeter(&["report", "--db", db]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l == "  total         $0.07"), "{out}");
    assert!(out.lines().any(|l| l == "  calls         1"), "{out}");
    let (ok, out, err) = callmeter(&["report", "--db", db, "--call", "CA<script>", "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["total"], "0.07");
    assert_eq!(v["events"][0]["provider"], "twilio");
    let (ok, out, err) = callmeter(&["report", "--db", db, "--json"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["endings"][0]["status"], "completed");
    assert_eq!(v["endings"][0]["calls"], 1);
    assert_eq!(v["cost_spread"]["p50"], "0.07");
    assert_eq!(v["against_previous"]["calls"], 1);
    assert_eq!(v["quotas"][0]["subject"], "provider:twilio");
    assert_eq!(v["quotas"][0]["cost"], "0.07");
    assert_eq!(v["quotas"][0]["level"], "warning");
    let (ok, out, err) = callmeter(&["report", "--db", db]);
    assert!(ok, "{err}");
    let quota = out
        .lines()
        .find(|l| l.trim_start().starts_with("provider:twilio"))
        .unwrap_or_else(|| panic!("the quota's line in {out}"));
    assert!(
        quota.contains("87.5 %") && quota.contains("warning") && quota.contains("$0.07 of $0.08"),
        "{quota}"
    );
    let (ok, out, err) = callmeter(&["report", "--db", db, "--by", "user"]);
    assert!(ok, "{err}");
    assert!(out.contains("u1"), "{out}");
}

#[test]
fn report_on_an_empty_a_missing_and_a_corrupt_database() {
    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("empty.db");
    let (_meter, guard) = callmeter::Meter::builder()
        .path(&empty)
        .open()
        .expect("open");
    guard.shutdown().expect("shutdown");
    let (ok, out, err) = callmeter(&["report", "--db", empty.to_str().expect("path")]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l == "  total         $0.00"), "{out}");
    let missing = dir.path().join("missing.db");
    let (ok, _, err) = callmeter(&["report", "--db", missing.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("missing.db: no such file"), "{err}");
    let blank = dir.path().join("blank.db");
    std::fs::write(&blank, b"").expect("write");
    let (ok, _, err) = callmeter(&["report", "--db", blank.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("blank.db: empty"), "{err}");
    let corrupt = dir.path().join("corrupt.db");
    std::fs::write(&corrupt, vec![0x42_u8; 4096]).expect("write");
    let (ok, _, err) = callmeter(&["report", "--db", corrupt.to_str().expect("path")]);
    assert!(!ok);
    assert!(err.contains("corrupt.db"), "{err}");
    assert!(err.contains("not a database"), "{err}");
}

#[test]
fn a_range_ending_before_it_starts_is_an_error() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database_with_calls(dir.path());
    let db = db.to_str().expect("utf-8 path");
    for command in ["report", "economics", "export"] {
        let (ok, out, err) = callmeter(&[
            command,
            "--db",
            db,
            "--from",
            "2026-11-10",
            "--to",
            "2026-11-01",
        ]);
        assert!(!ok, "{command}: {out}");
        assert!(
            err.contains("--from 2026-11-10 is after --to 2026-11-01"),
            "{command}: {err}"
        );
    }
}

#[test]
fn a_usage_the_model_does_not_bill_is_an_error_naming_what_it_bills() {
    let (ok, out, err) = callmeter(&[
        "quote",
        "elevenlabs",
        "eleven_turbo_v2_5",
        "--seconds",
        "10",
    ]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("does not bill audio_seconds; it bills characters"),
        "{err}"
    );
}

#[test]
fn amounts_are_rounded_for_reading_and_exact_with_exact() {
    let args = [
        "quote",
        "openai",
        "gpt-4o-mini",
        "--input-tokens",
        "1234567",
    ];
    let (ok, out, err) = callmeter(&args);
    assert!(ok, "{err}");
    // 1 234 567 tokens at $0.15 per million: $0.18518505.
    assert!(out.lines().any(|l| l == "  total: $0.1852"), "{out}");
    let (ok, out, err) = callmeter(&[&args[..], &["--exact"]].concat());
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l == "  total: $0.18518505"), "{out}");
}

#[test]
fn economics_shows_margin_and_break_even() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database_with_calls(dir.path());
    let db = db.to_str().expect("utf-8 path");
    let (ok, out, err) = callmeter(&["economics", "--db", db, "--price", "1.00"]);
    assert!(ok, "{err}");
    assert!(out.lines().any(|l| l == "  variable cost   $0.07"), "{out}");
    // No fixed costs: break-even at zero calls.
    assert!(out.contains("break-even      0 calls a month"), "{out}");
    let (ok, out, err) = callmeter(&[
        "economics",
        "--db",
        db,
        "--price",
        "0.05",
        "--catalog",
        "tests/data/catalog.toml",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("break-even      none"), "{out}");
}

#[test]
fn export_writes_jsonl_and_csv_to_stdout() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database_with_calls(dir.path());
    let db = db.to_str().expect("utf-8 path");
    let (ok, out, err) = callmeter(&["export", "--db", db]);
    assert!(ok, "{err}");
    let v: serde_json::Value =
        serde_json::from_str(out.lines().next().expect("a line")).expect("json");
    assert_eq!(v["call_id"], "CA<script>");
    let (ok, out, err) = callmeter(&["export", "--db", db, "--format", "events-csv"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(err.contains("1 records"), "{err}");
}

/// Renders `page` in headless Chromium and returns the DOM it built and what it logged.
fn chromium(page: &std::path::Path, screenshot: Option<&std::path::Path>) -> (String, String) {
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-logging=stderr",
        "--v=0",
    ]);
    match screenshot {
        Some(png) => {
            cmd.arg("--window-size=1000,1900")
                .arg(format!("--screenshot={}", png.display()));
        }
        None => {
            cmd.arg("--dump-dom");
        }
    }
    let out = cmd
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs (.ci/run installs Debian's chromium package)");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_html_report_renders_in_chromium_with_every_chart_and_no_script() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database_with_calls(dir.path());
    let page = dir.path().join("report.html");
    let (ok, _, err) = callmeter(&[
        "report",
        "--db",
        db.to_str().expect("path"),
        "--html",
        page.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(&page).expect("page");
    assert!(
        !html.contains("<script"),
        "the page has no script, so it cannot have script errors"
    );
    assert!(html.contains("CA&lt;script&gt;"), "ids are escaped");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing is fetched"
    );
    let (dom, log) = chromium(&page, None);
    for id in [
        "daily-by-category",
        "cost-by-provider",
        "cost-per-call",
        "margin-by-kind",
        "cost-by-hour",
        "endings",
        "alerts",
        "quotas",
        "reconciliation",
        "tenants",
        "users",
        "dearest-calls",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "chart {id} in the rendered page"
        );
    }
    assert!(dom.contains("<svg"), "charts are drawn");
    // Every call is a row with its breakdown, and money shows to the cent.
    assert!(
        dom.contains("id=\"call-CA&lt;script&gt;\""),
        "the call's row"
    );
    assert!(
        dom.contains("<summary>CA&lt;script&gt;</summary>"),
        "its breakdown"
    );
    assert!(dom.contains(">twilio<"), "the breakdown's provider");
    assert!(dom.contains(">$0.07<"), "money to the cent");
    assert!(
        dom.contains(">provider:twilio<") && dom.contains(">warning<"),
        "the quota's state"
    );
    assert!(!dom.contains("<script"), "no script element in the DOM");
    assert!(!log.contains("Uncaught"), "no script error: {log}");
    let png = dir.path().join("report.png");
    chromium(&page, Some(&png));
    let bytes = std::fs::read(&png).expect("screenshot");
    assert!(bytes.starts_with(b"\x89PNG"), "a PNG screenshot");
}

#[test]
fn quote_prices_a_leg_by_its_destination_from_twilio_s_prices() {
    let prices = "tests/fixtures/sdk_twilio_voice_country_us.json";
    let (ok, out, err) = callmeter(&[
        "quote",
        "twilio",
        "voice",
        "--twilio-voice",
        prices,
        "--to",
        "+1 907 555 0100",
        "--seconds",
        "80",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with("twilio/voice:United States - Alaska (telephony)"),
        "{out}"
    );
    assert!(out.lines().any(|l| l == "  total: $0.18"), "{out}");
    let (ok, _, err) = callmeter(&[
        "quote",
        "twilio",
        "voice",
        "--twilio-voice",
        prices,
        "--to",
        "+44 20 7946 0000",
        "--seconds",
        "80",
    ]);
    assert!(!ok);
    assert!(err.contains("no rate for to +44 20 7946 0000"), "{err}");
    let (ok, _, err) = callmeter(&[
        "quote",
        "twilio",
        "voice",
        "--inbound",
        "toll free",
        "--seconds",
        "80",
    ]);
    assert!(!ok);
    assert!(err.contains("give --twilio-voice FILE"), "{err}");
}

#[test]
fn reconcile_imports_provider_records_and_reports_the_differences() {
    let dir = tempfile::tempdir().expect("dir");
    let db = database_with_calls(dir.path());
    let db = db.to_str().expect("utf-8 path");
    let today = chrono::Utc::now().date_naive();
    // Twilio billed the call $0.08 (callmeter computed $0.07), and a call callmeter never saw.
    let calls = dir.path().join("calls.json");
    let start = chrono::Utc::now().to_rfc2822();
    std::fs::write(
        &calls,
        format!(
            r#"{{"calls": [
                {{"sid": "CA<script>", "price": "-0.08000", "price_unit": "USD", "start_time": "{start}"}},
                {{"sid": "CAother", "price": "-0.01000", "price_unit": "USD", "start_time": "{start}"}}
            ]}}"#
        ),
    )
    .expect("write");
    let calls = calls.to_str().expect("path");
    let (ok, out, err) = callmeter(&["reconcile", "--db", db, "--twilio-calls", calls]);
    assert!(ok, "{err}");
    assert!(err.contains("2 billed records: 2 added"), "{err}");
    let twilio = out
        .lines()
        .find(|l| l.trim_start().starts_with("twilio"))
        .unwrap_or_else(|| panic!("twilio's totals in {out}"));
    assert!(
        twilio.contains("$0.07") && twilio.contains("$0.09") && twilio.contains("$0.02"),
        "{twilio}"
    );
    assert!(out.contains("call CA<script>"), "{out}");
    assert!(out.contains("not_computed"), "{out}");
    // Again: nothing added, the same report, and as JSON with an alert past $0.005.
    let (ok, json, err) = callmeter(&[
        "reconcile",
        "--db",
        db,
        "--twilio-calls",
        calls,
        "--alert-over",
        "0.005",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("2 already there"), "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["reconciliation"]["providers"][0]["delta"], "0.02");
    assert_eq!(v["alerts"][0]["kind"], "billed_delta");
    assert_eq!(v["alerts"][0]["subject"], "provider:twilio");
    assert_eq!(
        v["reconciliation"]["from"],
        (today - chrono::Duration::days(29)).to_string()
    );
    // The call's report carries what Twilio billed for it.
    let (ok, out, err) = callmeter(&["report", "--db", db, "--call", "CA<script>", "--json"]);
    assert!(ok, "{err}");
    let call: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(call["billed"][0]["name"], "twilio");
    assert_eq!(call["billed"][0]["cost"], "0.08");
    // The dashboard shows the same, estimated against verified.
    let page = dir.path().join("report.html");
    let (ok, _, err) = callmeter(&["report", "--db", db, "--html", page.to_str().expect("path")]);
    assert!(ok, "{err}");
    let html = std::fs::read_to_string(&page).expect("page");
    let section = &html[html
        .find("<section id=\"reconciliation\">")
        .expect("the section")..];
    assert!(
        section.contains("call CAother") && section.contains("not_computed"),
        "{section}"
    );
    // Usage counted by the providers: ElevenLabs counted characters the pipeline never tracked.
    let stats = dir.path().join("elevenlabs.json");
    let midnight = today
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis();
    std::fs::write(
        &stats,
        format!(r#"{{"time": [{midnight}], "usage": {{"All": [120]}}}}"#),
    )
    .expect("write");
    let (ok, out, err) = callmeter(&[
        "reconcile",
        "--db",
        db,
        "--elevenlabs-usage",
        stats.to_str().expect("path"),
    ]);
    assert!(ok, "{err}");
    assert!(err.contains("1 usage records: 1 added"), "{err}");
    assert!(out.contains("usage counted by the providers"), "{out}");
    assert!(out.contains("not_computed"), "{out}");
    let (ok, _, err) = callmeter(&["reconcile", "--db", db, "--openai-costs", "Cargo.toml"]);
    assert!(!ok);
    assert!(err.contains("not JSON"), "{err}");
}

#[test]
fn catalog_lists_every_price_with_its_source_and_age() {
    let (ok, out, err) = callmeter(&["catalog", "--today", "2026-12-05"]);
    assert!(ok, "{err}");
    assert!(out.contains("openai/gpt-realtime-2 (realtime)"), "{out}");
    assert!(
        out.contains("source: https://developers.openai.com/api/docs/models/gpt-realtime-2 [checked 2026-12-05, today]"),
        "{out}"
    );
    assert!(out.contains("checked 2025-11-21, 379 days ago"), "{out}");
    assert!(
        out.contains("billing: call_seconds per started minute"),
        "{out}"
    );
    let entries = callmeter::Catalog::builtin().len();
    assert!(out.contains(&format!("{entries} entries")), "{out}");

    let (ok, out, _) = callmeter(&["catalog", "--provider", "telnyx", "--today", "2026-12-05"]);
    assert!(ok);
    assert!(out.contains("telnyx/outbound-us"), "{out}");
    assert!(out.contains("in steps of 6 s, at least 6 s"), "{out}");
    assert!(!out.contains("twilio/"), "{out}");
    assert!(out.contains("1 entries"), "{out}");
}

#[test]
fn catalog_names_the_stale_prices() {
    let (ok, out, err) = callmeter(&[
        "catalog",
        "--stale-after",
        "90d",
        "--today",
        "2026-12-05",
        "--json",
    ]);
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("json");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["age_days"].as_i64().is_some_and(|d| d > 90)),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r["provider"] == "deepgram" && r["model"] == "nova-2")
    );
    assert!(
        !rows.iter().any(|r| r["model"] == "gpt-realtime-2"),
        "checked today"
    );
    // Twelve weeks is 84 days; a year later, every price is stale.
    let (ok, out, _) = callmeter(&["catalog", "--stale-after", "12w", "--today", "2027-12-05"]);
    assert!(ok);
    let entries = callmeter::Catalog::builtin().len();
    assert!(
        out.contains(&format!(
            "{entries} entries checked more than 84 days ago, or never"
        )),
        "{out}"
    );
    // A file's entry without a date is never checked, so always stale.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("mine.toml");
    std::fs::write(
        &file,
        "[[model]]\nprovider = \"acme\"\nmodel = \"voice\"\ncategory = \"tts\"\nrates = { characters = \"$1 per 1M characters\" }\n",
    )
    .expect("write");
    let path = file.to_str().expect("path");
    let (ok, out, err) = callmeter(&[
        "catalog",
        "--catalog",
        path,
        "--provider",
        "acme",
        "--stale-after",
        "0",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("acme/voice (tts)"), "{out}");
    assert!(out.contains("never checked"), "{out}");
}

#[test]
fn catalog_refuses_an_age_it_cannot_read() {
    for bad in ["ninety", "90y", "-1d", "99999999d"] {
        let arg = format!("--stale-after={bad}");
        let (ok, _, err) = callmeter(&["catalog", &arg]);
        assert!(!ok, "{bad}");
        assert!(err.contains("is not an age"), "{bad}: {err}");
    }
}

#[test]
fn catalog_markdown_is_the_readme_table() {
    let (ok, out, err) = callmeter(&["catalog", "--markdown"]);
    assert!(ok, "{err}");
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(&out),
        "regenerate the README's table with `callmeter catalog --markdown`"
    );
}

#[test]
fn quote_prints_the_age_of_the_price() {
    let (ok, out, err) = callmeter(&["quote", "openai", "whisper-1", "--seconds", "60"]);
    assert!(ok, "{err}");
    assert!(out.contains("checked 2026-12-05, "), "{out}");
    assert!(out.contains(" ago]") || out.contains("today]"), "{out}");
}

#[test]
fn quote_turns_shows_a_realtime_session_growing() {
    let (ok, out, err) = callmeter(&[
        "quote",
        "openai",
        "gpt-realtime-1.5",
        "--turns",
        "3",
        "--input-tokens",
        "1000",
        "--audio-input-tokens",
        "100",
        "--output-tokens",
        "20",
        "--audio-output-tokens",
        "200",
        "--exact",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("3 turns, each billed for the conversation so far"),
        "{out}"
    );
    let last = out.lines().last().expect("a line");
    assert!(last.contains("$0.03968") && last.contains("$0.09"), "{out}");
    let (ok, _, err) = callmeter(&["quote", "openai", "gpt-realtime-1.5", "--turns", "10001"]);
    assert!(!ok);
    assert!(err.contains("10 000 turns"), "{err}");
}
