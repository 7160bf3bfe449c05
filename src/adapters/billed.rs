//! What the providers billed, as their own usage and cost records say: Twilio's Call resources and
//! daily Usage Records, OpenAI's organization Costs API, Anthropic's Admin cost report, and any
//! provider's invoice lines as CSV. Each record becomes [`BilledLine`]s in US dollars, exactly: text
//! amounts are read as decimals, JSON numbers as the shortest decimal that is the same float, and
//! Anthropic's cents are divided by 100 without rounding.
//!
//! A record in another currency is [`Error::BilledRecord`] unless an [`ExchangeRate`] for it is
//! given; a line's `record_id` is the provider's own identity of the record, so importing the same
//! records twice changes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use crate::adapters::TwilioCall;
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::usage::Unit;

/// One line of what a provider billed, as callmeter stores and reconciles it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BilledLine {
    /// The provider, named as track calls name it (`twilio`, `openai`, …).
    pub provider: String,
    /// The provider's own identity of the record (a call's SID, `2026-11-02/calls`): importing a
    /// record again replaces its line, never adds to it.
    pub record_id: String,
    /// The UTC day it bills.
    pub day: NaiveDate,
    /// The call it bills, for per-call records (Twilio's Call resource: its SID).
    pub call_id: Option<String>,
    /// The model it bills, for per-model records (OpenAI's line items, Anthropic's model).
    pub model: Option<String>,
    /// What the provider calls it: a line item, a usage category, a description.
    pub item: String,
    /// What it cost, in US dollars.
    pub amount: Usd,
}

impl BilledLine {
    /// A line of `provider` for `day`, identified by `record_id`, costing `amount`.
    pub fn new(
        provider: impl Into<String>,
        record_id: impl Into<String>,
        day: NaiveDate,
        item: impl Into<String>,
        amount: Usd,
    ) -> Self {
        BilledLine {
            provider: provider.into(),
            record_id: record_id.into(),
            day,
            call_id: None,
            model: None,
            item: item.into(),
            amount,
        }
    }

    /// The call it bills.
    pub fn call(mut self, call_id: impl Into<String>) -> Self {
        self.call_id = Some(call_id.into());
        self
    }

    /// The model it bills.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
}

/// US dollars per unit of another currency, for records billed in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeRate {
    currency: String,
    usd_per_unit: Decimal,
}

impl ExchangeRate {
    /// One unit of `currency` (`EUR`) is `usd_per_unit` dollars.
    pub fn new(currency: impl Into<String>, usd_per_unit: Decimal) -> Self {
        ExchangeRate {
            currency: currency.into(),
            usd_per_unit,
        }
    }
}

fn bad(provider: &str, record: &str, reason: impl Into<String>) -> Error {
    Error::BilledRecord {
        provider: provider.to_owned(),
        record: record.to_owned(),
        reason: reason.into(),
    }
}

/// `amount` of `currency` in dollars (exact for dollars; times the rate, rounded to the nano-dollar
/// half to even, for another currency with a rate given).
fn in_usd(
    amount: Decimal,
    currency: &str,
    rate: Option<&ExchangeRate>,
    provider: &str,
    record: &str,
) -> Result<Usd> {
    if currency.is_empty() || currency.eq_ignore_ascii_case("USD") {
        return Ok(Usd::new(amount));
    }
    match rate {
        Some(r) if r.currency.eq_ignore_ascii_case(currency) => Ok(Usd::new(
            (amount * r.usd_per_unit)
                .round_dp_with_strategy(9, rust_decimal::RoundingStrategy::MidpointNearestEven),
        )),
        _ => Err(bad(
            provider,
            record,
            format!("billed in {currency}: give an exchange rate to US dollars"),
        )),
    }
}

fn decimal(text: &str, provider: &str, record: &str) -> Result<Decimal> {
    Decimal::from_str_exact(text.trim()).map_err(|_| {
        bad(
            provider,
            record,
            format!("amount {text:?} is not a decimal number"),
        )
    })
}

/// A JSON amount written as text or as a number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    /// As text (`"0.06"`).
    Text(String),
    /// As a JSON number (`0.06`).
    Number(f64),
}

impl Default for Amount {
    fn default() -> Self {
        Amount::Text(String::new())
    }
}

