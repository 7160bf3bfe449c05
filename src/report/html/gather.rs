//! The queries behind the dashboard and a call's page, gathered into [`Page`].

use chrono::NaiveDate;

use crate::base::error::Result;
use crate::base::money::Usd;

use crate::persist::read::{calls, events, rollups};
use crate::pricing::FixedCost;
use crate::report::operations::{CostSpread, PeriodChange};

use super::page::*;
use super::render::*;
use crate::report::reconcile::ReconcileOptions;
use crate::report::reports::{Reports, range_ms};
use crate::report::results::GroupBy;

impl Reports {
    /// The operator's dashboard for the period `from` to `to` (UTC days), as one self-contained HTML
    /// page: totals with percentiles of cost per call and the change against the period before;
    /// daily cost stacked by category; cost by hour of day, by provider and per call; margin by plan
    /// (losses drawn left of zero); how calls ended and what that cost; tenants and users; alerts by
    /// kind and the latest; each quota's state on the last day ([`quotas`](Self::quotas)); and the
    /// calls, dearest first, each with its breakdown by category and provider. `fixed` monthly costs are spread over the period in the
    /// margin.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn html(&self, from: NaiveDate, to: NaiveDate, fixed: &[FixedCost]) -> Result<String> {
        let page = self.page(from, to, fixed)?;
        Ok(render(&page).into_string() + "\n")
    }

    /// [`html`](Self::html) as a server shows it: each call also links to its own page at
    /// `calls/<id>` (relative, the id percent-encoded), which [`call_html`](Self::call_html) writes.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn html_linked(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        fixed: &[FixedCost],
    ) -> Result<String> {
        let mut page = self.page(from, to, fixed)?;
        page.call_links = true;
        Ok(render(&page).into_string() + "\n")
    }

    /// One call's page: who, when, how it ended, its total, revenue and margin, its cost by
    /// category, provider and agent, and its events in order; `None` when there is no such call.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage) when the database cannot be read.
    pub fn call_html(&self, call_id: &str) -> Result<Option<String>> {
        Ok(self
            .call(call_id)?
            .map(|call| call_page(&call).into_string() + "\n"))
    }

    fn page(&self, from: NaiveDate, to: NaiveDate, fixed: &[FixedCost]) -> Result<Page> {
        let p = self.platform(from, to)?;
        let e = self.economics(from, to, fixed)?;
        let spread = self.cost_spread(from, to)?;
        // A range starting on the calendar's first day has no period before it.
        let change = match self.against_previous(from, to) {
            Ok(change) => Some(change),
            Err(crate::Error::DateOutOfRange { .. }) => None,
            Err(e) => return Err(e),
        };
        let by_provider = Bars {
            id: "cost-by-provider",
            title: "Cost by provider".into(),
            rows: p
                .by_provider
                .iter()
                .map(|s| Bar {
                    label: s.name.clone(),
                    value: dollars(nanos(s.cost)),
                    text: s.cost.rounded().to_string(),
                    detail: format!("{} in {} events", s.cost.rounded(), s.events),
                    color: NEUTRAL,
                })
                .collect(),
        };
        Ok(Page {
            from,
            to,
            cards: cards(&p, &e, spread.as_ref(), change.as_ref()),
            daily: self.daily_by_category(from, to)?,
            hourly: self.cost_by_hour(from, to)?,
            charts: vec![
                by_provider,
                self.cost_per_call(from, to)?,
                self.margins(from, to)?,
            ],
            endings: self.endings(from, to)?,
            tenants: self.calls_by(GroupBy::Tenant, from, to)?,
            users: self.calls_by(GroupBy::User, from, to)?,
            alerts: self.alerts(from, to)?,
            quotas: self.quotas(to)?,
            reconciliation: self.reconcile(from, to, &ReconcileOptions::default())?,
            calls: self.call_rows(from, to)?,
            calls_in_range: p.calls,
            call_links: false,
        })
    }

    fn daily_by_category(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, String, i64)>> {
        rollups::platform_daily_by_category(self.source(), from, to)
    }

    /// The distribution of cost per call, in ten buckets up to the dearest call.
    fn cost_per_call(&self, from: NaiveDate, to: NaiveDate) -> Result<Bars> {
        let costs = calls::costs(self.source(), range_ms(from, to))?;
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
            title: "Calls by cost".into(),
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
                    detail: format!("{n} calls"),
                    color: NEUTRAL,
                })
                .collect(),
        })
    }

    /// Margin by pricing tier: the calls' `plan` metadata when they have one, else their session
    /// kind. A loss is a bar left of zero.
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
                "Margin by plan".into()
            } else {
                "Margin by session kind".into()
            },
            rows: groups
                .iter()
                .map(|k| {
                    let m = nanos(k.revenue) - nanos(k.cost);
                    Bar {
                        label: k.name.clone().unwrap_or_else(|| "(none)".into()),
                        value: dollars(m),
                        text: Usd::from_nanos(m).rounded().to_string(),
                        detail: format!(
                            "{} = {} revenue − {} cost, {} calls",
                            Usd::from_nanos(m).rounded(),
                            k.revenue.rounded(),
                            k.cost.rounded(),
                            k.calls
                        ),
                        color: if m < 0 { LOSS } else { PROFIT },
                    }
                })
                .collect(),
        })
    }

    /// The calls of the range, dearest first, each with its cost by category and provider.
    fn call_rows(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<CallRow>> {
        let span = range_ms(from, to);
        let mut calls: Vec<CallRow> = calls::dearest(self.source(), span, CALLS_LISTED)?
            .into_iter()
            .map(|c| CallRow {
                seconds: c.ended_at_ms.map(|e| (e - c.started_at_ms) as f64 / 1000.0),
                call_id: c.call_id,
                user: c.user_id,
                tenant: c.tenant_id,
                status: c.status,
                started_at: c.started_at_ms,
                cost: Usd::from_nanos(c.total_nanos),
                parts: Vec::new(),
            })
            .collect();
        let index: std::collections::HashMap<String, usize> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| (c.call_id.clone(), i))
            .collect();
        events::breakdowns(self.source(), span, |call, category, provider, cost| {
            if let Some(&i) = index.get(&call) {
                calls[i]
                    .parts
                    .push((category, provider, Usd::from_nanos(cost)));
            }
        })?;
        for call in &mut calls {
            call.parts
                .sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        }
        Ok(calls)
    }
}

