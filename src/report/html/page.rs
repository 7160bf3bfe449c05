//! The dashboard as plain data: what the queries gathered, before any markup; and the colours and
//! number formats both halves share.

use chrono::NaiveDate;

use crate::base::money::Usd;

use crate::report::operations::{AlertSummary, Ending};
use crate::report::quotas::QuotaState;
use crate::report::reconcile::Reconciliation;
use crate::report::results::GroupCost;

/// One colour per category, the same on every chart: no two categories share one.
pub(super) const CATEGORY_COLORS: [(&str, &str); 9] = [
    ("telephony", "#4e79a7"),
    ("stt", "#59a14f"),
    ("llm", "#b07aa1"),
    ("tts", "#f28e2b"),
    ("realtime", "#76b7b2"),
    ("transport", "#edc948"),
    ("payment", "#9c755f"),
    ("platform", "#bab0ac"),
    ("other", "#7f7f7f"),
];

/// Bars that are not categories (providers, users, hours) wear one neutral colour, so that no
/// provider is mistaken for a category; losses are red.
pub(super) const NEUTRAL: &str = "#5b7fa6";
pub(super) const LOSS: &str = "#d1495b";
pub(super) const PROFIT: &str = "#2e8b57";

/// Calls listed in the page's table at most (the dearest first).
pub(super) const CALLS_LISTED: usize = 2_000;

pub(super) fn dollars(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

pub(super) fn nanos(u: Usd) -> i64 {
    u.to_nanos().unwrap_or(0)
}

pub(super) fn category_color(category: &str) -> &'static str {
    CATEGORY_COLORS
        .iter()
        .find(|(c, _)| *c == category)
        .map_or(NEUTRAL, |(_, color)| color)
}

/// A label cut to fit beside its bar (the bar's tooltip keeps the whole text).
pub(super) fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let head: String = label.chars().take(max - 1).collect();
        format!("{head}…")
    }
}

/// A horizontal bar chart: one bar per row; negative values draw left of the zero line.
pub(super) struct Bars {
    pub(super) id: &'static str,
    pub(super) title: String,
    pub(super) rows: Vec<Bar>,
}

pub(super) struct Bar {
    pub(super) label: String,
    pub(super) value: f64,
    /// Shown beside the bar.
    pub(super) text: String,
    /// Shown when the bar is pointed at, after the label.
    pub(super) detail: String,
    pub(super) color: &'static str,
}

/// One call of the table, with its breakdown.
pub(super) struct CallRow {
    pub(super) call_id: String,
    pub(super) user: Option<String>,
    pub(super) tenant: Option<String>,
    pub(super) status: String,
    pub(super) started_at: i64,
    pub(super) seconds: Option<f64>,
    pub(super) cost: Usd,
    /// (category, provider, cost), dearest first.
    pub(super) parts: Vec<(String, String, Usd)>,
}

/// Everything the page shows, read from the database.
pub(super) struct Page {
    pub(super) from: NaiveDate,
    pub(super) to: NaiveDate,
    pub(super) cards: Vec<(&'static str, String, Option<String>)>,
    /// `(day, category, nano-dollars)`, ordered by day.
    pub(super) daily: Vec<(String, String, i64)>,
    pub(super) hourly: [Usd; 24],
    pub(super) charts: Vec<Bars>,
    pub(super) endings: Vec<Ending>,
    pub(super) tenants: Vec<GroupCost>,
    pub(super) users: Vec<GroupCost>,
    /// `None` for a fleet database: alerts stay in each server's file.
    pub(super) alerts: Option<AlertSummary>,
    /// The quotas as of the range's last day; `None` for a fleet database, like alerts.
    pub(super) quotas: Option<Vec<QuotaState>>,
    /// What the providers billed against what was computed (the default tolerance).
    pub(super) reconciliation: Reconciliation,
    pub(super) calls: Vec<CallRow>,
    pub(super) calls_in_range: i64,
    /// Whether each call links to its own page (`calls/<id>`), as `callmeter serve` serves them.
    pub(super) call_links: bool,
}
