//! The meter's guard: shuts the writer down, drains the queue, and says what could not be written.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::base::error::{Error, Result};
use crate::base::stats::Stats;
use crate::call::off_thread::off_thread;
use crate::call::shared::MeterShared;
use crate::control::alert::Dispatcher;
use crate::persist::message::Control;
#[cfg(feature = "postgres")]
use crate::persist::ship;

/// Shuts the meter's writer down: drains the queue, commits, and stops the thread.
///
/// Dropping the guard does the same, waiting at most the shutdown timeout; call
/// [`shutdown`](Self::shutdown) to learn whether everything was written. Trackers and meter clones used
/// after shutdown keep exact in-memory totals, but their events are counted as dropped.
#[must_use = "dropping the guard shuts the meter down"]
pub struct MeterGuard {
    pub(super) shared: Arc<MeterShared>,
    pub(super) dispatcher: Dispatcher,
    pub(super) join: Option<JoinHandle<()>>,
    pub(super) timeout: Duration,
    #[cfg(feature = "postgres")]
    pub(super) shipper: Option<ship::ShipperHandle>,
}

impl std::fmt::Debug for MeterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeterGuard")
            .field("running", &self.join.is_some())
            .finish()
    }
}

impl MeterGuard {
    /// Drains and commits everything, stops the writer, and returns the final counters.
    ///
    /// **Blocks** the calling thread until the writer has committed what was queued: usually
    /// milliseconds, at most the shutdown timeout (default 30 s) while the database fails. From async
    /// code use [`shutdown_async`](Self::shutdown_async).
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when the writer did not answer within the shutdown timeout,
    /// [`Error::Unpersisted`] when some records could not be written (the database kept failing), with
    /// each call's unwritten events and their dollars.
    pub fn shutdown(mut self) -> Result<Stats> {
        self.stop()
    }

    /// [`shutdown`](Self::shutdown) without blocking the caller: it runs on a thread of its own
    /// (`callmeter-shutdown`), and the future, which any async runtime can poll, is ready with the
    /// final counters when it ends. Dropping the future does not cancel the shutdown.
    ///
    /// # Errors
    ///
    /// As [`shutdown`](Self::shutdown); [`Error::Spawn`] when the thread cannot start (the guard is
    /// then dropped, which shuts the meter down on the calling thread).
    pub fn shutdown_async(self) -> impl Future<Output = Result<Stats>> + Send + 'static {
        off_thread("callmeter-shutdown", move || self.shutdown())
    }

    fn stop(&mut self) -> Result<Stats> {
        let Some(join) = self.join.take() else {
            return Ok(self.shared.stats());
        };
        // One deadline for the whole shutdown. Commit what is queued (the writer raises quota and
        // platform alerts as it commits), then deliver every alert (the alert thread passes each to
        // the writer), then drain the writer, which gives up writing a little before the deadline so
        // that its answer (what it could not write) arrives in time.
        let start = Instant::now();
        let deadline = start + self.timeout;
        // Half the time at most for the flush: a database that keeps failing must leave the writer
        // time to answer what it could not write.
        let _ = self
            .shared
            .request(Control::Flush, start + self.timeout / 2, self.timeout);
        self.dispatcher.stop(deadline);
        let writer_deadline = deadline - (self.timeout / 4).min(WRITER_MARGIN);
        let unwritten = match self.shared.request(
            |ack| Control::Shutdown(ack, writer_deadline),
            deadline,
            self.timeout,
        ) {
            Ok(unwritten) => unwritten,
            Err(e @ Error::Timeout(_)) => return Err(e),
            Err(_) => Vec::new(),
        };
        let _ = join.join();
        // What the writer committed ships until the deadline, or until a round fails: the rest waits in
        // the file for the next start.
        #[cfg(feature = "postgres")]
        if let Some(shipper) = self.shipper.take() {
            shipper.stop(deadline);
        }
        let stats = self.shared.stats();
        if stats.pending > 0 || !unwritten.is_empty() {
            return Err(Error::Unpersisted {
                unpersisted: stats.pending,
                write_errors: stats.write_errors,
                calls: unwritten,
            });
        }
        Ok(stats)
    }
}

/// How long before the shutdown deadline the writer stops retrying, at most: one write attempt can
/// wait for a lock up to the store's busy timeout (250 ms).
const WRITER_MARGIN: Duration = Duration::from_millis(500);

impl Drop for MeterGuard {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
