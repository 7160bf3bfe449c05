//! Telephony priced by destination: a table of E.164 prefixes (the longest wins), countries'
//! defaults, inbound number types and SIP; Twilio's Voice prices imported as its Pricing API
//! returns them.

mod common;

use callmeter::pricing::{Destinations, NumberType, Route, TwilioVoiceCountry};
use callmeter::{Budget, CallInfo, Catalog, Category, Error, ModelPrice, Rate, UsageKind, Usd};
use common::{Db, TestResult, scalar_i64};
use rust_decimal::dec;

const US: &str = include_str!("fixtures/sdk_twilio_voice_country_us.json");

fn twilio_us() -> Destinations {
    let country: TwilioVoiceCountry = serde_json::from_str(US).expect("Twilio's body");
    let (table, report) = Destinations::from_twilio("voice", &[country]).expect("imported");
    assert_eq!(report.imported, 6, "four outbound prices, two inbound");
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    table
}

fn catalog() -> Catalog {
    Catalog::builtin()
        .into_builder()
        .destinations(twilio_us())
        .build()
        .expect("catalog")
}

#[test]
fn twilio_s_us_prices_route_by_the_longest_prefix() {
    let catalog = catalog();
    for (route, model) in [
        (
            Route::To("+1 907 555 0100"),
            Some("voice:United States - Alaska"),
        ),
        (
            Route::To("+1 (808) 555-0100"),
            Some("voice:United States - Hawaii"),
        ),
        (
            Route::To("18005550100"),
            Some("voice:United States & Canada - Toll Free"),
        ),
        (
            Route::To("+1 415 555 0100"),
            Some("voice:United States & Canada"),
        ),
        (Route::To("+44 20 7946 0000"), None),
        (Route::ToCountry("US"), Some("voice:United States & Canada")),
        (Route::ToCountry("us"), Some("voice:United States & Canada")),
        (Route::ToCountry("GB"), None),
        (
            Route::Inbound(NumberType::Local),
            Some("voice:inbound local"),
        ),
        (
            Route::Inbound(NumberType::TollFree),
            Some("voice:inbound toll free"),
        ),
        (Route::Inbound(NumberType::Mobile), None),
        (Route::Sip, None),
    ] {
        assert_eq!(catalog.route("twilio", "voice", route), model, "{route}");
    }
    let alaska = catalog
        .get("twilio", "voice:United States - Alaska")
        .expect("the group is a catalog entry");
    assert_eq!(alaska.category(), Category::Telephony);
    assert_eq!(
        alaska.rates(),
        &[(
            UsageKind::CallSeconds,
            Rate::per_minute(Usd::new(dec!(0.090)))
        )]
    );
}

#[test]
fn a_leg_is_billed_per_started_minute_at_its_destination_s_rate() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .open()?;
    let call = meter.start_call(CallInfo::new("legs"))?;
    // Alaska, $0.09 a minute: 30 s then 31 s more is two started minutes.
    let first = call.track_leg("twilio", "voice", Route::To("+19075550100"), 30.0)?;
    let second = call.track_leg("twilio", "voice", Route::To("+19075550100"), 31.0)?;
    assert_eq!(first.cost, Usd::new(dec!(0.09)));
    assert_eq!(second.cost, Usd::new(dec!(0.09)));
    // Toll free at $0.013, one started minute; inbound toll free at $0.022, two.
    let toll_free = call.track_leg("twilio", "voice", Route::To("+1 800 555 0100"), 12.0)?;
    assert_eq!(toll_free.cost, Usd::new(dec!(0.013)));
    let inbound = call.track_leg(
        "twilio",
        "voice",
        Route::Inbound(NumberType::TollFree),
        90.0,
    )?;
    assert_eq!(inbound.cost, Usd::new(dec!(0.044)));
    // No table for this product: it is a model of its own (the built-in flat US rate).
    let flat = call.track_leg("twilio", "outbound-us", Route::To("+44 20 7946 0000"), 60.0)?;
    assert_eq!(flat.cost, Usd::new(dec!(0.014)));
    drop(call);
    guard.shutdown()?;
    let models: Vec<(String, i64)> = db
        .read()
        .prepare("SELECT model, cost_nanos FROM cost_events ORDER BY seq")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    assert_eq!(
        models,
        [
            ("voice:United States - Alaska".to_owned(), 90_000_000),
            ("voice:United States - Alaska".to_owned(), 90_000_000),
            (
                "voice:United States & Canada - Toll Free".to_owned(),
                13_000_000
            ),
            ("voice:inbound toll free".to_owned(), 44_000_000),
            ("outbound-us".to_owned(), 14_000_000),
        ]
    );
    Ok(())
}

