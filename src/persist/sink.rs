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
