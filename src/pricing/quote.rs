//! Price quotes: what a usage costs under a catalog, line by line, with the rate, the increment and the
//! source of the price; the same arithmetic as a track call on a new call.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::catalog::{Catalog, Lookup};
use super::line::{Tally, fallback};
use super::model::PriceOrigin;
use crate::base::checked::millis;
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::usage::{Category, Measure, TokenUsage, Unit, UsageKind};
use crate::pricing::Payment;

/// A usage to price, shaped like the track calls' arguments.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Usage {
    /// A model request's tokens ([`track_inference`](crate::CallCostTracker::track_inference)).
    Tokens(TokenUsage),
    /// Characters synthesised ([`track_tts`](crate::CallCostTracker::track_tts)).
    Characters(u64),
    /// Seconds of audio transcribed ([`track_stt`](crate::CallCostTracker::track_stt)).
    AudioSeconds(f64),
    /// Seconds of a phone call ([`track_duration`](crate::CallCostTracker::track_duration)).
    CallSeconds(f64),
    /// Seconds of realtime audio in and out
    /// ([`track_realtime_audio`](crate::CallCostTracker::track_realtime_audio)).
    RealtimeAudio {
        /// Seconds of audio sent to the model.
        input_seconds: f64,
        /// Seconds of audio the model produced.
        output_seconds: f64,
    },
    /// Participants in a room for some seconds
    /// ([`track_participants`](crate::CallCostTracker::track_participants)).
    Participants {
        /// Participants connected.
        participants: u32,
        /// Seconds connected.
        seconds: f64,
    },
    /// Requests ([`track_requests`](crate::CallCostTracker::track_requests)).
    Requests(u64),
    /// A payment ([`track_payment_with`](crate::CallCostTracker::track_payment_with)).
    Payment(Payment),
}

impl Usage {
    /// The usage as the hot path carries it, its quantities checked.
    pub(crate) fn measure(self) -> Result<Measure> {
        match self {
            Usage::Tokens(t) => Measure::tokens(t),
            Usage::Characters(n) => Measure::characters(n),
            Usage::AudioSeconds(s) => Measure::seconds(UsageKind::AudioSeconds, s),
            Usage::CallSeconds(s) => Measure::seconds(UsageKind::CallSeconds, s),
            Usage::RealtimeAudio {
                input_seconds,
                output_seconds,
            } => Ok(Measure::Pair([
                (
                    UsageKind::AudioInputSeconds,
                    millis(UsageKind::AudioInputSeconds, input_seconds)?,
                ),
                (
                    UsageKind::AudioOutputSeconds,
                    millis(UsageKind::AudioOutputSeconds, output_seconds)?,
                ),
            ])),
            Usage::Participants {
                participants,
                seconds,
            } => {
                if participants > crate::base::usage::MAX_PARTICIPANTS {
                    return Err(Error::InvalidQuantity {
                        what: "participants",
                        reason: "more than MAX_PARTICIPANTS",
                    });
                }
                let ms = millis(UsageKind::ParticipantSeconds, seconds)?;
                Ok(Measure::Quantity(
                    UsageKind::ParticipantSeconds,
                    ms * u64::from(participants),
                ))
            }
            Usage::Requests(n) => Measure::requests(n),
            Usage::Payment(p) => Measure::payment(p.amount().to_nanos()?, p.flags()),
        }
    }
}

/// One priced part of a quote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct QuoteLine {
    /// The kind of usage.
    pub kind: UsageKind,
    /// The quantity, in the kind's unit (seconds for time).
    pub quantity: Decimal,
    /// The unit of `quantity` and `billed`.
    pub unit: Unit,
    /// The quantity billed once the billing increment and minimum are applied.
    pub billed: Decimal,
    /// The rate or fee rule, as a person reads it (`$0.014 per minute`, `3.4% + $0.30`).
    pub price: String,
    /// The billing increment, as a person reads it, if there is one.
    pub increment: Option<String>,
    /// The kind whose rate priced this one, when the model has no rate of its own for it (reasoning
    /// tokens at the output rate).
    pub priced_as: Option<UsageKind>,
    /// Above which prompt size the rate applies, when a context-length tier priced it.
    pub tier_above_prompt_tokens: Option<u64>,
    /// The cost, exact to the nano-dollar.
    pub cost: Usd,
}

/// What a usage costs under one catalog entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Quote {
    /// The provider of the entry that priced it.
    pub provider: String,
    /// The model of the entry that priced it (the catalog's name, whatever name was asked for).
    pub model: String,
    /// The entry's category.
    pub category: Category,
    /// Where the price comes from.
    pub source: String,
    /// How the price entered the catalog.
    pub origin: PriceOrigin,
    /// When the price was last checked against its source.
    pub checked: Option<NaiveDate>,
    /// The priced parts.
    pub lines: Vec<QuoteLine>,
    /// Kinds of the usage that the entry has no rate for (not included in `total`).
    pub missing: Vec<UsageKind>,
    /// The total.
    pub total: Usd,
}

