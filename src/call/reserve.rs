//! Reservations: money held against a call's budget and its user's and tenant's limits *before* a
//! provider request is made, settled with the actual usage after it.
//!
//! A reservation prices its estimate on its own (never below what the same usage adds to the call:
//! see `pricing::Alone`) and holds it with one atomic add per limit, so concurrent reservations never
//! hold more than a limit allows. Settling records the actual usage like a track call, then releases
//! the hold; a reservation dropped unsettled is recorded at its estimate (marked `estimated`), or
//! released when its price says the provider does not bill failed requests. No lock, no allocation
//! for a known model, no I/O.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::stats::Counters;
use crate::base::usage::Measure;
use crate::call::info::Tracked;
use crate::call::state::{CLOSED, CallState};
use crate::call::tracker::CallCostTracker;
use crate::control::limits::{Period, PeriodCounter, SubjectKind};
use crate::pricing::{Alone, Lookup, Usage};

/// The answer to [`CallCostTracker::reserve`]: the money is held, or it is not and why.
#[derive(Debug)]
#[must_use = "a reservation is settled after the request, or recorded at its estimate when dropped"]
pub enum Reserve {
    /// Held: make the request, then [`settle`](Reservation::settle) with what it used.
    Reserved(Reservation),
    /// Not held: the request would pass a limit. Nothing was recorded.
    Refused(Refusal),
}

/// What refused a reservation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RefusedBy {
    /// The call's [`Budget`](crate::Budget) (its maximum cost with a cutoff, or its maximum
    /// duration).
    CallBudget,
    /// A user's or tenant's [`Limits`](crate::Limits) in one period.
    Limit {
        /// User or tenant.
        kind: SubjectKind,
        /// Its id.
        id: String,
        /// Day or month.
        period: Period,
    },
}

/// Why a reservation was refused, with the figures of the limit that refused it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Refusal {
    /// The limit.
    pub by: RefusedBy,
    /// What the reservation asked to hold.
    pub estimate: Usd,
    /// What the limit's subject (the call, or the user or tenant in the period) has spent.
    pub spent: Usd,
    /// What its other reservations hold.
    pub held: Usd,
    /// What remains of the limit (zero once reached).
    pub remaining: Usd,
}

/// What [`Reservation::settle`] recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settled {
    /// The actual usage's record: its cost, the call's total and the verdict after it.
    pub tracked: Tracked,
    /// What the reservation held.
    pub estimate: Usd,
    /// By how much the actual cost passed the estimate, if it did (the usage is recorded in full
    /// all the same).
    pub over_estimate: Option<Usd>,
}

/// Money held for one provider request. Settle it with the actual usage
/// ([`settle`](Self::settle)), or [`release`](Self::release) it when the request was never sent;
/// dropped otherwise (the request failed, hung, or the task was cancelled), it is recorded at its
/// estimate, marked `estimated`, unless its price says the provider does not bill failed requests
/// ([`ModelPrice::with_failed_requests_billed`](crate::ModelPrice::with_failed_requests_billed)).
pub struct Reservation {
    call: CallCostTracker,
    /// The catalog entry the estimate was priced by.
    entry: u32,
    estimate: Measure,
    /// Nano-dollars held.
    held: i64,
    /// Whether it has been settled or released (drop then does nothing).
    done: bool,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("call_id", &self.call.call_id())
            .field("held", &Usd::from_nanos(self.held))
            .finish_non_exhaustive()
    }
}

impl Reservation {
    /// What it holds.
    pub fn held(&self) -> Usd {
        Usd::from_nanos(self.held)
    }

    /// Records the request's actual usage (in full, even past the estimate) and releases the hold.
    ///
    /// # Errors
    ///
    /// As the track call of the same usage: [`Error::InvalidQuantity`] for a bad quantity (the hold
    /// is released and nothing is recorded), [`Error::MissingRate`] when the model has no rate for
    /// the actual usage's kind (recorded unpriced), [`Error::CallFinalized`] when the call was
    /// finalized meanwhile (recorded as late usage).
    pub fn settle(mut self, actual: Usage) -> Result<Settled> {
        self.done = true;
        let state = self.call.state();
        let recorded = actual
            .measure()
            .and_then(|measure| self.record(state, measure, false));
        state.release(self.held);
        Counters::bump(&state.counters().reservations_settled);
        let tracked = recorded?;
        Ok(Settled {
            tracked,
            estimate: Usd::from_nanos(self.held),
            over_estimate: tracked
                .cost
                .to_nanos()
                .ok()
                .filter(|cost| *cost > self.held)
                .map(|cost| Usd::from_nanos(cost - self.held)),
        })
    }

