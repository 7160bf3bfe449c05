//! Where a meter reads the time: the system clock unless [`MeterBuilder::clock`] gives another.
//!
//! [`MeterBuilder::clock`]: crate::MeterBuilder::clock

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// The time a meter stamps calls and events with, and by which it decides the day and month a limit
/// counts in.
///
/// A meter reads it on the calling thread only: when a call starts ([`Meter::start_call`]), on every
/// track call, when a call ends, and for admission ([`Meter::admit`], [`Meter::limit_status`]) and the
/// spend loaded at open. Its background threads keep the system clock for what they time themselves
/// (ownership leases, quarantine, shipping). So a clock may answer per thread: a simulation can give
/// each thread its own timeline and stay reproducible whatever the number of threads.
///
/// An implementation must be cheap: it is read once per track call.
///
/// [`Meter::start_call`]: crate::Meter::start_call
/// [`Meter::admit`]: crate::Meter::admit
/// [`Meter::limit_status`]: crate::Meter::limit_status
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch, UTC.
    fn now_ms(&self) -> i64;
}

/// A clock that moves only when told to: for tests and simulations. Clones share one time.
///
/// ```
/// use callmeter::ManualClock;
/// use std::time::Duration;
///
/// let clock = ManualClock::starting_at("2026-10-01T09:00:00Z".parse().unwrap());
/// clock.advance(Duration::from_secs(90));
/// assert_eq!(clock.now().to_rfc3339(), "2026-10-01T09:01:30+00:00");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn starting_at(at: DateTime<Utc>) -> ManualClock {
        ManualClock(Arc::new(AtomicI64::new(at.timestamp_millis())))
    }

    /// Shows `at` from now on (it may go back: a meter then stamps what it reads).
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp_millis(), Ordering::Relaxed);
    }

    /// Moves forward by `by` (saturating).
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_add(ms))
            });
    }

    /// The time it shows.
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.now_ms()).unwrap_or_default()
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The system clock's milliseconds since the Unix epoch (0 before it).
pub(crate) fn system_now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// A meter's clock: the system's, or the one it was given.
#[derive(Clone, Default)]
pub(crate) struct TimeSource(Option<Arc<dyn Clock>>);

impl TimeSource {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> TimeSource {
        TimeSource(Some(clock))
    }

    /// Now, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(clock) => clock.now_ms(),
            None => system_now_ms(),
        }
    }

    /// The clock given, if any.
    pub(crate) fn custom(&self) -> Option<&Arc<dyn Clock>> {
        self.0.as_ref()
    }
}

impl std::fmt::Debug for TimeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "custom" } else { "system" })
    }
}
