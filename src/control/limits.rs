//! Per-user and per-tenant limits: daily and monthly spend and voice minutes, checked before a call
//! (admission) and enforced live while it runs.
//!
//! A call's spend counts in the day and the month it **started** in (calendar periods in UTC or the
//! configured fixed offset). Each (subject, period) has a pair of counters that every track call of the
//! subject's calls adds its cost (and call seconds) to *before* it computes its verdict: once a limit is
//! reached, every track call of the subject answers [`Verdict::Cutoff`](crate::Verdict::Cutoff), and no
//! two calls can both find room for the same dollar. The spend of the current periods is reloaded from
//! the database when a meter opens.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, FixedOffset, TimeZone, Utc};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::base::money::Usd;

/// Daily and monthly limits of one user or tenant: cost in dollars and voice minutes (the call
/// seconds tracked with [`track_duration`](crate::CallCostTracker::track_duration)). `None` is no
/// limit.
///
/// # Examples
///
/// ```
/// use callmeter::{Limits, Usd};
/// use rust_decimal::dec;
///
/// // A user may spend $100 a month and talk 10 minutes a day.
/// let limits = Limits::none()
///     .monthly_cost(Usd::new(dec!(100)))
///     .daily_minutes(10);
/// assert!(!limits.is_none());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    daily_cost: Option<Usd>,
    monthly_cost: Option<Usd>,
    daily_minutes: Option<u32>,
    monthly_minutes: Option<u32>,
}

impl Limits {
    /// No limit.
    pub fn none() -> Self {
        Limits::default()
    }

    /// At most `cost` a day.
    pub fn daily_cost(mut self, cost: Usd) -> Self {
        self.daily_cost = Some(cost);
        self
    }

    /// At most `cost` a month.
    pub fn monthly_cost(mut self, cost: Usd) -> Self {
        self.monthly_cost = Some(cost);
        self
    }

    /// At most `minutes` of calls a day.
    pub fn daily_minutes(mut self, minutes: u32) -> Self {
        self.daily_minutes = Some(minutes);
        self
    }

    /// At most `minutes` of calls a month.
    pub fn monthly_minutes(mut self, minutes: u32) -> Self {
        self.monthly_minutes = Some(minutes);
        self
    }

    /// True when nothing is limited.
    pub fn is_none(&self) -> bool {
        *self == Limits::default()
    }

    fn for_period(&self, period: Period) -> (Option<Usd>, Option<u32>) {
        match period {
            Period::Day => (self.daily_cost, self.daily_minutes),
            Period::Month => (self.monthly_cost, self.monthly_minutes),
        }
    }
}

/// A calendar period of limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// A calendar day.
    Day,
    /// A calendar month.
    Month,
}

impl Period {
    /// `"day"` or `"month"`, as the database and JSON name it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Month => "month",
        }
    }

    /// `"daily"` or `"monthly"`, as alerts word it.
    pub const fn adjective(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Month => "monthly",
        }
    }
}

/// Whose limits: a user's or a tenant's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// [`CallInfo::user`](crate::CallInfo::user).
    User,
    /// [`CallInfo::tenant`](crate::CallInfo::tenant).
    Tenant,
}

/// Where one subject stands in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LimitStatus {
    /// User or tenant.
    pub kind: SubjectKind,
    /// Its id.
    pub id: String,
    /// Day or month.
    pub period: Period,
    /// When the period started (UTC).
    pub period_start: DateTime<Utc>,
    /// Spent in the period, calls in progress included.
    pub spent: Usd,
    /// Held in the period by reservations not yet settled
    /// ([`CallCostTracker::reserve`](crate::CallCostTracker::reserve)); limits count it as spent.
    pub held: Usd,
    /// Minutes of calls in the period (call seconds / 60).
    pub minutes: Decimal,
    /// The cost limit, if any.
    pub cost_limit: Option<Usd>,
    /// The minutes limit, if any.
    pub minutes_limit: Option<u32>,
    /// What remains of the cost limit (zero once reached).
    pub remaining_cost: Option<Usd>,
    /// What remains of the minutes limit (zero once reached).
    pub remaining_minutes: Option<Decimal>,
}

impl LimitStatus {
    /// Whether a new call estimated to cost `estimate` fits: within the cost limit with its estimate,
    /// and below the minutes limit.
    fn admits(&self, estimate: Usd) -> bool {
        let cost_ok = self.cost_limit.is_none_or(|limit| {
            self.spent
                .checked_add(self.held)
                .and_then(|used| used.checked_add(estimate))
                .is_some_and(|total| total <= limit)
        });
        let minutes_ok = self
            .minutes_limit
            .is_none_or(|limit| self.minutes < Decimal::from(limit));
        cost_ok && minutes_ok
    }
}

