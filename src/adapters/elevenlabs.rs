//! ElevenLabs: the character statistics of the usage API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::billed::*;
use crate::base::error::Result;
use crate::base::usage::Unit;

/// ElevenLabs' character usage (`GET /v1/usage/character-stats`, daily aggregation): a time axis
/// and, per breakdown key (`All`, or each model or voice asked for), the characters of each day.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct ElevenLabsCharacterStats {
    /// Each day's start, in Unix milliseconds.
    pub time: Vec<i64>,
    /// Per breakdown key, the characters of each day in `time`'s order.
    pub usage: BTreeMap<String, Vec<f64>>,
}

impl ElevenLabsCharacterStats {
    /// One usage per day and breakdown key, in characters; with `by_model`, the keys are models
    /// (`breakdown_type=model`), otherwise the key `All` is the provider's day.
    ///
    /// # Errors
    ///
    /// [`Error::BilledRecord`](crate::Error::BilledRecord) when a series is not as long as the time axis, or a count is not a
    /// whole number.
    pub fn billed_usage(&self, by_model: bool) -> Result<Vec<BilledUsage>> {
        let mut out = Vec::new();
        for (key, series) in &self.usage {
            if series.len() != self.time.len() {
                return Err(bad(
                    "elevenlabs",
                    key,
                    "a usage series not as long as the time axis",
                ));
            }
            if !by_model && key != "All" {
                continue;
            }
            for (&ms, &n) in self.time.iter().zip(series) {
                let day = day_of_unix(ms.div_euclid(1000), "elevenlabs", key)?;
                let chars = crate::base::money::shortest_decimal(n)
                    .filter(|d| d.fract().is_zero() && !d.is_sign_negative())
                    .ok_or_else(|| bad("elevenlabs", key, format!("{n} characters")))?;
                let mut usage = BilledUsage::new(
                    "elevenlabs",
                    format!("{day}/{key}"),
                    day,
                    Unit::Character,
                    chars,
                );
                if by_model {
                    usage = usage.model(key.clone());
                }
                out.push(usage);
            }
        }
        Ok(out)
    }
}
