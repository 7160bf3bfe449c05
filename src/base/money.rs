//! Exact US-dollar amounts.
//!
//! Every amount in callmeter is a [`Usd`]: a [`rust_decimal::Decimal`] number of US dollars. Amounts are
//! stored in the database as integer nano-dollars (1 USD = 1 000 000 000 nanos) so that plain SQL `SUM()` is
//! exact. An event's cost is rounded once, to the nano-dollar, when the event is made (half to even); every
//! figure above an event is a sum of integers and is never rounded again.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Nano-dollars in one US dollar: the resolution of every stored amount.
pub(crate) const NANOS_PER_USD: i64 = 1_000_000_000;

/// The largest cost one event may carry, and the largest payment one track call may record:
/// $1,000,000. A usage priced above it is recorded unpriced ([`Error::CostOverflow`](crate::Error::CostOverflow)); a payment above
/// it is refused ([`Error::InvalidQuantity`](crate::Error::InvalidQuantity)).
pub(crate) const MAX_EVENT_COST: Usd = Usd(Decimal::from_parts(1_000_000, 0, 0, false, 0));
/// [`MAX_EVENT_COST`] in nano-dollars.
pub(crate) const MAX_EVENT_NANOS: i64 = 1_000_000 * NANOS_PER_USD;

/// The largest total cost, and the largest revenue, one call may record in one process: $10,000,000.
/// Usage that would take the call past it is recorded unpriced ([`Error::CallCostOutOfRange`](crate::Error::CallCostOutOfRange)), so a
/// call's running total never wraps and a cutoff stays a cutoff. With it, `SUM()` over one call's rows
/// stays exact for 900 starts of the same call id, and a sum over many calls (a user's month, the
/// platform) stays exact up to `i64::MAX` nano-dollars, $9,223,372,036.85 (922 calls at the maximum).
pub(crate) const MAX_CALL_COST: Usd = Usd(Decimal::from_parts(10_000_000, 0, 0, false, 0));
/// [`MAX_CALL_COST`] in nano-dollars.
pub(crate) const MAX_CALL_NANOS: i64 = 10_000_000 * NANOS_PER_USD;

/// Adds `n` (at most [`MAX_EVENT_NANOS`], at least zero) to `total` unless the sum would pass `max`
/// (at most [`MAX_CALL_NANOS`]); true when added. One atomic add, taken back when the sum passes `max`:
/// concurrent callers may see `total` above `max` for that moment (and be refused), but it stays below
/// `max` plus one event per thread, far from `i64::MAX`, and settles at or below `max`.
pub(crate) fn add_within(total: &std::sync::atomic::AtomicI64, n: i64, max: i64) -> bool {
    use std::sync::atomic::Ordering;
    let before = total.fetch_add(n, Ordering::Relaxed);
    if before.saturating_add(n) <= max {
        true
    } else {
        total.fetch_sub(n, Ordering::Relaxed);
        false
    }
}

/// The shortest decimal that reads back as `f` (`0.1`, not 0.1000000000000000055…): what a
/// quantity or a price written as a float was meant to be. `None` for NaN and infinities.
pub(crate) fn shortest_decimal(f: f64) -> Option<Decimal> {
    if !f.is_finite() {
        return None;
    }
    // `{}` prints the shortest decimal that parses back to the same f64, without exponent.
    Decimal::from_str_exact(&format!("{f}")).ok()
}

/// Decimal places of a nano-dollar.
pub(crate) const NANO_SCALE: u32 = 9;

/// An exact amount of US dollars.
///
/// `Usd` never holds a float. Build one from a string, a [`Decimal`] or integer nano-dollars; read it back
/// as a [`Decimal`] or as nano-dollars.
///
/// # Examples
///
/// ```
/// use callmeter::Usd;
///
/// let fee: Usd = "0.30".parse()?;
/// assert_eq!(fee.to_nanos()?, 300_000_000);
/// assert_eq!(Usd::from_nanos(14_000_000).to_string(), "$0.014");
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(Decimal);

impl Usd {
    /// Zero dollars.
    pub const ZERO: Usd = Usd(Decimal::ZERO);

    /// Wraps a decimal number of dollars, exactly as given.
    pub const fn new(dollars: Decimal) -> Self {
        Usd(dollars)
    }

    /// The amount of `nanos` nano-dollars (exact; kept at nine decimal places until displayed).
    pub fn from_nanos(nanos: i64) -> Self {
        Usd(Decimal::new(nanos, NANO_SCALE))
    }

    /// The amount as a decimal number of dollars.
    pub const fn as_decimal(self) -> Decimal {
        self.0
    }

    /// The sum, or `None` on overflow.
    pub fn checked_add(self, other: Usd) -> Option<Usd> {
        self.0.checked_add(other.0).map(Usd)
    }

    /// The difference, or `None` on overflow.
    pub fn checked_sub(self, other: Usd) -> Option<Usd> {
        self.0.checked_sub(other.0).map(Usd)
    }

    /// True when the amount is below zero.
    pub fn is_negative(self) -> bool {
        self.0.is_sign_negative() && !self.0.is_zero()
    }
}