/// The answer to [`Meter::admit`](crate::Meter::admit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Admission {
    /// Whether the call may start.
    pub allowed: bool,
    /// The estimated cost the check assumed for the call.
    pub estimate: Usd,
    /// The limits that refused it (empty when allowed).
    pub denied_by: Vec<LimitStatus>,
    /// Every limited (subject, period) of the call, with what remains.
    pub status: Vec<LimitStatus>,
}

/// Where a period's spend stops growing: $4.6 billion, half the range of the counter.
const SPEND_CEILING: i64 = i64::MAX / 2;

/// The live counters of one subject in one period.
#[derive(Debug)]
pub(crate) struct PeriodCounter {
    pub(crate) kind: SubjectKind,
    pub(crate) id: Box<str>,
    pub(crate) period: Period,
    start: DateTime<Utc>,
    /// Spent plus held, in nano-dollars: the one word every decision reads, so that a reservation
    /// and a settlement each change it in one atomic step (no reader sees a hold released before the
    /// money that replaces it is counted).
    used: AtomicI64,
    /// Of `used`, what reservations hold (for reports: spent is `used − held`).
    held: AtomicI64,
    call_ms: AtomicU64,
    /// What the fleet's other servers spent on this subject in this period, as of the last refresh
    /// (zero without a fleet database).
    others_cost: AtomicI64,
    others_ms: AtomicU64,
    cost_limit: i64,
    ms_limit: u64,
    limits: (Option<Usd>, Option<u32>),
    /// Set by the track call that first reaches a limit (its alert is raised once).
    pub(crate) alerted: AtomicBool,
    /// This server's lease of the fleet's cost limit ([`FleetLimits::Strict`]); unlimited otherwise.
    pub(crate) lease: Lease,
}

/// What a server may spend of a subject's cost limit in one period, leased from the fleet database.
#[derive(Debug)]
pub(crate) struct Lease {
    /// Whether the counter spends from a lease at all.
    pub(crate) on: bool,
    /// Nano-dollars this server may have used (spent plus held) in the period: what it spent before
    /// and its slice to come. `i64::MAX` without a lease.
    pub(crate) granted: AtomicI64,
    /// Until when (Unix milliseconds, this server's clock) the lease holds: past it, nothing more is
    /// spent from it (fail-closed). `i64::MAX` without a lease.
    pub(crate) until_ms: AtomicI64,
    /// Set when the fleet could not grant all that was asked (the limit is leased out, or the
    /// database is out of reach): a track call past the lease is then told to stop.
    pub(crate) exhausted: AtomicBool,
}

impl Lease {
    fn new(on: bool) -> Self {
        let (granted, until) = if on { (0, 0) } else { (i64::MAX, i64::MAX) };
        Lease {
            on,
            granted: AtomicI64::new(granted),
            until_ms: AtomicI64::new(until),
            exhausted: AtomicBool::new(on),
        }
    }

    /// Whether `used` fits the lease at `now_ms`.
    fn allows(&self, used: i64, now_ms: i64) -> bool {
        !self.on
            || (used <= self.granted.load(Ordering::Acquire)
                && now_ms < self.until_ms.load(Ordering::Acquire))
    }
}

impl PeriodCounter {
    /// Adds one track call's cost and call milliseconds; true when a limit is reached (with a lease:
    /// also when the lease is used up and the fleet could grant no more, or it has expired).
    pub(crate) fn add(&self, cost: i64, call_ms: u64, now_ms: i64) -> bool {
        // One atomic add, kept from wrapping: an event costs at most MAX_EVENT_COST (10^15
        // nano-dollars), so a spend brought back to SPEND_CEILING whenever it passes it stays more
        // than 4 000 events' worth below i64::MAX, far above any limit.
        // A running sum: `Relaxed` (the hot path's ordering rule, in `call`'s module docs).
        let before = self.used.fetch_add(cost, Ordering::Relaxed);
        if before > SPEND_CEILING {
            self.used.store(SPEND_CEILING, Ordering::Relaxed);
        }
        let spent = before
            .saturating_add(cost)
            .saturating_add(self.others_cost.load(Ordering::Relaxed));
        let ms = if call_ms > 0 {
            self.call_ms
                .fetch_add(call_ms, Ordering::Relaxed)
                .saturating_add(call_ms)
        } else {
            self.call_ms.load(Ordering::Relaxed)
        }
        .saturating_add(self.others_ms.load(Ordering::Relaxed));
        let lease_out = self.lease.on
            && !self.lease.allows(before.saturating_add(cost), now_ms)
            && (self.lease.exhausted.load(Ordering::Relaxed)
                || now_ms >= self.lease.until_ms.load(Ordering::Relaxed));
        (!self.lease.on && spent >= self.cost_limit) || lease_out || ms >= self.ms_limit
    }