fn quantity(kind: UsageKind, base: u128) -> Decimal {
    let d = Decimal::from_i128_with_scale(i128::try_from(base).unwrap_or(i128::MAX), 0);
    match kind.unit() {
        Unit::Second => d / Decimal::ONE_THOUSAND,
        _ => d,
    }
}

fn describe_increment(inc: &super::Increment) -> String {
    let step = |v: u64| match inc.unit {
        Unit::Second => format!("{} s", Decimal::from(v) / Decimal::ONE_THOUSAND),
        unit => format!("{v} {unit}s"),
    };
    if inc.minimum > 0 {
        format!(
            "steps of {}, at least {}",
            step(inc.step),
            step(inc.minimum)
        )
    } else {
        format!("steps of {}", step(inc.step))
    }
}

impl Catalog {
    /// What `usage` of `provider`/`model` costs at `at`, as the first usage of a new call: each part
    /// with its rate, increment and cost, and the source of the price. Names are matched as track calls
    /// match them.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownModel`] (with suggestions) or [`Error::NoPriceInForce`] when there is no price;
    /// the track calls' errors for invalid quantities; [`Error::AmountOutOfRange`] for absurd costs.
    pub fn quote(
        &self,
        provider: &str,
        model: &str,
        usage: Usage,
        at: DateTime<Utc>,
    ) -> Result<Quote> {
        let measure = usage.measure()?;
        let entry = match self.find_at(provider, model, at.timestamp_millis()) {
            Lookup::Found(i) => &self.entries[i as usize],
            Lookup::NotInForce => {
                return Err(Error::NoPriceInForce {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                    at,
                });
            }
            Lookup::Unknown => {
                return Err(Error::UnknownModel {
                    provider: provider.to_owned(),
                    model: model.to_owned(),
                    suggestions: self.suggest(provider, model),
                });
            }
        };
        let p = &entry.price;
        let mut quote = Quote {
            provider: p.provider.clone(),
            model: p.model.clone(),
            category: p.category,
            source: p.source.clone(),
            origin: p.origin,
            checked: p.checked,
            lines: Vec::new(),
            missing: Vec::new(),
            total: Usd::ZERO,
        };
        let mut total: i64 = 0;
        if let Measure::Payment(amount, flags) = measure {
            match (&entry.fee, &p.fee) {
                (Some(calc), Some(rule)) => {
                    let cost = calc.fee_nanos(amount, flags)?;
                    total = cost;
                    quote.lines.push(QuoteLine {
                        kind: UsageKind::Transactions,
                        quantity: Decimal::ONE,
                        unit: Unit::Transaction,
                        billed: Decimal::ONE,
                        price: rule.to_string(),
                        increment: None,
                        priced_as: None,
                        tier_above_prompt_tokens: None,
                        cost: Usd::from_nanos(cost),
                    });
                }
                _ => quote.missing.push(UsageKind::Transactions),
            }
            quote.total = Usd::from_nanos(total);
            return Ok(quote);
        }
        let tier = match &measure {
            Measure::Tokens(t) => entry
                .tiers
                .iter()
                .rev()
                .find(|(above, _)| t.prompt() > *above),
            _ => None,
        };
        let cumulative = Tally::default();
        let mut parts = Vec::new();
        measure.for_each(|kind, qty| parts.push((kind, qty)));
        for (kind, qty) in parts {
            if qty == 0 {
                continue;
            }
            let own = |k: UsageKind| {
                tier.and_then(|(above, lines)| lines[k.index()].as_ref().map(|l| (l, Some(*above))))
                    .or_else(|| entry.lines[k.index()].as_ref().map(|l| (l, None)))
            };
            let (found, priced_as) = match own(kind) {
                Some(found) => (Some(found), None),
                None => match fallback(kind).and_then(|k| own(k).map(|f| (f, k))) {
                    Some((found, k)) => (Some(found), Some(k)),
                    None => (None, None),
                },
            };
            let Some((line, above)) = found else {
                quote.missing.push(kind);
                continue;
            };
            let rate_kind = priced_as.unwrap_or(kind);
            let rate = match above {
                Some(a) => p
                    .context_tiers
                    .iter()
                    .find(|t| t.above_prompt_tokens == a)
                    .and_then(|t| t.rates.iter().find(|(k, _)| *k == rate_kind)),
                None => p.rates.iter().find(|(k, _)| *k == rate_kind),
            }
            .map(|(_, r)| r.to_string())
            .unwrap_or_default();
            let cost = line.cost(qty, &cumulative)?;
            total = total.checked_add(cost).ok_or(Error::AmountOutOfRange)?;
            let billed = match line.increment {
                Some(inc) => inc.quantize(qty),
                None => u128::from(qty),
            };
            quote.lines.push(QuoteLine {
                kind,
                quantity: quantity(kind, u128::from(qty)),
                unit: kind.unit(),
                billed: quantity(kind, billed),
                price: rate,
                increment: line.increment.as_ref().map(describe_increment),
                priced_as,
                tier_above_prompt_tokens: above,
                cost: Usd::from_nanos(cost),
            });
        }
        quote.total = Usd::from_nanos(total);
        Ok(quote)
    }
}

