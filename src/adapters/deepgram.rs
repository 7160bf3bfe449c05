//! Deepgram: pre-recorded responses and live stream messages as seconds of audio, and the usage
//! summary and per-request costs of the management API.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::billed::*;
use super::parts::*;
use crate::base::checked::millis;
use crate::base::error::Result;
use crate::base::money::Usd;
use crate::base::usage::{Unit, UsageKind};

pub(super) fn one() -> u32 {
    1
}

/// The billed part of a Deepgram pre-recorded transcription response (`POST /v1/listen`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeepgramResponse {
    /// The response's metadata.
    pub metadata: DeepgramMetadata,
}

/// `metadata` of a Deepgram response.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeepgramMetadata {
    /// Seconds of audio transcribed, per channel.
    pub duration: f64,
    /// Channels transcribed; 1 when absent. With `multichannel=true` Deepgram bills every channel.
    #[serde(default = "one")]
    pub channels: u32,
}

impl DeepgramResponse {
    /// Seconds Deepgram bills for this response: `duration` times the channels transcribed (at least
    /// one), for [`CallCostTracker::track_stt`](crate::CallCostTracker::track_stt).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when `duration` is negative, not finite, or absurdly large.
    pub fn billed_seconds(&self) -> Result<f64> {
        let ms = millis(UsageKind::AudioSeconds, self.metadata.duration)?;
        Ok(seconds_of(
            ms.saturating_mul(u64::from(self.metadata.channels.max(1))),
        ))
    }
}

/// One message of Deepgram's live transcription WebSocket (`wss://…/v1/listen`), as far as billing
/// goes. `Results` messages carry the `start` and `duration` of the audio they transcribe; the
/// `Metadata` message sent when the stream closes carries the whole stream's `duration`. Other
/// messages (`SpeechStarted`, `UtteranceEnd`) cover no audio. Feed them to a [`DeepgramStream`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeepgramLiveMessage {
    /// `Results`, `Metadata`, `SpeechStarted`, `UtteranceEnd`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Seconds from the start of the stream to the start of this result (0 when absent).
    #[serde(default)]
    pub start: f64,
    /// Seconds of audio this result covers, or, in `Metadata`, the stream's whole duration (0 when
    /// absent).
    #[serde(default)]
    pub duration: f64,
    /// Whether this result is final. Interim results are superseded by a final one over the same
    /// audio, so only final ones count.
    #[serde(default)]
    pub is_final: bool,
    /// `[channel, channels]` of a `Results` message; absent for a single channel.
    #[serde(default)]
    pub channel_index: Vec<u32>,
    /// Channels of the stream, in `Metadata`.
    #[serde(default)]
    pub channels: Option<u32>,
}

impl DeepgramLiveMessage {
    /// Channel-seconds of audio this message shows to have been streamed so far, in milliseconds, or
    /// `None` when it shows nothing (an interim result, or a message without audio).
    fn billed_position_ms(&self) -> Result<Option<u64>> {
        let (end, channels) = match self.kind.as_str() {
            "Results" if self.is_final => {
                let start = millis(UsageKind::AudioSeconds, self.start)?;
                let duration = millis(UsageKind::AudioSeconds, self.duration)?;
                let channels = self.channel_index.get(1).copied().unwrap_or(1);
                (start.saturating_add(duration), channels)
            }
            "Metadata" => (
                millis(UsageKind::AudioSeconds, self.duration)?,
                self.channels.unwrap_or(1),
            ),
            _ => return Ok(None),
        };
        Ok(Some(end.saturating_mul(u64::from(channels.max(1)))))
    }
}

/// How much of one live Deepgram stream has been tracked. Deepgram bills a stream by the audio sent,
/// per channel; the stream's final results say how far the audio has gone, and its closing
/// `Metadata` says where it ended. [`advance`](Self::advance) turns each message into the seconds
/// not yet tracked, so the call's cost follows the stream while it runs and the stream is billed
/// once, in full, when it closes — whether interim results, overlapping finals or only the closing
/// message arrive.
///
/// ```
/// # use callmeter::adapters::{DeepgramLiveMessage, DeepgramStream};
/// let mut stream = DeepgramStream::new();
/// let result: DeepgramLiveMessage = serde_json::from_str(
///     r#"{"type": "Results", "start": 5.9, "duration": 1.73, "is_final": true}"#,
/// )?;
/// assert_eq!(stream.advance(&result)?, Some(7.63));
/// let closed: DeepgramLiveMessage =
///     serde_json::from_str(r#"{"type": "Metadata", "duration": 9.5, "channels": 1}"#)?;
/// assert_eq!(stream.advance(&closed)?, Some(1.87));
/// assert_eq!(stream.tracked_seconds(), 9.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeepgramStream {
    tracked_ms: u64,
}