impl Amount {
    fn exact(&self, provider: &str, record: &str) -> Result<Decimal> {
        match self {
            Amount::Text(t) => decimal(t, provider, record),
            Amount::Number(f) => crate::base::money::shortest_decimal(*f)
                .ok_or_else(|| bad(provider, record, format!("amount {f} is not a number"))),
        }
    }
}

fn day_of_unix(seconds: i64, provider: &str, record: &str) -> Result<NaiveDate> {
    DateTime::from_timestamp(seconds, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| bad(provider, record, format!("time {seconds} out of range")))
}

/// The UTC day of an RFC 3339 time.
fn day_of_rfc3339(time: &str, provider: &str, record: &str) -> Result<NaiveDate> {
    DateTime::parse_from_rfc3339(time)
        .map(|t| t.naive_utc().date())
        .map_err(|e| {
            bad(
                provider,
                record,
                format!("{time:?} is not an RFC 3339 time: {e}"),
            )
        })
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Twilio

impl TwilioCall {
    /// The call's line: what Twilio charged for it, on the day it started, for the call whose id is
    /// its SID; `None` until Twilio has priced it.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] when the price is not a decimal, is in another currency without a
    /// rate, or the call has no start time Twilio's way (`Tue, 31 Aug 2010 20:36:29 +0000`).
    pub fn billed_line(&self, rate: Option<&ExchangeRate>) -> Result<Option<BilledLine>> {
        let Some(price) = self.price.as_deref() else {
            return Ok(None);
        };
        let sid = &self.sid;
        let amount = decimal(price, "twilio", sid)?.abs();
        let amount = in_usd(
            amount,
            self.price_unit.as_deref().unwrap_or("USD"),
            rate,
            "twilio",
            sid,
        )?;
        let started = self
            .start_time
            .as_deref()
            .or(self.date_created.as_deref())
            .ok_or_else(|| bad("twilio", sid, "no start_time"))?;
        let day = DateTime::parse_from_rfc2822(started)
            .map_err(|e| bad("twilio", sid, format!("start_time {started:?}: {e}")))?
            .naive_utc()
            .date();
        let item = if self.direction.is_empty() {
            "call".to_owned()
        } else {
            format!("call {}", self.direction)
        };
        Ok(Some(
            BilledLine::new("twilio", sid.clone(), day, item, amount).call(sid.clone()),
        ))
    }
}

/// A page of Twilio's Call resources (`GET /2010-04-01/Accounts/{AccountSid}/Calls.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioCallsPage {
    /// The calls.
    pub calls: Vec<TwilioCall>,
    /// The next page's URI, `null` on the last.
    pub next_page_uri: Option<String>,
}

impl TwilioCallsPage {
    /// The lines of the calls Twilio has priced.
    ///
    /// # Errors
    ///
    /// As [`TwilioCall::billed_line`].
    pub fn billed_lines(&self, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for call in &self.calls {
            lines.extend(call.billed_line(rate)?);
        }
        Ok(lines)
    }
}

/// One of Twilio's Usage Records: the usage and price of one category over a period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioUsageRecord {
    /// The usage category (`calls`, `calls-outbound`, `sms`, `totalprice` …).
    pub category: String,
    /// Its description.
    pub description: String,
    /// The period's first day (`2015-09-06`).
    pub start_date: String,
    /// The period's last day.
    pub end_date: String,
    /// The usage, as text.
    pub usage: String,
    /// Its unit (`minutes`, `messages` …).
    pub usage_unit: String,
    /// What it cost, as text.
    pub price: String,
    /// The price's currency (`usd`).
    pub price_unit: String,
}

/// A page of Twilio's daily Usage Records (`GET
/// /2010-04-01/Accounts/{AccountSid}/Usage/Records/Daily.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioUsageRecords {
    /// The records.
    pub usage_records: Vec<TwilioUsageRecord>,
    /// The next page's URI, `null` on the last.
    pub next_page_uri: Option<String>,
}

