//! **Report**: the database read back — per call, per user, tenant, provider and day, exports, the
//! HTML report, unit economics and what-if repricing.
//!
//! [`Reports`](crate::Reports) opens a callmeter database read-only (while a meter writes it, or after) and answers
//! every query with exact money: sums are taken in SQL over integer nano-dollars and turned into
//! [`Usd`](crate::Usd) once.
//!
//! - [`Reports::call`](crate::Reports::call), [`Reports::platform`](crate::Reports::platform), [`Reports::calls_by`](crate::Reports::calls_by), [`Reports::spend`](crate::Reports::spend),
//!   [`Reports::cost_by_hour`](crate::Reports::cost_by_hour), [`Reports::top_calls`](crate::Reports::top_calls): the figures behind the CLI's `report` command.
//! - [`Reports::endings`](crate::Reports::endings), [`Reports::cost_spread`](crate::Reports::cost_spread), [`Reports::against_previous`](crate::Reports::against_previous),
//!   [`Reports::alerts`](crate::Reports::alerts), [`Reports::quotas`](crate::Reports::quotas): how calls ended and what that cost, percentiles of
//!   cost per call, a period against the one before, the alerts raised, what each quota's period
//!   has used of it.
//! - [`Reports::export_calls_csv`](crate::Reports::export_calls_csv), [`Reports::export_events_csv`](crate::Reports::export_events_csv), [`Reports::export_jsonl`](crate::Reports::export_jsonl): one
//!   line per call or per event.
//! - [`Reports::html`](crate::Reports::html): a self-contained HTML page.
//! - [`Economics`], [`break_even`], [`plan_margin`]: margin, payment fees and break-even prices.
//! - [`Reports::what_if`](crate::Reports::what_if): what the recorded usage would have cost under another catalog.
//! - [`Reports::reconcile`](crate::Reports::reconcile): what the providers billed (imported by a [`Ledger`](crate::Ledger))
//!   against what callmeter computed, per call, per day and model, or per day.
//!
//! Layer: the top, beside `call` (neither imports the other). Imports `base`, `pricing`, the
//! queries of `persist::read` (report holds no SQL: it computes its results from the plain rows those
//! answer), and from `control` [`SubjectKind`](crate::control::SubjectKind) and
//! [`Period`](crate::control::Period); it never writes.

pub(crate) mod economics;
pub(crate) mod export;
pub(crate) mod html;
pub(crate) mod operations;
pub(crate) mod quotas;
pub(crate) mod reconcile;
pub(crate) mod reports;
pub(crate) mod results;
pub(crate) mod whatif;

pub use economics::{
    BreakEven, CallCosts, Economics, PerCall, Plan, PlanMargin, break_even, plan_margin,
};
pub use operations::{AlertSummary, CostSpread, Ending, PeriodChange, RaisedAlert};
pub use quotas::{QuotaLevel, QuotaState};
pub use reconcile::{
    DayReconciliation, Finding, Granularity, ProviderReconciliation, ReconcileOptions,
    ReconciledLine, Reconciliation, Tolerance, UsageLine,
};
pub use results::{
    CallReport, DayCost, EventKind, EventLine, GroupBy, GroupCost, PlatformReport, Share,
    SubjectSpend,
};
pub use whatif::{Substitution, WhatIf, WhatIfLine};
