//! The state a meter shares with its calls: the queues to the writer, the counters, the catalog,
//! the limits, the calls being tracked. [`Meter`](crate::Meter) owns it; each call holds it through
//! an `Arc`. It knows calls only as [`Offered`], so it depends on no call's type.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError, bounded};
use rustc_hash::FxHashMap;

use crate::base::clock::TimeSource;
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::stats::{Counters, Stats};
use crate::control::alert::AlertMsg;
use crate::control::budget::Budget;
use crate::control::limits::LimitBook;
use crate::ident::CallIdent;
use crate::persist::message::{CallEnd, Control, Event};
use crate::persist::unknown::UnknownModels;
use crate::pricing::Catalog;

/// A call as the meter sees it: how many events it has offered to the writer.
pub(crate) trait Offered: Send + Sync {
    /// Events offered so far (late events aside).
    fn events_offered(&self) -> u64;
}

/// The calls being tracked, and the events of those that ended.
#[derive(Default)]
pub(super) struct ActiveCalls {
    calls: FxHashMap<ByCallId, Weak<dyn Offered>>,
    /// Events offered by calls that have ended (late events are counted apart).
    ended_events: u64,
}

/// A call's identity keyed by its call id: the map shares the identity the call holds anyway instead of
/// keeping a copy of the id.
struct ByCallId(Arc<CallIdent>);

impl std::borrow::Borrow<str> for ByCallId {
    fn borrow(&self) -> &str {
        &self.0.call_id
    }
}

impl std::hash::Hash for ByCallId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that lookups by `&str` find it.
        (*self.0.call_id).hash(state);
    }
}

impl PartialEq for ByCallId {
    fn eq(&self, other: &Self) -> bool {
        self.0.call_id == other.0.call_id
    }
}

impl Eq for ByCallId {}

/// State shared by the meter's clones, its trackers and its guard.
pub(crate) struct MeterShared {
    pub(super) events: Sender<Event>,
    pub(super) control: Sender<Control>,
    pub(crate) counters: Arc<Counters>,
    /// Swapped whole by [`Meter::set_catalog`]; read once per call start, never by a track call.
    pub(super) catalog: RwLock<Arc<Catalog>>,
    pub(super) unknown: Arc<UnknownModels>,
    /// The default per-call budget.
    pub(crate) budget: Budget,
    /// The alert thread's queue.
    pub(super) alerts: Sender<AlertMsg>,
    /// The call cost alert threshold, in nano-dollars.
    pub(crate) call_alert: i64,
    /// Per-user and per-tenant limits.
    pub(crate) limits: Arc<LimitBook>,
    pub(super) estimate: Usd,
    pub(super) estimates: FxHashMap<String, Usd>,
    pub(super) active: Mutex<ActiveCalls>,
    pub(super) writer: Thread,
    pub(super) flush_timeout: Duration,
    pub(super) next_key: AtomicU64,
    /// Random bits of this meter, mixed into its calls' segment ids.
    pub(super) seed: u64,
    /// Where calls read the time.
    pub(crate) time: TimeSource,
}

