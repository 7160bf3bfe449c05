//! Import of LiteLLM's price database (`model_prices_and_context_window.json`).
//!
//! Each entry becomes a [`ModelPrice`] of provider `litellm_provider` and the entry's key without a
//! `provider/` prefix. Fields map onto usage kinds as the guide's "LiteLLM import" table says; what has no
//! counterpart (service tiers such as `_batches` and `_priority`, image and video prices, modes callmeter
//! does not bill) is listed in the [`ImportReport`], never guessed.
//!
//! LiteLLM writes prices as JSON floats (`7.167e-05`). Each is converted to the shortest decimal that
//! reads back as the same double — the number as written in the file — and that decimal is the price:
//! `7.167e-05` is exactly $0.00007167 per second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde_json::Value;

use super::{CatalogBuilder, ModelPrice, PriceOrigin, Rate};
use crate::base::error::{Error, Result};
use crate::base::money::Usd;
use crate::base::usage::{Category, UsageKind};

/// What an import did: how many entries it added, and everything it left out, with the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Entries added to the catalog.
    pub imported: usize,
    /// Entries not added because the catalog already had the provider and model (`provider/model`).
    pub kept_existing: Vec<String>,
    /// Entries not added at all: (`key`, reason).
    pub skipped: Vec<(String, String)>,
    /// Fields of added entries that have no counterpart in callmeter: (`provider/model`, field).
    pub unmapped: Vec<(String, String)>,
}

/// Usage kinds of LiteLLM's per-token fields; `_above_<N>k_tokens` variants become context tiers.
const TOKEN_FIELDS: [(&str, UsageKind); 9] = [
    ("input_cost_per_token", UsageKind::InputTokens),
    ("output_cost_per_token", UsageKind::OutputTokens),
    ("cache_read_input_token_cost", UsageKind::CachedInputTokens),
    (
        "cache_creation_input_token_cost",
        UsageKind::CacheWriteTokens,
    ),
    (
        "cache_creation_input_token_cost_above_1hr",
        UsageKind::CacheWrite1hTokens,
    ),
    (
        "output_cost_per_reasoning_token",
        UsageKind::ReasoningTokens,
    ),
    ("input_cost_per_audio_token", UsageKind::AudioInputTokens),
    ("output_cost_per_audio_token", UsageKind::AudioOutputTokens),
    (
        "cache_read_input_audio_token_cost",
        UsageKind::CachedAudioInputTokens,
    ),
];

/// Fields that describe an entry rather than price it.
const DESCRIPTIVE: [&str; 4] = ["litellm_provider", "mode", "source", "metadata"];

fn category(mode: &str) -> Option<Category> {
    match mode {
        "chat" | "completion" | "responses" => Some(Category::Llm),
        "realtime" => Some(Category::Realtime),
        "audio_transcription" => Some(Category::Stt),
        "audio_speech" => Some(Category::Tts),
        "embedding" | "rerank" | "moderation" => Some(Category::Other),
        _ => None,
    }
}

/// A JSON number as the exact decimal it was written as (see the module documentation).
fn exact(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_u64() {
                return Some(Decimal::from(i));
            }
            let f = n.as_f64()?;
            if f < 0.0 {
                return None;
            }
            crate::base::money::shortest_decimal(f)
        }
        _ => None,
    }
}

/// `input_cost_per_token_above_200k_tokens` → (`input_cost_per_token`, 200 000).
fn tier_of(field: &str) -> Option<(&str, u64)> {
    let (base, rest) = field.rsplit_once("_above_")?;
    let n = rest.strip_suffix("k_tokens")?;
    let k: u64 = n.parse().ok()?;
    Some((base, k.checked_mul(1_000)?))
}

/// The per-second kind of a transcription or speech entry.
fn per_second_kind(category: Category) -> Option<UsageKind> {
    match category {
        Category::Stt => Some(UsageKind::AudioSeconds),
        Category::Realtime => Some(UsageKind::AudioInputSeconds),
        _ => None,
    }
}

