//! # callmeter
//!
//! Exact, non-blocking cost tracking for voice-AI calls.
//!
//! A voice agent pays several providers on every call: telephony per started minute, speech-to-text per
//! second of audio, a language model per token, text-to-speech per character, a payment processor per
//! transaction. callmeter is linked into the agent process and tells you what each call costs **while it
//! runs**: every `track_*` call prices the usage from a [`Catalog`], updates the call's running totals and
//! hands one event to a background thread that writes batches to an embedded SQLite file. The calling
//! thread never waits on I/O.
//!
//! ```
//! use callmeter::{CallInfo, Meter, Outcome, TokenUsage};
//!
//! # let dir = tempfile::tempdir()?;
//! let (meter, guard) = Meter::builder().path(dir.path().join("costs.db")).open()?;
//!
//! let call = meter.start_call(CallInfo::new("CA42").user("user-7").tenant("acme"))?;
//! call.track_duration("twilio", "outbound-us", 300.0)?;          // 5 minutes
//! call.track_stt("deepgram", "nova-2", 300.0)?;                  // 5 minutes of audio
//! call.track_inference("cerebras", "llama3.1-8b", TokenUsage::new(40_000, 10_000))?;
//! call.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?;
//! let summary = call.finalize(Outcome::Completed)?;
//!
//! // $0.070 + $0.0295 + $0.005 + $0.30
//! assert_eq!(summary.total.to_string(), "$0.4045");
//! guard.shutdown()?; // drains the queue, commits, stops the writer
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How it works
//!
//! - **Hot path.** A track call hashes the provider and model, multiplies the quantity by an exact
//!   fraction of nano-dollars, adds the cost to the call's atomic totals and offers one event to a
//!   bounded lock-free queue (`try_send`). It allocates nothing for a known model, takes no lock and makes
//!   no system call.
//! - **Queue policy.** The track call never waits. An event that does not fit (the writer is far
//!   behind, or the database stalls) is counted in [`Stats::dropped`], and its cost, which is already in
//!   the call's totals, is written with the call's final record as one *coalesced* row per category. No
//!   money is lost; only the per-event detail of what did not fit.
//! - **Faults.** A write that fails for now (busy, disk full, read-only) is retried with backoff; a
//!   record SQLite refuses for good is isolated and set aside in table `quarantine`
//!   ([`Stats::quarantined`]); a crashed process's calls are closed as `interrupted` by the next meter
//!   to open the file. Totals are bounded ([`CallCostTracker::MAX_EVENT_COST`](crate::CallCostTracker::MAX_EVENT_COST), [`CallCostTracker::MAX_CALL_COST`](crate::CallCostTracker::MAX_CALL_COST)) and never wrap.
//! - **Writer.** A thread named `callmeter-writer` owns the SQLite connection. It drains the queue in
//!   batches, writes each batch and the affected calls' totals in one transaction (WAL), and answers
//!   [`Meter::flush`]. It sleeps for the poll interval when idle; producers never wake it. Failed writes
//!   are counted ([`Stats::write_errors`]), reported ([`Stats::last_write_error`]) and retried with
//!   backoff.
//! - **Exactness.** Each event's cost is rounded once, to the nano-dollar. A call's total is the sum of
//!   its events, in memory ([`CallSummary`]) and in the database (`calls.total_cost_nanos` is updated in
//!   the same transaction as the events it sums).
//!
//! ## Layout
//!
//! The crate is built in stages, each a module: capture ([`Meter`], [`CallCostTracker`]), control
//! ([`control`]: budgets, limits, quotas, alerts), persist (the writer thread and the SQLite file,
//! internal) and report ([`report`]), over [`pricing`] and [`adapters`]. The root holds the types
//! nearly every user names; the modules hold the rest. The guide's "How callmeter works" chapter ([`guide::architecture`]) has the
//! data flow, the threads and the import rule.
//!
//! ## Prices
//!
//! A [`Catalog`] holds [`ModelPrice`]s: [`Rate`]s per [`UsageKind`] (tokens of every kind, characters,
//! seconds, participant-seconds, requests), billing [`Increment`](crate::pricing::Increment)s applied to the call's cumulative
//! quantity, context-length tiers, subscriptions priced at the active [`SubscriptionTier`](crate::pricing::SubscriptionTier)'s marginal
//! rate, and payment [`FeeRule`](crate::pricing::FeeRule)s with caps and surcharges. Prices are versioned
//! ([`ModelPrice::with_effective_from`]): each event is priced by the version in force when it is tracked, and
//! the database keeps every price it used. Start from [`Catalog::builtin`], override it in code, with a
//! catalog file ([`CatalogBuilder::load_file`]) or from LiteLLM's price database
//! ([`CatalogBuilder::import_litellm`]); [`Catalog::quote`] prices a usage line by line. Model names match
//! across case, provider prefixes, date suffixes and aliases. Telephony can be priced by destination
//! ([`pricing::Destinations`], Twilio's Pricing API imported by
//! [`Destinations::from_twilio`](crate::pricing::Destinations::from_twilio)) and tracked leg by leg
//! with [`CallCostTracker::track_leg`].
//!
//! ## Reconciliation
//!
//! Every figure is an estimate until it is checked against what the providers billed. Their own
//! records ([`adapters::BilledLine`], [`adapters::BilledUsage`]: Twilio's calls and usage records,
//! OpenAI's costs and usage, Anthropic's cost and usage reports, Deepgram's requests and usage,
//! ElevenLabs' character stats, invoice lines as CSV) are stored by a [`Ledger`], idempotently, and
//! [`Reports::reconcile`] sets them beside what callmeter computed: per call, per day and model, or
//! per day, with what does not match.
//!
//! ## Storage
//!
//! Table `calls` (`call_id`, `call_ref`, `user_id`, `tenant_id`, `persona`, `session_kind`, `status`,
//! `failure_reason`, `started_at`, `ended_at`, `total_cost_nanos`, `revenue_nanos`, `event_count`,
//! `segments`, `owner`, `metadata`) and table `cost_events` (`event_id`, `call_id`, `call_ref`, `seq`,
//! `segment`, `created_at`, `category`, `provider`, `model`, `agent`, `quantity`, `unit`, `cost_nanos`,
//! `kind`, `priced`, and token, audio and payment detail columns). Events point to their call by
//! `call_ref`, an integer given in start order, which is what the event index is built on: look a call's
//! events up through it. An event's identity, `event_id` = `call_id#segment#seq@origin` (`origin` is
//! the file's random id), is unique across processes and machines: a call id started again continues
//! its call. Money is INTEGER nano-USD; times
//! are INTEGER milliseconds since the Unix epoch, UTC (`datetime(created_at / 1000, 'unixepoch')` in
//! SQL). Tables `meters` (which meter owns which call) and `quarantine` (records SQLite refused for good)
//! are described in the guide's "Reliability" chapter ([`guide::reliability`]), with what is and is not guaranteed under
//! faults; `quotas`, `billed` and `billed_usage` in its "Storage" section.
//!
//! ## Supported Rust versions
//!
//! The minimum supported Rust version is 1.89 (set by `rusqlite`). It is raised only in a minor release,
//! with a CHANGELOG entry.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod adapters;
mod base;
mod call;
pub mod control;
mod ident;
mod persist;
pub mod pricing;
pub mod report;

