//! Unit economics: revenue against variable cost, payment fees and amortised fixed costs; break-even.

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::pricing::FixedCost;
use crate::report::reports::Reports;

/// A period's unit economics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Economics {
    /// First day (UTC), inclusive.
    pub from: NaiveDate,
    /// Last day (UTC), inclusive.
    pub to: NaiveDate,
    /// Calls started in the period.
    pub calls: i64,
    /// Revenue: the payments tracked.
    pub revenue: Usd,
    /// Every cost of the period's events except payment fees.
    pub variable_cost: Usd,
    /// Payment processing fees (category `payment`).
    pub payment_fees: Usd,
    /// The fixed monthly costs spread over the period: each day bears its month's costs divided by the
    /// month's days.
    pub fixed_costs: Usd,
    /// Revenue minus variable cost, fees and fixed costs.
    pub gross_profit: Usd,
    /// Gross profit as a percentage of revenue (two decimals), when there is revenue.
    pub margin_percent: Option<Decimal>,
    /// Per call started: revenue, variable cost, fees, fixed costs.
    pub per_call: Option<PerCall>,
}

/// Averages per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PerCall {
    /// Revenue per call.
    pub revenue: Usd,
    /// Variable cost per call.
    pub variable_cost: Usd,
    /// Payment fees per call.
    pub payment_fees: Usd,
    /// Fixed costs per call.
    pub fixed_costs: Usd,
}

/// How a call is sold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Plan {
    /// Each call paid on its own.
    PayPerCall {
        /// The price of a call.
        price: Usd,
    },
    /// A pack of calls paid at once.
    Pack {
        /// The price of the pack.
        price: Usd,
        /// Calls in it.
        calls: u32,
    },
    /// A monthly subscription with included calls, and a price for each call beyond them.
    Subscription {
        /// The monthly fee.
        monthly: Usd,
        /// Calls included each month.
        included_calls: u32,
        /// The price of each call beyond them.
        overage_per_call: Usd,
    },
    /// Calls priced by the minute.
    PerMinute {
        /// The price of a minute.
        price_per_minute: Usd,
    },
}

/// What a call costs to serve, for [`plan_margin`]: recorded averages ([`Reports::call_costs`]) or
/// assumptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CallCosts {
    /// The usage cost of a call (every cost but payment fees).
    pub cost_per_call: Usd,
    /// The minutes of a call.
    pub minutes_per_call: Decimal,
}

impl CallCosts {
    /// Costs assumed rather than recorded.
    pub fn new(cost_per_call: Usd, minutes_per_call: Decimal) -> Self {
        CallCosts {
            cost_per_call,
            minutes_per_call,
        }
    }
}

/// A plan's margin when its customer uses it to its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PlanMargin {
    /// Calls the plan pays for at its limit (one for per-call and per-minute plans).
    pub calls: u32,
    /// What the customer pays for them.
    pub revenue: Usd,
    /// The usage cost of the calls.
    pub usage_cost: Usd,
    /// The processor's fee on the payment.
    pub payment_fee: Usd,
    /// Revenue minus usage cost and fee.
    pub margin: Usd,
    /// Margin as a percentage of revenue (two decimals), when there is revenue.
    pub margin_percent: Option<Decimal>,
    /// For subscriptions: the margin of each call beyond the included ones (overage price minus usage
    /// cost; its fee is part of the next invoice's).
    pub overage_margin_per_call: Option<Usd>,
}

