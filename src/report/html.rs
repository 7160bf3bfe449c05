//! A self-contained HTML report: inline CSS and SVG charts, no script, nothing fetched from a network.
//! Every string that comes from the database (ids, names, metadata) is escaped.

use std::fmt::Write as _;

use chrono::NaiveDate;
use rusqlite::params;

use crate::base::error::Result;
use crate::base::money::Usd;
use crate::pricing::FixedCost;
use crate::report::reports::{GroupBy, Reports, range_ms};

/// `s` with `& < > " '` escaped for HTML text and attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const COLORS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

fn dollars(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

/// A label cut to fit beside its bar (the bar's tooltip keeps the whole text).
fn short(label: &str) -> String {
    const MAX: usize = 30;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let head: String = label.chars().take(MAX - 1).collect();
        format!("{head}…")
    }
}

/// Horizontal bars: one per (label, value, text).
fn bars(id: &str, title: &str, rows: &[(String, f64, String)]) -> String {
    let max = rows.iter().map(|r| r.1).fold(0.0_f64, f64::max).max(1e-12);
    let height = 24 * rows.len().max(1) + 10;
    let mut svg = format!(
        r#"<figure class="chart" id="{id}"><figcaption>{title}</figcaption><svg role="img" viewBox="0 0 640 {height}" width="640" height="{height}">"#
    );
    for (i, (label, value, text)) in rows.iter().enumerate() {
        let y = 5 + i * 24;
        let w = (value / max * 300.0).max(0.0);
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" class="label">{}</text><rect x="200" y="{y}" width="{w:.1}" height="18" fill="{}"><title>{}</title></rect><text x="{:.1}" y="{}" class="value">{}</text>"#,
            y + 14,
            escape(&short(label)),
            COLORS[i % COLORS.len()],
            escape(&format!("{label}: {text}")),
            205.0 + w,
            y + 14,
            escape(text)
        );
    }
    svg.push_str("</svg></figure>");
    svg
}

