//! The bundle of journeys and templates a deployment runs, built from the
//! content files and validated as a whole: every problem is reported with its
//! file, line and column, and nothing partially valid is ever used.

use super::condition::{Condition, Duration};
use super::definition::{
    Audience, DATE_REACHED, DateRef, SEGMENT_EVENTS, STAGE_CHANGED, ScoreRule, Segment, StageRule,
};
use super::definition::{
    Branch, Definition, Exit, Goal, OnRepeat, OnRetire, Reentry, RunPer, Step, StepKind, Trigger,
    Update,
};
use crate::email::Template;
use crate::event::EventKind;
use crate::sending::{Cap, QuietHours, Rules, WhenCapped};
use jiff::SignedDuration;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// One content file: its path relative to the repository root, and its text.
#[derive(Debug, Clone)]
pub struct ContentFile {
    pub path: String,
    pub text: String,
}

impl ContentFile {
    /// Whether a path is content (definitions, template parts), as opposed to
    /// files kept beside it (a preview screenshot). The build's bundler
    /// (`shared/content/build.rs`) keeps the same list.
    pub fn is_content(path: &str) -> bool {
        [".yaml", ".yml", ".txt", ".html", ".mjml"]
            .iter()
            .any(|e| path.ends_with(e))
    }
}

/// A problem in a content file, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentError {
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

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

