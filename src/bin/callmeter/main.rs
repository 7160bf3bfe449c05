//! `callmeter`: the operator's command-line tool.
//!
//! ```text
//! callmeter quote openai gpt-4o-mini --input-tokens 9000 --output-tokens 310
//! callmeter quote twilio outbound-us --seconds 80
//! callmeter quote stripe card-not-present --payment 4.99 --international
//! callmeter catalog --stale-after 90d --provider openai
//! callmeter report --db callmeter.db                      # the platform, last 30 days
//! callmeter report --db callmeter.db --by user --top 10
//! callmeter report --db callmeter.db --call CA42 --json
//! callmeter report --postgres postgres://localhost/callmeter --by server   # a fleet (feature postgres)
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use callmeter::{Reports, Usd};
use chrono::{NaiveDate, Utc};
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
    Quote(Box<quote::QuoteArgs>),
    /// What the calls in a database cost: the platform over a range, grouped, or one call.
    Report(report::ReportArgs),
    /// Revenue, costs, margin and break-even of the calls in a database.
    Economics(economics::EconomicsArgs),
    /// Calls or events of a date range as CSV, or calls with their usages as JSON Lines, to stdout.
    Export(export::ExportArgs),
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
    /// Every price of the catalog with its source and the day it was checked; `--stale-after 90d`
    /// lists the ones older than that.
    Catalog(catalog::CatalogArgs),
}

mod catalog;
mod economics;
mod export;
mod quote;
mod reconcile;
mod report;
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
fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Report(args) => report::report(&args),
        Command::Economics(args) => economics::economics(&args),
        Command::Export(args) => export::export(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Reconcile(args) => reconcile::reconcile(&args),
        Command::Quote(args) => quote::quote(&args),
        Command::Catalog(args) => catalog::catalog(&args),
    }
}
/// Prints `value` as pretty JSON on standard output.
fn json(value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| describe(&e))?;
    println!("{text}");
    Ok(())
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
