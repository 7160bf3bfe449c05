//! **Control**: what a call, a user, a tenant or the platform may spend, and who hears about it.
//!
//! - [`Budget`](crate::Budget) — one call's limits (cost, duration), checked on every track call; the
//!   [`Verdict`](crate::Verdict) tells the pipeline to go on, to wrap up, or to stop.
//! - [`Limits`](crate::Limits) — a user's or a tenant's daily and monthly spend and minutes, checked when a call is
//!   admitted ([`Meter::admit`](crate::Meter::admit)) and on every track call.
//! - [`Quota`] — a provider's allowance (dollars or units a month), counted from what the writer
//!   committed.
//! - [`Alert`]s — raised when a threshold is crossed, delivered to [`AlertSink`](crate::AlertSink)s on a thread of their
//!   own and stored in the database.
//!
//! Layer: imports `base`, `pricing` and the call's identity (`ident`); never the writer, the store
//! or the hot path above it. The alerts it raises reach the database through a function the meter
//! hands it.

pub(crate) mod alert;
pub(crate) mod budget;
pub(crate) mod limits;
pub(crate) mod quota;
#[cfg(feature = "webhook")]
pub(crate) mod webhook;

pub use alert::{AlertThresholds, AlertUsage, LogSink};
pub use limits::{Admission, FleetLimits, LimitStatus, Period, SubjectKind};

// At the crate root (one public path per name); named here for the crate's own paths.
pub(crate) use alert::{Alert, AlertKind};
pub(crate) use quota::Quota;
