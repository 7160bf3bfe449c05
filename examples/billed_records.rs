//! Writes what the providers "billed" for the calls of a simulated database, in the providers' own
//! formats, with known differences injected, for `callmeter reconcile` to find:
//!
//! ```text
//! cargo run --release --example simulate_calls
//! cargo run --release --example billed_records -- --db callmeter.db --out billed
//! cargo run --release --features cli -- reconcile --db callmeter.db \
//!     --twilio-calls billed/twilio-calls.json --openai-costs billed/openai-costs.json \
//!     --anthropic-costs billed/anthropic-costs.json --invoice-csv billed/invoice.csv
//! ```
//!
//! - `twilio-calls.json`: a page of Twilio Call resources, one per call that used Twilio, priced
//!   as Twilio writes prices (negative, five decimals). Injected: from the 20th day on, calls to
//!   the US and Canada are billed at $0.014 a minute instead of the catalog's $0.013 (a price
//!   change callmeter was not told of); and one call callmeter never saw (`CAghost…`).
//! - `openai-costs.json`: OpenAI's Costs API, daily buckets grouped by line item (one per model).
//!   Injected: the last day is missing (the API reports a day late).
//! - `anthropic-costs.json`: Anthropic's cost report, in cents, per day and model. Exact.
//! - `invoice.csv`: the other providers' days as invoice lines. Injected: ElevenLabs rounds each
//!   day up to the cent.
//! - `deepgram-usage.json`: Deepgram's daily usage summary, in hours (floats). Exact but for the
//!   floats' rounding, within the tolerance.
//! - `elevenlabs-usage.json`: ElevenLabs' daily character counts. Injected: on the 12th day, 1 000
//!   characters the pipeline never tracked.
//!
//! Add `--deepgram-usage billed/deepgram-usage.json --elevenlabs-usage
//! billed/elevenlabs-usage.json` to the `reconcile` command to compare quantities too.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::Connection;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::json;

