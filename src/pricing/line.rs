//! The catalog compiled for the hot path: each rate as an exact reduced fraction of nano-dollars per
//! base unit, each fee rule as integers, and the cumulative quantities that increments are applied to.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

use super::*;
use crate::base::error::{Error, Result};
use crate::base::money::{NANO_SCALE, div_round_half_even};
use crate::base::usage::UsageKind;

/// A rate ready for the hot path: nano-dollars per base unit as an exact reduced fraction.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line {
    pub(super) num: u128,
    pub(super) den: u128,
    pub(super) increment: Option<Increment>,
    /// Index of the call's cumulative counter for this line, when cumulative pricing is needed.
    pub(super) slot: Option<u32>,
}

impl Line {
    pub(super) fn new(rate: &Rate, increment: Option<Increment>) -> Option<Self> {
        let price = rate.price.as_decimal();
        if price.is_sign_negative() && !price.is_zero() {
            return None;
        }
        let mantissa = u128::try_from(price.mantissa()).ok()?;
        let scale = price.scale();
        // nanos per base unit = mantissa × 10^9 / (10^scale × per_base)
        let mut num = mantissa.checked_mul(10_u128.pow(NANO_SCALE))?;
        let mut den = 10_u128
            .checked_pow(scale)?
            .checked_mul(rate.per_base_units())?;
        let g = gcd(num, den);
        if g > 1 {
            num /= g;
            den /= g;
        }
        Some(Line {
            num,
            den,
            increment,
            slot: None,
        })
    }

    pub(super) fn needs_cumulative(&self) -> bool {
        self.increment.is_some() || self.den != 1
    }

    pub(super) fn billed(&self, q: u64) -> u128 {
        let q = match self.increment {
            Some(inc) => inc.quantize(q),
            None => u128::from(q),
        };
        // q ≤ ~2^64 and num ≤ ~2^100 for any believable price; saturate rather than wrap.
        let n = q.saturating_mul(self.num);
        if self.den == 1 {
            n
        } else {
            div_round_half_even(n, self.den)
        }
    }

    pub(super) fn cost(&self, qty: u64, cumulative: &impl Running) -> Result<i64> {
        let nanos = match self.slot {
            Some(line) => {
                // Each caller gets its own disjoint interval [prev, prev + qty): the costs telescope, so
                // concurrent track calls of one call still sum to the price of the whole.
                let prev = cumulative.fetch_add(line, qty);
                self.billed(prev.saturating_add(qty)) - self.billed(prev)
            }
            None => self.billed(qty),
        };
        i64::try_from(nanos).map_err(|_| Error::AmountOutOfRange)
    }
}

/// A call's cumulative quantity per line priced on the whole (billing increments, prices that are not
/// a whole number of nano-dollars per unit). A live call keeps it in atomics (`call::cumulative`); a
/// quote or a what-if keeps it in a [`Tally`].
pub(crate) trait Running {
    /// Adds `qty` to `line`'s quantity and returns the quantity before. Concurrent callers get
    /// disjoint intervals `[before, before + qty)`, so their costs telescope to the price of the whole.
    fn fetch_add(&self, line: u32, qty: u64) -> u64;
}

/// Cumulative quantities for pricing outside a live call, on one thread.
#[derive(Debug, Default)]
pub(crate) struct Tally(std::cell::RefCell<FxHashMap<u32, u64>>);

impl Running for Tally {
    fn fetch_add(&self, line: u32, qty: u64) -> u64 {
        add_to_line(&mut self.0.borrow_mut(), line, qty)
    }
}

/// Adds `qty` to `line`'s quantity in a plain map and returns the quantity before: [`Tally`], and a
/// live call's lines past its lock-free table.
pub(crate) fn add_to_line(lines: &mut FxHashMap<u32, u64>, line: u32, qty: u64) -> u64 {
    let quantity = lines.entry(line).or_insert(0);
    let before = *quantity;
    *quantity = quantity.saturating_add(qty);
    before
}

pub(super) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// A fee rule ready for the hot path.
#[derive(Clone, Copy, Debug)]
pub(super) struct FeeCalc {
    pub(super) num: u128,
    pub(super) den: u128,
    pub(super) fixed: i64,
    pub(super) cap: Option<i64>,
    /// Surcharges as (numerator, denominator) of a fraction of the amount.
    pub(super) international: Option<(u128, u128)>,
    pub(super) conversion: Option<(u128, u128)>,
}

/// `percent` as an exact fraction of one.
pub(super) fn percent_fraction(percent: Decimal) -> Option<(u128, u128)> {
    if percent.is_sign_negative() && !percent.is_zero() {
        return None;
    }
    let num = u128::try_from(percent.mantissa()).ok()?;
    let den = 10_u128.checked_pow(percent.scale())?.checked_mul(100)?;
    Some((num, den))
}

impl FeeCalc {
    pub(super) fn new(rule: &FeeRule) -> Option<Self> {
        let (num, den) = percent_fraction(rule.percent)?;
        let international = match rule.international {
            Some(p) => Some(percent_fraction(p)?),
            None => None,
        };
        let conversion = match rule.currency_conversion {
            Some(p) => Some(percent_fraction(p)?),
            None => None,
        };
        let fixed = rule.fixed.to_nanos().ok()?;
        let cap = match rule.cap {
            Some(c) => Some(c.to_nanos().ok()?),
            None => None,
        };
        if fixed < 0 || cap.is_some_and(|c| c < 0) {
            return None;
        }
        Some(FeeCalc {
            num,
            den,
            fixed,
            cap,
            international,
            conversion,
        })
    }

    pub(super) fn fee_nanos(&self, amount: i64, flags: u8) -> Result<i64> {
        let amount = u128::try_from(amount).map_err(|_| Error::AmountOutOfRange)?;
        let part = |(num, den): (u128, u128)| {
            i64::try_from(div_round_half_even(amount.saturating_mul(num), den))
                .map_err(|_| Error::AmountOutOfRange)
        };
        let fee = part((self.num, self.den))?
            .checked_add(self.fixed)
            .ok_or(Error::AmountOutOfRange)?;
        let mut fee = match self.cap {
            Some(cap) => fee.min(cap),
            None => fee,
        };
        for (flag, surcharge) in [
            (PAY_INTERNATIONAL, self.international),
            (PAY_CONVERSION, self.conversion),
        ] {
            if flags & flag != 0
                && let Some(s) = surcharge
            {
                fee = fee.checked_add(part(s)?).ok_or(Error::AmountOutOfRange)?;
            }
        }
        Ok(fee)
    }
}

/// One catalog entry (one version of a model's prices), compiled for lookups.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) price: ModelPrice,
    /// Validity in milliseconds since the Unix epoch, `[from, to)`.
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) provider: u32,
    pub(super) lines: Lines,
    /// Context-length tiers: (threshold, lines), lowest threshold first.
    pub(super) tiers: Vec<(u64, Lines)>,
    pub(super) fee: Option<FeeCalc>,
}

pub(super) type Lines = [Option<Line>; UsageKind::COUNT];

/// The kind whose rate bills a kind that has none, where providers bill it so.
pub(super) const fn fallback(kind: UsageKind) -> Option<UsageKind> {
    match kind {
        UsageKind::ReasoningTokens => Some(UsageKind::OutputTokens),
        _ => None,
    }
}
