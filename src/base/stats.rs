//! Counters kept by the meter, readable at any time.
//!
//! Ordering rule: a counter is bumped with `Relaxed` unless it enters the identity
//! `enqueued = persisted + quarantined + dropped + pending`; those (`persisted`, `quarantined`,
//! `dropped`, `late`) are bumped with `Release` after the event was counted in `enqueued`, and read
//! with `Acquire` before `enqueued` is, so a snapshot never shows more events out than in.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde::Serialize;

/// A snapshot of a meter's counters.
///
/// Event counters obey `enqueued = persisted + quarantined + dropped + pending`, where `pending` is what
/// is queued or being written. After [`Meter::flush`](crate::Meter::flush) returns, `pending` is zero for everything
/// enqueued before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Events offered to the writer's queue (including those that did not fit).
    pub enqueued: u64,
    /// Events committed to the database.
    pub persisted: u64,
    /// Events the database refused for good (a constraint, an overflow), set aside in table
    /// `quarantine` with the reason, each raising an [`AlertKind::Quarantined`](crate::AlertKind)
    /// alert. Their money is in that table, not in `cost_events`.
    pub quarantined: u64,
    /// Records of every kind (events, call starts and ends, alerts) set aside in `quarantine`.
    pub quarantined_records: u64,
    /// Events that did not fit in the queue. Their cost stays in the call's totals and is written with the
    /// call's final record as one coalesced row per category, so no money is lost; only the detail is.
    pub dropped: u64,
    /// Events enqueued but not yet committed.
    pub pending: u64,
    /// Events recorded without a (complete) price: unknown model or missing rate.
    pub unpriced: u64,
    /// Track calls refused for bad input (nothing recorded).
    pub rejected: u64,
    /// Events tracked after their call was finalized (recorded, not in the summary).
    pub late: u64,
    /// Coalesced rows written for dropped events.
    pub coalesced_rows: u64,
    /// Events the database already held under the same identity (`cost_events.event_id`): a replay of
    /// an event already written, ignored. A call id used again is not one: it continues its call.
    pub conflicts: u64,
    /// Failed write attempts (each is retried).
    pub write_errors: u64,
    /// The error of the latest write attempt if it failed; `None` once a write succeeds again.
    pub last_write_error: Option<String>,
    /// Calls of meters that were gone (a crashed process) closed as `interrupted` when this meter
    /// opened.
    pub calls_interrupted: u64,
    /// Calls started.
    pub calls_started: u64,
    /// Calls ended by `finalize`.
    pub calls_finalized: u64,
    /// Calls whose tracker was dropped without `finalize`.
    pub calls_abandoned: u64,
    /// Alerts raised (delivered to the sinks and passed to the writer).
    pub alerts_raised: u64,
    /// Alerts that did not fit in the alert queue (an alert storm); they are lost, tracking is not.
    pub alerts_dropped: u64,
    /// Deliveries a sink failed or panicked on.
    pub alert_sink_failures: u64,
    /// Events shipped to the fleet database (feature `postgres`; zero without one).
    pub shipped: u64,
    /// Events shipped again that the fleet database already held (a shipment resent after a crash or
    /// a lost acknowledgement), ignored there.
    pub ship_duplicates: u64,
    /// Events committed to the local file and not yet shipped.
    pub ship_backlog: u64,
    /// How old the oldest unshipped event is, in milliseconds (zero without a backlog).
    pub ship_backlog_age_ms: u64,
    /// Failed shipping rounds (each is retried, with backoff).
    pub ship_errors: u64,
    /// The error of the latest shipping round if it failed; `None` once a round succeeds again.
    pub last_ship_error: Option<String>,
    /// Reservations made ([`CallCostTracker::reserve`](crate::CallCostTracker::reserve)), refused
    /// ones not included.
    pub reservations: u64,
    /// Reservations refused by a call's budget or a user's or tenant's limit.
    pub reservations_refused: u64,
    /// Reservations settled with the actual usage.
    pub reservations_settled: u64,
    /// Reservations dropped unsettled and recorded at their estimate (marked `estimated`).
    pub reservations_abandoned: u64,
    /// Reservations dropped unsettled and released without a record: their price says the provider
    /// does not bill failed requests.
    pub reservations_released: u64,
    /// What reservations not yet settled hold now.
    pub held: crate::base::money::Usd,
}