// The meter and its calls.
pub use crate::base::clock::{Clock, ManualClock};
pub use crate::base::stats::Stats;
pub use crate::call::guard::MeterGuard;
pub use crate::call::info::{CallInfo, CallSummary, Outcome, Tracked};
pub use crate::call::meter::{Meter, MeterBuilder};
pub use crate::call::reserve::{Refusal, RefusedBy, Reservation, Reserve, Settled};
pub use crate::call::tracker::CallCostTracker;
pub use crate::ident::CallStatus;

// Money and usage.
pub use crate::base::money::{Rounded, Usd};
pub use crate::base::usage::{Category, TokenUsage, Unit, UsageKind};
pub use chrono;
pub use rust_decimal::Decimal;

// Prices, control and reports: the types most users name; the rest is in the modules.
// Each name has this one public path; the modules hold the rest.
pub use crate::control::alert::{Alert, AlertKind, AlertSink};
pub use crate::control::budget::{Budget, Verdict};
pub use crate::control::limits::Limits;
pub use crate::control::quota::Quota;
#[cfg(feature = "webhook")]
pub use crate::control::webhook::{WebhookOptions, WebhookSink};
pub use crate::persist::ledger::{Ledger, Recorded};
pub use crate::pricing::builder::CatalogBuilder;
pub use crate::pricing::catalog::Catalog;
pub use crate::pricing::model::ModelPrice;
pub use crate::pricing::rate::Rate;
pub use crate::report::reports::Reports;

// Errors.
pub use crate::base::error::{Error, Result, UnpersistedCall};

/// The guide: one chapter per concern (the README links each), compiled with the crate, so every
/// example in it runs as a doctest.
pub mod guide {
    #[doc = include_str!("../docs/guide/architecture.md")]
    pub mod architecture {}
    #[doc = include_str!("../docs/guide/pipeline.md")]
    pub mod pipeline {}
    #[doc = include_str!("../docs/guide/prices.md")]
    pub mod prices {}
    #[doc = include_str!("../docs/guide/control.md")]
    pub mod control {}
    #[doc = include_str!("../docs/guide/reports.md")]
    pub mod reports {}
    #[doc = include_str!("../docs/guide/reconciliation.md")]
    pub mod reconciliation {}
    #[doc = include_str!("../docs/guide/storage.md")]
    pub mod storage {}
    #[doc = include_str!("../docs/guide/reliability.md")]
    pub mod reliability {}
    #[doc = include_str!("../docs/guide/fleets.md")]
    pub mod fleets {}
    #[doc = include_str!("../docs/guide/metrics.md")]
    pub mod metrics {}
    #[doc = include_str!("../docs/guide/performance.md")]
    pub mod performance {}
    #[doc = include_str!("../docs/guide/limits.md")]
    pub mod limits {}
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

#[cfg(test)]
mod thread_safety {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_handles_are_send_and_sync() {
        assert_send_sync::<crate::Meter>();
        assert_send_sync::<crate::MeterGuard>();
        assert_send_sync::<crate::CallCostTracker>();
        assert_send_sync::<crate::Catalog>();
        assert_send_sync::<crate::Error>();
    }
}
