//! [`CallCostTracker`]: the handle the pipeline tracks usage through.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use crate::adapters::{AnthropicUsage, GeminiUsage, OpenAiUsage, RealtimeUsage};
use crate::base::checked::millis;
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::stats::Counters;
use crate::base::sync::lock;
use crate::base::usage::{MAX_PARTICIPANTS, Measure, TokenUsage, UsageKind};
use crate::call::info::MAX_NAME_LEN;
use crate::call::info::{CallSummary, Outcome, Tracked};
use crate::call::state::CallState;
use crate::control::budget::Verdict;
use crate::ident::Agent;
use crate::ident::CallStatus;
use crate::persist::message::NO_AGENT;
use crate::pricing::{Payment, Route};

/// Ends the call as abandoned when the last handle goes without `finalize`.
struct Handle {
    state: Arc<CallState>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self
            .state
            .end(
                CallStatus::Abandoned,
                Some("tracker dropped without finalize".into()),
            )
            .is_ok()
        {
            Counters::bump(&self.state.counters().calls_abandoned);
        }
    }
}

/// Tracks the cost of one call. Cheap to clone; clones track the same call and may be used from several
/// threads or tasks at once.
///
/// Every `track_*` method prices the usage from the meter's catalog, adds it to the call's running totals,
/// hands one event to the background writer and returns the cost. None of them does I/O, takes a lock,
/// allocates (for a known model) or waits: see the crate docs for the queue policy.
///
/// When the last clone is dropped without [`finalize`](Self::finalize), the call is recorded as
/// `abandoned`, with every cost it incurred.
#[derive(Clone)]
pub struct CallCostTracker {
    handle: Arc<Handle>,
    agent: Option<Arc<Agent>>,
}

/// Bounds on what one track call accepts, and on what one call may cost.
impl CallCostTracker {
    /// The longest provider, model or agent name accepted, in bytes.
    pub const MAX_NAME_LEN: usize = crate::call::info::MAX_NAME_LEN;
    /// The most tokens of one kind a single track call accepts.
    pub const MAX_TOKENS_PER_TRACK: u64 = crate::base::usage::MAX_TOKENS_PER_TRACK;
    /// The most characters a single track call accepts.
    pub const MAX_CHARACTERS_PER_TRACK: u64 = crate::base::usage::MAX_CHARACTERS_PER_TRACK;
    /// The most seconds a single track call accepts (one day).
    pub const MAX_SECONDS_PER_TRACK: f64 = crate::base::usage::MAX_SECONDS_PER_TRACK;
    /// The most participants a single track call accepts.
    pub const MAX_PARTICIPANTS: u32 = crate::base::usage::MAX_PARTICIPANTS;
    /// The largest cost one event may carry, and the largest payment one track call may record:
    /// $1,000,000. A usage priced above it is recorded unpriced ([`Error::CostOverflow`]); a payment above
    /// it is refused ([`Error::InvalidQuantity`]).
    pub const MAX_EVENT_COST: Usd = crate::base::money::MAX_EVENT_COST;
    /// The largest total cost, and the largest revenue, one call may record in one process: $10,000,000.
    /// Usage that would take the call past it is recorded unpriced ([`Error::CallCostOutOfRange`]), so a
    /// call's running total never wraps and a cutoff stays a cutoff. With it, `SUM()` over one call's rows
    /// stays exact for 900 starts of the same call id, and a sum over many calls (a user's month, the
    /// platform) stays exact up to `i64::MAX` nano-dollars, $9,223,372,036.85 (922 calls at the maximum).
    pub const MAX_CALL_COST: Usd = crate::base::money::MAX_CALL_COST;
}

impl fmt::Debug for CallCostTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallCostTracker")
            .field("call_id", &self.call_id())
            .field("agent", &self.agent.as_ref().map(|a| &a.name))
            .field("total", &self.total())
            .finish()
    }
}

impl CallCostTracker {
    pub(crate) fn new(state: Arc<CallState>) -> Self {
        CallCostTracker {
            handle: Arc::new(Handle { state }),
            agent: None,
        }
    }

    pub(crate) fn state(&self) -> &CallState {
        &self.handle.state
    }

    fn record(&self, provider: &str, model: &str, measure: Result<Measure>) -> Result<Tracked> {
        self.state()
            .record(self.agent.as_ref(), provider, model, measure)
    }

    /// As `record`, through this handle's agent; `estimated` marks an abandoned reservation.
    pub(crate) fn record_as(
        &self,
        provider: &str,
        model: &str,
        measure: Result<Measure>,
        estimated: bool,
    ) -> Result<Tracked> {
        self.state().record_as(
            self.agent.as_ref(),
            provider,
            model,
            measure,
            (estimated, 0),
        )
    }

