//! Records the database refuses for good, set aside where an operator can see them.
//!
//! When a batch fails with an error that retrying cannot fix (a constraint, an integer overflow, a
//! value too big), the writer splits it until each refused record is alone, commits everything else,
//! and writes each refused record to table `quarantine`: what it was (`event`, `call_start`,
//! `call_end`, `alert`), its call and event id, the money it carries, the whole record as JSON, the
//! database's reason and the time. Each one is counted ([`Stats::quarantined`](crate::Stats)) and
//! raises an [`AlertKind::Quarantined`] alert. Nothing is dropped; nothing stops the writer.

use chrono::DateTime;
use serde_json::json;

use crate::base::clock::system_now_ms as now_ms;
use crate::base::money::Usd;
use crate::control::alert::{Alert, AlertKind};
use crate::ident::CallIdent;
use crate::persist::message::{Record, Resolved};

/// The table.
pub(crate) const SCHEMA: &str = "
CREATE TABLE quarantine (
    quarantine_id  INTEGER PRIMARY KEY,
    record         TEXT NOT NULL CHECK (record IN ('event', 'call_start', 'call_end', 'alert')),
    call_id        TEXT,
    event_id       TEXT,
    cost_nanos     INTEGER NOT NULL DEFAULT 0,
    events         INTEGER NOT NULL DEFAULT 0,
    detail         TEXT NOT NULL,
    reason         TEXT NOT NULL,
    quarantined_at INTEGER NOT NULL
);
";

/// The row of one refused record.
pub(crate) struct Quarantined {
    pub(crate) record: &'static str,
    pub(crate) call_id: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) cost: i64,
    pub(crate) events: u64,
    pub(crate) detail: String,
    pub(crate) reason: String,
    pub(crate) at_ms: i64,
}

/// An event's identity as `cost_events.event_id` spells it: `call_id#segment#seq@origin`.
pub(crate) fn event_id(call: &CallIdent, seq: u64, origin: &str) -> String {
    format!("{}#{}#{seq}@{origin}", call.call_id, call.segment)
}

fn event_detail(r: &Resolved) -> serde_json::Value {
    let (provider, model) = r.names();
    let (quantity, unit) = r.measure.headline();
    json!({
        "segment": r.call.segment,
        "seq": r.event.seq,
        "created_at": r.at_ms(),
        "category": r.event.category().as_str(),
        "provider": provider,
        "model": model,
        "agent": r.agent.as_deref(),
        "quantity": quantity,
        "unit": unit.as_str(),
        "cost_nanos": r.event.cost,
        "amount_nanos": r.amount(),
        "priced": r.event.priced(),
        "late": r.event.late(),
    })
}

impl Quarantined {
    /// The quarantine row of `record`, refused for `reason` by the file whose origin is `origin`.
    pub(crate) fn of(record: &Record, reason: &str, origin: &str) -> Quarantined {
        let base = |record, call: Option<&CallIdent>, detail: serde_json::Value| Quarantined {
            record,
            call_id: call.map(|c| c.call_id.to_string()),
            event_id: None,
            cost: 0,
            events: 0,
            detail: detail.to_string(),
            reason: reason.to_owned(),
            at_ms: now_ms(),
        };
        match record {
            Record::Event(r) => Quarantined {
                event_id: Some(event_id(&r.call, u64::from(r.event.seq), origin)),
                cost: r.event.cost,
                events: 1,
                ..base("event", Some(&r.call), event_detail(r))
            },
            Record::Start(c) => base(
                "call_start",
                Some(c),
                json!({
                    "segment": c.segment,
                    "user_id": c.user_id.as_deref(),
                    "tenant_id": c.tenant_id.as_deref(),
                    "persona": c.persona.as_deref(),
                    "session_kind": c.session_kind.as_deref(),
                    "metadata": c.metadata.as_deref(),
                    "started_at": c.started_at_ms,
                }),
            ),
            Record::End(end) => {
                let coalesced: Vec<_> = end
                    .coalesced
                    .iter()
                    .map(|c| {
                        json!({
                            "event_id": event_id(&end.call, c.seq, origin),
                            "category": c.category.as_str(),
                            "events": c.events,
                            "cost_nanos": c.cost,
                        })
                    })
                    .collect();
                Quarantined {
                    cost: end.coalesced.iter().map(|c| c.cost).sum(),
                    events: end.coalesced.iter().map(|c| c.events).sum(),
                    ..base(
                        "call_end",
                        Some(&end.call),
                        json!({
                            "segment": end.call.segment,
                            "status": end.status.as_str(),
                            "failure_reason": end.reason,
                            "ended_at": end.ended_at_ms,
                            "coalesced": coalesced,
                        }),
                    )
                }
            }
            Record::Alert(a) => Quarantined {
                call_id: a.call_id.clone(),
                ..base("alert", None, serde_json::to_value(a).unwrap_or_default())
            },
        }
    }

    /// The alert that tells an operator about it.
    pub(crate) fn alert(&self) -> Alert {
        let value = Usd::from_nanos(self.cost);
        let what = match (&self.event_id, &self.call_id) {
            (Some(id), _) => format!("event {id}"),
            (None, Some(call)) => format!("the {} record of call {call}", self.record),
            (None, None) => format!("a {} record", self.record),
        };
        Alert {
            kind: AlertKind::Quarantined,
            subject: self
                .call_id
                .as_ref()
                .map_or_else(|| "platform".to_owned(), |c| format!("call:{c}")),
            call_id: self.call_id.clone(),
            user_id: None,
            tenant_id: None,
            value,
            threshold: None,
            usage: None,
            at: DateTime::from_timestamp_millis(self.at_ms).unwrap_or_default(),
            message: format!(
                "{what} ({value}) could not be written and was quarantined: {}",
                self.reason
            ),
        }
    }
}
