//! Twilio's Voice prices as its Pricing API returns them (`GET
//! https://pricing.twilio.com/v2/Voice/Countries/{IsoCountry}`), turned into a [`Destinations`]
//! table: each outbound price becomes a group of its destination prefixes, each inbound price a
//! number type, each country's group of shortest prefix its default.
//!
//! Twilio writes prices as text (`"0.013"`); a price written as a JSON number is read as the
//! shortest decimal that is the same float. Prices for particular origins (`origination_prefixes`
//! other than `ALL`, or `ROW` — the rest of the world) are left out and reported: the table prices
//! by destination only, at the price for any origin.

use std::path::Path;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};

use super::destination::{Destinations, NumberType};
use super::litellm::ImportReport;
use super::model::PriceOrigin;
use crate::base::error::{Error, Result};
use crate::base::money::Usd;

/// One country's Voice prices, as `GET /v2/Voice/Countries/{IsoCountry}` returns them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioVoiceCountry {
    /// The country's name (`United States`).
    pub country: String,
    /// Its ISO 3166-1 alpha-2 code (`US`).
    pub iso_country: String,
    /// Prices of calls to the country, per destination prefixes.
    pub outbound_prefix_prices: Vec<TwilioOutboundPrice>,
    /// Prices of calls received on the country's numbers, per number type.
    pub inbound_call_prices: Vec<TwilioInboundPrice>,
    /// The currency of every price (`USD`).
    pub price_unit: String,
}

/// A price per minute of calls to some destination prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioOutboundPrice {
    /// The price before the account's discounts, as text.
    #[serde(deserialize_with = "text_or_number")]
    pub base_price: String,
    /// The price the account pays, as text: the one imported.
    #[serde(deserialize_with = "text_or_number")]
    pub current_price: String,
    /// E.164 prefixes, without `+`, the price applies to.
    pub destination_prefixes: Vec<String>,
    /// Twilio's name for it (`Programmable Outbound Minute - United States - Alaska`).
    pub friendly_name: String,
    /// The prefixes of the numbers calling for which it applies: `ALL`, particular origins, or
    /// `ROW` (every origin not priced apart).
    pub origination_prefixes: Vec<String>,
}

/// A price per minute of calls received on one type of number.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TwilioInboundPrice {
    /// The price before the account's discounts, as text.
    #[serde(deserialize_with = "text_or_number")]
    pub base_price: String,
    /// The price the account pays, as text.
    #[serde(deserialize_with = "text_or_number")]
    pub current_price: String,
    /// `local`, `toll free`, `mobile`, `national`, `shared cost`.
    pub number_type: String,
}

/// A price as Twilio writes it (text), or as a JSON number (its shortest decimal text).
fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Price {
        Text(String),
        Number(f64),
        Null(()),
    }
    Ok(match Price::deserialize(d)? {
        Price::Text(t) => t,
        Price::Number(f) => crate::base::money::shortest_decimal(f)
            .map(|d| d.to_string())
            .unwrap_or_else(|| f.to_string()),
        Price::Null(()) => String::new(),
    })
}

/// The friendly name without Twilio's product words: `United States - Alaska`.
fn group_name(friendly: &str) -> &str {
    friendly
        .strip_prefix("Programmable Outbound Minute - ")
        .unwrap_or(friendly)
        .trim()
}

/// A price in dollars, or why not.
fn dollars(text: &str, unit: &str) -> std::result::Result<Usd, String> {
    if !unit.eq_ignore_ascii_case("USD") {
        return Err(format!("priced in {unit:?}, not USD"));
    }
    let price = Decimal::from_str_exact(text.trim())
        .map_err(|_| format!("price {text:?} is not a decimal"))?;
    if price.is_sign_negative() {
        return Err(format!("price {text} is negative"));
    }
    Ok(Usd::new(price))
}