impl MeterShared {
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&crate::base::sync::read(&self.catalog))
    }

    /// The index of an unknown provider/model pair (a rare path that locks briefly and may allocate).
    /// The first time a pair is seen, the catalog's nearest names are computed for its error, after
    /// the lock is released (`suggest`, false for names that are no catalog name anyway).
    pub(crate) fn unknown_model(
        &self,
        catalog: &Catalog,
        provider: &str,
        model: &str,
        suggest: bool,
    ) -> u32 {
        let (index, new) = self.unknown.intern(provider, model);
        if new && suggest {
            self.unknown
                .set_suggestions(index, catalog.suggest(provider, model));
        }
        index
    }

    /// The catalog names suggested for an unknown provider/model index.
    pub(crate) fn unknown_suggestions(&self, index: u32) -> Vec<String> {
        self.unknown.suggestions(index).to_vec()
    }

    pub(crate) fn next_call_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// The segment id of this meter's call with `key` started at `started_at_ms` (see [`segment_id`]).
    pub(crate) fn segment_of(&self, key: u64, started_at_ms: i64) -> i64 {
        segment_id(self.seed, key, started_at_ms)
    }

    /// Hands an alert to the alert thread without waiting (counted as dropped if its queue is full).
    pub(crate) fn raise(&self, alert: AlertMsg) {
        if self.alerts.try_send(alert).is_err() {
            Counters::bump(&self.counters.alerts_dropped);
        }
    }

    /// Tells the writer that no more events of the call will come.
    pub(crate) fn forget(&self, key: u64) {
        let _ = self.control.send(Control::Forget(key));
    }

    pub(super) fn active(&self) -> std::sync::MutexGuard<'_, ActiveCalls> {
        crate::base::sync::lock(&self.active)
    }

    /// Marks the call active and tells the writer about it.
    pub(crate) fn register(&self, ident: &Arc<CallIdent>, call: Weak<dyn Offered>) -> Result<()> {
        {
            let mut active = self.active();
            if active.calls.contains_key(&*ident.call_id) {
                return Err(Error::DuplicateCall(ident.call_id.to_string()));
            }
            active.calls.insert(ByCallId(Arc::clone(ident)), call);
        }
        Counters::bump(&self.counters.calls_started);
        // The control queue is unbounded: a call's start and end records are never refused while the
        // writer runs.
        let _ = self.control.send(Control::Start(Arc::clone(ident)));
        Ok(())
    }

    /// Sends the call's final record and forgets it; `events` is how many events it offered.
    pub(crate) fn end(&self, events: u64, end: CallEnd) {
        {
            let mut active = self.active();
            active.calls.remove(&*end.call.call_id);
            active.ended_events += events;
        }
        let _ = self.control.send(Control::End(Box::new(end)));
    }

    /// Events offered so far by every call of this meter (late events aside).
    pub(super) fn enqueued(&self) -> u64 {
        let active = self.active();
        active.calls.values().fold(active.ended_events, |n, call| {
            n + call.upgrade().map_or(0, |c| c.events_offered())
        })
    }

    pub(super) fn stats(&self) -> Stats {
        self.counters.snapshot(|| self.enqueued())
    }

    /// Offers an event to the writer without waiting. Returns false when it was not accepted (queue full,
    /// or writer gone); it is then counted as dropped and the caller keeps its cost for the final record.
    pub(crate) fn offer(&self, event: Event) -> bool {
        let event = match self.events.try_send(event) {
            Ok(()) => return true,
            Err(TrySendError::Full(e) | TrySendError::Disconnected(e)) => e,
        };
        // After finalize the call's final record is already on its way: a late event that does not fit
        // goes by the unbounded control queue instead (a rare, allocating path).
        if event.late() && self.control.send(Control::Late(Box::new(event))).is_ok() {
            return true;
        }
        self.counters.dropped.fetch_add(1, Ordering::Release);
        false
    }

    /// Sends a request to the writer and waits for its answer until `deadline`; a late answer is
    /// [`Error::Timeout`] with `timeout`, the wait the caller promised.
    pub(super) fn request<T>(
        &self,
        make: impl FnOnce(Sender<T>) -> Control,
        deadline: Instant,
        timeout: Duration,
    ) -> Result<T> {
        let (tx, rx) = bounded(1);
        self.control.send(make(tx)).map_err(|_| Error::ShutDown)?;
        self.writer.unpark();
        match rx.recv_deadline(deadline) {
            Ok(answer) => Ok(answer),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(Error::Timeout(timeout)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(Error::ShutDown),
        }
    }
}

/// The segment id of a call started at `started_at_ms` by the meter with random `seed`, as its `key`-th
/// call: the second it started (since 2020, 33 bits) above 30 bits that are the seed plus the key. Two
/// starts of one call id by one meter never share one (in one second they have different keys, fewer
/// than 2^30 apart); starts by two meters share one only in the same second, and then with probability
/// 2^-30. A later start has a larger id, so events sort by (segment, seq) in the order they happened.
pub(super) fn segment_id(seed: u64, key: u64, started_at_ms: i64) -> i64 {
    const EPOCH_2020_S: i64 = 1_577_836_800;
    const LOW: u64 = (1 << 30) - 1;
    let second = (started_at_ms.div_euclid(1_000) - EPOCH_2020_S).clamp(0, (1 << 33) - 1);
    (second << 30) | (seed.wrapping_add(key) & LOW) as i64
}

#[cfg(test)]
mod tests {
    use super::segment_id;

    #[test]
    fn segments_are_distinct_in_one_meter_and_ordered_in_time() {
        let seed = u64::MAX - 3; // wraps within the keys below
        let now = 1_795_000_000_000;
        let same_second: Vec<i64> = (0..10).map(|k| segment_id(seed, k, now)).collect();
        let mut sorted = same_second.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            sorted.len(),
            10,
            "no two starts in one second share a segment"
        );
        assert!(same_second.iter().all(|s| *s > 0));
        assert!(segment_id(seed, 99, now + 1_000) > *sorted.last().unwrap_or(&0));
        assert!(segment_id(0, 0, i64::MAX) > 0, "far future stays positive");
    }
}
