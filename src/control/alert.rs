//! Alerts: what they say, where they go, and the thread that delivers them off the hot path.
//!
//! A track call that crosses a threshold hands a small message to a bounded queue (`try_send`: no
//! waiting, no allocation, no system call) and goes on. The `callmeter-alerts` thread polls that queue,
//! builds the [`Alert`], gives it to every [`AlertSink`] in turn — a sink that fails or panics is
//! counted and skipped, a slow one only delays the next alert — and passes it to the writer, which
//! stores it in the `alerts` table.
//!
//! **The rule of every threshold:** an alert (and a verdict) fires when the figure *reaches* its
//! threshold — at or above it, `>=` — and not one nano-dollar, unit or millisecond before. Budgets,
//! user and tenant limits, quotas, the call cost alert and the platform's daily and monthly alerts all
//! follow it.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, bounded, select};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::base::money::Usd;
use crate::base::stats::Counters;
use crate::control::budget::Verdict;
use crate::control::limits::{PeriodCounter, SubjectKind};
use crate::ident::CallIdent;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AlertKind {
    /// A call reached the warning threshold of its budget.
    CallWarning,
    /// A call reached its maximum cost or duration.
    CallCutoff,
    /// A call's cost reached the call cost alert threshold ([`AlertThresholds::call`]). Stored and
    /// serialised as `session_cost`, its earlier name, so databases and consumers keep reading it.
    #[serde(rename = "session_cost")]
    CallCost,
    /// A user reached a daily or monthly limit.
    UserLimit,
    /// A tenant reached a daily or monthly limit.
    TenantLimit,
    /// A provider quota reached its warning threshold.
    QuotaWarning,
    /// A provider quota reached its critical threshold.
    QuotaCritical,
    /// The platform's cost today reached the daily alert threshold.
    DailyCost,
    /// The platform's cost this month reached the monthly alert threshold.
    MonthlyCost,
    /// A record the database refused for good (a constraint, an overflow) was set aside in the
    /// `quarantine` table instead of stopping the writer; the figure is the money it carries.
    Quarantined,
    /// Events committed to the local file have waited for the fleet database longer than the
    /// threshold (`MeterBuilder::ship_backlog_alert`, feature `postgres`); the figure is the money
    /// they carry, the usage the oldest one's age in seconds.
    ShipBacklog,
    /// What a provider billed for a day differs from what callmeter computed by more than the
    /// threshold given to reconciliation; the figure is the difference (billed − computed).
    BilledDelta,
    /// An event was priced with a price last checked against its source longer ago than the meter's
    /// threshold (`MeterBuilder::stale_price_alert`), or never: raised once per price and meter. The
    /// figure is the event's cost, the usage the price's age in days.
    StalePrice,
}

impl AlertKind {
    /// The name stored in the database (`"call_warning"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::CallWarning => "call_warning",
            AlertKind::CallCutoff => "call_cutoff",
            AlertKind::CallCost => "session_cost",
            AlertKind::UserLimit => "user_limit",
            AlertKind::TenantLimit => "tenant_limit",
            AlertKind::QuotaWarning => "quota_warning",
            AlertKind::QuotaCritical => "quota_critical",
            AlertKind::DailyCost => "daily_cost",
            AlertKind::MonthlyCost => "monthly_cost",
            AlertKind::Quarantined => "quarantined",
            AlertKind::ShipBacklog => "ship_backlog",
            AlertKind::BilledDelta => "billed_delta",
            AlertKind::StalePrice => "stale_price",
        }
    }

    /// Every kind.
    pub const ALL: [AlertKind; 13] = [
        AlertKind::CallWarning,
        AlertKind::CallCutoff,
        AlertKind::CallCost,
        AlertKind::UserLimit,
        AlertKind::TenantLimit,
        AlertKind::QuotaWarning,
        AlertKind::QuotaCritical,
        AlertKind::DailyCost,
        AlertKind::MonthlyCost,
        AlertKind::Quarantined,
        AlertKind::ShipBacklog,
        AlertKind::BilledDelta,
        AlertKind::StalePrice,
    ];

    pub(crate) fn from_name(name: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One alert: fired once per threshold (per call, or per period for period thresholds).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// Who or what crossed the threshold: `call:<id>`, `user:<id>`, `tenant:<id>`, `provider:<name>`,
    /// `platform`.
    pub subject: String,
    /// The call, for call alerts.
    pub call_id: Option<String>,
    /// The user of the call, if known.
    pub user_id: Option<String>,
    /// The tenant of the call, if known.
    pub tenant_id: Option<String>,
    /// The money figure when the alert fired: the call's cost, the subject's or provider's spend in
    /// the period, the platform's cost, or the money a quarantined record carries.
    pub value: Usd,
    /// The dollar threshold that was reached, or `None` when the rule that fired counts usage (a
    /// quota in units, a limit in minutes: see [`usage`](Self::usage)) or has no threshold.
    pub threshold: Option<Usd>,
    /// For a rule that counts usage: what was used and the threshold that was reached.
    pub usage: Option<AlertUsage>,
    /// When it was crossed.
    pub at: DateTime<Utc>,
    /// A sentence for people.
    pub message: String,
}

