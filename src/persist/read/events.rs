//! What reports read of `cost_events`: a call's events in order, the events of a range (to export,
//! or to price again), and sums of cost and quantity by day, model or call. Ranges are `[start, end)`
//! in UTC milliseconds of the events' time.

use serde::Serialize;

use crate::base::error::Result;
use crate::base::usage::{Category, Measure, TokenUsage, Unit, UsageKind};
use crate::persist::read::{BoxError, Dialect, Param, Row, Source};
use crate::persist::rows::DETAIL_COLUMNS;

/// The sum of events' headline quantities in thousandths, exact: a quantity is whole units, or
/// milliseconds shown as seconds, so it has at most three decimals, and each one is rounded back to
/// them before the sum (a sum of the stored floats would carry their binary error).
pub(crate) const MILLI_UNITS: &str =
    "CAST(COALESCE(SUM(CAST(ROUND(quantity * 1000) AS BIGINT)), 0) AS BIGINT)";

/// What an event row is (`cost_events.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// Usage tracked while the call was open.
    Usage,
    /// Usage tracked after the call was finalized.
    Late,
    /// The events a full queue dropped, one row per category, written with the call's final record:
    /// their quantity is how many events they were.
    Coalesced,
}

impl EventKind {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::Usage => "usage",
            EventKind::Late => "late",
            EventKind::Coalesced => "coalesced",
        }
    }

    /// The kind of a stored name.
    pub(crate) fn from_name(name: &str) -> Option<EventKind> {
        [EventKind::Usage, EventKind::Late, EventKind::Coalesced]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One stored event, as a call's breakdown shows it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EventRow {
    pub(crate) segment: i64,
    pub(crate) seq: i64,
    pub(crate) at_ms: i64,
    pub(crate) category: Category,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) agent: Option<String>,
    pub(crate) quantity: f64,
    pub(crate) unit: Unit,
    pub(crate) cost_nanos: i64,
    pub(crate) kind: EventKind,
    pub(crate) priced: bool,
    /// An abandoned reservation recorded at its estimate.
    pub(crate) estimated: bool,
}

/// The events of a call, in order: found by its number in a file (the event index is built on it), by
/// its id in a fleet database.
pub(crate) fn of_call(src: &Source, number: i64, call_id: &str) -> Result<Vec<EventRow>> {
    // In a fleet database, the range of the identity's index whose ids begin with `call_id#`.
    #[cfg(feature = "postgres")]
    let range = (format!("{call_id}#"), format!("{call_id}$"));
    #[cfg(not(feature = "postgres"))]
    let _ = call_id;
    let (condition, keys): (&str, Vec<Param<'_>>) = match src.dialect() {
        Dialect::Sqlite => ("call_ref = ?1", vec![number.into()]),
        #[cfg(feature = "postgres")]
        Dialect::Postgres => (
            "event_id >= ?1 AND event_id < ?2 AND call_id = ?3",
            vec![(&range.0).into(), (&range.1).into(), call_id.into()],
        ),
    };
    src.query(
        &format!(
            "SELECT seq, created_at, category, provider, model, agent, quantity, unit, cost_nanos,
                    kind, priced, segment, {}
             FROM cost_events WHERE {condition} ORDER BY segment, seq",
            src.estimated_column()
        ),
        &keys,
        "reading a call's events",
        |r| {
            Ok(EventRow {
                segment: r.int(11)?,
                seq: r.int(0)?,
                at_ms: r.int(1)?,
                category: r.text(2)?.parse()?,
                provider: r.text(3)?,
                model: r.text(4)?,
                agent: r.opt_text(5)?,
                quantity: r.real(6)?,
                unit: r.text(7)?.parse()?,
                cost_nanos: r.int(8)?,
                kind: {
                    let kind = r.text(9)?;
                    EventKind::from_name(&kind)
                        .ok_or_else(|| format!("an event of unknown kind {kind:?}"))?
                },
                priced: r.int(10)? != 0,
                estimated: r.int(12)? != 0,
            })
        },
    )
}

/// The columns of the events CSV, in order (a fleet database answers `price_id` empty: price ids are
/// numbered per file).
pub(crate) const CSV_COLUMNS: [&str; 15] = [
    "event_id",
    "call_id",
    "seq",
    "created_at",
    "category",
    "provider",
    "model",
    "agent",
    "quantity",
    "unit",
    "cost_nanos",
    "kind",
    "priced",
    "estimated",
    "price_id",
];

