//! **Persist**: from the queue to the SQLite file, and on to whatever follows it.
//!
//! - [`message`]: what the hot path sends — the 64-byte event, the control messages, the batch one
//!   transaction writes.
//! - [`writer`]: the `callmeter-writer` thread: drains the queues in batches, commits each batch in one
//!   transaction, retries what fails for now, isolates and quarantines what the database refuses for
//!   good, answers flushes and shutdown.
//! - [`store`]: the schema, its migrations, and the statements of one transaction.
//! - [`rollup`]: the per-user, per-tenant and platform sums kept in the same transaction.
//! - [`quarantine`]: records the database refused, set aside with the reason.
//! - [`outbox`]: the file as a fleet's outbox — its origin (part of every `event_id`), the log of call
//!   changes, and what has been shipped.
//! - [`owner`]: which meter owns which call; a crashed meter's calls are closed as `interrupted`.
//! - [`unknown`]: the names of models the catalog does not know, interned for the queue.
//! - `ship` (feature `postgres`): the `callmeter-shipper` thread, which sends what the writer committed
//!   on to one PostgreSQL database for the whole fleet, exactly once.
//! - `metrics` (feature `metrics`): the counters and the cost by category and provider, through the
//!   `metrics` facade, recorded by the writer.
//! - [`ledger`]: what providers billed, imported beside what the writer committed (`billed`), for
//!   reports to reconcile.
//! - [`read`]: the database read back for reports — a file or a fleet database, every query reports
//!   run, answered as plain rows.
//! - [`recall`]: what a meter reads back from its file when it opens, for the control stage.
//! - [`sink`]: the seam after a commit — quota and threshold alerts, log events, and any later
//!   destination of committed batches.
//!
//! Layer: imports `control` (alerts and quotas are raised from committed data), `ident`, `pricing`,
//! `adapters` (the billed lines a ledger stores) and `base`; never `call` or `report`.

pub(crate) mod failure;
pub(crate) mod ledger;
pub(crate) mod message;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod outbox;
pub(crate) mod owner;
pub(crate) mod quarantine;
pub(crate) mod read;
pub(crate) mod recall;
pub(crate) mod rollup;
pub(crate) mod rows;
pub(crate) mod schema;
#[cfg(feature = "postgres")]
pub(crate) mod ship;
pub(crate) mod sink;
pub(crate) mod store;
pub(crate) mod unknown;
pub(crate) mod writer;