/// The usage figures of an alert whose rule counts units or minutes rather than dollars.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertUsage {
    /// What was used in the period.
    pub used: Decimal,
    /// The threshold that was reached.
    pub threshold: Decimal,
    /// The unit of both (`character`, `token`, `second`, `minute` …).
    pub unit: String,
}

impl AlertUsage {
    pub(crate) fn new(used: Decimal, threshold: Decimal, unit: &str) -> Self {
        AlertUsage {
            used: used.normalize(),
            threshold: threshold.normalize(),
            unit: unit.to_owned(),
        }
    }
}

/// Where alerts go besides the `alerts` table: email, chat, a pager…
///
/// Sinks run on the `callmeter-alerts` thread, one alert at a time. A sink that returns an error or
/// panics is counted in [`Stats::alert_sink_failures`](crate::Stats::alert_sink_failures) and does not
/// stop the other sinks; a slow sink delays later alerts, never a track call.
pub trait AlertSink: Send + Sync + 'static {
    /// Delivers one alert.
    ///
    /// # Errors
    ///
    /// Whatever kept the alert from being delivered; it is counted, and the alert is not retried.
    fn deliver(&self, alert: &Alert) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

impl<F> AlertSink for F
where
    F: Fn(&Alert) + Send + Sync + 'static,
{
    fn deliver(&self, alert: &Alert) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self(alert);
        Ok(())
    }
}

/// Writes each alert as a `tracing` event at level WARN (target `callmeter::alert`), with its kind,
/// subject, value and threshold as fields.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSink;

impl AlertSink for LogSink {
    fn deliver(&self, alert: &Alert) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        tracing::warn!(
            target: "callmeter::alert",
            kind = alert.kind.as_str(),
            subject = %alert.subject,
            value = %alert.value,
            threshold = ?alert.threshold,
            usage = ?alert.usage,
            "{}",
            alert.message
        );
        Ok(())
    }
}

/// What the hot path hands to the alert thread.
pub(crate) enum AlertMsg {
    /// A call reached its budget's warning threshold or its maximum: `threshold` is the cost reached,
    /// `None` when the call's duration reached the budget's maximum duration (`max_ms`).
    Budget {
        call: Arc<CallIdent>,
        verdict: Verdict,
        total: i64,
        threshold: Option<i64>,
        elapsed_ms: u32,
        max_ms: u32,
        at_ms: i64,
    },
    Session {
        call: Arc<CallIdent>,
        total: i64,
        threshold: i64,
        at_ms: i64,
    },
    Limit {
        call: Arc<CallIdent>,
        counter: Arc<PeriodCounter>,
        at_ms: i64,
    },
    /// An alert made by the writer (quotas, platform cost).
    Ready(Box<Alert>),
}

/// Messages the alert queue holds before further ones are counted as dropped.
pub(crate) const ALERT_QUEUE: usize = 4_096;

fn call_alert(
    kind: AlertKind,
    call: &CallIdent,
    value: i64,
    threshold: i64,
    at_ms: i64,
    what: &str,
) -> Alert {
    let (value, threshold) = (Usd::from_nanos(value), Usd::from_nanos(threshold));
    Alert {
        kind,
        subject: format!("call:{}", call.call_id),
        call_id: Some(call.call_id.to_string()),
        user_id: call.user_id.as_deref().map(str::to_owned),
        tenant_id: call.tenant_id.as_deref().map(str::to_owned),
        value,
        threshold: Some(threshold),
        usage: None,
        at: DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
        message: format!(
            "call {} {what}: {value} (threshold {threshold})",
            call.call_id
        ),
    }
}

