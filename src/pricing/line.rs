//! The catalog compiled for the hot path: each rate as an exact reduced fraction of nano-dollars per
//! base unit, each fee rule as integers, and the cumulative quantities that increments are applied to.

use rustc_hash::FxHashMap;

use super::fee::FeeCalc;
use super::model::ModelPrice;
use super::rate::{Increment, Rate};
use crate::base::error::{Error, Result};
use crate::base::money::{NANO_SCALE, div_round_half_even};
use crate::base::usage::UsageKind;

/// Added to a line's cumulative counter when a session charged at start begins: far above any
/// quantity a call reaches (2^48 ms is 8 900 years), so the quantity stays in the bits below it.
pub(super) const STARTED: u64 = 1 << 48;

/// A rate ready for the hot path: nano-dollars per base unit as an exact reduced fraction.
#[derive(Clone, Copy, Debug)]
pub(super) struct Line {
    pub(super) num: u128,
    pub(super) den: u128,
    pub(super) increment: Option<Increment>,
    /// Index of the call's cumulative counter for this line, when cumulative pricing is needed.
    pub(super) slot: Option<u32>,
    /// The increment's minimum is charged when a session starts (read once here, not per call).
    at_start: bool,
    /// Each request is rounded on its own.
    per_request: bool,
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
            at_start: increment.is_some_and(|i| i.at_start),
            per_request: increment.is_some_and(|i| i.per_request),
        })
    }

    /// Whether the line's minimum is charged when a session starts.
    pub(super) fn at_start(&self) -> bool {
        self.at_start
    }

    /// What a cumulative counter `v` of this line bills in all: with a start charge, a started
    /// session ([`STARTED`] added) bills at least the minimum even before any usage.
    fn billed_total(&self, v: u64) -> u128 {
        if self.at_start {
            match v {
                0 => 0,
                v => self.billed((v & (STARTED - 1)).max(1)),
            }
        } else {
            self.billed(v)
        }
    }

    /// The start charge of a session, on a line charged at start: its counter is marked started
    /// once; a second start costs nothing.
    pub(super) fn start_cost(&self, cumulative: &impl Running) -> Result<i64> {
        let nanos = match self.slot {
            Some(line) => {
                let prev = cumulative.fetch_add(line, STARTED);
                self.billed_total(prev.wrapping_add(STARTED)) - self.billed_total(prev)
            }
            None => self.billed(1),
        };
        i64::try_from(nanos).map_err(|_| Error::AmountOutOfRange)
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
            Some(_) if self.per_request => self.billed(qty),
            Some(line) => {
                // Each caller gets its own disjoint interval [prev, prev + qty): the costs telescope, so
                // concurrent track calls of one call still sum to the price of the whole.
                let prev = cumulative.fetch_add(line, qty);
                self.billed_total(prev.saturating_add(qty)) - self.billed_total(prev)
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

/// A call leg's own quantities: each line's counter is kept apart per leg, so that billing increments
/// round every leg on its own ("a two-leg call bills as two calls"). Leg 0 is the call's own counter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Legged<'a, R>(pub(crate) &'a R, pub(crate) u8);

/// The bit a leg number starts at in a counter's key; catalogs have fewer cumulative lines than this.
pub(crate) const LEG_SHIFT: u32 = 24;

impl<R: Running> Running for Legged<'_, R> {
    fn fetch_add(&self, line: u32, qty: u64) -> u64 {
        self.0
            .fetch_add(line | (u32::from(self.1) << LEG_SHIFT), qty)
    }
}

/// No quantity before: prices a usage on its own, as if it were the first of its kind. With billing
/// increments that round up, that is never below what the same usage adds to a call (rounding up a
/// sum costs at most the sum of rounding up its parts): what a reservation holds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Alone;

impl Running for Alone {
    fn fetch_add(&self, _line: u32, _qty: u64) -> u64 {
        0
    }
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
