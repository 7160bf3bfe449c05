//! The writer loop: drains the queues in batches, one SQLite transaction per batch, answers flushes.
//!
//! The writer never blocks on the event queue (a producer would then have to wake it, a system call on
//! the hot path): it drains what is there, writes it, and sleeps for the poll interval when it found
//! nothing. Flush and shutdown requests unpark it.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use rustc_hash::FxHashMap;

use crate::base::backoff::Backoff;
use crate::base::error::UnpersistedCall;
use crate::base::money::Usd;
use crate::base::stats::Counters;
use crate::control::alert::AlertMsg;
use crate::ident::CallIdent;
use crate::persist::message::{
    Batch, CallEnd, Control, Event, NO_AGENT, Record, Resolved, UNKNOWN_BIT,
};
use crate::persist::quarantine::Quarantined;
use crate::persist::sink::Sink;
use crate::persist::store::{Store, Written};
use crate::persist::unknown::UnknownModels;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The writer truncates the write-ahead log when it has been idle this long since its last commit.
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);

/// The writer's settings.
pub(crate) struct WriterConfig {
    pub(crate) batch_size: usize,
    pub(crate) poll: Duration,
}

/// The writer's inputs: the queues it drains and where it reports.
pub(crate) struct WriterQueues {
    pub(crate) events: Receiver<Event>,
    pub(crate) control: Receiver<Control>,
    pub(crate) alerts: Sender<AlertMsg>,
}

/// The writer thread's state: the store, the queues it drains and the sinks it feeds.
pub(crate) struct Writer {
    store: Store,
    /// Told of each committed batch, in order (quotas and thresholds, log events, …).
    sinks: Vec<Box<dyn Sink>>,
    /// Where the writer's own alerts (a quarantined record) go.
    alerts: Sender<AlertMsg>,
    /// Calls whose events may still arrive, by key.
    calls: FxHashMap<u64, Arc<CallIdent>>,
    unknown: Arc<UnknownModels>,
    events: Receiver<Event>,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    config: WriterConfig,
}

/// What one attempt to write a batch came to.
enum Attempt {
    /// The transaction committed.
    Committed(Written),
    /// The database cannot take the batch now (busy, locked, disk full, I/O, read-only): retry the
    /// same records later, with backoff.
    Retry(rusqlite::Error),
    /// The database refuses something in the batch for good (a constraint, an overflow, a value too
    /// big): find the refused records and set them aside.
    Isolate(rusqlite::Error),
}

impl Attempt {
    fn of(result: rusqlite::Result<Written>) -> Attempt {
        use rusqlite::ErrorCode::{
            ConstraintViolation, ParameterOutOfRange, TooBig, TypeMismatch, Unknown,
        };
        match result {
            Ok(written) => Attempt::Committed(written),
            Err(e) => match e.sqlite_error_code() {
                // `Unknown` is SQLITE_ERROR: an SQL error, or an integer overflow in SUM().
                Some(
                    ConstraintViolation | TooBig | TypeMismatch | ParameterOutOfRange | Unknown,
                ) => Attempt::Isolate(e),
                Some(_) => Attempt::Retry(e),
                // An error of rusqlite's own (a value it cannot convert): the same records fail again.
                None => Attempt::Isolate(e),
            },
        }
    }
}

impl Writer {
    pub(crate) fn new(
        store: Store,
        sinks: Vec<Box<dyn Sink>>,
        queues: WriterQueues,
        counters: Arc<Counters>,
        unknown: Arc<UnknownModels>,
        config: WriterConfig,
    ) -> Self {
        Writer {
            store,
            sinks,
            alerts: queues.alerts,
            unknown,
            calls: FxHashMap::default(),
            events: queues.events,
            control: queues.control,
            counters,
            config,
        }
    }

