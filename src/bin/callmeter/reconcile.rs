//! `callmeter reconcile`: imports what the providers billed (their own records, as their APIs
//! return them, or invoice lines as CSV) into the database, then sets it beside what callmeter
//! computed.

use std::path::{Path, PathBuf};

use callmeter::adapters::{
    AnthropicCostReport, AnthropicUsageReport, BilledLine, BilledUsage, DeepgramRequests,
    DeepgramUsageSummary, ElevenLabsCharacterStats, ExchangeRate, OpenAiCosts, OpenAiUsageReport,
    TwilioCall, TwilioCallsPage, TwilioUsageRecords, invoice_lines_csv,
};
use callmeter::report::{ReconcileOptions, Tolerance};
use callmeter::{Ledger, Usd};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

use crate::{Source, describe, json, money};

#[derive(clap::Args)]
pub(crate) struct ReconcileArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// Twilio Call resources: a page (`GET …/Calls.json`), an array of pages, a call, or an array
    /// of calls. Repeatable.
    #[arg(long, value_name = "FILE")]
    twilio_calls: Vec<PathBuf>,
    /// Twilio's daily Usage Records (`GET …/Usage/Records/Daily.json`): a page or an array of
    /// pages. Repeatable.
    #[arg(long, value_name = "FILE")]
    twilio_usage: Vec<PathBuf>,
    /// The Usage Record categories to import (repeatable; default `calls`: all voice). Twilio's
    /// categories nest: give ones that do not overlap.
    #[arg(long, value_name = "CATEGORY")]
    twilio_category: Vec<String>,
    /// OpenAI's organization costs (`GET /v1/organization/costs`, best with
    /// `group_by=line_item`): a page or an array of pages. Repeatable.
    #[arg(long, value_name = "FILE")]
    openai_costs: Vec<PathBuf>,
    /// Anthropic's cost report (`GET /v1/organizations/cost_report`, best with
    /// `group_by[]=description`): a page or an array of pages. Repeatable.
    #[arg(long, value_name = "FILE")]
    anthropic_costs: Vec<PathBuf>,
    /// OpenAI's organization usage (`GET /v1/organization/usage/completions`,
    /// `…/audio_speeches`, `…/audio_transcriptions`, best with `group_by=model`): a page or an
    /// array of pages. Repeatable.
    #[arg(long, value_name = "FILE")]
    openai_usage: Vec<PathBuf>,
    /// Anthropic's usage report (`GET /v1/organizations/usage_report/messages`, best with
    /// `group_by[]=model`): a page or an array of pages. Repeatable.
    #[arg(long, value_name = "FILE")]
    anthropic_usage: Vec<PathBuf>,
    /// Deepgram's requests with their cost (`GET /v1/projects/{id}/requests`): a page or an array
    /// of pages. Repeatable.
    #[arg(long, value_name = "FILE")]
    deepgram_requests: Vec<PathBuf>,
    /// Deepgram's project usage summary (`GET /v1/projects/{id}/usage`, daily). Repeatable.
    #[arg(long, value_name = "FILE")]
    deepgram_usage: Vec<PathBuf>,
    /// ElevenLabs' character usage (`GET /v1/usage/character-stats`, daily; with
    /// `breakdown_type=model` give --elevenlabs-by-model). Repeatable.
    #[arg(long, value_name = "FILE")]
    elevenlabs_usage: Vec<PathBuf>,
    /// The ElevenLabs usage files are broken down by model.
    #[arg(long)]
    elevenlabs_by_model: bool,
    /// Invoice lines as CSV: `date,provider,item,amount`, optionally `model`, `call_id`,
    /// `currency`, `record_id`. Repeatable.
    #[arg(long, value_name = "FILE")]
    invoice_csv: Vec<PathBuf>,
    /// Dollars per unit of another currency the records use (`EUR=1.08`).
    #[arg(long, value_name = "CUR=USD")]
    rate: Option<String>,
    /// The call metadata key holding the id a provider bills a call under, when it is not the call
    /// id.
    #[arg(long, value_name = "KEY")]
    call_key: Option<String>,
    /// Dollars either way that still match (default 0.001).
    #[arg(long, value_name = "USD")]
    tolerance_usd: Option<Usd>,
    /// Percent of the billed figure either way that still matches (default 1).
    #[arg(long, value_name = "PERCENT")]
    tolerance_percent: Option<Decimal>,
    /// Raise a `billed_delta` alert (stored in the file's `alerts`) for each provider and day whose
    /// difference reaches this many dollars either way.
    #[arg(long, value_name = "USD")]
    alert_over: Option<Usd>,
    /// Print the reconciliation as JSON.
    #[arg(long)]
    json: bool,
}

/// One of `T`, or an array of them, from a JSON file.
fn one_or_many<T: DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read it: {e}", path.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    items
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| format!("{}: not {what}: {e}", path.display()))
        })
        .collect()
}

