//! `callmeter`: the operator's command-line tool.
//!
//! ```text
//! callmeter quote openai gpt-4o-mini --input-tokens 9000 --output-tokens 310
//! callmeter quote twilio outbound-us --seconds 80
//! callmeter quote stripe card-not-present --payment 4.99 --international
//! callmeter report --db callmeter.db                      # the platform, last 30 days
//! callmeter report --db callmeter.db --by user --top 10
//! callmeter report --db callmeter.db --call CA42 --json
//! callmeter report --postgres postgres://localhost/callmeter --by server   # a fleet (feature postgres)
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use callmeter::pricing::{Destinations, NumberType, Payment, Quote, Route, Usage};
use callmeter::report::GroupBy;
use callmeter::{Catalog, Reports, TokenUsage, UsageKind, Usd};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Parser, Subcommand};

/// Exact cost tracking for voice-AI calls.
#[derive(Parser)]
#[command(name = "callmeter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print amounts exactly, to the nano-dollar (text output rounds them for reading: to the cent
    /// from a dollar up, to four significant digits below; JSON is always exact).
    #[arg(long, global = true)]
    exact: bool,
}

/// Whether `--exact` was given.
static EXACT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// An amount for text output: rounded for reading, or exact with `--exact`.
fn money(amount: Usd) -> String {
    if EXACT.get().copied().unwrap_or(false) {
        amount.to_string()
    } else {
        amount.rounded().to_string()
    }
}

#[derive(Subcommand)]
enum Command {
    /// What a usage costs: each part with its rate, billing increment and cost, and the price's source.
    Quote(Box<QuoteArgs>),
    /// What the calls in a database cost: the platform over a range, grouped, or one call.
    Report(ReportArgs),
    /// Revenue, costs, margin and break-even of the calls in a database.
    Economics(EconomicsArgs),
    /// Calls or events of a date range as CSV, or calls with their usages as JSON Lines, to stdout.
    Export(ExportArgs),
    /// The dashboard, each call's page and a JSON API (`/api/summary`, `/api/calls`,
    /// `/api/calls/<id>`, `/api/users`, `/api/tenants`, `/api/alerts`, `/api/quotas` on the range's
    /// last day) over HTTP, read-only; every request carries the key in `CALLMETER_ADMIN_KEY`, at
    /// least 16 characters (`Authorization: Bearer <key>`, or sign in at `/login` in a browser).
    /// Stops on SIGINT or SIGTERM.
    Serve(serve::ServeArgs),
    /// Imports what the providers billed (Twilio calls and usage records, OpenAI costs, Anthropic
    /// cost reports, invoice lines as CSV) and sets it beside what callmeter computed: per call,
    /// per day and model, or per day, with what does not match.
    Reconcile(Box<reconcile::ReconcileArgs>),
}

mod reconcile;
mod serve;

/// The database and the days a command reads.
#[derive(Args)]
struct Source {
    /// The database file (the one `simulate_calls` and the meter write).
    #[arg(long, value_name = "FILE", default_value = callmeter::MeterBuilder::DEFAULT_DB_PATH)]
    db: PathBuf,
    /// A fleet's PostgreSQL database instead of a file (`postgres://user:password@host/db`; needs
    /// the `postgres` feature).
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    postgres: Option<String>,
    /// First day (UTC, YYYY-MM-DD); default 29 days before --to.
    #[arg(long, value_name = "DAY")]
    from: Option<NaiveDate>,
    /// Last day (UTC, YYYY-MM-DD), inclusive; default today.
    #[arg(long, value_name = "DAY")]
    to: Option<NaiveDate>,
}