    /// The thread's loop: gather a batch, commit it (or back off and retry), answer flushes, stop
    /// when asked and drained, sleep when idle.
    pub(crate) fn run(mut self) {
        let mut st = LoopState::default();
        loop {
            self.gather(&mut st);
            let worked = !st.batch.is_empty();
            if worked {
                if let Err(e) = self.commit(&mut st) {
                    if self.back_off(&mut st, &e).is_break() {
                        return;
                    }
                    continue;
                }
                st.backoff.0.reset();
                st.since_checkpoint = Some(Instant::now());
            }
            if st.taken >= st.owed {
                for ack in st.flushes.drain(..) {
                    let _ = ack.send(());
                }
            }
            if st.shutdown.is_some() || st.control_gone {
                if self.drained(&st) {
                    if let Some((ack, _)) = st.shutdown.take() {
                        let _ = ack.send(Vec::new());
                    }
                    return;
                }
                continue;
            }
            if !worked {
                self.idle(&mut st);
            }
        }
    }

    /// Takes the control messages waiting and up to a batch of events, and moves the final records
    /// whose events are all taken into the batch.
    fn gather(&mut self, st: &mut LoopState) {
        self.take_control(st);
        while st.batch.events.len() < self.config.batch_size {
            match self.events.try_recv() {
                Ok(event) => {
                    st.taken += 1;
                    self.resolve(st, event);
                }
                Err(_) => break,
            }
        }
        self.forget_done(st);
    }

    /// Nothing is queued, in hand or waiting for its events.
    fn drained(&self, st: &LoopState) -> bool {
        self.events.is_empty()
            && self.control.is_empty()
            && st.batch.is_empty()
            && st.ends.is_empty()
    }

    /// Truncates the write-ahead log once the writer has been idle a while since its last commit, then
    /// sleeps for the poll interval (a flush or a shutdown request unparks it).
    fn idle(&mut self, st: &mut LoopState) {
        if st
            .since_checkpoint
            .is_some_and(|t| t.elapsed() >= IDLE_CHECKPOINT)
            && self.store.checkpoint().is_ok()
        {
            st.since_checkpoint = None;
        }
        // Events dropped on a full queue, and the shipper's counters, change without a commit.
        self.record_metrics(0);
        std::thread::park_timeout(self.config.poll);
    }

    /// Writes the batch: whole in one transaction, or, when the database refuses something in it for
    /// good, record by record ranges until the refused records are found and set aside (see
    /// [`isolate`](Self::isolate)). An error left is transient: the batch (what is left of it) is kept
    /// for the next attempt.
    fn commit(&mut self, st: &mut LoopState) -> rusqlite::Result<()> {
        match Attempt::of(self.store.write(&st.batch)) {
            Attempt::Committed(written) => {
                self.committed(&st.batch, written);
                st.batch.clear();
                Ok(())
            }
            Attempt::Isolate(_) => self.isolate(st),
            Attempt::Retry(e) => Err(e),
        }
    }