impl AlertMsg {
    fn into_alert(self) -> Alert {
        match self {
            AlertMsg::Budget {
                call,
                verdict,
                total,
                threshold,
                elapsed_ms,
                max_ms,
                at_ms,
            } => {
                let (kind, what) = if verdict == Verdict::Cutoff {
                    (AlertKind::CallCutoff, "reached its budget's maximum")
                } else {
                    (
                        AlertKind::CallWarning,
                        "reached its budget's warning threshold",
                    )
                };
                match threshold {
                    Some(t) => call_alert(kind, &call, total, t, at_ms, &format!("{what} cost")),
                    None => {
                        let seconds = |ms: u32| Decimal::new(i64::from(ms), 3).normalize();
                        let mut alert = call_alert(kind, &call, total, 0, at_ms, "");
                        alert.threshold = None;
                        alert.usage = Some(AlertUsage::new(
                            seconds(elapsed_ms),
                            seconds(max_ms),
                            "second",
                        ));
                        alert.message = format!(
                            "call {} {what} duration: {} s (threshold {} s)",
                            call.call_id,
                            seconds(elapsed_ms),
                            seconds(max_ms)
                        );
                        alert
                    }
                }
            }
            AlertMsg::Session {
                call,
                total,
                threshold,
                at_ms,
            } => call_alert(
                AlertKind::CallCost,
                &call,
                total,
                threshold,
                at_ms,
                "reached the call cost alert",
            ),
            AlertMsg::Ready(alert) => *alert,
            AlertMsg::Limit {
                call,
                counter,
                at_ms,
            } => limit_alert(&call, &counter, at_ms),
        }
    }
}

/// The alert of a user's or tenant's limit: names the limit that was reached (cost, minutes, or both)
/// with its own threshold.
fn limit_alert(call: &CallIdent, counter: &PeriodCounter, at_ms: i64) -> Alert {
    let status = counter.status();
    let (kind, who) = match counter.kind {
        SubjectKind::User => (AlertKind::UserLimit, "user"),
        SubjectKind::Tenant => (AlertKind::TenantLimit, "tenant"),
    };
    let period = counter.period.adjective();
    let cost_reached = status.cost_limit.filter(|limit| status.spent >= *limit);
    let minutes_reached = status
        .minutes_limit
        .map(Decimal::from)
        .filter(|limit| status.minutes >= *limit);
    let mut rules = Vec::new();
    if let Some(limit) = cost_reached {
        rules.push(format!(
            "{period} cost limit: spent {} of {limit}",
            status.spent
        ));
    }
    if let Some(limit) = minutes_reached {
        rules.push(format!(
            "{period} minutes limit: {} of {limit} minutes",
            status.minutes.round_dp(2).normalize()
        ));
    }
    let spent = status.spent.to_nanos().unwrap_or(i64::MAX);
    let mut alert = call_alert(kind, call, spent, 0, at_ms, "");
    alert.subject = format!("{who}:{}", counter.id);
    alert.threshold = cost_reached;
    alert.usage = minutes_reached.map(|limit| AlertUsage::new(status.minutes, limit, "minute"));
    alert.message = format!(
        "{who} {} reached its {}",
        counter.id,
        rules.join(" and its ")
    );
    alert
}

/// Hands a delivered alert on to be stored (the meter passes one that queues it for the writer: this
/// stage does not know the writer).
pub(crate) type StoreAlert = Box<dyn Fn(Alert) + Send>;

/// The alert thread and what stops it.
pub(crate) struct Dispatcher {
    /// Closed (dropped) to ask the thread to deliver what is queued and stop.
    stop: Option<Sender<()>>,
    /// Disconnected when the thread has ended.
    ended: Receiver<()>,
    join: Option<JoinHandle<()>>,
}

impl Dispatcher {
    pub(crate) fn spawn(
        queue: Receiver<AlertMsg>,
        sinks: Vec<Arc<dyn AlertSink>>,
        store: StoreAlert,
        counters: Arc<Counters>,
    ) -> std::io::Result<Dispatcher> {
        let (stop, stopping) = bounded::<()>(0);
        let (ending, ended) = bounded::<()>(0);
        let join = std::thread::Builder::new()
            .name("callmeter-alerts".into())
            .spawn(move || {
                run(&queue, &sinks, &store, &counters, &stopping);
                drop(ending);
            })?;
        Ok(Dispatcher {
            stop: Some(stop),
            ended,
            join: Some(join),
        })
    }

    /// Delivers what is queued and stops the thread, waiting for it until `deadline` at most (a sink
    /// still busy then is left to finish on its own; later alerts are not delivered).
    pub(crate) fn stop(&mut self, deadline: std::time::Instant) {
        drop(self.stop.take());
        if let Some(join) = self.join.take() {
            // Blocks until the thread ends (its end of `ended` is dropped) or the deadline passes.
            if let Err(RecvTimeoutError::Disconnected) = self.ended.recv_deadline(deadline) {
                let _ = join.join();
            }
        }
    }
}

