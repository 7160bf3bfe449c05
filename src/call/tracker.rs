//! The per-call tracker: the hot path, the call's running totals, and `finalize`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::adapters::{AnthropicUsage, OpenAiUsage, RealtimeUsage};
use crate::control::alert::AlertMsg;
use crate::control::budget::{
    Budget, CROSSED_CUTOFF, CROSSED_SESSION_ALERT, CROSSED_WARNING, Limits, Transitions, Verdict,
};
use crate::call::cumulative::Cumulative;
use crate::error::{Error, Result};
use crate::control::limits::PeriodCounter;
use crate::call::meter::MeterShared;
use crate::money::{MAX_CALL_COST, MAX_CALL_NANOS, MAX_EVENT_NANOS, Usd, add_within};
use crate::pricing::{Catalog, Lookup, LookupCache, Payment};
use crate::stats::Counters;
use crate::call::totals::Totals;
use crate::usage::{Category, MAX_PARTICIPANTS, Measure, TokenUsage, UsageKind, millis};
use crate::persist::writer::{CallEnd, Coalesced, Event, EventHead, NO_AGENT, UNKNOWN_BIT};

/// The longest id accepted (call, user, tenant, persona, session kind, a metadata key), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// The longest provider, model or agent name accepted, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// The most a call's metadata may hold, in bytes of JSON.
pub const MAX_METADATA_LEN: usize = 4_096;

