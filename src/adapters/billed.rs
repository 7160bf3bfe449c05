//! What providers billed and counted, in the shapes every provider shares: [`BilledLine`] (money),
//! [`BilledUsage`] (quantities), [`ExchangeRate`], [`Amount`], invoice lines as CSV, and the helpers
//! each provider's file reads its records with.

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

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
#[non_exhaustive]
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

pub(super) fn bad(provider: &str, record: &str, reason: impl Into<String>) -> Error {
    Error::BilledRecord {
        provider: provider.to_owned(),
        record: record.to_owned(),
        reason: reason.into(),
    }
}

/// `amount` of `currency` in dollars (exact for dollars; times the rate, rounded to the nano-dollar
/// half to even, for another currency with a rate given).
pub(super) fn in_usd(
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

pub(super) fn decimal(text: &str, provider: &str, record: &str) -> Result<Decimal> {
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
    pub(super) fn exact(&self, provider: &str, record: &str) -> Result<Decimal> {
        match self {
            Amount::Text(t) => decimal(t, provider, record),
            Amount::Number(f) => crate::base::money::shortest_decimal(*f)
                .ok_or_else(|| bad(provider, record, format!("amount {f} is not a number"))),
        }
    }
}

pub(super) fn day_of_unix(seconds: i64, provider: &str, record: &str) -> Result<NaiveDate> {
    DateTime::from_timestamp(seconds, 0)
        .map(|t| t.date_naive())
        .ok_or_else(|| bad(provider, record, format!("time {seconds} out of range")))
}

/// The UTC day of an RFC 3339 time.
pub(super) fn day_of_rfc3339(time: &str, provider: &str, record: &str) -> Result<NaiveDate> {
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

pub(super) fn null_as_empty<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

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