    /// Spent plus held here, in nano-dollars (what a lease must cover).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn used(&self) -> i64 {
        self.used.load(Ordering::Relaxed)
    }

    /// The cost limit, in nano-dollars (`i64::MAX` without one).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn cost_limit(&self) -> i64 {
        self.cost_limit
    }

    /// Holds `amount` nano-dollars for a reservation if spent, held and `amount` stay within the
    /// cost limit; else holds nothing and answers false. One atomic add decides: of reservations
    /// racing for the last dollar, the ones whose add lands while there is room keep it, the others
    /// take theirs back, so what is held never passes the limit.
    pub(crate) fn hold(&self, amount: i64, now_ms: i64) -> bool {
        let before = self.used.fetch_add(amount, Ordering::Relaxed);
        let mine = before.saturating_add(amount);
        // With a lease, the others' spend is in the fleet's books, not here: the lease alone decides.
        let over = if self.lease.on {
            !self.lease.allows(mine, now_ms)
        } else {
            mine.saturating_add(self.others_cost.load(Ordering::Relaxed)) > self.cost_limit
        };
        let ms = self
            .call_ms
            .load(Ordering::Relaxed)
            .saturating_add(self.others_ms.load(Ordering::Relaxed));
        if over || ms >= self.ms_limit {
            self.used.fetch_sub(amount, Ordering::Relaxed);
            return false;
        }
        self.held.fetch_add(amount, Ordering::Relaxed);
        true
    }

    /// Ends a hold of `amount`: its money is no longer counted. A settlement counts the actual
    /// cost first (a track call's [`add`](Self::add)), then releases: never the other way round.
    pub(crate) fn release(&self, amount: i64) {
        self.used.fetch_sub(amount, Ordering::Relaxed);
        self.held.fetch_sub(amount, Ordering::Relaxed);
    }

    /// Spent plus held, and what the limit allows (for a refusal's figures).
    pub(crate) fn standing(&self) -> (i64, i64, i64) {
        let held = self.held.load(Ordering::Relaxed);
        let used = self
            .used
            .load(Ordering::Relaxed)
            .saturating_add(self.others_cost.load(Ordering::Relaxed));
        (used.saturating_sub(held), held, self.cost_limit)
    }

    /// Sets what the fleet's other servers spent (a refresh from the fleet database).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn set_others(&self, cost: i64, call_ms: u64) {
        self.others_cost
            .store(cost.clamp(0, SPEND_CEILING), Ordering::Relaxed);
        self.others_ms.store(call_ms, Ordering::Relaxed);
    }

    /// The period's bounds, UTC milliseconds `[start, end)`.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn bounds_ms(&self) -> (i64, i64) {
        let start = self.start;
        let end = match self.period {
            Period::Day => start + chrono::Duration::days(1),
            Period::Month => start
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(start),
        };
        (start.timestamp_millis(), end.timestamp_millis())
    }

    pub(crate) fn status(&self) -> LimitStatus {
        let (spent, held, _) = self.standing();
        let (spent, held) = (Usd::from_nanos(spent), Usd::from_nanos(held));
        let minutes = Decimal::from(
            self.call_ms
                .load(Ordering::Relaxed)
                .saturating_add(self.others_ms.load(Ordering::Relaxed)),
        ) / Decimal::from(60_000);
        let (cost_limit, minutes_limit) = self.limits;
        LimitStatus {
            kind: self.kind,
            id: self.id.to_string(),
            period: self.period,
            period_start: self.start,
            spent,
            held,
            minutes,
            cost_limit,
            minutes_limit,
            remaining_cost: cost_limit.map(|l| {
                let left = spent
                    .checked_add(held)
                    .and_then(|used| l.checked_sub(used))
                    .unwrap_or(Usd::ZERO);
                if left.is_negative() { Usd::ZERO } else { left }
            }),
            remaining_minutes: minutes_limit
                .map(|l| (Decimal::from(l) - minutes).max(Decimal::ZERO)),
        }
    }
}

