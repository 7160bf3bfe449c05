//! Prices: rates per usage kind, billing increments, payment fees, and the catalog that holds them.
//!
//! A [`Rate`] is a price for a stated number of units (`$0.15` per 1 000 characters); its constructors
//! name the unit and the denominator, so a per-thousand price cannot be taken for a per-unit one. A
//! [`ModelPrice`] gathers the rates of one provider's model; a [`Catalog`] indexes them for lookups that
//! allocate nothing.
//!
//! # How a cost is computed
//!
//! Each rate is turned, once, into an exact fraction of nano-dollars per base unit (token, character,
//! millisecond). A quantity's cost is that fraction times the quantity, rounded once to the nano-dollar
//! (half to even). Where a rate has a billing [`Increment`] (Twilio's per-started-minute) or its
//! per-unit price is not a whole number of nano-dollars (a per-minute price billed by the millisecond),
//! the call's **cumulative** quantity is priced instead, and each event costs the difference it makes: a
//! call's billed total is then exactly the price of its whole usage, however many times it was tracked.
//!
//! # Layout
//!
//! [`rate`](Rate) and increments, [`fee`](FeeRule)s and payments, one [`ModelPrice`] (`model`), the
//! catalog and its builder (`catalog`), the lines compiled for the hot path (`line`: exact fractions,
//! fee arithmetic, the `Running` quantities increments apply to), and the ways prices come in or go
//! out: `builtin`, catalog `file`s, the `litellm` import, `names` (matching and suggestions), `quote`;
//! and telephony by destination (`destination`: prefix tables that pick an entry per call leg;
//! `twilio`: Twilio's Voice prices as its Pricing API returns them).
//!
//! Layer: above `base` only. The call's cumulative quantities are its own (`call::cumulative`); this
//! module prices through the `Running` trait, so it never imports the hot path.

pub(crate) mod builder;
mod builtin;
pub(crate) mod catalog;
mod destination;
mod fee;
mod file;
mod line;
mod listing;
mod litellm;
pub(crate) mod model;
mod names;
mod quote;
pub(crate) mod rate;
mod twilio;

pub use listing::Listed;
pub use quote::{Quote, QuoteLine, Turn, TurnCost, Usage};

pub use litellm::ImportReport;

// At the crate root (one public path per name); named here for the crate's own paths.
pub(crate) use builder::CatalogBuilder;
pub(crate) use catalog::Catalog;
pub use destination::{Destinations, NumberType, Route};
pub use fee::{FeeRule, Payment};
pub use model::{ContextTier, FixedCost, PriceOrigin, Subscription, SubscriptionTier};
pub use rate::Increment;

pub(crate) use model::ModelPrice;
pub(crate) use rate::Rate;
pub use twilio::{TwilioInboundPrice, TwilioOutboundPrice, TwilioVoiceCountry};

pub(crate) use catalog::*;
pub(crate) use line::*;
pub(crate) use names::{strip_date, strip_provider};
