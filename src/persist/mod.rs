//! Persist: the writer thread, the SQLite store, rollups, quarantine, ownership.
pub(crate) mod message;
pub(crate) mod owner;
pub(crate) mod quarantine;
pub(crate) mod rollup;
pub(crate) mod sink;
pub(crate) mod store;
pub(crate) mod unknown;
pub(crate) mod writer;
