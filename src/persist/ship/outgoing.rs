//! What one shipment carries, read from the SQLite file in one snapshot: the calls whose rows changed
//! since the last shipment, and the next events after the watermark, in columns (the way PostgreSQL
//! takes them, one array per column).

use rusqlite::{Connection, params};

use crate::persist::outbox::Watermarks;
pub(crate) use crate::persist::rows::DETAIL_COLUMNS;

/// A call's row as this file knows it (one segment of the call in the fleet).
#[derive(Debug, Default)]
pub(crate) struct CallColumns {
    pub(crate) call_id: Vec<String>,
    pub(crate) user_id: Vec<Option<String>>,
    pub(crate) tenant_id: Vec<Option<String>>,
    pub(crate) persona: Vec<Option<String>>,
    pub(crate) session_kind: Vec<Option<String>>,
    pub(crate) status: Vec<String>,
    pub(crate) failure_reason: Vec<Option<String>>,
    pub(crate) started_at: Vec<i64>,
    pub(crate) ended_at: Vec<Option<i64>>,
    pub(crate) segments: Vec<i64>,
    pub(crate) metadata: Vec<Option<String>>,
}

/// Events, one vector per column.
#[derive(Debug, Default)]
pub(crate) struct EventColumns {
    /// `cost_events.id` in the file (not shipped: the watermark).
    pub(crate) id: Vec<i64>,
    pub(crate) event_id: Vec<String>,
    pub(crate) call_id: Vec<String>,
    pub(crate) segment: Vec<i64>,
    pub(crate) seq: Vec<i64>,
    pub(crate) created_at: Vec<i64>,
    pub(crate) category: Vec<String>,
    pub(crate) provider: Vec<String>,
    pub(crate) model: Vec<String>,
    pub(crate) agent: Vec<Option<String>>,
    pub(crate) quantity: Vec<f64>,
    pub(crate) unit: Vec<String>,
    pub(crate) cost_nanos: Vec<i64>,
    pub(crate) kind: Vec<String>,
    pub(crate) priced: Vec<bool>,
    pub(crate) estimated: Vec<bool>,
    pub(crate) detail: [Vec<Option<i64>>; DETAIL_COLUMNS.len()],
}

impl EventColumns {
    pub(crate) fn len(&self) -> usize {
        self.event_id.len()
    }

    /// The events in consecutive parts of at most `size` each, in order.
    pub(crate) fn split(self, size: usize) -> Vec<EventColumns> {
        let size = size.max(1);
        let parts = self.len().div_ceil(size).max(1);
        if parts == 1 {
            return vec![self];
        }
        let mut out: Vec<EventColumns> = (0..parts).map(|_| EventColumns::default()).collect();
        fn deal<T>(
            column: Vec<T>,
            size: usize,
            out: &mut [EventColumns],
            pick: fn(&mut EventColumns) -> &mut Vec<T>,
        ) {
            for (i, v) in column.into_iter().enumerate() {
                pick(&mut out[i / size]).push(v);
            }
        }
        deal(self.id, size, &mut out, |e| &mut e.id);
        deal(self.event_id, size, &mut out, |e| &mut e.event_id);
        deal(self.call_id, size, &mut out, |e| &mut e.call_id);
        deal(self.segment, size, &mut out, |e| &mut e.segment);
        deal(self.seq, size, &mut out, |e| &mut e.seq);
        deal(self.created_at, size, &mut out, |e| &mut e.created_at);
        deal(self.category, size, &mut out, |e| &mut e.category);
        deal(self.provider, size, &mut out, |e| &mut e.provider);
        deal(self.model, size, &mut out, |e| &mut e.model);
        deal(self.agent, size, &mut out, |e| &mut e.agent);
        deal(self.quantity, size, &mut out, |e| &mut e.quantity);
        deal(self.unit, size, &mut out, |e| &mut e.unit);
        deal(self.cost_nanos, size, &mut out, |e| &mut e.cost_nanos);
        deal(self.kind, size, &mut out, |e| &mut e.kind);
        deal(self.priced, size, &mut out, |e| &mut e.priced);
        deal(self.estimated, size, &mut out, |e| &mut e.estimated);
        for (d, column) in self.detail.into_iter().enumerate() {
            for (i, v) in column.into_iter().enumerate() {
                out[i / size].detail[d].push(v);
            }
        }
        out
    }

    /// The last event's id in the file.
    pub(crate) fn last_id(&self) -> Option<i64> {
        self.id.last().copied()
    }
}

/// One shipment.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    pub(crate) calls: CallColumns,
    pub(crate) events: EventColumns,
    /// The watermarks once this shipment is committed.
    pub(crate) through: Watermarks,
}

impl Outgoing {
    pub(crate) fn is_empty(&self) -> bool {
        self.calls.call_id.is_empty() && self.events.len() == 0
    }
}