impl Destinations {
    /// The table of Twilio's Voice prices for the `countries` given (as the Pricing API returns
    /// them), for track calls naming provider `twilio` and product `product`; with what was left
    /// out and why.
    ///
    /// # Errors
    ///
    /// [`Error::Catalog`] when a country's prices are in a currency other than US dollars (callmeter
    /// keeps every amount in USD); prices that cannot be read are reported, not errors.
    pub fn from_twilio(
        product: impl Into<String>,
        countries: &[TwilioVoiceCountry],
    ) -> Result<(Destinations, ImportReport)> {
        let mut table = Destinations::new("twilio", product).with_source(
            "Twilio Pricing API, GET https://pricing.twilio.com/v2/Voice/Countries/{IsoCountry}",
            None,
        )
        .with_origin(PriceOrigin::Api);
        let mut report = ImportReport::default();
        let mut inbound_seen = Vec::new();
        for c in countries {
            let unit = if c.price_unit.is_empty() {
                "USD"
            } else {
                &c.price_unit
            };
            if !unit.eq_ignore_ascii_case("USD") {
                return Err(Error::Catalog {
                    entry: format!("twilio voice prices of {}", c.iso_country),
                    field: "price_unit".into(),
                    reason: format!("{unit:?}: callmeter keeps amounts in USD"),
                });
            }
            // The country's default: the group of its shortest prefix.
            let mut shortest: Option<(usize, String)> = None;
            for p in &c.outbound_prefix_prices {
                let name = group_name(&p.friendly_name).to_owned();
                let key = format!("{}: {name}", c.iso_country);
                // `ALL` origins, or `ROW` (the rest of the world: every origin not priced apart).
                if !p.origination_prefixes.is_empty()
                    && !p
                        .origination_prefixes
                        .iter()
                        .any(|o| o == "ALL" || o == "ROW")
                {
                    report.skipped.push((
                        key,
                        format!(
                            "priced by origin ({}): the table prices by destination only",
                            p.origination_prefixes.join(", ")
                        ),
                    ));
                    continue;
                }
                let price = match dollars(&p.current_price, unit) {
                    Ok(price) => price,
                    Err(reason) => {
                        report.skipped.push((key, reason));
                        continue;
                    }
                };
                if table.groups.iter().any(|g| g.name == name) {
                    report.kept_existing.push(key);
                    continue;
                }
                if let Some(len) = p.destination_prefixes.iter().map(String::len).min()
                    && shortest.as_ref().is_none_or(|(l, _)| len < *l)
                {
                    shortest = Some((len, name.clone()));
                }
                table = table.outbound(name, p.destination_prefixes.iter().cloned(), price);
                report.imported += 1;
            }
            if let Some((_, name)) = shortest
                && c.iso_country.len() == 2
            {
                table = table.country(&c.iso_country, name);
            }
            for p in &c.inbound_call_prices {
                let key = format!("{}: inbound {}", c.iso_country, p.number_type);
                let Some(number_type) = NumberType::from_name(&p.number_type) else {
                    report
                        .skipped
                        .push((key, "a number type callmeter does not know".into()));
                    continue;
                };
                // Inbound rates are per number type, not per country: the first country's stand.
                if inbound_seen.contains(&number_type) {
                    report.kept_existing.push(key);
                    continue;
                }
                match dollars(&p.current_price, unit) {
                    Ok(price) => {
                        inbound_seen.push(number_type);
                        table = table.inbound(number_type, price);
                        report.imported += 1;
                    }
                    Err(reason) => report.skipped.push((key, reason)),
                }
            }
        }
        Ok((table, report))
    }

    /// As [`from_twilio`](Self::from_twilio), from a JSON file holding one country's answer or an
    /// array of them.
    ///
    /// # Errors
    ///
    /// [`Error::CatalogFile`] when the file cannot be read or is not Twilio's answer; as
    /// [`from_twilio`](Self::from_twilio) otherwise.
    pub fn from_twilio_file(
        product: impl Into<String>,
        path: impl AsRef<Path>,
    ) -> Result<(Destinations, ImportReport)> {
        let path = path.as_ref();
        let fail = |reason: String| Error::CatalogFile {
            path: path.to_path_buf(),
            entry: None,
            field: None,
            reason,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            Many(Vec<TwilioVoiceCountry>),
            One(Box<TwilioVoiceCountry>),
        }
        let countries = match serde_json::from_str::<OneOrMany>(&text)
            .map_err(|e| fail(format!("not Twilio's Voice pricing: {e}")))?
        {
            OneOrMany::Many(many) => many,
            OneOrMany::One(one) => vec![*one],
        };
        Destinations::from_twilio(product, &countries)
    }
}
