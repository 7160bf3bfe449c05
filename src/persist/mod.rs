//! Persist: the writer thread, the SQLite store, rollups, quarantine, ownership.
pub(crate) mod owner;
pub(crate) mod quarantine;
pub(crate) mod rollup;
pub(crate) mod store;
pub(crate) mod unknown;
pub(crate) mod writer;
