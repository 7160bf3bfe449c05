//! A call's identity and status: the words every stage uses to speak of one call.
//!
//! Layer: above `base` and `pricing` (an identity carries the catalog its call is priced by), below
//! `control`, `persist` and `call`, which all speak of calls.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use once_cell::race::OnceBox;

use crate::base::clock::TimeSource;
use crate::pricing::Catalog;

/// A call's identity, shared with the writer by every event of the call.
#[derive(Debug)]
pub(crate) struct CallIdent {
    /// The meter-local key events carry instead of a reference to this record.
    pub(crate) key: u64,
    pub(crate) call_id: Box<str>,
    pub(crate) user_id: Option<Box<str>>,
    pub(crate) tenant_id: Option<Box<str>>,
    pub(crate) persona: Option<Box<str>>,
    pub(crate) session_kind: Option<Box<str>>,
    pub(crate) metadata: Option<Box<str>>,
    pub(crate) started_at_ms: i64,
    /// This start of the call (a *segment*), unique among the starts of the same call id in every
    /// process (see `MeterShared::segment_of`). An event's identity is (call id, segment, sequence
    /// number), so a call id started again never collides with what an earlier start wrote.
    pub(crate) segment: i64,
    /// The coarse monotonic clock at `started_at_ms`: events are stamped from it (see [`CallIdent::now_ms`]).
    pub(crate) started: coarsetime::Instant,
    /// The meter's clock when it was given one; events are then stamped from it instead.
    pub(crate) clock: TimeSource,
    pub(crate) catalog: Arc<Catalog>,
    /// Agents of a multi-agent session; an event names its agent by index into this list.
    /// Made by the first agent (most calls have none), without a lock.
    pub(crate) agents: OnceBox<Mutex<Vec<Arc<Agent>>>>,
    /// The call's `call_ref` in the database once a transaction that assigned it committed; 0 before.
    /// Only the writer thread reads or writes it.
    pub(crate) call_ref: AtomicI64,
    /// Set by the writer when the call's id was already in the database, or one of its events collided
    /// with a row already there: its totals are then recounted from its rows instead of added to.
    pub(crate) conflicted: AtomicBool,
}

impl CallIdent {
    /// The name of the agent with this index.
    pub(crate) fn agent_name(&self, index: u32) -> Option<Arc<str>> {
        let agents = crate::base::sync::lock(self.agents.get()?);
        agents.get(index as usize).map(|a| Arc::clone(&a.name))
    }

    /// Wall-clock milliseconds now, read cheaply: the call's start time plus the coarse monotonic clock's
    /// elapsed time (no system call; resolution one kernel tick, 1 to 4 ms). The wall clock itself costs
    /// tens of nanoseconds per read on some virtual machines, too much for the hot path.
    pub(crate) fn now_ms(&self) -> i64 {
        self.started_at_ms
            .saturating_add(i64::from(self.elapsed_ms()))
    }

    /// Milliseconds since the call started, read the same way (saturating after 49 days; 0 if a
    /// given clock went back before the start).
    pub(crate) fn elapsed_ms(&self) -> u32 {
        let elapsed = match self.clock.custom() {
            None => coarsetime::Instant::now()
                .duration_since(self.started)
                .as_millis(),
            Some(clock) => {
                u64::try_from(clock.now_ms().saturating_sub(self.started_at_ms)).unwrap_or(0)
            }
        };
        u32::try_from(elapsed).unwrap_or(u32::MAX)
    }
}
/// A call's status, as stored in the `calls.status` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallStatus {
    /// Still running.
    Active,
    /// Finalized as completed.
    Completed,
    /// Finalized as failed.
    Failed,
    /// Its tracker was dropped without `finalize`.
    Abandoned,
    /// The process tracking it ended without finalizing it (a crash): closed by the next meter that
    /// opened the database, with the costs that were written.
    Interrupted,
}

impl CallStatus {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallStatus::Active => "active",
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
            CallStatus::Abandoned => "abandoned",
            CallStatus::Interrupted => "interrupted",
        }
    }
}

impl fmt::Display for CallStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
#[derive(Debug)]
pub(crate) struct Agent {
    /// Index in the call's agent list as events carry it; [`NO_AGENT`] past the 32 767th agent.
    pub(crate) index: u16,
    pub(crate) name: Arc<str>,
    pub(crate) total: AtomicI64,
}
