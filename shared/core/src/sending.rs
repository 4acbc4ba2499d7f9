//! Send-time rules for marketing email: a frequency cap per contact and quiet
//! hours in the contact's time zone. Transactional mail is exempt from both.
//! Pure: the decision is a function of the contact's recent sends, the
//! logical time and the zone.

use jiff::civil::Time;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

/// At most `max` marketing emails per contact in any window of `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cap {
    pub max: u32,
    pub per: SignedDuration,
}

/// No marketing email between `from` and `to` (local time; may span midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub from: Time,
    pub to: Time,
}

/// What a journey does with a message the cap holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenCapped {
    Skip,
    Delay,
}

/// The rules one journey sends under (defaults merged with its overrides).
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    pub cap: Option<Cap>,
    pub when_capped: WhenCapped,
    pub quiet_hours: Option<QuietHours>,
}

/// How many recent marketing sends a contact remembers (enough for any cap:
/// `cap.max` is at most this).
pub const REMEMBERED: usize = 32;

/// How long a contact remembers a marketing send: the longest window a cap
/// (`cap.per`) or a campaign's `smart_sending` may have. Older sends count
/// for nothing and are dropped, so the profile does not carry a year of them.
pub const REMEMBERED_FOR: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 30);

/// When the cap lets the next message go, if it holds this one back at `at`.
pub fn capped_until(cap: &Cap, sent: &[Timestamp], at: Timestamp) -> Option<Timestamp> {
    let mut in_window: Vec<Timestamp> = sent
        .iter()
        .copied()
        .filter(|t| *t <= at && at.duration_since(*t) < cap.per)
        .collect();
    if (in_window.len() as u32) < cap.max {
        return None;
    }
    in_window.sort();
    // The window frees a slot when its oldest counted send leaves it.
    let oldest = in_window[in_window.len() - cap.max as usize];
    oldest.checked_add(cap.per).ok()
}

