//! Capture: the meter, call trackers and their running totals.
pub(crate) mod cumulative;
pub(crate) mod info;
pub(crate) mod meter;
pub(crate) mod state;
pub(crate) mod totals;
pub(crate) mod tracker;
