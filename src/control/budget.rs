//! Per-call budgets: a verdict on every track call, from the call's running totals.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::money::Usd;

/// What a call may cost and how long it may run.
///
/// Every track call compares the call's running total (and its age) with the budget and returns a
/// [`Verdict`]. callmeter does not hang up a call itself: the pipeline acts on [`Verdict::Cutoff`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use callmeter::{Budget, Usd};
/// use rust_decimal::dec;
///
/// let budget = Budget::default()
///     .max_cost(Usd::new(dec!(2.50)))
///     .warn_at_percent(80)
///     .max_duration(Duration::from_secs(600));
/// assert_eq!(budget.warning_cost()?, Usd::new(dec!(2.00)));
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    max_cost: Usd,
    warn_percent: u8,
    auto_cutoff: bool,
    max_duration: Option<Duration>,
}

/// The defaults.
impl Budget {
    /// The default maximum cost of a call: $10.00.
    pub const DEFAULT_MAX_CALL_COST: Usd = DEFAULT_MAX_CALL_COST;
    /// The default warning threshold: 75 % of the maximum cost.
    pub const DEFAULT_WARN_PERCENT: u8 = DEFAULT_WARN_PERCENT;
}

/// The default maximum cost of a call: $10.00.
pub(crate) const DEFAULT_MAX_CALL_COST: Usd = Usd::new(Decimal::from_parts(10, 0, 0, false, 0));
/// The default warning threshold: 75 % of the maximum cost.
pub(crate) const DEFAULT_WARN_PERCENT: u8 = 75;

impl Default for Budget {
    /// $10.00 a call, a warning at 75 %, cut off at the maximum, no time limit.
    fn default() -> Self {
        Budget {
            max_cost: DEFAULT_MAX_CALL_COST,
            warn_percent: DEFAULT_WARN_PERCENT,
            auto_cutoff: true,
            max_duration: None,
        }
    }
}

impl Budget {
    /// No limit at all: every verdict is [`Verdict::Fine`].
    pub fn unlimited() -> Self {
        Budget {
            max_cost: Usd::from_nanos(i64::MAX),
            warn_percent: 100,
            auto_cutoff: false,
            max_duration: None,
        }
    }

    /// The most a call may cost.
    pub fn max_cost(mut self, cost: Usd) -> Self {
        self.max_cost = cost;
        self
    }

    /// Warn once the call has cost this percentage of the maximum (0 to 100).
    pub fn warn_at_percent(mut self, percent: u8) -> Self {
        self.warn_percent = percent;
        self
    }

    /// Whether reaching the maximum cost (or duration) gives [`Verdict::Cutoff`] (the default) or only
    /// [`Verdict::Warning`].
    pub fn auto_cutoff(mut self, on: bool) -> Self {
        self.auto_cutoff = on;
        self
    }

    /// The longest a call may run; past it, track calls answer [`Verdict::Cutoff`] (or
    /// [`Verdict::Warning`] without auto-cutoff).
    pub fn max_duration(mut self, duration: Duration) -> Self {
        self.max_duration = Some(duration);
        self
    }

    /// The maximum cost.
    pub fn max_call_cost(&self) -> Usd {
        self.max_cost
    }

    /// The cost at which the warning comes: the percentage of the maximum, exact to the nano-dollar
    /// (rounded down).
    ///
    /// # Errors
    ///
    /// As [`Budget::check`].
    pub fn warning_cost(&self) -> Result<Usd> {
        Ok(Usd::from_nanos(self.compile()?.warn))
    }

    /// Checks the budget: a maximum cost of zero or more, within nano-dollar range, and a percentage of
    /// at most 100.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidBudget`] saying what is wrong.
    pub fn check(&self) -> Result<()> {
        self.compile().map(drop)
    }

    pub(crate) fn compile(&self) -> Result<CompiledBudget> {
        let max = self
            .max_cost
            .to_nanos()
            .map_err(|_| Error::InvalidBudget("the maximum cost is out of nano-dollar range"))?;
        if max < 0 {
            return Err(Error::InvalidBudget(
                "the maximum cost must not be negative",
            ));
        }
        if self.warn_percent > 100 {
            return Err(Error::InvalidBudget(
                "the warning percentage must be at most 100",
            ));
        }
        let warn = i64::try_from(i128::from(max) * i128::from(self.warn_percent) / 100)
            .unwrap_or(i64::MAX);
        let max_ms = self.max_duration.map_or(u32::MAX, |d| {
            u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
        });
        Ok(CompiledBudget {
            max,
            warn,
            cutoff: self.auto_cutoff,
            max_ms,
        })
    }
}

