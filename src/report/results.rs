//! The typed results of the reports: what a call, a day, the platform, a group or a subject's spend
//! add up to. Serde-serialisable; money exact.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::base::money::Usd;
use crate::base::usage::{Category, Unit};
pub use crate::persist::read::events::EventKind;

/// Cost of one category or provider (or user, tenant …) in a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Share {
    /// The category, provider, user … it is the cost of.
    pub name: String,
    /// The cost.
    pub cost: Usd,
    /// Events (a coalesced row counts the events it stands for).
    pub events: i64,
}

/// One event of a call, in order.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct EventLine {
    /// The start of the call it belongs to (see `cost_events.segment`: later starts sort later).
    pub segment: i64,
    /// Sequence number within that start of the call.
    pub seq: i64,
    /// When it was tracked.
    pub at: DateTime<Utc>,
    /// Category.
    pub category: Category,
    /// Provider.
    pub provider: String,
    /// Model.
    pub model: String,
    /// Agent, for multi-agent sessions.
    pub agent: Option<String>,
    /// Headline quantity in `unit`.
    pub quantity: f64,
    /// Unit of the quantity.
    pub unit: Unit,
    /// Cost.
    pub cost: Usd,
    /// What the row is: usage, late usage, or the coalesced events of a full queue.
    pub kind: EventKind,
    /// Whether it had a price.
    pub priced: bool,
    /// Whether it records a reservation that was never settled (the request failed, hung, or its
    /// handle was dropped), at its estimate.
    pub estimated: bool,
}

/// A call's breakdown.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CallReport {
    /// The call id.
    pub call_id: String,
    /// User, tenant, persona and session kind, as given.
    pub user_id: Option<String>,
    /// Tenant.
    pub tenant_id: Option<String>,
    /// Persona.
    pub persona: Option<String>,
    /// Session kind.
    pub session_kind: Option<String>,
    /// `active`, `completed`, `failed` or `abandoned`.
    pub status: String,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End, once ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Duration in seconds, once ended.
    pub duration_seconds: Option<f64>,
    /// Total cost (the sum of its events).
    pub total: Usd,
    /// Revenue charged for it (payments tracked).
    pub revenue: Usd,
    /// Revenue minus cost, when there is revenue.
    pub margin: Option<Usd>,
    /// Cost by category.
    pub by_category: Vec<Share>,
    /// Cost by provider.
    pub by_provider: Vec<Share>,
    /// Cost by agent (multi-agent sessions).
    pub by_agent: Vec<Share>,
    /// Its events in order.
    pub events: Vec<EventLine>,
    /// What each provider billed for it, from the records imported by a
    /// [`Ledger`](crate::Ledger) that name it (`events`: how many records); empty before any.
    pub billed: Vec<Share>,
}

/// The platform over a range of UTC days.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PlatformReport {
    /// First day, inclusive.
    pub from: NaiveDate,
    /// Last day, inclusive.
    pub to: NaiveDate,
    /// Total cost of the events in the range.
    pub total: Usd,
    /// Calls started in the range.
    pub calls: i64,
    /// Minutes of calls in the range: the call seconds tracked with
    /// [`track_duration`](crate::CallCostTracker::track_duration), as limits count voice minutes.
    pub minutes: f64,
    /// Average cost per call started in the range (total ÷ calls).
    pub cost_per_call: Option<Usd>,
    /// Average cost per call minute (every cost of the range ÷ its call minutes).
    pub cost_per_minute: Option<Usd>,
    /// By category, dearest first.
    pub by_category: Vec<Share>,
    /// By provider, dearest first.
    pub by_provider: Vec<Share>,
    /// Cost per day, with the change against the day before.
    pub daily: Vec<DayCost>,
    /// Conversation turns in the range, counted as language-model requests (category `llm` events).
    pub turns: i64,
    /// Average cost per turn (every cost of the range ÷ its turns).
    pub cost_per_turn: Option<Usd>,
}

/// One day of a daily series.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DayCost {
    /// The day (UTC).
    pub day: NaiveDate,
    /// Its cost.
    pub cost: Usd,
    /// Change against the previous day of the series.
    pub change: Option<Usd>,
}

/// What a user or tenant spent on a day and in its month, from the rollups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SubjectSpend {
    /// User or tenant.
    pub kind: crate::control::limits::SubjectKind,
    /// Its id.
    pub id: String,
    /// The day (UTC).
    pub day: NaiveDate,
    /// Cost of its events that day.
    pub day_cost: Usd,
    /// Cost of its events in that day's month.
    pub month_cost: Usd,
}

/// One call in a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CallLine {
    /// The call id.
    pub call_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its status.
    pub status: String,
    /// Its cost.
    pub total: Usd,
    /// Its revenue.
    pub revenue: Usd,
}

/// What to group calls by in [`Reports::calls_by`](crate::Reports::calls_by).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum GroupBy {
    /// `calls.user_id`.
    User,
    /// `calls.tenant_id`.
    Tenant,
    /// `calls.persona`.
    Persona,
    /// `calls.session_kind`.
    SessionKind,
    /// A metadata entry of the calls ([`CallInfo::metadata`](crate::CallInfo::metadata)), such as the
    /// pricing tier or plan a call was sold under.
    Metadata(String),
    /// The server that last had the call (`calls.server` in a fleet database). A file is one server:
    /// its calls are one group without a name.
    Server,
}

/// Calls of one group.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct GroupCost {
    /// The group (`None` for calls without one).
    pub name: Option<String>,
    /// Calls started in the range.
    pub calls: i64,
    /// Their total cost.
    pub cost: Usd,
    /// Their revenue.
    pub revenue: Usd,
    /// Average cost per call.
    pub cost_per_call: Usd,
}