/// `name` cut to at most [`MAX_NAME_LEN`] bytes, at a character boundary.
fn cut(name: &str) -> &str {
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
    call_id: String,
    user_id: Option<String>,
    tenant_id: Option<String>,
    persona: Option<String>,
    session_kind: Option<String>,
    metadata: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    budget: Option<Budget>,
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

    fn check(&self) -> Result<()> {
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

fn check_id(id: Option<&str>, empty: &'static str) -> Result<()> {
    match id {
        Some(s) if s.trim().is_empty() => Err(Error::InvalidCallInfo(empty)),
        Some(s) if s.len() > MAX_ID_LEN => Err(Error::InvalidCallInfo(
            "ids must be at most MAX_ID_LEN bytes long",
        )),
        _ => Ok(()),
    }
}

/// A call's identity, shared with the writer by every event of the call.
#[derive(Debug)]
pub(crate) struct CallIdent {
    /// The meter-local key events carry instead of a reference to this record.
    pub(crate) key: u64,
    pub(crate) call_id: Box<str>,
    pub(crate) user_id: Option<Box<str>>,
    pub(crate) tenant_id: Option<Box<str>>,
    pub(crate) persona: Option<Box<str>>,
    pub(crate) session_kind: Option<Box<str>>,
    pub(crate) metadata: Option<String>,
    pub(crate) started_at_ms: i64,
    /// This start of the call (a *segment*), unique among the starts of the same call id in every
    /// process (see `MeterShared::segment_of`). An event's identity is (call id, segment, sequence
    /// number), so a call id started again never collides with what an earlier start wrote.
    pub(crate) segment: i64,
    /// The coarse monotonic clock at `started_at_ms`: events are stamped from it (see [`CallIdent::now_ms`]).
    started: coarsetime::Instant,
    pub(crate) catalog: Arc<Catalog>,
    /// Agents of a multi-agent session; an event names its agent by index into this list.
    agents: Mutex<Vec<Arc<Agent>>>,
    /// The call's `call_ref` in the database once a transaction that assigned it committed; 0 before.
    /// Only the writer thread reads or writes it.
    pub(crate) call_ref: AtomicI64,
    /// Set by the writer when the call's id was already in the database, or one of its events collided
    /// with a row already there: its totals are then recounted from its rows instead of added to.
    pub(crate) conflicted: AtomicBool,
}

impl CallIdent {
    /// The name of the agent with this index.
    pub(crate) fn agent_name(&self, index: u32) -> Option<Arc<str>> {
        lock(&self.agents)
            .get(index as usize)
            .map(|a| Arc::clone(&a.name))
    }

    /// Wall-clock milliseconds now, read cheaply: the call's start time plus the coarse monotonic clock's
    /// elapsed time (no system call; resolution one kernel tick, 1 to 4 ms). The wall clock itself costs
    /// tens of nanoseconds per read on some virtual machines, too much for the hot path.
    pub(crate) fn now_ms(&self) -> i64 {
        self.started_at_ms
            .saturating_add(i64::from(self.elapsed_ms()))
    }

    /// Milliseconds since the call started, read the same way (saturating after 49 days).
    pub(crate) fn elapsed_ms(&self) -> u32 {
        let elapsed = coarsetime::Instant::now()
            .duration_since(self.started)
            .as_millis();
        u32::try_from(elapsed).unwrap_or(u32::MAX)
    }
}

/// How a call ended, given to [`CallCostTracker::finalize`].
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

/// A call's status, as stored in the `calls.status` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallStatus {
    /// Still running.
    Active,
    /// Finalized as completed.
    Completed,
    /// Finalized as failed.
    Failed,
    /// Its tracker was dropped without `finalize`.
    Abandoned,
    /// The process tracking it ended without finalizing it (a crash): closed by the next meter that
    /// opened the database, with the costs that were written.
    Interrupted,
}

impl CallStatus {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallStatus::Active => "active",
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
            CallStatus::Abandoned => "abandoned",
            CallStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
/// the database. `by_agent` covers events tracked through [`CallCostTracker::agent`].
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
    /// Amount charged to the customer through [`CallCostTracker::track_payment`].
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

#[derive(Debug)]
struct Agent {
    /// Index in the call's agent list as events carry it; [`NO_AGENT`] past the 65 535th agent.
    index: u16,
    name: Arc<str>,
    total: AtomicI64,
}

/// The gate word: bit 63 is set once the call is finalized; bits 24 to 62 count the call's events (its
/// next sequence number); bits 0 to 23 count track calls in progress. One atomic add on entry both
/// reserves the event's sequence number and marks the track call in progress.
const CLOSED: u64 = 1 << 63;
const SEQ_SHIFT: u32 = 24;
const SEQ_ONE: u64 = 1 << SEQ_SHIFT;
const ACTIVE_MASK: u64 = SEQ_ONE - 1;
const SEQ_MASK: u64 = (CLOSED - 1) & !ACTIVE_MASK;

const fn seq_of(gate: u64) -> u64 {
    (gate & SEQ_MASK) >> SEQ_SHIFT
}

/// The shared state of one call.
pub(crate) struct CallState {
    ident: Arc<CallIdent>,
    meter: Arc<MeterShared>,
    /// See [`CLOSED`].
    gate: AtomicU64,
    /// Cost and revenue of every event of the call, late ones included: what the database will sum,
    /// kept within [`MAX_CALL_COST`](crate::MAX_CALL_COST).
    booked_cost: AtomicI64,
    booked_revenue: AtomicI64,
    totals: Totals,
    cumulative: Cumulative,
    unpriced: AtomicU64,
    dropped_cost: [AtomicI64; Category::COUNT],
    dropped_count: [AtomicU64; Category::COUNT],
    revenue: AtomicI64,
    budget: Limits,
    crossed: Transitions,
    /// The user's and tenant's limited periods this call counts in (empty without limits).
    limits: Vec<Arc<PeriodCounter>>,
    /// The catalog series of recently tracked names.
    lookups: LookupCache,
}

impl Drop for CallState {
    fn drop(&mut self) {
        self.meter.forget(self.ident.key);
    }
}

/// Marks a track call in progress (`finalize` waits for none to be) and holds its sequence number.
struct Active<'a> {
    gate: &'a AtomicU64,
    closed: bool,
    seq: u64,
}

impl<'a> Active<'a> {
    fn enter(gate: &'a AtomicU64) -> Self {
        let before = gate.fetch_add(SEQ_ONE + 1, Ordering::AcqRel);
        Active {
            gate,
            closed: before & CLOSED != 0,
            seq: seq_of(before),
        }
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.gate.fetch_sub(1, Ordering::Release);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub(crate) fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

fn to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl CallState {
    pub(crate) fn start(meter: Arc<MeterShared>, info: CallInfo) -> Result<Arc<CallState>> {
        info.check()?;
        let budget = info.budget.unwrap_or(meter.budget).limits()?;
        let catalog = meter.catalog();
        let metadata = if info.metadata.is_empty() {
            None
        } else {
            serde_json::to_string(&info.metadata).ok()
        };
        if metadata
            .as_ref()
            .is_some_and(|m| m.len() > MAX_METADATA_LEN)
        {
            return Err(Error::InvalidCallInfo(
                "metadata must be at most MAX_METADATA_LEN bytes of JSON",
            ));
        }
        let key = meter.next_call_key();
        let started_at_ms = now_ms();
        let ident = Arc::new(CallIdent {
            call_id: info.call_id.into_boxed_str(),
            user_id: info.user_id.map(String::into_boxed_str),
            tenant_id: info.tenant_id.map(String::into_boxed_str),
            persona: info.persona.map(String::into_boxed_str),
            session_kind: info.session_kind.map(String::into_boxed_str),
            metadata,
            started_at_ms,
            started: coarsetime::Instant::now(),
            catalog: Arc::clone(&catalog),
            agents: Mutex::new(Vec::new()),
            call_ref: AtomicI64::new(0),
            conflicted: AtomicBool::new(false),
            segment: meter.segment_of(key, started_at_ms),
            key,
        });
        let limits = meter.limits.counters_for(
            ident.user_id.as_deref(),
            ident.tenant_id.as_deref(),
            ident.started_at_ms,
        );
        let state = Arc::new(CallState {
            lookups: LookupCache::default(),
            limits,
            budget,
            crossed: Transitions::default(),
            totals: Totals::new(catalog.provider_count()),
            cumulative: Cumulative::default(),
            ident,
            meter,
            gate: AtomicU64::new(0),
            booked_cost: AtomicI64::new(0),
            booked_revenue: AtomicI64::new(0),
            unpriced: AtomicU64::new(0),
            dropped_cost: Default::default(),
            dropped_count: Default::default(),
            revenue: AtomicI64::new(0),
        });
        state.meter.register(&state)?;
        Ok(state)
    }

    pub(crate) fn ident(&self) -> &Arc<CallIdent> {
        &self.ident
    }

    /// Events this call has offered to the writer (or is about to), coalesced rows aside.
    pub(crate) fn events_offered(&self) -> u64 {
        seq_of(self.gate.load(Ordering::Acquire))
    }

    fn counters(&self) -> &Counters {
        &self.meter.counters
    }

    /// Closes the call and sends its final record. Errors if it was already closed.
    fn end(&self, status: CallStatus, reason: Option<String>) -> Result<CallSummary> {
        let before = self.gate.fetch_or(CLOSED, Ordering::AcqRel);
        if before & CLOSED != 0 {
            return Err(Error::AlreadyFinalized);
        }
        // Track calls take nanoseconds; wait for those already inside to finish so the summary is exact.
        let mut spins = 0_u32;
        while self.gate.load(Ordering::Acquire) & ACTIVE_MASK != 0 {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        let ended_at_ms = self.ident.now_ms();
        let mut coalesced = Vec::new();
        for c in Category::ALL {
            let events = self.dropped_count[c.index()].load(Ordering::Acquire);
            if events > 0 {
                coalesced.push(Coalesced {
                    category: c,
                    events,
                    cost: self.dropped_cost[c.index()].load(Ordering::Acquire),
                    seq: seq_of(self.gate.fetch_add(SEQ_ONE, Ordering::AcqRel)),
                });
            }
        }
        let summary = self.summary(
            status,
            reason.clone(),
            ended_at_ms,
            seq_of(before),
            &coalesced,
        );
        self.meter.end(
            seq_of(before),
            CallEnd {
                call: Arc::clone(&self.ident),
                status,
                reason,
                ended_at_ms,
                coalesced,
                total: summary.total.to_nanos().unwrap_or(0),
            },
        );
        Ok(summary)
    }

    fn summary(
        &self,
        status: CallStatus,
        failure_reason: Option<String>,
        ended_at_ms: i64,
        events: u64,
        coalesced: &[Coalesced],
    ) -> CallSummary {
        let nonzero = |a: &AtomicI64| {
            let v = a.load(Ordering::Acquire);
            (v != 0).then(|| Usd::from_nanos(v))
        };
        let catalog = &self.ident.catalog;
        let (categories, providers) = self.totals.split(catalog);
        let by_category = Category::ALL
            .into_iter()
            .filter(|c| categories[c.index()] != 0)
            .map(|c| (c, Usd::from_nanos(categories[c.index()])))
            .collect();
        let by_provider = providers
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(i, v)| (catalog.provider_name(i).to_owned(), Usd::from_nanos(*v)))
            .collect();
        let by_agent = lock(&self.ident.agents)
            .iter()
            .filter_map(|a| nonzero(&a.total).map(|v| (a.name.to_string(), v)))
            .collect();
        let ident = &self.ident;
        CallSummary {
            call_id: ident.call_id.to_string(),
            user_id: ident.user_id.as_deref().map(str::to_owned),
            tenant_id: ident.tenant_id.as_deref().map(str::to_owned),
            status,
            failure_reason,
            started_at: to_utc(ident.started_at_ms),
            ended_at: to_utc(ended_at_ms),
            duration_ms: u64::try_from(ended_at_ms - ident.started_at_ms).unwrap_or(0),
            total: Usd::from_nanos(categories.iter().sum()),
            revenue: Usd::from_nanos(self.revenue.load(Ordering::Acquire)),
            by_category,
            by_provider,
            by_agent,
            events,
            unpriced_events: self.unpriced.load(Ordering::Acquire),
            dropped_events: coalesced.iter().map(|c| c.events).sum(),
        }
    }

    /// Books a payment's amount against the call's revenue bound (every payment, late ones included,
    /// as the database sums them); a payment that would take the revenue past
    /// [`MAX_CALL_COST`](crate::MAX_CALL_COST) is refused.
    fn book_revenue(&self, measure: Measure) -> Result<Measure> {
        match measure {
            Measure::Payment(amount, _)
                if !add_within(&self.booked_revenue, amount, MAX_CALL_NANOS) =>
            {
                Err(Error::InvalidQuantity {
                    what: "payment amount",
                    reason: "the call's revenue would pass MAX_CALL_COST",
                })
            }
            m => Ok(m),
        }
    }

    /// Prices one usage, updates the totals and offers the event to the writer.
    /// Adds the usage to the user's and tenant's limited periods; true when one of them is reached (its
    /// alert raised once, by the track call that reached it).
    fn count_in_limits(&self, cost: i64, measure: &Measure, at_ms: i64) -> bool {
        let call_ms = match measure {
            Measure::One(UsageKind::CallSeconds, ms) => *ms,
            _ => 0,
        };
        let mut reached = false;
        for counter in &self.limits {
            if counter.add(cost, call_ms) {
                reached = true;
                if !counter.alerted.swap(true, Ordering::AcqRel) {
                    self.meter.raise(AlertMsg::Limit {
                        call: Arc::clone(&self.ident),
                        counter: Arc::clone(counter),
                        at_ms,
                    });
                }
            }
        }
        reached
    }

    /// Reports each threshold the call has reached, once: its budget's warning and cutoff, and the
    /// session cost alert.
    fn crossed(&self, verdict: Verdict, total: i64, at_ms: i64) {
        let budget = |verdict| AlertMsg::Budget {
            call: Arc::clone(&self.ident),
            verdict,
            total,
            threshold: self.budget.cost_threshold(verdict, total),
            elapsed_ms: u32::try_from(at_ms - self.ident.started_at_ms).unwrap_or(u32::MAX),
            max_ms: self.budget.max_ms(),
            at_ms,
        };
        if verdict != Verdict::Fine && self.crossed.cross(CROSSED_WARNING) {
            self.meter.raise(budget(Verdict::Warning));
        }
        if verdict == Verdict::Cutoff && self.crossed.cross(CROSSED_CUTOFF) {
            self.meter.raise(budget(Verdict::Cutoff));
        }
        let threshold = self.meter.session_alert;
        if total >= threshold && self.crossed.cross(CROSSED_SESSION_ALERT) {
            self.meter.raise(AlertMsg::Session {
                call: Arc::clone(&self.ident),
                total,
                threshold,
                at_ms,
            });
        }
    }

    fn record(
        &self,
        agent: Option<&Arc<Agent>>,
        provider: &str,
        model: &str,
        measure: Result<Measure>,
    ) -> Result<Tracked> {
        let measure = match measure.and_then(|m| self.book_revenue(m)) {
            Ok(m) => m,
            Err(e) => {
                Counters::bump(&self.counters().rejected);
                return Err(e);
            }
        };
        let active = Active::enter(&self.gate);
        let catalog = &self.ident.catalog;
        let at = self.ident.elapsed_ms();
        let at_ms = self.ident.started_at_ms.saturating_add(i64::from(at));
        // An over-long name is no catalog name: the usage is recorded unpriced under the name cut short.
        let too_long = [("provider", provider), ("model", model)]
            .into_iter()
            .find(|(_, n)| n.len() > MAX_NAME_LEN);
        let (provider, model) = (cut(provider), cut(model));
        let found = match too_long {
            Some(_) => Lookup::Unknown,
            None => catalog.find_cached(provider, model, at_ms, &self.lookups),
        };
        let (category, entry, cost, problem) = match found {
            Lookup::Found(entry) => {
                let (cost, problem) = match catalog.price(entry, &measure, &self.cumulative) {
                    Ok(p) if p.cost <= MAX_EVENT_NANOS => (
                        p.cost,
                        p.missing.map_or(Problem::None, Problem::MissingRate),
                    ),
                    _ => (0, Problem::Overflow),
                };
                // Booked against the call's bound first: its totals (late usage included, as
                // stored) never pass MAX_CALL_COST, so none of them can wrap.
                let (cost, problem) =
                    if cost == 0 || add_within(&self.booked_cost, cost, MAX_CALL_NANOS) {
                        (cost, problem)
                    } else {
                        (0, Problem::CallTotal)
                    };
                if !active.closed {
                    self.totals.add(catalog, entry, cost);
                }
                (catalog.entry_price(entry).category(), entry, cost, problem)
            }
            miss => (
                measure.default_category(),
                UNKNOWN_BIT
                    | self
                        .meter
                        .unknown_model(catalog, provider, model, too_long.is_none()),
                0,
                match (too_long, miss) {
                    (Some((what, name)), _) => Problem::NameTooLong(what, name.len()),
                    (None, Lookup::NotInForce) => Problem::NotInForce(at_ms),
                    (None, _) => Problem::UnknownModel,
                },
            ),
        };
        let unpriced = problem != Problem::None;
        let late = active.closed;
        if !late {
            // After finalize the summary is out: late usage goes to the database only.
            if let Some(a) = agent {
                a.total.fetch_add(cost, Ordering::Relaxed);
            }
            if let Measure::Payment(amount, _) = measure {
                self.revenue.fetch_add(amount, Ordering::Relaxed);
            }
            if unpriced {
                self.unpriced.fetch_add(1, Ordering::Relaxed);
            }
        }
        if unpriced {
            Counters::bump(&self.counters().unpriced);
        }
        if late {
            // Counted before it is offered, so that `persisted` never runs ahead of `enqueued`.
            Counters::bump(&self.counters().late);
        }
        // A call's 2^32nd event cannot be numbered for the database; it is kept like a dropped one.
        let accepted = u32::try_from(active.seq).is_ok_and(|seq| {
            let head = EventHead {
                call: self.ident.key,
                cost,
                seq,
                at,
                entry,
                agent: agent.map_or(NO_AGENT, |a| a.index),
                category,
                priced: !unpriced,
                late,
            };
            self.meter.offer(Event::new(head, &measure))
        });
        if !accepted {
            // The queue was full or the writer gone: keep the money in the call's final record.
            self.dropped_cost[category.index()].fetch_add(cost, Ordering::Relaxed);
            self.dropped_count[category.index()].fetch_add(1, Ordering::Release);
        }
        drop(active);
        let limit_reached = !self.limits.is_empty() && self.count_in_limits(cost, &measure, at_ms);
        if late {
            return Err(Error::CallFinalized);
        }
        let total = self.totals.total();
        // The budget's own verdict raises the budget's alerts; a limit reached raises its own alert
        // (in `count_in_limits`) and only turns the answer into a cutoff.
        let budget_verdict = self.budget.verdict(total, at);
        if budget_verdict != Verdict::Fine || total >= self.meter.session_alert {
            self.crossed(budget_verdict, total, at_ms);
        }
        let verdict = if limit_reached {
            Verdict::Cutoff
        } else {
            budget_verdict
        };
        let names = || (provider.to_owned(), model.to_owned());
        match problem {
            Problem::None => Ok(Tracked {
                cost: Usd::from_nanos(cost),
                call_total: Usd::from_nanos(total),
                verdict,
                remaining: Usd::from_nanos(self.budget.remaining(total)),
            }),
            Problem::MissingRate(kind) => {
                let (provider, model) = names();
                Err(Error::MissingRate {
                    provider,
                    model,
                    kind,
                })
            }
            Problem::UnknownModel => {
                let (provider, model) = names();
                Err(Error::UnknownModel {
                    provider,
                    model,
                    suggestions: self.meter.unknown_suggestions(entry & !UNKNOWN_BIT),
                })
            }
            Problem::NotInForce(at_ms) => {
                let (provider, model) = names();
                Err(Error::NoPriceInForce {
                    provider,
                    model,
                    at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
                })
            }
            Problem::Overflow => {
                let (provider, model) = names();
                Err(Error::CostOverflow { provider, model })
            }
            Problem::CallTotal => Err(Error::CallCostOutOfRange { max: MAX_CALL_COST }),
            Problem::NameTooLong(what, len) => Err(Error::NameTooLong {
                what,
                len,
                max: MAX_NAME_LEN,
            }),
        }
    }
}

/// Why an event could not be priced in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Problem {
    None,
    MissingRate(UsageKind),
    UnknownModel,
    NotInForce(i64),
    Overflow,
    CallTotal,
    NameTooLong(&'static str, usize),
}

/// Ends the call as abandoned when the last handle goes without `finalize`.
struct Handle {
    state: Arc<CallState>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self
            .state
            .end(
                CallStatus::Abandoned,
                Some("tracker dropped without finalize".into()),
            )
            .is_ok()
        {
            Counters::bump(&self.state.counters().calls_abandoned);
        }
    }
}

/// Tracks the cost of one call. Cheap to clone; clones track the same call and may be used from several
/// threads or tasks at once.
///
/// Every `track_*` method prices the usage from the meter's catalog, adds it to the call's running totals,
/// hands one event to the background writer and returns the cost. None of them does I/O, takes a lock,
/// allocates (for a known model) or waits: see the crate docs for the queue policy.
///
/// When the last clone is dropped without [`finalize`](Self::finalize), the call is recorded as
/// `abandoned`, with every cost it incurred.
#[derive(Clone)]
pub struct CallCostTracker {
    handle: Arc<Handle>,
    agent: Option<Arc<Agent>>,
}

impl fmt::Debug for CallCostTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallCostTracker")
            .field("call_id", &self.call_id())
            .field("agent", &self.agent.as_ref().map(|a| &a.name))
            .field("total", &self.total())
            .finish()
    }
}