impl TwilioUsageRecords {
    /// The lines of the records of `categories` (Twilio's categories nest — `calls` holds
    /// `calls-inbound` and `calls-outbound`, `totalprice` holds everything — so take the ones that
    /// do not overlap; `calls` is the voice a pipeline tracks), one per record and day.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a record of those categories that spans more than one day (ask
    /// for the `Daily` records), has a price that is not a decimal, or is in another currency
    /// without a rate.
    pub fn billed_lines(
        &self,
        categories: &[&str],
        rate: Option<&ExchangeRate>,
    ) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for r in &self.usage_records {
            if !categories.contains(&r.category.as_str()) {
                continue;
            }
            let id = format!("{}/{}", r.start_date, r.category);
            if r.start_date != r.end_date {
                return Err(bad(
                    "twilio",
                    &id,
                    "a record of more than one day: import the Daily usage records",
                ));
            }
            let day: NaiveDate = r
                .start_date
                .parse()
                .map_err(|e| bad("twilio", &id, format!("start_date: {e}")))?;
            let amount = in_usd(
                decimal(&r.price, "twilio", &id)?.abs(),
                &r.price_unit,
                rate,
                "twilio",
                &id,
            )?;
            lines.push(BilledLine::new(
                "twilio",
                id,
                day,
                r.category.clone(),
                amount,
            ));
        }
        Ok(lines)
    }
}

// ---------------------------------------------------------------------------------------------
// OpenAI

/// A page of OpenAI's organization costs (`GET https://api.openai.com/v1/organization/costs`,
/// daily buckets, best grouped by `line_item`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiCosts {
    /// Daily buckets.
    pub data: Vec<OpenAiCostBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of OpenAI's costs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiCostBucket {
    /// Its start, in Unix seconds.
    pub start_time: i64,
    /// Its end, in Unix seconds.
    pub end_time: i64,
    /// Its costs, one per group.
    pub results: Vec<OpenAiCostResult>,
}

/// One cost of a day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiCostResult {
    /// The amount and its currency.
    pub amount: OpenAiAmount,
    /// With `group_by=line_item`: the line item (`gpt-4o-mini-2024-07-18, input`).
    pub line_item: Option<String>,
    /// With `group_by=project_id`: the project.
    pub project_id: Option<String>,
}

/// An amount of OpenAI's costs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiAmount {
    /// The value, in units of `currency` (dollars, not cents).
    pub value: Amount,
    /// The currency (`usd`).
    pub currency: String,
}