/// The margin of `plan` at its usage limit, with `costs` per call and, when given, the payment
/// processor's `fee` on each payment.
///
/// # Errors
///
/// [`Error::AmountOutOfRange`] for amounts beyond nano-dollar range.
///
/// # Examples
///
/// ```
/// use callmeter::Usd;
/// use callmeter::pricing::FeeRule;
/// use callmeter::report::{CallCosts, Plan, plan_margin};
/// use rust_decimal::dec;
///
/// let costs = CallCosts::new(Usd::new(dec!(0.40)), dec!(5));
/// let card = FeeRule::new(dec!(2.9), Usd::new(dec!(0.30)));
/// let pro = Plan::Subscription {
///     monthly: Usd::new(dec!(29)),
///     included_calls: 50,
///     overage_per_call: Usd::new(dec!(0.75)),
/// };
/// let m = plan_margin(&pro, &costs, Some(&card))?;
/// // 29 − 50 × 0.40 − (2.9 % of 29 + 0.30)
/// assert_eq!(m.margin, Usd::new(dec!(7.859)));
/// # Ok::<(), callmeter::Error>(())
/// ```
pub fn plan_margin(
    plan: &Plan,
    costs: &CallCosts,
    fee: Option<&crate::pricing::FeeRule>,
) -> Result<PlanMargin> {
    let cost = costs.cost_per_call.as_decimal();
    let (calls, revenue, overage) = match *plan {
        Plan::PayPerCall { price } => (1, price.as_decimal(), None),
        Plan::Pack { price, calls } => (calls, price.as_decimal(), None),
        Plan::Subscription {
            monthly,
            included_calls,
            overage_per_call,
        } => (
            included_calls,
            monthly.as_decimal(),
            Some(Usd::new(overage_per_call.as_decimal() - cost)),
        ),
        Plan::PerMinute { price_per_minute } => (
            1,
            (price_per_minute.as_decimal() * costs.minutes_per_call)
                .round_dp_with_strategy(9, RoundingStrategy::MidpointNearestEven),
            None,
        ),
    };
    let usage_cost = cost * Decimal::from(calls);
    let payment_fee = match fee {
        Some(rule) if revenue > Decimal::ZERO => rule.fee_for(Usd::new(revenue))?.as_decimal(),
        _ => Decimal::ZERO,
    };
    let margin = revenue - usage_cost - payment_fee;
    Ok(PlanMargin {
        calls,
        revenue: Usd::new(revenue),
        usage_cost: Usd::new(usage_cost),
        payment_fee: Usd::new(payment_fee),
        margin: Usd::new(margin),
        margin_percent: (!revenue.is_zero()).then(|| {
            (margin * Decimal::ONE_HUNDRED / revenue)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
        }),
        overage_margin_per_call: overage,
    })
}

/// How many calls a month pay for the fixed costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BreakEven {
    /// Fixed costs per month.
    pub fixed_monthly: Usd,
    /// What a call is sold for.
    pub price: Usd,
    /// What a call costs (variable cost and fees).
    pub cost_per_call: Usd,
    /// Price minus cost per call.
    pub contribution: Usd,
    /// Calls per month needed: fixed costs ÷ contribution, rounded up to a whole call; `None` ("no
    /// break-even") when the price does not exceed the cost per call.
    pub calls_per_month: Option<u64>,
}

/// Break-even calls per month for `fixed_monthly` costs, calls sold at `price` that cost
/// `cost_per_call` (variable cost and fees).
///
/// # Examples
///
/// ```
/// use callmeter::Usd;
/// use callmeter::report::break_even;
/// use rust_decimal::dec;
///
/// let b = break_even(Usd::new(dec!(51)), Usd::new(dec!(4.99)), Usd::new(dec!(0.87416)));
/// assert_eq!(b.calls_per_month, Some(13)); // 51 ÷ 4.11584 = 12.39…
/// assert_eq!(break_even(Usd::new(dec!(51)), Usd::new(dec!(0.50)), Usd::new(dec!(0.87))).calls_per_month, None);
/// ```
pub fn break_even(fixed_monthly: Usd, price: Usd, cost_per_call: Usd) -> BreakEven {
    let contribution = price.as_decimal() - cost_per_call.as_decimal();
    let calls_per_month = if contribution <= Decimal::ZERO {
        None
    } else {
        (fixed_monthly.as_decimal() / contribution).ceil().to_u64()
    };
    BreakEven {
        fixed_monthly,
        price,
        cost_per_call,
        contribution: Usd::new(contribution),
        calls_per_month,
    }
}

