//! Telephony objects: Twilio's call status callback and its Call resource. Twilio sends numbers as
//! text (`"80"`, `"-0.03000"`); these types keep the text and parse it when asked, so a body that
//! deserialises is never lost to a number it could not read.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::money::Usd;

fn whole_seconds(text: &str, what: &'static str) -> Result<f64> {
    text.trim()
        .parse::<u32>()
        .map(f64::from)
        .map_err(|_| Error::InvalidQuantity {
            what,
            reason: "not a whole number of seconds",
        })
}

/// The billed part of a Twilio call status callback: `CallDuration`, whole seconds, sent as text.
/// Twilio posts the callback form-encoded; any form extractor that uses serde (axum's `Form`,
/// actix-web's `web::Form`, `serde_urlencoded`) reads it into this type, other fields ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TwilioStatusCallback {
    /// Seconds the call lasted, as Twilio sends it (`"80"`). Only the `completed` callback has it.
    #[serde(rename = "CallDuration")]
    pub call_duration: String,
}

impl TwilioStatusCallback {
    /// The call's duration in seconds, for
    /// [`CallCostTracker::track_duration`](crate::CallCostTracker::track_duration).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when `CallDuration` is not a whole number of seconds.
    pub fn seconds(&self) -> Result<f64> {
        whole_seconds(&self.call_duration, "CallDuration")
    }
}

/// The billed part of Twilio's Call resource, as `GET /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json`
/// returns it once a call has ended: its duration, and the price Twilio charged, to reconcile
/// callmeter's figure with Twilio's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioCall {
    /// The call's SID (`CA…`).
    pub sid: String,
    /// `queued`, `ringing`, `in-progress`, `completed`, `busy`, `failed`, `no-answer`, `canceled`.
    pub status: String,
    /// `inbound`, `outbound-api` or `outbound-dial`: which rate applies.
    pub direction: String,
    /// Seconds the call lasted, as text; `null` until the call has ended.
    pub duration: Option<String>,
    /// What Twilio charged, as negative text (`"-0.03000"`); `null` until Twilio has priced the call,
    /// which can be minutes after it ends.
    pub price: Option<String>,
    /// The currency of `price` (`"USD"`).
    pub price_unit: Option<String>,
    /// The number called (E.164), or the client or SIP address.
    pub to: Option<String>,
    /// When the call started, Twilio's way (`Tue, 31 Aug 2010 20:36:29 +0000`); `null` until it
    /// has.
    pub start_time: Option<String>,
    /// When the resource was created, Twilio's way.
    pub date_created: Option<String>,
}

impl TwilioCall {
    /// The call's duration in seconds, for
    /// [`CallCostTracker::track_duration`](crate::CallCostTracker::track_duration).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when the call has no duration yet (it has not ended) or the
    /// duration is not a whole number of seconds.
    pub fn seconds(&self) -> Result<f64> {
        let text = self.duration.as_deref().ok_or(Error::InvalidQuantity {
            what: "duration",
            reason: "the call has not ended: Twilio reports no duration yet",
        })?;
        whole_seconds(text, "duration")
    }

    /// What Twilio charged for the call, as a positive amount; `None` until Twilio has priced it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAmount`] when the price is not a decimal number; [`Error::UnknownName`] when
    /// it is in a currency other than US dollars (callmeter keeps every amount in USD).
    pub fn billed(&self) -> Result<Option<Usd>> {
        let Some(text) = self.price.as_deref() else {
            return Ok(None);
        };
        let unit = self.price_unit.as_deref().unwrap_or("USD");
        if !unit.eq_ignore_ascii_case("USD") {
            return Err(Error::UnknownName {
                what: "currency (callmeter keeps amounts in USD)",
                name: unit.to_owned(),
            });
        }
        let price = Usd::from_str(text)?;
        Ok(Some(Usd::new(price.as_decimal().abs())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_in_progress_has_no_duration_and_no_price_yet() {
        let call = TwilioCall {
            status: "in-progress".into(),
            ..TwilioCall::default()
        };
        assert!(matches!(
            call.seconds(),
            Err(Error::InvalidQuantity {
                what: "duration",
                ..
            })
        ));
        assert_eq!(call.billed().ok(), Some(None));
    }

    #[test]
    fn a_price_in_another_currency_or_not_a_number_is_refused() {
        let euros = TwilioCall {
            price: Some("-0.02".into()),
            price_unit: Some("EUR".into()),
            ..TwilioCall::default()
        };
        assert!(matches!(euros.billed(), Err(Error::UnknownName { .. })));
        let garbled = TwilioCall {
            price: Some("about a cent".into()),
            price_unit: Some("USD".into()),
            ..TwilioCall::default()
        };
        assert!(matches!(garbled.billed(), Err(Error::InvalidAmount { .. })));
    }
}
