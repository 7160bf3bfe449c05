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

use crate::control::alert::{Alert, AlertMsg};
use crate::control::quota::Watch;
use crate::error::UnpersistedCall;
use crate::ident::{CallIdent, CallStatus};
use crate::money::Usd;
use crate::persist::quarantine::Quarantined;
use crate::persist::store::{Store, Written};
use crate::persist::unknown::UnknownModels;
use crate::stats::Counters;
use crate::usage::{Category, Measure, TokenUsage, UsageKind};

/// `Event::entry` with this bit set indexes the meter's unknown models instead of the catalog.
pub(crate) const UNKNOWN_BIT: u32 = 1 << 31;
/// `Event::agent` of an event tracked without an agent.
pub(crate) const NO_AGENT: u16 = u16::MAX;

const PRICED: u8 = 1 << 4;
const LATE: u8 = 1 << 5;
const CATEGORY_BITS: u8 = 0x0f;
/// The two high bits of `flags` hold bits 7 and 8 of a token event's kind mask.
const MASK_HIGH_SHIFT: u32 = 6;

/// `shape` of a token event: this bit, and the low seven bits of the mask of non-zero token kinds.
const SHAPE_TOKENS: u8 = 0x80;
const SHAPE_REALTIME_AUDIO: u8 = 1;
const SHAPE_PAYMENT: u8 = 2;
const SHAPE_ONE: u8 = 16;

/// One priced usage on its way to the database: 64 bytes aligned to a 64-byte cache line, so that
/// a queue slot is exactly two lines (the channel's stamp, then the event) and no two slots share a line.
/// Copying events into the queue and the writer reading them out moves cache lines between two cores;
/// measured with `benches/hot_path.rs`, a slot straddling lines shared with its neighbours cost 20 ns more
/// per track call.
///
/// It names its call by key and its model by catalog index, not by reference: sharing a reference count
/// with the writer would bounce yet another cache line on every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(align(64))]
pub(crate) struct Event {
    pub(crate) call: u64,
    pub(crate) cost: i64,
    /// The quantities; a token event keeps only its non-zero kinds, in kind order (see `shape`).
    quantities: [u32; 8],
    pub(crate) seq: u32,
    /// Milliseconds since the call started.
    pub(crate) at: u32,
    /// Catalog entry, or [`UNKNOWN_BIT`] | index of an unknown provider and model.
    pub(crate) entry: u32,
    pub(crate) agent: u16,
    shape: u8,
    /// Category in the low four bits, then [`PRICED`], [`LATE`] and two bits of a token mask.
    flags: u8,
}

fn split(v: u64) -> [u32; 2] {
    [v as u32, (v >> 32) as u32]
}

fn join(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}

