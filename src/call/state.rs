//! A call's hot-path state: the gate, the running totals, pricing and booking one event, and ending
//! the call. Its atomics follow the hot path's ordering rule (`call`'s module docs): the gate orders,
//! the sums are `Relaxed`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use once_cell::race::OnceBox;

use chrono::{DateTime, Utc};

use crate::base::error::{Error, Result};
use crate::base::money::{MAX_CALL_COST, MAX_CALL_NANOS, MAX_EVENT_NANOS, Usd, add_within};
use crate::base::stats::Counters;
use crate::base::sync::lock;
use crate::base::usage::{Category, Measure, UsageKind};
use crate::call::cumulative::Cumulative;
use crate::call::info::MAX_NAME_LEN;
use crate::call::info::{CallInfo, CallSummary, MAX_METADATA_LEN, Tracked, cut};
use crate::call::shared::{MeterShared, Offered};
use crate::call::totals::Totals;
use crate::control::alert::AlertMsg;
use crate::control::budget::{
    CROSSED_CUTOFF, CROSSED_SESSION_ALERT, CROSSED_WARNING, CompiledBudget, Transitions, Verdict,
};
use crate::control::limits::PeriodCounter;
use crate::ident::{Agent, CallIdent, CallStatus};
use crate::persist::message::{CallEnd, Coalesced, Event, EventHead, NO_AGENT, UNKNOWN_BIT};
use crate::pricing::{Legged, Lookup, LookupCache};

/// The gate word: bit 63 is set once the call is finalized; bits 24 to 62 count the call's events (its
/// next sequence number); bits 0 to 23 count track calls in progress. One atomic add on entry both
/// reserves the event's sequence number and marks the track call in progress.
pub(crate) const CLOSED: u64 = 1 << 63;
pub(crate) const SEQ_SHIFT: u32 = 24;
pub(crate) const SEQ_ONE: u64 = 1 << SEQ_SHIFT;
pub(crate) const ACTIVE_MASK: u64 = SEQ_ONE - 1;
pub(crate) const SEQ_MASK: u64 = (CLOSED - 1) & !ACTIVE_MASK;

pub(crate) const fn seq_of(gate: u64) -> u64 {
    (gate & SEQ_MASK) >> SEQ_SHIFT
}

/// The shared state of one call.
pub(crate) struct CallState {
    pub(crate) ident: Arc<CallIdent>,
    pub(crate) meter: Arc<MeterShared>,
    /// See [`CLOSED`].
    pub(crate) gate: AtomicU64,
    /// Cost and revenue of every event of the call, late ones included: what the database will sum,
    /// kept within [`MAX_CALL_COST`](crate::MAX_CALL_COST).
    pub(crate) booked_cost: AtomicI64,
    pub(crate) booked_revenue: AtomicI64,
    pub(crate) totals: Totals,
    pub(crate) cumulative: Cumulative,
    pub(crate) unpriced: AtomicU64,
    /// What did not fit in the queue, per category: made by the first event that does not fit (rare),
    /// without a lock.
    pub(crate) dropped: OnceBox<Dropped>,
    pub(crate) revenue: AtomicI64,
    pub(crate) budget: CompiledBudget,
    pub(crate) crossed: Transitions,
    /// The user's and tenant's limited periods this call counts in (empty without limits).
    pub(crate) limits: Vec<Arc<PeriodCounter>>,
    /// Nano-dollars held by this call's reservations not yet settled; its budget counts them.
    pub(crate) held: AtomicI64,
    /// The catalog series of recently tracked names.
    pub(crate) lookups: LookupCache,
}

impl Drop for CallState {
    fn drop(&mut self) {
        self.meter.forget(self.ident.key);
    }
}

/// Marks a track call in progress (`finalize` waits for none to be) and holds its sequence number.
pub(crate) struct Active<'a> {
    gate: &'a AtomicU64,
    closed: bool,
    seq: u64,
}

