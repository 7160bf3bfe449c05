//! The public description of a call: who it is for ([`CallInfo`]), how it ended ([`Outcome`]), and what
//! it cost ([`CallSummary`], [`Tracked`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::usage::Category;
use crate::control::budget::{Budget, Verdict};
use crate::ident::CallStatus;

/// The longest id accepted (call, user, tenant, persona, session kind, a metadata key), in bytes.
pub(crate) const MAX_ID_LEN: usize = 256;
/// The longest provider, model or agent name accepted, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 128;
/// The most a call's metadata may hold, in bytes of JSON.
pub(crate) const MAX_METADATA_LEN: usize = 4_096;

/// `name` cut to at most [`MAX_NAME_LEN`] bytes, at a character boundary.
pub(crate) fn cut(name: &str) -> &str {
    let mut end = name.len().min(MAX_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Who and what a call is: given to [`Meter::start_call`](crate::Meter::start_call).
///
/// # Examples
///
/// ```
/// use callmeter::CallInfo;
///
/// let info = CallInfo::new("CA1234")
///     .user("user-42")
///     .tenant("acme")
///     .persona("coach")
///     .session_kind("council")
///     .metadata("campaign", "spring");
/// assert_eq!(info.call_id(), "CA1234");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallInfo {
    pub(crate) call_id: String,
    pub(crate) user_id: Option<String>,
    pub(crate) tenant_id: Option<String>,
    pub(crate) persona: Option<String>,
    pub(crate) session_kind: Option<String>,
    pub(crate) metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) budget: Option<Budget>,
}

/// Bounds on what a call's description holds.
impl CallInfo {
    /// The longest id accepted (call, user, tenant, persona, session kind, a metadata key), in bytes.
    pub const MAX_ID_LEN: usize = MAX_ID_LEN;
    /// The most a call's metadata may hold, in bytes of JSON.
    pub const MAX_METADATA_LEN: usize = MAX_METADATA_LEN;
}

impl CallInfo {
    /// A call with this id (a telephony call SID, a room name …), unique in the database.
    pub fn new(call_id: impl Into<String>) -> Self {
        CallInfo {
            call_id: call_id.into(),
            ..CallInfo::default()
        }
    }

    /// The user the call is for.
    pub fn user(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// The tenant (customer company) the call belongs to.
    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// The persona or agent configuration that runs the call.
    pub fn persona(mut self, persona: impl Into<String>) -> Self {
        self.persona = Some(persona.into());
        self
    }

    /// The kind of session (`"phone"`, `"council"`, `"realtime"` …).
    pub fn session_kind(mut self, kind: impl Into<String>) -> Self {
        self.session_kind = Some(kind.into());
        self
    }

    /// Adds a free-form metadata entry, stored as JSON with the call.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// This call's budget, instead of the meter's ([`MeterBuilder::budget`](crate::MeterBuilder::budget)).
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The user, if set.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// The tenant, if set.
    pub fn tenant_id(&self) -> Option<&str> {
        self.tenant_id.as_deref()
    }

    pub(crate) fn session_kind_name(&self) -> Option<&str> {
        self.session_kind.as_deref()
    }

    pub(crate) fn check(&self) -> Result<()> {
        check_id(Some(&self.call_id), "call id must not be empty")?;
        check_id(self.user_id.as_deref(), "user id must not be empty")?;
        check_id(self.tenant_id.as_deref(), "tenant id must not be empty")?;
        check_id(self.persona.as_deref(), "persona must not be empty")?;
        check_id(
            self.session_kind.as_deref(),
            "session kind must not be empty",
        )?;
        for key in self.metadata.keys() {
            check_id(Some(key), "metadata keys must not be empty")?;
        }
        Ok(())
    }
}

pub(crate) fn check_id(id: Option<&str>, empty: &'static str) -> Result<()> {
    match id {
        Some(s) if s.trim().is_empty() => Err(Error::InvalidCallInfo(empty)),
        Some(s) if s.len() > MAX_ID_LEN => Err(Error::InvalidCallInfo(
            "ids must be at most MAX_ID_LEN bytes long",
        )),
        _ => Ok(()),
    }
}
/// How a call ended, given to [`CallCostTracker::finalize`](crate::CallCostTracker::finalize).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The call ran to its end.
    Completed,
    /// The call failed; every cost it incurred is kept.
    Failed(String),
}

impl Outcome {
    /// A failure with its reason.
    pub fn failed(reason: impl Into<String>) -> Self {
        Outcome::Failed(reason.into())
    }
}
/// What a successful track call returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tracked {
    /// The cost of this usage, exact to the nano-dollar.
    pub cost: Usd,
    /// The call's running total, this usage included.
    pub call_total: Usd,
    /// Where the call stands against its [`Budget`] after this usage.
    pub verdict: Verdict,
    /// What is left of the call's maximum cost (zero once it is reached).
    pub remaining: Usd,
}

/// The exact cost of a finished call, computed from the tracker's in-memory totals.
///
/// `total` equals the sum of `by_category`, and of `by_provider`; it equals the sum of the call's events in
/// the database. `by_agent` covers events tracked through [`CallCostTracker::agent`](crate::CallCostTracker::agent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CallSummary {
    /// The call id.
    pub call_id: String,
    /// The user, if given.
    pub user_id: Option<String>,
    /// The tenant, if given.
    pub tenant_id: Option<String>,
    /// How the call ended.
    pub status: CallStatus,
    /// Why it failed, if it did.
    pub failure_reason: Option<String>,
    /// When tracking started (UTC).
    pub started_at: DateTime<Utc>,
    /// When it was finalized (UTC).
    pub ended_at: DateTime<Utc>,
    /// Milliseconds from start to finalize.
    pub duration_ms: u64,
    /// Total cost.
    pub total: Usd,
    /// Amount charged to the customer through [`CallCostTracker::track_payment`](crate::CallCostTracker::track_payment).
    pub revenue: Usd,
    /// Cost per category (categories with a cost).
    pub by_category: BTreeMap<Category, Usd>,
    /// Cost per provider (providers with a cost).
    pub by_provider: BTreeMap<String, Usd>,
    /// Cost per agent of a multi-agent session.
    pub by_agent: BTreeMap<String, Usd>,
    /// Events recorded.
    pub events: u64,
    /// Of those, events recorded without a complete price.
    pub unpriced_events: u64,
    /// Of those, events that did not fit in the queue and were written as coalesced rows.
    pub dropped_events: u64,
}
