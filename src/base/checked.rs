//! The base vocabulary's conversions that can fail, and so answer an [`Error`]: amounts to the
//! nano-dollars every stored amount is and from text, usage names from text, and quantities checked
//! into what an event carries. They live apart from the types (`money.rs`, `usage.rs`), which the
//! error type itself names, so that no two files of `base` import each other.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::base::error::{Error, Result};
use crate::base::money::{NANO_SCALE, Usd};
use crate::base::usage::{
    Category, MAX_CHARACTERS_PER_TRACK, MAX_SECONDS_PER_TRACK, MAX_TOKEN_KINDS,
    MAX_TOKENS_PER_TRACK, Measure, TokenUsage, Unit, UsageKind,
};

impl Usd {
    /// The amount in nano-dollars, rounded half to even where it has more than nine decimal places.
    ///
    /// # Errors
    ///
    /// [`Error::AmountOutOfRange`] when the amount does not fit in an `i64` of nano-dollars
    /// (about ±9.2 billion dollars).
    pub fn to_nanos(self) -> Result<i64> {
        let rounded = self
            .as_decimal()
            .round_dp_with_strategy(NANO_SCALE, RoundingStrategy::MidpointNearestEven);
        let shift = NANO_SCALE - rounded.scale();
        rounded
            .mantissa()
            .checked_mul(10_i128.pow(shift))
            .and_then(|n| i64::try_from(n).ok())
            .ok_or(Error::AmountOutOfRange)
    }
}

impl FromStr for Usd {
    type Err = Error;

    /// Parses a plain decimal number of dollars (`"0.014"`, `"4.99"`); a leading `$` is accepted.
    fn from_str(s: &str) -> Result<Self> {
        let digits = s.trim().strip_prefix('$').unwrap_or(s.trim());
        Decimal::from_str_exact(digits)
            .map(Usd::new)
            .map_err(|_| Error::InvalidAmount {
                input: s.to_owned(),
            })
    }
}

impl FromStr for Category {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownName {
                what: "category",
                name: s.to_owned(),
            })
    }
}
impl FromStr for Unit {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Unit::ALL
            .into_iter()
            .find(|u| u.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownName {
                what: "unit",
                name: s.to_owned(),
            })
    }
}
impl FromStr for UsageKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        UsageKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownName {
                what: "usage kind",
                name: s.to_owned(),
            })
    }
}
/// Seconds → whole milliseconds (half away from zero), rejecting NaN, infinities, negatives and absurd values.
pub(crate) fn millis(kind: UsageKind, seconds: f64) -> Result<u64> {
    let what = kind.as_str();
    if !seconds.is_finite() {
        return Err(Error::InvalidQuantity {
            what,
            reason: "seconds must be a finite number",
        });
    }
    if seconds < 0.0 {
        return Err(Error::InvalidQuantity {
            what,
            reason: "seconds must not be negative",
        });
    }
    if seconds > MAX_SECONDS_PER_TRACK {
        return Err(Error::InvalidQuantity {
            what,
            reason: "more than MAX_SECONDS_PER_TRACK in one track call",
        });
    }
    // In range [0, 86_400_000]: the cast is exact.
    Ok((seconds * 1000.0).round() as u64)
}

impl Measure {
    pub(crate) fn tokens(usage: TokenUsage) -> Result<Self> {
        let (mut largest, mut kinds) = (0, 0);
        for (_, n) in usage.parts() {
            largest = largest.max(n);
            kinds += usize::from(n > 0);
        }
        if largest > MAX_TOKENS_PER_TRACK {
            return Err(Error::InvalidQuantity {
                what: "tokens",
                reason: "more than MAX_TOKENS_PER_TRACK in one track call",
            });
        }
        if kinds > MAX_TOKEN_KINDS {
            return Err(Error::InvalidQuantity {
                what: "tokens",
                reason: "more than eight kinds of tokens in one request",
            });
        }
        Ok(Measure::Tokens(usage))
    }
    pub(crate) fn characters(n: u64) -> Result<Self> {
        if n > MAX_CHARACTERS_PER_TRACK {
            return Err(Error::InvalidQuantity {
                what: "characters",
                reason: "more than MAX_CHARACTERS_PER_TRACK in one track call",
            });
        }
        Ok(Measure::Quantity(UsageKind::Characters, n))
    }
    pub(crate) fn requests(n: u64) -> Result<Self> {
        if n > MAX_CHARACTERS_PER_TRACK {
            return Err(Error::InvalidQuantity {
                what: "requests",
                reason: "more than 10^9 in one track call",
            });
        }
        Ok(Measure::Quantity(UsageKind::Requests, n))
    }
    pub(crate) fn seconds(kind: UsageKind, seconds: f64) -> Result<Self> {
        Ok(Measure::Quantity(kind, millis(kind, seconds)?))
    }
    pub(crate) fn payment(nanos: i64, flags: u8) -> Result<Self> {
        if nanos <= 0 {
            return Err(Error::InvalidQuantity {
                what: "payment amount",
                reason: "must be above zero",
            });
        }
        if nanos > crate::base::money::MAX_EVENT_NANOS {
            return Err(Error::InvalidQuantity {
                what: "payment amount",
                reason: "more than MAX_EVENT_COST in one track call",
            });
        }
        Ok(Measure::Payment(nanos, flags))
    }
}
