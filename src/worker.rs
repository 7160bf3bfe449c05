//! The writer loop: drains the queues in batches, one SQLite transaction per batch, answers flushes.
//!
//! The writer never blocks on the event queue (a producer would then have to wake it, a system call on
//! the hot path): it drains what is there, writes it, and sleeps for the poll interval when it found
//! nothing. Flush and shutdown requests unpark it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::stats::Counters;
use crate::store::Store;
use crate::tracker::{CallIdent, CallStatus};
use crate::usage::{Category, Measure};

/// What an event was priced against.
#[derive(Debug)]
pub(crate) enum Target {
    /// A catalog entry of the call's catalog.
    Priced(u32),
    /// A provider and model the catalog does not know.
    Unpriced(Box<(Box<str>, Box<str>)>),
}

/// One priced usage on its way to the database.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) call: Arc<CallIdent>,
    pub(crate) agent: Option<Arc<str>>,
    pub(crate) seq: u64,
    pub(crate) at_ms: i64,
    pub(crate) category: Category,
    pub(crate) target: Target,
    pub(crate) measure: Measure,
    pub(crate) cost: i64,
    pub(crate) priced: bool,
    pub(crate) late: bool,
}

impl Event {
    pub(crate) fn names(&self) -> (&str, &str) {
        match &self.target {
            Target::Priced(i) => {
                let p = self.call.catalog.entry_price(*i);
                (p.provider(), p.model())
            }
            Target::Unpriced(names) => (&names.0, &names.1),
        }
    }
}

/// The cost of events of one category that did not fit in the queue.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Coalesced {
    pub(crate) category: Category,
    pub(crate) events: u64,
    pub(crate) cost: i64,
    pub(crate) seq: u64,
}

/// A call's final record.
#[derive(Debug)]
pub(crate) struct CallEnd {
    pub(crate) call: Arc<CallIdent>,
    pub(crate) status: CallStatus,
    pub(crate) reason: Option<String>,
    pub(crate) ended_at_ms: i64,
    pub(crate) coalesced: Vec<Coalesced>,
}

/// Messages that must never be refused; the queue carrying them is unbounded.
pub(crate) enum Control {
    Start(Arc<CallIdent>),
    End(Box<CallEnd>),
    Late(Box<Event>),
    Flush(Sender<()>),
    Shutdown(Sender<()>, Instant),
}

/// What one transaction writes.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) starts: Vec<Arc<CallIdent>>,
    pub(crate) events: Vec<Event>,
    pub(crate) ends: Vec<Box<CallEnd>>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.starts.is_empty() && self.events.is_empty() && self.ends.is_empty()
    }

    fn clear(&mut self) {
        self.starts.clear();
        self.events.clear();
        self.ends.clear();
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(crate) struct Writer {
    store: Store,
    events: Receiver<Event>,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    batch_size: usize,
    poll: Duration,
}

impl Writer {
    pub(crate) fn new(
        store: Store,
        events: Receiver<Event>,
        control: Receiver<Control>,
        counters: Arc<Counters>,
        batch_size: usize,
        poll: Duration,
    ) -> Self {
        Writer {
            store,
            events,
            control,
            counters,
            batch_size,
            poll,
        }
    }

    pub(crate) fn run(mut self) {
        let mut batch = Batch::default();
        let mut flushes: Vec<Sender<()>> = Vec::new();
        // Events still to take from the queue before the pending flushes may be answered.
        let mut owed = 0_usize;
        let mut shutdown: Option<(Sender<()>, Instant)> = None;
        let mut control_gone = false;
        let mut backoff = Duration::ZERO;
        loop {
            loop {
                match self.control.try_recv() {
                    Ok(Control::Start(call)) => batch.starts.push(call),
                    Ok(Control::End(end)) => batch.ends.push(end),
                    Ok(Control::Late(event)) => batch.events.push(*event),
                    Ok(Control::Flush(ack)) => {
                        // Everything enqueued before the flush request is in the queue now: taking
                        // `len()` more events (FIFO) takes all of it.
                        owed = owed.max(self.events.len());
                        flushes.push(ack);
                    }
                    Ok(Control::Shutdown(ack, deadline)) => shutdown = Some((ack, deadline)),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        control_gone = true;
                        break;
                    }
                }
            }
            while batch.events.len() < self.batch_size {
                match self.events.try_recv() {
                    Ok(event) => {
                        batch.events.push(event);
                        owed = owed.saturating_sub(1);
                    }
                    Err(_) => break,
                }
            }
            let worked = !batch.is_empty();
            if worked {
                match self.store.write(&batch) {
                    Ok(written) => {
                        self.counters
                            .conflicts
                            .fetch_add(written.conflicts, Ordering::Relaxed);
                        self.counters
                            .coalesced_rows
                            .fetch_add(written.coalesced_rows, Ordering::Relaxed);
                        self.counters
                            .persisted
                            .fetch_add(batch.events.len() as u64, Ordering::Release);
                        batch.clear();
                        backoff = Duration::ZERO;
                    }
                    Err(e) => {
                        Counters::bump(&self.counters.write_errors);
                        if let Ok(mut last) = self.counters.last_write_error.lock() {
                            *last = Some(e.to_string());
                        }
                        backoff = (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
                        if let Some((_, deadline)) = &shutdown {
                            if Instant::now() + backoff >= *deadline {
                                // Give up: what is left stays counted as pending, and shutdown says so.
                                return;
                            }
                        }
                        std::thread::sleep(backoff);
                        continue;
                    }
                }
            }
            if owed == 0 {
                for ack in flushes.drain(..) {
                    let _ = ack.send(());
                }
            }
            if shutdown.is_some() || control_gone {
                if self.events.is_empty() && self.control.is_empty() && batch.is_empty() {
                    if let Some((ack, _)) = shutdown.take() {
                        let _ = ack.send(());
                    }
                    return;
                }
                continue;
            }
            if !worked {
                std::thread::park_timeout(self.poll);
            }
        }
    }
}