impl OpenAiCosts {
    /// One line per day and result; a line item names its model (the text before its first comma:
    /// `gpt-4o-mini-2024-07-18, input` bills `gpt-4o-mini-2024-07-18`).
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for an amount that is not a number, or in another currency without a
    /// rate.
    pub fn billed_lines(&self, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for bucket in &self.data {
            let day = day_of_unix(bucket.start_time, "openai", "bucket")?;
            for r in &bucket.results {
                let item = r.line_item.clone().unwrap_or_else(|| "costs".to_owned());
                let id = format!(
                    "{day}/{}/{}",
                    r.project_id.as_deref().unwrap_or(""),
                    r.line_item.as_deref().unwrap_or("")
                );
                let value = r.amount.value.exact("openai", &id)?;
                let amount = in_usd(value, &r.amount.currency, rate, "openai", &id)?;
                let mut line = BilledLine::new("openai", id, day, item, amount);
                if let Some(li) = &r.line_item {
                    let model = li.split(',').next().unwrap_or(li).trim();
                    if !model.is_empty() {
                        line = line.model(model);
                    }
                }
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

// ---------------------------------------------------------------------------------------------
// Anthropic

/// A page of Anthropic's cost report (`GET https://api.anthropic.com/v1/organizations/cost_report`,
/// daily buckets, best grouped by `description`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicCostReport {
    /// Daily buckets.
    pub data: Vec<AnthropicCostBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of Anthropic's costs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicCostBucket {
    /// Its start (RFC 3339).
    pub starting_at: String,
    /// Its end (RFC 3339).
    pub ending_at: String,
    /// Its costs.
    pub results: Vec<AnthropicCostResult>,
}

/// One cost of a day. `amount` is in the currency's **lowest units** (cents), as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicCostResult {
    /// Cents, as a decimal text (`"123.78912"` is $1.2378912).
    pub amount: String,
    /// The currency (`USD`).
    pub currency: String,
    /// With `group_by=description`: the description.
    #[serde(deserialize_with = "null_as_empty")]
    pub description: String,
    /// With `group_by=description`: `tokens`, `web_search`, `code_execution` …
    pub cost_type: Option<String>,
    /// The model, for token costs.
    pub model: Option<String>,
    /// The token type (`uncached_input_tokens`, `output_tokens` …).
    pub token_type: Option<String>,
    /// The context window (`0-200k`).
    pub context_window: Option<String>,
    /// The service tier.
    pub service_tier: Option<String>,
    /// The workspace, when grouped by it.
    pub workspace_id: Option<String>,
}

impl AnthropicCostReport {
    /// One line per day and result, in dollars (cents ÷ 100, exactly).
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a bucket start that is not RFC 3339, an amount that is not a
    /// decimal, or another currency without a rate.
    pub fn billed_lines(&self, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for bucket in &self.data {
            let day = day_of_rfc3339(&bucket.starting_at, "anthropic", &bucket.starting_at)?;
            for r in &bucket.results {
                let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                let id = format!(
                    "{day}/{}/{}/{}/{}/{}/{}",
                    opt(&r.workspace_id),
                    r.description,
                    opt(&r.model),
                    opt(&r.token_type),
                    opt(&r.context_window),
                    opt(&r.service_tier)
                );
                let cents = decimal(&r.amount, "anthropic", &id)?;
                let amount = in_usd(
                    cents / Decimal::ONE_HUNDRED,
                    &r.currency,
                    rate,
                    "anthropic",
                    &id,
                )?;
                let item = if r.description.is_empty() {
                    opt(&r.cost_type)
                } else {
                    r.description.clone()
                };
                let mut line = BilledLine::new("anthropic", id, day, item, amount);
                if let Some(model) = &r.model {
                    line = line.model(model.clone());
                }
                lines.push(line);
            }
        }
        Ok(lines)
    }
}

// ---------------------------------------------------------------------------------------------
// Invoice lines as CSV

/// Lines of an invoice as CSV, for a provider without a usage API: a header row naming at least
/// `date` (`YYYY-MM-DD`), `provider`, `item` (what the line is: a model, a category) and `amount`
/// (a decimal), and optionally `model`, `call_id`, `currency` (default USD) and `record_id`. A
/// line without `record_id` is identified by its date, provider, item, model and call, and its
/// place among the file's lines with the same ones, so that importing the same file again changes
/// nothing.
///
/// # Errors
///
/// [`Error::BilledRecord`] naming the line for a missing column, a date or amount that cannot be
/// read, or another currency without a rate.
pub fn invoice_lines_csv(text: &str, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| bad("csv", "header", e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let required = |name: &str| {
        column(name).ok_or_else(|| bad("csv", "header", format!("no {name:?} column")))
    };
    let (date, provider, item, amount) = (
        required("date")?,
        required("provider")?,
        required("item")?,
        required("amount")?,
    );
    let (model, call, currency, record) = (
        column("model"),
        column("call_id"),
        column("currency"),
        column("record_id"),
    );
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut lines = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let at = format!("line {}", n + 2);
        let row = row.map_err(|e| bad("csv", &at, e.to_string()))?;
        let get = |i: Option<usize>| i.and_then(|i| row.get(i)).filter(|v| !v.is_empty());
        let cell = |i: usize| row.get(i).unwrap_or("");
        let provider_name = cell(provider);
        if provider_name.is_empty() {
            return Err(bad("csv", &at, "no provider"));
        }
        let day: NaiveDate = cell(date)
            .parse()
            .map_err(|e| bad(provider_name, &at, format!("date {:?}: {e}", cell(date))))?;
        let value = decimal(cell(amount), provider_name, &at)?;
        let usd = in_usd(
            value,
            get(currency).unwrap_or("USD"),
            rate,
            provider_name,
            &at,
        )?;
        let id = match get(record) {
            Some(id) => id.to_owned(),
            None => {
                let key = format!(
                    "{day}/{}/{}/{}",
                    cell(item),
                    get(model).unwrap_or(""),
                    get(call).unwrap_or("")
                );
                let k = seen.entry(key.clone()).or_insert(0);
                *k += 1;
                format!("{key}#{k}")
            }
        };
        let mut line = BilledLine::new(provider_name, id, day, cell(item), usd);
        if let Some(m) = get(model) {
            line = line.model(m);
        }
        if let Some(c) = get(call) {
            line = line.call(c);
        }
        lines.push(line);
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------------------------
// Usage: what the providers counted, where they report usage rather than money

/// What a provider counted on a day (tokens, characters, seconds), where its API reports usage
/// rather than money: set beside the quantities callmeter tracked, it shows usage the pipeline
/// never tracked, whatever the prices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BilledUsage {
    /// The provider, named as track calls name it.
    pub provider: String,
    /// The provider's own identity of the record: importing it again replaces it.
    pub record_id: String,
    /// The UTC day.
    pub day: NaiveDate,
    /// The model, for per-model records.
    pub model: Option<String>,
    /// The unit, as callmeter stores it.
    pub unit: Unit,
    /// How much, exactly.
    pub quantity: Decimal,
}

impl BilledUsage {
    /// `quantity` `unit`s of `provider` on `day`, identified by `record_id`.
    pub fn new(
        provider: impl Into<String>,
        record_id: impl Into<String>,
        day: NaiveDate,
        unit: Unit,
        quantity: Decimal,
    ) -> Self {
        BilledUsage {
            provider: provider.into(),
            record_id: record_id.into(),
            day,
            model: None,
            unit,
            quantity,
        }
    }

    /// The model it counts.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
}

/// A page of OpenAI's organization usage (`GET /v1/organization/usage/completions`,
/// `…/audio_speeches`, `…/audio_transcriptions`; daily buckets, best grouped by `model`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiUsageReport {
    /// Daily buckets.
    pub data: Vec<OpenAiUsageBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of OpenAI's usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiUsageBucket {
    /// Its start, in Unix seconds.
    pub start_time: i64,
    /// Its end, in Unix seconds.
    pub end_time: i64,
    /// Its usage, one per group.
    #[serde(alias = "result")]
    pub results: Vec<OpenAiUsageResult>,
}

/// One usage result: completions count tokens, audio speeches characters, audio transcriptions
/// seconds (each field absent from the others).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenAiUsageResult {
    /// `organization.usage.completions.result`, `organization.usage.audio_speeches.result`,
    /// `organization.usage.audio_transcriptions.result` …
    pub object: String,
    /// Text input tokens, cached ones included.
    pub input_tokens: u64,
    /// Text input tokens read from the cache (part of `input_tokens`).
    pub input_cached_tokens: u64,
    /// Text output tokens.
    pub output_tokens: u64,
    /// Audio input tokens, cached ones included.
    pub input_audio_tokens: u64,
    /// Audio output tokens.
    pub output_audio_tokens: u64,
    /// Characters synthesised (audio speeches).
    pub characters: u64,
    /// Seconds transcribed (audio transcriptions).
    pub seconds: Option<Amount>,
    /// Requests.
    pub num_model_requests: u64,
    /// With `group_by=model`: the model.
    pub model: Option<String>,
    /// With `group_by=project_id`: the project.
    pub project_id: Option<String>,
}

impl OpenAiUsageReport {
    /// One usage per day and result: completions in tokens (text and audio, input and output),
    /// audio speeches in characters, audio transcriptions in seconds; other kinds of usage
    /// (embeddings, images …) are not voice and are left out.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a bucket time out of range or seconds that are not a number.
    pub fn billed_usage(&self) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for bucket in &self.data {
            let day = day_of_unix(bucket.start_time, "openai", "bucket")?;
            for r in &bucket.results {
                let kind = r
                    .object
                    .strip_prefix("organization.usage.")
                    .and_then(|k| k.strip_suffix(".result"))
                    .unwrap_or("");
                let id = format!(
                    "{day}/{kind}/{}/{}",
                    r.project_id.as_deref().unwrap_or(""),
                    r.model.as_deref().unwrap_or("")
                );
                let (unit, quantity) = match kind {
                    "completions" => (
                        Unit::Token,
                        Decimal::from(
                            r.input_tokens
                                .saturating_add(r.output_tokens)
                                .saturating_add(r.input_audio_tokens)
                                .saturating_add(r.output_audio_tokens),
                        ),
                    ),
                    "audio_speeches" => (Unit::Character, Decimal::from(r.characters)),
                    "audio_transcriptions" => (
                        Unit::Second,
                        r.seconds
                            .as_ref()
                            .map_or(Ok(Decimal::ZERO), |s| s.exact("openai", &id))?,
                    ),
                    _ => continue,
                };
                let mut usage = BilledUsage::new("openai", id, day, unit, quantity);
                if let Some(m) = &r.model {
                    usage = usage.model(m.clone());
                }
                out.push(usage);
            }
        }
        Ok(out)
    }
}