#[test]
fn an_unknown_destination_is_an_error_and_its_usage_is_recorded() -> TestResult {
    let db = Db::new();
    let (meter, guard) = db
        .builder()
        .catalog(catalog())
        .budget(Budget::unlimited())
        .open()?;
    let call = meter.start_call(CallInfo::new("abroad"))?;
    let err = call
        .track_leg("twilio", "voice", Route::To("+33 1 23 45 67 89"), 60.0)
        .expect_err("France is not in the table");
    assert!(
        matches!(&err, Error::UnknownDestination { route, priced: false, .. } if route == "to +33 1 23 45 67 89"),
        "{err}"
    );
    assert!(err.is_recorded());
    let err = call
        .track_leg("twilio", "voice", Route::To("call me maybe"), 60.0)
        .expect_err("not a number");
    assert!(matches!(err, Error::UnknownDestination { .. }), "{err}");
    drop(call);
    guard.shutdown()?;
    let conn = db.read();
    assert_eq!(
        scalar_i64(
            &conn,
            "SELECT COUNT(*) FROM cost_events WHERE model = 'voice:unknown' AND priced = 0 AND cost_nanos = 0 AND quantity = 60",
            [],
        ),
        2,
        "both legs are kept, unpriced"
    );
    Ok(())
}

#[test]
fn a_fallback_entry_prices_unknown_destinations_and_still_says_so() -> TestResult {
    let db = Db::new();
    let fallback = ModelPrice::new("twilio", "voice:unknown", Category::Telephony).rate(
        UsageKind::CallSeconds,
        Rate::per_minute(Usd::new(dec!(0.5))),
    );
    let catalog = catalog().into_builder().insert(fallback).build()?;
    let (meter, guard) = db
        .builder()
        .catalog(catalog)
        .budget(Budget::unlimited())
        .open()?;
    let call = meter.start_call(CallInfo::new("abroad"))?;
    let err = call
        .track_leg("twilio", "voice", Route::ToCountry("FR"), 60.0)
        .expect_err("France is not in the table");
    assert!(
        matches!(err, Error::UnknownDestination { priced: true, .. }),
        "{err}"
    );
    assert_eq!(call.total(), Usd::new(dec!(0.5)));
    drop(call);
    guard.shutdown()?;
    Ok(())
}

#[test]
fn prices_by_origin_are_left_out_and_other_currencies_refused() {
    let body = r#"{
        "country": "Somewhere", "iso_country": "SW", "price_unit": "USD",
        "outbound_prefix_prices": [
            {"current_price": 0.25, "destination_prefixes": ["999"], "friendly_name": "Programmable Outbound Minute - Somewhere", "origination_prefixes": ["ALL"]},
            {"current_price": "0.40", "destination_prefixes": ["9997"], "friendly_name": "Programmable Outbound Minute - Somewhere - Mobile", "origination_prefixes": ["44"]},
            {"current_price": "soon", "destination_prefixes": ["9998"], "friendly_name": "Programmable Outbound Minute - Somewhere - Other", "origination_prefixes": ["ALL"]},
            {"current_price": "0.30", "destination_prefixes": ["9996"], "friendly_name": "Programmable Outbound Minute - Somewhere - Rest", "origination_prefixes": ["ROW"]}
        ],
        "inbound_call_prices": [{"current_price": "0.01", "number_type": "satellite"}]
    }"#;
    let country: TwilioVoiceCountry = serde_json::from_str(body).expect("a body");
    assert_eq!(
        country.outbound_prefix_prices[0].current_price, "0.25",
        "a number read as its decimal"
    );
    let (table, report) =
        Destinations::from_twilio("voice", std::slice::from_ref(&country)).expect("imported");
    assert_eq!(report.imported, 2, "ALL and ROW: any origin");
    let skipped: Vec<&str> = report.skipped.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        skipped,
        [
            "SW: Somewhere - Mobile",
            "SW: Somewhere - Other",
            "SW: inbound satellite"
        ]
    );
    let catalog = Catalog::builder()
        .destinations(table)
        .build()
        .expect("catalog");
    assert_eq!(
        catalog.route("twilio", "voice", Route::To("99971234")),
        Some("voice:Somewhere"),
        "the origin-priced mobile group is not there: the country's rate applies"
    );
    let euros = TwilioVoiceCountry {
        price_unit: "EUR".into(),
        ..country
    };
    assert!(matches!(
        Destinations::from_twilio("voice", &[euros]),
        Err(Error::Catalog { .. })
    ));
}