impl DeepgramStream {
    /// A stream with nothing tracked yet.
    pub const fn new() -> Self {
        Self { tracked_ms: 0 }
    }

    /// The seconds `message` adds to what this stream has tracked, to pass to
    /// [`CallCostTracker::track_stt`](crate::CallCostTracker::track_stt); `None` when it adds
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidQuantity`](crate::Error::InvalidQuantity) when `start` or `duration` is negative, not finite, or absurdly
    /// large; the stream is left as it was.
    pub fn advance(&mut self, message: &DeepgramLiveMessage) -> Result<Option<f64>> {
        let Some(position) = message.billed_position_ms()? else {
            return Ok(None);
        };
        if position <= self.tracked_ms {
            return Ok(None);
        }
        let added = position - self.tracked_ms;
        self.tracked_ms = position;
        Ok(Some(seconds_of(added)))
    }

    /// Channel-seconds tracked so far.
    pub fn tracked_seconds(&self) -> f64 {
        seconds_of(self.tracked_ms)
    }
}

/// Deepgram's project usage summary (`GET /v1/projects/{project_id}/usage`, daily resolution).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeepgramUsageSummary {
    /// The range's start.
    pub start: String,
    /// The range's end.
    pub end: String,
    /// One result per period of the resolution.
    pub results: Vec<DeepgramUsageResult>,
}

/// One period of Deepgram's usage.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeepgramUsageResult {
    /// The period's start (`2024-10-01`, or a time on that day).
    pub start: String,
    /// The period's end.
    pub end: String,
    /// Hours of audio processed.
    pub hours: f64,
    /// Hours billed: every channel of multichannel audio counts.
    pub total_hours: Option<f64>,
    /// Requests.
    pub requests: u64,
}

impl DeepgramUsageSummary {
    /// One usage per day, in seconds billed (`total_hours` × 3 600, or `hours` without it), read as
    /// the shortest decimal of each float and rounded to the millisecond.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`](crate::Error::BilledRecord) for a period that does not start with a date, or spans more than a
    /// day (ask for the daily resolution).
    pub fn billed_usage(&self) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for r in &self.results {
            let day_of = |s: &str| -> Result<NaiveDate> {
                s.get(..10)
                    .and_then(|d| d.parse().ok())
                    .ok_or_else(|| bad("deepgram", s, "not a date"))
            };
            let (day, last) = (day_of(&r.start)?, day_of(&r.end)?);
            // A day is `2024-10-01`..`2024-10-01`, or a time on it to the next midnight.
            let midnight = r
                .end
                .get(10..)
                .is_some_and(|t| t.trim_start_matches(['T', ' ']).starts_with("00:00"));
            let one_day = last == day || (last == day.succ_opt().unwrap_or(day) && midnight);
            if !one_day {
                return Err(bad(
                    "deepgram",
                    &r.start,
                    "a period of more than one day: ask for the daily resolution",
                ));
            }
            let hours = r.total_hours.unwrap_or(r.hours);
            let hours = crate::base::money::shortest_decimal(hours)
                .ok_or_else(|| bad("deepgram", &r.start, format!("hours {hours} not a number")))?;
            out.push(BilledUsage::new(
                "deepgram",
                day.to_string(),
                day,
                Unit::Second,
                // Hours are floats: to the millisecond, as callmeter counts time.
                (hours * Decimal::from(3_600))
                    .round_dp_with_strategy(3, rust_decimal::RoundingStrategy::MidpointNearestEven)
                    .normalize(),
            ));
        }
        Ok(out)
    }
}

/// A page of Deepgram's requests (`GET /v1/projects/{project_id}/requests`): each request with
/// what it cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeepgramRequests {
    /// The page number.
    pub page: u64,
    /// Requests per page.
    pub limit: u64,
    /// The requests.
    pub requests: Vec<DeepgramRequest>,
}

/// One request to Deepgram.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeepgramRequest {
    /// Its id.
    pub request_id: String,
    /// When it was made (RFC 3339).
    pub created: String,
    /// The endpoint (`/v1/listen`, `/v1/speak`).
    pub path: String,
    /// What Deepgram answered, with the cost.
    pub response: DeepgramRequestResponse,
}

/// Deepgram's answer to a request, as the requests list reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeepgramRequestResponse {
    /// The HTTP status.
    pub code: u16,
    /// Cost and usage.
    pub details: DeepgramRequestDetails,
}