/// Deepgram's project usage summary (`GET /v1/projects/{project_id}/usage`, daily resolution).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepgramUsageSummary {
    /// The range's start.
    pub start: String,
    /// The range's end.
    pub end: String,
    /// One result per period of the resolution.
    pub results: Vec<DeepgramUsageResult>,
}

/// One period of Deepgram's usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepgramUsageResult {
    /// The period's start (`2024-10-01`, or a time on that day).
    pub start: String,
    /// The period's end.
    pub end: String,
    /// Hours of audio processed.
    pub hours: f64,
    /// Hours billed: every channel of multichannel audio counts.
    pub total_hours: Option<f64>,
    /// Requests.
    pub requests: u64,
}

impl DeepgramUsageSummary {
    /// One usage per day, in seconds billed (`total_hours` × 3 600, or `hours` without it), read as
    /// the shortest decimal of each float and rounded to the millisecond.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a period that does not start with a date, or spans more than a
    /// day (ask for the daily resolution).
    pub fn billed_usage(&self) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for r in &self.results {
            let day_of = |s: &str| -> Result<NaiveDate> {
                s.get(..10)
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| bad("deepgram", s, "not a date"))
            };
            let (day, last) = (day_of(&r.start)?, day_of(&r.end)?);
            // A day is `2024-10-01`..`2024-10-01`, or a time on it to the next midnight.
            let midnight = r
                .end
                .get(10..)
                .is_some_and(|t| t.trim_start_matches(['T', ' ']).starts_with("00:00"));
            let one_day = last == day || (last == day.succ_opt().unwrap_or(day) && midnight);
            if !one_day {
                return Err(bad(
                    "deepgram",
                    &r.start,
                    "a period of more than one day: ask for the daily resolution",
                ));
            }
            let hours = r.total_hours.unwrap_or(r.hours);
            let hours = crate::base::money::shortest_decimal(hours)
                .ok_or_else(|| bad("deepgram", &r.start, format!("hours {hours} not a number")))?;
            out.push(BilledUsage::new(
                "deepgram",
                day.to_string(),
                day,
                Unit::Second,
                // Hours are floats: to the millisecond, as callmeter counts time.
                (hours * Decimal::from(3_600))
                    .round_dp_with_strategy(3, rust_decimal::RoundingStrategy::MidpointNearestEven)
                    .normalize(),
            ));
        }
        Ok(out)
    }
}

