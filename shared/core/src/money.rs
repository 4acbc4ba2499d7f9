//! Money as integer minor units plus an ISO 4217 currency, parsed from the
//! decimal strings Shopify sends. Never a float.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("`{0}` is not a decimal amount")]
    Amount(String),
    #[error("`{0}` is not an ISO 4217 currency code")]
    Currency(String),
    #[error("`{amount}` has more decimals than {currency} allows")]
    Precision { amount: String, currency: String },
}

/// An amount in the currency's smallest unit (cents for USD, yen for JPY).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: Currency,
}

/// An ISO 4217 code: three upper-case letters, held inline (copying an
/// amount allocates nothing). Stored and shown as its text (`"EUR"`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    /// `eur`, ` EUR ` → `EUR`; anything but three ASCII letters is refused.
    pub fn parse(text: &str) -> Result<Self, MoneyError> {
        let upper = text.trim().to_ascii_uppercase();
        match <[u8; 3]>::try_from(upper.as_bytes()) {
            Ok(code) if code.iter().all(u8::is_ascii_uppercase) => Ok(Self(code)),
            _ => Err(MoneyError::Currency(upper)),
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl std::ops::Deref for Currency {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Decimal places of a currency's minor unit (ISO 4217), 2 unless listed.
fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

impl Money {
    /// Whole units of the currency (rounded towards zero).
    pub fn major_units(&self) -> i64 {
        self.amount_minor / 10i64.pow(exponent(&self.currency))
    }

    /// The sum of two amounts of one currency; `None` across currencies.
    pub fn plus(&self, other: &Money) -> Option<Money> {
        (self.currency == other.currency).then(|| Money {
            amount_minor: self.amount_minor.saturating_add(other.amount_minor),
            currency: self.currency,
        })
    }

    /// Parses `"19.90"` in `"EUR"` into 1990 minor units.
    pub fn parse(amount: &str, currency: &str) -> Result<Self, MoneyError> {
        let currency = Currency::parse(currency)?;
        let exp = exponent(&currency);
        let raw = amount.trim();
        let (negative, digits) = match raw.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, raw),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !is_digits(whole) || !is_digits(frac) || whole.len() > 15 {
            return Err(MoneyError::Amount(amount.to_string()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() as u32 > exp {
            return Err(MoneyError::Precision {
                amount: amount.to_string(),
                currency: currency.to_string(),
            });
        }
        let scale = 10i64.pow(exp);
        let whole: i64 = whole
            .parse()
            .map_err(|_| MoneyError::Amount(amount.to_string()))?;
        let frac_minor: i64 = if frac.is_empty() {
            0
        } else {
            frac.parse::<i64>()
                .map_err(|_| MoneyError::Amount(amount.to_string()))?
                * 10i64.pow(exp - frac.len() as u32)
        };
        let minor = whole * scale + frac_minor;
        Ok(Self {
            amount_minor: if negative { -minor } else { minor },
            currency,
        })
    }
}

/// Number and currency conventions of a language, as e-commerce shows them.
struct Style {
    decimal: char,
    group: &'static str,
    /// Symbol after the amount (`18,50 €`) rather than before (`€18.50`).
    symbol_after: bool,
}

fn style(locale: &str) -> Style {
    let lang = locale
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match lang.as_str() {
        "fr" => Style {
            decimal: ',',
            group: "\u{202f}",
            symbol_after: true,
        },
        "de" | "es" | "it" | "nl" | "pt" | "da" | "pl" | "cs" | "el" | "ro" | "tr" | "id" => {
            Style {
                decimal: ',',
                group: ".",
                symbol_after: true,
            }
        }
        "sv" | "fi" | "nb" | "no" | "sk" | "hu" | "ru" | "uk" => Style {
            decimal: ',',
            group: "\u{a0}",
            symbol_after: true,
        },
        _ => Style {
            decimal: '.',
            group: ",",
            symbol_after: false,
        },
    }
}

/// The symbol a shopper recognises; the ISO code when there is no common one.
fn symbol(currency: &str, locale: &str) -> String {
    let us = locale.eq_ignore_ascii_case("en-us") || locale.eq_ignore_ascii_case("en");
    match currency {
        "EUR" => "€".into(),
        "GBP" => "£".into(),
        "USD" if us => "$".into(),
        "USD" => "US$".into(),
        "JPY" => "¥".into(),
        "INR" => "₹".into(),
        "KRW" => "₩".into(),
        "BRL" => "R$".into(),
        "PLN" => "zł".into(),
        "CAD" if locale.to_ascii_lowercase().ends_with("-ca") => "$".into(),
        "AUD" if locale.to_ascii_lowercase().ends_with("-au") => "$".into(),
        "CAD" => "CA$".into(),
        "AUD" => "A$".into(),
        "SEK" | "NOK" | "DKK" => "kr".into(),
        other => other.to_string(),
    }
}

impl Money {
    /// Formatted for a shopper of `locale` (`en-IE` → `€1,234.50`,
    /// `fr` → `1 234,50 €`, `de-DE` → `1.234,50 €`); without a locale the
    /// plain form (`1234.50 EUR`).
    pub fn format_for(&self, locale: Option<&str>) -> String {
        let Some(locale) = locale.filter(|l| !l.trim().is_empty()) else {
            return self.to_string();
        };
        let st = style(locale);
        let exp = exponent(&self.currency);
        let abs = self.amount_minor.unsigned_abs();
        let scale = 10u64.pow(exp);
        let whole = (abs / scale).to_string();
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                grouped.push_str(st.group);
            }
            grouped.push(c);
        }
        let number = if exp == 0 {
            grouped
        } else {
            format!(
                "{grouped}{}{:0width$}",
                st.decimal,
                abs % scale,
                width = exp as usize
            )
        };
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let sym = symbol(&self.currency, locale);
        if st.symbol_after {
            format!("{sign}{number}\u{a0}{sym}")
        } else if sym.chars().all(|c| c.is_ascii_uppercase()) {
            format!("{sign}{sym}\u{a0}{number}")
        } else {
            format!("{sign}{sym}{number}")
        }
    }
}

impl Money {
    /// The amount as a decimal string in the currency's precision
    /// (`"12.50"`, `"1200"` for JPY).
    pub fn decimal(&self) -> String {
        let text = self.to_string();
        text.rsplit_once(' ')
            .map_or(text.clone(), |(d, _)| d.to_string())
    }
}

impl fmt::Display for Money {
    /// Plain `12.50 EUR`; locale-aware formatting belongs to templates.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = exponent(&self.currency);
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        if exp == 0 {
            return write!(f, "{sign}{abs} {}", self.currency);
        }
        let scale = 10u64.pow(exp);
        write!(
            f,
            "{sign}{}.{:0width$} {}",
            abs / scale,
            abs % scale,
            self.currency,
            width = exp as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shopify_decimal_strings() {
        assert_eq!(Money::parse("19.90", "eur").unwrap().amount_minor, 1990);
        assert_eq!(Money::parse("5", "USD").unwrap().amount_minor, 500);
        assert_eq!(Money::parse("1200", "JPY").unwrap().amount_minor, 1200);
        assert_eq!(Money::parse("1.500", "KWD").unwrap().amount_minor, 1500);
        assert_eq!(Money::parse("-3.5", "USD").unwrap().amount_minor, -350);
        assert_eq!(Money::parse("1200.00", "JPY").unwrap().amount_minor, 1200);
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert!(Money::parse("abc", "USD").is_err());
        assert!(Money::parse("1.234", "USD").is_err());
        assert!(Money::parse("1.5", "JPY").is_err());
        assert!(Money::parse("1", "US").is_err());
        assert!(Money::parse("", "USD").is_err());
        // Stored amounts read their currency back through the same check.
        let back: Money =
            serde_json::from_str(r#"{"amount_minor": 1990, "currency": "EUR"}"#).unwrap();
        assert_eq!(back, Money::parse("19.90", "eur").unwrap());
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": 1, "currency": "EURO"}"#).is_err()
        );
    }

    #[test]
    fn formats_for_the_shoppers_locale() {
        let m = Money::parse("1234.5", "EUR").unwrap();
        assert_eq!(m.format_for(Some("en-IE")), "€1,234.50");
        assert_eq!(m.format_for(Some("fr")), "1\u{202f}234,50\u{a0}€");
        assert_eq!(m.format_for(Some("de-DE")), "1.234,50\u{a0}€");
        assert_eq!(m.format_for(None), "1234.50 EUR");
        let usd = Money::parse("18.5", "USD").unwrap();
        assert_eq!(usd.format_for(Some("en-US")), "$18.50");
        assert_eq!(usd.format_for(Some("en-GB")), "US$18.50");
        assert_eq!(
            Money::parse("1200", "JPY").unwrap().format_for(Some("ja")),
            "¥1,200"
        );
        assert_eq!(
            Money::parse("5", "CHF").unwrap().format_for(Some("en")),
            "CHF\u{a0}5.00"
        );
        assert_eq!(
            Money::parse("-3", "GBP").unwrap().format_for(Some("en-GB")),
            "-£3.00"
        );
    }

    #[test]
    fn displays_with_currency_precision() {
        assert_eq!(
            Money::parse("19.9", "EUR").unwrap().to_string(),
            "19.90 EUR"
        );
        assert_eq!(Money::parse("800", "JPY").unwrap().to_string(), "800 JPY");
    }
}