/// Quantities fit: tokens and characters are at most 10^9 per track call (< 2^32), milliseconds at most
/// 8.64 × 10^7; the wide ones (a one-kind quantity, a payment) are split in two words. A token usage has
/// at most eight non-zero kinds (checked when it is tracked).
fn narrow(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// What an event carries besides its measure.
pub(crate) struct EventHead {
    pub(crate) call: u64,
    pub(crate) cost: i64,
    pub(crate) seq: u32,
    pub(crate) at: u32,
    pub(crate) entry: u32,
    pub(crate) agent: u16,
    pub(crate) category: Category,
    pub(crate) priced: bool,
    pub(crate) late: bool,
}

impl Event {
    pub(crate) fn new(head: EventHead, measure: &Measure) -> Self {
        let mut q = [0_u32; 8];
        let mut mask_high = 0_u8;
        let shape = match measure {
            Measure::Tokens(t) => {
                let mut mask = 0_u16;
                let mut slots = q.iter_mut();
                for (i, (_, n)) in t.parts().into_iter().enumerate() {
                    if n > 0
                        && let Some(slot) = slots.next()
                    {
                        *slot = narrow(n);
                        mask |= 1 << i;
                    }
                }
                mask_high = (mask >> 7) as u8;
                SHAPE_TOKENS | (mask as u8 & 0x7f)
            }
            Measure::Two([(_, i), (_, o)]) => {
                q[0] = narrow(*i);
                q[1] = narrow(*o);
                SHAPE_REALTIME_AUDIO
            }
            Measure::Payment(amount, flags) => {
                [q[0], q[1]] = split(*amount as u64);
                q[2] = u32::from(*flags);
                SHAPE_PAYMENT
            }
            Measure::One(kind, n) => {
                [q[0], q[1]] = split(*n);
                SHAPE_ONE + kind.index() as u8
            }
        };
        let mut flags =
            (head.category.index() as u8 & CATEGORY_BITS) | (mask_high << MASK_HIGH_SHIFT);
        if head.priced {
            flags |= PRICED;
        }
        if head.late {
            flags |= LATE;
        }
        Event {
            call: head.call,
            cost: head.cost,
            quantities: q,
            seq: head.seq,
            at: head.at,
            entry: head.entry,
            agent: head.agent,
            shape,
            flags,
        }
    }

    /// The measure it was made from.
    pub(crate) fn measure(&self) -> Measure {
        let q = &self.quantities;
        match self.shape {
            shape if shape & SHAPE_TOKENS != 0 => {
                let mask =
                    u16::from(shape & 0x7f) | (u16::from(self.flags >> MASK_HIGH_SHIFT) << 7);
                let mut parts = [0_u64; 9];
                let mut slots = q.iter();
                for (i, part) in parts.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *part = slots.next().map_or(0, |&v| u64::from(v));
                    }
                }
                let [
                    input,
                    cached,
                    write,
                    write_1h,
                    output,
                    reasoning,
                    audio_in,
                    cached_audio,
                    audio_out,
                ] = parts;
                Measure::Tokens(
                    TokenUsage::new(input, output)
                        .with_cached_input(cached)
                        .with_cache_write(write)
                        .with_cache_write_1h(write_1h)
                        .with_reasoning(reasoning)
                        .with_audio(audio_in, audio_out)
                        .with_cached_audio_input(cached_audio),
                )
            }
            SHAPE_REALTIME_AUDIO => Measure::Two([
                (UsageKind::AudioInputSeconds, u64::from(q[0])),
                (UsageKind::AudioOutputSeconds, u64::from(q[1])),
            ]),
            SHAPE_PAYMENT => Measure::Payment(join(q[0], q[1]) as i64, q[2] as u8),
            other => {
                let kind = UsageKind::ALL
                    .get(usize::from(other.saturating_sub(SHAPE_ONE)))
                    .copied()
                    .unwrap_or(UsageKind::Characters);
                Measure::One(kind, join(q[0], q[1]))
            }
        }
    }

    pub(crate) fn category(&self) -> Category {
        Category::ALL
            .get(usize::from(self.flags & CATEGORY_BITS))
            .copied()
            .unwrap_or(Category::Other)
    }

    pub(crate) fn priced(&self) -> bool {
        self.flags & PRICED != 0
    }

    pub(crate) fn late(&self) -> bool {
        self.flags & LATE != 0
    }
}

/// An event with its call, agent and names looked up, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) call: Arc<CallIdent>,
    pub(crate) agent: Option<Arc<str>>,
    unknown: Option<(Arc<str>, Arc<str>)>,
    pub(crate) event: Event,
}

impl Resolved {
    /// Provider and model.
    pub(crate) fn names(&self) -> (&str, &str) {
        match &self.unknown {
            Some((p, m)) => (p, m),
            None => {
                let p = self.call.catalog.entry_price(self.event.entry);
                (p.provider(), p.model())
            }
        }
    }

    /// The payment amount in nano-dollars, or zero.
    pub(crate) fn amount(&self) -> i64 {
        match self.event.measure() {
            Measure::Payment(a, _) => a,
            _ => 0,
        }
    }

