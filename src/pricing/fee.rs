//! Payment processor fees and the payments they apply to.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::money::{Usd, div_round_half_even};

/// A payment processor's fee: a percentage of the amount plus a fixed amount, optionally capped.
///
/// # Examples
///
/// ```
/// use callmeter::Usd;
/// use callmeter::pricing::FeeRule;
/// use rust_decimal::dec;
///
/// let ach = FeeRule::new(dec!(0.8), Usd::ZERO).with_cap(Usd::new(dec!(5.00)));
/// assert_eq!(ach.fee_for(Usd::new(dec!(100)))?, Usd::new(dec!(0.80)));
/// assert_eq!(ach.fee_for(Usd::new(dec!(10000)))?, Usd::new(dec!(5.00)));
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FeeRule {
    pub(super) percent: Decimal,
    pub(super) fixed: Usd,
    pub(super) cap: Option<Usd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) international: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) currency_conversion: Option<Decimal>,
}

impl FeeRule {
    /// `percent` of the amount (2.9 for 2.9 %) plus `fixed`.
    pub const fn new(percent: Decimal, fixed: Usd) -> Self {
        FeeRule {
            percent,
            fixed,
            cap: None,
            international: None,
            currency_conversion: None,
        }
    }

    /// Adds `percent` for payments by cards issued abroad ([`Payment::international`]).
    pub const fn with_international_surcharge(mut self, percent: Decimal) -> Self {
        self.international = Some(percent);
        self
    }

    /// Adds `percent` for payments that need a currency conversion
    /// ([`Payment::currency_conversion`]).
    pub const fn with_conversion_surcharge(mut self, percent: Decimal) -> Self {
        self.currency_conversion = Some(percent);
        self
    }

    /// The international-card surcharge, in percent.
    pub const fn international_surcharge(&self) -> Option<Decimal> {
        self.international
    }

    /// The currency-conversion surcharge, in percent.
    pub const fn conversion_surcharge(&self) -> Option<Decimal> {
        self.currency_conversion
    }

    /// Caps the fee at `cap`.
    pub const fn with_cap(mut self, cap: Usd) -> Self {
        self.cap = Some(cap);
        self
    }

    /// The percentage.
    pub const fn percent(&self) -> Decimal {
        self.percent
    }

    /// The fixed part.
    pub const fn fixed(&self) -> Usd {
        self.fixed
    }

    /// The cap, if any.
    pub const fn cap(&self) -> Option<Usd> {
        self.cap
    }

    /// The fee on a payment, exact to the nano-dollar: `percent` of the amount plus `fixed`, at most
    /// the cap, then each surcharge that applies to the payment (surcharges are not capped). A
    /// surcharge the rule does not have adds nothing.
    ///
    /// # Errors
    ///
    /// [`Error::AmountOutOfRange`] for amounts beyond nano-dollar range or negative amounts.
    pub fn fee_for(&self, payment: impl Into<Payment>) -> Result<Usd> {
        let payment = payment.into();
        let calc = FeeCalc::new(self).ok_or(Error::AmountOutOfRange)?;
        calc.fee_nanos(payment.amount.to_nanos()?, payment.flags())
            .map(Usd::from_nanos)
    }
}

impl fmt::Display for FeeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}% + {}", self.percent.normalize(), self.fixed)?;
        if let Some(cap) = self.cap {
            write!(f, ", capped at {cap}")?;
        }
        if let Some(p) = self.international {
            write!(f, "; +{}% international cards", p.normalize())?;
        }
        if let Some(p) = self.currency_conversion {
            write!(f, "; +{}% currency conversion", p.normalize())?;
        }
        Ok(())
    }
}

/// A payment charged to a customer: the amount, and what makes the processor add a surcharge.
///
/// # Examples
///
/// ```
/// use callmeter::Usd;
/// use callmeter::pricing::{FeeRule, Payment};
/// use rust_decimal::dec;
///
/// let card = FeeRule::new(dec!(2.9), Usd::new(dec!(0.30)))
///     .with_international_surcharge(dec!(1.5))
///     .with_conversion_surcharge(dec!(1));
/// let abroad = Payment::new(Usd::new(dec!(100))).international().currency_conversion();
/// assert_eq!(card.fee_for(abroad)?, Usd::new(dec!(5.70)));
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payment {
    pub(super) amount: Usd,
    pub(super) international: bool,
    pub(super) currency_conversion: bool,
}

pub(super) const PAY_INTERNATIONAL: u8 = 1;
pub(super) const PAY_CONVERSION: u8 = 2;

impl Payment {
    /// A domestic payment of `amount` in the account's currency.
    pub const fn new(amount: Usd) -> Self {
        Payment {
            amount,
            international: false,
            currency_conversion: false,
        }
    }

    /// Paid with a card issued in another country.
    pub const fn international(mut self) -> Self {
        self.international = true;
        self
    }

    /// Paid in a currency that has to be converted.
    pub const fn currency_conversion(mut self) -> Self {
        self.currency_conversion = true;
        self
    }

    /// The amount charged.
    pub const fn amount(&self) -> Usd {
        self.amount
    }

    pub(crate) const fn flags(&self) -> u8 {
        (if self.international {
            PAY_INTERNATIONAL
        } else {
            0
        }) | (if self.currency_conversion {
            PAY_CONVERSION
        } else {
            0
        })
    }
}

impl From<Usd> for Payment {
    fn from(amount: Usd) -> Self {
        Payment::new(amount)
    }
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
