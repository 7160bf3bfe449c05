//! The fleet's spend for limits and quotas: what the other servers spent on each user and tenant with
//! a limited period in progress here, and used of each provider quota in its current period, read from
//! the fleet database and set where this meter's checks read them: admission and live verdicts (which
//! read only memory) and the writer's quota alerts count the whole fleet.
//!
//! A call counts in the period its fleet row started in, like the local counters; each server's share
//! of a call is in `call_segments`, and of a provider's usage in `usage_by_origin`, so this server's
//! own (counted exactly here) is left out.

use std::sync::Arc;

use postgres::Client;
use rustc_hash::FxHashMap;

use crate::control::limits::{LimitBook, PeriodCounter, SubjectKind};
use crate::control::quota::FleetQuota;

/// Sets each current counter's "others" from the fleet database. One query per (subject kind,
/// period) in progress.
pub(crate) fn refresh(
    client: &mut Client,
    origin: &str,
    limits: &LimitBook,
) -> Result<(), postgres::Error> {
    let mut groups: FxHashMap<(SubjectKind, i64, i64), Vec<Arc<PeriodCounter>>> =
        FxHashMap::default();
    for counter in limits.counters() {
        let (start, end) = counter.bounds_ms();
        groups
            .entry((counter.kind, start, end))
            .or_default()
            .push(counter);
    }
    for ((kind, start, end), counters) in groups {
        let column = match kind {
            SubjectKind::User => "user_id",
            SubjectKind::Tenant => "tenant_id",
        };
        let ids: Vec<&str> = counters.iter().map(|c| &*c.id).collect();
        let rows = client.query(
            &format!(
                "SELECT c.{column}, SUM(s.cost_nanos)::bigint, SUM(s.call_ms)::bigint
                 FROM calls c JOIN call_segments s USING (call_id)
                 WHERE c.{column} = ANY($1) AND c.started_at >= $2 AND c.started_at < $3
                       AND s.origin <> $4
                 GROUP BY c.{column}"
            ),
            &[&ids, &start, &end, &origin],
        )?;
        let spent: FxHashMap<String, (i64, i64)> = rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        for counter in counters {
            let (cost, ms) = spent.get(&*counter.id).copied().unwrap_or((0, 0));
            counter.set_others(cost, u64::try_from(ms).unwrap_or(0));
        }
    }
    Ok(())
}

/// Sets each quota's "others" from the fleet database, for its period in progress at `now_ms`.
pub(crate) fn refresh_quotas(
    client: &mut Client,
    origin: &str,
    quotas: &[FleetQuota],
    now_ms: i64,
) -> Result<(), postgres::Error> {
    for q in quotas {
        let (key, first, end) = q.days(now_ms);
        let row = client.query_one(
            "SELECT COALESCE(SUM(quantity), 0)::text, COALESCE(SUM(cost_nanos), 0)::bigint
             FROM usage_by_origin
             WHERE origin <> $1 AND provider = $2 AND ($3::text IS NULL OR model = $3)
                   AND day >= $4 AND day < $5",
            &[&origin, &q.provider, &q.model, &first, &end],
        )?;
        let units: String = row.get(0);
        let units = units.parse().unwrap_or(rust_decimal::Decimal::MAX);
        q.others.set(key, units, row.get(1));
    }
    Ok(())
}
