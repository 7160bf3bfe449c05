//! The catalog as a list to read: each entry's prices, billing rules, source and age, for
//! `callmeter catalog`, for finding stale prices, and for the README's price table (rendered from the
//! catalog itself, so the two cannot disagree).

use std::fmt::Write as _;

use chrono::NaiveDate;
use serde::Serialize;

use super::Catalog;
use super::model::ModelPrice;
use super::rate::Rate;
use crate::base::usage::{Category, UsageKind};

/// One catalog entry as `callmeter catalog` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Listed {
    /// The provider (`"openai"`).
    pub provider: String,
    /// The model or product (`"gpt-realtime"`).
    pub model: String,
    /// What its costs are (`llm`, `tts`, `telephony` …).
    pub category: Category,
    /// Every rate with the usage kind it bills, context-length tiers, and the payment fee.
    pub prices: String,
    /// How quantities are rounded before they are priced, and whether failed requests are billed;
    /// empty when neither applies.
    pub billing: String,
    /// Where the price comes from.
    pub source: String,
    /// When the price was last checked against its source.
    pub checked: Option<NaiveDate>,
    /// Days from `checked` to the day the listing was made; `None` for a price never checked.
    pub age_days: Option<i64>,
}

impl Listed {
    fn of(price: &ModelPrice, today: NaiveDate) -> Listed {
        Listed {
            provider: price.provider().to_owned(),
            model: price.model().to_owned(),
            category: price.category(),
            prices: prices(price),
            billing: billing(price),
            source: price.source().to_owned(),
            checked: price.checked(),
            age_days: price.checked().map(|d| (today - d).num_days()),
        }
    }

    /// Whether the price was checked more than `max_age_days` before the listing's day, or never.
    pub fn is_stale(&self, max_age_days: i64) -> bool {
        self.age_days.is_none_or(|age| age > max_age_days)
    }

    /// `rows` as a Markdown table: provider, model, prices, billing, source and the date checked.
    /// The README's table of built-in prices is this, for [`Catalog::builtin`].
    pub fn markdown_table(rows: &[Listed]) -> String {
        let cell = |s: &str| s.replace('|', "\\|");
        let mut out = String::from(
            "| provider | model | prices | billing | source | checked |\n|---|---|---|---|---|---|\n",
        );
        for r in rows {
            let checked = r.checked.map(|d| d.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&r.provider),
                cell(&r.model),
                cell(&r.prices),
                cell(&r.billing),
                cell(&r.source),
                checked
            );
        }
        out
    }
}

/// Each rate with the kind it bills: `input_tokens $4 per 1M tokens`.
fn rates(rates: &[(UsageKind, Rate)]) -> Vec<String> {
    rates
        .iter()
        .map(|(kind, rate)| format!("{kind} {rate}"))
        .collect()
}

/// The rates in the order they were set, then each context tier's, then the fee.
fn prices(price: &ModelPrice) -> String {
    let mut parts = rates(price.rates());
    for tier in price.context_tiers() {
        parts.push(format!(
            "above {} prompt tokens: {}",
            tier.above_prompt_tokens(),
            rates(tier.rates()).join(", ")
        ));
    }
    if let Some(fee) = price.fee() {
        parts.push(format!("fee {fee}"));
    }
    parts.join("; ")
}

fn billing(price: &ModelPrice) -> String {
    let mut parts: Vec<String> = price
        .increments()
        .iter()
        .map(|(kind, inc)| format!("{kind} {inc}"))
        .collect();
    if !price.failed_requests_billed() {
        parts.push("failed requests not billed".to_owned());
    }
    parts.join("; ")
}

impl Catalog {
    /// Every entry (every version of a price), ordered by provider and model, with its age on
    /// `today`.
    ///
    /// # Examples
    ///
    /// ```
    /// use callmeter::Catalog;
    /// use chrono::NaiveDate;
    ///
    /// let today = NaiveDate::from_ymd_opt(2027, 6, 1).unwrap();
    /// let stale: Vec<_> = Catalog::builtin()
    ///     .listing(today)
    ///     .into_iter()
    ///     .filter(|e| e.is_stale(90))
    ///     .collect();
    /// assert!(!stale.is_empty(), "every built-in price was checked before March 2027");
    /// ```
    pub fn listing(&self, today: NaiveDate) -> Vec<Listed> {
        let mut rows: Vec<Listed> = self.iter().map(|p| Listed::of(p, today)).collect();
        rows.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
        rows
    }
}
