//! Reported totals split into their parts: a detail never larger than its total, milliseconds as
//! seconds.

use crate::base::error::{Error, Result};

/// `total - part`, or a typed error when a detail is larger than the total it is part of.
pub(super) fn part_of(total: u64, part: u64, what: &'static str) -> Result<u64> {
    total.checked_sub(part).ok_or(Error::InvalidQuantity {
        what,
        reason: "a detail of the usage is larger than the total it is part of",
    })
}

/// Whole milliseconds as seconds; `millis` reads them back exactly.
pub(super) fn seconds_of(ms: u64) -> f64 {
    ms as f64 / 1000.0
}
