//! `callmeter report`: what the calls in a database cost — the platform over a range, grouped, or one call.

use std::path::PathBuf;

use callmeter::Catalog;
use callmeter::report::GroupBy;

use clap::Args;

use crate::{Source, describe, json, money};

#[derive(Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// One call's breakdown instead.
    #[arg(long, value_name = "ID")]
    pub(crate) call: Option<String>,
    /// Group calls by plan (the `plan` metadata entry), user, tenant, persona or session-kind.
    #[arg(long, value_name = "WHAT")]
    pub(crate) by: Option<Group>,
    /// How many groups or calls to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub(crate) top: usize,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write a self-contained HTML report of the period to this file instead.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// A catalog file whose fixed monthly costs the HTML report's economics spread; may be repeated.
    #[arg(long, value_name = "FILE")]
    pub(crate) catalog: Vec<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Group {
    /// The `plan` metadata entry of the calls (their pricing tier).
    Plan,
    User,
    Tenant,
    Persona,
    SessionKind,
    /// The server that last had the call (a fleet database; a file is one server).
    Server,
}

pub(crate) fn print_shares(title: &str, shares: &[callmeter::report::Share]) {
    if shares.is_empty() {
        return;
    }
    println!("  {title}");
    for s in shares {
        println!(
            "    {:<22} {:>16} {:>9} events",
            s.name,
            money(s.cost),
            s.events
        );
    }
}

