//! `callmeter quote`: what a usage costs, each part with its rate, billing increment and cost.

use std::path::PathBuf;

use callmeter::pricing::{Destinations, NumberType, Payment, Quote, Route, Turn, Usage};

use callmeter::{Catalog, TokenUsage, UsageKind, Usd};
use chrono::{DateTime, Utc};
use clap::Args;

use crate::{describe, money};

#[derive(Args)]
pub(crate) struct QuoteArgs {
    /// Provider, as the track calls name it (`openai`, `twilio`, …).
    pub(crate) provider: String,
    /// Model or product (`gpt-4o-mini`, `outbound-us`, `card-not-present`, …).
    pub(crate) model: String,

    /// Uncached input tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) input_tokens: u64,
    /// Input tokens read from the prompt cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) cached_input_tokens: u64,
    /// Input tokens written to the prompt cache (5-minute lifetime).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) cache_write_tokens: u64,
    /// Input tokens written to the prompt cache (1-hour lifetime).
    #[arg(long, value_name = "N", default_value_t = 0)]
    cache_write_1h_tokens: u64,
    /// Visible output tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) output_tokens: u64,
    /// Reasoning tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) reasoning_tokens: u64,
    /// Uncached audio input tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) audio_input_tokens: u64,
    /// Audio input tokens read from the prompt cache.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) cached_audio_input_tokens: u64,
    /// Audio output tokens.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) audio_output_tokens: u64,
    /// Characters of speech synthesised.
    #[arg(long, value_name = "N")]
    pub(crate) characters: Option<u64>,
    /// Seconds: of audio transcribed (STT models), of the call (telephony), in the room (with
    /// --participants).
    #[arg(long, value_name = "S")]
    pub(crate) seconds: Option<f64>,
    /// Seconds of audio sent to a realtime model (with --audio-output-seconds).
    #[arg(long, value_name = "S")]
    pub(crate) audio_input_seconds: Option<f64>,
    /// Seconds of audio a realtime model produced.
    #[arg(long, value_name = "S")]
    pub(crate) audio_output_seconds: Option<f64>,
    /// Participants in a media room, for --seconds.
    #[arg(long, value_name = "N")]
    pub(crate) participants: Option<u32>,
    /// Requests.
    #[arg(long, value_name = "N")]
    pub(crate) requests: Option<u64>,
    /// A payment of this many dollars.
    #[arg(long, value_name = "USD")]
    pub(crate) payment: Option<Usd>,
    /// The payment is by a card issued abroad.
    #[arg(long, requires = "payment")]
    pub(crate) international: bool,
    /// The payment needs a currency conversion.
    #[arg(long, requires = "payment")]
    pub(crate) currency_conversion: bool,
    /// A call leg to this number (E.164), priced by the product's destination table (with
    /// --twilio-voice, or a table of the catalog).
    #[arg(long, value_name = "NUMBER", group = "route")]
    pub(crate) to: Option<String>,
    /// A call leg to this country (ISO 3166-1 alpha-2), at its default rate.
    #[arg(long, value_name = "ISO", group = "route")]
    pub(crate) country: Option<String>,
    /// A call leg received on a number of this type (`local`, `toll free`, `mobile`, …).
    #[arg(long, value_name = "TYPE", group = "route")]
    pub(crate) inbound: Option<String>,
    /// A call leg over SIP.
    #[arg(long, group = "route")]
    pub(crate) sip: bool,
    /// Twilio's Voice prices as its Pricing API returns them (one country, or an array): a
    /// destination table for the product named by MODEL.
    #[arg(long, value_name = "FILE")]
    pub(crate) twilio_voice: Option<PathBuf>,

    /// A catalog file (TOML or JSON) to load over the built-in catalog; may be repeated.
    #[arg(long, value_name = "FILE")]
    pub(crate) catalog: Vec<PathBuf>,
    /// LiteLLM's model_prices_and_context_window.json, for models the catalog lacks.
    #[arg(long, value_name = "FILE")]
    pub(crate) litellm: Option<PathBuf>,
    /// Price at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    pub(crate) at: Option<DateTime<Utc>>,
    /// Print the quote as JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// A speech-to-speech session of this many turns, each billed for the whole conversation so
    /// far: the token options are then one turn's (--input-tokens the instructions sent with every
    /// turn, --audio-input-tokens what the user says, --output-tokens and --audio-output-tokens what
    /// the model writes and says), and each turn's cost and the session's total are printed.
    #[arg(long, value_name = "N")]
    pub(crate) turns: Option<u32>,
    /// With --turns: what is sent again is read from the prompt cache (billed at cached rates).
    #[arg(long, requires = "turns")]
    pub(crate) cached_context: bool,
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

pub(crate) fn print(quote: &Quote) {
    println!("{}/{} ({})", quote.provider, quote.model, quote.category);
    let today = Utc::now().date_naive();
    let verified = match quote.checked {
        Some(d) => format!(
            ", checked {d}, {}",
            crate::catalog::age((today - d).num_days())
        ),
        None => ", never checked".to_owned(),
    };
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

/// `callmeter quote --turns N`: a speech-to-speech session's cost, turn by turn.
fn quote_turns(
    args: &QuoteArgs,
    catalog: &Catalog,
    turns: u32,
    at: DateTime<Utc>,
) -> Result<(), String> {
    let mut turn = Turn::new(
        args.input_tokens,
        args.audio_input_tokens,
        args.audio_output_tokens,
    )
    .with_output_text(args.output_tokens);
    if args.cached_context {
        turn = turn.with_cached_context();
    }
    let rows = catalog
        .quote_turns(&args.provider, &args.model, turn, turns, at)
        .map_err(|e| describe(&e))?;
    if args.json {
        return crate::json(&rows);
    }
    println!(
        "{}/{}: {turns} turns, each billed for the conversation so far",
        args.provider, args.model
    );
    println!(
        "  {:>5}  {:>12}  {:>12}  {:>12}",
        "turn", "input tokens", "turn cost", "session"
    );
    for r in &rows {
        let u = &r.usage;
        let input = u.input + u.cached_input + u.audio_input + u.cached_audio_input;
        println!(
            "  {:>5}  {:>12}  {:>12}  {:>12}",
            r.turn,
            input,
            money(r.cost),
            money(r.session_total)
        );
    }
    Ok(())
}

/// `callmeter quote`: prices a usage and prints each part.
pub(crate) fn quote(args: &QuoteArgs) -> Result<(), String> {
    let catalog = args.catalog().map_err(|e| describe(&e))?;
    let at = args.at.unwrap_or_else(Utc::now);
    if let Some(turns) = args.turns {
        return quote_turns(args, &catalog, turns, at);
    }
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
