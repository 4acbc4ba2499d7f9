//! The bundle of journeys and templates a deployment runs, built from the
//! content files and validated as a whole: every problem is reported with its
//! file, line and column, and nothing partially valid is ever used.

mod audience;
mod checks;
mod defaults;
mod diagnostics;
mod journey;
mod journey_file;
mod segment;
mod step;

pub(crate) use checks::check_conditions;
pub use checks::successors;
pub use defaults::{EmailTopic, Shop};
pub use diagnostics::{ContentError, ContentFile};
pub(crate) use diagnostics::{Diagnostics, at, locate, yaml_error};

use super::definition::{Audience, Definition, OnRetire, Segment, StepKind};
use crate::email::Template;
use crate::sending::Rules;
use audience::{AUDIENCE, parse_audience};
use defaults::{DEFAULTS, Defaults, parse_defaults};
use journey::{Known, parse_definition};
use segment::parse_segment;
use std::collections::BTreeMap;

/// Validated journeys (every version present) and templates.
#[derive(Debug, Clone)]
pub struct Catalog {
    journeys: Vec<Definition>,
    /// Indexes of each journey's newest version (computed once: every event
    /// asks for them).
    newest: Vec<usize>,
    segments: Vec<Segment>,
    templates: BTreeMap<String, Template>,
    /// The shop's zone: local-time rules use it for contacts of unknown zone.
    time_zone: jiff::tz::TimeZone,
    audience: Audience,
    shop: Option<Shop>,
    topics: Vec<EmailTopic>,
    double_opt_in: bool,
    /// How orders are attributed to emails (results).
    attribution: crate::analytics::Windows,
    /// The store's send-time rules (`sending:` in `_defaults.yaml`): what
    /// campaigns follow.
    sending: Rules,
    /// The key coupon codes are derived with (a deployment secret, not content).
    coupon_secret: Vec<u8>,
}

impl Catalog {
    /// Builds the catalog from `journeys/*.yaml` and
    /// `templates/<name>/{subject.txt,body.txt,body.html}` files.
    pub fn from_files(files: &[ContentFile]) -> Result<Self, Vec<ContentError>> {
        let mut errors = Vec::new();
        let templates = read_templates(files, &mut errors);
        let Defaults {
            rules: sending,
            zone: time_zone,
            shop,
            topics,
            double_opt_in,
            attribution,
        } = match files.iter().find(|f| f.path.ends_with(DEFAULTS)) {
            None => Defaults::default(),
            Some(f) => parse_defaults(f).unwrap_or_else(|mut e| {
                errors.append(&mut e);
                Defaults::default()
            }),
        };
        let audience = match files.iter().find(|f| f.path.ends_with(AUDIENCE)) {
            None => Audience::default(),
            Some(f) => parse_audience(f).unwrap_or_else(|mut e| {
                errors.append(&mut e);
                Audience::default()
            }),
        };
        let segments = read_segments(files, &mut errors);
        let segment_ids: Vec<String> = segments.iter().map(|s| s.id.clone()).collect();
        let stages: Vec<String> = audience.lifecycle.iter().map(|r| r.stage.clone()).collect();
        let known = Known {
            templates: &templates,
            sending: &sending,
            segments: &segment_ids,
            stages: &stages,
            topics: &topics,
        };
        let journeys = read_journeys(files, &known, &mut errors);
        if !errors.is_empty() {
            return Err(errors);
        }
        let newest = (0..journeys.len())
            .filter(|&i| {
                let d = &journeys[i];
                !journeys
                    .iter()
                    .any(|o| o.id == d.id && o.version > d.version)
            })
            .collect();
        Ok(Self {
            newest,
            journeys,
            segments,
            templates,
            time_zone,
            audience,
            shop,
            topics,
            double_opt_in,
            attribution,
            sending,
            coupon_secret: Vec::new(),
        })
    }

    /// The catalog with the deployment's coupon secret (`COUPON_SECRET`):
    /// codes cannot be guessed without it.
    pub fn with_coupon_secret(mut self, secret: &[u8]) -> Self {
        self.coupon_secret = secret.to_vec();
        self
    }

    /// The email topics a contact can opt out of, in file order.
    pub fn topics(&self) -> &[EmailTopic] {
        &self.topics
    }

    /// Whether every signup-form opt-in needs its confirmation link.
    pub fn double_opt_in(&self) -> bool {
        self.double_opt_in
    }

    /// The store's send-time rules (`sending:` in `journeys/_defaults.yaml`).
    pub fn sending(&self) -> &Rules {
        &self.sending
    }

    /// The attribution windows (`attribution:` in `journeys/_defaults.yaml`).
    pub fn attribution(&self) -> &crate::analytics::Windows {
        &self.attribution
    }

    pub fn coupon_secret(&self) -> &[u8] {
        &self.coupon_secret
    }

    /// Whether any journey gives coupons (then the functions need a secret).
    pub fn gives_coupons(&self) -> bool {
        self.journeys
            .iter()
            .flat_map(|j| &j.steps)
            .any(|s| matches!(s.kind, StepKind::Coupon(_)))
    }

    /// Every journey at its newest version, retired ones included.
    pub fn newest(&self) -> impl Iterator<Item = &Definition> {
        self.newest.iter().map(|&i| &self.journeys[i])
    }