impl Source {
    /// The opened database, and the first and last day.
    fn open(&self) -> Result<(Reports, NaiveDate, NaiveDate), String> {
        let reports = match &self.postgres {
            #[cfg(feature = "postgres")]
            Some(url) => Reports::postgres(url).map_err(|e| describe(&e))?,
            #[cfg(not(feature = "postgres"))]
            Some(_) => {
                return Err(
                    "--postgres needs callmeter built with the `postgres` feature \
                            (cargo install callmeter --features cli,postgres)"
                        .into(),
                );
            }
            None => Reports::open(&self.db).map_err(|e| describe(&e))?,
        };
        let to = self.to.unwrap_or_else(|| Utc::now().date_naive());
        let from = self
            .from
            .unwrap_or_else(|| to.checked_sub_days(chrono::Days::new(29)).unwrap_or(to));
        if from > to {
            return Err(format!("--from {from} is after --to {to}"));
        }
        Ok((reports, from, to))
    }
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    source: Source,
    /// What to write: calls-csv, events-csv or jsonl.
    #[arg(long, value_name = "WHAT", default_value = "jsonl")]
    format: ExportFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    CallsCsv,
    EventsCsv,
    Jsonl,
}

fn export(args: &ExportArgs) -> Result<(), String> {
    let (reports, from, to) = args.source.open()?;
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        ExportFormat::CallsCsv => reports.export_calls_csv(from, to, out),
        ExportFormat::EventsCsv => reports.export_events_csv(from, to, out),
        ExportFormat::Jsonl => reports.export_jsonl(from, to, out),
    }
    .map_err(|e| describe(&e))?;
    eprintln!("callmeter: {written} records, {from} to {to}");
    Ok(())
}

#[derive(Args)]
struct EconomicsArgs {
    #[command(flatten)]
    source: Source,
    /// A catalog file whose fixed monthly costs are spread over the period; may be repeated.
    #[arg(long, value_name = "FILE")]
    catalog: Vec<PathBuf>,
    /// The price of a call for the break-even (default: the period's revenue per call).
    #[arg(long, value_name = "USD")]
    price: Option<Usd>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn economics(args: &EconomicsArgs) -> Result<(), String> {
    let (reports, from, to) = args.source.open()?;
    let mut builder = Catalog::builder();
    for file in &args.catalog {
        builder = builder.load_file(file).map_err(|e| describe(&e))?;
    }
    let fixed = builder.build().map_err(|e| describe(&e))?.fixed_costs();
    let e = reports
        .economics(from, to, &fixed)
        .map_err(|e| describe(&e))?;
    let monthly = fixed
        .iter()
        .try_fold(Usd::ZERO, |sum, c| sum.checked_add(c.monthly()))
        .ok_or("fixed costs out of range")?;
    let per_call = e.per_call;
    let price = args.price.or(per_call.map(|p| p.revenue));
    let even = match (price, per_call) {
        (Some(price), Some(p)) => p
            .variable_cost
            .checked_add(p.payment_fees)
            .map(|cost| callmeter::report::break_even(monthly, price, cost)),
        _ => None,
    };
    if args.json {
        return json(&serde_json::json!({ "economics": e, "break_even": even }));
    }
    println!("economics {} to {}", e.from, e.to);
    println!("  calls           {}", e.calls);
    println!("  revenue         {}", money(e.revenue));
    println!("  variable cost   {}", money(e.variable_cost));
    println!("  payment fees    {}", money(e.payment_fees));
    println!(
        "  fixed costs     {}  ({} a month, spread by day)",
        money(e.fixed_costs),
        money(monthly)
    );
    println!("  gross profit    {}", money(e.gross_profit));
    if let Some(m) = e.margin_percent {
        println!("  margin          {m} %");
    }
    if let Some(p) = per_call {
        println!(
            "  per call        revenue {}, variable {}, fees {}, fixed {}",
            money(p.revenue),
            money(p.variable_cost),
            money(p.payment_fees),
            money(p.fixed_costs)
        );
    }
    match even {
        Some(b) => match b.calls_per_month {
            Some(n) => println!(
                "  break-even      {n} calls a month = {} fixed ÷ ({} price − {} cost per call), rounded up",
                money(b.fixed_monthly),
                money(b.price),
                money(b.cost_per_call)
            ),
            None => println!(
                "  break-even      none: the price {} does not exceed the cost per call {}",
                money(b.price),
                money(b.cost_per_call)
            ),
        },
        None => println!("  break-even      give --price (no revenue recorded in the period)"),
    }
    Ok(())
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    source: Source,
    /// One call's breakdown instead.
    #[arg(long, value_name = "ID")]
    call: Option<String>,
    /// Group calls by plan (the `plan` metadata entry), user, tenant, persona or session-kind.
    #[arg(long, value_name = "WHAT")]
    by: Option<Group>,
    /// How many groups or calls to list.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Write a self-contained HTML report of the period to this file instead.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// A catalog file whose fixed monthly costs the HTML report's economics spread; may be repeated.
    #[arg(long, value_name = "FILE")]
    catalog: Vec<PathBuf>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Group {
    /// The `plan` metadata entry of the calls (their pricing tier).
    Plan,
    User,
    Tenant,
    Persona,
    SessionKind,
    /// The server that last had the call (a fleet database; a file is one server).
    Server,
}

fn json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| describe(&e))?;
    println!("{text}");
    Ok(())
}