    /// When the event was made, in milliseconds since the Unix epoch.
    pub(crate) fn at_ms(&self) -> i64 {
        self.call.started_at_ms + i64::from(self.event.at)
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
#[derive(Debug, Clone)]
pub(crate) struct CallEnd {
    pub(crate) call: Arc<CallIdent>,
    pub(crate) status: CallStatus,
    pub(crate) reason: Option<String>,
    pub(crate) ended_at_ms: i64,
    pub(crate) coalesced: Vec<Coalesced>,
    /// The call's total, in nano-dollars (for the log line).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) total: i64,
}

/// Messages that must never be refused; the queue carrying them is unbounded.
pub(crate) enum Control {
    Start(Arc<CallIdent>),
    End(Box<CallEnd>),
    Late(Box<Event>),
    /// Every handle of the call is gone: no event of it is sent after this one.
    Forget(u64),
    Flush(Sender<()>),
    /// Drain and stop; give up writing at the deadline and answer what could not be written.
    Shutdown(Sender<Vec<UnpersistedCall>>, Instant),
    /// An alert to store.
    Alert(Box<Alert>),
}

/// What one transaction writes.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) starts: Vec<Arc<CallIdent>>,
    pub(crate) events: Vec<Resolved>,
    pub(crate) ends: Vec<CallEnd>,
    pub(crate) alerts: Vec<Alert>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.starts.is_empty()
            && self.events.is_empty()
            && self.ends.is_empty()
            && self.alerts.is_empty()
    }

    fn clear(&mut self) {
        self.starts.clear();
        self.events.clear();
        self.ends.clear();
        self.alerts.clear();
    }
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The writer truncates the write-ahead log when it has been idle this long since its last commit.
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);

/// What a failed write means for the records in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// The database could not take the batch now (busy, locked, disk full, I/O, read-only): retry the
    /// same records later, with backoff.
    Transient,
    /// The database refuses something in the batch for good (a constraint, an overflow, a value too
    /// big): retrying the same records cannot help; find the records and set them aside.
    Permanent,
}

impl Failure {
    fn of(e: &rusqlite::Error) -> Failure {
        use rusqlite::ErrorCode::{
            ConstraintViolation, ParameterOutOfRange, TooBig, TypeMismatch, Unknown,
        };
        match e.sqlite_error_code() {
            // `Unknown` is SQLITE_ERROR: an SQL error, or an integer overflow in SUM().
            Some(ConstraintViolation | TooBig | TypeMismatch | ParameterOutOfRange | Unknown) => {
                Failure::Permanent
            }
            Some(_) => Failure::Transient,
            // An error of rusqlite's own (a value it cannot convert): the same records fail again.
            None => Failure::Permanent,
        }
    }
}

/// One record of a batch, for isolating the ones the database refuses.
#[derive(Clone)]
pub(crate) enum Record {
    Start(Arc<CallIdent>),
    Event(Resolved),
    End(CallEnd),
    Alert(Alert),
}

impl Batch {
    /// The records in the order a transaction writes them.
    fn into_records(self) -> Vec<Record> {
        let mut records = Vec::with_capacity(
            self.starts.len() + self.events.len() + self.ends.len() + self.alerts.len(),
        );
        records.extend(self.starts.into_iter().map(Record::Start));
        records.extend(self.events.into_iter().map(Record::Event));
        records.extend(self.ends.into_iter().map(Record::End));
        records.extend(self.alerts.into_iter().map(Record::Alert));
        records
    }

    fn of(records: &[Record]) -> Batch {
        let mut batch = Batch::default();
        for r in records {
            match r {
                Record::Start(c) => batch.starts.push(Arc::clone(c)),
                Record::Event(e) => batch.events.push(e.clone()),
                Record::End(e) => batch.ends.push(e.clone()),
                Record::Alert(a) => batch.alerts.push(a.clone()),
            }
        }
        batch
    }
}

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

