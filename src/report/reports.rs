//! Reports over a callmeter database: a call's breakdown, a user's or tenant's spend, the platform
//! over a date range, groupings and top lists. Results are typed and serde-serialisable; dashboards'
//! frequent questions read the rollups, not raw events.
//!
//! A [`Reports`] opens the file read-only, beside a running meter or on its own (the CLI).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use crate::base::error::Result;
use crate::base::money::Usd;
use crate::control::limits::SubjectKind;
use crate::persist::read::events::EventRow;
use crate::persist::read::rollups::Dimension;
use crate::persist::read::{Source, calls, events, rollups};
use crate::report::results::{
    CallLine, CallReport, DayCost, EventKind, EventLine, GroupBy, GroupCost, PlatformReport, Share,
    SubjectSpend,
};

/// Read-only access to a callmeter database: a server's SQLite file ([`Reports::open`]) or, with
/// feature `postgres`, a fleet's PostgreSQL database ([`Reports::postgres`]). Every report reads the
/// same on both.
#[derive(Debug)]
pub struct Reports {
    src: Source,
}

/// The UTC milliseconds `[start, end)` of the days `from` to `to`, inclusive.
pub(crate) fn range_ms(from: NaiveDate, to: NaiveDate) -> (i64, i64) {
    let ms = |d: NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis())
    };
    (ms(from), ms(to.succ_opt().unwrap_or(to)))
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

impl Reports {
    /// Opens a callmeter database read-only.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchDatabase`](crate::Error::NoSuchDatabase) when the file is missing, [`Error::EmptyDatabase`](crate::Error::EmptyDatabase) when it has no
    /// tables, [`Error::Storage`](crate::Error::Storage) when it is not a SQLite database,
    /// [`Error::ForeignDatabase`](crate::Error::ForeignDatabase) when it is another program's database,
    /// [`Error::SchemaVersion`](crate::Error::SchemaVersion) / [`Error::PreReleaseSchema`](crate::Error::PreReleaseSchema) for another schema version.
    pub fn open(path: impl AsRef<Path>) -> Result<Reports> {
        Ok(Reports {
            src: Source::open_file(path.as_ref())?,
        })
    }

    /// Connects to a fleet's PostgreSQL database (`postgres://user:password@host:port/database`), the
    /// one servers ship to with [`MeterBuilder::postgres`](crate::MeterBuilder::postgres).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when it cannot be reached or read, [`Error::ForeignDatabase`](crate::Error::ForeignDatabase) when no
    /// callmeter server has shipped to it yet, [`Error::SchemaVersion`](crate::Error::SchemaVersion) when a newer callmeter made it.
    #[cfg(feature = "postgres")]
    pub fn postgres(url: &str) -> Result<Reports> {
        Ok(Reports {
            src: Source::open_fleet(url)?,
        })
    }

    /// The database read.
    pub(crate) fn source(&self) -> &Source {
        &self.src
    }