/// The live counters behind [`Stats`].
///
/// There is no counter of enqueued events: each call counts its own events in the word it already
/// updates on every track call, and the meter adds those up when asked (see `MeterShared::enqueued`).
pub(crate) struct Counters {
    pub(crate) persisted: AtomicU64,
    pub(crate) quarantined: AtomicU64,
    pub(crate) quarantined_records: AtomicU64,
    pub(crate) calls_interrupted: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) unpriced: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) late: AtomicU64,
    pub(crate) coalesced_rows: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) write_errors: AtomicU64,
    pub(crate) last_write_error: Mutex<Option<String>>,
    pub(crate) calls_started: AtomicU64,
    pub(crate) calls_finalized: AtomicU64,
    pub(crate) calls_abandoned: AtomicU64,
    pub(crate) alerts_raised: AtomicU64,
    pub(crate) alerts_dropped: AtomicU64,
    pub(crate) alert_sink_failures: AtomicU64,
    pub(crate) ship: ShipCounters,
    pub(crate) reservations: AtomicU64,
    pub(crate) reservations_refused: AtomicU64,
    pub(crate) reservations_settled: AtomicU64,
    pub(crate) reservations_abandoned: AtomicU64,
    pub(crate) reservations_released: AtomicU64,
    /// Nano-dollars held by reservations not yet settled.
    pub(crate) held: AtomicI64,
}

/// The shipper's counters.
#[derive(Default)]
pub(crate) struct ShipCounters {
    pub(crate) shipped: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) backlog: AtomicU64,
    /// `created_at` of the oldest unshipped event, or 0.
    pub(crate) oldest_ms: AtomicI64,
    pub(crate) errors: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
}

impl ShipCounters {
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn set_error(&self, error: Option<String>) {
        *crate::base::sync::lock(&self.last_error) = error;
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            persisted: AtomicU64::new(0),
            quarantined: AtomicU64::new(0),
            quarantined_records: AtomicU64::new(0),
            calls_interrupted: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            unpriced: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            late: AtomicU64::new(0),
            coalesced_rows: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            last_write_error: Mutex::new(None),
            calls_started: AtomicU64::new(0),
            calls_finalized: AtomicU64::new(0),
            calls_abandoned: AtomicU64::new(0),
            alerts_raised: AtomicU64::new(0),
            alerts_dropped: AtomicU64::new(0),
            alert_sink_failures: AtomicU64::new(0),
            ship: ShipCounters::default(),
            reservations: AtomicU64::new(0),
            reservations_refused: AtomicU64::new(0),
            reservations_settled: AtomicU64::new(0),
            reservations_abandoned: AtomicU64::new(0),
            reservations_released: AtomicU64::new(0),
            held: AtomicI64::new(0),
        }
    }

    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, with `enqueued` read by `enqueued` *after* the writer's counters: anything the
    /// writer persisted was enqueued earlier, so `pending` never comes out negative.
    pub(crate) fn snapshot(&self, enqueued: impl FnOnce() -> u64) -> Stats {
        let persisted = self.persisted.load(Ordering::Acquire);
        let quarantined = self.quarantined.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let enqueued = enqueued() + self.late.load(Ordering::Acquire);
        let last_write_error = crate::base::sync::lock(&self.last_write_error).clone();
        Stats {
            enqueued,
            persisted,
            quarantined,
            quarantined_records: self.quarantined_records.load(Ordering::Relaxed),
            dropped,
            pending: enqueued
                .saturating_sub(persisted)
                .saturating_sub(quarantined)
                .saturating_sub(dropped),
            unpriced: self.unpriced.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            late: self.late.load(Ordering::Relaxed),
            coalesced_rows: self.coalesced_rows.load(Ordering::Relaxed),
            conflicts: self.conflicts.load(Ordering::Relaxed),
            write_errors: self.write_errors.load(Ordering::Relaxed),
            last_write_error,
            calls_interrupted: self.calls_interrupted.load(Ordering::Relaxed),
            calls_started: self.calls_started.load(Ordering::Relaxed),
            calls_finalized: self.calls_finalized.load(Ordering::Relaxed),
            calls_abandoned: self.calls_abandoned.load(Ordering::Relaxed),
            alerts_raised: self.alerts_raised.load(Ordering::Relaxed),
            alerts_dropped: self.alerts_dropped.load(Ordering::Relaxed),
            alert_sink_failures: self.alert_sink_failures.load(Ordering::Relaxed),
            shipped: self.ship.shipped.load(Ordering::Relaxed),
            ship_duplicates: self.ship.duplicates.load(Ordering::Relaxed),
            ship_backlog: self.ship.backlog.load(Ordering::Relaxed),
            ship_backlog_age_ms: match self.ship.oldest_ms.load(Ordering::Relaxed) {
                0 => 0,
                oldest => {
                    u64::try_from(chrono::Utc::now().timestamp_millis() - oldest).unwrap_or(0)
                }
            },
            ship_errors: self.ship.errors.load(Ordering::Relaxed),
            last_ship_error: crate::base::sync::lock(&self.ship.last_error).clone(),
            reservations: self.reservations.load(Ordering::Relaxed),
            reservations_refused: self.reservations_refused.load(Ordering::Relaxed),
            reservations_settled: self.reservations_settled.load(Ordering::Relaxed),
            reservations_abandoned: self.reservations_abandoned.load(Ordering::Relaxed),
            reservations_released: self.reservations_released.load(Ordering::Relaxed),
            held: crate::base::money::Usd::from_nanos(self.held.load(Ordering::Relaxed)),
        }
    }
}
