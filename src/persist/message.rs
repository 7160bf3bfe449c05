//! The messages between the hot path and the writer: the 64-byte [`Event`] a track call enqueues, the
//! control messages (a call's start and end, flushes, shutdown, alerts to store), and the [`Batch`] one
//! transaction writes.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;

use crate::base::error::UnpersistedCall;
use crate::base::usage::{Category, Measure, TokenUsage, UsageKind};
use crate::control::alert::Alert;
use crate::ident::{CallIdent, CallStatus};

/// `Event::entry` with this bit set indexes the meter's unknown models instead of the catalog.
pub(crate) const UNKNOWN_BIT: u32 = 1 << 31;
/// The agent index of an event tracked without an agent (and of a call's agents past the 32 767th).
pub(crate) const NO_AGENT: u16 = 0x7fff;
/// `Event::agent`'s high bit: the event records an abandoned reservation at its estimate.
const ESTIMATED: u16 = 0x8000;

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
    /// The agent's index in the low 15 bits ([`NO_AGENT`] for none), [`ESTIMATED`] above.
    agent: u16,
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
    /// An abandoned reservation recorded at its estimate.
    pub(crate) estimated: bool,
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
            Measure::Pair([(_, i), (_, o)]) => {
                q[0] = narrow(*i);
                q[1] = narrow(*o);
                SHAPE_REALTIME_AUDIO
            }
            Measure::Payment(amount, flags) => {
                [q[0], q[1]] = split(*amount as u64);
                q[2] = u32::from(*flags);
                SHAPE_PAYMENT
            }
            Measure::Quantity(kind, n) => {
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
            agent: (head.agent & NO_AGENT) | if head.estimated { ESTIMATED } else { 0 },
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
            SHAPE_REALTIME_AUDIO => Measure::Pair([
                (UsageKind::AudioInputSeconds, u64::from(q[0])),
                (UsageKind::AudioOutputSeconds, u64::from(q[1])),
            ]),
            SHAPE_PAYMENT => Measure::Payment(join(q[0], q[1]) as i64, q[2] as u8),
            other => {
                let kind = UsageKind::ALL
                    .get(usize::from(other.saturating_sub(SHAPE_ONE)))
                    .copied()
                    .unwrap_or(UsageKind::Characters);
                Measure::Quantity(kind, join(q[0], q[1]))
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

    /// Whether it records an abandoned reservation at its estimate.
    pub(crate) fn estimated(&self) -> bool {
        self.agent & ESTIMATED != 0
    }

    /// The agent's index in its call, or [`NO_AGENT`].
    pub(crate) fn agent(&self) -> u16 {
        self.agent & NO_AGENT
    }
}

/// An event with its call, agent and names looked up, ready to be written.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) call: Arc<CallIdent>,
    pub(crate) agent: Option<Arc<str>>,
    pub(crate) unknown: Option<(Arc<str>, Arc<str>)>,
    pub(crate) event: Event,
    /// The event's quantities, decoded once from its packed form for every reader on the writer
    /// (the store's row, the rollups, the sinks, the quarantine).
    pub(crate) measure: Measure,
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
        match self.measure {
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
    pub(crate) fn is_empty(&self) -> bool {
        self.starts.is_empty()
            && self.events.is_empty()
            && self.ends.is_empty()
            && self.alerts.is_empty()
    }

    pub(crate) fn clear(&mut self) {
        self.starts.clear();
        self.events.clear();
        self.ends.clear();
        self.alerts.clear();
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
    pub(crate) fn into_records(self) -> Vec<Record> {
        let mut records = Vec::with_capacity(
            self.starts.len() + self.events.len() + self.ends.len() + self.alerts.len(),
        );
        records.extend(self.starts.into_iter().map(Record::Start));
        records.extend(self.events.into_iter().map(Record::Event));
        records.extend(self.ends.into_iter().map(Record::End));
        records.extend(self.alerts.into_iter().map(Record::Alert));
        records
    }

    pub(crate) fn of(records: &[Record]) -> Batch {
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
            estimated: true,
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
            Measure::Pair([
                (UsageKind::AudioInputSeconds, 86_400_000),
                (UsageKind::AudioOutputSeconds, 1),
            ]),
            Measure::Payment(4_990_000_000, 3),
            Measure::Quantity(UsageKind::ParticipantSeconds, 8_640_000_000_000),
            Measure::Quantity(UsageKind::Characters, 412),
        ];
        for (m, c) in measures.iter().zip(Category::ALL) {
            let e = Event::new(head(c), m);
            assert_eq!(e.measure(), *m);
            assert_eq!(e.category(), c);
            assert!(e.priced() && e.late() && e.estimated());
            assert_eq!(e.agent(), 2);
        }
        let mut plain = head(Category::Tts);
        plain.estimated = false;
        plain.agent = NO_AGENT;
        let e = Event::new(plain, &measures[0]);
        assert!(!e.estimated());
        assert_eq!(e.agent(), NO_AGENT);
    }
}