impl<'a> Active<'a> {
    pub(crate) fn enter(gate: &'a AtomicU64) -> Self {
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
pub(crate) fn to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl CallState {
    pub(crate) fn start(meter: Arc<MeterShared>, info: CallInfo) -> Result<Arc<CallState>> {
        info.check()?;
        let budget = info.budget.unwrap_or(meter.budget).compile()?;
        let catalog = meter.catalog();
        let metadata = if info.metadata.is_empty() {
            None
        } else {
            serde_json::to_string(&info.metadata)
                .ok()
                .map(String::into_boxed_str)
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
        let started_at_ms = meter.time.now_ms();
        let ident = Arc::new(CallIdent {
            call_id: info.call_id.into_boxed_str(),
            user_id: info.user_id.map(String::into_boxed_str),
            tenant_id: info.tenant_id.map(String::into_boxed_str),
            persona: info.persona.map(String::into_boxed_str),
            session_kind: info.session_kind.map(String::into_boxed_str),
            metadata,
            started_at_ms,
            started: coarsetime::Instant::now(),
            clock: meter.time.clone(),
            catalog: Arc::clone(&catalog),
            agents: OnceBox::new(),
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
            totals: Totals::new(),
            cumulative: Cumulative::default(),
            ident,
            meter,
            gate: AtomicU64::new(0),
            booked_cost: AtomicI64::new(0),
            booked_revenue: AtomicI64::new(0),
            held: AtomicI64::new(0),
            unpriced: AtomicU64::new(0),
            dropped: OnceBox::new(),
            revenue: AtomicI64::new(0),
        });
        let offered: Weak<dyn Offered> = Arc::downgrade(&state) as Weak<dyn Offered>;
        state.meter.register(state.ident(), offered)?;
        Ok(state)
    }

    pub(crate) fn ident(&self) -> &Arc<CallIdent> {
        &self.ident
    }

    /// Events this call has offered to the writer (or is about to), coalesced rows aside.
    pub(crate) fn events_offered(&self) -> u64 {
        seq_of(self.gate.load(Ordering::Acquire))
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.meter.counters
    }

    /// Closes the call and sends its final record. Errors if it was already closed.
    pub(crate) fn end(&self, status: CallStatus, reason: Option<String>) -> Result<CallSummary> {
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
        if let Some(dropped) = self.dropped.get() {
            for c in Category::ALL {
                let events = dropped.count[c.index()].load(Ordering::Relaxed);
                if events > 0 {
                    coalesced.push(Coalesced {
                        category: c,
                        events,
                        cost: dropped.cost[c.index()].load(Ordering::Relaxed),
                        seq: seq_of(self.gate.fetch_add(SEQ_ONE, Ordering::AcqRel)),
                    });
                }
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

    pub(crate) fn summary(
        &self,
        status: CallStatus,
        failure_reason: Option<String>,
        ended_at_ms: i64,
        events: u64,
        coalesced: &[Coalesced],
    ) -> CallSummary {
        let nonzero = |a: &AtomicI64| {
            let v = a.load(Ordering::Relaxed);
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
        let by_agent = self
            .ident
            .agents
            .get()
            .map_or_else(Default::default, |agents| {
                lock(agents)
                    .iter()
                    .filter_map(|a| nonzero(&a.total).map(|v| (a.name.to_string(), v)))
                    .collect()
            });
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
            revenue: Usd::from_nanos(self.revenue.load(Ordering::Relaxed)),
            by_category,
            by_provider,
            by_agent,
            events,
            unpriced_events: self.unpriced.load(Ordering::Relaxed),
            dropped_events: coalesced.iter().map(|c| c.events).sum(),
        }
    }

    /// Books a payment's amount against the call's revenue bound (every payment, late ones included,
    /// as the database sums them); a payment that would take the revenue past
    /// [`MAX_CALL_COST`](crate::MAX_CALL_COST) is refused.
    pub(crate) fn book_revenue(&self, measure: Measure) -> Result<Measure> {
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
    pub(crate) fn count_in_limits(&self, cost: i64, measure: &Measure, at_ms: i64) -> bool {
        let call_ms = match measure {
            Measure::Quantity(UsageKind::CallSeconds, ms) => *ms,
            _ => 0,
        };
        let mut reached = false;
        for counter in &self.limits {
            if counter.add(cost, call_ms, at_ms) {
                reached = true;
                if !counter.alerted.swap(true, Ordering::Relaxed) {
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
    /// call cost alert.
    pub(crate) fn crossed(&self, verdict: Verdict, total: i64, at_ms: i64) {
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
        let threshold = self.meter.call_alert;
        if total >= threshold && self.crossed.cross(CROSSED_SESSION_ALERT) {
            self.meter.raise(AlertMsg::Session {
                call: Arc::clone(&self.ident),
                total,
                threshold,
                at_ms,
            });
        }
    }

    /// Records one usage: prices it, books it in the call's totals, offers its event to the writer,
    /// and answers with the cost and the verdict (or the typed error of an unpriced usage, which is
    /// recorded all the same).
    pub(crate) fn record(
        &self,
        agent: Option<&Arc<Agent>>,
        provider: &str,
        model: &str,
        measure: Result<Measure>,
    ) -> Result<Tracked> {
        self.record_as(agent, provider, model, measure, (false, 0))
    }

    /// As [`record`](Self::record); `estimated` marks the event as an abandoned reservation's
    /// estimate, and `leg` names the leg of the call whose quantities billing increments round on
    /// their own (0: the call's own).
    pub(crate) fn record_as(
        &self,
        agent: Option<&Arc<Agent>>,
        provider: &str,
        model: &str,
        measure: Result<Measure>,
        (estimated, leg): (bool, u8),
    ) -> Result<Tracked> {
        let measure = match measure.and_then(|m| self.book_revenue(m)) {
            Ok(m) => m,
            Err(e) => {
                Counters::bump(&self.counters().rejected);
                return Err(e);
            }
        };
        let active = Active::enter(&self.gate);
        let at = self.ident.elapsed_ms();
        let at_ms = self.ident.started_at_ms.saturating_add(i64::from(at));
        // An over-long name is no catalog name: the usage is recorded unpriced under the name cut short.
        let too_long = [("provider", provider), ("model", model)]
            .into_iter()
            .find(|(_, n)| n.len() > MAX_NAME_LEN)
            .map(|(what, n)| (what, n.len()));
        let (provider, model) = (cut(provider), cut(model));
        let priced = self.price(&active, provider, model, too_long, &measure, (at_ms, leg));
        let late = active.closed;
        self.count(agent, &priced, &measure, late);
        self.enqueue(&active, agent, &priced, &measure, (at, estimated));
        drop(active);
        let limit_reached =
            !self.limits.is_empty() && self.count_in_limits(priced.cost, &measure, at_ms);
        if late {
            return Err(Error::CallFinalized);
        }
        let total = self.totals.total();
        let verdict = self.verdict(total, at, at_ms, limit_reached);
        match priced.problem {
            None => Ok(Tracked {
                cost: Usd::from_nanos(priced.cost),
                call_total: Usd::from_nanos(total),
                verdict,
                remaining: Usd::from_nanos(self.budget.remaining(total)),
            }),
            Some(problem) => Err(self.unpriced_error(problem, provider, model, priced.entry)),
        }
    }

    /// Step 1: looks the model up and prices the usage, booking the cost against the call's bound and
    /// adding it to the call's totals (unless the call is closed). A usage that cannot be priced in
    /// full costs nothing here and says why.
    #[inline]
    fn price(
        &self,
        active: &Active<'_>,
        provider: &str,
        model: &str,
        too_long: Option<(&'static str, usize)>,
        measure: &Measure,
        (at_ms, leg): (i64, u8),
    ) -> Priced {
        let catalog = &self.ident.catalog;
        let found = match too_long {
            Some(_) => Lookup::Unknown,
            None => catalog.find_cached(provider, model, at_ms, &self.lookups),
        };
        match found {
            Lookup::Found(entry) => {
                let priced = match leg {
                    0 => catalog.price(entry, measure, &self.cumulative),
                    leg => catalog.price(entry, measure, &Legged(&self.cumulative, leg)),
                };
                let (cost, problem) = match priced {
                    Ok(p) if p.cost <= MAX_EVENT_NANOS => {
                        (p.cost, p.missing.map(Problem::MissingRate))
                    }
                    _ => (0, Some(Problem::Overflow)),
                };
                // Booked against the call's bound first: its totals (late usage included, as
                // stored) never pass MAX_CALL_COST, so none of them can wrap.
                let (cost, problem) =
                    if cost == 0 || add_within(&self.booked_cost, cost, MAX_CALL_NANOS) {
                        (cost, problem)
                    } else {
                        (0, Some(Problem::CallTotal))
                    };
                if !active.closed {
                    self.totals.add(catalog, entry, cost);
                }
                Priced {
                    category: catalog.entry_price(entry).category(),
                    entry,
                    cost,
                    problem,
                }
            }
            miss => Priced {
                category: measure.default_category(),
                entry: UNKNOWN_BIT
                    | self
                        .meter
                        .unknown_model(catalog, provider, model, too_long.is_none()),
                cost: 0,
                problem: Some(match (too_long, miss) {
                    (Some((what, len)), _) => Problem::NameTooLong(what, len),
                    (None, Lookup::NotInForce) => Problem::NotInForce(at_ms),
                    (None, _) => Problem::UnknownModel,
                }),
            },
        }
    }

    /// Step 2: the call's own counters (its agent's total, its revenue, its unpriced events) and the
    /// meter's. After finalize the summary is out: late usage goes to the database only.
    #[inline]
    fn count(&self, agent: Option<&Arc<Agent>>, priced: &Priced, measure: &Measure, late: bool) {
        let unpriced = priced.problem.is_some();
        if !late {
            if let Some(a) = agent {
                a.total.fetch_add(priced.cost, Ordering::Relaxed);
            }
            if let Measure::Payment(amount, _) = measure {
                self.revenue.fetch_add(*amount, Ordering::Relaxed);
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
    }

    /// Step 3: offers the event to the writer's queue. What does not fit (or a call's 2^32nd event,
    /// which cannot be numbered) is kept in the call's dropped counters and written with its final
    /// record, so no money is lost.
    #[inline]
    fn enqueue(
        &self,
        active: &Active<'_>,
        agent: Option<&Arc<Agent>>,
        priced: &Priced,
        measure: &Measure,
        (at, estimated): (u32, bool),
    ) {
        let accepted = u32::try_from(active.seq).is_ok_and(|seq| {
            let head = EventHead {
                call: self.ident.key,
                cost: priced.cost,
                seq,
                at,
                entry: priced.entry,
                agent: agent.map_or(NO_AGENT, |a| a.index),
                category: priced.category,
                priced: priced.problem.is_none(),
                late: active.closed,
                estimated,
            };
            self.meter.offer(Event::new(head, measure))
        });
        if !accepted {
            let c = priced.category.index();
            let dropped = self.dropped.get_or_init(Box::default);
            dropped.cost[c].fetch_add(priced.cost, Ordering::Relaxed);
            dropped.count[c].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Step 4: the verdict. The budget's own verdict raises the budget's alerts; a limit reached
    /// raises its own alert (in `count_in_limits`) and only turns the answer into a cutoff.
    #[inline]
    fn verdict(&self, total: i64, at: u32, at_ms: i64, limit_reached: bool) -> Verdict {
        let budget_verdict = self.budget.verdict(total, at);
        if budget_verdict != Verdict::Fine || total >= self.meter.call_alert {
            self.crossed(budget_verdict, total, at_ms);
        }
        if limit_reached {
            Verdict::Cutoff
        } else {
            budget_verdict
        }
    }

    /// The typed error of a usage recorded unpriced (the cold path: it allocates the names).
    #[cold]
    fn unpriced_error(&self, problem: Problem, provider: &str, model: &str, entry: u32) -> Error {
        let (provider, model) = (provider.to_owned(), model.to_owned());
        match problem {
            Problem::MissingRate(kind) => Error::MissingRate {
                provider,
                model,
                kind,
            },
            Problem::UnknownModel => Error::UnknownModel {
                provider,
                model,
                suggestions: self.meter.unknown_suggestions(entry & !UNKNOWN_BIT),
            },
            Problem::NotInForce(at_ms) => Error::NoPriceInForce {
                provider,
                model,
                at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
            },
            Problem::Overflow => Error::CostOverflow { provider, model },
            Problem::CallTotal => Error::CallCostOutOfRange { max: MAX_CALL_COST },
            Problem::NameTooLong(what, len) => Error::NameTooLong {
                what,
                len,
                max: MAX_NAME_LEN,
            },
        }
    }
}

/// The events of a call that did not fit in the queue: their cost and number per category, written
/// with the call's final record as coalesced rows.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    cost: [AtomicI64; Category::COUNT],
    count: [AtomicU64; Category::COUNT],
}

/// A usage priced by [`CallState::price`].
struct Priced {
    category: Category,
    /// The catalog entry, or `UNKNOWN_BIT` and the index of the unknown model.
    entry: u32,
    /// Nano-dollars; 0 when the usage could not be priced in full.
    cost: i64,
    /// Why it could not be priced in full, if it could not.
    problem: Option<Problem>,
}

/// Why an event could not be priced in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    MissingRate(UsageKind),
    UnknownModel,
    NotInForce(i64),
    Overflow,
    CallTotal,
    NameTooLong(&'static str, usize),
}
impl Offered for CallState {
    fn events_offered(&self) -> u64 {
        CallState::events_offered(self)
    }
}