    /// The call id.
    pub fn call_id(&self) -> &str {
        &self.state().ident.call_id
    }

    /// The agent this handle tracks for, if it came from [`agent`](Self::agent).
    pub fn agent_name(&self) -> Option<&str> {
        self.agent.as_deref().map(|a| &*a.name)
    }

    /// Where the call stands against its budget now (its running total, and its age for a maximum
    /// duration).
    pub fn verdict(&self) -> Verdict {
        let state = self.state();
        state
            .budget
            .verdict(state.totals.total(), state.ident.elapsed_ms())
    }

    /// The call's running total.
    pub fn total(&self) -> Usd {
        Usd::from_nanos(self.state().totals.total())
    }

    /// A handle for one agent of a multi-agent session: usage tracked through it is attributed to `name`
    /// in the events and in [`CallSummary::by_agent`]. Call it once per agent (it allocates), then track
    /// through the handle.
    ///
    /// # Errors
    ///
    /// [`Error::NameTooLong`] for a name of more than [`CallCostTracker::MAX_NAME_LEN`](crate::CallCostTracker::MAX_NAME_LEN) bytes (nothing is recorded: track
    /// through the call's own handle, or give a shorter name).
    pub fn agent(&self, name: &str) -> Result<CallCostTracker> {
        if name.len() > MAX_NAME_LEN {
            return Err(Error::NameTooLong {
                what: "agent",
                len: name.len(),
                max: MAX_NAME_LEN,
            });
        }
        let mut agents = lock(self.state().ident.agents.get_or_init(Box::default));
        let agent = match agents.iter().find(|a| &*a.name == name) {
            Some(a) => Arc::clone(a),
            None => {
                let a = Arc::new(Agent {
                    index: u16::try_from(agents.len())
                        .ok()
                        .filter(|i| *i < NO_AGENT)
                        .unwrap_or(NO_AGENT),
                    name: name.into(),
                    total: AtomicI64::new(0),
                });
                agents.push(Arc::clone(&a));
                a
            }
        };
        Ok(CallCostTracker {
            handle: Arc::clone(&self.handle),
            agent: Some(agent),
        })
    }