/// One turn of a speech-to-speech session, as [`Catalog::quote_turns`] repeats it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Turn {
    /// Text tokens sent with every turn: instructions, tool definitions.
    pub instructions: u64,
    /// Audio tokens the user speaks in a turn.
    pub user_audio: u64,
    /// Text tokens the model writes in a turn.
    pub output_text: u64,
    /// Audio tokens the model speaks in a turn.
    pub output_audio: u64,
    /// Whether what a turn sends again (the instructions and the earlier turns) is read from the
    /// provider's prompt cache, at the cached rates; otherwise it is billed in full every turn.
    pub cached_context: bool,
}

impl Turn {
    /// A turn of `user_audio` tokens heard and `output_audio` spoken, after `instructions` text
    /// tokens; no text written, nothing cached.
    pub fn new(instructions: u64, user_audio: u64, output_audio: u64) -> Self {
        Turn {
            instructions,
            user_audio,
            output_audio,
            ..Turn::default()
        }
    }

    /// The model also writes `tokens` text tokens a turn (a transcript, tool calls).
    pub fn with_output_text(mut self, tokens: u64) -> Self {
        self.output_text = tokens;
        self
    }

    /// What is sent again is read from the prompt cache.
    pub fn with_cached_context(mut self) -> Self {
        self.cached_context = true;
        self
    }

    /// The usage of turn `k` (from 1): everything before it again, and its own audio.
    fn usage(&self, k: u64) -> Option<TokenUsage> {
        let earlier = k - 1;
        let old_text = self
            .instructions
            .checked_add(earlier.checked_mul(self.output_text)?)?;
        let old_audio = earlier.checked_mul(self.user_audio.checked_add(self.output_audio)?)?;
        let (text, cached_text, audio, cached_audio) = match (self.cached_context, k) {
            // The first turn's instructions are new: nothing is cached yet.
            (true, 1) => (old_text, 0, self.user_audio, 0),
            (true, _) => (0, old_text, self.user_audio, old_audio),
            (false, _) => (old_text, 0, old_audio.checked_add(self.user_audio)?, 0),
        };
        Some(
            TokenUsage::new(text, self.output_text)
                .with_cached_input(cached_text)
                .with_audio(audio, self.output_audio)
                .with_cached_audio_input(cached_audio),
        )
    }
}

/// One turn of a quoted session: its usage, its cost, and the session's cost up to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TurnCost {
    /// The turn, from 1.
    pub turn: u32,
    /// What the turn is billed for: the earlier turns again, and its own tokens.
    pub usage: TokenUsage,
    /// The turn's cost.
    pub cost: Usd,
    /// The session's cost up to and including this turn.
    pub session_total: Usd,
}

impl Catalog {
    /// Most turns [`quote_turns`](Self::quote_turns) quotes.
    pub const MAX_QUOTED_TURNS: u32 = 10_000;

    /// How a speech-to-speech session's cost grows with its turns when every response is billed for
    /// the whole conversation so far (OpenAI's realtime models, Gemini Live): turn `k` sends the
    /// instructions, the `k − 1` turns before it (their user audio, and the model's audio and text)
    /// and its own user audio, and is billed for all of it, so the cost of a session grows with the
    /// square of its turns. Each turn is priced as [`quote`](Self::quote) prices it.
    ///
    /// # Errors
    ///
    /// As [`quote`](Self::quote); [`Error::InvalidQuantity`] for more than
    /// [`MAX_QUOTED_TURNS`](Self::MAX_QUOTED_TURNS) turns or token counts past `u64::MAX`.
    pub fn quote_turns(
        &self,
        provider: &str,
        model: &str,
        turn: Turn,
        turns: u32,
        at: DateTime<Utc>,
    ) -> Result<Vec<TurnCost>> {
        if turns > Self::MAX_QUOTED_TURNS {
            return Err(Error::InvalidQuantity {
                what: "turns",
                reason: "more than 10 000 turns",
            });
        }
        let mut session = Usd::ZERO;
        let mut out = Vec::with_capacity(turns as usize);
        for k in 1..=turns {
            let usage = turn.usage(u64::from(k)).ok_or(Error::InvalidQuantity {
                what: "turns",
                reason: "the session's token count passes u64::MAX",
            })?;
            let cost = self.quote(provider, model, Usage::Tokens(usage), at)?.total;
            session = session.checked_add(cost).ok_or(Error::AmountOutOfRange)?;
            out.push(TurnCost {
                turn: k,
                usage,
                cost,
                session_total: session,
            });
        }
        Ok(out)
    }
}
