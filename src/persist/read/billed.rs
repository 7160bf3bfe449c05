//! What reports read of what providers billed, as a [`Ledger`](crate::Ledger) imported it: `billed`
//! (money, per record) and `billed_usage` (quantities, per day). Files and fleets of earlier versions
//! have neither table, and read as nothing billed.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::base::error::Result;
use crate::persist::read::{Param, Source};

/// A day's billed quantity of one provider's usage in one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BilledUsage {
    pub(crate) provider: String,
    pub(crate) day: NaiveDate,
    /// `None` when billed for every model at once.
    pub(crate) model: Option<String>,
    pub(crate) unit: String,
    pub(crate) quantity: Decimal,
}

/// The billed quantities from `from` to `to` (inclusive), in order of provider and day.
pub(crate) fn usage(src: &Source, from: NaiveDate, to: NaiveDate) -> Result<Vec<BilledUsage>> {
    if !src.has_table("billed_usage")? {
        return Ok(Vec::new());
    }
    let (a, b) = (from.to_string(), to.to_string());
    src.query(
        "SELECT provider, day, model, unit, quantity FROM billed_usage
         WHERE day >= ?1 AND day <= ?2 ORDER BY provider, day",
        &[Param::from(&a), Param::from(&b)],
        "reading billed usage",
        |r| {
            Ok(BilledUsage {
                provider: r.text(0)?,
                day: r.text(1)?.parse()?,
                model: r.opt_text(2)?,
                unit: r.text(3)?,
                quantity: r.text(4)?.parse()?,
            })
        },
    )
}

/// (provider, nano-dollars, records) billed for the call `call_id`, by provider.
pub(crate) fn for_call(src: &Source, call_id: &str) -> Result<Vec<(String, i64, i64)>> {
    if !src.has_table("billed")? {
        return Ok(Vec::new());
    }
    src.query(
        "SELECT provider, CAST(SUM(amount_nanos) AS BIGINT), COUNT(*) FROM billed
         WHERE call_id = ?1 GROUP BY provider ORDER BY provider",
        &[call_id.into()],
        "reading a call's billed records",
        |r| Ok((r.text(0)?, r.int(1)?, r.int(2)?)),
    )
}

/// Billed money of one provider, day, call and model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Billed {
    pub(crate) provider: String,
    pub(crate) day: NaiveDate,
    pub(crate) call_id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) amount_nanos: i64,
}

/// What was billed from `from` to `to` (inclusive), summed by provider, day, call and model, in order
/// of provider and day.
pub(crate) fn amounts(src: &Source, from: NaiveDate, to: NaiveDate) -> Result<Vec<Billed>> {
    if !src.has_table("billed")? {
        return Ok(Vec::new());
    }
    let (a, b) = (from.to_string(), to.to_string());
    src.query(
        "SELECT provider, day, call_id, model, CAST(SUM(amount_nanos) AS BIGINT) FROM billed
         WHERE day >= ?1 AND day <= ?2
         GROUP BY provider, day, call_id, model ORDER BY provider, day",
        &[Param::from(&a), Param::from(&b)],
        "reading billed records",
        |r| {
            Ok(Billed {
                provider: r.text(0)?,
                day: r.text(1)?.parse()?,
                call_id: r.opt_text(2)?,
                model: r.opt_text(3)?,
                amount_nanos: r.int(4)?,
            })
        },
    )
}
