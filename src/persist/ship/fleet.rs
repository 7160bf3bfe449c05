//! One shipment into the fleet database, in one PostgreSQL transaction: the calls' segments and rows,
//! then the events with `ON CONFLICT (event_id) DO NOTHING`, and the calls' totals and the rollups
//! from the rows actually inserted, so a shipment sent twice counts once.
//!
//! Every statement touches rows in a fixed order (calls by id, rollups by key), so servers shipping
//! at the same time wait for each other instead of deadlocking.

use postgres::Transaction;
use postgres::types::ToSql;

use crate::persist::ship::outgoing::{CallColumns, DETAIL_COLUMNS, EventColumns};

/// Upserts the segments this file knows.
const UPSERT_SEGMENTS: &str = "
INSERT INTO call_segments (call_id, origin, server, user_id, tenant_id, persona, session_kind, status,
                           failure_reason, started_at, ended_at, segments, metadata)
SELECT call_id, $1, $2, user_id, tenant_id, persona, session_kind, status, failure_reason, started_at,
       ended_at, segments, metadata
FROM UNNEST($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
            $10::bigint[], $11::bigint[], $12::bigint[], $13::text[])
     AS t(call_id, user_id, tenant_id, persona, session_kind, status, failure_reason, started_at,
          ended_at, segments, metadata)
ORDER BY call_id
ON CONFLICT (call_id, origin) DO UPDATE SET
    server = excluded.server, user_id = excluded.user_id, tenant_id = excluded.tenant_id,
    persona = excluded.persona, session_kind = excluded.session_kind, status = excluded.status,
    failure_reason = excluded.failure_reason, started_at = excluded.started_at,
    ended_at = excluded.ended_at, segments = excluded.segments, metadata = excluded.metadata";

/// A call's fleet row from its segments: active while any server has it active, otherwise as the
/// segment started last left it; started at its first start, ended at its last end. Totals are not
/// touched here: they are the sums of the events inserted.
const UPSERT_CALLS: &str = "
INSERT INTO calls (call_id, user_id, tenant_id, persona, session_kind, status, failure_reason,
                   started_at, ended_at, server, metadata)
SELECT call_id,
       (array_agg(user_id ORDER BY started_at DESC, origin) FILTER (WHERE user_id IS NOT NULL))[1],
       (array_agg(tenant_id ORDER BY started_at DESC, origin) FILTER (WHERE tenant_id IS NOT NULL))[1],
       (array_agg(persona ORDER BY started_at DESC, origin) FILTER (WHERE persona IS NOT NULL))[1],
       (array_agg(session_kind ORDER BY started_at DESC, origin)
           FILTER (WHERE session_kind IS NOT NULL))[1],
       CASE WHEN bool_or(status = 'active') THEN 'active'
            ELSE (array_agg(status ORDER BY started_at DESC, origin))[1] END,
       CASE WHEN bool_or(status = 'active') THEN NULL
            ELSE (array_agg(failure_reason ORDER BY started_at DESC, origin))[1] END,
       MIN(started_at),
       CASE WHEN bool_or(status = 'active') THEN NULL ELSE MAX(ended_at) END,
       (array_agg(server ORDER BY started_at DESC, origin))[1],
       (array_agg(metadata ORDER BY started_at DESC, origin) FILTER (WHERE metadata IS NOT NULL))[1]
FROM call_segments WHERE call_id = ANY($1)
GROUP BY call_id
ORDER BY call_id
ON CONFLICT (call_id) DO UPDATE SET
    user_id = excluded.user_id, tenant_id = excluded.tenant_id, persona = excluded.persona,
    session_kind = excluded.session_kind, status = excluded.status,
    failure_reason = excluded.failure_reason, started_at = excluded.started_at,
    ended_at = excluded.ended_at, server = excluded.server, metadata = excluded.metadata";

