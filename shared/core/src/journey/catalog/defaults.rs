//! `journeys/_defaults.yaml`: what the whole store sets — its zone, its
//! signature, topics, double opt-in, attribution windows and sending rules.

use super::diagnostics::{ContentError, ContentFile, at, is_snake_id, locate, yaml_error};
use crate::journey::condition::Duration;
use crate::sending::{Cap, QuietHours, Rules, WhenCapped};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Where the sending defaults live (not a journey).
pub(super) const DEFAULTS: &str = "journeys/_defaults.yaml";

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    time_zone: Option<String>,
    shop: Option<Shop>,
    #[serde(default)]
    sending: SendingFile,
    /// Email topics a contact can opt out of one by one, id → label.
    #[serde(default)]
    topics: BTreeMap<String, String>,
    /// Every signup-form opt-in waits for the confirmation link.
    #[serde(default)]
    double_opt_in: bool,
    /// How long after a click (or an open) an order counts as the email's.
    #[serde(default)]
    attribution: AttributionFile,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AttributionFile {
    click_window: Option<Duration>,
    open_window: Option<Duration>,
}

/// The longest attribution window (ended runs, whose clicks attribution
/// reads, are kept 45 days).
const MAX_ATTRIBUTION_WINDOW: jiff::SignedDuration = jiff::SignedDuration::from_hours(24 * 30);

/// What `journeys/_defaults.yaml` sets for the whole store.
pub(super) struct Defaults {
    pub(super) rules: Rules,
    pub(super) zone: jiff::tz::TimeZone,
    pub(super) shop: Option<Shop>,
    pub(super) topics: Vec<EmailTopic>,
    pub(super) double_opt_in: bool,
    pub(super) attribution: crate::analytics::Windows,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            rules: builtin_rules(),
            zone: jiff::tz::TimeZone::UTC,
            shop: None,
            topics: Vec::new(),
            double_opt_in: false,
            attribution: Default::default(),
        }
    }
}

/// An email topic (`topics:` in `journeys/_defaults.yaml`): journeys name
/// one, and the preference page lets a contact leave it alone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EmailTopic {
    pub id: String,
    pub label: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct SendingFile {
    cap: Option<Switch<CapFile>>,
    when_capped: Option<WhenCapped>,
    quiet_hours: Option<Switch<QuietFile>>,
}

/// `off`, or the setting.
#[derive(Deserialize)]
#[serde(untagged)]
enum Switch<T> {
    Word(String),
    On(T),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CapFile {
    max: u32,
    per: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuietFile {
    from: String,
    to: String,
}

/// The built-in defaults: 1 marketing email per 16 hours, skip the rest;
/// quiet from 21:00 to 08:00 local time.
fn builtin_rules() -> Rules {
    Rules {
        cap: Some(Cap {
            max: 1,
            per: jiff::SignedDuration::from_hours(16),
        }),
        when_capped: WhenCapped::Skip,
        quiet_hours: Some(QuietHours {
            from: jiff::civil::Time::constant(21, 0, 0, 0),
            to: jiff::civil::Time::constant(8, 0, 0, 0),
        }),
    }
}

/// `base` with the file's settings on top; problems as (needle, message).
pub(super) fn merge(base: &Rules, file: &SendingFile) -> Result<Rules, (String, String)> {
    let mut rules = base.clone();
    match &file.cap {
        None => {}
        Some(Switch::Word(w)) if w == "off" => rules.cap = None,
        Some(Switch::Word(w)) => {
            return Err((
                "cap:".into(),
                format!("`cap` is `off` or {{max, per}}, got `{w}`"),
            ));
        }
        Some(Switch::On(c)) if c.max == 0 => {
            return Err(("max:".into(), "`cap.max` must be at least 1".into()));
        }
        Some(Switch::On(c)) if c.max as usize > crate::sending::REMEMBERED => {
            return Err((
                "max:".into(),
                format!(
                    "`cap.max` is at most {} (a contact remembers that many sends)",
                    crate::sending::REMEMBERED
                ),
            ));
        }
        Some(Switch::On(c)) if c.per.0 > crate::sending::REMEMBERED_FOR => {
            return Err((
                "per:".into(),
                "`cap.per` is at most 30d (a contact remembers sends that long)".into(),
            ));
        }
        Some(Switch::On(c)) => {
            rules.cap = Some(Cap {
                max: c.max,
                per: c.per.0,
            })
        }
    }
    if let Some(w) = file.when_capped {
        rules.when_capped = w;
    }
    match &file.quiet_hours {
        None => {}
        Some(Switch::Word(w)) if w == "off" => rules.quiet_hours = None,
        Some(Switch::Word(w)) => {
            return Err((
                "quiet_hours:".into(),
                format!("`quiet_hours` is `off` or {{from, to}}, got `{w}`"),
            ));
        }
        Some(Switch::On(q)) => {
            let time = |s: &str| {
                s.parse::<jiff::civil::Time>().map_err(|_| {
                    (
                        s.to_string(),
                        format!("`{s}` is not a time of day (e.g. \"21:00\")"),
                    )
                })
            };
            rules.quiet_hours = Some(QuietHours {
                from: time(&q.from)?,
                to: time(&q.to)?,
            });
        }
    }
    Ok(rules)
}

/// The shop as its emails sign it (`shop:` in `journeys/_defaults.yaml`):
/// every marketing email's footer carries its name and postal address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shop {
    pub name: String,
    pub address: String,
    pub url: Option<String>,
}

pub(super) fn parse_defaults(f: &ContentFile) -> Result<Defaults, Vec<ContentError>> {
    let file: DefaultsFile = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    let zone = match &file.time_zone {
        None => jiff::tz::TimeZone::UTC,
        Some(name) => crate::sending::zone(name).ok_or_else(|| {
            vec![at(
                f,
                locate(&f.text, name, 0),
                format!("`{name}` is not an IANA time zone (e.g. Europe/Dublin)"),
            )]
        })?,
    };
    let rules = merge(&builtin_rules(), &file.sending)
        .map_err(|(needle, msg)| vec![at(f, locate(&f.text, &needle, 0), msg)])?;
    let mut topics = Vec::new();
    for (id, label) in file.topics {
        if !is_snake_id(&id) {
            return Err(vec![at(
                f,
                locate(&f.text, &id, 0),
                format!("topic `{id}`: ids are lower_snake_case"),
            )]);
        }
        topics.push(EmailTopic { id, label });
    }
    let standard = crate::analytics::Windows::default();
    let attribution = crate::analytics::Windows {
        click: file
            .attribution
            .click_window
            .map_or(standard.click, |d| d.0),
        open: file.attribution.open_window.map_or(standard.open, |d| d.0),
    };
    // An email's run is kept 45 days after it ends: a longer window would
    // look for clicks whose runs have expired.
    for (field, window) in [
        ("click_window", attribution.click),
        ("open_window", attribution.open),
    ] {
        if window > MAX_ATTRIBUTION_WINDOW || window <= jiff::SignedDuration::ZERO {
            return Err(vec![at(
                f,
                locate(&f.text, field, 0),
                format!("attribution: `{field}` is more than zero and at most 30 days"),
            )]);
        }
    }
    Ok(Defaults {
        rules,
        zone,
        shop: file.shop,
        topics,
        double_opt_in: file.double_opt_in,
        attribution,
    })
}
