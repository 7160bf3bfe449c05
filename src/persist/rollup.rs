//! Rollups: sums of events per call, per user per day and per month, per tenant per day and per
//! platform day, by category and provider, kept by the writer in the same transaction as the events
//! they sum.
//!
//! Table `rollups`, one row per (scope, subject, period, category, provider): `cost_nanos`, `events`
//! (a coalesced row counts the events it stands for), `tokens`, `characters`, `time_ms` (every
//! time-based quantity: call, audio, participant seconds, in milliseconds). Periods are UTC:
//! `YYYY-MM-DD` for days, `YYYY-MM` for months, empty for a call. An event counts in the day of its
//! `created_at`.
//!
//! A batch's events are summed in memory and added with one upsert per row. When a call's events may
//! have collided with rows already there (a reused call id), the rows its events touch are rebuilt from
//! `cost_events` instead, so a rollup is always exactly the sum of its events.

use rusqlite::{Transaction, params};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::base::usage::{Category, Measure, Unit};
use crate::ident::CallIdent;

/// The rollups table.
pub(crate) const SCHEMA: &str = "
CREATE TABLE rollups (
    scope       TEXT NOT NULL
                CHECK (scope IN ('call', 'user_day', 'user_month', 'tenant_day', 'platform_day')),
    subject     TEXT NOT NULL,
    period      TEXT NOT NULL,
    category    TEXT NOT NULL,
    provider    TEXT NOT NULL,
    cost_nanos  INTEGER NOT NULL CHECK (typeof(cost_nanos) = 'integer'),
    events      INTEGER NOT NULL,
    tokens      INTEGER NOT NULL,
    characters  INTEGER NOT NULL,
    time_ms     INTEGER NOT NULL,
    PRIMARY KEY (scope, subject, period, category, provider)
) WITHOUT ROWID;
";

const UPSERT: &str = "INSERT INTO rollups
    (scope, subject, period, category, provider, cost_nanos, events, tokens, characters, time_ms)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
    ON CONFLICT (scope, subject, period, category, provider) DO UPDATE SET
        cost_nanos = cost_nanos + excluded.cost_nanos,
        events = events + excluded.events,
        tokens = tokens + excluded.tokens,
        characters = characters + excluded.characters,
        time_ms = time_ms + excluded.time_ms";

/// The sums of one rollup row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) cost: i64,
    pub(crate) events: i64,
    pub(crate) tokens: i64,
    pub(crate) characters: i64,
    pub(crate) time_ms: i64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.cost = self.cost.saturating_add(o.cost);
        self.events += o.events;
        self.tokens = self.tokens.saturating_add(o.tokens);
        self.characters = self.characters.saturating_add(o.characters);
        self.time_ms = self.time_ms.saturating_add(o.time_ms);
    }

    /// One event's contribution.
    pub(crate) fn of(cost: i64, measure: Option<&Measure>, events: i64) -> Sums {
        let mut s = Sums {
            cost,
            events,
            ..Sums::default()
        };
        if let Some(m) = measure {
            m.for_each(|kind, n| {
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                match kind.unit() {
                    Unit::Token => s.tokens = s.tokens.saturating_add(n),
                    Unit::Character => s.characters = s.characters.saturating_add(n),
                    Unit::Second => s.time_ms = s.time_ms.saturating_add(n),
                    Unit::Transaction | Unit::Request | Unit::Event => {}
                }
            });
        }
        s
    }
}

const DAY_MS: i64 = 86_400_000;

/// A batch's rollup deltas, first by call, day, category and provider (cheap keys), expanded into
/// rows when written.
#[derive(Default)]
pub(crate) struct Deltas<'b> {
    by_call: FxHashMap<(*const CallIdent, i64, Category, &'b str), (&'b CallIdent, Sums)>,
}

/// The scopes a call's events are summed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Scope {
    Call,
    UserDay,
    UserMonth,
    TenantDay,
    PlatformDay,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Call => "call",
            Scope::UserDay => "user_day",
            Scope::UserMonth => "user_month",
            Scope::TenantDay => "tenant_day",
            Scope::PlatformDay => "platform_day",
        }
    }
}

/// A rollup row's key, without category and provider.
type RowKey = (Scope, String, String);

