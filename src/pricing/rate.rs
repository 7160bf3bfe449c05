//! Rates and billing increments: what one unit of usage costs, and how a quantity is rounded before it is priced.

use std::fmt;

use serde::Serialize;

use crate::base::money::Usd;
use crate::base::usage::Unit;

/// A price for a stated number of units.
///
/// # Examples
///
/// ```
/// use callmeter::{Rate, Usd};
///
/// let turbo = Rate::per_thousand_characters("0.15".parse::<Usd>()?);
/// assert_eq!(turbo.to_string(), "$0.15 per 1K characters");
/// # Ok::<(), callmeter::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub(super) price: Usd,
    pub(super) per: u64,
    pub(super) unit: Unit,
}

impl Rate {
    pub(super) const fn new(price: Usd, per: u64, unit: Unit) -> Self {
        Rate { price, per, unit }
    }

    /// `price` for each token.
    pub const fn per_token(price: Usd) -> Self {
        Rate::new(price, 1, Unit::Token)
    }

    /// `price` for every thousand tokens.
    pub const fn per_thousand_tokens(price: Usd) -> Self {
        Rate::new(price, 1_000, Unit::Token)
    }

    /// `price` for every million tokens.
    pub const fn per_million_tokens(price: Usd) -> Self {
        Rate::new(price, 1_000_000, Unit::Token)
    }

    /// `price` for each character.
    pub const fn per_character(price: Usd) -> Self {
        Rate::new(price, 1, Unit::Character)
    }

    /// `price` for every thousand characters.
    pub const fn per_thousand_characters(price: Usd) -> Self {
        Rate::new(price, 1_000, Unit::Character)
    }

    /// `price` for every million characters.
    pub const fn per_million_characters(price: Usd) -> Self {
        Rate::new(price, 1_000_000, Unit::Character)
    }

    /// `price` for each second.
    pub const fn per_second(price: Usd) -> Self {
        Rate::new(price, 1, Unit::Second)
    }

    /// `price` for each minute.
    pub const fn per_minute(price: Usd) -> Self {
        Rate::new(price, 60, Unit::Second)
    }

    /// `price` for each hour.
    pub const fn per_hour(price: Usd) -> Self {
        Rate::new(price, 3_600, Unit::Second)
    }

    /// The price.
    pub const fn price(&self) -> Usd {
        self.price
    }

    /// How many units the price buys (1 000 for a per-thousand rate, 60 seconds for a per-minute rate).
    pub const fn per(&self) -> u64 {
        self.per
    }

    /// The unit the rate is for.
    pub const fn unit(&self) -> Unit {
        self.unit
    }

    /// Base units (milliseconds for time) the price buys.
    pub(super) fn per_base_units(&self) -> u128 {
        match self.unit {
            Unit::Second => u128::from(self.per) * 1000,
            _ => u128::from(self.per),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.unit, self.per) {
            (Unit::Second, 60) => write!(f, "{} per minute", self.price),
            (Unit::Second, 3_600) => write!(f, "{} per hour", self.price),
            (unit, 1) => write!(f, "{} per {unit}", self.price),
            (unit, n) if n % 1_000_000 == 0 => {
                write!(f, "{} per {}M {unit}s", self.price, n / 1_000_000)
            }
            (unit, n) if n % 1_000 == 0 => write!(f, "{} per {}K {unit}s", self.price, n / 1_000),
            (unit, n) => write!(f, "{} per {n} {unit}s", self.price),
        }
    }
}

/// How a cumulative quantity is rounded before it is priced: up to a whole number of steps, and to at
/// least a minimum once anything is used.
///
/// The rounding applies to the call's cumulative quantity of that kind, not to each track call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Increment {
    pub(super) step: u64,
    pub(super) minimum: u64,
    pub(super) unit: Unit,
    /// The minimum is charged when the session starts and credited against the usage that follows.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) at_start: bool,
    /// Each track call (one request) is rounded on its own rather than the call's cumulative quantity.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) per_request: bool,
}

