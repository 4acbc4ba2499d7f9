//! Logical time helpers: parsing timestamps from payloads and durations from
//! definition files. Nothing here reads the clock.

use jiff::{SignedDuration, Timestamp};

/// Parses an RFC 3339 / ISO 8601 instant with an offset, as Shopify sends them.
pub fn parse_instant(raw: &str) -> Option<Timestamp> {
    raw.trim().parse().ok()
}

/// Writes a duration the way definition files do: `2d`, `1d12h`, `90s`.
pub fn format_duration(d: SignedDuration) -> String {
    let mut secs = d.as_secs().abs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Parses a duration such as `90s`, `15m`, `1h`, `2d`, `1d12h`.
pub fn parse_duration(raw: &str) -> Result<SignedDuration, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty duration (expected e.g. `1h`, `30m`, `2d`)".into());
    }
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3_600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return Err(format!("`{raw}`: unknown unit `{c}` (use s, m, h, d or w)")),
        };
        if number.is_empty() {
            return Err(format!("`{raw}`: unit `{c}` without a number"));
        }
        let n: i64 = number
            .parse()
            .map_err(|_| format!("`{raw}`: number too large"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("`{raw}`: duration too large"))?;
        number.clear();
    }
    if !number.is_empty() {
        return Err(format!("`{raw}`: number `{number}` without a unit"));
    }
    if total <= 0 {
        return Err(format!("`{raw}`: duration must be positive"));
    }
    Ok(SignedDuration::from_secs(total))
}

/// A duration written as `90m`, `1h`, `2d`, checked when the file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Duration(pub SignedDuration);

impl TryFrom<String> for Duration {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        parse_duration(&value).map(Duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_offsets_to_utc() {
        let t = parse_instant("2026-11-23T05:00:00-05:00").unwrap();
        assert_eq!(t.to_string(), "2026-11-23T10:00:00Z");
        assert!(parse_instant("yesterday").is_none());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3_600);
        assert_eq!(parse_duration("1d12h").unwrap().as_secs(), 129_600);
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3y").is_err());
    }
}