    /// The journeys new entries start on: the newest version of each, unless retired.
    pub fn current(&self) -> impl Iterator<Item = &Definition> {
        self.newest().filter(|d| d.retired.is_none())
    }

    /// How a journey's newest version treats in-flight runs, if it retires it.
    pub fn retirement(&self, id: &str) -> Option<OnRetire> {
        self.newest().find(|d| d.id == id).and_then(|d| d.retired)
    }

    /// The newest version of a journey.
    pub fn latest(&self, id: &str) -> Option<&Definition> {
        self.newest().find(|d| d.id == id)
    }

    /// A specific version, for runs that started on it.
    pub fn version(&self, id: &str, version: u32) -> Option<&Definition> {
        self.journeys
            .iter()
            .find(|d| d.id == id && d.version == version)
    }

    pub fn template(&self, name: &str) -> Option<&Template> {
        self.templates.get(name)
    }

    pub fn templates(&self) -> impl Iterator<Item = &Template> {
        self.templates.values()
    }

    pub fn journeys(&self) -> &[Definition] {
        &self.journeys
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The shop's time zone (from `journeys/_defaults.yaml`, else UTC).
    pub fn time_zone(&self) -> &jiff::tz::TimeZone {
        &self.time_zone
    }

    /// Scoring, lifecycle and inactivity rules.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// The shop's name and address for email footers, if configured.
    pub fn shop(&self) -> Option<&Shop> {
        self.shop.as_ref()
    }
}

/// `templates/<name>/<part>`, and locale variants
/// `templates/<name>/<locale>/<part>`, which need a default to fall back on.
fn read_templates(
    files: &[ContentFile],
    errors: &mut Vec<ContentError>,
) -> BTreeMap<String, Template> {
    let mut parts: BTreeMap<(String, String), BTreeMap<String, &ContentFile>> = BTreeMap::new();
    for f in files {
        let segs: Vec<&str> = f.path.split('/').collect();
        let (name, dir, part) = match segs.as_slice() {
            ["templates", name, part] => (name.to_string(), format!("templates/{name}"), *part),
            ["templates", name, locale, part] => (
                format!("{name}@{}", locale.to_ascii_lowercase()),
                format!("templates/{name}/{locale}"),
                *part,
            ),
            _ => continue,
        };
        parts
            .entry((name, dir))
            .or_default()
            .insert(part.to_string(), f);
    }
    let mut templates = BTreeMap::new();
    for ((name, dir), files) in &parts {
        if let Some((base, _)) = name.split_once('@')
            && !parts.keys().any(|(n, _)| n == base)
        {
            errors.push(ContentError {
                path: dir.clone(),
                line: 1,
                column: 1,
                message: format!(
                    "locale variant `{name}` has no default template `{base}` to fall back on"
                ),
            });
        }
        match Template::from_parts(name, dir, files) {
            Ok(t) => {
                templates.insert(name.clone(), t);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    templates
}

fn is_yaml(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml")
}

/// `segments/<id>.yaml` (not `_`-prefixed rule files), each id once.
fn read_segments(files: &[ContentFile], errors: &mut Vec<ContentError>) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    for f in files.iter().filter(|f| {
        f.path.contains("segments/")
            && !f
                .path
                .rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with('_'))
            && is_yaml(&f.path)
    }) {
        match parse_segment(f) {
            Ok(seg) if segments.iter().any(|x| x.id == seg.id) => errors.push(at(
                f,
                locate(&f.text, "id:", 0),
                format!("segment `{}` is defined twice", seg.id),
            )),
            Ok(seg) => segments.push(seg),
            Err(mut e) => errors.append(&mut e),
        }
    }
    segments
}

/// `journeys/<id>.yaml`, each (id, version) once, and suppressions naming
/// journeys that exist.
fn read_journeys(
    files: &[ContentFile],
    known: &Known,
    errors: &mut Vec<ContentError>,
) -> Vec<Definition> {
    let mut journeys: Vec<Definition> = Vec::new();
    for f in files
        .iter()
        .filter(|f| f.path.contains("journeys/") && !f.path.ends_with(DEFAULTS) && is_yaml(&f.path))
    {
        match parse_definition(f, known) {
            Ok(d)
                if journeys
                    .iter()
                    .any(|j| j.id == d.id && j.version == d.version) =>
            {
                errors.push(at(
                    f,
                    locate(&f.text, "version:", 0),
                    format!("journey `{}` v{} is defined twice", d.id, d.version),
                ))
            }
            Ok(d) => journeys.push(d),
            Err(mut e) => errors.append(&mut e),
        }
    }
    for d in &journeys {
        for other in &d.suppressed_by {
            if journeys.iter().any(|j| &j.id == other) {
                continue;
            }
            let f = files.iter().find(|f| {
                f.path.contains("journeys/") && f.text.contains(&format!("id: {}", d.id))
            });
            if let Some(f) = f {
                errors.push(at(
                    f,
                    locate(&f.text, other, 0),
                    format!(
                        "journey `{}` v{}: `suppressed_by` names unknown journey `{other}`",
                        d.id, d.version
                    ),
                ));
            }
        }
    }
    journeys
}
