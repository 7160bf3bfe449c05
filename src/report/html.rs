//! A self-contained HTML report: inline CSS and SVG charts, no script, nothing fetched from a network.
//!
//! The page is built with `maud`, whose templates escape every value they interpolate: an id, a name
//! or a metadata value from the database cannot become markup. The report is gathered first (the
//! queries, into plain data) and rendered after, one template per part.

use chrono::NaiveDate;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::base::error::Result;
use crate::base::money::Usd;
use crate::pricing::FixedCost;
use crate::report::reports::{GroupBy, Reports, range_ms};

const COLORS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:980px}
h1{font-size:1.4em} .cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.3em} figure{margin:1.5em 0} figcaption{font-weight:600;margin-bottom:.4em}
.label{font-size:12px} .value{font-size:11px;fill:#444} table{border-collapse:collapse}
td,th{border-bottom:1px solid #eee;padding:.2em .8em;text-align:left} td.n{text-align:right}
";

fn dollars(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

fn color(i: usize) -> &'static str {
    COLORS[i % COLORS.len()]
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

/// A horizontal bar chart: one bar per row.
struct Bars {
    id: &'static str,
    title: &'static str,
    rows: Vec<Bar>,
}

struct Bar {
    label: String,
    value: f64,
    text: String,
}

/// Daily cost stacked by category: `(day, category, nano-dollars)` rows, ordered by day.
struct Daily {
    rows: Vec<(String, String, i64)>,
}

/// Everything the page shows, read from the database.
struct Page {
    from: NaiveDate,
    to: NaiveDate,
    cards: Vec<(&'static str, String)>,
    daily: Daily,
    charts: Vec<Bars>,
    dearest: Vec<(String, Usd)>,
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
        let page = self.page(from, to, fixed)?;
        Ok(render(&page).into_string() + "\n")
    }

    fn page(&self, from: NaiveDate, to: NaiveDate, fixed: &[FixedCost]) -> Result<Page> {
        let p = self.platform(from, to)?;
        let e = self.economics(from, to, fixed)?;
        let none = || "–".to_owned();
        let cards = vec![
            ("total cost", p.total.to_string()),
            ("calls", p.calls.to_string()),
            ("call minutes", format!("{:.1}", p.minutes)),
            (
                "cost per call",
                p.cost_per_call.map_or_else(none, |c| c.to_string()),
            ),
            ("revenue", e.revenue.to_string()),
            (
                "margin",
                e.margin_percent.map_or_else(none, |m| format!("{m} %")),
            ),
        ];
        let by_provider = Bars {
            id: "cost-by-provider",
            title: "Cost by provider",
            rows: p
                .by_provider
                .iter()
                .map(|s| Bar {
                    label: s.name.clone(),
                    value: dollars(s.cost.to_nanos().unwrap_or(0)),
                    text: s.cost.to_string(),
                })
                .collect(),
        };
        Ok(Page {
            from,
            to,
            cards,
            daily: self.daily_by_category(from, to)?,
            charts: vec![
                by_provider,
                self.cost_per_call(from, to)?,
                self.margins(from, to)?,
                self.top_users(from, to)?,
            ],
            dearest: self.top_calls(from, to, 10)?,
        })
    }

    fn daily_by_category(&self, from: NaiveDate, to: NaiveDate) -> Result<Daily> {
        let (a, b) = (from.to_string(), to.to_string());
        let rows = self.query(
            "SELECT period, category, CAST(SUM(cost_nanos) AS BIGINT) FROM rollups
             WHERE scope = 'platform_day' AND period BETWEEN ?1 AND ?2
             GROUP BY period, category ORDER BY period, category",
            &[(&a).into(), (&b).into()],
            "reading daily costs",
            |r| Ok((r.text(0)?, r.text(1)?, r.int(2)?)),
        )?;
        Ok(Daily { rows })
    }

    /// The distribution of cost per call, in ten buckets up to the dearest call.
    fn cost_per_call(&self, from: NaiveDate, to: NaiveDate) -> Result<Bars> {
        let (start, end) = range_ms(from, to);
        let costs: Vec<i64> = self.query(
            "SELECT total_cost_nanos FROM calls WHERE started_at >= ?1 AND started_at < ?2",
            &[start.into(), end.into()],
            "reading call costs",
            |r| r.int(0),
        )?;
        let top = costs.iter().copied().max().unwrap_or(0).max(1);
        let buckets = 10_i64;
        let mut counts = vec![0_u64; buckets as usize];
        for c in &costs {
            let b = ((c.max(&0) * buckets) / (top + 1)).clamp(0, buckets - 1);
            counts[b as usize] += 1;
        }
        let step = top as f64 / buckets as f64;
        Ok(Bars {
            id: "cost-per-call",
            title: "Cost per call",
            rows: counts
                .iter()
                .enumerate()
                .map(|(i, n)| Bar {
                    label: format!(
                        "${:.2}–${:.2}",
                        dollars((i as f64 * step) as i64),
                        dollars(((i + 1) as f64 * step) as i64)
                    ),
                    value: *n as f64,
                    text: format!("{n} calls"),
                })
                .collect(),
        })
    }

    /// Margin by pricing tier: the calls' `plan` metadata when they have one, else their session kind.
    fn margins(&self, from: NaiveDate, to: NaiveDate) -> Result<Bars> {
        let plans = self.calls_by(GroupBy::Metadata("plan".into()), from, to)?;
        let by_plan = plans.iter().any(|g| g.name.is_some());
        let groups = if by_plan {
            plans
        } else {
            self.calls_by(GroupBy::SessionKind, from, to)?
        };
        Ok(Bars {
            id: "margin-by-kind",
            title: if by_plan {
                "Margin by plan"
            } else {
                "Margin by session kind"
            },
            rows: groups
                .iter()
                .map(|k| {
                    let m = k.revenue.to_nanos().unwrap_or(0) - k.cost.to_nanos().unwrap_or(0);
                    Bar {
                        label: k.name.clone().unwrap_or_else(|| "(none)".into()),
                        value: dollars(m).max(0.0),
                        text: format!(
                            "{} ({} revenue − {} cost)",
                            Usd::from_nanos(m),
                            k.revenue,
                            k.cost
                        ),
                    }
                })
                .collect(),
        })
    }

    fn top_users(&self, from: NaiveDate, to: NaiveDate) -> Result<Bars> {
        let users = self.calls_by(GroupBy::User, from, to)?;
        Ok(Bars {
            id: "top-users",
            title: "Top users by cost",
            rows: users
                .iter()
                .take(10)
                .map(|u| Bar {
                    label: u.name.clone().unwrap_or_else(|| "(none)".into()),
                    value: dollars(u.cost.to_nanos().unwrap_or(0)),
                    text: format!("{} in {} calls", u.cost, u.calls),
                })
                .collect(),
        })
    }
}

fn render(page: &Page) -> Markup {
    let (from, to) = (page.from, page.to);
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "callmeter report " (from) " to " (to) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "callmeter — " (from) " to " (to) }
                div.cards {
                    @for (name, value) in &page.cards {
                        div.card { (name) b { (value) } }
                    }
                }
                (daily_chart(&page.daily))
                @for chart in &page.charts {
                    (bar_chart(chart))
                }
                figure #dearest-calls {
                    figcaption { "Dearest calls" }
                    table {
                        tr { th { "call" } th { "cost" } }
                        @for (id, cost) in &page.dearest {
                            tr { td { (id) } td.n { (cost) } }
                        }
                    }
                }
            }
        }
    }
}