/// Converts one LiteLLM entry; `None` with a reason when it is skipped.
fn convert(
    key: &str,
    obj: &serde_json::Map<String, Value>,
    unmapped: &mut Vec<(String, String)>,
) -> std::result::Result<ModelPrice, String> {
    let provider = obj
        .get("litellm_provider")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty() && !p.contains(' '))
        .ok_or("no litellm_provider")?;
    let mode = obj.get("mode").and_then(Value::as_str).unwrap_or("chat");
    let category =
        category(mode).ok_or_else(|| format!("mode {mode:?} is not billed by callmeter"))?;
    let model = key
        .strip_prefix(provider)
        .and_then(|m| m.strip_prefix('/'))
        .unwrap_or(key);
    let source = match obj.get("source").and_then(Value::as_str) {
        Some(url) => format!("LiteLLM price database (its source: {url})"),
        None => "LiteLLM price database".to_owned(),
    };
    let name = format!("{provider}/{model}");
    let mut price = ModelPrice::new(provider, model, category)
        .with_origin(PriceOrigin::Litellm)
        .with_source(source, None);
    let mut priced = false;
    for (field, value) in obj {
        if DESCRIPTIVE.contains(&field.as_str()) || !field.contains("cost") {
            continue;
        }
        let Some(amount) = exact(value) else {
            unmapped.push((name.clone(), field.clone()));
            continue;
        };
        let usd = Usd::new(amount);
        let kind_of = |base: &str| {
            TOKEN_FIELDS
                .iter()
                .find(|(f, _)| *f == base)
                .map(|(_, k)| *k)
        };
        let mapped = if let Some(kind) = kind_of(field) {
            price = price.rate(kind, Rate::per_token(usd));
            true
        } else if let Some((base, above)) = tier_of(field)
            && let Some(kind) = kind_of(base)
        {
            price = price.rate_above(above, kind, Rate::per_token(usd));
            true
        } else {
            match field.as_str() {
                "input_cost_per_character" if category == Category::Tts => {
                    price = price.rate(UsageKind::Characters, Rate::per_character(usd));
                    true
                }
                "input_cost_per_second" => match per_second_kind(category) {
                    Some(kind) => {
                        price = price.rate(kind, Rate::per_second(usd));
                        true
                    }
                    None => false,
                },
                "input_cost_per_request" => {
                    price =
                        price.rate(UsageKind::Requests, Rate::new(usd, 1, crate::Unit::Request));
                    true
                }
                _ => false,
            }
        };
        if mapped {
            priced = true;
        } else if !amount.is_zero() {
            // A zero price of something callmeter does not track costs nothing: no need to report it.
            unmapped.push((name.clone(), field.clone()));
        }
    }
    if !priced {
        return Err("no price callmeter can use".into());
    }
    Ok(price)
}

fn import_err(path: &Path, reason: String) -> Error {
    Error::CatalogFile {
        path: PathBuf::from(path),
        entry: None,
        field: None,
        reason,
    }
}

impl CatalogBuilder {
    /// Adds the entries of LiteLLM's `model_prices_and_context_window.json` that the builder does not
    /// have yet (entries already there, such as the built-in voice prices, are kept), and reports what
    /// it added, kept and left out.
    ///
    /// # Errors
    ///
    /// [`Error::CatalogFile`] when the file cannot be read or is not a JSON object. Entries that do
    /// not convert are reported, not errors.
    pub fn import_litellm(self, path: impl AsRef<Path>) -> Result<(CatalogBuilder, ImportReport)> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| import_err(path, format!("cannot read it: {e}")))?;
        self.import_litellm_json(&text, path)
    }

    /// As [`import_litellm`](Self::import_litellm), from the file's text; `path` names it in errors.
    ///
    /// # Errors
    ///
    /// As [`import_litellm`](Self::import_litellm).
    pub fn import_litellm_json(
        mut self,
        text: &str,
        path: impl AsRef<Path>,
    ) -> Result<(CatalogBuilder, ImportReport)> {
        let path = path.as_ref();
        let entries: BTreeMap<String, Value> = serde_json::from_str(text)
            .map_err(|e| import_err(path, format!("not LiteLLM's price database: {e}")))?;
        let mut report = ImportReport::default();
        let mut seen: std::collections::HashSet<(String, String)> = self
            .entries
            .iter()
            .map(|p| (p.provider.clone(), p.model.clone()))
            .collect();
        for (key, value) in &entries {
            let Some(obj) = value.as_object() else {
                report.skipped.push((key.clone(), "not an object".into()));
                continue;
            };
            let mut unmapped = Vec::new();
            match convert(key, obj, &mut unmapped) {
                Ok(price) => {
                    let id = (price.provider.clone(), price.model.clone());
                    if seen.contains(&id) {
                        report.kept_existing.push(format!("{}/{}", id.0, id.1));
                        continue;
                    }
                    seen.insert(id);
                    report.unmapped.extend(unmapped);
                    report.imported += 1;
                    self = self.insert(price);
                }
                Err(reason) => report.skipped.push((key.clone(), reason)),
            }
        }
        Ok((self, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_become_the_decimal_they_were_written_as() {
        let v: Value = serde_json::from_str("[7.167e-05, 1.5e-07, 0.005, 3, 1e-06]").expect("json");
        let got: Vec<String> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|n| exact(n).expect("number").to_string())
            .collect();
        assert_eq!(got, ["0.00007167", "0.00000015", "0.005", "3", "0.000001"]);
        assert_eq!(exact(&Value::from(-1.0)), None);
        assert_eq!(exact(&Value::from("0.1")), None);
    }

    #[test]
    fn tier_fields_name_their_threshold() {
        assert_eq!(
            tier_of("input_cost_per_token_above_200k_tokens"),
            Some(("input_cost_per_token", 200_000))
        );
        assert_eq!(tier_of("input_cost_per_token_batches"), None);
        assert_eq!(tier_of("cache_creation_input_token_cost_above_1hr"), None);
    }
}