#[test]
fn a_twilio_file_holds_one_country_or_many() -> TestResult {
    let dir = tempfile::tempdir()?;
    let one = dir.path().join("us.json");
    std::fs::write(&one, US)?;
    let many = dir.path().join("all.json");
    std::fs::write(&many, format!("[{US}]"))?;
    let (a, _) = Destinations::from_twilio_file("voice", &one)?;
    let (b, _) = Destinations::from_twilio_file("voice", &many)?;
    assert_eq!(a, b);
    assert_eq!(a.group_count(), 4);
    let garbage = dir.path().join("x.json");
    std::fs::write(&garbage, "[1, 2]")?;
    assert!(matches!(
        Destinations::from_twilio_file("voice", &garbage),
        Err(Error::CatalogFile { .. })
    ));
    Ok(())
}

#[test]
fn a_catalog_file_carries_destination_tables() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("twilio-voice.json"), US)?;
    let file = dir.path().join("catalog.toml");
    std::fs::write(
        &file,
        r#"
[[destinations]]
provider = "twilio"
product = "voice"
twilio_file = "twilio-voice.json"
source = "Twilio Pricing API, fetched 2026-11-20"
verified_on = "2026-11-20"

[[destinations.outbound]]
name = "United Kingdom - Mobile"
prefixes = ["447"]
per_minute = "0.0366"

[[destinations]]
provider = "acme-telecom"
product = "calls"
countries = { DE = "Germany" }
inbound = { "toll free" = "0.03" }
sip = "0.004"

[[destinations.outbound]]
name = "Germany"
prefixes = ["49"]
per_minute = "0.02"
"#,
    )?;
    let catalog = Catalog::builder().load_file(&file)?.build()?;
    assert_eq!(
        catalog.route("twilio", "voice", Route::To("+1 907 555 0100")),
        Some("voice:United States - Alaska")
    );
    assert_eq!(
        catalog.route("twilio", "voice", Route::To("+44 7700 900123")),
        Some("voice:United Kingdom - Mobile")
    );
    assert_eq!(
        catalog.route("acme-telecom", "calls", Route::ToCountry("DE")),
        Some("calls:Germany")
    );
    assert_eq!(
        catalog.route(
            "acme-telecom",
            "calls",
            Route::Inbound(NumberType::TollFree)
        ),
        Some("calls:inbound toll free")
    );
    let uk = catalog
        .get("twilio", "voice:United Kingdom - Mobile")
        .expect("an entry");
    assert_eq!(uk.source(), "Twilio Pricing API, fetched 2026-11-20");
    // A float, a number type that is not one, a prefix that is not digits: named errors.
    for (bad, field) in [
        ("per_minute = 0.02", "outbound.Germany"),
        (
            "per_minute = \"0.02\"\n[destinations.inbound]\n\"satellite\" = \"1\"",
            "inbound.satellite",
        ),
    ] {
        let text = format!(
            "[[destinations]]\nprovider = \"p\"\nproduct = \"calls\"\n[[destinations.outbound]]\nname = \"Germany\"\nprefixes = [\"49\"]\n{bad}\n"
        );
        let e = Catalog::builder()
            .load_toml(&text, "bad.toml")
            .expect_err(field);
        assert!(e.to_string().contains("bad.toml"), "{e}");
    }
    let e = Catalog::builder()
        .load_toml(
            "[[destinations]]\nprovider = \"p\"\nproduct = \"calls\"\n[[destinations.outbound]]\nname = \"X\"\nprefixes = [\"4x\"]\nper_minute = \"1\"\n",
            "digits.toml",
        )
        .expect_err("letters in a prefix");
    assert!(matches!(e, Error::CatalogFile { .. }), "{e}");
    Ok(())
}