    /// Releases the hold without recording anything: the request was never sent.
    pub fn release(mut self) {
        self.done = true;
        let state = self.call.state();
        state.release(self.held);
        Counters::bump(&state.counters().reservations_released);
    }

    fn record(&self, state: &CallState, measure: Measure, estimated: bool) -> Result<Tracked> {
        let price = state.ident.catalog.entry_price(self.entry);
        self.call
            .record_as(price.provider(), price.model(), Ok(measure), estimated)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let state = self.call.state();
        if state
            .ident
            .catalog
            .entry_price(self.entry)
            .failed_requests_billed()
        {
            // Recorded first, released after: the limits never see the money missing.
            let _ = self.record(state, self.estimate, true);
            state.release(self.held);
            Counters::bump(&state.counters().reservations_abandoned);
        } else {
            state.release(self.held);
            Counters::bump(&state.counters().reservations_released);
        }
    }
}

impl CallState {
    /// Prices `estimate` for `provider`/`model` and holds it against the call's budget and every
    /// limited period of its user and tenant, or refuses (holding nothing).
    pub(crate) fn reserve(
        &self,
        call: &CallCostTracker,
        provider: &str,
        model: &str,
        estimate: Usage,
    ) -> Result<Reserve> {
        let measure = match estimate.measure() {
            Ok(m) => m,
            Err(e) => {
                Counters::bump(&self.counters().rejected);
                return Err(e);
            }
        };
        if self.gate.load(Ordering::Acquire) & CLOSED != 0 {
            return Err(Error::CallFinalized);
        }
        let at_ms = self.ident.now_ms();
        let catalog = &self.ident.catalog;
        let entry = match catalog.find_cached(provider, model, at_ms, &self.lookups) {
            Lookup::Found(entry) => entry,
            miss => return Err(self.unknown(provider, model, at_ms, miss)),
        };
        let priced = catalog.price(entry, &measure, &Alone)?;
        if let Some(kind) = priced.missing {
            return Err(Error::MissingRate {
                provider: provider.to_owned(),
                model: model.to_owned(),
                kind,
            });
        }
        let amount = priced.cost;
        if let Some(refusal) = self.hold(amount, at_ms) {
            Counters::bump(&self.counters().reservations_refused);
            return Ok(Reserve::Refused(refusal));
        }
        Counters::bump(&self.counters().reservations);
        self.counters().held.fetch_add(amount, Ordering::Relaxed);
        Ok(Reserve::Reserved(Reservation {
            call: call.clone(),
            entry,
            estimate: measure,
            held: amount,
            done: false,
        }))
    }

    /// Holds `amount` against the call's budget, then each limited period; on a refusal, takes back
    /// what it held and says why.
    fn hold(&self, amount: i64, at_ms: i64) -> Option<Refusal> {
        // The call's budget: spent (every event booked) plus held, in one order with settlements
        // (SeqCst on both words), so a hold never sees a settlement's release before its cost.
        let held_before = self.held.fetch_add(amount, Ordering::SeqCst);
        let spent = self.booked_cost.load(Ordering::SeqCst);
        let over_time = self.ident.elapsed_ms() >= self.budget.max_ms();
        if self.budget.cuts_off()
            && (over_time
                || spent.saturating_add(held_before).saturating_add(amount) > self.budget.max)
        {
            self.held.fetch_sub(amount, Ordering::SeqCst);
            return Some(Refusal {
                by: RefusedBy::CallBudget,
                estimate: Usd::from_nanos(amount),
                spent: Usd::from_nanos(spent),
                held: Usd::from_nanos(held_before),
                remaining: Usd::from_nanos(
                    self.budget.remaining(spent.saturating_add(held_before)),
                ),
            });
        }
        for (i, counter) in self.limits.iter().enumerate() {
            if !counter.hold(amount, at_ms) {
                for earlier in &self.limits[..i] {
                    earlier.release(amount);
                }
                self.held.fetch_sub(amount, Ordering::SeqCst);
                return Some(refusal(counter, amount));
            }
        }
        None
    }

    /// Ends a hold: the call's, each limited period's and the meter's.
    pub(crate) fn release(&self, amount: i64) {
        self.held.fetch_sub(amount, Ordering::SeqCst);
        for counter in &self.limits {
            counter.release(amount);
        }
        self.counters().held.fetch_sub(amount, Ordering::Relaxed);
    }