pub(crate) struct Writer {
    store: Store,
    /// Quotas and platform cost thresholds, checked after each commit.
    watch: Watch,
    alerts: Sender<AlertMsg>,
    /// Calls whose events may still arrive, by key.
    calls: FxHashMap<u64, Arc<CallIdent>>,
    unknown: Arc<UnknownModels>,
    events: Receiver<Event>,
    control: Receiver<Control>,
    counters: Arc<Counters>,
    config: WriterConfig,
}

impl Writer {
    pub(crate) fn new(
        store: Store,
        watch: Watch,
        queues: WriterQueues,
        counters: Arc<Counters>,
        unknown: Arc<UnknownModels>,
        config: WriterConfig,
    ) -> Self {
        Writer {
            store,
            watch,
            alerts: queues.alerts,
            unknown,
            calls: FxHashMap::default(),
            events: queues.events,
            control: queues.control,
            counters,
            config,
        }
    }

    pub(crate) fn run(mut self) {
        let mut st = LoopState::default();
        loop {
            self.take_control(&mut st);
            while st.batch.events.len() < self.config.batch_size {
                match self.events.try_recv() {
                    Ok(event) => {
                        st.taken += 1;
                        self.resolve(&mut st, event);
                    }
                    Err(_) => break,
                }
            }
            self.forget_done(&mut st);
            let worked = !st.batch.is_empty();
            if worked {
                if let Err(e) = self.commit(&mut st) {
                    if self.back_off(&mut st, &e).is_break() {
                        return;
                    }
                    continue;
                }
                st.backoff = Duration::ZERO;
                st.since_checkpoint = Some(Instant::now());
            }
            if st.taken >= st.owed {
                for ack in st.flushes.drain(..) {
                    let _ = ack.send(());
                }
            }
            if st.shutdown.is_some() || st.control_gone {
                if self.events.is_empty()
                    && self.control.is_empty()
                    && st.batch.is_empty()
                    && st.ends.is_empty()
                {
                    if let Some((ack, _)) = st.shutdown.take() {
                        let _ = ack.send(Vec::new());
                    }
                    return;
                }
                continue;
            }
            if !worked {
                if st
                    .since_checkpoint
                    .is_some_and(|t| t.elapsed() >= IDLE_CHECKPOINT)
                    && self.store.checkpoint().is_ok()
                {
                    st.since_checkpoint = None;
                }
                std::thread::park_timeout(self.config.poll);
            }
        }
    }