impl ReconcileArgs {
    /// Every line of every file given.
    fn lines(&self) -> Result<Vec<BilledLine>, String> {
        let rate = match &self.rate {
            Some(text) => {
                let (currency, usd) = text
                    .split_once('=')
                    .ok_or_else(|| format!("--rate {text:?}: write it CUR=USD (EUR=1.08)"))?;
                let usd = Decimal::from_str_exact(usd.trim())
                    .map_err(|_| format!("--rate {text:?}: {usd:?} is not a decimal"))?;
                Some(ExchangeRate::new(currency.trim(), usd))
            }
            None => None,
        };
        let rate = rate.as_ref();
        let e = |e: callmeter::Error| describe(&e);
        let mut lines = Vec::new();
        for path in &self.twilio_calls {
            let values: Vec<serde_json::Value> = one_or_many(path, "Twilio calls")?;
            for v in values {
                if v.get("calls").is_some() {
                    let page: TwilioCallsPage = serde_json::from_value(v)
                        .map_err(|err| format!("{}: {err}", path.display()))?;
                    lines.extend(page.billed_lines(rate).map_err(e)?);
                } else {
                    let call: TwilioCall = serde_json::from_value(v)
                        .map_err(|err| format!("{}: {err}", path.display()))?;
                    lines.extend(call.billed_line(rate).map_err(e)?);
                }
            }
        }
        let categories: Vec<&str> = if self.twilio_category.is_empty() {
            vec!["calls"]
        } else {
            self.twilio_category.iter().map(String::as_str).collect()
        };
        for path in &self.twilio_usage {
            for page in one_or_many::<TwilioUsageRecords>(path, "Twilio usage records")? {
                lines.extend(page.billed_lines(&categories, rate).map_err(e)?);
            }
        }
        for path in &self.openai_costs {
            for page in one_or_many::<OpenAiCosts>(path, "OpenAI costs")? {
                lines.extend(page.billed_lines(rate).map_err(e)?);
            }
        }
        for path in &self.anthropic_costs {
            for page in one_or_many::<AnthropicCostReport>(path, "an Anthropic cost report")? {
                lines.extend(page.billed_lines(rate).map_err(e)?);
            }
        }
        for path in &self.deepgram_requests {
            for page in one_or_many::<DeepgramRequests>(path, "Deepgram requests")? {
                lines.extend(page.billed_lines().map_err(e)?);
            }
        }
        for path in &self.invoice_csv {
            let text = std::fs::read_to_string(path)
                .map_err(|err| format!("{}: cannot read it: {err}", path.display()))?;
            lines.extend(invoice_lines_csv(&text, rate).map_err(e)?);
        }
        Ok(lines)
    }

    /// Every usage record of every file given.
    fn usage(&self) -> Result<Vec<BilledUsage>, String> {
        let e = |e: callmeter::Error| describe(&e);
        let mut usage = Vec::new();
        for path in &self.openai_usage {
            for page in one_or_many::<OpenAiUsageReport>(path, "OpenAI usage")? {
                usage.extend(page.billed_usage().map_err(e)?);
            }
        }
        for path in &self.anthropic_usage {
            for page in one_or_many::<AnthropicUsageReport>(path, "an Anthropic usage report")? {
                usage.extend(page.billed_usage().map_err(e)?);
            }
        }
        for path in &self.deepgram_usage {
            for summary in one_or_many::<DeepgramUsageSummary>(path, "Deepgram usage")? {
                usage.extend(summary.billed_usage().map_err(e)?);
            }
        }
        for path in &self.elevenlabs_usage {
            for stats in one_or_many::<ElevenLabsCharacterStats>(path, "ElevenLabs usage")? {
                usage.extend(stats.billed_usage(self.elevenlabs_by_model).map_err(e)?);
            }
        }
        Ok(usage)
    }

    fn ledger(&self) -> Result<Ledger, String> {
        match &self.source.postgres {
            #[cfg(feature = "postgres")]
            Some(url) => Ledger::postgres(url).map_err(|e| describe(&e)),
            #[cfg(not(feature = "postgres"))]
            Some(_) => Err("--postgres needs callmeter built with the `postgres` feature".into()),
            None => Ledger::open(&self.source.db).map_err(|e| describe(&e)),
        }
    }
}