pub(crate) fn report(args: &ReportArgs) -> Result<(), String> {
    let (reports, from, to) = args.source.open()?;
    if let Some(file) = &args.html {
        let mut builder = Catalog::builder();
        for path in &args.catalog {
            builder = builder.load_file(path).map_err(|e| describe(&e))?;
        }
        let fixed = builder.build().map_err(|e| describe(&e))?.fixed_costs();
        let page = reports.html(from, to, &fixed).map_err(|e| describe(&e))?;
        std::fs::write(file, page).map_err(|e| format!("{}: {e}", file.display()))?;
        eprintln!("callmeter: wrote {}", file.display());
        return Ok(());
    }
    if let Some(id) = &args.call {
        let call = reports
            .call(id)
            .map_err(|e| describe(&e))?
            .ok_or_else(|| format!("no call {id:?} in {}", args.source.db.display()))?;
        if args.json {
            return json(&call);
        }
        println!(
            "call {} ({}{})",
            call.call_id,
            call.status,
            call.failure_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        let who = [
            ("user", &call.user_id),
            ("tenant", &call.tenant_id),
            ("persona", &call.persona),
            ("session", &call.session_kind),
        ];
        for (what, v) in who {
            if let Some(v) = v {
                println!("  {what:<9} {v}");
            }
        }
        println!("  started   {}", call.started_at);
        if let Some(d) = call.duration_seconds {
            println!("  duration  {d:.1} s");
        }
        println!("  total     {}", money(call.total));
        if let Some(m) = call.margin {
            println!("  revenue   {}   margin {}", money(call.revenue), money(m));
        }
        print_shares("by category", &call.by_category);
        print_shares("by provider", &call.by_provider);
        print_shares("by agent", &call.by_agent);
        println!("  events");
        for e in &call.events {
            println!(
                "    #{:<4} {:<10} {:<12} {:<28} {:>12} {:<10} {:>14}{}",
                e.seq,
                e.category,
                e.provider,
                e.model,
                e.quantity,
                e.unit,
                money(e.cost),
                if e.kind == callmeter::report::EventKind::Usage {
                    String::new()
                } else {
                    format!(" ({})", e.kind)
                }
            );
        }
        return Ok(());
    }
    if let Some(group) = args.by {
        let group = match group {
            Group::Plan => GroupBy::Metadata("plan".into()),
            Group::User => GroupBy::User,
            Group::Tenant => GroupBy::Tenant,
            Group::Persona => GroupBy::Persona,
            Group::SessionKind => GroupBy::SessionKind,
            Group::Server => GroupBy::Server,
        };
        let mut rows = reports
            .calls_by(group, from, to)
            .map_err(|e| describe(&e))?;
        rows.truncate(args.top);
        if args.json {
            return json(&rows);
        }
        println!("calls {from} to {to}, dearest first");
        println!(
            "  {:<28} {:>7} {:>16} {:>14} {:>14}",
            "group", "calls", "cost", "per call", "revenue"
        );
        for r in rows {
            println!(
                "  {:<28} {:>7} {:>16} {:>14} {:>14}",
                r.name.unwrap_or_else(|| "(none)".into()),
                r.calls,
                money(r.cost),
                money(r.cost_per_call),
                money(r.revenue)
            );
        }
        return Ok(());
    }
    let p = reports.platform(from, to).map_err(|e| describe(&e))?;
    let top = reports
        .top_calls(from, to, args.top)
        .map_err(|e| describe(&e))?;
    let endings = reports.endings(from, to).map_err(|e| describe(&e))?;
    let spread = reports.cost_spread(from, to).map_err(|e| describe(&e))?;
    let change = reports
        .against_previous(from, to)
        .map_err(|e| describe(&e))?;
    let quotas = reports.quotas(to).map_err(|e| describe(&e))?;
    if args.json {
        return json(&serde_json::json!({
            "platform": p,
            "top_calls": top,
            "endings": endings,
            "cost_spread": spread,
            "against_previous": change,
            "quotas": quotas,
        }));
    }
    println!("platform {from} to {to}");
    println!("  total         {}", money(p.total));
    println!("  calls         {}", p.calls);
    println!("  minutes       {:.1}", p.minutes);
    if let Some(c) = p.cost_per_call {
        println!("  per call      {}", money(c));
    }
    if let Some(c) = p.cost_per_minute {
        println!("  per minute    {}", money(c));
    }
    if let Some(c) = p.cost_per_turn {
        println!(
            "  per turn      {}  ({} language-model requests)",
            money(c),
            p.turns
        );
    }
    print_shares("by category", &p.by_category);
    print_shares("by provider", &p.by_provider);
    println!("  daily");
    for d in &p.daily {
        let change = d
            .change
            .map(|c| format!("  ({} on the day before)", money(c)))
            .unwrap_or_default();
        println!("    {}  {:>16}{change}", d.day, money(d.cost));
    }
    println!("  dearest calls");
    for (id, cost) in top {
        println!("    {id:<40} {:>14}", money(cost));
    }
    println!("  how calls ended");
    for e in &endings {
        println!(
            "    {:<12} {:>7} calls {:>7} %  {:>14}",
            e.status,
            e.calls,
            e.percent,
            money(e.cost)
        );
    }
    if let Some(s) = spread {
        println!(
            "  cost per call  p50 {}  p95 {}  p99 {}  max {}",
            money(s.p50),
            money(s.p95),
            money(s.p99),
            money(s.max)
        );
    }
    let percent = change
        .cost_change_percent
        .map(|p| format!(" ({p:+} %)"))
        .unwrap_or_default();
    println!(
        "  against {} to {}: {} calls, {} before; now {}{percent}",
        change.previous_from,
        change.previous_to,
        change.previous_calls,
        money(change.previous_cost),
        money(change.cost)
    );
    if let Some(quotas) = quotas.filter(|q| !q.is_empty()) {
        println!("  quotas on {to}");
        for q in &quotas {
            let limit = match (q.cost_limit, q.units_limit) {
                (Some(c), Some(u)) => {
                    format!("{} of {}, {} of {u}", money(q.cost), money(c), q.units)
                }
                (Some(c), None) => format!("{} of {}", money(q.cost), money(c)),
                (None, Some(u)) => format!("{} of {u}", q.units),
                (None, None) => money(q.cost),
            };
            let period = q.period.as_str();
            println!(
                "    {:<32} {period:<5} {:>7} %  {:<8}  {limit}",
                q.subject, q.used_percent, q.level
            );
        }
    }
    Ok(())
}