/// Hands [`CSV_COLUMNS`] of each event of `span` to `f` as text, in order of time, as they are read;
/// answers how many.
pub(crate) fn each_as_text(
    src: &Source,
    (a, b): (i64, i64),
    mut f: impl FnMut(Vec<String>) -> std::result::Result<(), BoxError>,
) -> Result<u64> {
    // A fleet database keeps no price ids and orders a moment's events by their call's id.
    let (price_id, order) = match src.dialect() {
        Dialect::Sqlite => ("price_id", "call_ref"),
        #[cfg(feature = "postgres")]
        Dialect::Postgres => ("NULL", "call_id"),
    };
    let mut n = 0;
    src.for_each(
        &format!(
            "SELECT {}, {}, {price_id} FROM cost_events WHERE created_at >= ?1 AND created_at < ?2
             ORDER BY created_at, {order}, segment, seq",
            CSV_COLUMNS[..CSV_COLUMNS.len() - 2].join(", "),
            src.estimated_column()
        ),
        &[a.into(), b.into()],
        "exporting events",
        |r| {
            n += 1;
            f(r.fields())
        },
    )?;
    Ok(n)
}

/// What the events of a span used.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Used {
    /// Their quantities, in thousandths of a unit.
    pub(crate) milli_units: i64,
    pub(crate) cost_nanos: i64,
    /// Their unit, when they all have the same one.
    pub(crate) unit: Option<String>,
}

/// What the events of `span` used, of `provider` (any when `None`) and `model` (any when `None`).
pub(crate) fn used(
    src: &Source,
    (a, b): (i64, i64),
    provider: Option<&str>,
    model: Option<&str>,
) -> Result<Used> {
    let mut sql = format!(
        "SELECT {MILLI_UNITS}, CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), MIN(unit), MAX(unit)
         FROM cost_events WHERE created_at >= ?1 AND created_at < ?2"
    );
    let mut params: Vec<Param<'_>> = vec![a.into(), b.into()];
    if let Some(provider) = provider {
        sql.push_str(" AND provider = ?3");
        params.push(provider.into());
    }
    if let Some(model) = model {
        sql.push_str(if provider.is_some() {
            " AND model = ?4"
        } else {
            " AND model = ?3"
        });
        params.push(model.into());
    }
    Ok(src
        .query_one(&sql, &params, "reading quota usage", |r| {
            let (low, high) = (r.opt_text(2)?, r.opt_text(3)?);
            Ok(Used {
                milli_units: r.int(0)?,
                cost_nanos: r.int(1)?,
                unit: low.filter(|l| Some(l) == high.as_ref()),
            })
        })?
        .unwrap_or_default())
}

/// What sums of a provider's events are keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// The call (and the UTC day of its first event).
    Call,
    /// The UTC day and the model.
    DayModel,
    /// The UTC day (the name is empty).
    Day,
}

/// (days since 1970-01-01, key name, thousandths of a unit) of `provider`'s events of `span` in
/// `unit`, by day (`Key::Day`) or by day and model (`Key::DayModel`).
pub(crate) fn units_by(
    src: &Source,
    provider: &str,
    unit: &str,
    key: Key,
    (a, b): (i64, i64),
) -> Result<Vec<(i64, String, i64)>> {
    let (name, group) = match key {
        Key::DayModel => ("model", ", model"),
        Key::Day | Key::Call => ("CAST('' AS TEXT)", ""),
    };
    src.query(
        &format!(
            "SELECT created_at / 86400000, {name}, {MILLI_UNITS} FROM cost_events
             WHERE provider = ?1 AND unit = ?2 AND created_at >= ?3 AND created_at < ?4
             GROUP BY created_at / 86400000{group}"
        ),
        &[provider.into(), unit.into(), a.into(), b.into()],
        "summing tracked usage",
        |r| Ok((r.int(0)?, r.text(1)?, r.int(2)?)),
    )
}

/// (days since 1970-01-01, key name, nano-dollars) of `provider`'s events of `span`, by `key`.
pub(crate) fn cost_by(
    src: &Source,
    provider: &str,
    key: Key,
    (a, b): (i64, i64),
) -> Result<Vec<(i64, String, i64)>> {
    let (sql, context) = match key {
        Key::Call => (
            "SELECT MIN(created_at) / 86400000, call_id, CAST(SUM(cost_nanos) AS BIGINT)
             FROM cost_events WHERE provider = ?1 AND created_at >= ?2 AND created_at < ?3
             GROUP BY call_id",
            "summing calls' costs",
        ),
        Key::DayModel => (
            "SELECT created_at / 86400000, model, CAST(SUM(cost_nanos) AS BIGINT)
             FROM cost_events WHERE provider = ?1 AND created_at >= ?2 AND created_at < ?3
             GROUP BY created_at / 86400000, model",
            "summing costs by day and model",
        ),
        Key::Day => (
            "SELECT created_at / 86400000, CAST('' AS TEXT), CAST(SUM(cost_nanos) AS BIGINT)
             FROM cost_events WHERE provider = ?1 AND created_at >= ?2 AND created_at < ?3
             GROUP BY created_at / 86400000",
            "summing costs by day",
        ),
    };
    src.query(sql, &[provider.into(), a.into(), b.into()], context, |r| {
        Ok((r.int(0)?, r.text(1)?, r.int(2)?))
    })
}

