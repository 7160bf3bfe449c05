//! `callmeter economics`: revenue, costs, margin and break-even of the calls in a database.

use std::path::PathBuf;

use callmeter::{Catalog, Usd};

use clap::Args;

use crate::{Source, describe, json, money};

#[derive(Args)]
pub(crate) struct EconomicsArgs {
    #[command(flatten)]
    pub(crate) source: Source,
    /// A catalog file whose fixed monthly costs are spread over the period; may be repeated.
    #[arg(long, value_name = "FILE")]
    pub(crate) catalog: Vec<PathBuf>,
    /// The price of a call for the break-even (default: the period's revenue per call).
    #[arg(long, value_name = "USD")]
    pub(crate) price: Option<Usd>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn economics(args: &EconomicsArgs) -> Result<(), String> {
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