    /// The error of a reservation for a model the catalog does not price (the cold path).
    #[cold]
    fn unknown(&self, provider: &str, model: &str, at_ms: i64, miss: Lookup) -> Error {
        match miss {
            Lookup::NotInForce => Error::NoPriceInForce {
                provider: provider.to_owned(),
                model: model.to_owned(),
                at: chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
            },
            _ => Error::UnknownModel {
                provider: provider.to_owned(),
                model: model.to_owned(),
                suggestions: self.ident.catalog.suggest(provider, model),
            },
        }
    }
}

/// The refusal of a limited period (the cold path: it allocates the subject's id).
#[cold]
fn refusal(counter: &PeriodCounter, amount: i64) -> Refusal {
    let (spent, held, limit) = counter.standing();
    Refusal {
        by: RefusedBy::Limit {
            kind: counter.kind,
            id: counter.id.to_string(),
            period: counter.period,
        },
        estimate: Usd::from_nanos(amount),
        spent: Usd::from_nanos(spent),
        held: Usd::from_nanos(held),
        remaining: Usd::from_nanos(limit.saturating_sub(spent.saturating_add(held)).max(0)),
    }
}

/// The reservation calls, one per usage kind, as the track calls have.
impl CallCostTracker {
    /// Holds what `estimate` would cost with `provider`/`model` against the call's budget and its
    /// user's and tenant's limits (spent plus held), before the request is made. Answers
    /// [`Reserve::Reserved`] with the handle to settle after the request, or
    /// [`Reserve::Refused`] with the limit that refused it. No lock, no allocation for a known
    /// model, no I/O.
    ///
    /// ```
    /// # fn main() -> callmeter::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use callmeter::pricing::Usage;
    /// use callmeter::{CallInfo, Meter, Outcome, Reserve, TokenUsage};
    ///
    /// let (meter, guard) = Meter::builder().path(dir.path().join("costs.db")).open()?;
    /// let call = meter.start_call(CallInfo::new("call-1").user("u-7"))?;
    /// match call.reserve_inference("openai", "gpt-4o-mini", TokenUsage::new(2_000, 400))? {
    ///     Reserve::Reserved(reservation) => {
    ///         // … make the request; then record what it used:
    ///         let settled = reservation.settle(Usage::Tokens(TokenUsage::new(1_850, 212)))?;
    ///         assert!(settled.over_estimate.is_none());
    ///     }
    ///     Reserve::Refused(why) => println!("not made: {:?}, {} left", why.by, why.remaining),
    /// }
    /// call.finalize(Outcome::Completed)?;
    /// assert_eq!(meter.stats().held, callmeter::Usd::ZERO);
    /// # guard.shutdown()?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for a bad estimate, [`Error::UnknownModel`] /
    /// [`Error::NoPriceInForce`] / [`Error::MissingRate`] when the catalog cannot price it (nothing
    /// is held: a request that cannot be priced cannot be held), [`Error::CallFinalized`] after
    /// `finalize`.
    pub fn reserve(&self, provider: &str, model: &str, estimate: Usage) -> Result<Reserve> {
        self.state().reserve(self, provider, model, estimate)
    }

    /// [`reserve`](Self::reserve) of a speech synthesis of `characters`.
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve).
    pub fn reserve_tts(&self, provider: &str, model: &str, characters: u64) -> Result<Reserve> {
        self.reserve(provider, model, Usage::Characters(characters))
    }

    /// [`reserve`](Self::reserve) of a transcription of `audio_seconds`.
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve).
    pub fn reserve_stt(&self, provider: &str, model: &str, audio_seconds: f64) -> Result<Reserve> {
        self.reserve(provider, model, Usage::AudioSeconds(audio_seconds))
    }

    /// [`reserve`](Self::reserve) of a model request of `tokens` (the prompt and the most output
    /// the request allows).
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve).
    pub fn reserve_inference(
        &self,
        provider: &str,
        model: &str,
        tokens: crate::base::usage::TokenUsage,
    ) -> Result<Reserve> {
        self.reserve(provider, model, Usage::Tokens(tokens))
    }

    /// [`reserve`](Self::reserve) of a realtime session's next time slice: `seconds` of audio in
    /// and as many out (the most a slice can use). Reserve the next slice before this one ends and
    /// settle this one with the audio it carried; a refused slice is the cue to wrap the session up.
    ///
    /// # Errors
    ///
    /// As [`reserve`](Self::reserve).
    pub fn reserve_seconds(&self, provider: &str, model: &str, seconds: f64) -> Result<Reserve> {
        self.reserve(
            provider,
            model,
            Usage::RealtimeAudio {
                input_seconds: seconds,
                output_seconds: seconds,
            },
        )
    }
}
