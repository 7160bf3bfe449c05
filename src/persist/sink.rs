//! Sinks: what happens to a batch after SQLite committed it.
//!
//! The SQLite file is the durable record; everything downstream of it (quota and platform alerts, the
//! writer's log events, the cost metrics, and a fleet shipper's wake-up) is a [`Sink`]. The meter
//! chooses its sinks; this file knows none but its own. The writer calls each sink in
//! order, on its own thread, once per committed transaction, with exactly the records that
//! transaction wrote: a record the database refused is never seen by a sink, and a batch split to
//! isolate a refused record reaches the sinks as the parts that committed. A sink never sees the hot
//! path and cannot make a commit fail.

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::base::stats::Counters;
use crate::control::alert::AlertMsg;
use crate::control::quota::{Spent, Watch};
use crate::persist::message::Batch;

/// Something told of every committed batch.
pub(crate) trait Sink: Send {
    /// `batch` is committed. Called on the writer thread: a sink that needs to do slow work hands it
    /// to a thread of its own.
    fn committed(&mut self, batch: &Batch);
}

/// Counts committed spend against provider quotas and the platform's daily and monthly thresholds,
/// and queues the alerts it crosses for delivery.
pub(crate) struct QuotaSink {
    watch: Watch,
    alerts: Sender<AlertMsg>,
    counters: Arc<Counters>,
}

impl QuotaSink {
    pub(crate) fn new(watch: Watch, alerts: Sender<AlertMsg>, counters: Arc<Counters>) -> Self {
        QuotaSink {
            watch,
            alerts,
            counters,
        }
    }
}

impl Sink for QuotaSink {
    fn committed(&mut self, batch: &Batch) {
        let spent = batch.events.iter().map(|r| {
            let (provider, model) = r.names();
            Spent {
                at_ms: r.at_ms(),
                cost: r.event.cost,
                provider,
                model,
                measure: r.measure,
            }
        });
        for alert in self.watch.observe(spent) {
            if self
                .alerts
                .try_send(AlertMsg::Ready(Box::new(alert)))
                .is_err()
            {
                Counters::bump(&self.counters.alerts_dropped);
            }
        }
    }
}

/// One `debug` event per priced event and one `info` event per ended call (targets
/// `callmeter::event`, `callmeter::call`): feature `tracing`.
#[cfg(feature = "tracing")]
pub(crate) struct TraceSink;

#[cfg(feature = "tracing")]
impl Sink for TraceSink {
    fn committed(&mut self, batch: &Batch) {
        use crate::base::money::Usd;
        for r in &batch.events {
            let (provider, model) = r.names();
            let (quantity, unit) = r.measure.headline();
            tracing::debug!(
                target: "callmeter::event",
                call = %r.call.call_id,
                seq = r.event.seq,
                "{} {quantity} {unit}s = {} ({provider} {model})",
                r.event.category(),
                Usd::from_nanos(r.event.cost),
            );
        }
        for end in &batch.ends {
            tracing::info!(
                target: "callmeter::call",
                call = %end.call.call_id,
                status = end.status.as_str(),
                "call {} {}: {}",
                end.call.call_id,
                end.status.as_str(),
                Usd::from_nanos(end.total),
            );
        }
    }
}

/// Raises one [`AlertKind::StalePrice`](crate::control::alert::AlertKind::StalePrice) alert per
/// price the first time a committed event was priced with it while it was older than the threshold
/// (checked more than `max_age_days` before the event's day, or never checked).
pub(crate) struct StalePriceSink {
    max_age_days: i64,
    /// Per (catalog, entry): the event time from which the price is stale, `i64::MAX` once alerted.
    stale_from: rustc_hash::FxHashMap<(u64, u32), i64>,
    alerts: Sender<AlertMsg>,
    counters: Arc<Counters>,
}

impl StalePriceSink {
    pub(crate) fn new(
        max_age_days: u32,
        alerts: Sender<AlertMsg>,
        counters: Arc<Counters>,
    ) -> Self {
        StalePriceSink {
            max_age_days: i64::from(max_age_days),
            stale_from: rustc_hash::FxHashMap::default(),
            alerts,
            counters,
        }
    }
}

/// The event time from which a price checked on `checked` is stale after `max_age_days`: the start of
/// the day after `checked + max_age_days`, in UTC; always, for a price never checked.
fn stale_from(checked: Option<chrono::NaiveDate>, max_age_days: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    checked.map_or(i64::MIN, |day| {
        let checked_ms = day
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp_millis();
        checked_ms.saturating_add(max_age_days.saturating_add(1).saturating_mul(DAY_MS))
    })
}

impl Sink for StalePriceSink {
    fn committed(&mut self, batch: &Batch) {
        use crate::base::money::Usd;
        use crate::control::alert::{Alert, AlertKind, AlertUsage};
        use crate::persist::message::UNKNOWN_BIT;
        for r in &batch.events {
            let entry = r.event.entry;
            if entry & UNKNOWN_BIT != 0 {
                continue;
            }
            let catalog = &r.call.catalog;
            let price = catalog.entry_price(entry);
            let key = (catalog.id(), entry);
            let max_age_days = self.max_age_days;
            let from = self
                .stale_from
                .entry(key)
                .or_insert_with(|| stale_from(price.checked(), max_age_days));
            let at_ms = r.at_ms();
            if at_ms < *from {
                continue;
            }
            *from = i64::MAX;
            let at = chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default();
            let age = price.checked().map(|d| (at.date_naive() - d).num_days());
            let name = format!("{}/{}", price.provider(), price.model());
            let message = match (price.checked(), age) {
                (Some(day), Some(age)) => format!(
                    "{name} priced an event with a price checked {day}, {age} days before (threshold {} days): check it against {}",
                    self.max_age_days,
                    if price.source().is_empty() {
                        "its source"
                    } else {
                        price.source()
                    }
                ),
                _ => format!(
                    "{name} priced an event with a price that was never checked against a source"
                ),
            };
            let alert = Alert {
                kind: AlertKind::StalePrice,
                subject: format!("price:{name}"),
                call_id: Some(r.call.call_id.to_string()),
                user_id: r.call.user_id.as_deref().map(str::to_owned),
                tenant_id: r.call.tenant_id.as_deref().map(str::to_owned),
                value: Usd::from_nanos(r.event.cost),
                threshold: None,
                usage: age.map(|age| AlertUsage::new(age.into(), self.max_age_days.into(), "day")),
                at,
                message,
            };
            if self
                .alerts
                .try_send(AlertMsg::Ready(Box::new(alert)))
                .is_err()
            {
                Counters::bump(&self.counters.alerts_dropped);
            }
        }
    }
}
