//! Reports over a callmeter database: a call's breakdown, a user's or tenant's spend, the platform
//! over a date range, groupings and top lists. Results are typed and serde-serialisable; dashboards'
//! frequent questions read the rollups, not raw events.
//!
//! A [`Reports`] opens the file read-only, beside a running meter or on its own (the CLI).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};

use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::persist::source::{BoxError, Dialect, Param, Row, Source};
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
    /// The file, or the fleet database's URL without its password: what errors name.
    place: PathBuf,
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

/// The SQL of a grouping.
impl GroupBy {
    /// The SQL expression of the group, and its parameter.
    fn column(&self) -> (&'static str, Option<String>) {
        match self {
            GroupBy::User => ("user_id", None),
            GroupBy::Tenant => ("tenant_id", None),
            GroupBy::Persona => ("persona", None),
            GroupBy::SessionKind => ("session_kind", None),
            GroupBy::Metadata(key) => ("json_extract(metadata, ?3)", Some(format!("$.\"{key}\""))),
            GroupBy::Server => ("NULL", None),
        }
    }

    /// The same, in PostgreSQL's spelling.
    #[cfg(feature = "postgres")]
    fn postgres_column(&self) -> (&'static str, Option<String>) {
        match self {
            GroupBy::Metadata(key) => ("(metadata::json ->> ?3)", Some(key.clone())),
            GroupBy::Server => ("server", None),
            _ => self.column(),
        }
    }
}

impl Reports {
    /// Opens a callmeter database read-only.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchDatabase`] when the file is missing, [`Error::EmptyDatabase`] when it has no
    /// tables, [`Error::Storage`] when it is not a SQLite database,
    /// [`Error::ForeignDatabase`] when it is another program's database,
    /// [`Error::SchemaVersion`] / [`Error::PreReleaseSchema`] for another schema version.
    pub fn open(path: impl AsRef<Path>) -> Result<Reports> {
        let place = path.as_ref().to_path_buf();
        let src = Source::open_file(&place)?;
        Ok(Reports { src, place })
    }

    /// Connects to a fleet's PostgreSQL database (`postgres://user:password@host:port/database`), the
    /// one servers ship to with [`MeterBuilder::postgres`](crate::MeterBuilder::postgres).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when it cannot be reached or read, [`Error::ForeignDatabase`] when no
    /// callmeter server has shipped to it yet, [`Error::SchemaVersion`] when a newer callmeter made it.
    #[cfg(feature = "postgres")]
    pub fn postgres(url: &str) -> Result<Reports> {
        let place = PathBuf::from(crate::persist::failure::redacted(url));
        let src = Source::open_fleet(url, &place)?;
        Ok(Reports { src, place })
    }

    pub(crate) fn dialect(&self) -> Dialect {
        self.src.dialect()
    }