/// Reads the next shipment after `from`: every call change, and at most `max_events` events. One read
/// transaction, so every event's call is either in this shipment or in an earlier one.
pub(crate) fn read(
    conn: &Connection,
    from: Watermarks,
    max_events: usize,
) -> rusqlite::Result<Outgoing> {
    let tx = conn.unchecked_transaction()?;
    let mut out = Outgoing {
        through: from,
        ..Outgoing::default()
    };
    out.through.changes = tx.query_row(
        "SELECT COALESCE(MAX(id), ?1) FROM call_changes WHERE id > ?1",
        [from.changes],
        |r| r.get(0),
    )?;
    {
        let mut calls = tx.prepare(
            "SELECT call_id, user_id, tenant_id, persona, session_kind, status, failure_reason,
                    started_at, ended_at, segments, metadata
             FROM calls WHERE call_ref IN
                 (SELECT call_ref FROM call_changes WHERE id > ?1 AND id <= ?2)
             ORDER BY call_id",
        )?;
        let mut rows = calls.query(params![from.changes, out.through.changes])?;
        let c = &mut out.calls;
        while let Some(r) = rows.next()? {
            c.call_id.push(r.get(0)?);
            c.user_id.push(r.get(1)?);
            c.tenant_id.push(r.get(2)?);
            c.persona.push(r.get(3)?);
            c.session_kind.push(r.get(4)?);
            c.status.push(r.get(5)?);
            c.failure_reason.push(r.get(6)?);
            c.started_at.push(r.get(7)?);
            c.ended_at.push(r.get(8)?);
            c.segments.push(r.get(9)?);
            c.metadata.push(r.get(10)?);
        }
    }
    {
        let mut events = tx.prepare_cached(&format!(
            "SELECT id, event_id, call_id, segment, seq, created_at, category, provider, model, agent,
                    quantity, unit, cost_nanos, kind, priced, estimated, {}
             FROM cost_events WHERE id > ?1 ORDER BY id LIMIT ?2",
            DETAIL_COLUMNS.join(", ")
        ))?;
        let limit = i64::try_from(max_events).unwrap_or(i64::MAX);
        let mut rows = events.query(params![from.events, limit])?;
        let e = &mut out.events;
        while let Some(r) = rows.next()? {
            out.through.events = r.get(0)?;
            e.id.push(out.through.events);
            e.event_id.push(r.get(1)?);
            e.call_id.push(r.get(2)?);
            e.segment.push(r.get(3)?);
            e.seq.push(r.get(4)?);
            e.created_at.push(r.get(5)?);
            e.category.push(r.get(6)?);
            e.provider.push(r.get(7)?);
            e.model.push(r.get(8)?);
            e.agent.push(r.get(9)?);
            e.quantity.push(r.get(10)?);
            e.unit.push(r.get(11)?);
            e.cost_nanos.push(r.get(12)?);
            e.kind.push(r.get(13)?);
            e.priced.push(r.get(14)?);
            e.estimated.push(r.get(15)?);
            for (i, column) in e.detail.iter_mut().enumerate() {
                column.push(r.get(16 + i)?);
            }
        }
    }
    tx.commit()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every column of a part holds the same events, in order, and the parts cover them all once.
    #[test]
    fn parts_keep_each_event_whole_and_in_order() {
        let mut e = EventColumns::default();
        for i in 1..=5_i64 {
            e.id.push(i);
            e.event_id.push(format!("c#1#{i}@o"));
            e.call_id.push("c".into());
            e.segment.push(1);
            e.seq.push(i);
            e.created_at.push(1_000 + i);
            e.category.push("tts".into());
            e.provider.push("p".into());
            e.model.push("m".into());
            e.agent.push((i % 2 == 0).then(|| "critic".to_owned()));
            e.quantity.push(i as f64);
            e.unit.push("character".into());
            e.cost_nanos.push(10 * i);
            e.kind.push("usage".into());
            e.priced.push(true);
            for (d, column) in e.detail.iter_mut().enumerate() {
                column.push((d == 0).then_some(100 + i));
            }
        }
        let parts = e.split(2);
        assert_eq!(parts.len(), 3);
        let ids: Vec<Vec<i64>> = parts.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids, [vec![1, 2], vec![3, 4], vec![5]]);
        for p in &parts {
            for (k, id) in p.id.iter().enumerate() {
                assert_eq!(p.event_id[k], format!("c#1#{id}@o"));
                assert_eq!(p.seq[k], *id);
                assert_eq!(p.cost_nanos[k], 10 * id);
                assert_eq!(p.agent[k].is_some(), id % 2 == 0);
                assert_eq!(p.detail[0][k], Some(100 + id));
                assert_eq!(p.detail[1][k], None);
            }
        }
        assert_eq!(parts[2].last_id(), Some(5));
        let whole = EventColumns {
            id: vec![7],
            ..EventColumns::default()
        };
        assert_eq!(whole.split(2).len(), 1);
    }
}