/// The events, and everything summed from the ones inserted. `$1` is the server; the arrays follow in
/// the order of [`EventColumns`](crate::persist::ship::outgoing::EventColumns).
fn insert_events_sql() -> String {
    let detail_params: Vec<String> = (0..DETAIL_COLUMNS.len())
        .map(|i| format!("${}::bigint[]", 16 + i))
        .collect();
    let detail = DETAIL_COLUMNS.join(", ");
    format!(
        "
WITH input AS (
    SELECT * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::float8[], $12::text[],
                         $13::bigint[], $14::text[], $15::bool[], {params})
    AS t(event_id, call_id, segment, seq, created_at, category, provider, model, agent, quantity, unit,
         cost_nanos, kind, priced, {detail})
),
ins AS (
    INSERT INTO cost_events (event_id, call_id, server, segment, seq, created_at, category, provider,
                             model, agent, quantity, unit, cost_nanos, kind, priced, {detail})
    SELECT event_id, call_id, $1, segment, seq, created_at, category, provider, model, agent, quantity,
           unit, cost_nanos, kind, priced, {detail}
    FROM input
    ON CONFLICT (event_id) DO NOTHING
    RETURNING call_id, created_at, category, provider, model, cost_nanos, amount_nanos, kind, quantity,
              unit
),
-- This server's usage per provider, model and UTC day: provider quotas count the other servers'.
usage AS (
    INSERT INTO usage_by_origin (origin, provider, model, day, quantity, cost_nanos)
    SELECT $28, provider, model, created_at / 86400000, SUM(quantity::numeric), SUM(cost_nanos)
    FROM ins
    GROUP BY provider, model, created_at / 86400000
    ORDER BY provider, model, created_at / 86400000
    ON CONFLICT (origin, provider, model, day) DO UPDATE SET
        quantity = usage_by_origin.quantity + excluded.quantity,
        cost_nanos = usage_by_origin.cost_nanos + excluded.cost_nanos
    RETURNING 1
),
-- One row per call, UTC day, category and provider: every rollup is a sum of these.
per_day AS (
    SELECT call_id, created_at / 86400000 AS day_number, category, provider,
           SUM(cost_nanos) AS cost_nanos,
           SUM(CASE WHEN kind = 'coalesced' THEN quantity::bigint ELSE 1 END) AS events,
           SUM(CASE WHEN unit = 'token' THEN quantity::bigint ELSE 0 END) AS tokens,
           SUM(CASE WHEN unit = 'character' THEN quantity::bigint ELSE 0 END) AS characters,
           SUM(CASE WHEN unit = 'second' THEN round(quantity::numeric * 1000)::bigint ELSE 0 END)
               AS time_ms,
           SUM(CASE WHEN unit = 'second' AND category = 'telephony'
                    THEN round(quantity::numeric * 1000)::bigint ELSE 0 END) AS call_ms,
           COALESCE(SUM(amount_nanos), 0) AS revenue
    FROM ins
    GROUP BY call_id, day_number, category, provider
),
totals AS (
    UPDATE calls c SET total_cost_nanos = c.total_cost_nanos + s.cost,
                       event_count = c.event_count + s.events,
                       revenue_nanos = c.revenue_nanos + s.revenue
    FROM (SELECT call_id, SUM(cost_nanos) AS cost, SUM(events) AS events, SUM(revenue) AS revenue
          FROM per_day GROUP BY call_id ORDER BY call_id) s
    WHERE c.call_id = s.call_id
    RETURNING 1
),
-- What this server added to each call: the fleet's limits count the other servers' share.
segment_totals AS (
    UPDATE call_segments g SET cost_nanos = g.cost_nanos + s.cost, call_ms = g.call_ms + s.call_ms
    FROM (SELECT call_id, SUM(cost_nanos) AS cost, SUM(call_ms) AS call_ms
          FROM per_day GROUP BY call_id ORDER BY call_id) s
    WHERE g.call_id = s.call_id AND g.origin = $28
    RETURNING 1
),
dated AS (
    SELECT p.*, c.user_id, c.tenant_id,
           to_char(date '1970-01-01' + p.day_number::integer, 'YYYY-MM-DD') AS day
    FROM per_day p LEFT JOIN calls c USING (call_id)
),
keyed AS (
    SELECT 'call' AS scope, call_id AS subject, '' AS period, d.* FROM dated d
    UNION ALL
    SELECT 'platform_day', '', day, d.* FROM dated d
    UNION ALL
    SELECT 'user_day', user_id, day, d.* FROM dated d WHERE user_id IS NOT NULL
    UNION ALL
    SELECT 'user_month', user_id, left(day, 7), d.* FROM dated d WHERE user_id IS NOT NULL
    UNION ALL
    SELECT 'tenant_day', tenant_id, day, d.* FROM dated d WHERE tenant_id IS NOT NULL
    UNION ALL
    SELECT 'tenant_month', tenant_id, left(day, 7), d.* FROM dated d WHERE tenant_id IS NOT NULL
),
rolled AS (
    INSERT INTO rollups (scope, subject, period, category, provider, cost_nanos, events, tokens,
                         characters, time_ms)
    SELECT scope, subject, period, category, provider, SUM(cost_nanos), SUM(events), SUM(tokens),
           SUM(characters), SUM(time_ms)
    FROM keyed
    GROUP BY scope, subject, period, category, provider
    ORDER BY scope, subject, period, category, provider
    ON CONFLICT (scope, subject, period, category, provider) DO UPDATE SET
        cost_nanos = rollups.cost_nanos + excluded.cost_nanos,
        events = rollups.events + excluded.events,
        tokens = rollups.tokens + excluded.tokens,
        characters = rollups.characters + excluded.characters,
        time_ms = rollups.time_ms + excluded.time_ms
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM ins), (SELECT COUNT(*) FROM totals), (SELECT COUNT(*) FROM rolled)",
        params = detail_params.join(", "),
    )
}