/// Hands (call id, category, provider, nano-dollars) of the calls started in `span` to `f`: each
/// call's cost by category and provider.
pub(crate) fn breakdowns(
    src: &Source,
    (a, b): (i64, i64),
    mut f: impl FnMut(String, String, String, i64),
) -> Result<()> {
    src.for_each(
        "SELECT e.call_id, e.category, e.provider, CAST(SUM(e.cost_nanos) AS BIGINT)
         FROM cost_events e JOIN calls c ON c.call_id = e.call_id
         WHERE c.started_at >= ?1 AND c.started_at < ?2
         GROUP BY e.call_id, e.category, e.provider",
        &[a.into(), b.into()],
        "reading the calls' breakdowns",
        |r| {
            f(r.text(0)?, r.text(1)?, r.text(2)?, r.int(3)?);
            Ok(())
        },
    )
}

/// A stored event as it was priced: enough to price it again.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Priced {
    /// Its call: the number in a file, the id in a fleet database (events of one call are handed
    /// over together, in order).
    pub(crate) call: String,
    pub(crate) at_ms: i64,
    pub(crate) category: String,
    pub(crate) provider: String,
    pub(crate) model: String,
    /// What it cost when it was recorded.
    pub(crate) cost_nanos: i64,
    /// What it was priced on; `None` when the row does not hold it (coalesced rows, payments, a
    /// realtime row without its audio split).
    pub(crate) measure: Option<Measure>,
}

/// The columns [`measure_of`] reads after the first nine of [`each_priced`]'s query: the detail
/// columns but the payment's amount.
const DETAIL: &[&str] = DETAIL_COLUMNS.split_at(11).0;

/// Hands each event of `span` to `f` as it was priced, call by call, each call's in order.
pub(crate) fn each_priced(
    src: &Source,
    (a, b): (i64, i64),
    mut f: impl FnMut(Priced),
) -> Result<()> {
    let call = match src.dialect() {
        Dialect::Sqlite => "call_ref",
        #[cfg(feature = "postgres")]
        Dialect::Postgres => "call_id",
    };
    src.for_each(
        &format!(
            "SELECT CAST({call} AS TEXT), created_at, category, provider, model, quantity, unit,
                    cost_nanos, kind, {}
             FROM cost_events WHERE created_at >= ?1 AND created_at < ?2
             ORDER BY {call}, segment, seq",
            DETAIL.join(", ")
        ),
        &[a.into(), b.into()],
        "reading events to re-price",
        |row| {
            let category = row.text(2)?;
            let measure = if row.text(8)? == EventKind::Coalesced.as_str() {
                None
            } else {
                measure_of(row, &category)?
            };
            f(Priced {
                call: row.text(0)?,
                at_ms: row.int(1)?,
                category,
                provider: row.text(3)?,
                model: row.text(4)?,
                cost_nanos: row.int(7)?,
                measure,
            });
            Ok(())
        },
    )
}

/// Rebuilds the measure of a stored event of `category` from its columns (`quantity` at 5, `unit` at
/// 6, then [`DETAIL`] from 9): what it was priced on. `None` when the row does not hold enough to
/// price it again (a realtime row without its audio split, a payment).
fn measure_of(row: &mut Row, category: &str) -> std::result::Result<Option<Measure>, BoxError> {
    let unit = row.text(6)?;
    let quantity = row.real(5)?;
    let detail = |name: &str| -> std::result::Result<Option<i64>, BoxError> {
        let i = DETAIL.iter().position(|d| *d == name).unwrap_or(0);
        row.opt_int(9 + i)
    };
    let n = |name: &str| -> std::result::Result<u64, BoxError> {
        Ok(detail(name)?.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    };
    let ms = (quantity * 1000.0).round().max(0.0) as u64;
    Ok(match unit.as_str() {
        "token" => Some(Measure::Tokens(
            TokenUsage::new(n("input_tokens")?, n("output_tokens")?)
                .with_cached_input(n("cached_input_tokens")?)
                .with_cache_write(n("cache_write_tokens")?)
                .with_cache_write_1h(n("cache_write_1h_tokens")?)
                .with_reasoning(n("reasoning_tokens")?)
                .with_audio(n("audio_input_tokens")?, n("audio_output_tokens")?)
                .with_cached_audio_input(n("cached_audio_input_tokens")?),
        )),
        "character" => Some(Measure::Quantity(UsageKind::Characters, quantity as u64)),
        "request" => Some(Measure::Quantity(UsageKind::Requests, quantity as u64)),
        "second" => match category {
            "telephony" => Some(Measure::Quantity(UsageKind::CallSeconds, ms)),
            "stt" => Some(Measure::Quantity(UsageKind::AudioSeconds, ms)),
            "transport" => Some(Measure::Quantity(UsageKind::ParticipantSeconds, ms)),
            _ => match (detail("audio_input_ms")?, detail("audio_output_ms")?) {
                (Some(i), Some(o)) => Some(Measure::Pair([
                    (UsageKind::AudioInputSeconds, u64::try_from(i).unwrap_or(0)),
                    (UsageKind::AudioOutputSeconds, u64::try_from(o).unwrap_or(0)),
                ])),
                _ => None,
            },
        },
        _ => None,
    })
}
