//! The rows of `cost_events`: which columns an event binds (its layout: the base columns, and the
//! optional groups it fills), the multi-row INSERT statements of each layout, and binding an event
//! to them.

use std::sync::atomic::Ordering;

use once_cell::sync::Lazy;
use rusqlite::{Statement, ToSql, Transaction};

use crate::base::usage::Measure;
use crate::persist::message::Resolved;

/// Columns every event binds.
pub(crate) const BASE_COLUMNS: [&str; 12] = [
    "call_id",
    "call_ref",
    "seq",
    "segment",
    "created_at",
    "category",
    "provider",
    "model",
    "quantity",
    "unit",
    "cost_nanos",
    "price_id",
];

/// Groups of columns an event binds only when it has them; the others keep their default (NULL, or
/// `kind = 'usage'`, `priced = 1` and `estimated = 0`). Binding a value is a large share of a row's cost, and most events
/// have none of these.
pub(crate) const AGENT: usize = 1;
pub(crate) const FLAGS: usize = 1 << 1;
pub(crate) const TOKENS: usize = 1 << 2;
pub(crate) const AUDIO: usize = 1 << 3;
pub(crate) const AMOUNT: usize = 1 << 4;
pub(crate) const LAYOUTS: usize = 1 << 5;

/// The detail columns of `cost_events`, NULL where they do not apply: the token counts (in the order
/// of `TokenUsage::parts`), the realtime audio milliseconds, a payment's amount.
pub(crate) const DETAIL_COLUMNS: [&str; 12] = [
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "audio_input_tokens",
    "cached_audio_input_tokens",
    "audio_output_tokens",
    "audio_input_ms",
    "audio_output_ms",
    "amount_nanos",
];
/// [`DETAIL_COLUMNS`] split into the token counts, the audio milliseconds and the amount.
pub(crate) const TOKEN_COLUMNS: &[&str] = DETAIL_COLUMNS.split_at(9).0;
pub(crate) const AUDIO_COLUMNS: &[&str] = DETAIL_COLUMNS.split_at(9).1.split_at(2).0;
pub(crate) const AMOUNT_COLUMNS: &[&str] = DETAIL_COLUMNS.split_at(11).1;

pub(crate) const GROUPS: [(usize, &[&str]); 5] = [
    (AGENT, &["agent"]),
    (FLAGS, &["kind", "priced", "estimated"]),
    (TOKENS, TOKEN_COLUMNS),
    (AUDIO, AUDIO_COLUMNS),
    (AMOUNT, AMOUNT_COLUMNS),
];

/// Rows per multi-row INSERT: one statement step per this many events (SQLite's per-statement work is a
/// large share of a small row's cost).
pub(crate) const ROWS_PER_INSERT: usize = 32;

pub(crate) fn layout_columns(layout: usize) -> Vec<&'static str> {
    let mut columns = BASE_COLUMNS.to_vec();
    for (bit, group) in GROUPS {
        if layout & bit != 0 {
            columns.extend_from_slice(group);
        }
    }
    columns
}

pub(crate) fn insert_events_sql(layout: usize, rows: usize) -> String {
    let columns = layout_columns(layout);
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    format!(
        "INSERT OR IGNORE INTO cost_events ({}) VALUES {}",
        columns.join(", "),
        vec![row; rows].join(", ")
    )
}

/// The INSERT statements of each layout: (one row, [`ROWS_PER_INSERT`] rows, parameters per row).
pub(crate) static INSERT_EVENTS: Lazy<Vec<(String, String, usize)>> = Lazy::new(|| {
    (0..LAYOUTS)
        .map(|layout| {
            (
                insert_events_sql(layout, 1),
                insert_events_sql(layout, ROWS_PER_INSERT),
                layout_columns(layout).len(),
            )
        })
        .collect()
});