/// What a committed shipment did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shipped {
    /// Events inserted.
    pub(crate) inserted: u64,
    /// Events the fleet database already held (a shipment sent again).
    pub(crate) already: u64,
}

/// Writes the calls whose rows changed, and this server's row, in `tx` (the caller commits). A
/// shipment's calls are committed before its events, which the fleet sums into them.
pub(crate) fn write_calls(
    tx: &mut Transaction<'_>,
    server: &str,
    origin: &str,
    now_ms: i64,
    c: &CallColumns,
) -> Result<(), postgres::Error> {
    tx.execute(
        "INSERT INTO callmeter_servers (origin, server, first_shipped_at, last_shipped_at)
         VALUES ($1, $2, $3, $3)
         ON CONFLICT (origin) DO UPDATE SET server = excluded.server,
             last_shipped_at = excluded.last_shipped_at",
        &[&origin, &server, &now_ms],
    )?;
    if !c.call_id.is_empty() {
        tx.execute(
            UPSERT_SEGMENTS,
            &[
                &origin,
                &server,
                &c.call_id,
                &c.user_id,
                &c.tenant_id,
                &c.persona,
                &c.session_kind,
                &c.status,
                &c.failure_reason,
                &c.started_at,
                &c.ended_at,
                &c.segments,
                &c.metadata,
            ],
        )?;
        tx.execute(UPSERT_CALLS, &[&c.call_id])?;
    }
    Ok(())
}

/// Writes events in `tx` (the caller commits), with everything summed from the ones inserted.
pub(crate) fn write_events(
    tx: &mut Transaction<'_>,
    server: &str,
    origin: &str,
    e: &EventColumns,
) -> Result<Shipped, postgres::Error> {
    if e.len() == 0 {
        return Ok(Shipped::default());
    }
    let statement = tx.prepare(&insert_events_sql())?;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &server,
        &e.event_id,
        &e.call_id,
        &e.segment,
        &e.seq,
        &e.created_at,
        &e.category,
        &e.provider,
        &e.model,
        &e.agent,
        &e.quantity,
        &e.unit,
        &e.cost_nanos,
        &e.kind,
        &e.priced,
    ];
    params.extend(e.detail.iter().map(|d| d as &(dyn ToSql + Sync)));
    params.push(&origin);
    let row = tx.query_one(&statement, &params)?;
    let inserted = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
    tx.execute(
        "UPDATE callmeter_servers SET events_shipped = events_shipped + $2 WHERE origin = $1",
        &[&origin, &i64::try_from(inserted).unwrap_or(i64::MAX)],
    )?;
    Ok(Shipped {
        inserted,
        already: e.len() as u64 - inserted,
    })
}