type CounterKey = (SubjectKind, Box<str>, Period, i64);

/// The meter's limits: configuration, the counters of current periods, the spend reloaded at open.
pub(crate) struct LimitBook {
    offset: FixedOffset,
    user_default: Limits,
    users: FxHashMap<String, Limits>,
    tenant_default: Limits,
    tenants: FxHashMap<String, Limits>,
    counters: Mutex<FxHashMap<CounterKey, Arc<PeriodCounter>>>,
    /// Spend (cost nano-dollars, call milliseconds) found in the database at open.
    baseline: FxHashMap<CounterKey, (i64, u64)>,
    /// Whether ended periods' counters are kept: with a clock given to the meter, which may answer
    /// per thread, a call may start on a day another thread has left behind.
    keep_ended: bool,
    /// Whether cost limits are spent from leases of the fleet's budget ([`FleetLimits::Strict`]).
    leased: bool,
}

/// How a fleet of servers (feature `postgres`) keeps a user's or tenant's cost limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FleetLimits {
    /// Each server counts the others' spend, refreshed from the fleet database every
    /// `fleet_refresh`: no server ever waits for another, and the fleet may pass a limit by what
    /// the others spent since the last refresh (the bound in the Fleets chapter).
    #[default]
    Available,
    /// Each server spends and reserves only from slices of the limit it leased from the fleet
    /// database (asked for in the background before a slice runs out, sized to its spend rate): the
    /// leases never add up to more than the limit, so the fleet does not pass it. A server that
    /// cannot reach the database spends what it holds until its lease expires, then refuses
    /// (fail-closed).
    Strict,
}

/// UTC as an offset.
pub(crate) const UTC: FixedOffset = match FixedOffset::east_opt(0) {
    Some(utc) => utc,
    None => unreachable!(),
};

/// What the builder collects.
#[derive(Clone, Debug, Default)]
pub(crate) struct LimitConfig {
    pub(crate) offset: Option<FixedOffset>,
    pub(crate) user_default: Limits,
    pub(crate) users: FxHashMap<String, Limits>,
    pub(crate) tenant_default: Limits,
    pub(crate) tenants: FxHashMap<String, Limits>,
}

impl LimitConfig {
    pub(crate) fn any(&self) -> bool {
        !self.user_default.is_none()
            || !self.tenant_default.is_none()
            || self.users.values().any(|l| !l.is_none())
            || self.tenants.values().any(|l| !l.is_none())
    }

    pub(crate) fn offset(&self) -> FixedOffset {
        self.offset.unwrap_or(UTC)
    }
}

/// One call of the current month, as the store reads it back at open.
pub(crate) struct PastCall {
    pub(crate) user: Option<String>,
    pub(crate) tenant: Option<String>,
    pub(crate) started_at_ms: i64,
    pub(crate) cost: i64,
    pub(crate) call_ms: u64,
}

/// The period key and start of `ms` (milliseconds since the epoch) in `offset`.
pub(crate) fn period_of(offset: FixedOffset, ms: i64, period: Period) -> (i64, DateTime<Utc>) {
    let local = DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&offset);
    let date = local.date_naive();
    let first = match period {
        Period::Day => date,
        Period::Month => date.with_day(1).unwrap_or(date),
    };
    let key = match period {
        Period::Day => i64::from(date.num_days_from_ce()),
        Period::Month => i64::from(date.year()) * 12 + i64::from(date.month0()),
    };
    let start = first
        .and_hms_opt(0, 0, 0)
        .and_then(|t| offset.from_local_datetime(&t).single())
        .map_or_else(DateTime::default, |t| t.with_timezone(&Utc));
    (key, start)
}

/// The start (UTC milliseconds) of the month containing `now_ms` in `offset`: what the reload reads from.
pub(crate) fn month_start_ms(offset: FixedOffset, now_ms: i64) -> i64 {
    period_of(offset, now_ms, Period::Month)
        .1
        .timestamp_millis()
}

impl LimitBook {
    /// Keeps the counters of ended periods (see `keep_ended`).
    pub(crate) fn keeping_ended_periods(mut self) -> Self {
        self.keep_ended = true;
        self
    }

