//! Report queries off the I/O threads. Each lane has its own database connections and blocking
//! threads, a few running at once and a bounded number waiting; past that a request is refused at
//! once (503) instead of queueing without end. The heavy reports (the dashboard, the summary, the
//! reconciliation) have a lane of their own, so a burst of them never delays the light ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use callmeter::Reports;
use tokio::sync::Semaphore;

use crate::Source;

/// Queries running at once in a lane.
const WORKERS: usize = 2;
/// Requests waiting for a worker in a lane; more are refused.
const WAITING: usize = 16;
/// Blocking threads the runtime may start: every lane's workers, and a few for queries whose
/// request was given up (they finish on their own).
pub(super) const BLOCKING_THREADS: usize = 4 * WORKERS + 4;

/// Which lane a route's query runs in.
#[derive(Clone, Copy, Debug)]
pub(super) enum Lane {
    Heavy,
    Light,
}

/// Why a query gave no answer.
#[derive(Debug)]
pub(super) enum Refused {
    /// Its lane is full: try again shortly.
    Busy,
    /// The database could not be opened again, or the query's thread failed.
    Failed(String),
}

struct Pool {
    /// Connections not in use.
    idle: Mutex<Vec<Reports>>,
    running: Arc<Semaphore>,
    waiting: AtomicUsize,
}

/// Both lanes, and how to open a connection.
pub(super) struct Lanes {
    heavy: Pool,
    light: Pool,
    open: Box<dyn Fn() -> Result<Reports, String> + Send + Sync>,
}

impl Lanes {
    /// Lanes with `first` and as many more connections as they have workers.
    pub(super) fn new(first: Reports, source: &Source) -> Result<Lanes, String> {
        let db = source.db.clone();
        let postgres = source.postgres.clone();
        let open = Box::new(move || -> Result<Reports, String> {
            let source = Source {
                db: db.clone(),
                postgres: postgres.clone(),
                from: None,
                to: None,
            };
            source.open().map(|(reports, _, _)| reports)
        });
        let mut first = Some(first);
        let mut pool = || -> Result<Pool, String> {
            let idle = (0..WORKERS)
                .map(|_| first.take().map_or_else(&open, Ok))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(Pool {
                idle: Mutex::new(idle),
                running: Arc::new(Semaphore::new(WORKERS)),
                waiting: AtomicUsize::new(0),
            })
        };
        Ok(Lanes {
            heavy: pool()?,
            light: pool()?,
            open,
        })
    }

    fn pool(&self, lane: Lane) -> &Pool {
        match lane {
            Lane::Heavy => &self.heavy,
            Lane::Light => &self.light,
        }
    }

    /// Runs `query` on a connection of `lane`, on a blocking thread.
    pub(super) async fn run<T, F>(self: &Arc<Self>, lane: Lane, query: F) -> Result<T, Refused>
    where
        T: Send + 'static,
        F: FnOnce(&Reports) -> T + Send + 'static,
    {
        let pool = self.pool(lane);
        if pool.waiting.fetch_add(1, Ordering::AcqRel) >= WAITING {
            pool.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Busy);
        }
        let permit = pool.running.clone().acquire_owned().await;
        pool.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(|e| Refused::Failed(e.to_string()))?;
        let taken = pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let this = Arc::clone(self);
        let done = tokio::task::spawn_blocking(move || {
            // A connection lost with a query that failed or was given up is opened again.
            let reports = match taken {
                Some(r) => r,
                None => (this.open)()?,
            };
            let out = query(&reports);
            this.pool(lane)
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(reports);
            drop(permit);
            Ok(out)
        })
        .await;
        match done {
            Ok(out) => out.map_err(Refused::Failed),
            Err(e) => Err(Refused::Failed(format!("the query's thread failed: {e}"))),
        }
    }
}