/// The resolution of stored amounts.
impl Usd {
    /// Nano-dollars in one US dollar: the resolution of every stored amount.
    pub const NANOS_PER_USD: i64 = NANOS_PER_USD;
}

impl From<Decimal> for Usd {
    fn from(dollars: Decimal) -> Self {
        Usd(dollars)
    }
}

impl From<Usd> for Decimal {
    fn from(amount: Usd) -> Self {
        amount.0
    }
}

/// An amount as people read it (see [`Usd::rounded`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounded(Usd);

impl fmt::Display for Rounded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0.0;
        let shown = if d.abs() >= Decimal::ONE || d.is_zero() {
            d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
        } else {
            // Below a dollar, cents would show a turn's or an event's cost as $0.00.
            d.round_sf_with_strategy(4, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
                .unwrap_or(d)
                .normalize()
        };
        let sign = if shown.is_sign_negative() && !shown.is_zero() {
            "-"
        } else {
            ""
        };
        let mut abs = shown.abs();
        if abs >= Decimal::ONE || abs.is_zero() {
            abs.rescale(2);
        }
        write!(f, "{sign}${abs}")
    }
}

impl Usd {
    /// The amount as people read it: to the cent from a dollar up (`$554.43`, `-$1.50`), to four
    /// significant digits below (`$0.03921`, `$0.00006`). For screens and text reports; the
    /// amount itself, its `Display` and its JSON stay exact.
    pub fn rounded(self) -> Rounded {
        Rounded(self)
    }
}

impl fmt::Display for Usd {
    /// `$0.014`, `-$1.5`: the exact amount, without trailing zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.normalize();
        if n.is_sign_negative() && !n.is_zero() {
            write!(f, "-${}", n.abs())
        } else {
            write!(f, "${}", n.abs())
        }
    }
}

impl Serialize for Usd {
    /// Serialized as a decimal string of dollars (`"0.014"`), never as a float.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.normalize())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        <Decimal as Deserialize>::deserialize(deserializer).map(Usd)
    }
}

/// Rounds `n / d` half to even. `d` must not be zero.
pub(crate) const fn div_round_half_even(n: u128, d: u128) -> u128 {
    let q = n / d;
    let r = n % d;
    // r < d, so 2r cannot overflow unless d > u128::MAX / 2, which no rate reaches.
    let twice = r * 2;
    if twice > d || (twice == d && q % 2 == 1) {
        q + 1
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::{Error, Result};
    use rust_decimal::dec;

    #[test]
    fn rounded_amounts_read_as_people_expect() {
        let cases = [
            ("554.432414649", "$554.43"),
            ("1", "$1.00"),
            ("0.995", "$0.995"),
            ("2.005", "$2.01"),
            ("-1.5", "-$1.50"),
            ("0.039210213", "$0.03921"),
            ("0.00006", "$0.00006"),
            ("-0.0000004", "-$0.0000004"),
            ("0", "$0.00"),
        ];
        for (exact, shown) in cases {
            let usd = Usd::new(exact.parse().expect("decimal"));
            assert_eq!(usd.rounded().to_string(), shown, "{exact}");
        }
    }

    #[test]
    fn nanos_round_trip() -> Result<()> {
        for n in [0, 1, -1, 14_000_000, NANOS_PER_USD, i64::MAX, i64::MIN] {
            assert_eq!(Usd::from_nanos(n).to_nanos()?, n);
        }
        Ok(())
    }

    #[test]
    fn to_nanos_rounds_half_to_even() -> Result<()> {
        assert_eq!(Usd::new(dec!(0.0000000005)).to_nanos()?, 0);
        assert_eq!(Usd::new(dec!(0.0000000015)).to_nanos()?, 2);
        assert_eq!(Usd::new(dec!(0.00000000151)).to_nanos()?, 2);
        assert_eq!(Usd::new(dec!(-0.0000000025)).to_nanos()?, -2);
        Ok(())
    }

    #[test]
    fn to_nanos_rejects_out_of_range() {
        assert!(matches!(
            Usd::new(dec!(10_000_000_000)).to_nanos(),
            Err(Error::AmountOutOfRange)
        ));
    }

    #[test]
    fn parses_and_displays_exactly() -> Result<()> {
        let a: Usd = "$0.0295".parse()?;
        assert_eq!(a.to_nanos()?, 29_500_000);
        assert_eq!(a.to_string(), "$0.0295");
        assert_eq!(Usd::from_nanos(-1_500_000_000).to_string(), "-$1.5");
        assert!("abc".parse::<Usd>().is_err());
        assert!("NaN".parse::<Usd>().is_err());
        Ok(())
    }

    #[test]
    fn serializes_as_string() -> std::result::Result<(), serde_json::Error> {
        let a = Usd::from_nanos(70_000_000);
        assert_eq!(serde_json::to_string(&a)?, "\"0.07\"");
        let back: Usd = serde_json::from_str("\"0.07\"")?;
        assert_eq!(back, a);
        Ok(())
    }

    #[test]
    fn division_rounds_half_to_even() {
        assert_eq!(div_round_half_even(5, 2), 2);
        assert_eq!(div_round_half_even(7, 2), 4);
        assert_eq!(div_round_half_even(10, 3), 3);
        assert_eq!(div_round_half_even(11, 3), 4);
    }
}