    pub(crate) fn new(config: LimitConfig, past: Vec<PastCall>) -> Self {
        let offset = config.offset();
        let mut baseline: FxHashMap<CounterKey, (i64, u64)> = FxHashMap::default();
        for call in past {
            let subjects = [
                (SubjectKind::User, call.user),
                (SubjectKind::Tenant, call.tenant),
            ];
            for (kind, id) in subjects {
                let Some(id) = id else { continue };
                for period in [Period::Day, Period::Month] {
                    let (key, _) = period_of(offset, call.started_at_ms, period);
                    let e = baseline
                        .entry((kind, id.as_str().into(), period, key))
                        .or_default();
                    e.0 = e.0.saturating_add(call.cost);
                    e.1 = e.1.saturating_add(call.call_ms);
                }
            }
        }
        LimitBook {
            offset,
            user_default: config.user_default,
            users: config.users,
            tenant_default: config.tenant_default,
            tenants: config.tenants,
            counters: Mutex::new(FxHashMap::default()),
            baseline,
            keep_ended: false,
            leased: false,
        }
    }

    /// Spends cost limits from leases ([`FleetLimits::Strict`]): a new counter holds nothing until a
    /// lease is granted.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn leased(mut self) -> Self {
        self.leased = true;
        self
    }

    fn limits(&self, kind: SubjectKind, id: &str) -> Limits {
        match kind {
            SubjectKind::User => self.users.get(id).copied().unwrap_or(self.user_default),
            SubjectKind::Tenant => self.tenants.get(id).copied().unwrap_or(self.tenant_default),
        }
    }

    /// The counters a call started at `started_ms` by `user` of `tenant` adds to: one per limited
    /// (subject, period).
    pub(crate) fn counters_for(
        &self,
        user: Option<&str>,
        tenant: Option<&str>,
        started_ms: i64,
    ) -> Vec<Arc<PeriodCounter>> {
        let mut out = Vec::new();
        let mut counters = crate::base::sync::lock(&self.counters);
        for (kind, id) in [(SubjectKind::User, user), (SubjectKind::Tenant, tenant)] {
            let Some(id) = id else { continue };
            let limits = self.limits(kind, id);
            for period in [Period::Day, Period::Month] {
                let (cost_limit, minutes_limit) = limits.for_period(period);
                if cost_limit.is_none() && minutes_limit.is_none() {
                    continue;
                }
                let (key, start) = period_of(self.offset, started_ms, period);
                let map_key: CounterKey = (kind, id.into(), period, key);
                let counter = counters.entry(map_key.clone()).or_insert_with(|| {
                    let (cost, ms) = self.baseline.get(&map_key).copied().unwrap_or((0, 0));
                    Arc::new(PeriodCounter {
                        kind,
                        id: id.into(),
                        period,
                        start,
                        used: AtomicI64::new(cost),
                        held: AtomicI64::new(0),
                        call_ms: AtomicU64::new(ms),
                        others_cost: AtomicI64::new(0),
                        others_ms: AtomicU64::new(0),
                        cost_limit: cost_limit
                            .and_then(|c| c.to_nanos().ok())
                            .unwrap_or(i64::MAX),
                        ms_limit: minutes_limit.map_or(u64::MAX, |m| u64::from(m) * 60_000),
                        limits: (cost_limit, minutes_limit),
                        alerted: AtomicBool::new(false),
                        lease: Lease::new(self.leased && cost_limit.is_some()),
                    })
                });
                out.push(Arc::clone(counter));
            }
        }
        // Counters of periods that have ended stay with the calls that hold them; the book forgets them.
        if self.keep_ended {
            return out;
        }
        let today = period_of(self.offset, started_ms, Period::Day).0;
        let month = period_of(self.offset, started_ms, Period::Month).0;
        counters.retain(|(_, _, period, key), _| match period {
            Period::Day => *key >= today - 1,
            Period::Month => *key >= month - 1,
        });
        out
    }

    /// The counters of the current periods, for a refresh of the other servers' spend.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn counters(&self) -> Vec<Arc<PeriodCounter>> {
        let counters = crate::base::sync::lock(&self.counters);
        counters.values().cloned().collect()
    }

    /// The status of a subject's limited periods now.
    pub(crate) fn status(&self, kind: SubjectKind, id: &str, now_ms: i64) -> Vec<LimitStatus> {
        self.counters_for(
            (kind == SubjectKind::User).then_some(id),
            (kind == SubjectKind::Tenant).then_some(id),
            now_ms,
        )
        .iter()
        .map(|c| c.status())
        .collect()
    }

    /// Whether a call of `user` and `tenant` estimated at `estimate` may start now.
    pub(crate) fn admit(
        &self,
        user: Option<&str>,
        tenant: Option<&str>,
        estimate: Usd,
        now_ms: i64,
    ) -> Admission {
        let status: Vec<LimitStatus> = self
            .counters_for(user, tenant, now_ms)
            .iter()
            .map(|c| c.status())
            .collect();
        let denied_by: Vec<LimitStatus> = status
            .iter()
            .filter(|s| !s.admits(estimate))
            .cloned()
            .collect();
        Admission {
            allowed: denied_by.is_empty(),
            estimate,
            denied_by,
            status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn ms(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
        NaiveDate::from_ymd_opt(y, m, d)
            .and_then(|d| d.and_hms_opt(h, min, s))
            .map(|t| t.and_utc().timestamp_millis())
            .unwrap_or_default()
    }

    #[test]
    fn periods_roll_over_exactly_at_local_midnight_and_the_first() {
        let utc = FixedOffset::east_opt(0).expect("utc");
        let before = ms(2026, 1, 31, 23, 59, 59) + 999;
        let after = ms(2026, 2, 1, 0, 0, 0);
        assert_ne!(
            period_of(utc, before, Period::Day).0,
            period_of(utc, after, Period::Day).0
        );
        assert_ne!(
            period_of(utc, before, Period::Month).0,
            period_of(utc, after, Period::Month).0
        );
        assert_eq!(
            period_of(utc, after, Period::Month).1.timestamp_millis(),
            after
        );
        // At UTC+2, 23:00 UTC on Jan 31 is already February 1st.
        let east = FixedOffset::east_opt(2 * 3600).expect("offset");
        let late = ms(2026, 1, 31, 23, 0, 0);
        assert_eq!(
            period_of(east, late, Period::Month).0,
            period_of(utc, after, Period::Month).0
        );
        assert_eq!(
            period_of(east, late, Period::Day).1.timestamp_millis(),
            ms(2026, 1, 31, 22, 0, 0)
        );
    }

    #[test]
    fn a_new_day_starts_from_zero_while_the_month_carries_on() {
        let config = LimitConfig {
            user_default: Limits::none()
                .daily_cost(Usd::from_nanos(1_000))
                .monthly_cost(Usd::from_nanos(10_000)),
            ..LimitConfig::default()
        };
        let book = LimitBook::new(config, Vec::new());
        let late = ms(2026, 3, 9, 23, 59, 59) + 999;
        let early = ms(2026, 3, 10, 0, 0, 0);
        let monday = book.counters_for(Some("u"), None, late);
        assert!(!monday[0].add(999, 0, 0), "below the daily limit");
        assert!(monday[0].add(1, 0, 0), "exactly at the daily limit");
        monday[1].add(1_000, 0, 0);
        let tuesday = book.counters_for(Some("u"), None, early);
        assert_eq!(tuesday[0].status().period, Period::Day);
        assert_eq!(tuesday[0].status().spent, Usd::ZERO);
        assert_eq!(tuesday[1].status().spent, Usd::from_nanos(1_000));
        // A month later, the month starts from zero too.
        let april = book.counters_for(Some("u"), None, ms(2026, 4, 1, 0, 0, 0));
        assert_eq!(april[1].status().spent, Usd::ZERO);
    }

    /// With a per-thread clock one thread may be on the 20th while another still starts calls on
    /// the 5th: the 5th's spend must still be there for it.
    #[test]
    fn a_book_keeping_ended_periods_finds_an_earlier_day_s_spend() {
        let config = || LimitConfig {
            user_default: Limits::none().daily_cost(Usd::from_nanos(1_000)),
            ..LimitConfig::default()
        };
        let fifth = ms(2026, 3, 5, 12, 0, 0);
        let twentieth = ms(2026, 3, 20, 12, 0, 0);
        for (book, kept) in [
            (LimitBook::new(config(), Vec::new()), false),
            (
                LimitBook::new(config(), Vec::new()).keeping_ended_periods(),
                true,
            ),
        ] {
            book.counters_for(Some("u"), None, fifth)[0].add(600, 0, 0);
            let _ = book.counters_for(Some("u"), None, twentieth);
            let again = book.counters_for(Some("u"), None, fifth)[0].status().spent;
            let expected = if kept {
                Usd::from_nanos(600)
            } else {
                Usd::ZERO
            };
            assert_eq!(again, expected, "kept: {kept}");
        }
    }
}