    /// Writes the batch: whole in one transaction, or, when the database refuses something in it for
    /// good, record by record ranges until the refused records are found and set aside (see
    /// [`isolate`](Self::isolate)). An error left is transient: the batch (what is left of it) is kept
    /// for the next attempt.
    fn commit(&mut self, st: &mut LoopState) -> rusqlite::Result<()> {
        match self.store.write(&st.batch) {
            Ok(written) => {
                self.committed(&st.batch, written);
                st.batch.clear();
                Ok(())
            }
            Err(e) if Failure::of(&e) == Failure::Permanent => self.isolate(st),
            Err(e) => Err(e),
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
            let failure = match self.store.write(&part) {
                Ok(written) => {
                    self.committed(&part, written);
                    continue;
                }
                Err(e) => (Failure::of(&e), e),
            };
            let outcome = match failure {
                (Failure::Permanent, e) if hi - lo == 1 => self.quarantine(&records[lo], &e),
                (Failure::Permanent, _) => {
                    let mid = lo + (hi - lo) / 2;
                    todo.push((mid, hi));
                    todo.push((lo, mid));
                    Ok(())
                }
                (Failure::Transient, e) => Err(e),
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
        let q = Quarantined::of(record, &reason.to_string());
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

    /// Counts a committed batch, and raises the quota and platform alerts its events cross.
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
        if let Ok(mut last) = self.counters.last_write_error.lock() {
            *last = None;
        }
        #[cfg(feature = "tracing")]
        log_batch(batch);
        for alert in self.watch.observe(&batch.events) {
            if self
                .alerts
                .try_send(AlertMsg::Ready(Box::new(alert)))
                .is_err()
            {
                Counters::bump(&self.counters.alerts_dropped);
            }
        }
    }

    /// After a transient failure: counts it, frees the log's space after a "disk full", and waits
    /// before the next attempt, or gives up at the shutdown deadline (answering what is unwritten).
    fn back_off(&mut self, st: &mut LoopState, e: &rusqlite::Error) -> ControlFlow<()> {
        // A shutdown request may have come while the write was failing.
        self.take_control(st);
        Counters::bump(&self.counters.write_errors);
        if let Ok(mut last) = self.counters.last_write_error.lock() {
            *last = Some(e.to_string());
        }
        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
            // The write-ahead log may hold most of the disk: move it into the database and truncate it.
            let _ = self.store.checkpoint();
        }
        st.backoff = (st.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
        let mut wait = st.backoff;
        if let Some((_, deadline)) = &st.shutdown {
            let left = deadline.saturating_duration_since(Instant::now());
            if left <= st.backoff {
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
        let agent = match event.agent {
            NO_AGENT => None,
            i => call.agent_name(u32::from(i)),
        };
        let unknown =
            (event.entry & UNKNOWN_BIT != 0).then(|| self.unknown.get(event.entry & !UNKNOWN_BIT));
        st.batch.events.push(Resolved {
            call: Arc::clone(call),
            agent,
            unknown,
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

/// One `debug` event per priced event and one `info` event per ended call, from the writer thread
/// (target `callmeter::event`, `callmeter::call`).
#[cfg(feature = "tracing")]
fn log_batch(batch: &Batch) {
    for r in &batch.events {
        let (provider, model) = r.names();
        let (quantity, unit) = r.event.measure().headline();
        tracing::debug!(
            target: "callmeter::event",
            call = %r.call.call_id,
            seq = r.event.seq,
            "{} {quantity} {unit}s = {} ({provider} {model})",
            r.event.category(),
            crate::money::Usd::from_nanos(r.event.cost),
        );
    }
    for end in &batch.ends {
        tracing::info!(
            target: "callmeter::call",
            call = %end.call.call_id,
            status = end.status.as_str(),
            "call {} {}: {}",
            end.call.call_id,
            end.status.as_str(),
            crate::money::Usd::from_nanos(end.total),
        );
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
    backoff: Duration,
    /// When the writer last committed, if it has not truncated the write-ahead log since.
    since_checkpoint: Option<Instant>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Event>(), 64);
        assert_eq!(std::mem::align_of::<Event>(), 64);
    }

    fn head(category: Category) -> EventHead {
        EventHead {
            call: 7,
            cost: -3,
            seq: 9,
            at: 11,
            entry: 13,
            agent: 2,
            category,
            priced: true,
            late: true,
        }
    }

    #[test]
    fn events_unpack_to_what_was_packed() {
        let measures = [
            Measure::Tokens(
                TokenUsage::new(1_000_000_000, 2)
                    .with_cached_input(3)
                    .with_cache_write(4)
                    .with_audio(5, 6),
            ),
            Measure::Tokens(
                TokenUsage::new(0, 1)
                    .with_cache_write(2)
                    .with_cache_write_1h(3)
                    .with_reasoning(4)
                    .with_audio(5, 6)
                    .with_cached_audio_input(7)
                    .with_cached_input(8),
            ),
            Measure::Two([
                (UsageKind::AudioInputSeconds, 86_400_000),
                (UsageKind::AudioOutputSeconds, 1),
            ]),
            Measure::Payment(4_990_000_000, 3),
            Measure::One(UsageKind::ParticipantSeconds, 8_640_000_000_000),
            Measure::One(UsageKind::Characters, 412),
        ];
        for (m, c) in measures.iter().zip(Category::ALL) {
            let e = Event::new(head(c), m);
            assert_eq!(e.measure(), *m);
            assert_eq!(e.category(), c);
            assert!(e.priced() && e.late());
        }
    }
}