/// The alert thread: sleeps until an alert or a stop arrives (no periodic wake-up), delivers each
/// alert to every sink, and when asked to stop delivers what is queued first.
///
/// Blocking costs the one track call that raises an alert (a rare event: once per threshold and
/// call or period) a wake-up of this thread; every other track call never touches the queue.
fn run(
    queue: &Receiver<AlertMsg>,
    sinks: &[Arc<dyn AlertSink>],
    store: &StoreAlert,
    counters: &Counters,
    stop: &Receiver<()>,
) {
    let deliver = |msg: AlertMsg| {
        let alert = msg.into_alert();
        for sink in sinks {
            let delivered = catch_unwind(AssertUnwindSafe(|| sink.deliver(&alert)));
            if !matches!(delivered, Ok(Ok(()))) {
                Counters::bump(&counters.alert_sink_failures);
            }
        }
        Counters::bump(&counters.alerts_raised);
        store(alert);
    };
    loop {
        select! {
            recv(queue) -> msg => match msg {
                Ok(msg) => deliver(msg),
                // Every sender is gone: nothing more can come.
                Err(_) => return,
            },
            recv(stop) -> _ => {
                // Asked to stop (the sender dropped): what is queued now is delivered, then it ends.
                while let Ok(msg) = queue.try_recv() {
                    deliver(msg);
                }
                return;
            }
        }
    }
}

/// Cost alert thresholds: one call, the platform's day (UTC), the platform's month (UTC).
///
/// Defaults are $5.00, $100.00 and $2,000.00. They can be set in code
/// ([`MeterBuilder::alert_thresholds`](crate::MeterBuilder::alert_thresholds)) and from the
/// environment, which is read last when the meter opens so that operators can change a threshold
/// without a rebuild: `ALERT_SESSION_COST`, `ALERT_DAILY_COST`, `ALERT_MONTHLY_COST` (dollars, e.g.
/// `7.50`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlertThresholds {
    /// One call's cost (`ALERT_SESSION_COST` in the environment).
    #[serde(alias = "session")]
    pub call: Usd,
    /// The platform's cost in a UTC day.
    pub daily: Usd,
    /// The platform's cost in a UTC month.
    pub monthly: Usd,
}

/// The environment read when a meter opens.
impl AlertThresholds {
    /// The environment variables [`AlertThresholds::with_env`] reads.
    pub const ENV_VARS: [&str; 3] = ALERT_ENV_VARS;
}

impl Default for AlertThresholds {
    fn default() -> Self {
        AlertThresholds {
            call: Usd::from_nanos(5_000_000_000),
            daily: Usd::from_nanos(100_000_000_000),
            monthly: Usd::from_nanos(2_000_000_000_000),
        }
    }
}

/// The environment variables [`AlertThresholds::with_env`] reads.
pub(crate) const ALERT_ENV_VARS: [&str; 3] = [
    "ALERT_SESSION_COST",
    "ALERT_DAILY_COST",
    "ALERT_MONTHLY_COST",
];

impl AlertThresholds {
    /// These thresholds with each one the environment sets replaced.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`](crate::Error::InvalidConfig) naming the variable whose value is not
    /// an amount of dollars of zero or more.
    pub fn with_env(self) -> crate::Result<Self> {
        self.with_vars(|name| std::env::var(name).ok())
    }

    pub(crate) fn with_vars(mut self, var: impl Fn(&str) -> Option<String>) -> crate::Result<Self> {
        let slots = [&mut self.call, &mut self.daily, &mut self.monthly];
        for (name, slot) in ALERT_ENV_VARS.into_iter().zip(slots) {
            if let Some(text) = var(name) {
                let amount: Usd = text.trim().trim_start_matches('$').parse().map_err(|_| {
                    crate::Error::InvalidConfig {
                        name,
                        reason: format!("{text:?} is not an amount of dollars"),
                    }
                })?;
                if amount.is_negative() || amount.to_nanos().is_err() {
                    return Err(crate::Error::InvalidConfig {
                        name,
                        reason: format!("{text:?} must be zero or more, within range"),
                    });
                }
                *slot = amount;
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_each_threshold_it_names() -> crate::Result<()> {
        let vars = |name: &str| match name {
            "ALERT_SESSION_COST" => Some("7.50".to_string()),
            "ALERT_MONTHLY_COST" => Some("$3000".to_string()),
            _ => None,
        };
        let t = AlertThresholds::default().with_vars(vars)?;
        assert_eq!(t.call, Usd::from_nanos(7_500_000_000));
        assert_eq!(t.daily, Usd::from_nanos(100_000_000_000));
        assert_eq!(t.monthly, Usd::from_nanos(3_000_000_000_000));
        let bad = AlertThresholds::default()
            .with_vars(|n| (n == "ALERT_DAILY_COST").then(|| "lots".to_string()));
        assert!(matches!(
            bad,
            Err(crate::Error::InvalidConfig {
                name: "ALERT_DAILY_COST",
                ..
            })
        ));
        let negative = AlertThresholds::default()
            .with_vars(|n| (n == "ALERT_DAILY_COST").then(|| "-1".to_string()));
        assert!(negative.is_err());
        Ok(())
    }
}
