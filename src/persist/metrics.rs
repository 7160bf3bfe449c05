//! Metrics (feature `metrics`): the meter's counters through the [`metrics`] facade, so whatever
//! exporter the application installed (Prometheus, OpenTelemetry, StatsD …) picks them up.
//!
//! Recorded by the writer thread only, never by a track call: after every commit, every failed
//! write and every idle wake. Without an installed recorder the facade does nothing.
//!
//! | name | kind | what |
//! |---|---|---|
//! | `callmeter_events_enqueued_total` | counter | events tracked: persisted + quarantined + dropped + waiting |
//! | `callmeter_events_persisted_total` | counter | events committed to the file |
//! | `callmeter_events_dropped_total` | counter | events dropped because the queue was full |
//! | `callmeter_events_quarantined_total` | counter | events the database refused, set aside |
//! | `callmeter_events_unpriced_total` | counter | events of models the catalog does not price |
//! | `callmeter_write_errors_total` | counter | failed write attempts (retried) |
//! | `callmeter_queue_events` | gauge | events waiting for the writer |
//! | `callmeter_calls_started_total`, `callmeter_calls_finalized_total` | counter | calls |
//! | `callmeter_alerts_raised_total`, `callmeter_alerts_dropped_total` | counter | alerts |
//! | `callmeter_events_shipped_total` | counter | events shipped to the fleet database |
//! | `callmeter_ship_backlog_events` | gauge | committed events not yet shipped |
//! | `callmeter_ship_errors_total` | counter | failed shipping rounds |
//! | `callmeter_cost_nanos_total{category, provider}` | counter | cost committed, in nano-USD |

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use metrics::{counter, gauge};

use crate::base::stats::Counters;
use crate::persist::message::Batch;
use crate::persist::sink::Sink;

/// Adds each committed batch's cost to `callmeter_cost_nanos_total`, by category and provider.
pub(crate) struct CostSink;

impl Sink for CostSink {
    fn committed(&mut self, batch: &Batch) {
        let mut sums: BTreeMap<(&'static str, &str), i64> = BTreeMap::new();
        for r in &batch.events {
            let (provider, _) = r.names();
            *sums
                .entry((r.event.category().as_str(), provider))
                .or_default() += r.event.cost;
        }
        for ((category, provider), cost) in sums {
            // A counter only goes up; a batch's cost is never negative in practice (a correction
            // smaller than the usage it corrects), and a negative sum is left out rather than wrapped.
            if let Ok(cost) = u64::try_from(cost) {
                counter!(
                    "callmeter_cost_nanos_total",
                    "category" => category,
                    "provider" => provider.to_owned()
                )
                .increment(cost);
            }
        }
    }
}

/// Records the counters. `waiting` is the events queued or in the writer's hand, not yet committed.
pub(crate) fn record(c: &Counters, waiting: u64) {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Acquire);
    let (persisted, quarantined, dropped) =
        (load(&c.persisted), load(&c.quarantined), load(&c.dropped));
    counter!("callmeter_events_enqueued_total")
        .absolute(persisted + quarantined + dropped + waiting);
    counter!("callmeter_events_persisted_total").absolute(persisted);
    counter!("callmeter_events_dropped_total").absolute(dropped);
    counter!("callmeter_events_quarantined_total").absolute(quarantined);
    counter!("callmeter_events_unpriced_total").absolute(load(&c.unpriced));
    counter!("callmeter_write_errors_total").absolute(load(&c.write_errors));
    gauge!("callmeter_queue_events").set(waiting as f64);
    counter!("callmeter_calls_started_total").absolute(load(&c.calls_started));
    counter!("callmeter_calls_finalized_total").absolute(load(&c.calls_finalized));
    counter!("callmeter_alerts_raised_total").absolute(load(&c.alerts_raised));
    counter!("callmeter_alerts_dropped_total").absolute(load(&c.alerts_dropped));
    counter!("callmeter_events_shipped_total").absolute(load(&c.ship.shipped));
    gauge!("callmeter_ship_backlog_events").set(load(&c.ship.backlog) as f64);
    counter!("callmeter_ship_errors_total").absolute(load(&c.ship.errors));
}