    /// The SQL of a call's number in `calls`, for [`CallKey::call_ref`]: a file numbers its calls; a
    /// fleet database finds a call's events by its id, and answers 0.
    pub(crate) fn call_number(&self) -> &'static str {
        match self.dialect() {
            Dialect::Sqlite => "call_ref",
            #[cfg(feature = "postgres")]
            Dialect::Postgres => "0",
        }
    }

    /// The rows `sql` answers, each read by `f`.
    pub(crate) fn query<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        f: impl Fn(&mut Row) -> std::result::Result<T, BoxError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.for_each(sql, params, context, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Hands each row `sql` answers to `f` as it is read.
    pub(crate) fn for_each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        f: impl FnMut(&mut Row) -> std::result::Result<(), BoxError>,
    ) -> Result<()> {
        self.src
            .for_each(sql, params, f)
            .map_err(|source| Error::Storage {
                path: self.place.clone(),
                context,
                source,
            })
    }

    /// The first row `sql` answers, read by `f`.
    pub(crate) fn query_one<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        context: &'static str,
        f: impl Fn(&mut Row) -> std::result::Result<T, BoxError>,
    ) -> Result<Option<T>> {
        Ok(self.query(sql, params, context, f)?.into_iter().next())
    }

    /// One integer `sql` answers (a sum, a count).
    fn int(&self, sql: &str, params: &[Param<'_>], context: &'static str) -> Result<i64> {
        Ok(self
            .query_one(sql, params, context, |r| r.int(0))?
            .unwrap_or(0))
    }

    fn shares(&self, sql: &str, p: &[Param<'_>]) -> Result<Vec<Share>> {
        self.query(sql, p, "report", |r| {
            Ok(Share {
                name: r.opt_text(0)?.unwrap_or_default(),
                cost: Usd::from_nanos(r.int(1)?),
                events: r.int(2)?,
            })
        })
    }

    /// A call's breakdown, or `None` when the database has no such call.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read.
    pub fn call(&self, call_id: &str) -> Result<Option<CallReport>> {
        let number = self.call_number();
        let head = self.query_one(
            &format!(
                "SELECT {number}, user_id, tenant_id, persona, session_kind, status, failure_reason,
                        started_at, ended_at, total_cost_nanos, revenue_nanos
                 FROM calls WHERE call_id = ?1"
            ),
            &[call_id.into()],
            "reading a call",
            |r| {
                Ok((
                    r.int(0)?,
                    (
                        r.opt_text(1)?,
                        r.opt_text(2)?,
                        r.opt_text(3)?,
                        r.opt_text(4)?,
                        r.text(5)?,
                        r.opt_text(6)?,
                    ),
                    (r.int(7)?, r.opt_int(8)?, r.int(9)?, r.int(10)?),
                ))
            },
        )?;
        let Some((
            call_ref,
            (user_id, tenant_id, persona, session_kind, status, failure_reason),
            (started, ended, total, revenue),
        )) = head
        else {
            return Ok(None);
        };
        let events = self.events_of(CallKey { call_ref, call_id })?;
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
        Ok(Some(CallReport {
            call_id: call_id.to_owned(),
            user_id,
            tenant_id,
            persona,
            session_kind,
            status,
            failure_reason,
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

    /// The events of a call, in order: found by its number in a file (the event index is built on
    /// it), by its id in a fleet database.
    pub(crate) fn events_of(&self, call: CallKey<'_>) -> Result<Vec<EventLine>> {
        // In a fleet database, the range of the identity's index whose ids begin with `call_id#`.
        #[cfg(feature = "postgres")]
        let range = (format!("{}#", call.call_id), format!("{}$", call.call_id));
        let (condition, keys): (&str, Vec<Param<'_>>) = match self.dialect() {
            Dialect::Sqlite => ("call_ref = ?1", vec![call.call_ref.into()]),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => (
                "event_id >= ?1 AND event_id < ?2 AND call_id = ?3",
                vec![(&range.0).into(), (&range.1).into(), call.call_id.into()],
            ),
        };
        self.query(
            &format!(
                "SELECT seq, created_at, category, provider, model, agent, quantity, unit, cost_nanos,
                        kind, priced, segment
                 FROM cost_events WHERE {condition} ORDER BY segment, seq"
            ),
            &keys,
            "reading a call's events",
            |r| {
                Ok(EventLine {
                    segment: r.int(11)?,
                    seq: r.int(0)?,
                    at: at(r.int(1)?),
                    category: r.text(2)?.parse()?,
                    provider: r.text(3)?,
                    model: r.text(4)?,
                    agent: r.opt_text(5)?,
                    quantity: r.real(6)?,
                    unit: r.text(7)?.parse()?,
                    cost: Usd::from_nanos(r.int(8)?),
                    kind: {
                        let kind = r.text(9)?;
                        EventKind::from_name(&kind)
                            .ok_or_else(|| format!("an event of unknown kind {kind:?}"))?
                    },
                    priced: r.int(10)? != 0,
                })
            },
        )
    }

    /// The platform from `from` to `to` (UTC days, inclusive), from the daily rollups.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read.
    pub fn platform(&self, from: NaiveDate, to: NaiveDate) -> Result<PlatformReport> {
        let (a, b) = (from.to_string(), to.to_string());
        let range = [Param::from(&a), Param::from(&b)];
        let by = |col: &str| {
            self.shares(
                &format!(
                    "SELECT {col}, CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(events) AS BIGINT)
                     FROM rollups
                     WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
                     GROUP BY {col} ORDER BY 2 DESC, 1"
                ),
                &range,
            )
        };
        let by_category = by("category")?;
        let by_provider = by("provider")?;
        let (total, time_ms, turns) = self
            .query_one(
                "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN category = 'telephony' THEN time_ms END), 0)
                             AS BIGINT),
                        CAST(COALESCE(SUM(CASE WHEN category = 'llm' THEN events END), 0) AS BIGINT)
                 FROM rollups WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2",
                &range,
                "reading the platform's totals",
                |r| Ok((r.int(0)?, r.int(1)?, r.int(2)?)),
            )?
            .unwrap_or_default();
        let (start, end) = range_ms(from, to);
        let calls = self.int(
            "SELECT COUNT(*) FROM calls WHERE started_at >= ?1 AND started_at < ?2",
            &[start.into(), end.into()],
            "counting calls",
        )?;
        let days: Vec<(String, i64)> = self.query(
            "SELECT period, CAST(SUM(cost_nanos) AS BIGINT) FROM rollups
             WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
             GROUP BY period ORDER BY period",
            &range,
            "reading the daily series",
            |r| Ok((r.text(0)?, r.int(1)?)),
        )?;
        let mut daily = Vec::with_capacity(days.len());
        let mut previous: Option<i64> = None;
        for (day, cost) in days {
            let Ok(day) = NaiveDate::parse_from_str(&day, "%Y-%m-%d") else {
                continue;
            };
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
    /// [`Error::Storage`] when the database cannot be read.
    pub fn calls_by(
        &self,
        group: GroupBy,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<GroupCost>> {
        let (start, end) = range_ms(from, to);
        let (col, key) = match self.dialect() {
            Dialect::Sqlite => group.column(),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => group.postgres_column(),
        };
        let key = key.unwrap_or_default();
        self.query(
            &format!(
                "SELECT {col}, COUNT(*), CAST(SUM(total_cost_nanos) AS BIGINT),
                        CAST(SUM(revenue_nanos) AS BIGINT)
                 FROM calls
                 WHERE started_at >= ?1 AND started_at < ?2 AND ?3 IS NOT NULL
                 GROUP BY {col} ORDER BY 3 DESC, 1"
            ),
            &[start.into(), end.into(), (&key).into()],
            "grouping calls",
            |r| {
                let calls = r.int(1)?;
                let cost = r.int(2)?;
                Ok(GroupCost {
                    name: r.opt_text(0)?,
                    calls,
                    cost: Usd::from_nanos(cost),
                    revenue: Usd::from_nanos(r.int(3)?),
                    cost_per_call: Usd::from_nanos(if calls > 0 { cost / calls } else { 0 }),
                })
            },
        )
    }

    /// What a user or tenant spent on `day` and in its month (UTC), from the rollups.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read.
    pub fn spend(
        &self,
        kind: crate::control::limits::SubjectKind,
        id: &str,
        day: NaiveDate,
    ) -> Result<SubjectSpend> {
        let date = day.to_string();
        let month = date.get(..7).unwrap_or_default().to_owned();
        let (day_scope, month_sql) = match kind {
            crate::control::limits::SubjectKind::User => (
                "user_day",
                "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollups
                 WHERE scope = 'user_month' AND subject = ?1 AND period = ?2",
            ),
            crate::control::limits::SubjectKind::Tenant => (
                "tenant_day",
                "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollups
                 WHERE scope = 'tenant_day' AND subject = ?1
                       AND period BETWEEN ?2 || '-01' AND ?2 || '-31'",
            ),
        };
        let day_cost = self.int(
            "SELECT CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) FROM rollups
             WHERE scope = ?1 AND subject = ?2 AND period = ?3",
            &[day_scope.into(), id.into(), (&date).into()],
            "reading a day's spend",
        )?;
        let month_cost = self.int(
            month_sql,
            &[id.into(), (&month).into()],
            "reading a month's spend",
        )?;
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
    /// [`Error::Storage`] when the database cannot be read.
    pub fn calls_of(
        &self,
        kind: crate::control::limits::SubjectKind,
        id: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<CallLine>> {
        let (start, end) = range_ms(from, to);
        let column = match kind {
            crate::control::limits::SubjectKind::User => "user_id",
            crate::control::limits::SubjectKind::Tenant => "tenant_id",
        };
        self.query(
            &format!(
                "SELECT call_id, started_at, status, total_cost_nanos, revenue_nanos FROM calls
                 WHERE {column} = ?1 AND started_at >= ?2 AND started_at < ?3
                 ORDER BY started_at DESC, call_id"
            ),
            &[id.into(), start.into(), end.into()],
            "listing calls",
            |r| {
                Ok(CallLine {
                    call_id: r.text(0)?,
                    started_at: at(r.int(1)?),
                    status: r.text(2)?,
                    total: Usd::from_nanos(r.int(3)?),
                    revenue: Usd::from_nanos(r.int(4)?),
                })
            },
        )
    }

    /// Revenue of the calls started from `from` to `to`.
    pub(crate) fn revenue(&self, from: NaiveDate, to: NaiveDate) -> Result<Usd> {
        let (start, end) = range_ms(from, to);
        self.int(
            "SELECT CAST(COALESCE(SUM(revenue_nanos), 0) AS BIGINT) FROM calls
             WHERE started_at >= ?1 AND started_at < ?2",
            &[start.into(), end.into()],
            "summing revenue",
        )
        .map(Usd::from_nanos)
    }

    /// Cost of the calls started from `from` to `to`, by the UTC hour of the day they started in
    /// (index 0 is 00:00–00:59): when the platform is busiest.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the database cannot be read.
    pub fn cost_by_hour(&self, from: NaiveDate, to: NaiveDate) -> Result<[Usd; 24]> {
        let (start, end) = range_ms(from, to);
        let rows = self.query(
            "SELECT (started_at / 3600000) % 24, CAST(SUM(total_cost_nanos) AS BIGINT) FROM calls
             WHERE started_at >= ?1 AND started_at < ?2 GROUP BY 1",
            &[start.into(), end.into()],
            "reading cost by hour",
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?;
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
    /// [`Error::Storage`] when the database cannot be read.
    pub fn top_calls(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        n: usize,
    ) -> Result<Vec<(String, Usd)>> {
        let (start, end) = range_ms(from, to);
        self.query(
            "SELECT call_id, total_cost_nanos FROM calls
             WHERE started_at >= ?1 AND started_at < ?2
             ORDER BY total_cost_nanos DESC, call_id LIMIT ?3",
            &[
                start.into(),
                end.into(),
                i64::try_from(n).unwrap_or(i64::MAX).into(),
            ],
            "listing calls",
            |r| Ok((r.text(0)?, Usd::from_nanos(r.int(1)?))),
        )
    }
}

/// A call as its events are found: by number in a file, by id in a fleet database.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallKey<'a> {
    pub(crate) call_ref: i64,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) call_id: &'a str,
}