impl Increment {
    /// Per started minute: 1 min 20 s bills as 2 minutes (Twilio).
    pub const fn per_started_minute() -> Self {
        Increment {
            step: 60_000,
            minimum: 0,
            unit: Unit::Second,
            at_start: false,
            per_request: false,
        }
    }

    /// Per started second (Deepgram).
    pub const fn per_second() -> Self {
        Increment {
            step: 1_000,
            minimum: 0,
            unit: Unit::Second,
            at_start: false,
            per_request: false,
        }
    }

    /// Steps of `step_seconds`, with at least `minimum_seconds` billed once anything is used
    /// (e.g. 6-second billing with a 30-second minimum).
    pub const fn seconds(step_seconds: u32, minimum_seconds: u32) -> Self {
        Increment {
            step: step_seconds as u64 * 1000,
            minimum: minimum_seconds as u64 * 1000,
            unit: Unit::Second,
            at_start: false,
            per_request: false,
        }
    }

    /// Steps of `step` units of a counted kind (characters, tokens), with a minimum.
    pub const fn units(step: u64, minimum: u64, unit: Unit) -> Self {
        Increment {
            step,
            minimum,
            unit,
            at_start: false,
            per_request: false,
        }
    }

    /// The minimum is charged when the session starts
    /// ([`CallCostTracker::track_session_start`](crate::CallCostTracker::track_session_start)), before
    /// any usage, and credited against the usage that follows: a session that never runs costs the
    /// minimum, one that runs longer costs its usage alone (OpenAI bills 15 seconds when a GPT-Live
    /// WebRTC session is created, credited once it runs).
    pub const fn charged_at_start(mut self) -> Self {
        self.at_start = true;
        self
    }

    /// Each track call is one request, rounded on its own: a minimum per request (pyannote bills every
    /// request at least 20 seconds) rather than per call. The call's earlier quantities do not count.
    pub const fn each_request(mut self) -> Self {
        self.per_request = true;
        self
    }

    /// Whether each request is rounded on its own (see [`each_request`](Self::each_request)).
    pub const fn is_each_request(&self) -> bool {
        self.per_request
    }

    /// Whether the minimum is charged when the session starts (see
    /// [`charged_at_start`](Self::charged_at_start)).
    pub const fn is_charged_at_start(&self) -> bool {
        self.at_start
    }

    /// The quantity billed for a cumulative `q` base units.
    pub(super) const fn quantize(&self, q: u64) -> u128 {
        if q == 0 {
            return 0;
        }
        let step = if self.step == 0 { 1 } else { self.step as u128 };
        let up = (q as u128).div_ceil(step) * step;
        if up < self.minimum as u128 {
            self.minimum as u128
        } else {
            up
        }
    }
}

impl fmt::Display for Increment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = |ms: u64| {
            let s = rust_decimal::Decimal::from(ms) / rust_decimal::Decimal::from(1000);
            s.normalize()
        };
        match (self.unit, self.step, self.minimum) {
            (Unit::Second, 60_000, 0) if !self.per_request => f.write_str("per started minute"),
            (Unit::Second, 1_000, 0) if !self.per_request => f.write_str("per started second"),
            (Unit::Second, step, minimum) => {
                write!(f, "in steps of {} s", seconds(step))?;
                if minimum > 0 {
                    write!(f, ", at least {} s", seconds(minimum))?;
                }
                if self.at_start {
                    f.write_str(" charged at session start and credited")?;
                }
                if self.per_request {
                    f.write_str(" per request")?;
                }
                Ok(())
            }
            (unit, step, minimum) => {
                write!(f, "in steps of {step} {unit}s")?;
                if minimum > 0 {
                    write!(f, ", at least {minimum} {unit}s")?;
                }
                if self.per_request {
                    f.write_str(" per request")?;
                }
                Ok(())
            }
        }
    }
}
