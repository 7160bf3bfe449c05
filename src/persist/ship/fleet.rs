//! One part of a shipment into the fleet database. The calls' segments and rows are committed first
//! ([`write_calls`]); then each part of the events, in a transaction of its own ([`write_events`]):
//! the events, and what the ones actually inserted add to the calls' totals, this server's segments
//! and usage, and the rollups, so a part sent twice counts once.
//!
//! Every statement touches shared rows in a fixed order (calls by id, rollups by key), so parts and
//! servers shipping at the same time wait for each other instead of deadlocking.

use postgres::types::ToSql;
use postgres::{Client, Statement, Transaction};

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

/// The events, and what they add up to: one row per call, UTC day, category, provider and model
/// of the rows actually inserted ([`Sums`]). `$1` is the server; the arrays follow in the order of
/// [`EventColumns`](crate::persist::ship::outgoing::EventColumns).
///
/// Nothing here touches a row another transaction may touch: parts of a shipment insert their
/// events at the same time, and only the short [`ADD_SUMS`] that follows waits for the other's
/// commit where both add to the same call or rollup.
///
/// `replay` adds `ON CONFLICT (event_id) DO NOTHING`: without it, an event the fleet holds fails the
/// statement instead of being skipped.
fn insert_events_sql(replay: bool) -> String {
    let detail_params: Vec<String> = (0..DETAIL_COLUMNS.len())
        .map(|i| format!("${}::bigint[]", 17 + i))
        .collect();
    let detail = DETAIL_COLUMNS.join(", ");
    format!(
        "
WITH input AS (
    SELECT * FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::float8[], $12::text[],
                         $13::bigint[], $14::text[], $15::bool[], $16::bool[], {params})
    AS t(event_id, call_id, segment, seq, created_at, category, provider, model, agent, quantity, unit,
         cost_nanos, kind, priced, estimated, {detail})
),
-- In the identity's order, so consecutive rows land on the same pages of its index.
ins AS (
    INSERT INTO cost_events (event_id, call_id, server, segment, seq, created_at, category, provider,
                             model, agent, quantity, unit, cost_nanos, kind, priced, estimated,
                             {detail})
    SELECT event_id, call_id, $1, segment, seq, created_at, category, provider, model, agent, quantity,
           unit, cost_nanos, kind, priced, estimated, {detail}
    FROM input
    ORDER BY event_id
    {on_conflict}
    RETURNING call_id, created_at, category, provider, model, cost_nanos, amount_nanos, kind, quantity,
              unit
)
SELECT call_id, created_at / 86400000, category, provider, model,
       SUM(cost_nanos)::bigint,
       SUM(CASE WHEN kind = 'coalesced' THEN quantity::bigint ELSE 1 END)::bigint,
       SUM(CASE WHEN unit = 'token' THEN quantity::bigint ELSE 0 END)::bigint,
       SUM(CASE WHEN unit = 'character' THEN quantity::bigint ELSE 0 END)::bigint,
       SUM(CASE WHEN unit = 'second' THEN round(quantity::numeric * 1000)::bigint ELSE 0 END)::bigint,
       SUM(CASE WHEN unit = 'second' AND category = 'telephony'
                THEN round(quantity::numeric * 1000)::bigint ELSE 0 END)::bigint,
       COALESCE(SUM(amount_nanos), 0)::bigint,
       SUM(quantity::numeric)::text,
       COUNT(*)
FROM ins
GROUP BY call_id, created_at / 86400000, category, provider, model",
        params = detail_params.join(", "),
        on_conflict = if replay {
            "ON CONFLICT (event_id) DO NOTHING"
        } else {
            ""
        },
    )
}

