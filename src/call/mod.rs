//! **Capture**: the meter, the calls it tracks, and the hot path.
//!
//! - [`meter`]: [`Meter`](crate::Meter) and its builder; opens the store, starts the writer and the
//!   alert threads, admits and starts calls.
//! - [`info`]: what a call is ([`CallInfo`](crate::CallInfo)) and what it cost
//!   ([`CallSummary`](crate::CallSummary), [`Tracked`](crate::Tracked)).
//! - [`tracker`]: [`CallCostTracker`](crate::CallCostTracker), the handle the pipeline tracks through.
//! - [`off_thread`]: the async forms of the waiting calls, run on a thread of their own.
//! - [`state`]: one call's shared state — its gate, its running totals, pricing and booking one event,
//!   ending the call.
//! - [`totals`], [`cumulative`]: the call's lock-free running cost per catalog entry, and its
//!   cumulative quantity per line priced on the whole.
//!
//! Layer: the top, beside `report`. May import every stage below it (`persist` for the queue's
//! messages, `control` for budgets and limits, `pricing`, `ident`, `base`); nothing imports it.
//!
//! # The hot path's atomics: one ordering rule
//!
//! A track call takes no lock. Its shared state is atomics of three kinds, each with one ordering:
//!
//! 1. **Running sums** (a slot's cost, a cumulative quantity, per-call dropped counts and revenue, the
//!    booked cost, an agent's total, a user's or tenant's period spend): `Relaxed`. Each change is one
//!    read-modify-write, so no add is ever lost and the sums are exact; none of them publishes other
//!    memory. A sum read while track calls run may miss an add in flight, as any snapshot does.
//! 2. **Claim-once keys** (which catalog entry a [`totals`] slot holds, which line a [`cumulative`]
//!    slot holds): claimed with `compare_exchange(AcqRel, Acquire)`, read with `Acquire`. A slot is
//!    claimed only by a thread that saw every slot before it taken, and a key never goes back to
//!    empty; acquiring the keys carries that order to every reader, so the claimed slots are seen as
//!    a prefix (also on hardware that is not multi-copy atomic) and a reader may stop at the first
//!    empty slot.
//! 3. **The gate** ([`state`]): the only atomic that orders other memory. A track call enters with
//!    `AcqRel` and leaves with `Release`; `finalize` closes it with `AcqRel` and waits for the track
//!    calls in progress with `Acquire` loads. Once it sees none, every sum they changed is visible to
//!    it, which is why the sums themselves can be `Relaxed`.
//!
//! The [`Stats`](crate::Stats) counters are not the hot path's own: they follow `base::stats`'s rule.

pub(crate) mod cumulative;
pub(crate) mod guard;
pub(crate) mod info;
pub(crate) mod meter;
pub(crate) mod off_thread;
pub(crate) mod reserve;
pub(crate) mod shared;
pub(crate) mod state;
pub(crate) mod totals;
pub(crate) mod tracker;