/// Scoring, lifecycle and inactivity rules (not a segment).
const AUDIENCE: &str = "segments/_audience.yaml";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AudienceFile {
    inactive_after: Option<Duration>,
    rfm: Option<crate::rfm::Thresholds>,
    #[serde(default)]
    scoring: ScoringFile,
    #[serde(default)]
    lifecycle: Vec<StageFile>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ScoringFile {
    half_life: Option<Duration>,
    #[serde(default)]
    rules: Vec<ScoreFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScoreFile {
    event: String,
    #[serde(default)]
    when: Vec<Condition>,
    points: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    stage: String,
    #[serde(default)]
    when: Vec<Condition>,
}

fn parse_audience(f: &ContentFile) -> Result<Audience, Vec<ContentError>> {
    let file: AudienceFile = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    let mut errors = Vec::new();
    let mut line = 0;
    for r in &file.scoring.rules {
        let (l, c) = locate(&f.text, &format!("event: {}", r.event), line);
        line = l;
        if !EventKind::NAMES.contains(&r.event.as_str()) {
            errors.push(at(
                f,
                (l, c),
                format!("scoring: unknown event `{}`", r.event),
            ));
        }
        errors.extend(
            check_conditions(&r.when)
                .into_iter()
                .map(|m| at(f, (l, c), format!("scoring: {m}"))),
        );
    }
    for s in &file.lifecycle {
        let (l, c) = locate(&f.text, &format!("stage: {}", s.stage), 0);
        if s.when
            .iter()
            .any(|c| c.reads_event() || !c.segments_named().is_empty())
        {
            errors.push(at(
                f,
                (l, c),
                format!(
                    "lifecycle: stage `{}` may only read the contact (no event or segment conditions)",
                    s.stage
                ),
            ));
        }
        errors.extend(
            check_conditions(&s.when)
                .into_iter()
                .map(|m| at(f, (l, c), format!("lifecycle: {m}"))),
        );
    }
    let rfm = file.rfm.unwrap_or_default();
    if let Some(m) = rfm.problem() {
        errors.push(at(f, locate(&f.text, "rfm:", 0), m));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Audience {
        rfm,
        inactive_after: file
            .inactive_after
            .map_or(Audience::default().inactive_after, |d| d.0),
        half_life: file.scoring.half_life.map(|d| d.0),
        scoring: file
            .scoring
            .rules
            .into_iter()
            .map(|r| ScoreRule {
                event: r.event,
                conditions: r.when,
                points: r.points,
            })
            .collect(),
        lifecycle: file
            .lifecycle
            .into_iter()
            .map(|s| StageRule {
                stage: s.stage,
                conditions: s.when,
            })
            .collect(),
    })
}

/// Problems inside conditions the types cannot catch: counted events that
/// do not exist, RFM cells that do not exist, scores out of range.
pub fn check_conditions(conditions: &[Condition]) -> Vec<String> {
    let mut problems = Vec::new();
    fn walk(c: &Condition, out: &mut Vec<String>) {
        match c {
            Condition::Count(rule) => {
                if !EventKind::NAMES.contains(&rule.event.as_str()) {
                    out.push(format!("count: unknown event `{}`", rule.event));
                }
                if rule.at_least.is_none() && rule.at_most.is_none() && rule.sum_at_least.is_none()
                {
                    out.push(format!(
                        "count of `{}` needs `at_least`, `at_most` or `sum_at_least`",
                        rule.event
                    ));
                }
            }
            Condition::Rfm(cell) if !crate::rfm::CELLS.contains(&cell.as_str()) => {
                out.push(format!(
                    "unknown RFM cell `{cell}` (known: {})",
                    crate::rfm::CELLS.join(", ")
                ))
            }
            Condition::RfmAtLeast(f) => {
                for (name, v) in [("r", f.r), ("f", f.f), ("m", f.m)] {
                    if v.is_some_and(|v| !(1..=5).contains(&v)) {
                        out.push(format!("rfm_at_least: `{name}` is a score from 1 to 5"));
                    }
                }
            }
            Condition::Not(c) => walk(c, out),
            Condition::AnyOf(cs) | Condition::AllOf(cs) => {
                cs.iter().for_each(|c| walk(c, out));
            }
            _ => {}
        }
    }
    for c in conditions {
        walk(c, &mut problems);
    }
    problems
}

/// Where the sending defaults live (not a journey).
const DEFAULTS: &str = "journeys/_defaults.yaml";

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

/// What `journeys/_defaults.yaml` sets for the whole store.
struct Defaults {
    rules: Rules,
    zone: jiff::tz::TimeZone,
    shop: Option<Shop>,
    topics: Vec<EmailTopic>,
    double_opt_in: bool,
    attribution: crate::analytics::Windows,
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
struct SendingFile {
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
fn merge(base: &Rules, file: &SendingFile) -> Result<Rules, (String, String)> {
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

impl Catalog {
    /// Builds the catalog from `journeys/*.yaml` and
    /// `templates/<name>/{subject.txt,body.txt,body.html}` files.
    pub fn from_files(files: &[ContentFile]) -> Result<Self, Vec<ContentError>> {
        let mut errors = Vec::new();
        // templates/<name>/<part>, and locale variants templates/<name>/<locale>/<part>.
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
            let name = name.clone();
            match Template::from_parts(&name, dir, files) {
                Ok(t) => {
                    templates.insert(name, t);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        let store_defaults = match files.iter().find(|f| f.path.ends_with(DEFAULTS)) {
            None => Defaults::default(),
            Some(f) => match parse_defaults(f) {
                Ok(d) => d,
                Err(mut e) => {
                    errors.append(&mut e);
                    Defaults::default()
                }
            },
        };
        let Defaults {
            rules: defaults,
            zone: time_zone,
            shop,
            topics,
            double_opt_in,
            attribution,
        } = store_defaults;
        let audience = match files.iter().find(|f| f.path.ends_with(AUDIENCE)) {
            None => Audience::default(),
            Some(f) => parse_audience(f).unwrap_or_else(|mut e| {
                errors.append(&mut e);
                Audience::default()
            }),
        };
        let mut segments: Vec<Segment> = Vec::new();
        for f in files.iter().filter(|f| {
            f.path.contains("segments/")
                && !f
                    .path
                    .rsplit('/')
                    .next()
                    .is_some_and(|n| n.starts_with('_'))
                && (f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
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
        let segment_ids: Vec<String> = segments.iter().map(|s| s.id.clone()).collect();
        let stages: Vec<String> = audience.lifecycle.iter().map(|r| r.stage.clone()).collect();
        let mut journeys: Vec<Definition> = Vec::new();
        for f in files.iter().filter(|f| {
            f.path.contains("journeys/")
                && !f.path.ends_with(DEFAULTS)
                && (f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
        }) {
            match parse_definition(f, &templates, &defaults, &segment_ids, &stages, &topics) {
                Ok(d) => {
                    if journeys
                        .iter()
                        .any(|j| j.id == d.id && j.version == d.version)
                    {
                        errors.push(at(
                            f,
                            locate(&f.text, "version:", 0),
                            format!("journey `{}` v{} is defined twice", d.id, d.version),
                        ));
                    } else {
                        journeys.push(d);
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        // Cross-file checks: suppressions name journeys that exist.
        for d in &journeys {
            for other in &d.suppressed_by {
                if !journeys.iter().any(|j| &j.id == other) {
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
        }
        if errors.is_empty() {
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
                sending: defaults.clone(),
                coupon_secret: Vec::new(),
            })
        } else {
            Err(errors)
        }
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

pub(crate) fn at(f: &ContentFile, (line, column): (usize, usize), message: String) -> ContentError {
    ContentError {
        path: f.path.clone(),
        line,
        column,
        message,
    }
}

/// Line and column (1-based) of the first `needle` at or after `from_line`
/// (0-based); the start of the file when absent. Used to point semantic errors,
/// which the YAML parser cannot place, at the text they concern.
pub(crate) fn locate(text: &str, needle: &str, from_line: usize) -> (usize, usize) {
    text.lines()
        .enumerate()
        .skip(from_line)
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or((1, 1))
}

// ---- the file format ---------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: String,
    version: u32,
    name: String,
    #[serde(default)]
    audience: Vec<Condition>,
    #[serde(default)]
    suppressed_by: Vec<String>,
    retired: Option<OnRetire>,
    trigger: Option<TriggerFile>,
    #[serde(default)]
    goals: Vec<GoalFile>,
    #[serde(default)]
    exits: Vec<ExitFile>,
    #[serde(default)]
    steps: Vec<StepFile>,
    #[serde(default)]
    sending: SendingFile,
    /// The email topic its marketing email belongs to.
    topic: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerFile {
    event: String,
    #[serde(default)]
    when: Vec<Condition>,
    #[serde(default = "run_per_contact")]
    run_per: RunPer,
    #[serde(default = "ignore_repeats")]
    on_repeat: OnRepeat,
    #[serde(default)]
    reentry: Option<ReentryFile>,
    cooldown: Option<Duration>,
    segment: Option<String>,
    stage: Option<String>,
    /// With `date_reached`: which date, and `before`/`after` it.
    date: Option<String>,
    before: Option<Duration>,
    after: Option<Duration>,
}

fn run_per_contact() -> RunPer {
    RunPer::Contact
}

fn ignore_repeats() -> OnRepeat {
    OnRepeat::Ignore
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ReentryFile {
    Word(String),
    Every { every: Duration },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GoalFile {
    event: String,
    #[serde(default)]
    when: Vec<Condition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExitFile {
    event: String,
    #[serde(default)]
    when_any: Vec<Condition>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    id: String,
    wait: Option<Duration>,
    from: Option<WaitAnchor>,
    wait_for: Option<WaitForFile>,
    wait_until: Option<WaitUntilFile>,
    wait_until_date: Option<WaitDateFile>,
    coupon: Option<crate::coupon::Spec>,
    emit: Option<String>,
    #[serde(rename = "if")]
    if_: Option<Vec<Condition>>,
    then: Option<String>,
    #[serde(rename = "else")]
    otherwise: Option<String>,
    split: Option<Vec<BranchFile>>,
    email: Option<String>,
    #[serde(default)]
    transactional: bool,
    update: Option<Update>,
    #[serde(default)]
    exit: bool,
    next: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitDateFile {
    date: String,
    before: Option<Duration>,
    after: Option<Duration>,
    #[serde(default)]
    late: Late,
}

/// What a `wait_until_date` does when its date is missing or past.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Late {
    #[default]
    Continue,
    End,
}

/// `before: 2d` / `after: 1d` as one signed offset; both is an error.
fn offset(before: Option<Duration>, after: Option<Duration>) -> Result<SignedDuration, String> {
    match (before, after) {
        (Some(_), Some(_)) => Err("give `before` or `after`, not both".into()),
        (Some(b), None) => Ok(-b.0),
        (None, Some(a)) => Ok(a.0),
        (None, None) => Ok(SignedDuration::ZERO),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitUntilFile {
    time: String,
    #[serde(default)]
    days: Vec<String>,
}

fn weekday(d: &str) -> Option<jiff::civil::Weekday> {
    use jiff::civil::Weekday::*;
    Some(match d.to_ascii_lowercase().get(..3)? {
        "mon" => Monday,
        "tue" => Tuesday,
        "wed" => Wednesday,
        "thu" => Thursday,
        "fri" => Friday,
        "sat" => Saturday,
        "sun" => Sunday,
        _ => return None,
    })
}

/// An event name, or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn names(&self) -> Vec<String> {
        match self {
            Self::One(n) => vec![n.clone()],
            Self::Many(ns) => ns.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitForFile {
    event: OneOrMany,
    #[serde(default)]
    when: Vec<Condition>,
    timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchFile {
    name: String,
    weight: u32,
    then: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WaitAnchor {
    Trigger,
    Previous,
}

/// Word that ends a run when used as a jump target.
const END: &str = "end";

pub(crate) fn yaml_error(f: &ContentFile, e: serde_norway::Error) -> Vec<ContentError> {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((1, 1));
    // A value refused by its type (a duration, an amount) is reported at
    // the start of its enclosing map; point at the value itself.
    let message = e.to_string();
    let quoted = message.split('`').nth(1).filter(|q| !q.is_empty());
    let place = quoted
        .map(|q| locate(&f.text, q, line.saturating_sub(1)))
        .filter(|(l, _)| *l >= line)
        .unwrap_or((line, column));
    vec![at(f, place, message)]
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

fn parse_defaults(f: &ContentFile) -> Result<Defaults, Vec<ContentError>> {
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
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
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
    Ok(Defaults {
        rules,
        zone,
        shop: file.shop,
        topics,
        double_opt_in: file.double_opt_in,
        attribution,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentFile {
    id: String,
    name: String,
    when: Vec<Condition>,
}

fn parse_segment(f: &ContentFile) -> Result<Segment, Vec<ContentError>> {
    let file: SegmentFile = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    let mut errors = Vec::new();
    let here = format!("segment `{}`", file.id);
    if file.id.is_empty()
        || !file
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        errors.push(at(
            f,
            locate(&f.text, "id:", 0),
            format!("{here}: `id` must be lower_snake_case"),
        ));
    }
    if file.when.is_empty() {
        errors.push(at(
            f,
            locate(&f.text, "when:", 0),
            format!("{here}: `when` needs at least one condition"),
        ));
    }
    for m in check_conditions(&file.when) {
        errors.push(at(f, locate(&f.text, "when:", 0), format!("{here}: {m}")));
    }
    for c in &file.when {
        if c.reads_event() {
            errors.push(at(
                f,
                locate(&f.text, "when:", 0),
                format!("{here}: {c:?} reads an event; segments are about the contact"),
            ));
        }
        if !c.segments_named().is_empty() {
            errors.push(at(
                f,
                locate(&f.text, "in_segment", 0),
                format!("{here}: a segment cannot be defined by other segments"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Segment {
            id: file.id,
            name: file.name,
            conditions: file.when,
        })
    } else {
        Err(errors)
    }
}

fn parse_definition(
    f: &ContentFile,
    templates: &BTreeMap<String, Template>,
    defaults: &Rules,
    segment_ids: &[String],
    stages: &[String],
    topics: &[EmailTopic],
) -> Result<Definition, Vec<ContentError>> {
    let file: File = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    // Every problem is collected (not just the first), so one run of the
    // validator shows them all.
    let errors = std::cell::RefCell::new(Vec::new());
    let err = |needle: &str, from: usize, msg: String| {
        errors
            .borrow_mut()
            .push(at(f, locate(&f.text, needle, from), msg));
    };
    let known_event = |e: &str| EventKind::NAMES.contains(&e);
    let known_segment = |s: &str| segment_ids.iter().any(|x| x == s);
    let journey = format!("journey `{}` v{}", file.id, file.version);
    if file.id.is_empty()
        || !file
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        err(
            "id:",
            0,
            format!("{journey}: `id` must be lower_snake_case"),
        );
    }
    if file.version == 0 {
        err("version:", 0, format!("{journey}: `version` starts at 1"));
    }
    let trigger = match (&file.trigger, file.retired) {
        (Some(t), _) => {
            let derived = SEGMENT_EVENTS.contains(&t.event.as_str());
            match (&t.segment, derived) {
                (None, true) => err(
                    "event:",
                    0,
                    format!("{journey}: `{}` needs `segment: <id>`", t.event),
                ),
                (Some(s), true) if !known_segment(s) => err(
                    s,
                    0,
                    format!("{journey}: unknown segment `{s}` (no segments/{s}.yaml)"),
                ),
                (Some(_), false) => err(
                    "segment:",
                    0,
                    format!("{journey}: `segment` only goes with segment_entered/segment_exited"),
                ),
                _ => {}
            }
            let staged = t.event == STAGE_CHANGED;
            if let Some(stage) = &t.stage
                && staged
                && !stages.is_empty()
                && !stages.contains(stage)
            {
                err(
                    "stage:",
                    0,
                    format!(
                        "{journey}: unknown lifecycle stage `{stage}` (segments/_audience.yaml has {})",
                        stages.join(", ")
                    ),
                );
            }
            if t.stage.is_some() && !staged {
                err(
                    "stage:",
                    0,
                    format!("{journey}: `stage` only goes with `{STAGE_CHANGED}`"),
                );
            }
            let subscribed = t.event == super::definition::SUBSCRIBED;
            let dated = t.event == DATE_REACHED;
            let date = match (&t.date, dated) {
                (None, true) => {
                    err(
                        "event:",
                        0,
                        format!("{journey}: `{DATE_REACHED}` needs `date: <which date>`"),
                    );
                    None
                }
                (Some(_), false) => {
                    err(
                        "date:",
                        0,
                        format!("{journey}: `date` only goes with `{DATE_REACHED}`"),
                    );
                    None
                }
                (Some(d), true) => match (DateRef::parse(d), offset(t.before, t.after)) {
                    (Ok(r), Ok(o)) => Some((r, o)),
                    (Err(m), _) | (_, Err(m)) => {
                        err("date:", 0, format!("{journey}: {m}"));
                        None
                    }
                },
                (None, false) => None,
            };
            if !dated && (t.before.is_some() || t.after.is_some()) {
                err(
                    "trigger:",
                    0,
                    format!("{journey}: `before`/`after` only go with `{DATE_REACHED}`"),
                );
            }
            if !known_event(&t.event) && !derived && !staged && !subscribed && !dated {
                err(
                    &t.event,
                    0,
                    format!(
                        "{journey}: unknown trigger event `{}` (known: {})",
                        t.event,
                        EventKind::NAMES.join(", ")
                    ),
                );
            }
            if t.run_per == RunPer::Checkout && t.event != "checkout_updated" {
                err(
                    "run_per:",
                    0,
                    format!("{journey}: `run_per: checkout` needs a checkout trigger event"),
                );
            }
            if t.run_per == RunPer::Order
                && !t.event.starts_with("order_")
                && t.event != "subscription_billed"
            {
                err(
                    "run_per:",
                    0,
                    format!(
                        "{journey}: `run_per: order` needs an order (or `subscription_billed`) trigger event"
                    ),
                );
            }
            let reentry = match &t.reentry {
                None => Reentry::Once,
                Some(ReentryFile::Word(w)) if w == "once" => Reentry::Once,
                Some(ReentryFile::Word(w)) if w == "always" => Reentry::Always,
                Some(ReentryFile::Word(w)) => {
                    err(
                        "reentry:",
                        0,
                        format!(
                            "{journey}: `reentry` is `once`, `always` or `{{every: <duration>}}`, got `{w}`"
                        ),
                    );
                    Reentry::Once
                }
                Some(ReentryFile::Every { every }) => Reentry::Every(every.0),
            };
            Trigger {
                event: t.event.clone(),
                conditions: t.when.clone(),
                run_per: t.run_per,
                on_repeat: t.on_repeat,
                reentry,
                cooldown: t.cooldown.map(|c| c.0),
                segment: t.segment.clone(),
                stage: t.stage.clone(),
                date,
            }
        }
        (None, Some(_)) => Trigger {
            event: String::new(),
            conditions: vec![],
            run_per: RunPer::Contact,
            on_repeat: OnRepeat::Ignore,
            reentry: Reentry::Once,
            cooldown: None,
            segment: None,
            stage: None,
            date: None,
        },
        (None, None) => {
            err(
                "id:",
                0,
                format!("{journey}: needs a `trigger` (or `retired: finish|exit`)"),
            );
            return Err(errors.into_inner());
        }
    };
    for g in &file.goals {
        if !known_event(&g.event) {
            err(
                &g.event,
                0,
                format!("{journey}: unknown goal event `{}`", g.event),
            );
        }
    }
    for x in &file.exits {
        if !known_event(&x.event) {
            err(
                &x.event,
                0,
                format!("{journey}: unknown exit event `{}`", x.event),
            );
        }
    }
    if file.steps.is_empty() && file.retired.is_none() {
        err("steps:", 0, format!("{journey}: has no steps"));
    }
    // Step ids → indexes, for jumps.
    let index: BTreeMap<&str, usize> = file
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut seen: Vec<&str> = Vec::new();
    let mut steps = Vec::new();
    for (i, s) in file.steps.iter().enumerate() {
        let line = locate(&f.text, &format!("id: {}", s.id), 0)
            .0
            .saturating_sub(1);
        let here = format!("{journey}, step `{}`", s.id);
        if s.id == END || s.id.is_empty() {
            err(
                &format!("id: {}", s.id),
                line,
                format!("{here}: `{END}` and empty ids are reserved"),
            );
        }
        if seen.contains(&s.id.as_str()) {
            err(
                &format!("id: {}", s.id),
                line + 1,
                format!("{here}: step id is used twice"),
            );
        }
        seen.push(&s.id);
        let target = |field: &str,
                      name: &Option<String>,
                      errs: &mut Vec<(String, String)>|
         -> Option<usize> {
            match name.as_deref() {
                None => (i + 1 < file.steps.len()).then_some(i + 1),
                Some(END) => None,
                Some(n) => match index.get(n) {
                    Some(&j) => Some(j),
                    None => {
                        errs.push((
                            format!("{field}: {n}"),
                            format!("{here}: `{field}` names unknown step `{n}`"),
                        ));
                        None
                    }
                },
            }
        };
        let mut errs: Vec<(String, String)> = Vec::new();
        let kinds = [
            s.emit.is_some(),
            s.wait.is_some(),
            s.wait_until.is_some(),
            s.wait_until_date.is_some(),
            s.coupon.is_some(),
            s.wait_for.is_some(),
            s.if_.is_some(),
            s.split.is_some(),
            s.email.is_some(),
            s.update.is_some(),
            s.exit,
        ]
        .iter()
        .filter(|k| **k)
        .count();
        if kinds != 1 {
            err(
                &format!("id: {}", s.id),
                line,
                format!(
                    "{here}: a step needs exactly one of `wait`, `wait_until`, `wait_until_date`, `wait_for`, `if`, `split`, `email`, `coupon`, `update`, `emit` or `exit`"
                ),
            );
            continue;
        }
        let branches = s.if_.is_some() || s.wait_for.is_some();
        if !branches && (s.then.is_some() || s.otherwise.is_some()) {
            err(
                "then:",
                line,
                format!("{here}: `then`/`else` only apply to `if` and `wait_for` steps"),
            );
        }
        if s.from.is_some() && s.wait.is_none() {
            err(
                "from:",
                line,
                format!("{here}: `from` only applies to a `wait` step"),
            );
        }
        let next = target("next", &s.next, &mut errs);
        let kind = if let Some(w) = &s.wait {
            StepKind::Wait {
                duration: w.0,
                from_trigger: matches!(s.from, Some(WaitAnchor::Trigger)),
            }
        } else if let Some(w) = &s.wait_until {
            let time = w.time.parse::<jiff::civil::Time>().unwrap_or_else(|_| {
                err(
                    &w.time,
                    line,
                    format!("{here}: `{}` is not a time of day (e.g. \"10:00\")", w.time),
                );
                jiff::civil::Time::midnight()
            });
            let days = w
                .days
                .iter()
                .filter_map(|d| {
                    let day = weekday(d);
                    if day.is_none() {
                        err(
                            d,
                            line,
                            format!("{here}: `{d}` is not a weekday (mon, tue, … sun)"),
                        );
                    }
                    day
                })
                .collect();
            StepKind::WaitUntil { time, days }
        } else if let Some(w) = &s.wait_until_date {
            let date = DateRef::parse(&w.date).unwrap_or_else(|m| {
                err(&w.date, line, format!("{here}: {m}"));
                DateRef::Property(String::new())
            });
            let offset = offset(w.before, w.after).unwrap_or_else(|m| {
                err("wait_until_date:", line, format!("{here}: {m}"));
                SignedDuration::ZERO
            });
            StepKind::WaitDate {
                date,
                offset,
                end_if_late: w.late == Late::End,
            }
        } else if let Some(c) = &s.coupon {
            if !crate::coupon::valid_prefix(&c.prefix) {
                err(
                    "prefix:",
                    line,
                    format!(
                        "{here}: coupon `prefix` is 1–20 upper-case letters or digits, got `{}`",
                        c.prefix
                    ),
                );
            }
            if c.name.is_empty()
                || !c
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                err(
                    "name:",
                    line,
                    format!("{here}: coupon `name` must be lower_snake_case"),
                );
            }
            if c.valid_for.0 <= SignedDuration::ZERO {
                err(
                    "valid_for:",
                    line,
                    format!("{here}: coupon `valid_for` must be positive"),
                );
            }
            StepKind::Coupon(c.clone())
        } else if let Some(w) = &s.wait_for {
            let events = w.event.names();
            if events.is_empty() {
                err("event:", line, format!("{here}: `wait_for` needs an event"));
            }
            for e in &events {
                if !known_event(e) {
                    err(e, line, format!("{here}: unknown event `{e}`"));
                }
            }
            if s.otherwise.is_none() {
                err(
                    "wait_for:",
                    line,
                    format!(
                        "{here}: `wait_for` needs an `else:` (where to go when `timeout` passes)"
                    ),
                );
            }
            StepKind::WaitFor {
                events,
                conditions: w.when.clone(),
                timeout: w.timeout.0,
                on_event: target("then", &s.then, &mut errs),
                on_timeout: target("else", &s.otherwise, &mut errs),
            }
        } else if let Some(c) = &s.if_ {
            StepKind::If {
                conditions: c.clone(),
                then: target("then", &s.then, &mut errs),
                otherwise: target("else", &s.otherwise, &mut errs),
            }
        } else if let Some(b) = &s.split {
            if b.len() < 2 || b.iter().any(|x| x.weight == 0) {
                err(
                    "split:",
                    line,
                    format!("{here}: a split needs at least two branches with positive weights"),
                );
            }
            StepKind::Split {
                branches: b
                    .iter()
                    .map(|x| Branch {
                        name: x.name.clone(),
                        weight: x.weight,
                        target: target("then", &x.then, &mut errs),
                    })
                    .collect(),
            }
        } else if let Some(t) = &s.email {
            if !templates.contains_key(t) {
                err(
                    t,
                    line,
                    format!("{here}: unknown template `{t}` (no templates/{t}/ folder)"),
                );
            }
            StepKind::Email {
                template: t.clone(),
                transactional: s.transactional,
            }
        } else if let Some(u) = &s.update {
            // A stage the lifecycle rules do not know could never be held
            // or left by them.
            if let Some(stage) = &u.stage
                && !stages.is_empty()
                && !stages.contains(stage)
            {
                err(
                    "stage:",
                    line,
                    format!(
                        "{here}: unknown lifecycle stage `{stage}` (segments/_audience.yaml has {})",
                        stages.join(", ")
                    ),
                );
            }
            StepKind::Update(u.clone())
        } else if let Some(detail_type) = &s.emit {
            if detail_type.is_empty()
                || !detail_type
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
            {
                err(
                    detail_type,
                    line,
                    format!(
                        "{here}: `emit` takes a detail type of letters, digits, `_`, `-` or `.`"
                    ),
                );
            }
            StepKind::Emit {
                detail_type: detail_type.clone(),
            }
        } else {
            StepKind::Exit
        };
        for (needle, msg) in errs {
            err(&needle, line, msg);
        }
        steps.push(Step {
            id: s.id.clone(),
            kind,
            next,
        });
    }
    // `received:` names email steps of this journey.
    let email_steps: Vec<&str> = steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Email { .. }))
        .map(|s| s.id.as_str())
        .collect();
    let mut named = Vec::new();
    for s in &steps {
        match &s.kind {
            StepKind::If { conditions, .. } | StepKind::WaitFor { conditions, .. } => {
                named.extend(conditions.iter().flat_map(|c| c.steps_named()))
            }
            _ => {}
        }
    }
    for n in named {
        if !email_steps.contains(&n) {
            err(
                n,
                0,
                format!(
                    "{journey}: `{n}` (in `received`, `opened` or `clicked`) names no email step"
                ),
            );
        }
    }
    if errors.borrow().is_empty() && !steps.is_empty() {
        for (i, reachable) in reachability(&steps).into_iter().enumerate() {
            if !reachable {
                let id = &steps[i].id;
                err(
                    &format!("id: {id}"),
                    0,
                    format!("{journey}: step `{id}` is unreachable"),
                );
            }
        }
        if let Some(id) = loop_without_wait(&steps) {
            err(
                &format!("id: {id}"),
                0,
                format!(
                    "{journey}: step `{id}` is on a loop with no `wait` or `wait_for`: it would never stop"
                ),
            );
        }
    }
    let mut conditions: Vec<&Condition> = file.audience.iter().collect();
    if let Some(t) = &file.trigger {
        conditions.extend(t.when.iter());
    }
    for s in &steps {
        if let StepKind::If { conditions: c, .. } | StepKind::WaitFor { conditions: c, .. } =
            &s.kind
        {
            conditions.extend(c.iter());
        }
    }
    for c in conditions {
        for m in check_conditions(std::slice::from_ref(c)) {
            let needle = if m.starts_with("count") {
                "count"
            } else {
                "rfm"
            };
            err(needle, 0, format!("{journey}: {m}"));
        }
        for seg in c.segments_named() {
            if !known_segment(seg) {
                err(
                    seg,
                    0,
                    format!("{journey}: unknown segment `{seg}` (no segments/{seg}.yaml)"),
                );
            }
        }
    }
    if let Some(t) = &file.topic
        && !topics.iter().any(|x| &x.id == t)
    {
        err(
            "topic:",
            0,
            format!(
                "{journey}: unknown topic `{t}` (topics in journeys/_defaults.yaml: {})",
                topics
                    .iter()
                    .map(|x| x.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    let sending = merge(defaults, &file.sending).unwrap_or_else(|(needle, msg)| {
        err(&needle, 0, format!("{journey}, sending: {msg}"));
        defaults.clone()
    });
    let errors = errors.into_inner();
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Definition {
        sending,
        topic: file.topic,
        id: file.id,
        version: file.version,
        name: file.name,
        audience: file.audience,
        suppressed_by: file.suppressed_by,
        retired: file.retired,
        trigger,
        goals: file
            .goals
            .into_iter()
            .map(|g| Goal {
                event: g.event,
                conditions: g.when,
            })
            .collect(),
        exits: file
            .exits
            .into_iter()
            .map(|x| Exit {
                event: x.event,
                when_any: x.when_any,
            })
            .collect(),
        steps,
    })
}

/// The steps a step can lead to.
pub fn successors(step: &Step) -> Vec<Option<usize>> {
    match &step.kind {
        StepKind::WaitFor {
            on_event,
            on_timeout,
            ..
        } => vec![*on_event, *on_timeout],
        StepKind::If {
            then, otherwise, ..
        } => vec![*then, *otherwise],
        StepKind::Split { branches } => branches.iter().map(|b| b.target).collect(),
        StepKind::Exit => vec![],
        _ => vec![step.next],
    }
}

fn reachability(steps: &[Step]) -> Vec<bool> {
    let mut seen = vec![false; steps.len()];
    let mut stack = vec![0];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(successors(&steps[i]).into_iter().flatten());
    }
    seen
}

/// A step on a cycle that passes through no wait, if any.
fn loop_without_wait(steps: &[Step]) -> Option<&str> {
    let waits = |s: &Step| {
        matches!(
            s.kind,
            StepKind::Wait { .. } | StepKind::WaitUntil { .. } | StepKind::WaitFor { .. }
        )
    };
    for start in 0..steps.len() {
        if waits(&steps[start]) {
            continue;
        }
        let mut seen = vec![false; steps.len()];
        let mut stack: Vec<usize> = successors(&steps[start]).into_iter().flatten().collect();
        while let Some(i) = stack.pop() {
            if i == start {
                return Some(&steps[start].id);
            }
            if waits(&steps[i]) || std::mem::replace(&mut seen[i], true) {
                continue;
            }
            stack.extend(successors(&steps[i]).into_iter().flatten());
        }
    }
    None
}