/// Where a call stands against its budget, returned by every track call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Below the warning threshold.
    Fine,
    /// The warning threshold is reached (or the maximum, without auto-cutoff).
    Warning,
    /// The maximum cost or the maximum duration is reached, or a user's or tenant's limit: end the
    /// call.
    Cutoff,
}

/// A budget compiled for the hot path: its thresholds in nano-dollars and milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompiledBudget {
    pub(crate) max: i64,
    pub(crate) warn: i64,
    cutoff: bool,
    max_ms: u32,
}

/// Bits of [`Transitions`]: which thresholds a call has crossed (each reported once).
pub(crate) const CROSSED_WARNING: u8 = 1;
pub(crate) const CROSSED_CUTOFF: u8 = 2;
pub(crate) const CROSSED_SESSION_ALERT: u8 = 4;

impl CompiledBudget {
    /// The verdict for a call that has cost `total` nano-dollars and run `elapsed_ms`.
    pub(crate) fn verdict(&self, total: i64, elapsed_ms: u32) -> Verdict {
        let over = total >= self.max || elapsed_ms >= self.max_ms;
        if over && self.cutoff {
            Verdict::Cutoff
        } else if over || total >= self.warn {
            Verdict::Warning
        } else {
            Verdict::Fine
        }
    }

    /// The cost threshold behind a verdict of `verdict` for a call at `total`: the warning cost or the
    /// maximum when the cost reached it, `None` when the call's duration did instead.
    pub(crate) fn cost_threshold(&self, verdict: Verdict, total: i64) -> Option<i64> {
        let threshold = match verdict {
            Verdict::Cutoff => self.max,
            _ => self.warn,
        };
        (total >= threshold).then_some(threshold)
    }

    /// The longest the call may run, in milliseconds (`u32::MAX` without a maximum duration).
    pub(crate) fn max_ms(&self) -> u32 {
        self.max_ms
    }

    /// What is left of the maximum cost (zero once it is reached).
    /// Whether reaching the maximum cuts the call off (else it only warns).
    pub(crate) fn cuts_off(&self) -> bool {
        self.cutoff
    }

    pub(crate) fn remaining(&self, total: i64) -> i64 {
        self.max.saturating_sub(total).max(0)
    }
}

/// The thresholds a call has crossed; each one is claimed by exactly one track call.
#[derive(Debug, Default)]
pub(crate) struct Transitions(AtomicU8);

impl Transitions {
    /// True for the one caller that crosses `bit` first.
    pub(crate) fn cross(&self, bit: u8) -> bool {
        self.0.load(Ordering::Relaxed) & bit == 0
            && self.0.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn verdicts_change_exactly_at_the_thresholds() -> Result<()> {
        let l = Budget::default().max_cost(Usd::new(dec!(1))).compile()?;
        assert_eq!(l.warn, 750_000_000);
        assert_eq!(l.verdict(749_999_999, 0), Verdict::Fine);
        assert_eq!(l.verdict(750_000_000, 0), Verdict::Warning);
        assert_eq!(l.verdict(999_999_999, 0), Verdict::Warning);
        assert_eq!(l.verdict(1_000_000_000, 0), Verdict::Cutoff);
        assert_eq!(l.remaining(1_200_000_000), 0);
        let timed = Budget::default()
            .max_duration(Duration::from_secs(300))
            .compile()?;
        assert_eq!(timed.verdict(0, 299_999), Verdict::Fine);
        assert_eq!(timed.verdict(0, 300_000), Verdict::Cutoff);
        let soft = Budget::default().auto_cutoff(false).compile()?;
        assert_eq!(soft.verdict(i64::MAX, 0), Verdict::Warning);
        let none = Budget::unlimited().compile()?;
        assert_eq!(none.verdict(i64::MAX - 1, u32::MAX - 1), Verdict::Fine);
        Ok(())
    }

    #[test]
    fn bad_budgets_are_typed_errors() {
        assert!(matches!(
            Budget::default().warn_at_percent(101).check(),
            Err(Error::InvalidBudget(_))
        ));
        assert!(matches!(
            Budget::default().max_cost(Usd::new(dec!(-1))).check(),
            Err(Error::InvalidBudget(_))
        ));
    }

    #[test]
    fn each_threshold_is_crossed_once() {
        let t = Transitions::default();
        assert!(t.cross(CROSSED_WARNING));
        assert!(!t.cross(CROSSED_WARNING));
        assert!(t.cross(CROSSED_CUTOFF));
        assert!(!t.cross(CROSSED_CUTOFF));
    }
}