/// Inserts events of one layout: [`ROWS_PER_INSERT`] of them in one statement, fewer one by one;
/// answers how many collided with rows already there.
pub(crate) fn insert_rows(
    tx: &Transaction<'_>,
    layout: usize,
    events: &[Resolved],
    rows: &[(usize, i64, Option<i64>)],
) -> rusqlite::Result<u64> {
    let (one, many, width) = &INSERT_EVENTS[layout];
    let mut conflicts = 0;
    let mut collided = |i: usize, n: usize| {
        conflicts += n as u64;
        events[i].call.conflicted.store(true, Ordering::Relaxed);
    };
    if rows.len() == ROWS_PER_INSERT {
        let mut stmt = tx.prepare_cached(many)?;
        for (k, &(i, call_ref, price_id)) in rows.iter().enumerate() {
            bind_event(
                &mut stmt,
                k * width,
                (call_ref, price_id),
                &events[i],
                layout,
            )?;
        }
        let inserted = stmt.raw_execute()?;
        if inserted < rows.len() {
            // Which rows collided is not known: every call of the statement is recounted.
            collided(rows[0].0, rows.len() - inserted);
            for &(i, ..) in &rows[1..] {
                collided(i, 0);
            }
        }
    } else if !rows.is_empty() {
        let mut stmt = tx.prepare_cached(one)?;
        for &(i, call_ref, price_id) in rows {
            bind_event(&mut stmt, 0, (call_ref, price_id), &events[i], layout)?;
            if stmt.raw_execute()? == 0 {
                collided(i, 1);
            }
        }
    }
    Ok(conflicts)
}

/// Which optional column groups the event binds.
pub(crate) fn layout(r: &Resolved) -> usize {
    let e = &r.event;
    let mut layout = match r.measure {
        Measure::Tokens(_) => TOKENS,
        Measure::Pair(_) => AUDIO,
        Measure::Payment(..) => AMOUNT,
        Measure::Quantity(..) => 0,
    };
    if r.agent.is_some() {
        layout |= AGENT;
    }
    if e.late() || !e.priced() || e.estimated() {
        layout |= FLAGS;
    }
    layout
}

/// Binds one event's columns in `layout` at parameters `offset + 1 ..`.
pub(crate) fn bind_event(
    stmt: &mut Statement<'_>,
    offset: usize,
    (call_ref, price_id): (i64, Option<i64>),
    r: &Resolved,
    layout: usize,
) -> rusqlite::Result<()> {
    let (provider, model) = r.names();
    let e = &r.event;
    let measure = r.measure;
    let (quantity, unit) = measure.headline();
    let base: [&dyn ToSql; BASE_COLUMNS.len()] = [
        &r.call.call_id,
        &call_ref,
        &e.seq,
        &r.call.segment,
        &r.at_ms(),
        &e.category().as_str(),
        &provider,
        &model,
        &quantity,
        &unit.as_str(),
        &e.cost,
        &price_id,
    ];
    let mut at = offset;
    let mut bind = |v: &dyn ToSql| {
        at += 1;
        stmt.raw_bind_parameter(at, v)
    };
    for v in base {
        bind(v)?;
    }
    if layout & AGENT != 0 {
        bind(&r.agent.as_deref())?;
    }
    if layout & FLAGS != 0 {
        bind(&if e.late() { "late" } else { "usage" })?;
        bind(&e.priced())?;
        bind(&e.estimated())?;
    }
    match measure {
        Measure::Tokens(t) if layout & TOKENS != 0 => {
            for (_, n) in t.parts() {
                bind(&int(n))?;
            }
        }
        Measure::Pair([(_, i), (_, o)]) if layout & AUDIO != 0 => {
            bind(&int(i))?;
            bind(&int(o))?;
        }
        Measure::Payment(a, _) if layout & AMOUNT != 0 => bind(&a)?,
        _ => {}
    }
    Ok(())
}

/// SQLite integers are signed; every count callmeter stores is far below `i64::MAX`.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