fn dollars(nanos: i64) -> Decimal {
    Decimal::new(nanos, 9)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut db = PathBuf::from("callmeter.db");
    let mut out = PathBuf::from("billed");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--db" => db = args.next().ok_or("--db FILE")?.into(),
            "--out" => out = args.next().ok_or("--out DIR")?.into(),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    std::fs::create_dir_all(&out)?;
    let conn = Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let first_day: i64 = conn.query_row(
        "SELECT COALESCE(MIN(created_at), 0) / 86400000 FROM cost_events",
        [],
        |r| r.get(0),
    )?;
    let last_day: i64 = conn.query_row(
        "SELECT COALESCE(MAX(created_at), 0) / 86400000 FROM cost_events",
        [],
        |r| r.get(0),
    )?;
    let date = |day: i64| -> NaiveDate {
        DateTime::from_timestamp(day * 86_400, 0)
            .unwrap_or_default()
            .date_naive()
    };

    // Twilio: one Call resource per call, its legs summed; US calls re-priced from day 20.
    let mut calls = Vec::new();
    let mut stmt = conn.prepare(
        "SELECT call_id, MIN(created_at), SUM(cost_nanos),
                SUM(CASE WHEN model = 'voice:United States & Canada' THEN cost_nanos ELSE 0 END)
         FROM cost_events WHERE provider = 'twilio' GROUP BY call_id ORDER BY MIN(created_at)",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
        ))
    })?;
    for row in rows {
        let (sid, at, total, us) = row?;
        let mut price = dollars(total);
        if at / 86_400_000 - first_day >= 19 {
            price += dollars(us) * Decimal::new(14, 0) / Decimal::new(13, 0) - dollars(us);
        }
        let start = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
        calls.push(json!({
            "sid": sid, "status": "completed", "direction": "outbound-api",
            "start_time": start.to_rfc2822(),
            "price": format!("-{}", price.round_dp_with_strategy(5, RoundingStrategy::MidpointAwayFromZero)),
            "price_unit": "USD",
        }));
    }
    let ghost_day =
        DateTime::<Utc>::from_timestamp((first_day + 10) * 86_400 + 43_200, 0).unwrap_or_default();
    calls.push(json!({
        "sid": "CAghost00000000000000000000000001", "status": "completed", "direction": "outbound-api",
        "start_time": ghost_day.to_rfc2822(), "price": "-0.42000", "price_unit": "USD",
    }));
    let n_calls = calls.len();
    std::fs::write(
        out.join("twilio-calls.json"),
        serde_json::to_string_pretty(&json!({ "calls": calls, "next_page_uri": null }))?,
    )?;

    // By day and model, for the LLM providers and the invoice.
    let by_day_model = |provider: &str| -> rusqlite::Result<BTreeMap<(i64, String), i64>> {
        let mut stmt = conn.prepare(
            "SELECT created_at / 86400000, model, SUM(cost_nanos) FROM cost_events
             WHERE provider = ?1 GROUP BY 1, 2",
        )?;
        let rows = stmt.query_map([provider], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))?;
        rows.collect()
    };
    let openai = by_day_model("openai")?;
    let mut buckets = Vec::new();
    for day in first_day..last_day {
        let results: Vec<_> = openai
            .iter()
            .filter(|((d, _), _)| *d == day)
            .map(|((_, model), nanos)| {
                json!({"object": "organization.costs.result",
                       "amount": {"value": dollars(*nanos).normalize().to_string(), "currency": "usd"},
                       "line_item": model, "project_id": null})
            })
            .collect();
        buckets.push(json!({"object": "bucket", "start_time": day * 86_400,
                            "end_time": (day + 1) * 86_400, "results": results}));
    }
    std::fs::write(
        out.join("openai-costs.json"),
        serde_json::to_string_pretty(
            &json!({"object": "page", "data": buckets, "has_more": false, "next_page": null}),
        )?,
    )?;

    let anthropic = by_day_model("anthropic")?;
    let mut buckets = Vec::new();
    for day in first_day..=last_day {
        let results: Vec<_> = anthropic
            .iter()
            .filter(|((d, _), _)| *d == day)
            .map(|((_, model), nanos)| {
                let cents = (dollars(*nanos) * Decimal::ONE_HUNDRED).normalize();
                json!({"amount": cents.to_string(), "currency": "USD", "cost_type": "tokens",
                       "description": format!("{model} usage"), "model": model})
            })
            .collect();
        let start = date(day).and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        buckets.push(json!({"starting_at": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            "ending_at": (start + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            "results": results}));
    }
    std::fs::write(
        out.join("anthropic-costs.json"),
        serde_json::to_string_pretty(
            &json!({"data": buckets, "has_more": false, "next_page": null}),
        )?,
    )?;

    let mut csv = String::from("date,provider,item,amount\n");
    let mut lines = 0;
    for provider in ["deepgram", "elevenlabs", "cartesia", "cerebras", "livekit"] {
        let mut per_day: BTreeMap<i64, i64> = BTreeMap::new();
        for ((day, _), nanos) in by_day_model(provider)? {
            *per_day.entry(day).or_default() += nanos;
        }
        for (day, nanos) in per_day {
            let mut amount = dollars(nanos);
            if provider == "elevenlabs" {
                amount = amount.round_dp_with_strategy(2, RoundingStrategy::AwayFromZero);
            }
            csv.push_str(&format!(
                "{},{provider},usage,{}\n",
                date(day),
                amount.normalize()
            ));
            lines += 1;
        }
    }
    std::fs::write(out.join("invoice.csv"), csv)?;

    // Usage, as Deepgram and ElevenLabs count it.
    let per_day = |provider: &str| -> rusqlite::Result<BTreeMap<i64, f64>> {
        let mut stmt = conn.prepare(
            "SELECT created_at / 86400000, SUM(quantity) FROM cost_events WHERE provider = ?1
             GROUP BY 1",
        )?;
        let rows = stmt.query_map([provider], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    };
    let results: Vec<_> = per_day("deepgram")?
        .into_iter()
        .map(|(day, seconds)| {
            json!({"start": date(day).to_string(), "end": date(day).to_string(),
                   "hours": seconds / 3600.0, "total_hours": seconds / 3600.0, "requests": 1})
        })
        .collect();
    std::fs::write(
        out.join("deepgram-usage.json"),
        serde_json::to_string_pretty(&json!({
            "start": date(first_day).to_string(), "end": date(last_day).to_string(),
            "resolution": {"units": "day", "amount": 1}, "results": results,
        }))?,
    )?;
    let chars = per_day("elevenlabs")?;
    let time: Vec<i64> = chars.keys().map(|d| d * 86_400_000).collect();
    let all: Vec<f64> = chars
        .iter()
        .map(|(d, n)| if d - first_day == 11 { n + 1000.0 } else { *n })
        .collect();
    std::fs::write(
        out.join("elevenlabs-usage.json"),
        serde_json::to_string_pretty(&json!({"time": time, "usage": {"All": all}}))?,
    )?;
    eprintln!(
        "wrote {}: {n_calls} Twilio calls, OpenAI and Anthropic costs for days {} to {}, {lines} invoice lines",
        out.display(),
        date(first_day),
        date(last_day)
    );
    Ok(())
}
