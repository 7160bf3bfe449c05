//! What the providers billed, read from their own records: real bodies from the providers' SDK
//! test suites and API references (`tests/fixtures/README.md`), turned into exact lines.

use callmeter::adapters::{
    AnthropicCostReport, BilledLine, ExchangeRate, OpenAiCosts, TwilioCall, TwilioCallsPage,
    TwilioUsageRecords, invoice_lines_csv,
};
use callmeter::{Error, Usd};
use chrono::NaiveDate;
use rust_decimal::dec;

fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("its shape")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

#[test]
fn a_twilio_call_bills_its_price_on_its_day_for_its_sid() {
    let call: TwilioCall = fixture("sdk_twilio_call.json");
    let line = call.billed_line(None).expect("read").expect("priced");
    assert_eq!(
        line,
        BilledLine::new(
            "twilio",
            "CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            day("2010-08-31"),
            "call inbound",
            Usd::new(dec!(0.03))
        )
        .call("CAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    );
    assert_eq!(call.to.as_deref(), Some("+14158675309"));
    let page: TwilioCallsPage = fixture("sdk_twilio_calls_page.json");
    assert_eq!(page.billed_lines(None).expect("read"), [], "not priced yet");
}

#[test]
fn twilio_usage_records_bill_the_categories_asked_for() {
    let page: TwilioUsageRecords = fixture("sdk_twilio_usage_records_daily.json");
    assert_eq!(page.billed_lines(&["calls"], None).expect("read"), []);
    let lines = page
        .billed_lines(&["sms-inbound-shortcode"], None)
        .expect("read");
    assert_eq!(
        lines,
        [BilledLine::new(
            "twilio",
            "2015-09-06/sms-inbound-shortcode",
            day("2015-09-06"),
            "sms-inbound-shortcode",
            Usd::ZERO
        )]
    );
    let mut monthly = page.clone();
    monthly.usage_records[0].end_date = "2015-09-30".into();
    assert!(matches!(
        monthly.billed_lines(&["sms-inbound-shortcode"], None),
        Err(Error::BilledRecord { .. })
    ));
}

#[test]
fn openai_costs_are_dollars_read_exactly() {
    let costs: OpenAiCosts = fixture("api_openai_costs.json");
    let lines = costs.billed_lines(None).expect("read");
    assert_eq!(
        lines,
        [BilledLine::new(
            "openai",
            "2024-11-01//",
            day("2024-11-01"),
            "costs",
            Usd::new(dec!(0.06))
        )]
    );
    let by_item: OpenAiCosts = serde_json::from_str(
        r#"{"data": [{"start_time": 1730419200, "end_time": 1730505600, "results": [
            {"amount": {"value": "1.5", "currency": "usd"}, "line_item": "gpt-4o-mini-2024-07-18, input"}]}]}"#,
    )
    .expect("a page");
    let line = &by_item.billed_lines(None).expect("read")[0];
    assert_eq!(line.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(line.amount, Usd::new(dec!(1.5)));
}

#[test]
fn anthropic_costs_are_cents_divided_exactly() {
    let report: AnthropicCostReport = fixture("api_anthropic_cost_report.json");
    let lines = report.billed_lines(None).expect("read");
    assert_eq!(lines.len(), 1);
    let line = &lines[0];
    assert_eq!(line.amount, Usd::new(dec!(1.2378912)));
    assert_eq!(line.day, day("2025-08-01"));
    assert_eq!(line.model.as_deref(), Some("claude-opus-5"));
    assert_eq!(line.item, "Claude Opus 5 Usage - Input Tokens");
}

#[test]
fn another_currency_needs_a_rate() {
    let text = "date,provider,item,amount,currency\n2026-11-02,elevenlabs,characters,10.00,EUR\n";
    assert!(matches!(
        invoice_lines_csv(text, None),
        Err(Error::BilledRecord { .. })
    ));
    let rate = ExchangeRate::new("EUR", dec!(1.08));
    let lines = invoice_lines_csv(text, Some(&rate)).expect("read");
    assert_eq!(lines[0].amount, Usd::new(dec!(10.80)));
}

#[test]
fn invoice_lines_keep_their_identity_across_imports() {
    let text = "date,provider,item,amount,model\n\
                2026-11-02,deepgram,nova-2 streaming,1.25,nova-2\n\
                2026-11-02,deepgram,nova-2 streaming,0.75,nova-2\n\
                2026-11-03,elevenlabs,characters,3,\n";
    let lines = invoice_lines_csv(text, None).expect("read");
    let ids: Vec<&str> = lines.iter().map(|l| l.record_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "2026-11-02/nova-2 streaming/nova-2/#1",
            "2026-11-02/nova-2 streaming/nova-2/#2",
            "2026-11-03/characters//#1"
        ]
    );
    assert_eq!(lines, invoice_lines_csv(text, None).expect("read again"));
    assert_eq!(lines[2].model, None);
    let missing = "date,provider,amount\n2026-11-02,deepgram,1\n";
    assert!(matches!(
        invoice_lines_csv(missing, None),
        Err(Error::BilledRecord { .. })
    ));
    let garbled = "date,provider,item,amount\n2026-11-02,deepgram,x,about two\n";
    assert!(matches!(
        invoice_lines_csv(garbled, None),
        Err(Error::BilledRecord { .. })
    ));
}