    /// Splits the batch in halves until each record the database refuses is alone, commits the rest,
    /// and quarantines the refused records (table `quarantine`, [`Stats::quarantined`](crate::Stats),
    /// an alert). At most about 2 k log2(n) transactions for k refused records among n.
    fn isolate(&mut self, st: &mut LoopState) -> rusqlite::Result<()> {
        let records = std::mem::take(&mut st.batch).into_records();
        // Ranges still to write, the next on top.
        let mut todo = vec![(0, records.len())];
        while let Some((lo, hi)) = todo.pop() {
            let part = Batch::of(&records[lo..hi]);
            let outcome = match Attempt::of(self.store.write(&part)) {
                Attempt::Committed(written) => {
                    self.committed(&part, written);
                    continue;
                }
                Attempt::Isolate(e) if hi - lo == 1 => self.quarantine(&records[lo], &e),
                Attempt::Isolate(_) => {
                    let mid = lo + (hi - lo) / 2;
                    todo.push((mid, hi));
                    todo.push((lo, mid));
                    Ok(())
                }
                Attempt::Retry(e) => Err(e),
            };
            if let Err(e) = outcome {
                // Keep what is not written yet, in order, for the next attempt.
                todo.push((lo, hi));
                let left: Vec<Record> = todo
                    .iter()
                    .rev()
                    .flat_map(|&(lo, hi)| records[lo..hi].iter().cloned())
                    .collect();
                st.batch = Batch::of(&left);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Sets one refused record aside in the `quarantine` table, counts it and raises an alert.
    fn quarantine(&mut self, record: &Record, reason: &rusqlite::Error) -> rusqlite::Result<()> {
        let q = Quarantined::of(record, &reason.to_string(), self.store.origin());
        self.store.quarantine(&q)?;
        if let Record::Event(_) = record {
            self.counters.quarantined.fetch_add(1, Ordering::Release);
        }
        Counters::bump(&self.counters.quarantined_records);
        if !matches!(record, Record::Alert(_)) {
            let alert = q.alert();
            if self
                .alerts
                .try_send(AlertMsg::Ready(Box::new(alert)))
                .is_err()
            {
                Counters::bump(&self.counters.alerts_dropped);
            }
        }
        Ok(())
    }

    /// Counts a committed batch and hands it to the sinks.
    fn committed(&mut self, batch: &Batch, written: Written) {
        self.counters
            .conflicts
            .fetch_add(written.conflicts, Ordering::Relaxed);
        self.counters
            .coalesced_rows
            .fetch_add(written.coalesced_rows, Ordering::Relaxed);
        self.counters
            .persisted
            .fetch_add(batch.events.len() as u64, Ordering::Release);
        // The database takes writes again: the error is history (`write_errors` keeps the count).
        *crate::base::sync::lock(&self.counters.last_write_error) = None;
        for sink in &mut self.sinks {
            sink.committed(batch);
        }
        self.record_metrics(0);
    }

    /// Records the counters through the `metrics` facade (feature `metrics`); `in_hand` events are
    /// taken from the queue but not committed.
    fn record_metrics(&self, in_hand: usize) {
        #[cfg(feature = "metrics")]
        crate::persist::metrics::record(&self.counters, (self.events.len() + in_hand) as u64);
        #[cfg(not(feature = "metrics"))]
        let _ = in_hand;
    }

    /// After a transient failure: counts it, frees the log's space after a "disk full", and waits
    /// before the next attempt, or gives up at the shutdown deadline (answering what is unwritten).
    fn back_off(&mut self, st: &mut LoopState, e: &rusqlite::Error) -> ControlFlow<()> {
        // A shutdown request may have come while the write was failing.
        self.take_control(st);
        Counters::bump(&self.counters.write_errors);
        self.record_metrics(st.batch.events.len());
        *crate::base::sync::lock(&self.counters.last_write_error) = Some(e.to_string());
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            // The write-ahead log may hold most of the disk: move it into the database and truncate it.
            let _ = self.store.checkpoint();
        }
        let mut wait = st.backoff.0.next_wait();
        if let Some((_, deadline)) = &st.shutdown {
            let left = deadline.saturating_duration_since(Instant::now());
            if left <= wait {
                // Give up: answer what could not be written; it stays counted as pending.
                if let Some((ack, _)) = st.shutdown.take() {
                    let _ = ack.send(self.unwritten(st));
                }
                return ControlFlow::Break(());
            }
            wait = wait.min(left);
        }
        std::thread::sleep(wait);
        ControlFlow::Continue(())
    }

    /// What is not written, per call: the batch in hand and everything still queued.
    fn unwritten(&mut self, st: &mut LoopState) -> Vec<UnpersistedCall> {
        self.take_control(st);
        while let Ok(event) = self.events.try_recv() {
            self.resolve(st, event);
        }
        type Tally = std::collections::BTreeMap<String, (u64, i64, bool)>;
        fn entry<'t>(by_call: &'t mut Tally, call: &CallIdent) -> &'t mut (u64, i64, bool) {
            by_call
                .entry(call.call_id.to_string())
                .or_insert((0, 0, false))
        }
        let mut by_call = Tally::new();
        st.batch.ends.extend(st.ends.drain(..).map(|(_, end)| end));
        for c in &st.batch.starts {
            entry(&mut by_call, c).2 = true;
        }
        for r in &st.batch.events {
            let e = entry(&mut by_call, &r.call);
            e.0 += 1;
            e.1 = e.1.saturating_add(r.event.cost);
        }
        for end in &st.batch.ends {
            let e = entry(&mut by_call, &end.call);
            e.2 = true;
            for c in &end.coalesced {
                e.0 += c.events;
                e.1 = e.1.saturating_add(c.cost);
            }
        }
        by_call
            .into_iter()
            .map(|(call_id, (events, cost, call_record))| {
                UnpersistedCall::new(call_id, events, Usd::from_nanos(cost), call_record)
            })
            .collect()
    }