/// ElevenLabs' character usage (`GET /v1/usage/character-stats`, daily aggregation): a time axis
/// and, per breakdown key (`All`, or each model or voice asked for), the characters of each day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ElevenLabsCharacterStats {
    /// Each day's start, in Unix milliseconds.
    pub time: Vec<i64>,
    /// Per breakdown key, the characters of each day in `time`'s order.
    pub usage: BTreeMap<String, Vec<f64>>,
}

impl ElevenLabsCharacterStats {
    /// One usage per day and breakdown key, in characters; with `by_model`, the keys are models
    /// (`breakdown_type=model`), otherwise the key `All` is the provider's day.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] when a series is not as long as the time axis, or a count is not a
    /// whole number.
    pub fn billed_usage(&self, by_model: bool) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for (key, series) in &self.usage {
            if series.len() != self.time.len() {
                return Err(bad(
                    "elevenlabs",
                    key,
                    "a usage series not as long as the time axis",
                ));
            }
            if !by_model && key != "All" {
                continue;
            }
            for (&ms, &n) in self.time.iter().zip(series) {
                let day = day_of_unix(ms.div_euclid(1000), "elevenlabs", key)?;
                let chars = crate::base::money::shortest_decimal(n)
                    .filter(|d| d.fract().is_zero() && !d.is_sign_negative())
                    .ok_or_else(|| bad("elevenlabs", key, format!("{n} characters")))?;
                let mut usage = BilledUsage::new(
                    "elevenlabs",
                    format!("{day}/{key}"),
                    day,
                    Unit::Character,
                    chars,
                );
                if by_model {
                    usage = usage.model(key.clone());
                }
                out.push(usage);
            }
        }
        Ok(out)
    }
}

/// A page of Anthropic's usage report (`GET
/// https://api.anthropic.com/v1/organizations/usage_report/messages`, daily buckets, best grouped
/// by `model`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicUsageReport {
    /// Daily buckets.
    pub data: Vec<AnthropicUsageBucket>,
    /// Whether another page follows.
    pub has_more: bool,
    /// The cursor of the next page.
    pub next_page: Option<String>,
}

/// One day of Anthropic's usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicUsageBucket {
    /// Its start (RFC 3339).
    pub starting_at: String,
    /// Its end (RFC 3339).
    pub ending_at: String,
    /// Its usage, one per group.
    pub results: Vec<AnthropicUsageResult>,
}