impl CallCostTracker {
    pub(crate) fn new(state: Arc<CallState>) -> Self {
        CallCostTracker {
            handle: Arc::new(Handle { state }),
            agent: None,
        }
    }

    fn state(&self) -> &CallState {
        &self.handle.state
    }

    fn record(&self, provider: &str, model: &str, measure: Result<Measure>) -> Result<Tracked> {
        self.state()
            .record(self.agent.as_ref(), provider, model, measure)
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.state().ident.call_id
    }

    /// The agent this handle tracks for, if it came from [`agent`](Self::agent).
    pub fn agent_name(&self) -> Option<&str> {
        self.agent.as_deref().map(|a| &*a.name)
    }

    /// Where the call stands against its budget now (its running total, and its age for a maximum
    /// duration).
    pub fn verdict(&self) -> Verdict {
        let state = self.state();
        state
            .budget
            .verdict(state.totals.total(), state.ident.elapsed_ms())
    }

    /// The call's running total.
    pub fn total(&self) -> Usd {
        Usd::from_nanos(self.state().totals.total())
    }

    /// A handle for one agent of a multi-agent session: usage tracked through it is attributed to `name`
    /// in the events and in [`CallSummary::by_agent`]. Call it once per agent (it allocates), then track
    /// through the handle.
    ///
    /// # Errors
    ///
    /// [`Error::NameTooLong`] for a name of more than [`MAX_NAME_LEN`] bytes (nothing is recorded: track
    /// through the call's own handle, or give a shorter name).
    pub fn agent(&self, name: &str) -> Result<CallCostTracker> {
        if name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong {
                what: "agent",
                len: name.len(),
                max: MAX_NAME_LEN,
            });
        }
        let mut agents = lock(&self.state().ident.agents);
        let agent = match agents.iter().find(|a| &*a.name == name) {
            Some(a) => Arc::clone(a),
            None => {
                let a = Arc::new(Agent {
                    index: u16::try_from(agents.len()).unwrap_or(NO_AGENT),
                    name: name.into(),
                    total: AtomicI64::new(0),
                });
                agents.push(Arc::clone(&a));
                a
            }
        };
        Ok(CallCostTracker {
            handle: Arc::clone(&self.handle),
            agent: Some(agent),
        })
    }

    /// Text-to-speech: `characters` synthesised by `provider`'s `model`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for more than [`MAX_CHARACTERS_PER_TRACK`](crate::MAX_CHARACTERS_PER_TRACK)
    /// (nothing recorded); [`Error::UnknownModel`], [`Error::MissingRate`] and [`Error::CallFinalized`]
    /// with the usage recorded (see [`Error::is_recorded`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (meter, _guard) = callmeter::Meter::builder().path(dir.path().join("c.db")).open()?;
    /// let call = meter.start_call(callmeter::CallInfo::new("call-1"))?;
    /// let t = call.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?;
    /// assert_eq!(t.cost.to_string(), "$0.3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn track_tts(&self, provider: &str, model: &str, characters: u64) -> Result<Tracked> {
        self.record(provider, model, Measure::characters(characters))
    }

    /// Speech-to-text: `audio_seconds` of audio transcribed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for NaN, infinite, negative or more than
    /// [`MAX_SECONDS_PER_TRACK`](crate::MAX_SECONDS_PER_TRACK) seconds; otherwise as
    /// [`track_tts`](Self::track_tts).
    pub fn track_stt(&self, provider: &str, model: &str, audio_seconds: f64) -> Result<Tracked> {
        self.record(
            provider,
            model,
            Measure::seconds(UsageKind::AudioSeconds, audio_seconds),
        )
    }

    /// A model request's tokens.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for more than [`MAX_TOKENS_PER_TRACK`](crate::MAX_TOKENS_PER_TRACK) of
    /// one kind; otherwise as [`track_tts`](Self::track_tts).
    pub fn track_inference(
        &self,
        provider: &str,
        model: &str,
        tokens: TokenUsage,
    ) -> Result<Tracked> {
        self.record(provider, model, Measure::tokens(tokens))
    }

    /// Telephony: `call_seconds` more of the call (the model names the direction, e.g. `outbound-us`).
    /// Billing increments apply to the call's cumulative duration, so tracking in parts bills the same as
    /// tracking once at the end.
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt).
    pub fn track_duration(
        &self,
        provider: &str,
        model: &str,
        call_seconds: f64,
    ) -> Result<Tracked> {
        self.record(
            provider,
            model,
            Measure::seconds(UsageKind::CallSeconds, call_seconds),
        )
    }

    /// A realtime speech model's audio: seconds heard and seconds spoken. Tokens of the same session go to
    /// [`track_inference`](Self::track_inference).
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt).
    pub fn track_realtime_audio(
        &self,
        provider: &str,
        model: &str,
        input_seconds: f64,
        output_seconds: f64,
    ) -> Result<Tracked> {
        let measure = millis(UsageKind::AudioInputSeconds, input_seconds).and_then(|i| {
            millis(UsageKind::AudioOutputSeconds, output_seconds).map(|o| {
                Measure::Two([
                    (UsageKind::AudioInputSeconds, i),
                    (UsageKind::AudioOutputSeconds, o),
                ])
            })
        });
        self.record(provider, model, measure)
    }

    /// A media room: `participants` connected for `seconds` (billed as participant-time).
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt), and [`Error::InvalidQuantity`] for more than
    /// [`MAX_PARTICIPANTS`](crate::MAX_PARTICIPANTS).
    pub fn track_participants(
        &self,
        provider: &str,
        model: &str,
        participants: u32,
        seconds: f64,
    ) -> Result<Tracked> {
        let measure = if participants > MAX_PARTICIPANTS {
            Err(Error::InvalidQuantity {
                what: "participants",
                reason: "more than MAX_PARTICIPANTS",
            })
        } else {
            millis(UsageKind::ParticipantSeconds, seconds)
                .map(|ms| Measure::One(UsageKind::ParticipantSeconds, ms * u64::from(participants)))
        };
        self.record(provider, model, measure)
    }

    /// A payment of `amount` charged to the customer for this call: the processor's fee (`provider`'s payment method `model`, e.g. `stripe` /
    /// `card-not-present`) is the cost, and the amount is added to the call's revenue.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for an amount that is not above zero, [`Error::AmountOutOfRange`] for
    /// one beyond nano-dollar range; otherwise as [`track_tts`](Self::track_tts).
    pub fn track_payment(&self, provider: &str, model: &str, amount: Usd) -> Result<Tracked> {
        self.track_payment_with(provider, model, Payment::new(amount))
    }

    /// A payment with its surcharges (a card issued abroad, a currency conversion); otherwise as
    /// [`track_payment`](Self::track_payment).
    ///
    /// # Errors
    ///
    /// As [`track_payment`](Self::track_payment).
    pub fn track_payment_with(
        &self,
        provider: &str,
        model: &str,
        payment: Payment,
    ) -> Result<Tracked> {
        let measure = payment
            .amount()
            .to_nanos()
            .and_then(|nanos| Measure::payment(nanos, payment.flags()));
        self.record(provider, model, measure)
    }

    /// An OpenAI Chat Completions or Responses `usage` object for `model` (provider `openai`), each token
    /// billed once (see [`OpenAiUsage::to_token_usage`]).
    ///
    /// # Errors
    ///
    /// As [`track_inference`](Self::track_inference); [`Error::InvalidQuantity`] for an inconsistent
    /// usage object (nothing recorded).
    pub fn track_openai_usage(&self, model: &str, usage: &OpenAiUsage) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("openai", model, measure)
    }

    /// An Anthropic Messages `usage` object for `model` (provider `anthropic`).
    ///
    /// # Errors
    ///
    /// As [`track_openai_usage`](Self::track_openai_usage).
    pub fn track_anthropic_usage(&self, model: &str, usage: &AnthropicUsage) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("anthropic", model, measure)
    }

    /// An OpenAI Realtime `response.done` usage for `model` (provider `openai`).
    ///
    /// # Errors
    ///
    /// As [`track_openai_usage`](Self::track_openai_usage).
    pub fn track_openai_realtime_usage(
        &self,
        model: &str,
        usage: &RealtimeUsage,
    ) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("openai", model, measure)
    }

    /// `requests` API requests priced per request.
    ///
    /// # Errors
    ///
    /// As [`track_tts`](Self::track_tts); [`Error::InvalidQuantity`] for more than
    /// [`MAX_CHARACTERS_PER_TRACK`](crate::MAX_CHARACTERS_PER_TRACK) requests.
    pub fn track_requests(&self, provider: &str, model: &str, requests: u64) -> Result<Tracked> {
        self.record(provider, model, Measure::requests(requests))
    }

    /// Ends the call and returns its exact summary. Failed calls keep every cost.
    ///
    /// Track calls running on other threads at the same moment either make it into the summary or come
    /// back with [`Error::CallFinalized`] (their usage still recorded); none is half counted.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyFinalized`] on a second call; nothing is counted twice.
    pub fn finalize(&self, outcome: Outcome) -> Result<CallSummary> {
        let (status, reason) = match outcome {
            Outcome::Completed => (CallStatus::Completed, None),
            Outcome::Failed(r) => (CallStatus::Failed, Some(r)),
        };
        let summary = self.state().end(status, reason)?;
        Counters::bump(&self.state().counters().calls_finalized);
        Ok(summary)
    }
}