/// Adds [`Sums`] to the calls, this server's segments, its usage and the rollups. `$1` is the origin;
/// the arrays follow in the order of [`Sums`].
///
/// Every statement touches rows in a fixed order (calls by id, rollups by key), so parts and servers
/// adding at the same time wait for each other instead of deadlocking.
const ADD_SUMS: &str = "
WITH sums AS (
    SELECT * FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                         $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
                         $13::bigint[], $14::text[])
    AS t(call_id, day_number, category, provider, model, cost_nanos, events, tokens, characters,
         time_ms, call_ms, revenue, quantity)
),
-- This server's usage per provider, model and UTC day: provider quotas count the other servers'.
usage AS (
    INSERT INTO usage_by_origin (origin, provider, model, day, quantity, cost_nanos)
    SELECT $1, provider, model, day_number, SUM(quantity::numeric), SUM(cost_nanos)
    FROM sums
    GROUP BY provider, model, day_number
    ORDER BY provider, model, day_number
    ON CONFLICT (origin, provider, model, day) DO UPDATE SET
        quantity = usage_by_origin.quantity + excluded.quantity,
        cost_nanos = usage_by_origin.cost_nanos + excluded.cost_nanos
    RETURNING 1
),
per_call AS (
    SELECT call_id, SUM(cost_nanos) AS cost, SUM(events) AS events, SUM(revenue) AS revenue,
           SUM(call_ms) AS call_ms
    FROM sums GROUP BY call_id
),
totals AS (
    UPDATE calls c SET total_cost_nanos = c.total_cost_nanos + s.cost,
                       event_count = c.event_count + s.events,
                       revenue_nanos = c.revenue_nanos + s.revenue
    FROM (SELECT * FROM per_call ORDER BY call_id) s
    WHERE c.call_id = s.call_id
    RETURNING 1
),
-- What this server added to each call: the fleet's limits count the other servers' share.
segment_totals AS (
    UPDATE call_segments g SET cost_nanos = g.cost_nanos + s.cost, call_ms = g.call_ms + s.call_ms
    FROM (SELECT * FROM per_call ORDER BY call_id) s
    WHERE g.call_id = s.call_id AND g.origin = $1
    RETURNING 1
),
dated AS (
    SELECT s.*, c.user_id, c.tenant_id,
           to_char(date '1970-01-01' + s.day_number::integer, 'YYYY-MM-DD') AS day
    FROM sums s LEFT JOIN calls c USING (call_id)
),
keyed AS (
    SELECT 'platform_day' AS scope, '' AS subject, day AS period, d.* FROM dated d
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
SELECT (SELECT COUNT(*) FROM usage), (SELECT COUNT(*) FROM totals),
       (SELECT COUNT(*) FROM segment_totals), (SELECT COUNT(*) FROM rolled)";

/// What the events a part inserted add up to, per call, UTC day, category, provider and model: the
/// rows of [`insert_events_sql`], as columns.
#[derive(Debug, Default)]
struct Sums {
    call_id: Vec<String>,
    day_number: Vec<i64>,
    category: Vec<String>,
    provider: Vec<String>,
    model: Vec<String>,
    cost_nanos: Vec<i64>,
    events: Vec<i64>,
    tokens: Vec<i64>,
    characters: Vec<i64>,
    time_ms: Vec<i64>,
    call_ms: Vec<i64>,
    revenue: Vec<i64>,
    /// Exact decimal sums, as text.
    quantity: Vec<String>,
    /// Events inserted.
    inserted: u64,
}

impl Sums {
    fn from_rows(rows: &[postgres::Row]) -> Result<Sums, postgres::Error> {
        let mut s = Sums::default();
        for r in rows {
            s.call_id.push(r.try_get(0)?);
            s.day_number.push(r.try_get(1)?);
            s.category.push(r.try_get(2)?);
            s.provider.push(r.try_get(3)?);
            s.model.push(r.try_get(4)?);
            s.cost_nanos.push(r.try_get(5)?);
            s.events.push(r.try_get(6)?);
            s.tokens.push(r.try_get(7)?);
            s.characters.push(r.try_get(8)?);
            s.time_ms.push(r.try_get(9)?);
            s.call_ms.push(r.try_get(10)?);
            s.revenue.push(r.try_get(11)?);
            s.quantity.push(r.try_get(12)?);
            let count: i64 = r.try_get(13)?;
            s.inserted += u64::try_from(count).unwrap_or(0);
        }
        Ok(s)
    }
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

/// The statements [`write_events`] runs, prepared once per connection: they are long, and planning
/// them for every part took a few milliseconds of each.
pub(crate) struct EventStatements {
    /// The insert of events the fleet does not hold yet.
    insert_new: Statement,
    /// The insert that skips the events the fleet holds.
    insert_replay: Statement,
    add: Statement,
}

impl EventStatements {
    /// Prepares them on `client`.
    pub(crate) fn prepare(client: &mut Client) -> Result<EventStatements, postgres::Error> {
        Ok(EventStatements {
            insert_new: client.prepare(&insert_events_sql(false))?,
            insert_replay: client.prepare(&insert_events_sql(true))?,
            add: client.prepare(ADD_SUMS)?,
        })
    }
}

/// Whether `e` is PostgreSQL refusing an event the fleet holds: what a part sent with
/// [`Insert::New`] meets when it is a replay, to be sent again with [`Insert::Replay`].
pub(crate) fn is_replay(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// How [`write_events`] inserts events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    /// Plainly, expecting none to be held already (the usual case): an event the fleet holds fails
    /// the transaction ([`is_replay`]). The unique index is searched once per event instead of twice.
    New,
    /// Skipping the events the fleet holds (`ON CONFLICT (event_id) DO NOTHING`): for a part that
    /// failed as [`Insert::New`].
    Replay,
}

/// Writes events in `tx` (the caller commits) with `statements` prepared on the same connection: the
/// events first, then what the ones inserted add to the calls and rollups.
pub(crate) fn write_events(
    tx: &mut Transaction<'_>,
    statements: &EventStatements,
    insert: Insert,
    server: &str,
    origin: &str,
    e: &EventColumns,
) -> Result<Shipped, postgres::Error> {
    if e.len() == 0 {
        return Ok(Shipped::default());
    }
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
        &e.estimated,
    ];
    params.extend(e.detail.iter().map(|d| d as &(dyn ToSql + Sync)));
    let statement = match insert {
        Insert::New => &statements.insert_new,
        Insert::Replay => &statements.insert_replay,
    };
    let sums = Sums::from_rows(&tx.query(statement, &params)?)?;
    if sums.inserted > 0 {
        tx.execute(
            &statements.add,
            &[
                &origin,
                &sums.call_id,
                &sums.day_number,
                &sums.category,
                &sums.provider,
                &sums.model,
                &sums.cost_nanos,
                &sums.events,
                &sums.tokens,
                &sums.characters,
                &sums.time_ms,
                &sums.call_ms,
                &sums.revenue,
                &sums.quantity,
            ],
        )?;
        tx.execute(
            "UPDATE callmeter_servers SET events_shipped = events_shipped + $2 WHERE origin = $1",
            &[&origin, &i64::try_from(sums.inserted).unwrap_or(i64::MAX)],
        )?;
    }
    Ok(Shipped {
        inserted: sums.inserted,
        already: e.len() as u64 - sums.inserted,
    })
}
