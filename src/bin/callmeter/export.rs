//! `callmeter export`: calls or events of a date range as CSV, or calls with their usages as JSON Lines.

use clap::Args;

use crate::{Source, describe};

#[derive(Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// What to write: calls-csv, events-csv or jsonl.
    #[arg(long, value_name = "WHAT", default_value = "jsonl")]
    pub(crate) format: ExportFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    CallsCsv,
    EventsCsv,
    Jsonl,
}

pub(crate) fn export(args: &ExportArgs) -> Result<(), String> {
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