/// The figures at the top.
pub(super) fn cards(
    p: &crate::report::results::PlatformReport,
    e: &crate::report::economics::Economics,
    spread: Option<&CostSpread>,
    change: Option<&PeriodChange>,
) -> Vec<(&'static str, String, Option<String>)> {
    let none = || "–".to_owned();
    let money = |u: Option<Usd>| u.map_or_else(none, |u| u.rounded().to_string());
    let against = change.map_or_else(
        || "no period before".to_owned(),
        |change| {
            change.cost_change_percent.map_or_else(
                || {
                    format!(
                        "nothing in {} to {}",
                        change.previous_from, change.previous_to
                    )
                },
                |c| {
                    format!(
                        "{}{c} % against {}",
                        if c.is_sign_positive() { "+" } else { "" },
                        change.previous_cost.rounded()
                    )
                },
            )
        },
    );
    let calls_before = change.map(|c| format!("{} before", c.previous_calls));
    vec![
        ("total cost", p.total.rounded().to_string(), Some(against)),
        ("calls", p.calls.to_string(), calls_before),
        ("call minutes", format!("{:.1}", p.minutes), None),
        ("cost per call", money(p.cost_per_call), None),
        ("p50 per call", money(spread.map(|s| s.p50)), None),
        ("p95 per call", money(spread.map(|s| s.p95)), None),
        ("p99 per call", money(spread.map(|s| s.p99)), None),
        ("cost per minute", money(p.cost_per_minute), None),
        ("revenue", e.revenue.rounded().to_string(), None),
        (
            "margin",
            e.margin_percent.map_or_else(none, |m| format!("{m} %")),
            Some(format!("{} gross profit", e.gross_profit.rounded())),
        ),
    ]
}