fn day_text(day: i64) -> String {
    chrono::DateTime::from_timestamp_millis(day * DAY_MS)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// The (scope, subject, period) rows an event of `call` on `day` counts in.
fn rows_of(call: &CallIdent, day: i64) -> Vec<RowKey> {
    let date = day_text(day);
    let month = date.get(..7).unwrap_or_default().to_owned();
    let mut rows = vec![
        (Scope::Call, call.call_id.to_string(), String::new()),
        (Scope::PlatformDay, String::new(), date.clone()),
    ];
    if let Some(user) = call.user_id.as_deref() {
        rows.push((Scope::UserDay, user.to_owned(), date.clone()));
        rows.push((Scope::UserMonth, user.to_owned(), month));
    }
    if let Some(tenant) = call.tenant_id.as_deref() {
        rows.push((Scope::TenantDay, tenant.to_owned(), date));
    }
    rows
}

impl<'b> Deltas<'b> {
    /// Adds one inserted event (or coalesced row) of `call`, made at `at_ms`.
    pub(crate) fn add(
        &mut self,
        call: &'b CallIdent,
        at_ms: i64,
        category: Category,
        provider: &'b str,
        sums: Sums,
    ) {
        let day = at_ms.div_euclid(DAY_MS);
        self.by_call
            .entry((call as *const CallIdent, day, category, provider))
            .or_insert_with(|| (call, Sums::default()))
            .1
            .add(&sums);
    }

    /// Writes the deltas. The rows touched by a call in `dirty` are rebuilt from `cost_events`
    /// instead (the rows are already inserted in this transaction).
    pub(crate) fn write(
        self,
        tx: &Transaction<'_>,
        dirty: &FxHashSet<*const CallIdent>,
    ) -> rusqlite::Result<()> {
        let mut rebuild: FxHashSet<RowKey> = FxHashSet::default();
        let mut rows: FxHashMap<(RowKey, Category, &str), Sums> = FxHashMap::default();
        for ((ptr, day, category, provider), (call, sums)) in &self.by_call {
            for key in rows_of(call, *day) {
                if dirty.contains(ptr) {
                    rebuild.insert(key);
                } else {
                    rows.entry((key, *category, provider))
                        .or_default()
                        .add(sums);
                }
            }
        }
        let mut upsert = tx.prepare_cached(UPSERT)?;
        for (((scope, subject, period), category, provider), s) in &rows {
            if rebuild.contains(&(*scope, subject.clone(), period.clone())) {
                continue;
            }
            upsert.execute(params![
                scope.as_str(),
                subject,
                period,
                category.as_str(),
                provider,
                s.cost,
                s.events,
                s.tokens,
                s.characters,
                s.time_ms,
            ])?;
        }
        for key in &rebuild {
            rebuild_row(tx, key)?;
        }
        Ok(())
    }
}

/// Columns of a rollup computed from `cost_events e` (joined to `calls c`).
const FROM_EVENTS: &str = "e.category, e.provider, SUM(e.cost_nanos),
    SUM(CASE WHEN e.kind = 'coalesced' THEN CAST(e.quantity AS INTEGER) ELSE 1 END),
    SUM(CASE WHEN e.unit = 'token' THEN CAST(e.quantity AS INTEGER) ELSE 0 END),
    SUM(CASE WHEN e.unit = 'character' THEN CAST(e.quantity AS INTEGER) ELSE 0 END),
    SUM(CASE WHEN e.unit = 'second' THEN CAST(ROUND(e.quantity * 1000) AS INTEGER) ELSE 0 END)";

/// Recomputes one (scope, subject, period)'s rows from the events.
fn rebuild_row(tx: &Transaction<'_>, (scope, subject, period): &RowKey) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM rollups WHERE scope = ?1 AND subject = ?2 AND period = ?3",
        params![scope.as_str(), subject, period],
    )?;
    let (start, end) = period_range(*scope, period);
    let who = match scope {
        Scope::Call => "c.call_id = ?2",
        Scope::UserDay | Scope::UserMonth => "c.user_id = ?2",
        Scope::TenantDay => "c.tenant_id = ?2",
        Scope::PlatformDay => "?2 = ''",
    };
    tx.execute(
        &format!(
            "INSERT INTO rollups
                (scope, subject, period, category, provider, cost_nanos, events, tokens, characters,
                 time_ms)
             SELECT ?1, ?2, ?3, {FROM_EVENTS}
             FROM cost_events e JOIN calls c ON c.call_ref = e.call_ref
             WHERE {who} AND e.created_at >= ?4 AND e.created_at < ?5
             GROUP BY e.category, e.provider"
        ),
        params![scope.as_str(), subject, period, start, end],
    )?;
    Ok(())
}

/// The UTC milliseconds `[start, end)` of a day or month period.
fn period_range(scope: Scope, period: &str) -> (i64, i64) {
    let parse = |text: &str| chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
    let ms = |d: chrono::NaiveDate| {
        d.and_hms_opt(0, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp_millis())
    };
    match scope {
        Scope::Call => (i64::MIN, i64::MAX),
        Scope::UserMonth => match parse(&format!("{period}-01")) {
            Some(first) => {
                let next = first
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(first);
                (ms(first), ms(next))
            }
            None => (0, 0),
        },
        _ => match parse(period) {
            Some(day) => (ms(day), ms(day) + DAY_MS),
            None => (0, 0),
        },
    }
}