pub(crate) fn reconcile(args: &ReconcileArgs) -> Result<(), String> {
    let lines = args.lines()?;
    let usage = args.usage()?;
    let mut ledger = args.ledger()?;
    if !usage.is_empty() {
        let recorded = ledger.record_usage(&usage).map_err(|e| describe(&e))?;
        eprintln!(
            "callmeter: {} usage records: {} added, {} changed, {} already there",
            usage.len(),
            recorded.added,
            recorded.changed,
            recorded.unchanged
        );
    }
    if !lines.is_empty() {
        let recorded = ledger.record(&lines).map_err(|e| describe(&e))?;
        eprintln!(
            "callmeter: {} billed records: {} added, {} changed, {} already there",
            lines.len(),
            recorded.added,
            recorded.changed,
            recorded.unchanged
        );
    }
    let (reports, from, to) = args.source.open()?;
    let default = Tolerance::default();
    let options = ReconcileOptions {
        tolerance: Tolerance {
            absolute: args.tolerance_usd.unwrap_or(default.absolute),
            percent: args.tolerance_percent.unwrap_or(default.percent),
        },
        call_key: args.call_key.clone(),
    };
    let r = reports
        .reconcile(from, to, &options)
        .map_err(|e| describe(&e))?;
    let alerts = match args.alert_over {
        Some(threshold) => {
            let alerts = r.alerts(threshold);
            let new = ledger.record_alerts(&alerts).map_err(|e| describe(&e))?;
            eprintln!(
                "callmeter: provider days past {}: {} ({new} new alerts)",
                money(threshold),
                alerts.len()
            );
            alerts
        }
        None => Vec::new(),
    };
    if args.json {
        return json(&serde_json::json!({ "reconciliation": r, "alerts": alerts }));
    }
    println!(
        "reconciliation {from} to {to} (matching within {} or {} % of the billed figure)",
        money(r.tolerance.absolute),
        r.tolerance.percent
    );
    if r.providers.is_empty() && r.usage.is_empty() {
        println!("  nothing billed in the range: import the providers' records first");
        return Ok(());
    }
    println!(
        "  {:<12} {:>14} {:>14} {:>14} {:>7} {:>9}",
        "provider", "computed", "billed", "billed − comp.", "lines", "matching"
    );
    for p in &r.providers {
        println!(
            "  {:<12} {:>14} {:>14} {:>14} {:>7} {:>9}",
            p.provider,
            money(p.computed),
            money(p.billed),
            money(p.delta),
            p.lines,
            p.matching
        );
    }
    let mut mismatches: Vec<_> = r.mismatches().collect();
    mismatches.sort_by_key(|l| std::cmp::Reverse(l.delta.to_nanos().unwrap_or(0).unsigned_abs()));
    if !mismatches.is_empty() {
        println!("  not matching ({}; the 25 largest)", mismatches.len());
        for l in mismatches.iter().take(25) {
            let what = l
                .call_id
                .as_deref()
                .map(|c| format!("call {c}"))
                .or_else(|| l.model.as_deref().map(|m| format!("model {m}")))
                .unwrap_or_else(|| "day".to_owned());
            let percent = l
                .delta_percent
                .map(|p| format!(" ({p:+} %)"))
                .unwrap_or_default();
            println!(
                "    {} {:<10} {:<28} computed {:>10} billed {:>10} {:>11}{percent}  {}",
                l.day,
                l.provider,
                what,
                money(l.computed),
                money(l.billed),
                money(l.delta),
                l.finding
            );
        }
    }
    print_usage(&r);
    Ok(())
}

/// The quantities compared: totals per provider and unit, and the largest differences.
fn print_usage(r: &callmeter::report::Reconciliation) {
    if r.usage.is_empty() {
        return;
    }
    let mut totals: std::collections::BTreeMap<(&str, &str), (Decimal, Decimal, usize, usize)> =
        std::collections::BTreeMap::new();
    for u in &r.usage {
        let t = totals.entry((&u.provider, &u.unit)).or_default();
        t.0 += u.computed;
        t.1 += u.billed;
        t.2 += 1;
        t.3 += usize::from(u.finding == callmeter::report::Finding::Matches);
    }
    println!(
        "  usage counted by the providers (within {} %)",
        r.tolerance.percent
    );
    println!(
        "  {:<12} {:<10} {:>14} {:>14} {:>7} {:>9}",
        "provider", "unit", "tracked", "counted", "lines", "matching"
    );
    for ((provider, unit), (tracked, counted, lines, matching)) in totals {
        println!(
            "  {provider:<12} {unit:<10} {:>14} {:>14} {lines:>7} {matching:>9}",
            tracked.normalize(),
            counted.normalize()
        );
    }
    let mut worst: Vec<_> = r.usage_mismatches().collect();
    worst.sort_by_key(|u| std::cmp::Reverse(u.delta.abs()));
    for u in worst.iter().take(10) {
        let percent = u
            .delta_percent
            .map(|p| format!(" ({p:+} %)"))
            .unwrap_or_default();
        println!(
            "    {} {:<10} {:<28} tracked {:>12} counted {:>12} {:>+12} {}{percent}  {}",
            u.day,
            u.provider,
            u.model.as_deref().unwrap_or("day"),
            u.computed,
            u.billed,
            u.delta,
            u.unit,
            u.finding
        );
    }
}
