//! The dashboard's templates: one per part, and the style sheet.

use chrono::NaiveDate;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::base::money::Usd;
use crate::control::Period;

use super::page::*;
use crate::report::operations::{AlertSummary, Ending};
use crate::report::quotas::{QuotaLevel, QuotaState};
use crate::report::reconcile::{Finding, Reconciliation};
use crate::report::results::GroupCost;

pub(super) const STYLE: &str = "
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0;padding:1.2em 2vw;color:#1f2328;background:#f6f8fa}
h1{font-size:1.5em;margin:.2em 0 .8em} h2{font-size:1.1em;margin:0 0 .6em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5em,1fr));gap:.8em;margin-bottom:1.2em}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.6em .9em}
.card span{color:#57606a;font-size:.85em} .card b{display:block;font-size:1.35em;margin-top:.15em}
.card small{color:#57606a}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,34em),1fr));gap:1em}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:.9em 1.1em;margin-bottom:1em;min-width:0}
svg{width:100%;height:auto;display:block} .label{font-size:12px;fill:#1f2328} .value{font-size:11px;fill:#57606a}
.legend span{display:inline-block;margin-right:1em;font-size:.85em}
.legend i,i.sw{display:inline-block;width:.8em;height:.8em;margin-right:.3em;border-radius:2px}
.scroll{overflow-x:auto} table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border-bottom:1px solid #eaeef2;padding:.3em .6em;text-align:left;vertical-align:top;white-space:nowrap}
th{color:#57606a;font-weight:600} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.id{max-width:22em;overflow:hidden;text-overflow:ellipsis} .loss{color:#d1495b} .muted{color:#57606a}
details summary{cursor:pointer} details table{margin:.3em 0 .6em;width:auto}
tr:target{background:#fff8c5}
.meter{display:inline-block;width:5em;height:.7em;background:#eaeef2;border-radius:3px;vertical-align:middle}
.meter i{display:block;height:100%;border-radius:3px}
";

/// A whole page: the shared head and style around `body`.
pub(super) fn document(title: &str, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    }
}

/// A category's colour, as a small square before its name.
pub(super) fn swatch(category: &str) -> Markup {
    html! { i.sw style={ "background:" (category_color(category)) } {} }
}

pub(super) fn render(page: &Page) -> Markup {
    let (from, to) = (page.from, page.to);
    let body = html! {
        h1 { "callmeter — " (from) " to " (to) }
        div.cards {
            @for (name, value, note) in &page.cards {
                div.card {
                    span { (name) }
                    b { (value) }
                    @if let Some(note) = note { small { (note) } }
                }
            }
        }
        div.grid {
            (daily_chart(&page.daily))
            (hourly_chart(&page.hourly))
            @for chart in &page.charts {
                (bar_chart(chart))
            }
            (endings(&page.endings))
            (quotas(page.quotas.as_deref(), to))
            (alerts(page.alerts.as_ref()))
            (reconciliation(&page.reconciliation))
            (groups("tenants", "Tenants", &page.tenants))
            (groups("users", "Users", &page.users))
        }
        (calls(&page.calls, page.calls_in_range, page.call_links))
    };
    document(&format!("callmeter — {from} to {to}"), &body)
}

pub(super) fn daily_chart(daily: &[(String, String, i64)]) -> Markup {
    let mut days: Vec<&str> = daily.iter().map(|r| r.0.as_str()).collect();
    days.dedup();
    let mut categories: Vec<&str> = daily.iter().map(|r| r.1.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let cost = |d: &str, c: &str| {
        daily
            .iter()
            .find(|r| r.0 == d && r.1 == c)
            .map_or(0, |r| r.2)
    };
    let day_total = |d: &str| daily.iter().filter(|r| r.0 == d).map(|r| r.2).sum::<i64>();
    let max = days.iter().map(|d| day_total(d)).max().unwrap_or(0).max(1);
    let slot = 24;
    let width = 60 + slot * days.len().max(1);
    // Each day's column: its categories stacked from the bottom (y = 210) up.
    let columns = days.iter().enumerate().map(|(i, &day)| {
        let mut top = 210.0;
        let segments: Vec<(&str, i64, f64, f64)> = categories
            .iter()
            .map(|&category| {
                let v = cost(day, category);
                let h = v as f64 / max as f64 * 190.0;
                top -= h;
                (category, v, top, h)
            })
            .collect();
        (55 + i * slot, day, day_total(day), segments)
    });
    html! {
        section #daily-by-category {
            h2 { "Daily cost by category" }
            svg role="img" viewBox={ "0 0 " (width) " 250" } {
                text x="0" y="24" class="value" { (Usd::from_nanos(max).rounded()) }
                line x1="52" x2=(width) y1="20" y2="20" stroke="#eaeef2" {}
                line x1="52" x2=(width) y1="210" y2="210" stroke="#d0d7de" {}
                @for (x, day, total, segments) in columns {
                    @for (category, v, y, h) in segments {
                        rect x=(x) y=(format!("{y:.1}")) width=(slot - 6) height=(format!("{h:.1}")) fill=(category_color(category)) {
                            title { (day) " " (category) ": " (Usd::from_nanos(v).rounded()) }
                        }
                    }
                    rect x=(x) y="20" width=(slot - 6) height="190" fill="transparent" {
                        title { (day) ": " (Usd::from_nanos(total).rounded()) }
                    }
                    text x=(x) y="228" class="value" transform={ "rotate(45 " (x) " 228)" } { (day.get(5..).unwrap_or(day)) }
                }
            }
            div.legend {
                @for c in &categories {
                    span { i style={ "background:" (category_color(c)) } {} (c) }
                }
            }
        }
    }
}

pub(super) fn hourly_chart(hours: &[Usd; 24]) -> Markup {
    let max = hours.iter().map(|h| nanos(*h)).max().unwrap_or(0).max(1) as f64;
    html! {
        section #cost-by-hour {
            h2 { "Cost by hour of day (UTC, call start)" }
            svg role="img" viewBox="0 0 620 230" {
                line x1="20" x2="620" y1="200" y2="200" stroke="#d0d7de" {}
                @for (h, cost) in hours.iter().enumerate() {
                    @let height = nanos(*cost) as f64 / max * 180.0;
                    @let x = 22 + h * 25;
                    rect x=(x) y=(format!("{:.1}", 200.0 - height)) width="19" height=(format!("{height:.1}")) fill=(NEUTRAL) {
                        title { (format!("{h:02}:00")) ": " (cost.rounded()) }
                    }
                    @if h % 3 == 0 {
                        text x=(x) y="216" class="value" { (format!("{h:02}")) }
                    }
                }
            }
        }
    }
}

pub(super) fn bar_chart(chart: &Bars) -> Markup {
    let most = chart
        .rows
        .iter()
        .map(|r| r.value.abs())
        .fold(0.0_f64, f64::max)
        .max(1e-12);
    let negative = chart.rows.iter().any(|r| r.value < 0.0);
    // The zero line: at the left, or in the middle of the bars' room when some are negative.
    let (zero, room) = if negative {
        (400.0, 170.0)
    } else {
        (220.0, 300.0)
    };
    let height = 26 * chart.rows.len().max(1) + 10;
    html! {
        section id=(chart.id) {
            h2 { (chart.title) }
            svg role="img" viewBox={ "0 0 760 " (height) } {
                @if negative {
                    line x1=(zero) x2=(zero) y1="0" y2=(height) stroke="#8c959f" {}
                }
                @for (i, bar) in chart.rows.iter().enumerate() {
                    @let y = 5 + i * 26;
                    @let w = bar.value.abs() / most * room;
                    @let x = if bar.value < 0.0 { zero - w } else { zero };
                    text x="0" y=(y + 14) class="label" { (short(&bar.label, 28)) }
                    rect x=(format!("{x:.1}")) y=(y) width=(format!("{w:.1}")) height="18" fill=(bar.color) {
                        title { (bar.label) ": " (bar.detail) }
                    }
                    @if bar.value < 0.0 {
                        text x=(format!("{:.1}", zero + 5.0)) y=(y + 14) class="value" { (bar.text) }
                    } @else {
                        text x=(format!("{:.1}", zero + w + 5.0)) y=(y + 14) class="value" { (bar.text) }
                    }
                }
            }
        }
    }
}

pub(super) fn endings(endings: &[Ending]) -> Markup {
    html! {
        section #endings {
            h2 { "How calls ended" }
            table {
                tr { th { "status" } th.n { "calls" } th.n { "share" } th.n { "cost" } }
                @for e in endings {
                    tr {
                        td { (e.status) }
                        td.n { (e.calls) }
                        td.n { (e.percent) " %" }
                        td.n { (e.cost.rounded()) }
                    }
                }
            }
        }
    }
}

pub(super) fn alerts(alerts: Option<&AlertSummary>) -> Markup {
    html! {
        section #alerts {
            h2 { "Alerts" }
            @match alerts {
                None => p.muted { "A fleet database holds no alerts: each server keeps its own in its file." },
                Some(a) if a.by_kind.is_empty() => p.muted { "No alert in the period." },
                Some(a) => {
                    p {
                        @for (kind, n) in &a.by_kind {
                            span { b { (n) } " " (kind) }
                            " · "
                        }
                    }
                    div.scroll {
                        table {
                            tr { th { "raised (UTC)" } th { "kind" } th { "message" } }
                            @for alert in &a.latest {
                                tr {
                                    td { (alert.at.format("%Y-%m-%d %H:%M")) }
                                    td { (alert.kind) }
                                    td { (alert.message) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Estimated → verified: each provider's computed and billed totals over the lines reconciled, and
/// the largest differences.
pub(super) fn reconciliation(r: &Reconciliation) -> Markup {
    let mut worst: Vec<_> = r.mismatches().collect();
    worst.sort_by_key(|l| std::cmp::Reverse(nanos(l.delta).unsigned_abs()));
    html! {
        section #reconciliation {
            h2 { "Estimated → verified" }
            @if r.providers.is_empty() && r.usage.is_empty() {
                p.muted { "Nothing billed imported for the period: " code { "callmeter reconcile" } " imports the providers' records." }
            } @else {
                div.scroll {
                    table {
                        tr {
                            th { "provider" } th.n { "computed" } th.n { "billed" } th.n { "billed − computed" }
                            th.n { "lines" } th.n { "matching" }
                        }
                        @for p in &r.providers {
                            tr {
                                td { (p.provider) }
                                td.n { (p.computed.rounded()) }
                                td.n { (p.billed.rounded()) }
                                td.n.loss[nanos(p.delta) > 0] { (p.delta.rounded()) }
                                td.n { (p.lines) }
                                td.n { (p.matching) }
                            }
                        }
                    }
                    details {
                        summary { "By day" }
                        table {
                            tr { th { "day" } th.n { "computed" } th.n { "billed" } th.n { "billed − computed" } th.n { "lines" } th.n { "matching" } }
                            @for d in r.by_day() {
                                tr {
                                    td { (d.day) }
                                    td.n { (d.computed.rounded()) }
                                    td.n { (d.billed.rounded()) }
                                    td.n.loss[nanos(d.delta) > 0] { (d.delta.rounded()) }
                                    td.n { (d.lines) }
                                    td.n { (d.matching) }
                                }
                            }
                        }
                    }
                    @if !worst.is_empty() {
                        p { (worst.len()) " lines do not match (within " (r.tolerance.absolute) " or " (r.tolerance.percent) " %); the largest:" }
                        table {
                            tr { th { "day" } th { "provider" } th { "what" } th.n { "computed" } th.n { "billed" } th.n { "difference" } th { "finding" } }
                            @for l in worst.iter().take(10) {
                                tr {
                                    td { (l.day) }
                                    td { (l.provider) }
                                    td.id {
                                        @if let Some(c) = &l.call_id { "call " (c) }
                                        @else if let Some(m) = &l.model { (m) }
                                        @else { "the day" }
                                    }
                                    td.n { (l.computed.rounded()) }
                                    td.n { (l.billed.rounded()) }
                                    td.n.loss[nanos(l.delta) > 0] { (l.delta.rounded()) }
                                    td.loss[l.finding != Finding::Under] { (l.finding) }
                                }
                            }
                        }
                    }
                    @let usage_worst: Vec<_> = r.usage_mismatches().collect();
                    @if !r.usage.is_empty() {
                        p {
                            "Usage the providers counted: " (r.usage.len()) " days compared, "
                            (usage_worst.len()) " do not match (within " (r.tolerance.percent) " %)"
                            @if usage_worst.is_empty() { "." } @else { ":" }
                        }
                        @if !usage_worst.is_empty() {
                            table {
                                tr { th { "day" } th { "provider" } th { "model" } th.n { "tracked" } th.n { "counted" } th { "unit" } th { "finding" } }
                                @for u in usage_worst.iter().take(10) {
                                    tr {
                                        td { (u.day) }
                                        td { (u.provider) }
                                        td.id { (u.model.as_deref().unwrap_or("")) }
                                        td.n { (u.computed) }
                                        td.n { (u.billed) }
                                        td { (u.unit) }
                                        td.loss[u.finding != Finding::Under] { (u.finding) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A quota level's colour: calm below the warning, amber, orange, red.
pub(super) fn level_color(level: QuotaLevel) -> &'static str {
    match level {
        QuotaLevel::Under => PROFIT,
        QuotaLevel::Warning => "#e0a100",
        QuotaLevel::Critical => "#e8712b",
        QuotaLevel::Over => LOSS,
    }
}

pub(super) fn quotas(states: Option<&[QuotaState]>, on: NaiveDate) -> Markup {
    let what = |q: &QuotaState| match (&q.provider, q.period) {
        (Some(_), _) => q.subject.clone(),
        (None, Period::Day) => "platform: daily cost alert".to_owned(),
        (None, Period::Month) => "platform: monthly cost alert".to_owned(),
    };
    let period = |q: &QuotaState| match q.period {
        Period::Day => format!("day {}", q.period_start),
        Period::Month => format!("month {}", q.period_start.format("%Y-%m")),
    };
    html! {
        section #quotas {
            h2 { "Quotas on " (on) }
            @match states {
                None => p.muted { "A fleet database holds no quotas: each server keeps its own in its file." },
                Some([]) => p.muted { "No quota recorded in this file." },
                Some(states) => div.scroll {
                    table {
                        tr { th { "quota" } th.n { "used" } th { "share and state" } }
                        @for q in states {
                            @let color = level_color(q.level);
                            @let width = q.used_percent.min(rust_decimal::Decimal::ONE_HUNDRED);
                            tr {
                                td.id title=(q.subject) { (what(q)) br; small.muted { (period(q)) } }
                                td.n {
                                    (q.cost.rounded())
                                    @if let Some(limit) = q.cost_limit { " of " (limit.rounded()) }
                                    @if let Some(limit) = q.units_limit {
                                        br;
                                        small {
                                            (q.units) " of " (limit) " "
                                            (q.unit.as_deref().map_or("units".to_owned(), |u| format!("{u}s")))
                                        }
                                    }
                                }
                                td {
                                    span.meter title={ (q.used_percent) " %" } {
                                        i style={ "width:" (width) "%;background:" (color) } {}
                                    }
                                    " " (q.used_percent) " % "
                                    b style={ "color:" (color) } { (q.level) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn groups(id: &str, title: &str, rows: &[GroupCost]) -> Markup {
    html! {
        section id=(id) {
            h2 { (title) " (" (rows.len()) ", dearest first)" }
            div.scroll {
                table {
                    tr {
                        th { "name" } th.n { "calls" } th.n { "cost" } th.n { "per call" }
                        th.n { "revenue" } th.n { "margin" }
                    }
                    @for g in rows.iter().take(25) {
                        @let margin = nanos(g.revenue) - nanos(g.cost);
                        tr {
                            td.id title=[g.name.as_deref()] { (g.name.as_deref().unwrap_or("(none)")) }
                            td.n { (g.calls) }
                            td.n { (g.cost.rounded()) }
                            td.n { (g.cost_per_call.rounded()) }
                            td.n { (g.revenue.rounded()) }
                            td.n.loss[margin < 0] { (Usd::from_nanos(margin).rounded()) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// The path segment of a call's page: its id, percent-encoded.
pub(super) fn call_path(call_id: &str) -> String {
    let mut out = String::from("calls/");
    for b in call_id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) fn calls(calls: &[CallRow], in_range: i64, links: bool) -> Markup {
    html! {
        section #dearest-calls {
            h2 {
                "Calls, dearest first"
                @if (calls.len() as i64) < in_range {
                    " (the " (calls.len()) " dearest of " (in_range) ")"
                }
            }
            div.scroll {
                table {
                    tr {
                        th { "call" } th { "started (UTC)" } th { "user" } th { "tenant" }
                        th { "status" } th.n { "duration" } th.n { "cost" }
                    }
                    @for c in calls {
                        tr id={ "call-" (c.call_id) } {
                            td.id {
                                @if links {
                                    a href=(call_path(&c.call_id)) { "open" } " "
                                }
                                details {
                                    summary { (c.call_id) }
                                    table {
                                        @for (category, provider, cost) in &c.parts {
                                            tr {
                                                td { (swatch(category)) (category) }
                                                td { (provider) }
                                                td.n { (cost.rounded()) }
                                            }
                                        }
                                    }
                                }
                            }
                            td { (time(c.started_at)) }
                            td { (c.user.as_deref().unwrap_or("")) }
                            td { (c.tenant.as_deref().unwrap_or("")) }
                            td { (c.status) }
                            td.n { @if let Some(s) = c.seconds { (format!("{s:.0} s")) } }
                            td.n { (c.cost.rounded()) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn shares(title: &str, rows: &[crate::report::results::Share]) -> Markup {
    html! {
        @if !rows.is_empty() {
            section {
                h2 { (title) }
                table {
                    tr { th { "name" } th.n { "events" } th.n { "cost" } }
                    @for s in rows {
                        tr {
                            td { (s.name) }
                            td.n { (s.events) }
                            td.n { (s.cost.rounded()) }
                        }
                    }
                }
            }
        }
    }
}

pub(super) fn call_page(call: &crate::report::results::CallReport) -> Markup {
    let who = [
        ("user", &call.user_id),
        ("tenant", &call.tenant_id),
        ("persona", &call.persona),
        ("session", &call.session_kind),
    ];
    let body = html! {
        p { a href="../" { "← dashboard" } }
        h1 { "Call " (call.call_id) }
        div.cards {
            div.card { span { "total" } b { (call.total.rounded()) } small { (call.total) } }
            div.card {
                span { "status" }
                b { (call.status) }
                @if let Some(r) = &call.failure_reason { small { (r) } }
            }
            div.card { span { "started (UTC)" } b { (call.started_at.format("%Y-%m-%d %H:%M:%S")) } }
            @if let Some(d) = call.duration_seconds {
                div.card { span { "duration" } b { (format!("{d:.1} s")) } }
            }
            @if let Some(m) = call.margin {
                div.card {
                    span { "margin" }
                    b.loss[m.is_negative()] { (m.rounded()) }
                    small { (call.revenue.rounded()) " revenue" }
                }
            }
            @for (what, value) in who {
                @if let Some(v) = value {
                    div.card { span { (what) } b { (v) } }
                }
            }
        }
        div.grid {
            (shares("By category", &call.by_category))
            (shares("By provider", &call.by_provider))
            (shares("By agent", &call.by_agent))
            @if !call.billed.is_empty() {
                section #verified {
                    h2 { "Estimated → verified" }
                    table {
                        tr { th { "provider" } th.n { "computed" } th.n { "billed" } th.n { "billed − computed" } }
                        @for b in &call.billed {
                            @let computed = call.by_provider.iter().find(|p| p.name == b.name).map_or(Usd::ZERO, |p| p.cost);
                            @let delta = Usd::from_nanos(nanos(b.cost) - nanos(computed));
                            tr {
                                td { (b.name) }
                                td.n { (computed.rounded()) }
                                td.n { (b.cost.rounded()) }
                                td.n.loss[nanos(delta) > 0] { (delta.rounded()) }
                            }
                        }
                    }
                }
            }
        }
        section #events {
            h2 { "Events (" (call.events.len()) ")" }
            div.scroll {
                table {
                    tr {
                        th.n { "#" } th { "at (UTC)" } th { "category" } th { "provider" }
                        th { "model" } th { "agent" } th.n { "quantity" } th { "unit" }
                        th.n { "cost" } th { "kind" }
                    }
                    @for e in &call.events {
                        tr {
                            td.n { (e.seq) }
                            td { (e.at.format("%H:%M:%S%.3f")) }
                            td { (swatch(e.category.as_str())) (e.category.as_str()) }
                            td { (e.provider) }
                            td { (e.model) }
                            td { (e.agent.as_deref().unwrap_or("")) }
                            td.n { (e.quantity) }
                            td { (e.unit.as_str()) }
                            td.n title=(e.cost) { (e.cost.rounded()) }
                            td { (e.kind.as_str()) }
                        }
                    }
                }
            }
        }
    };
    document(&format!("callmeter — call {}", call.call_id), &body)
}
