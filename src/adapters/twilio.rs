//! Twilio: status callbacks and Call resources (seconds, price), the Calls list, and the daily
//! Usage Records.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate};
use serde::{Deserialize, Serialize};

use super::billed::*;
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

/// Twilio bills a completed call shorter than one second as one second; it reports its duration as
/// zero whole seconds.
fn sub_second_is_one(seconds: f64, status: Option<&str>) -> f64 {
    if seconds == 0.0 && status == Some("completed") {
        1.0
    } else {
        seconds
    }
}

/// The billed part of a Twilio call status callback: `CallDuration`, whole seconds, sent as text.
/// Twilio posts the callback form-encoded; any form extractor that uses serde (axum's `Form`,
/// actix-web's `web::Form`, `serde_urlencoded`) reads it into this type, other fields ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TwilioStatusCallback {
    /// Seconds the call lasted, as Twilio sends it (`"80"`). Only the `completed` callback has it.
    #[serde(rename = "CallDuration")]
    pub call_duration: String,
    /// The call's status (`completed`, `busy`, `no-answer` …), when the callback has it.
    #[serde(
        rename = "CallStatus",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub call_status: Option<String>,
}

impl TwilioStatusCallback {
    /// The call's duration in seconds, for
    /// [`CallCostTracker::track_duration`](crate::CallCostTracker::track_duration).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`] when `CallDuration` is not a whole number of seconds.
    ///
    /// A `completed` call that lasted less than a second (`CallDuration` `"0"`) is one second:
    /// Twilio rounds every completed sub-second call up to one second and bills it (changelog
    /// "Upcoming changes to Programmable Voice billing for outbound calls", 2021-06-14, in force
    /// from 2021-07-08).
    pub fn seconds(&self) -> Result<f64> {
        let seconds = whole_seconds(&self.call_duration, "CallDuration")?;
        Ok(sub_second_is_one(seconds, self.call_status.as_deref()))
    }
}

/// The billed part of Twilio's Call resource, as `GET /2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json`
/// returns it once a call has ended: its duration, and the price Twilio charged, to reconcile
/// callmeter's figure with Twilio's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
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
        let seconds = whole_seconds(text, "duration")?;
        Ok(sub_second_is_one(seconds, Some(&self.status)))
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

impl TwilioCall {
    /// The call's line: what Twilio charged for it, on the day it started, for the call whose id is
    /// its SID; `None` until Twilio has priced it.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] when the price is not a decimal, is in another currency without a
    /// rate, or the call has no start time Twilio's way (`Tue, 31 Aug 2010 20:36:29 +0000`).
    pub fn billed_line(&self, rate: Option<&ExchangeRate>) -> Result<Option<BilledLine>> {
        let Some(price) = self.price.as_deref() else {
            return Ok(None);
        };
        let sid = &self.sid;
        let amount = decimal(price, "twilio", sid)?.abs();
        let amount = in_usd(
            amount,
            self.price_unit.as_deref().unwrap_or("USD"),
            rate,
            "twilio",
            sid,
        )?;
        let started = self
            .start_time
            .as_deref()
            .or(self.date_created.as_deref())
            .ok_or_else(|| bad("twilio", sid, "no start_time"))?;
        let day = DateTime::parse_from_rfc2822(started)
            .map_err(|e| bad("twilio", sid, format!("start_time {started:?}: {e}")))?
            .naive_utc()
            .date();
        let item = if self.direction.is_empty() {
            "call".to_owned()
        } else {
            format!("call {}", self.direction)
        };
        Ok(Some(
            BilledLine::new("twilio", sid.clone(), day, item, amount).call(sid.clone()),
        ))
    }
}

/// A page of Twilio's Call resources (`GET /2010-04-01/Accounts/{AccountSid}/Calls.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TwilioCallsPage {
    /// The calls.
    pub calls: Vec<TwilioCall>,
    /// The next page's URI, `null` on the last.
    pub next_page_uri: Option<String>,
}

impl TwilioCallsPage {
    /// The lines of the calls Twilio has priced.
    ///
    /// # Errors
    ///
    /// As [`TwilioCall::billed_line`].
    pub fn billed_lines(&self, rate: Option<&ExchangeRate>) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for call in &self.calls {
            lines.extend(call.billed_line(rate)?);
        }
        Ok(lines)
    }
}

/// One of Twilio's Usage Records: the usage and price of one category over a period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TwilioUsageRecord {
    /// The usage category (`calls`, `calls-outbound`, `sms`, `totalprice` …).
    pub category: String,
    /// Its description.
    pub description: String,
    /// The period's first day (`2015-09-06`).
    pub start_date: String,
    /// The period's last day.
    pub end_date: String,
    /// The usage, as text.
    pub usage: String,
    /// Its unit (`minutes`, `messages` …).
    pub usage_unit: String,
    /// What it cost, as text.
    pub price: String,
    /// The price's currency (`usd`).
    pub price_unit: String,
}

/// A page of Twilio's daily Usage Records (`GET
/// /2010-04-01/Accounts/{AccountSid}/Usage/Records/Daily.json`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct TwilioUsageRecords {
    /// The records.
    pub usage_records: Vec<TwilioUsageRecord>,
    /// The next page's URI, `null` on the last.
    pub next_page_uri: Option<String>,
}

impl TwilioUsageRecords {
    /// The lines of the records of `categories` (Twilio's categories nest — `calls` holds
    /// `calls-inbound` and `calls-outbound`, `totalprice` holds everything — so take the ones that
    /// do not overlap; `calls` is the voice a pipeline tracks), one per record and day.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`] for a record of those categories that spans more than one day (ask
    /// for the `Daily` records), has a price that is not a decimal, or is in another currency
    /// without a rate.
    pub fn billed_lines(
        &self,
        categories: &[&str],
        rate: Option<&ExchangeRate>,
    ) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for r in &self.usage_records {
            if !categories.contains(&r.category.as_str()) {
                continue;
            }
            let id = format!("{}/{}", r.start_date, r.category);
            if r.start_date != r.end_date {
                return Err(bad(
                    "twilio",
                    &id,
                    "a record of more than one day: import the Daily usage records",
                ));
            }
            let day: NaiveDate = r
                .start_date
                .parse()
                .map_err(|e| bad("twilio", &id, format!("start_date: {e}")))?;
            let amount = in_usd(
                decimal(&r.price, "twilio", &id)?.abs(),
                &r.price_unit,
                rate,
                "twilio",
                &id,
            )?;
            lines.push(BilledLine::new(
                "twilio",
                id,
                day,
                r.category.clone(),
                amount,
            ));
        }
        Ok(lines)
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