/// The tokens of one group of a day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicUsageResult {
    /// Input tokens neither read from nor written to the cache.
    pub uncached_input_tokens: u64,
    /// Input tokens read from the cache.
    pub cache_read_input_tokens: u64,
    /// Input tokens written to the cache.
    pub cache_creation: AnthropicCacheWrites,
    /// Output tokens.
    pub output_tokens: u64,
    /// With `group_by=model`: the model.
    pub model: Option<String>,
    /// With `group_by=workspace_id`: the workspace.
    pub workspace_id: Option<String>,
    /// With `group_by=api_key_id`: the key.
    pub api_key_id: Option<String>,
    /// With `group_by=service_tier`: the tier.
    pub service_tier: Option<String>,
    /// With `group_by=context_window`: the window.
    pub context_window: Option<String>,
}

/// Cache writes by lifetime.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnthropicCacheWrites {
    /// Written for five minutes.
    pub ephemeral_5m_input_tokens: u64,
    /// Written for an hour.
    pub ephemeral_1h_input_tokens: u64,
}

impl AnthropicUsageReport {
    /// One usage per day and result, in tokens: uncached, cache-read and cache-written input, and
    /// output.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a bucket start that is not RFC 3339.
    pub fn billed_usage(&self) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for bucket in &self.data {
            let day = day_of_rfc3339(&bucket.starting_at, "anthropic", &bucket.starting_at)?;
            for r in &bucket.results {
                let opt = |o: &Option<String>| o.clone().unwrap_or_default();
                let id = format!(
                    "{day}/{}/{}/{}/{}/{}",
                    opt(&r.workspace_id),
                    opt(&r.api_key_id),
                    opt(&r.model),
                    opt(&r.service_tier),
                    opt(&r.context_window)
                );
                let tokens = [
                    r.uncached_input_tokens,
                    r.cache_read_input_tokens,
                    r.cache_creation.ephemeral_5m_input_tokens,
                    r.cache_creation.ephemeral_1h_input_tokens,
                    r.output_tokens,
                ]
                .into_iter()
                .fold(0_u64, u64::saturating_add);
                let mut usage =
                    BilledUsage::new("anthropic", id, day, Unit::Token, Decimal::from(tokens));
                if let Some(m) = &r.model {
                    usage = usage.model(m.clone());
                }
                out.push(usage);
            }
        }
        Ok(out)
    }
}

/// A page of Deepgram's requests (`GET /v1/projects/{project_id}/requests`): each request with
/// what it cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepgramRequests {
    /// The page number.
    pub page: u64,
    /// Requests per page.
    pub limit: u64,
    /// The requests.
    pub requests: Vec<DeepgramRequest>,
}

/// One request to Deepgram.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepgramRequest {
    /// Its id.
    pub request_id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The endpoint (`/v1/listen`, `/v1/speak`).
    pub path: String,
    /// What Deepgram answered, with the cost.
    pub response: DeepgramRequestResponse,
}

/// Deepgram's answer to a request, as the requests list reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepgramRequestResponse {
    /// The HTTP status.
    pub code: u16,
    /// Cost and usage.
    pub details: DeepgramRequestDetails,
}

/// What a request used and cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeepgramRequestDetails {
    /// Its cost in US dollars (a JSON number).
    pub usd: Option<f64>,
    /// Seconds of audio.
    pub duration: Option<f64>,
    /// The models used.
    pub models: Vec<String>,
}

impl DeepgramRequests {
    /// One line per request that has a cost, on the day it was made, for its (first) model.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a `created` that is not RFC 3339 or a cost that is not a number.
    pub fn billed_lines(&self) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for r in &self.requests {
            let Some(usd) = r.response.details.usd else {
                continue;
            };
            let day = day_of_rfc3339(&r.created, "deepgram", &r.request_id)?;
            let amount = crate::base::money::shortest_decimal(usd)
                .ok_or_else(|| bad("deepgram", &r.request_id, format!("usd {usd} not a number")))?;
            let mut line = BilledLine::new(
                "deepgram",
                r.request_id.clone(),
                day,
                r.path.clone(),
                Usd::new(amount),
            );
            if let Some(model) = r.response.details.models.first() {
                line = line.model(model.clone());
            }
            lines.push(line);
        }
        Ok(lines)
    }
}