fn daily_chart(daily: &Daily) -> Markup {
    let rows = &daily.rows;
    let mut days: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    days.dedup();
    let mut categories: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let cost = |d: &str, c: &str| {
        rows.iter()
            .find(|r| r.0 == d && r.1 == c)
            .map_or(0, |r| r.2)
    };
    let day_total = |d: &str| rows.iter().filter(|r| r.0 == d).map(|r| r.2).sum::<i64>();
    let max = days.iter().map(|d| day_total(d)).max().unwrap_or(0).max(1) as f64;
    let width = 40 + 28 * days.len().max(1);
    // Each day's column: its categories stacked from the bottom (y = 210) up.
    let columns = days.iter().enumerate().map(|(i, &day)| {
        let mut top = 210.0;
        let segments: Vec<(usize, &str, i64, f64, f64)> = categories
            .iter()
            .enumerate()
            .map(|(k, &category)| {
                let v = cost(day, category);
                let h = v as f64 / max * 200.0;
                top -= h;
                (k, category, v, top, h)
            })
            .collect();
        (40 + i * 28, day, segments)
    });
    html! {
        figure.chart #daily-by-category {
            figcaption { "Daily cost by category" }
            svg role="img" viewBox={ "0 0 " (width) " 240" } width=(width) height="240" {
                @for (x, day, segments) in columns {
                    @for (k, category, v, y, h) in segments {
                        rect x=(x) y=(format!("{y:.1}")) width="20" height=(format!("{h:.1}")) fill=(color(k)) {
                            title { (day) " " (category) ": $" (format!("{:.2}", dollars(v))) }
                        }
                    }
                    text x=(x) y="230" class="value" { (day.get(5..).unwrap_or(day)) }
                }
            }
            p {
                @for (k, c) in categories.iter().enumerate() {
                    span style={ "color:" (color(k)) } { "■" } " " (c) " "
                }
            }
        }
    }
}

fn bar_chart(chart: &Bars) -> Markup {
    let max = chart
        .rows
        .iter()
        .map(|r| r.value)
        .fold(0.0_f64, f64::max)
        .max(1e-12);
    let height = 24 * chart.rows.len().max(1) + 10;
    html! {
        figure.chart id=(chart.id) {
            figcaption { (chart.title) }
            svg role="img" viewBox={ "0 0 640 " (height) } width="640" height=(height) {
                @for (i, bar) in chart.rows.iter().enumerate() {
                    @let y = 5 + i * 24;
                    @let w = (bar.value / max * 300.0).max(0.0);
                    text x="0" y=(y + 14) class="label" { (short(&bar.label)) }
                    rect x="200" y=(y) width=(format!("{w:.1}")) height="18" fill=(color(i)) {
                        title { (bar.label) ": " (bar.text) }
                    }
                    text x=(format!("{:.1}", 205.0 + w)) y=(y + 14) class="value" { (bar.text) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_comes_from_the_database_is_escaped_in_text_and_attributes() {
        let chart = Bars {
            id: "x",
            title: "t",
            rows: vec![Bar {
                label: r#"<script>alert("x")</script>"#.into(),
                value: 1.0,
                text: r#"Tom & 'Jerry' "quoted""#.into(),
            }],
        };
        let out = bar_chart(&chart).into_string();
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(
            out.contains("Tom &amp; 'Jerry' &quot;quoted&quot;"),
            "{out}"
        );
    }
}
