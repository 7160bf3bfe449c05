//! `callmeter catalog`: every price with its source and age; the stale ones on demand.

use std::path::PathBuf;

use callmeter::Catalog;
use callmeter::pricing::Listed;
use chrono::{NaiveDate, Utc};
use clap::Args;

use crate::describe;

#[derive(Args)]
pub(crate) struct CatalogArgs {
    /// Only this provider's entries; may be repeated.
    #[arg(long, value_name = "NAME")]
    provider: Vec<String>,
    /// Only entries checked longer ago than this (`90d`, `12w`, or days), or never checked.
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    stale_after: Option<i64>,
    /// A catalog file (TOML or JSON) to load over the built-in catalog; may be repeated.
    #[arg(long, value_name = "FILE")]
    catalog: Vec<PathBuf>,
    /// LiteLLM's model_prices_and_context_window.json, for models the catalog lacks.
    #[arg(long, value_name = "FILE")]
    litellm: Option<PathBuf>,
    /// Ages as of this day (YYYY-MM-DD) instead of today.
    #[arg(long, value_name = "DAY")]
    today: Option<NaiveDate>,
    /// Print the entries as JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print the entries as a Markdown table (the README's table of built-in prices).
    #[arg(long)]
    markdown: bool,
}

/// `90d`, `12w` or `90` (days) as days.
fn parse_age(text: &str) -> Result<i64, String> {
    let (digits, factor) = match text.strip_suffix('d') {
        Some(d) => (d, 1),
        None => match text.strip_suffix('w') {
            Some(w) => (w, 7),
            None => (text, 1),
        },
    };
    digits
        .parse::<i64>()
        .ok()
        .filter(|n| (0..=36_500).contains(n))
        .map(|n| n * factor)
        .ok_or_else(|| format!("{text:?} is not an age: give days as 90d, weeks as 12w, or a number of days up to 36500"))
}

/// An age in days, for people: `today`, `1 day ago`, `30 days ago`.
pub(crate) fn age(days: i64) -> String {
    match days {
        0 => "today".to_owned(),
        1 => "1 day ago".to_owned(),
        d if d < 0 => format!("in {} days", -d),
        d => format!("{d} days ago"),
    }
}

pub(crate) fn catalog(args: &CatalogArgs) -> Result<(), String> {
    let mut builder = Catalog::builtin().into_builder();
    for file in &args.catalog {
        builder = builder.load_file(file).map_err(|e| describe(&e))?;
    }
    if let Some(path) = &args.litellm {
        builder = builder.import_litellm(path).map_err(|e| describe(&e))?.0;
    }
    let catalog = builder.build().map_err(|e| describe(&e))?;
    let today = args.today.unwrap_or_else(|| Utc::now().date_naive());
    let rows: Vec<Listed> = catalog
        .listing(today)
        .into_iter()
        .filter(|r| args.provider.is_empty() || args.provider.contains(&r.provider))
        .filter(|r| args.stale_after.is_none_or(|max| r.is_stale(max)))
        .collect();
    if args.json {
        return crate::json(&rows);
    }
    if args.markdown {
        print!("{}", Listed::markdown_table(&rows));
        return Ok(());
    }
    for r in &rows {
        let checked = match (r.checked, r.age_days) {
            (Some(d), Some(days)) => format!("checked {d}, {}", age(days)),
            _ => "never checked".to_owned(),
        };
        println!("{}/{} ({})", r.provider, r.model, r.category);
        println!("  {}", r.prices);
        if !r.billing.is_empty() {
            println!("  billing: {}", r.billing);
        }
        println!("  source: {} [{checked}]", r.source);
    }
    match args.stale_after {
        Some(max) => println!(
            "{} entries checked more than {max} days ago, or never",
            rows.len()
        ),
        None => println!("{} entries", rows.len()),
    }
    Ok(())
}
