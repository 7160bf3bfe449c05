//! **The shared vocabulary**: the words every stage speaks, below all of them.
//!
//! - [`error`]: [`Error`](crate::Error) and [`Result`](crate::Result).
//! - [`money`]: [`Usd`](crate::Usd), nano-dollar arithmetic and the bounds on totals.
//! - [`usage`]: what is tracked ([`UsageKind`](crate::UsageKind), [`TokenUsage`](crate::TokenUsage),
//!   [`Category`](crate::Category), [`Unit`](crate::Unit)) and the quantity an event carries.
//! - [`clock`]: where a meter reads the time ([`Clock`](crate::Clock), [`ManualClock`](crate::ManualClock)).
//! - [`stats`]: the meter's counters and their snapshot, [`Stats`](crate::Stats).
//! - [`sync`]: locks that outlive a panic; [`backoff`]: the waits between retries.
//!
//! Layer: the bottom. Imports nothing of the crate outside this folder.

pub(crate) mod backoff;
pub(crate) mod checked;
pub(crate) mod clock;
pub(crate) mod error;
pub(crate) mod money;
pub(crate) mod stats;
pub(crate) mod sync;
pub(crate) mod usage;