/// `monthly` spread over the days `from..=to`, exact to the nano-dollar (each day's share rounded half
/// to even).
fn amortised(monthly: Decimal, from: NaiveDate, to: NaiveDate) -> Decimal {
    let mut total = Decimal::ZERO;
    let mut day = from;
    while day <= to {
        let share = (monthly / Decimal::from(day.num_days_in_month()))
            .round_dp_with_strategy(9, RoundingStrategy::MidpointNearestEven);
        total += share;
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    total
}

impl Reports {
    /// The recorded averages of the calls started from `from` to `to`: usage cost per call (every
    /// cost but payment fees) and call minutes per call; `None` without calls.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read.
    pub fn call_costs(&self, from: NaiveDate, to: NaiveDate) -> Result<Option<CallCosts>> {
        let e = self.economics(from, to, &[])?;
        let p = self.platform(from, to)?;
        Ok(e.per_call.map(|per| CallCosts {
            cost_per_call: per.variable_cost,
            minutes_per_call: Decimal::from_f64_retain(p.minutes / e.calls as f64)
                .unwrap_or_default()
                .round_dp(3),
        }))
    }

    /// The unit economics of the calls and events from `from` to `to` (UTC days, inclusive), with
    /// `fixed` monthly costs spread over the period (e.g. [`Catalog::fixed_costs`](crate::Catalog::fixed_costs)).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read; [`Error::AmountOutOfRange`] for sums
    /// beyond range.
    pub fn economics(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        fixed: &[FixedCost],
    ) -> Result<Economics> {
        let platform = self.platform(from, to)?;
        let fees = platform
            .by_category
            .iter()
            .find(|s| s.name == "payment")
            .map_or(Usd::ZERO, |s| s.cost);
        let revenue = self.revenue(from, to)?;
        let variable = platform
            .total
            .checked_sub(fees)
            .ok_or(Error::AmountOutOfRange)?;
        let monthly: Decimal = fixed.iter().map(|c| c.monthly().as_decimal()).sum();
        let fixed_costs = Usd::new(amortised(monthly, from, to));
        let gross = revenue.as_decimal()
            - variable.as_decimal()
            - fees.as_decimal()
            - fixed_costs.as_decimal();
        let margin_percent = (!revenue.as_decimal().is_zero()).then(|| {
            (gross * Decimal::ONE_HUNDRED / revenue.as_decimal())
                .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
        });
        let per_call = (platform.calls > 0).then(|| {
            let n = Decimal::from(platform.calls);
            let per = |u: Usd| {
                Usd::new(
                    (u.as_decimal() / n)
                        .round_dp_with_strategy(9, RoundingStrategy::MidpointNearestEven),
                )
            };
            PerCall {
                revenue: per(revenue),
                variable_cost: per(variable),
                payment_fees: per(fees),
                fixed_costs: per(fixed_costs),
            }
        });
        Ok(Economics {
            from,
            to,
            calls: platform.calls,
            revenue,
            variable_cost: variable,
            payment_fees: fees,
            fixed_costs,
            gross_profit: Usd::new(gross),
            margin_percent,
            per_call,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn fixed_costs_spread_by_the_days_of_each_month() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap_or_default();
        // A whole 30-day month bears the whole monthly cost.
        assert_eq!(amortised(dec!(30), d(11, 1), d(11, 30)), dec!(30));
        // Three days of February (28 days) and two of March (31).
        assert_eq!(
            amortised(dec!(28), d(2, 26), d(3, 2)),
            dec!(3) + dec!(0.903225806) * dec!(2)
        );
    }

    #[test]
    fn break_even_rounds_up_to_a_whole_call() {
        let b = break_even(Usd::new(dec!(100)), Usd::new(dec!(5)), Usd::new(dec!(3)));
        assert_eq!(b.calls_per_month, Some(50));
        let b = break_even(Usd::new(dec!(100.01)), Usd::new(dec!(5)), Usd::new(dec!(3)));
        assert_eq!(b.calls_per_month, Some(51));
        let b = break_even(Usd::new(dec!(100)), Usd::new(dec!(3)), Usd::new(dec!(3)));
        assert_eq!((b.calls_per_month, b.contribution), (None, Usd::ZERO));
    }
}