/// If `at` falls in quiet hours in `tz`, when they end.
pub fn quiet_until(q: &QuietHours, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
    let local = at.to_zoned(tz.clone());
    let now = local.time();
    let quiet = if q.from <= q.to {
        now >= q.from && now < q.to
    } else {
        now >= q.from || now < q.to
    };
    if !quiet {
        return None;
    }
    let date = if q.from > q.to && now >= q.from {
        local.date().tomorrow().ok()?
    } else {
        local.date()
    };
    date.to_datetime(q.to)
        .to_zoned(tz.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// The first instant at or after `at` whose local time in `tz` is `time`, on
/// one of `days` (any day when empty).
pub fn next_local(
    at: Timestamp,
    time: Time,
    days: &[jiff::civil::Weekday],
    tz: &TimeZone,
) -> Timestamp {
    let start = at.to_zoned(tz.clone()).date();
    let mut date = start;
    for _ in 0..8 {
        if (days.is_empty() || days.contains(&date.weekday()))
            && let Ok(z) = date.to_datetime(time).to_zoned(tz.clone())
            && z.timestamp() >= at
        {
            return z.timestamp();
        }
        match date.tomorrow() {
            Ok(d) => date = d,
            Err(_) => break,
        }
    }
    at
}

/// A time zone by IANA name, from the bundled database.
pub fn zone(name: &str) -> Option<TimeZone> {
    TimeZone::get(name).ok()
}

/// The zone of a country, where a country has one (ISO 3166-1 alpha-2).
/// Countries spanning several zones (US, CA, AU, BR, RU, MX…) need the
/// province and fall back to the shop's zone for now.
/// The IANA zone of a state or province in the countries that span several
/// (US, Canada, Australia, Brazil, Mexico), from ISO 3166-2 subdivision codes
/// as Shopify sends them (`province_code`: `CA`, `ON`, `NSW`). A state split
/// between zones gets the zone most of its people live in.
pub fn region_zone(country: &str, province: &str) -> Option<&'static str> {
    let p = province.to_ascii_uppercase();
    let p = p.rsplit('-').next().unwrap_or("");
    Some(match (country.to_ascii_uppercase().as_str(), p) {
        (
            "US",
            "CT" | "DE" | "DC" | "FL" | "GA" | "ME" | "MD" | "MA" | "NH" | "NJ" | "NY" | "NC"
            | "OH" | "PA" | "RI" | "SC" | "VT" | "VA" | "WV",
        ) => "America/New_York",
        ("US", "MI") => "America/Detroit",
        ("US", "IN") => "America/Indiana/Indianapolis",
        ("US", "KY") => "America/Kentucky/Louisville",
        (
            "US",
            "AL" | "AR" | "IL" | "IA" | "KS" | "LA" | "MN" | "MS" | "MO" | "NE" | "ND" | "OK"
            | "SD" | "TN" | "TX" | "WI",
        ) => "America/Chicago",
        ("US", "CO" | "MT" | "NM" | "UT" | "WY") => "America/Denver",
        ("US", "ID") => "America/Boise",
        ("US", "AZ") => "America/Phoenix",
        ("US", "CA" | "NV" | "OR" | "WA") => "America/Los_Angeles",
        ("US", "AK") => "America/Anchorage",
        ("US", "HI") => "Pacific/Honolulu",
        ("US", "PR") => "America/Puerto_Rico",
        ("CA", "AB") => "America/Edmonton",
        ("CA", "BC") => "America/Vancouver",
        ("CA", "MB") => "America/Winnipeg",
        ("CA", "NB") => "America/Moncton",
        ("CA", "NL") => "America/St_Johns",
        ("CA", "NS" | "PE") => "America/Halifax",
        ("CA", "NT") => "America/Yellowknife",
        ("CA", "NU") => "America/Iqaluit",
        ("CA", "ON" | "QC") => "America/Toronto",
        ("CA", "SK") => "America/Regina",
        ("CA", "YT") => "America/Whitehorse",
        ("AU", "ACT" | "NSW") => "Australia/Sydney",
        ("AU", "VIC") => "Australia/Melbourne",
        ("AU", "QLD") => "Australia/Brisbane",
        ("AU", "SA") => "Australia/Adelaide",
        ("AU", "WA") => "Australia/Perth",
        ("AU", "TAS") => "Australia/Hobart",
        ("AU", "NT") => "Australia/Darwin",
        ("BR", "AM" | "RR" | "RO") => "America/Manaus",
        ("BR", "AC") => "America/Rio_Branco",
        ("BR", "MT" | "MS") => "America/Cuiaba",
        ("BR", _) => "America/Sao_Paulo",
        ("MX", "BC") => "America/Tijuana",
        ("MX", "SON") => "America/Hermosillo",
        ("MX", "BCS" | "SIN" | "NAY") => "America/Mazatlan",
        ("MX", "ROO") => "America/Cancun",
        ("MX", _) => "America/Mexico_City",
        _ => return None,
    })
}

pub fn country_zone(country: &str) -> Option<&'static str> {
    Some(match country.to_ascii_uppercase().as_str() {
        "IE" => "Europe/Dublin",
        "GB" => "Europe/London",
        "PT" => "Europe/Lisbon",
        "ES" => "Europe/Madrid",
        "FR" => "Europe/Paris",
        "BE" => "Europe/Brussels",
        "NL" => "Europe/Amsterdam",
        "LU" => "Europe/Luxembourg",
        "DE" => "Europe/Berlin",
        "AT" => "Europe/Vienna",
        "CH" => "Europe/Zurich",
        "IT" => "Europe/Rome",
        "DK" => "Europe/Copenhagen",
        "NO" => "Europe/Oslo",
        "SE" => "Europe/Stockholm",
        "FI" => "Europe/Helsinki",
        "PL" => "Europe/Warsaw",
        "CZ" => "Europe/Prague",
        "GR" => "Europe/Athens",
        "IS" => "Atlantic/Reykjavik",
        "IN" => "Asia/Kolkata",
        "JP" => "Asia/Tokyo",
        "KR" => "Asia/Seoul",
        "SG" => "Asia/Singapore",
        "HK" => "Asia/Hong_Kong",
        "NZ" => "Pacific/Auckland",
        "ZA" => "Africa/Johannesburg",
        "AE" => "Asia/Dubai",
        "IL" => "Asia/Jerusalem",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn the_cap_holds_until_the_window_frees() {
        let cap = Cap {
            max: 1,
            per: SignedDuration::from_hours(16),
        };
        let sent = [t("2026-11-23T10:00:00Z")];
        assert_eq!(
            capped_until(&cap, &sent, t("2026-11-23T11:00:00Z")),
            Some(t("2026-11-24T02:00:00Z"))
        );
        assert_eq!(capped_until(&cap, &sent, t("2026-11-24T02:00:00Z")), None);
        let two = Cap { max: 2, ..cap };
        assert_eq!(capped_until(&two, &sent, t("2026-11-23T11:00:00Z")), None);
    }

    #[test]
    fn quiet_hours_move_a_3am_send_to_the_opening_in_the_contacts_zone() {
        let q = QuietHours {
            from: Time::constant(21, 0, 0, 0),
            to: Time::constant(8, 0, 0, 0),
        };
        let ny = zone("America/New_York").unwrap();
        // 03:00 in New York is 08:00Z; it waits for 08:00 New York (13:00Z).
        assert_eq!(
            quiet_until(&q, t("2026-11-23T08:00:00Z"), &ny),
            Some(t("2026-11-23T13:00:00Z"))
        );
        // 22:00 local waits for tomorrow 08:00 local.
        assert_eq!(
            quiet_until(&q, t("2026-11-24T03:00:00Z"), &ny),
            Some(t("2026-11-24T13:00:00Z"))
        );
        assert_eq!(quiet_until(&q, t("2026-11-23T15:00:00Z"), &ny), None);
        let day = QuietHours {
            from: Time::constant(12, 0, 0, 0),
            to: Time::constant(13, 0, 0, 0),
        };
        assert_eq!(
            quiet_until(&day, t("2026-11-23T12:30:00Z"), &TimeZone::UTC),
            Some(t("2026-11-23T13:00:00Z"))
        );
    }
}

#[cfg(test)]
mod region_tests {
    use super::*;

    #[test]
    fn states_and_provinces_pick_their_zone() {
        assert_eq!(region_zone("US", "CA"), Some("America/Los_Angeles"));
        assert_eq!(region_zone("us", "US-NY"), Some("America/New_York"));
        assert_eq!(region_zone("CA", "BC"), Some("America/Vancouver"));
        assert_eq!(region_zone("AU", "WA"), Some("Australia/Perth"));
        assert_eq!(region_zone("IE", "D"), None);
        // A contact in California is in Los Angeles' zone, not the shop's.
        let mut c = crate::contact::Contact::new(
            crate::ids::ContactId::for_customer(1),
            crate::ids::ShopDomain::parse("demo.myshopify.com").unwrap(),
            "2026-01-01T00:00:00Z".parse().unwrap(),
        );
        c.identity.country = Some("US".into());
        assert_eq!(
            c.zone_name(),
            None,
            "a country of many zones alone says nothing"
        );
        c.identity.province = Some("CA".into());
        assert_eq!(c.zone_name(), Some("America/Los_Angeles"));
        // Every zone named exists in the bundled database.
        for (c, p) in [
            ("US", "HI"),
            ("US", "IN"),
            ("CA", "NL"),
            ("AU", "NT"),
            ("BR", "AC"),
            ("MX", "ROO"),
        ] {
            assert!(zone(region_zone(c, p).unwrap()).is_some(), "{c}-{p}");
        }
    }
}
