//! The shared vocabulary.
pub(crate) mod error;
pub(crate) mod money;
pub(crate) mod stats;
pub(crate) mod usage;