    /// A call's breakdown, or `None` when the database has no such call.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn call(&self, call_id: &str) -> Result<Option<CallReport>> {
        let Some(head) = calls::one(&self.src, call_id)? else {
            return Ok(None);
        };
        let events = self.events_of(head.number, call_id)?;
        // One read of the events; the breakdowns are summed from it.
        let by = |name: &dyn Fn(&EventLine) -> Option<&str>| -> Vec<Share> {
            let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
            for e in &events {
                if let Some(n) = name(e) {
                    let s = sums.entry(n).or_default();
                    s.0 = s.0.saturating_add(e.cost.to_nanos().unwrap_or(0));
                    s.1 += if e.kind == EventKind::Coalesced {
                        e.quantity as i64
                    } else {
                        1
                    };
                }
            }
            let mut shares: Vec<Share> = sums
                .into_iter()
                .map(|(n, (cost, events))| Share {
                    name: n.to_owned(),
                    cost: Usd::from_nanos(cost),
                    events,
                })
                .collect();
            shares.sort_by(|a, b| b.cost.cmp(&a.cost).then_with(|| a.name.cmp(&b.name)));
            shares
        };
        let by_category = by(&|e| Some(e.category.as_str()));
        let by_provider = by(&|e| Some(e.provider.as_str()));
        let by_agent = by(&|e| e.agent.as_deref());
        let billed = self.billed_for_call(call_id)?;
        let (started, ended) = (head.started_at_ms, head.ended_at_ms);
        let (total, revenue) = (head.total_nanos, head.revenue_nanos);
        Ok(Some(CallReport {
            call_id: head.call_id,
            user_id: head.user_id,
            tenant_id: head.tenant_id,
            persona: head.persona,
            session_kind: head.session_kind,
            status: head.status,
            failure_reason: head.failure_reason,
            started_at: at(started),
            ended_at: ended.map(at),
            duration_seconds: ended.map(|e| (e - started) as f64 / 1000.0),
            total: Usd::from_nanos(total),
            revenue: Usd::from_nanos(revenue),
            margin: (revenue > 0).then(|| Usd::from_nanos(revenue.saturating_sub(total))),
            by_category,
            by_provider,
            by_agent,
            events,
            billed,
        }))
    }

    /// The events of a call, in order: found by its number in a file, by its id in a fleet database.
    pub(crate) fn events_of(&self, number: i64, call_id: &str) -> Result<Vec<EventLine>> {
        Ok(events::of_call(&self.src, number, call_id)?
            .into_iter()
            .map(|e: EventRow| EventLine {
                segment: e.segment,
                seq: e.seq,
                at: at(e.at_ms),
                category: e.category,
                provider: e.provider,
                model: e.model,
                agent: e.agent,
                quantity: e.quantity,
                unit: e.unit,
                cost: Usd::from_nanos(e.cost_nanos),
                kind: e.kind,
                priced: e.priced,
                estimated: e.estimated,
            })
            .collect())
    }

    /// The platform from `from` to `to` (UTC days, inclusive), from the daily rollups.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn platform(&self, from: NaiveDate, to: NaiveDate) -> Result<PlatformReport> {
        let by = |dimension| -> Result<Vec<Share>> {
            Ok(rollups::platform_by(&self.src, dimension, from, to)?
                .into_iter()
                .map(|(name, cost, events)| Share {
                    name,
                    cost: Usd::from_nanos(cost),
                    events,
                })
                .collect())
        };
        let by_category = by(Dimension::Category)?;
        let by_provider = by(Dimension::Provider)?;
        let totals = rollups::platform_totals(&self.src, from, to)?;
        let (total, time_ms, turns) = (totals.cost_nanos, totals.telephony_ms, totals.llm_events);
        let (calls, _) = calls::totals(&self.src, range_ms(from, to))?;
        let days = rollups::platform_daily(&self.src, from, to)?;
        let mut daily = Vec::with_capacity(days.len());
        let mut previous: Option<i64> = None;
        for (day, cost) in days {
            daily.push(DayCost {
                day,
                cost: Usd::from_nanos(cost),
                change: previous.map(|p| Usd::from_nanos(cost.saturating_sub(p))),
            });
            previous = Some(cost);
        }
        let minutes = time_ms as f64 / 60_000.0;
        let per = |n: i64, d: i64| (d > 0).then(|| Usd::from_nanos(n / d));
        Ok(PlatformReport {
            from,
            to,
            total: Usd::from_nanos(total),
            calls,
            minutes,
            cost_per_call: per(total, calls),
            cost_per_minute: (time_ms > 0).then(|| {
                Usd::from_nanos((i128::from(total) * 60_000 / i128::from(time_ms)) as i64)
            }),
            by_category,
            by_provider,
            daily,
            turns,
            cost_per_turn: per(total, turns),
        })
    }

    /// Calls started from `from` to `to` (UTC days, inclusive), grouped, dearest group first.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn calls_by(
        &self,
        group: GroupBy,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GroupCost>> {
        let column = match &group {
            GroupBy::User => calls::Column::User,
            GroupBy::Tenant => calls::Column::Tenant,
            GroupBy::Persona => calls::Column::Persona,
            GroupBy::SessionKind => calls::Column::SessionKind,
            GroupBy::Metadata(key) => calls::Column::Metadata(key),
            GroupBy::Server => calls::Column::Server,
        };
        Ok(calls::grouped(&self.src, column, range_ms(from, to))?
            .into_iter()
            .map(|g| GroupCost {
                name: g.name,
                calls: g.calls,
                cost: Usd::from_nanos(g.cost_nanos),
                revenue: Usd::from_nanos(g.revenue_nanos),
                cost_per_call: Usd::from_nanos(if g.calls > 0 {
                    g.cost_nanos / g.calls
                } else {
                    0
                }),
            })
            .collect())
    }

    /// What a user or tenant spent on `day` and in its month (UTC), from the rollups.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn spend(&self, kind: SubjectKind, id: &str, day: NaiveDate) -> Result<SubjectSpend> {
        let (day_cost, month_cost) = rollups::subject(&self.src, kind, id, day)?;
        Ok(SubjectSpend {
            kind,
            id: id.to_owned(),
            day,
            day_cost: Usd::from_nanos(day_cost),
            month_cost: Usd::from_nanos(month_cost),
        })
    }

    /// The calls of a user or tenant started from `from` to `to` (UTC days, inclusive), newest first.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn calls_of(
        &self,
        kind: SubjectKind,
        id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CallLine>> {
        Ok(calls::of_subject(&self.src, kind, id, range_ms(from, to))?
            .into_iter()
            .map(|c| CallLine {
                call_id: c.call_id,
                started_at: at(c.started_at_ms),
                status: c.status,
                total: Usd::from_nanos(c.total_nanos),
                revenue: Usd::from_nanos(c.revenue_nanos),
            })
            .collect())
    }

    /// Revenue of the calls started from `from` to `to`.
    pub(crate) fn revenue(&self, from: NaiveDate, to: NaiveDate) -> Result<Usd> {
        calls::revenue(&self.src, range_ms(from, to)).map(Usd::from_nanos)
    }

    /// Cost of the calls started from `from` to `to`, by the UTC hour of the day they started in
    /// (index 0 is 00:00–00:59): when the platform is busiest.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn cost_by_hour(&self, from: NaiveDate, to: NaiveDate) -> Result<[Usd; 24]> {
        let rows = calls::cost_by_hour(&self.src, range_ms(from, to))?;
        let mut hours = [Usd::ZERO; 24];
        for (hour, cost) in rows {
            if let Some(slot) = usize::try_from(hour).ok().and_then(|h| hours.get_mut(h)) {
                *slot = Usd::from_nanos(cost);
            }
        }
        Ok(hours)
    }

    /// The `n` most expensive calls started from `from` to `to`, as (call id, cost).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn top_calls(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        n: usize,
    ) -> Result<Vec<(String, Usd)>> {
        Ok(calls::dearest(&self.src, range_ms(from, to), n)?
            .into_iter()
            .map(|c| (c.call_id, Usd::from_nanos(c.total_nanos)))
            .collect())
    }
}