impl Reports {
    /// One HTML page on the period `from` to `to` (UTC days): totals, daily cost stacked by category,
    /// cost by provider, the distribution of cost per call, margin by session kind, top users and the
    /// dearest calls. `fixed` monthly costs are spread over the period in the economics line.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn html(&self, from: NaiveDate, to: NaiveDate, fixed: &[FixedCost]) -> Result<String> {
        let p = self.platform(from, to)?;
        let e = self.economics(from, to, fixed)?;
        let mut page = String::new();
        let _ = write!(
            page,
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>callmeter report {from} to {to}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:980px}}
h1{{font-size:1.4em}} .cards{{display:flex;gap:1em;flex-wrap:wrap}}
.card{{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}}
.card b{{display:block;font-size:1.3em}} figure{{margin:1.5em 0}} figcaption{{font-weight:600;margin-bottom:.4em}}
.label{{font-size:12px}} .value{{font-size:11px;fill:#444}} table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #eee;padding:.2em .8em;text-align:left}} td.n{{text-align:right}}
</style></head><body><h1>callmeter — {from} to {to}</h1><div class="cards">"#
        );
        let mut card = |name: &str, value: String| {
            let _ = write!(
                page,
                r#"<div class="card">{}<b>{}</b></div>"#,
                escape(name),
                escape(&value)
            );
        };
        card("total cost", p.total.to_string());
        card("calls", p.calls.to_string());
        card("call minutes", format!("{:.1}", p.minutes));
        card(
            "cost per call",
            p.cost_per_call
                .map_or_else(|| "–".into(), |c| c.to_string()),
        );
        card("revenue", e.revenue.to_string());
        card(
            "margin",
            e.margin_percent
                .map_or_else(|| "–".into(), |m| format!("{m} %")),
        );
        page.push_str("</div>");

        // Daily cost stacked by category.
        let mut stmt = self
            .connection()
            .prepare(
                "SELECT period, category, SUM(cost_nanos) FROM rollups
                 WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
                 GROUP BY period, category ORDER BY period, category",
            )
            .map_err(self.err("reading daily costs"))?;
        let rows: Vec<(String, String, i64)> = stmt
            .query_map(params![from.to_string(), to.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err("reading daily costs"))?;
        let mut days: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        days.dedup();
        let mut categories: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        categories.sort();
        categories.dedup();
        let day_total = |d: &str| rows.iter().filter(|r| r.0 == d).map(|r| r.2).sum::<i64>();
        let max = days.iter().map(|d| day_total(d)).max().unwrap_or(0).max(1) as f64;
        let width = 40 + 28 * days.len().max(1);
        let _ = write!(
            page,
            r#"<figure class="chart" id="daily-by-category"><figcaption>Daily cost by category</figcaption><svg role="img" viewBox="0 0 {width} 240" width="{width}" height="240">"#
        );
        for (i, d) in days.iter().enumerate() {
            let x = 40 + i * 28;
            let mut y = 210.0;
            for (k, c) in categories.iter().enumerate() {
                let v = rows
                    .iter()
                    .find(|r| &r.0 == d && &r.1 == c)
                    .map_or(0, |r| r.2);
                let h = v as f64 / max * 200.0;
                y -= h;
                let _ = write!(
                    page,
                    r#"<rect x="{x}" y="{y:.1}" width="20" height="{h:.1}" fill="{}"><title>{} {}: ${:.2}</title></rect>"#,
                    COLORS[k % COLORS.len()],
                    escape(d),
                    escape(c),
                    dollars(v)
                );
            }
            let _ = write!(
                page,
                r#"<text x="{x}" y="230" class="value">{}</text>"#,
                escape(d.get(5..).unwrap_or(d))
            );
        }
        page.push_str("</svg><p>");
        for (k, c) in categories.iter().enumerate() {
            let _ = write!(
                page,
                r#"<span style="color:{}">■</span> {} "#,
                COLORS[k % COLORS.len()],
                escape(c)
            );
        }
        page.push_str("</p></figure>");

        // Share of cost by provider.
        let provider_rows: Vec<(String, f64, String)> = p
            .by_provider
            .iter()
            .map(|s| {
                let n = s.cost.to_nanos().unwrap_or(0);
                (s.name.clone(), dollars(n), s.cost.to_string())
            })
            .collect();
        page.push_str(&bars(
            "cost-by-provider",
            "Cost by provider",
            &provider_rows,
        ));

        // Distribution of cost per call.
        let (start, end) = range_ms(from, to);
        let mut stmt = self
            .connection()
            .prepare(
                "SELECT total_cost_nanos FROM calls WHERE started_at >= ?1 AND started_at < ?2",
            )
            .map_err(self.err("reading call costs"))?;
        let costs: Vec<i64> = stmt
            .query_map(params![start, end], |r| r.get(0))
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(self.err("reading call costs"))?;
        let top = costs.iter().copied().max().unwrap_or(0).max(1);
        let buckets = 10_i64;
        let mut counts = vec![0_u64; buckets as usize];
        for c in &costs {
            let b = ((c.max(&0) * buckets) / (top + 1)).clamp(0, buckets - 1);
            counts[b as usize] += 1;
        }
        let step = top as f64 / buckets as f64;
        let histogram: Vec<(String, f64, String)> = counts
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    format!(
                        "${:.2}–${:.2}",
                        dollars((i as f64 * step) as i64),
                        dollars(((i + 1) as f64 * step) as i64)
                    ),
                    *n as f64,
                    format!("{n} calls"),
                )
            })
            .collect();
        page.push_str(&bars("cost-per-call", "Cost per call", &histogram));

        // Margin by pricing tier: the calls' `plan` metadata when they have one, else their session kind.
        let plans = self.calls_by(GroupBy::Metadata("plan".into()), from, to)?;
        let by_plan = plans.iter().any(|g| g.name.is_some());
        let kinds = if by_plan {
            plans
        } else {
            self.calls_by(GroupBy::SessionKind, from, to)?
        };
        let margins: Vec<(String, f64, String)> = kinds
            .iter()
            .map(|k| {
                let m = k.revenue.to_nanos().unwrap_or(0) - k.cost.to_nanos().unwrap_or(0);
                (
                    k.name.clone().unwrap_or_else(|| "(none)".into()),
                    dollars(m).max(0.0),
                    format!(
                        "{} ({} revenue − {} cost)",
                        Usd::from_nanos(m),
                        k.revenue,
                        k.cost
                    ),
                )
            })
            .collect();
        let title = if by_plan {
            "Margin by plan"
        } else {
            "Margin by session kind"
        };
        page.push_str(&bars("margin-by-kind", title, &margins));

        // Top users.
        let users = self.calls_by(GroupBy::User, from, to)?;
        let user_rows: Vec<(String, f64, String)> = users
            .iter()
            .take(10)
            .map(|u| {
                (
                    u.name.clone().unwrap_or_else(|| "(none)".into()),
                    dollars(u.cost.to_nanos().unwrap_or(0)),
                    format!("{} in {} calls", u.cost, u.calls),
                )
            })
            .collect();
        page.push_str(&bars("top-users", "Top users by cost", &user_rows));

        // The dearest calls.
        page.push_str(r#"<figure id="dearest-calls"><figcaption>Dearest calls</figcaption><table><tr><th>call</th><th>cost</th></tr>"#);
        for (id, cost) in self.top_calls(from, to, 10)? {
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td class="n">{}</td></tr>"#,
                escape(&id),
                escape(&cost.to_string())
            );
        }
        page.push_str("</table></figure></body></html>\n");
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }
}