fn print_shares(title: &str, shares: &[callmeter::report::Share]) {
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

fn report(args: &ReportArgs) -> Result<(), String> {
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
                if e.kind == "usage" {
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

#[derive(Args)]
struct QuoteArgs {
    /// Provider, as the track calls name it (`openai`, `twilio`, …).
    provider: String,
    /// Model or product (`gpt-4o-mini`, `outbound-us`, `card-not-present`, …).
    model: String,

    /// Uncached input tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    input_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cached_input_tokens: u64,
    /// Input tokens written to the prompt cache (5-minute lifetime).
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_write_tokens: u64,
    /// Input tokens written to the prompt cache (1-hour lifetime).
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_write_1h_tokens: u64,
    /// Visible output tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    output_tokens: u64,
    /// Reasoning tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    reasoning_tokens: u64,
    /// Uncached audio input tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    audio_input_tokens: u64,
    /// Audio input tokens read from the prompt cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    cached_audio_input_tokens: u64,
    /// Audio output tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    audio_output_tokens: u64,
    /// Characters of speech synthesised.
    #[arg(long, value_name = "N")]
    characters: Option<u64>,
    /// Seconds: of audio transcribed (STT models), of the call (telephony), in the room (with
    /// --participants).
    #[arg(long, value_name = "S")]
    seconds: Option<f64>,
    /// Seconds of audio sent to a realtime model (with --audio-output-seconds).
    #[arg(long, value_name = "S")]
    audio_input_seconds: Option<f64>,
    /// Seconds of audio a realtime model produced.
    #[arg(long, value_name = "S")]
    audio_output_seconds: Option<f64>,
    /// Participants in a media room, for --seconds.
    #[arg(long, value_name = "N")]
    participants: Option<u32>,
    /// Requests.
    #[arg(long, value_name = "N")]
    requests: Option<u64>,
    /// A payment of this many dollars.
    #[arg(long, value_name = "USD")]
    payment: Option<Usd>,
    /// The payment is by a card issued abroad.
    #[arg(long, requires = "payment")]
    international: bool,
    /// The payment needs a currency conversion.
    #[arg(long, requires = "payment")]
    currency_conversion: bool,
    /// A call leg to this number (E.164), priced by the product's destination table (with
    /// --twilio-voice, or a table of the catalog).
    #[arg(long, value_name = "NUMBER", group = "route")]
    to: Option<String>,
    /// A call leg to this country (ISO 3166-1 alpha-2), at its default rate.
    #[arg(long, value_name = "ISO", group = "route")]
    country: Option<String>,
    /// A call leg received on a number of this type (`local`, `toll free`, `mobile`, …).
    #[arg(long, value_name = "TYPE", group = "route")]
    inbound: Option<String>,
    /// A call leg over SIP.
    #[arg(long, group = "route")]
    sip: bool,
    /// Twilio's Voice prices as its Pricing API returns them (one country, or an array): a
    /// destination table for the product named by MODEL.
    #[arg(long, value_name = "FILE")]
    twilio_voice: Option<PathBuf>,

    /// A catalog file (TOML or JSON) to load over the built-in catalog; may be repeated.
    #[arg(long, value_name = "FILE")]
    catalog: Vec<PathBuf>,
    /// LiteLLM's model_prices_and_context_window.json, for models the catalog lacks.
    #[arg(long, value_name = "FILE")]
    litellm: Option<PathBuf>,
    /// Price at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<DateTime<Utc>>,
    /// Print the quote as JSON.
    #[arg(long)]
    json: bool,
}

impl QuoteArgs {
    /// The catalog model a route asked for is priced as; the model as given without a route.
    fn model<'a>(&'a self, catalog: &'a Catalog) -> Result<&'a str, String> {
        let number_type;
        let route = if let Some(number) = &self.to {
            Route::To(number)
        } else if let Some(iso) = &self.country {
            Route::ToCountry(iso)
        } else if let Some(name) = &self.inbound {
            number_type = NumberType::from_name(name).ok_or_else(|| {
                format!("--inbound {name:?}: not a number type (local, toll free, mobile, national, shared cost)")
            })?;
            Route::Inbound(number_type)
        } else if self.sip {
            Route::Sip
        } else {
            return Ok(&self.model);
        };
        catalog
            .route(&self.provider, &self.model, route)
            .ok_or_else(|| {
                format!(
                    "no rate for {route} in {}/{}'s destinations{}",
                    self.provider,
                    self.model,
                    if catalog
                        .destinations()
                        .iter()
                        .any(|d| d.provider() == self.provider && d.product() == self.model)
                    {
                        ""
                    } else {
                        " (the catalog has no destination table for them: give --twilio-voice FILE)"
                    }
                )
            })
    }

    /// The usage asked for; `--seconds` alone is the time kind the entry prices (call, or audio).
    fn usage(&self, catalog: &Catalog, model: &str, at: DateTime<Utc>) -> Result<Usage, String> {
        let tokens = TokenUsage::new(self.input_tokens, self.output_tokens)
            .with_cached_input(self.cached_input_tokens)
            .with_cache_write(self.cache_write_tokens)
            .with_cache_write_1h(self.cache_write_1h_tokens)
            .with_reasoning(self.reasoning_tokens)
            .with_audio(self.audio_input_tokens, self.audio_output_tokens)
            .with_cached_audio_input(self.cached_audio_input_tokens);
        let mut given = Vec::new();
        if tokens.total() > 0 {
            given.push(Usage::Tokens(tokens));
        }
        if let Some(n) = self.characters {
            given.push(Usage::Characters(n));
        }
        match (self.participants, self.seconds) {
            (Some(participants), Some(seconds)) => given.push(Usage::Participants {
                participants,
                seconds,
            }),
            (Some(_), None) => return Err("--participants needs --seconds".into()),
            (None, Some(_)) | (None, None) => {}
        }
        if self.audio_input_seconds.is_some() || self.audio_output_seconds.is_some() {
            given.push(Usage::RealtimeAudio {
                input_seconds: self.audio_input_seconds.unwrap_or(0.0),
                output_seconds: self.audio_output_seconds.unwrap_or(0.0),
            });
        }
        if let Some(n) = self.requests {
            given.push(Usage::Requests(n));
        }
        if let Some(amount) = self.payment {
            let mut p = Payment::new(amount);
            if self.international {
                p = p.international();
            }
            if self.currency_conversion {
                p = p.currency_conversion();
            }
            given.push(Usage::Payment(p));
        }
        let seconds_alone = self.participants.is_none() && self.seconds.is_some();
        match (given.as_slice(), seconds_alone) {
            ([one], false) => Ok(*one),
            ([], true) => {
                let seconds = self.seconds.unwrap_or(0.0);
                let call = catalog
                    .get_at(&self.provider, model, at)
                    .is_some_and(|p| p.rates().iter().any(|(k, _)| *k == UsageKind::CallSeconds));
                Ok(if call {
                    Usage::CallSeconds(seconds)
                } else {
                    Usage::AudioSeconds(seconds)
                })
            }
            ([], false) => {
                Err("give a usage: tokens, --characters, --seconds, --requests or --payment".into())
            }
            _ => Err("give one kind of usage per quote (tokens of any kinds count as one)".into()),
        }
    }

    fn catalog(&self) -> callmeter::Result<Catalog> {
        let mut builder = Catalog::builtin().into_builder();
        for file in &self.catalog {
            builder = builder.load_file(file)?;
        }
        if let Some(path) = &self.litellm {
            let (b, report) = builder.import_litellm(path)?;
            eprintln!(
                "LiteLLM: {} entries imported, {} already in the catalog, {} skipped",
                report.imported,
                report.kept_existing.len(),
                report.skipped.len()
            );
            builder = b;
        }
        if let Some(path) = &self.twilio_voice {
            let (table, report) = Destinations::from_twilio_file(&self.model, path)?;
            eprintln!(
                "Twilio voice prices: {} imported, {} left out",
                report.imported,
                report.skipped.len()
            );
            builder = builder.destinations(table);
        }
        builder.build()
    }
}

fn print(quote: &Quote) {
    println!("{}/{} ({})", quote.provider, quote.model, quote.category);
    let verified = quote
        .verified_on
        .map(|d| format!(", checked {d}"))
        .unwrap_or_default();
    println!(
        "  price source: {} [{}{}]",
        quote.source, quote.origin, verified
    );
    for line in &quote.lines {
        let amount = |q: rust_decimal::Decimal| {
            let q = q.normalize();
            let plural = if q == rust_decimal::Decimal::ONE {
                ""
            } else {
                "s"
            };
            format!("{q} {}{plural}", line.unit)
        };
        let billed = if line.billed == line.quantity {
            String::new()
        } else {
            format!(", billed as {}", amount(line.billed))
        };
        let increment = line
            .increment
            .as_ref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        let via = match (line.priced_as, line.tier_above_prompt_tokens) {
            (Some(k), _) => format!(" [at the {k} rate]"),
            (None, Some(t)) => format!(" [prompt above {t} tokens]"),
            (None, None) => String::new(),
        };
        println!(
            "  {:<26} {}{billed} × {}{increment}{via} = {}",
            line.kind.to_string(),
            amount(line.quantity),
            line.price,
            money(line.cost)
        );
    }
    println!("  total: {}", money(quote.total));
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Report(args) => report(&args),
        Command::Economics(args) => economics(&args),
        Command::Export(args) => export(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Reconcile(args) => reconcile::reconcile(&args),
        Command::Quote(args) => {
            let catalog = args.catalog().map_err(|e| describe(&e))?;
            let at = args.at.unwrap_or_else(Utc::now);
            let model = args.model(&catalog)?;
            let usage = args.usage(&catalog, model, at)?;
            let quote = catalog
                .quote(&args.provider, model, usage, at)
                .map_err(|e| match e {
                    callmeter::Error::UnknownModel {
                        provider,
                        model,
                        suggestions,
                    } if !suggestions.is_empty() => format!(
                        "no price for {provider}/{model} in the catalog; did you mean {}?",
                        suggestions.join(", ")
                    ),
                    callmeter::Error::UnknownModel {
                        provider, model, ..
                    } => format!("no price for {provider}/{model} in the catalog"),
                    callmeter::Error::NoPriceInForce {
                        provider,
                        model,
                        at,
                    } => format!("no price for {provider}/{model} in force at {at}"),
                    other => other.to_string(),
                })?;
            if !quote.missing.is_empty() {
                let billed: Vec<String> = catalog
                    .get_at(&args.provider, model, at)
                    .map(|p| p.rates().iter().map(|(k, _)| k.to_string()).collect())
                    .unwrap_or_default();
                let missing: Vec<String> = quote.missing.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "{}/{} does not bill {}; it bills {}",
                    quote.provider,
                    quote.model,
                    missing.join(", "),
                    if billed.is_empty() {
                        "nothing".to_owned()
                    } else {
                        billed.join(", ")
                    }
                ));
            }
            if args.json {
                let json = serde_json::to_string_pretty(&quote).map_err(|e| describe(&e))?;
                println!("{json}");
            } else {
                print(&quote);
            }
            Ok(())
        }
    }
}

/// An error and its causes, on one line: `database x.db: reading …: file is not a database`.
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut last = text.clone();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // A cause often repeats the message it causes, with more or less around it.
        if !text.contains(&cause_text) && !cause_text.contains(&last) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        last = cause_text;
        source = cause.source();
    }
    text
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = EXACT.set(cli.exact);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callmeter: {e}");
            ExitCode::FAILURE
        }
    }
}
