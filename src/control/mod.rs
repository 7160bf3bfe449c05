//! Control: budgets, limits, quotas, alerts.
pub(crate) mod alert;
pub(crate) mod budget;
pub(crate) mod limits;
pub(crate) mod quota;