    /// Takes every control message waiting.
    fn take_control(&mut self, st: &mut LoopState) {
        loop {
            match self.control.try_recv() {
                Ok(Control::Start(call)) => {
                    self.calls.insert(call.key, Arc::clone(&call));
                    st.batch.starts.push(call);
                }
                Ok(Control::End(end)) => {
                    // Every event of the call was offered before its final record: the record is
                    // written with or after the last of them, never before, so a crash cannot leave a
                    // call `completed` without its events.
                    st.ends.push((st.taken + self.events.len() as u64, *end));
                }
                Ok(Control::Late(event)) => self.resolve(st, *event),
                Ok(Control::Forget(key)) => {
                    // Events of the call sent before this message are in the queue now; forget the call
                    // once they are taken.
                    st.forgets.push((key, st.taken + self.events.len() as u64));
                }
                Ok(Control::Flush(ack)) => {
                    // Everything enqueued before the flush request is in the queue now: taking `len()`
                    // more events (FIFO) takes all of it.
                    st.owed = st.owed.max(st.taken + self.events.len() as u64);
                    st.flushes.push(ack);
                }
                Ok(Control::Shutdown(ack, deadline)) => st.shutdown = Some((ack, deadline)),
                Ok(Control::Alert(alert)) => st.batch.alerts.push(*alert),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    st.control_gone = true;
                    break;
                }
            }
        }
    }

    /// Looks up the event's call. A call's start record is sent before any of its events, so a call not
    /// known yet is found by taking the control messages sent since.
    fn resolve(&mut self, st: &mut LoopState, event: Event) {
        if !self.calls.contains_key(&event.call) {
            self.take_control(st);
        }
        let Some(call) = self.calls.get(&event.call) else {
            // Cannot happen (see above); count it rather than panic.
            Counters::bump(&self.counters.write_errors);
            return;
        };
        let agent = match event.agent() {
            NO_AGENT => None,
            i => call.agent_name(u32::from(i)),
        };
        let unknown =
            (event.entry & UNKNOWN_BIT != 0).then(|| self.unknown.get(event.entry & !UNKNOWN_BIT));
        st.batch.events.push(Resolved {
            call: Arc::clone(call),
            agent,
            unknown,
            measure: event.measure(),
            event,
        });
    }

    fn forget_done(&mut self, st: &mut LoopState) {
        let taken = st.taken;
        let mut i = 0;
        while i < st.ends.len() {
            if st.ends[i].0 <= taken {
                st.batch.ends.push(st.ends.remove(i).1);
            } else {
                i += 1;
            }
        }
        let calls = &mut self.calls;
        st.forgets.retain(|&(key, after)| {
            if taken >= after {
                calls.remove(&key);
                false
            } else {
                true
            }
        });
    }
}

/// The writer's waits between attempts at a failing write: 10 ms doubling to 1 s.
struct WriteBackoff(Backoff);

impl Default for WriteBackoff {
    fn default() -> Self {
        WriteBackoff(Backoff::new(FIRST_BACKOFF, MAX_BACKOFF))
    }
}

/// The writer loop's working state.
#[derive(Default)]
struct LoopState {
    batch: Batch,
    /// Events taken from the queue so far.
    taken: u64,
    /// Pending flushes are answered once `taken` reaches this.
    owed: u64,
    flushes: Vec<Sender<()>>,
    /// Calls to forget once `taken` reaches the number beside them.
    forgets: Vec<(u64, u64)>,
    /// Final records to write once `taken` reaches the number beside them.
    ends: Vec<(u64, CallEnd)>,
    shutdown: Option<(Sender<Vec<UnpersistedCall>>, Instant)>,
    control_gone: bool,
    backoff: WriteBackoff,
    /// When the writer last committed, if it has not truncated the write-ahead log since.
    since_checkpoint: Option<Instant>,
}