#[test]
fn usage_records_count_tokens_characters_and_seconds_exactly() {
    use callmeter::Unit;
    use callmeter::adapters::{DeepgramUsageSummary, ElevenLabsCharacterStats, OpenAiUsageReport};
    let speeches: OpenAiUsageReport = fixture("api_openai_usage_audio_speeches.json");
    let usage = speeches.billed_usage().expect("read");
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (
            usage[0].day,
            usage[0].unit,
            usage[0].quantity,
            usage[0].model.as_deref()
        ),
        (day("2024-11-01"), Unit::Character, dec!(45), None)
    );
    // Completions: text and audio tokens, input (cached included) and output.
    let completions: OpenAiUsageReport = serde_json::from_str(
        r#"{"data": [{"start_time": 1730419200, "end_time": 1730505600, "results": [
            {"object": "organization.usage.completions.result", "input_tokens": 1000,
             "input_cached_tokens": 800, "output_tokens": 500, "input_audio_tokens": 20,
             "output_audio_tokens": 10, "num_model_requests": 5, "model": "gpt-4o-mini-2024-07-18"},
            {"object": "organization.usage.embeddings.result", "input_tokens": 7}]}]}"#,
    )
    .expect("a page");
    let usage = completions.billed_usage().expect("read");
    assert_eq!(usage.len(), 1, "embeddings are not voice");
    assert_eq!(
        (usage[0].unit, usage[0].quantity),
        (Unit::Token, dec!(1530))
    );
    assert_eq!(usage[0].model.as_deref(), Some("gpt-4o-mini-2024-07-18"));

    let deepgram: DeepgramUsageSummary = fixture("shape_deepgram_usage_summary.json");
    let usage = deepgram.billed_usage().expect("read");
    let seconds: Vec<(NaiveDate, rust_decimal::Decimal)> =
        usage.iter().map(|u| (u.day, u.quantity)).collect();
    // Billed hours (every channel): 1.5 h and 0.0175 h, exactly.
    assert_eq!(
        seconds,
        [
            (day("2026-11-01"), dec!(5400)),
            (day("2026-11-02"), dec!(63))
        ]
    );
    let mut weekly = deepgram.clone();
    weekly.results[0].end = "2026-11-07".into();
    assert!(matches!(
        weekly.billed_usage(),
        Err(Error::BilledRecord { .. })
    ));

    let eleven: ElevenLabsCharacterStats = fixture("shape_elevenlabs_character_stats.json");
    let usage = eleven.billed_usage(false).expect("read");
    let chars: Vec<(NaiveDate, rust_decimal::Decimal)> =
        usage.iter().map(|u| (u.day, u.quantity)).collect();
    assert_eq!(
        chars,
        [
            (day("2025-11-01"), dec!(12000)),
            (day("2025-11-02"), dec!(345))
        ]
    );
    let mut short = eleven.clone();
    short.usage.insert("All".into(), vec![1.0]);
    assert!(matches!(
        short.billed_usage(false),
        Err(Error::BilledRecord { .. })
    ));
}

#[test]
fn anthropic_usage_counts_every_token_of_a_model_s_day() {
    use callmeter::Unit;
    use callmeter::adapters::AnthropicUsageReport;
    let report: AnthropicUsageReport = fixture("api_anthropic_usage_report.json");
    let usage = report.billed_usage().expect("read");
    assert_eq!(usage.len(), 1);
    // 1 500 uncached + 200 read + 500 + 1 000 written + 500 output.
    assert_eq!(
        (
            usage[0].day,
            usage[0].unit,
            usage[0].quantity,
            usage[0].model.as_deref()
        ),
        (
            day("2025-08-01"),
            Unit::Token,
            dec!(3700),
            Some("claude-opus-4-6")
        )
    );
}

#[test]
fn deepgram_requests_bill_each_request_and_a_month_long_summary_is_refused() {
    use callmeter::adapters::{DeepgramRequests, DeepgramUsageSummary};
    let page: DeepgramRequests = fixture("sdk_deepgram_usage_requests.json");
    let lines = page.billed_lines().expect("read");
    let figures: Vec<(&str, NaiveDate, Option<&str>, Usd)> = lines
        .iter()
        .map(|l| (l.record_id.as_str(), l.day, l.model.as_deref(), l.amount))
        .collect();
    assert_eq!(
        figures,
        [
            (
                "test-request-123",
                day("2024-01-01"),
                Some("nova-2"),
                Usd::new(dec!(0.0045))
            ),
            (
                "test-request-456",
                day("2024-01-01"),
                Some("aura-thalia-en"),
                Usd::new(dec!(0.002))
            ),
        ]
    );
    // The SDK's summary spans January in one result: not a day to reconcile.
    let month: DeepgramUsageSummary = fixture("sdk_deepgram_usage_summary.json");
    assert!(matches!(
        month.billed_usage(),
        Err(Error::BilledRecord { .. })
    ));
}