/// What a request used and cost.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct DeepgramRequestDetails {
    /// Its cost in US dollars (a JSON number).
    pub usd: Option<f64>,
    /// Seconds of audio.
    pub duration: Option<f64>,
    /// The models used.
    pub models: Vec<String>,
}

impl DeepgramRequests {
    /// One line per request that has a cost, on the day it was made, for its (first) model.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`](crate::Error::BilledRecord) for a `created` that is not RFC 3339 or a cost that is not a number.
    pub fn billed_lines(&self) -> Result<Vec<BilledLine>> {
        let mut lines = Vec::new();
        for r in &self.requests {
            let Some(usd) = r.response.details.usd else {
                continue;
            };
            let day = day_of_rfc3339(&r.created, "deepgram", &r.request_id)?;
            let amount = crate::base::money::shortest_decimal(usd)
                .ok_or_else(|| bad("deepgram", &r.request_id, format!("usd {usd} not a number")))?;
            let mut line = BilledLine::new(
                "deepgram",
                r.request_id.clone(),
                day,
                r.path.clone(),
                Usd::new(amount),
            );
            if let Some(model) = r.response.details.models.first() {
                line = line.model(model.clone());
            }
            lines.push(line);
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::error::Error;

    fn live(json: &str) -> DeepgramLiveMessage {
        serde_json::from_str(json).expect(json)
    }

    #[test]
    fn interim_results_and_messages_without_audio_add_nothing() -> Result<()> {
        let mut stream = DeepgramStream::new();
        let interim = live(r#"{"type": "Results", "start": 0.0, "duration": 2.0}"#);
        assert_eq!(stream.advance(&interim)?, None);
        let utterance = live(r#"{"type": "UtteranceEnd", "last_word_end": 2.4}"#);
        assert_eq!(stream.advance(&utterance)?, None);
        assert_eq!(stream.tracked_seconds(), 0.0);
        Ok(())
    }

    #[test]
    fn overlapping_finals_and_the_closing_metadata_bill_the_stream_once() -> Result<()> {
        let mut stream = DeepgramStream::new();
        let first =
            live(r#"{"type": "Results", "start": 0.0, "duration": 3.25, "is_final": true}"#);
        let again = live(r#"{"type": "Results", "start": 1.0, "duration": 2.0, "is_final": true}"#);
        let close = live(r#"{"type": "Metadata", "duration": 4.0, "channels": 1}"#);
        assert_eq!(stream.advance(&first)?, Some(3.25));
        assert_eq!(stream.advance(&again)?, None);
        assert_eq!(stream.advance(&close)?, Some(0.75));
        assert_eq!(stream.advance(&close)?, None);
        assert_eq!(stream.tracked_seconds(), 4.0);
        Ok(())
    }

    #[test]
    fn every_channel_of_a_multichannel_stream_is_billed() -> Result<()> {
        let mut stream = DeepgramStream::new();
        let left = live(
            r#"{"type": "Results", "start": 0.0, "duration": 1.5, "is_final": true,
                "channel_index": [0, 2]}"#,
        );
        let right = live(
            r#"{"type": "Results", "start": 0.0, "duration": 1.5, "is_final": true,
                "channel_index": [1, 2]}"#,
        );
        assert_eq!(stream.advance(&left)?, Some(3.0));
        assert_eq!(stream.advance(&right)?, None);
        Ok(())
    }

    #[test]
    fn a_bad_duration_is_an_error_and_leaves_the_stream_as_it_was() -> Result<()> {
        let mut stream = DeepgramStream::new();
        let ok = live(r#"{"type": "Results", "start": 0.0, "duration": 1.0, "is_final": true}"#);
        stream.advance(&ok)?;
        let bad = live(r#"{"type": "Results", "start": 1.0, "duration": -2.0, "is_final": true}"#);
        assert!(matches!(
            stream.advance(&bad),
            Err(Error::InvalidQuantity { .. })
        ));
        assert_eq!(stream.tracked_seconds(), 1.0);
        Ok(())
    }

    #[test]
    fn a_pre_recorded_response_bills_each_channel() -> Result<()> {
        let response: DeepgramResponse =
            serde_json::from_str(r#"{"metadata": {"duration": 10.25, "channels": 2}}"#)
                .expect("stereo");
        assert_eq!(response.billed_seconds()?, 20.5);
        let mono: DeepgramResponse =
            serde_json::from_str(r#"{"metadata": {"duration": 10.25}}"#).expect("mono");
        assert_eq!(mono.billed_seconds()?, 10.25);
        Ok(())
    }
}