    /// Text-to-speech: `characters` synthesised by `provider`'s `model`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for more than [`MAX_CHARACTERS_PER_TRACK`](crate::CallCostTracker::MAX_CHARACTERS_PER_TRACK)
    /// (nothing recorded); [`Error::UnknownModel`], [`Error::MissingRate`] and [`Error::CallFinalized`]
    /// with the usage recorded (see [`Error::is_recorded`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let (meter, _guard) = callmeter::Meter::builder().path(dir.path().join("c.db")).open()?;
    /// let call = meter.start_call(callmeter::CallInfo::new("call-1"))?;
    /// let t = call.track_tts("elevenlabs", "eleven_turbo_v2_5", 2_000)?;
    /// assert_eq!(t.cost.to_string(), "$0.3");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn track_tts(&self, provider: &str, model: &str, characters: u64) -> Result<Tracked> {
        self.record(provider, model, Measure::characters(characters))
    }

    /// Speech-to-text: `audio_seconds` of audio transcribed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for NaN, infinite, negative or more than
    /// [`MAX_SECONDS_PER_TRACK`](crate::CallCostTracker::MAX_SECONDS_PER_TRACK) seconds; otherwise as
    /// [`track_tts`](Self::track_tts).
    pub fn track_stt(&self, provider: &str, model: &str, audio_seconds: f64) -> Result<Tracked> {
        self.record(
            provider,
            model,
            Measure::seconds(UsageKind::AudioSeconds, audio_seconds),
        )
    }

    /// A model request's tokens.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for more than [`MAX_TOKENS_PER_TRACK`](crate::CallCostTracker::MAX_TOKENS_PER_TRACK) of
    /// one kind; otherwise as [`track_tts`](Self::track_tts).
    pub fn track_inference(
        &self,
        provider: &str,
        model: &str,
        tokens: TokenUsage,
    ) -> Result<Tracked> {
        self.record(provider, model, Measure::tokens(tokens))
    }

    /// Telephony: `call_seconds` more of the call (the model names the direction, e.g. `outbound-us`).
    /// Billing increments apply to the call's cumulative duration, so tracking in parts bills the same as
    /// tracking once at the end.
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt).
    pub fn track_duration(
        &self,
        provider: &str,
        model: &str,
        call_seconds: f64,
    ) -> Result<Tracked> {
        self.record(
            provider,
            model,
            Measure::seconds(UsageKind::CallSeconds, call_seconds),
        )
    }

    /// Telephony: `call_seconds` more of one leg of the call. A leg is one connection the provider
    /// bills on its own (Twilio: one Call SID), numbered by the caller; billing increments round each
    /// leg's cumulative duration apart from the others, so a two-leg call bills as two calls (two legs
    /// of 1 min 20 s at Twilio are two calls of 2 minutes, where one leg of 2 min 40 s is 3 minutes).
    /// Leg 0 is the call's own: [`track_duration`](Self::track_duration).
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt).
    pub fn track_duration_of_leg(
        &self,
        provider: &str,
        model: &str,
        leg: u8,
        call_seconds: f64,
    ) -> Result<Tracked> {
        self.state().record_as(
            self.agent.as_ref(),
            provider,
            model,
            Measure::seconds(UsageKind::CallSeconds, call_seconds),
            (false, leg),
        )
    }

    /// A session whose price charges a minimum when it starts (see
    /// [`Increment::charged_at_start`](crate::pricing::Increment::charged_at_start)) has started:
    /// the minimum is recorded now, and the session's usage tracked after it is credited against
    /// it. A second start of the same session costs nothing; so does the start of a session whose
    /// price has no start charge.
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt).
    pub fn track_session_start(&self, provider: &str, model: &str) -> Result<Tracked> {
        let catalog = &self.state().ident.catalog;
        let kind = catalog
            .get(provider, model)
            .and_then(|p| {
                p.increments()
                    .iter()
                    .find(|(_, i)| i.is_charged_at_start())
                    .map(|(k, _)| *k)
            })
            .unwrap_or(UsageKind::CallSeconds);
        self.record(provider, model, Measure::seconds(kind, 0.0))
    }

    /// Telephony by destination: `call_seconds` more of a call leg of `provider`'s `product`
    /// (`voice`) on `route`, priced by the catalog's [`Destinations`](crate::pricing::Destinations)
    /// table for them — the group of the longest prefix of the number dialled, the country's
    /// default, the inbound number type, or SIP — per started minute of the leg's cumulative
    /// duration, as [`track_duration`](Self::track_duration). Without a table for `provider` and
    /// `product`, `product` is priced as a model of its own (a flat rate). One lookup in the table
    /// (a hash per digit at most, no allocation) before the usual track call.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownDestination`] when the table has nothing for `route`: the usage is recorded
    /// under `product:unknown` — unpriced, or at that entry's rate if the catalog has one (a
    /// fallback). Otherwise as [`track_stt`](Self::track_stt).
    pub fn track_leg(
        &self,
        provider: &str,
        product: &str,
        route: Route<'_>,
        call_seconds: f64,
    ) -> Result<Tracked> {
        let measure = || Measure::seconds(UsageKind::CallSeconds, call_seconds);
        let Some(table) = self.state().ident.catalog.routes_of(provider, product) else {
            return self.record(provider, product, measure());
        };
        if let Some(model) = table.resolve(route) {
            return self.record(provider, model, measure());
        }
        let unknown = format!("{product}:unknown");
        let priced = match self.record(provider, &unknown, measure()) {
            Ok(_) => true,
            Err(Error::UnknownModel { .. } | Error::NoPriceInForce { .. }) => false,
            Err(other) => return Err(other),
        };
        Err(Error::UnknownDestination {
            provider: provider.to_owned(),
            product: product.to_owned(),
            route: route.to_string(),
            priced,
        })
    }

    /// A realtime speech model's audio: seconds heard and seconds spoken. Tokens of the same session go to
    /// [`track_inference`](Self::track_inference).
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt).
    pub fn track_realtime_audio(
        &self,
        provider: &str,
        model: &str,
        input_seconds: f64,
        output_seconds: f64,
    ) -> Result<Tracked> {
        let measure = millis(UsageKind::AudioInputSeconds, input_seconds).and_then(|i| {
            millis(UsageKind::AudioOutputSeconds, output_seconds).map(|o| {
                Measure::Pair([
                    (UsageKind::AudioInputSeconds, i),
                    (UsageKind::AudioOutputSeconds, o),
                ])
            })
        });
        self.record(provider, model, measure)
    }

    /// A media room: `participants` connected for `seconds` (billed as participant-time).
    ///
    /// # Errors
    ///
    /// As [`track_stt`](Self::track_stt), and [`Error::InvalidQuantity`] for more than
    /// [`MAX_PARTICIPANTS`](crate::CallCostTracker::MAX_PARTICIPANTS).
    pub fn track_participants(
        &self,
        provider: &str,
        model: &str,
        participants: u32,
        seconds: f64,
    ) -> Result<Tracked> {
        let measure = if participants > MAX_PARTICIPANTS {
            Err(Error::InvalidQuantity {
                what: "participants",
                reason: "more than MAX_PARTICIPANTS",
            })
        } else {
            millis(UsageKind::ParticipantSeconds, seconds).map(|ms| {
                Measure::Quantity(UsageKind::ParticipantSeconds, ms * u64::from(participants))
            })
        };
        self.record(provider, model, measure)
    }

    /// A payment of `amount` charged to the customer for this call: the processor's fee (`provider`'s payment method `model`, e.g. `stripe` /
    /// `card-not-present`) is the cost, and the amount is added to the call's revenue.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] for an amount that is not above zero, [`Error::AmountOutOfRange`] for
    /// one beyond nano-dollar range; otherwise as [`track_tts`](Self::track_tts).
    pub fn track_payment(&self, provider: &str, model: &str, amount: Usd) -> Result<Tracked> {
        self.track_payment_with(provider, model, Payment::new(amount))
    }

    /// A payment with its surcharges (a card issued abroad, a currency conversion); otherwise as
    /// [`track_payment`](Self::track_payment).
    ///
    /// # Errors
    ///
    /// As [`track_payment`](Self::track_payment).
    pub fn track_payment_with(
        &self,
        provider: &str,
        model: &str,
        payment: Payment,
    ) -> Result<Tracked> {
        let measure = payment
            .amount()
            .to_nanos()
            .and_then(|nanos| Measure::payment(nanos, payment.flags()));
        self.record(provider, model, measure)
    }

    /// An OpenAI Chat Completions or Responses `usage` object for `model` (provider `openai`), each token
    /// billed once (see [`OpenAiUsage::to_token_usage`]).
    ///
    /// # Errors
    ///
    /// As [`track_inference`](Self::track_inference); [`Error::InvalidQuantity`] for an inconsistent
    /// usage object (nothing recorded).
    pub fn track_openai_usage(&self, model: &str, usage: &OpenAiUsage) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("openai", model, measure)
    }

    /// An Anthropic Messages `usage` object for `model` (provider `anthropic`).
    ///
    /// # Errors
    ///
    /// As [`track_openai_usage`](Self::track_openai_usage).
    pub fn track_anthropic_usage(&self, model: &str, usage: &AnthropicUsage) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("anthropic", model, measure)
    }

    /// An OpenAI Realtime `response.done` usage for `model` (provider `openai`).
    ///
    /// # Errors
    ///
    /// As [`track_openai_usage`](Self::track_openai_usage).
    pub fn track_openai_realtime_usage(
        &self,
        model: &str,
        usage: &RealtimeUsage,
    ) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("openai", model, measure)
    }

    /// A Gemini `usageMetadata` (a Live API turn, or a `generateContent` response) for `model`
    /// (provider `google`). Each Live API turn reports the whole context again, and is billed so:
    /// track every turn.
    ///
    /// # Errors
    ///
    /// As [`track_openai_usage`](Self::track_openai_usage).
    pub fn track_gemini_usage(&self, model: &str, usage: &GeminiUsage) -> Result<Tracked> {
        let measure = usage.to_token_usage().and_then(Measure::tokens);
        self.record("google", model, measure)
    }

    /// `requests` API requests priced per request.
    ///
    /// # Errors
    ///
    /// As [`track_tts`](Self::track_tts); [`Error::InvalidQuantity`] for more than
    /// [`MAX_CHARACTERS_PER_TRACK`](crate::CallCostTracker::MAX_CHARACTERS_PER_TRACK) requests.
    pub fn track_requests(&self, provider: &str, model: &str, requests: u64) -> Result<Tracked> {
        self.record(provider, model, Measure::requests(requests))
    }

    /// Ends the call and returns its exact summary. Failed calls keep every cost.
    ///
    /// Track calls running on other threads at the same moment either make it into the summary or come
    /// back with [`Error::CallFinalized`] (their usage still recorded); none is half counted.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyFinalized`] on a second call; nothing is counted twice.
    pub fn finalize(&self, outcome: Outcome) -> Result<CallSummary> {
        let (status, reason) = match outcome {
            Outcome::Completed => (CallStatus::Completed, None),
            Outcome::Failed(r) => (CallStatus::Failed, Some(r)),
        };
        let summary = self.state().end(status, reason)?;
        Counters::bump(&self.state().counters().calls_finalized);
        Ok(summary)
    }
}
