//! Campaigns as code: `campaigns/<id>.yaml`, a one-off send of an existing
//! template to the people in one or more segments, at an instant or at a
//! local time in each recipient's zone, with an optional A/B test. This
//! module parses and checks a campaign file against the catalog (file, line
//! and problem, like journeys); `waymark campaigns validate|preview` use it.

use crate::journey::catalog::{Diagnostics, yaml_error};
use crate::journey::{Catalog, Condition, ContentError, ContentFile};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where campaign files live.
pub const DIR: &str = "campaigns/";

/// A checked campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    /// Members of any of these segments …
    pub segments: Vec<String>,
    /// … unless in any of these.
    pub exclude: Vec<String>,
    /// … and only those for whom these hold (the contact alone).
    #[serde(default, skip_serializing_if = "ContactConditions::is_empty")]
    pub when: ContactConditions,
    pub template: String,
    pub subject: Option<String>,
    pub preheader: Option<String>,
    pub topic: Option<String>,
    pub send_at: SendAt,
    /// Skip whoever got marketing mail within this long before the send.
    pub smart_sending: Option<SignedDuration>,
    /// Added to the store's own links (`utm_source=…`).
    pub utm: BTreeMap<String, String>,
    pub ab_test: Option<AbTest>,
}

/// The audience's conditions on the contact (`audience.when`), kept in
/// their file form, since a campaign travels in its sends' events and its
/// record, and read once when loaded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactConditions {
    raw: serde_json::Value,
    parsed: Vec<Condition>,
}

impl ContactConditions {
    /// Reads the file form: a list of conditions, as segments write them.
    pub fn from_value(raw: serde_json::Value) -> Result<Self, String> {
        if raw.is_null() {
            return Ok(Self::default());
        }
        let parsed: Vec<Condition> =
            serde_json::from_value(raw.clone()).map_err(|e| e.to_string())?;
        Ok(Self { raw, parsed })
    }

    pub fn is_empty(&self) -> bool {
        self.parsed.is_empty()
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.parsed
    }

    /// Whether the contact meets every condition at `now`.
    pub fn hold(&self, contact: &crate::contact::Contact, now: Timestamp) -> bool {
        crate::journey::condition::all(
            &self.parsed,
            crate::journey::condition::Scope {
                event: None,
                contact,
                run: None,
                now,
            },
        )
    }
}

impl Serialize for ContactConditions {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ContactConditions {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        Self::from_value(raw).map_err(serde::de::Error::custom)
    }
}

/// When a campaign goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendAt {
    Instant(Timestamp),
    /// This wall-clock time in each recipient's zone (the shop's when
    /// unknown); a recipient whose time has passed when the send starts
    /// gets it at once.
    Local(jiff::civil::DateTime),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AbTest {
    pub variants: Vec<Variant>,
    /// Percent of the audience that gets the test (the rest the winner).
    pub test_share: u8,
    pub metric: Metric,
    /// How long the test runs before the winner goes to the rest.
    pub wait: SignedDuration,
    /// Emails sent to each variant below which the result is undecided.
    #[serde(default = "default_min_sample")]
    pub min_sample: u32,
    /// What the rest get when the result is undecided.
    #[serde(default)]
    pub if_undecided: IfUndecided,
}

/// Emails per variant a decision needs by default: below it a click rate
/// moves by whole points with each click.
pub const MIN_SAMPLE: u32 = 100;

fn default_min_sample() -> u32 {
    MIN_SAMPLE
}

/// What an undecided test sends to the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IfUndecided {
    /// The variant with the best rate so far (the first listed on a tie or
    /// with no clicks at all).
    #[default]
    Best,
    /// The first variant listed (the safe choice), whatever the rates.
    First,
}

/// One variant's test so far: emails sent and the metric's count (unique
/// clicks, or unique opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub sent: i64,
    pub hits: i64,
}

impl Tally {
    fn rate(&self) -> f64 {
        if self.sent > 0 {
            self.hits as f64 / self.sent as f64
        } else {
            0.0
        }
    }
}

/// Whether a test's leader is a real winner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Significant,
    Undecided,
}

/// How an A/B test was decided, kept with the campaign and shown by
/// `campaigns status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// What the rest get.
    pub winner: String,
    /// The variant with the best rate (the first listed on a tie), if any
    /// variant has a click (or open).
    pub leader: Option<String>,
    pub result: Verdict,
    /// Two-sided p-value of the leader against the other variant it is
    /// least clearly ahead of.
    pub p_value: Option<f64>,
    /// The p-value below which the leader wins: 0.05 shared among the
    /// leader's comparisons (Bonferroni: 0.05 with two variants, 0.0167
    /// with four).
    pub alpha: f64,
    pub min_sample: u32,
    /// Why the result is undecided.
    pub reason: Option<String>,
}

impl AbTest {
    /// Decides the test from each variant's tally (in the variants' order).
    ///
    /// The leader is significant when every variant was sent at least
    /// `min_sample` emails, each comparison has about 5 expected hits and
    /// misses a variant (the z-test's normal approximation), and a
    /// two-proportion z-test of the leader against every other variant
    /// gives p below 0.05 divided by the comparisons (one per other
    /// variant). Otherwise the result is undecided and the rest get what
    /// `if_undecided` says.
    pub fn decide(&self, tallies: &[Tally]) -> Decision {
        let tally = |i: usize| tallies.get(i).copied().unwrap_or_default();
        let mut order: Vec<usize> = (0..self.variants.len()).collect();
        // Best rate first; a stable sort keeps the listed order on a tie.
        order.sort_by(|a, b| tally(*b).rate().total_cmp(&tally(*a).rate()));
        let lead = order.first().copied().filter(|i| tally(*i).hits > 0);
        let alpha = 0.05 / self.variants.len().saturating_sub(1).max(1) as f64;
        // The leader against each other variant: the least significant
        // comparison decides (NaN, never below alpha, reads as undecided).
        let others = || order.iter().skip(1).map(|i| tally(*i));
        let p_value = lead.and_then(|l| {
            let l = tally(l);
            others()
                .filter_map(|r| crate::stats::two_proportion_p(l.hits, l.sent, r.hits, r.sent))
                .reduce(|a, b| {
                    if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else {
                        a.max(b)
                    }
                })
        });
        // The z-test's normal approximation wants about 5 expected hits and
        // misses in each variant; with fewer it calls chance significant.
        let thin = lead.is_some_and(|l| {
            let l = tally(l);
            others().any(|r| {
                let n = (l.sent + r.sent) as f64;
                let pooled = (l.hits + r.hits) as f64 / n.max(1.0);
                [l.sent, r.sent].iter().any(|&m| {
                    let m = m as f64;
                    m * pooled < 5.0 || m * (1.0 - pooled) < 5.0
                })
            })
        });
        let metric = match self.metric {
            Metric::Clicks => "click",
            Metric::Opens => "open",
        };
        let short = self
            .variants
            .iter()
            .enumerate()
            .find(|(i, _)| tally(*i).sent < i64::from(self.min_sample));
        let reason = if lead.is_none() {
            Some(format!("no {metric} yet"))
        } else if let Some((i, v)) = short {
            Some(format!(
                "variant {} was sent {} emails, fewer than the {} a decision needs",
                v.name,
                tally(i).sent,
                self.min_sample
            ))
        } else if thin {
            Some(format!(
                "too few {metric}s for the test (it needs about 5 expected in each variant)"
            ))
        } else {
            match p_value {
                Some(p) if p < alpha => None,
                Some(p) => Some(format!(
                    "the leader's {metric} rate is not significantly better (p = {p:.3}, needs below {alpha:.4})"
                )),
                None => Some(format!("no {metric} rate to compare")),
            }
        };
        let leader = lead.map(|i| self.variants[i].name.clone());
        let first = self.variants[0].name.clone();
        let winner = match (&reason, self.if_undecided) {
            (None, _) | (Some(_), IfUndecided::Best) => leader.clone().unwrap_or(first),
            (Some(_), IfUndecided::First) => first,
        };
        Decision {
            winner,
            leader,
            result: if reason.is_none() {
                Verdict::Significant
            } else {
                Verdict::Undecided
            },
            p_value: p_value.map(|p| (p * 10_000.0).round() / 10_000.0),
            alpha: (alpha * 10_000.0).round() / 10_000.0,
            min_sample: self.min_sample,
            reason,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub subject: Option<String>,
    pub template: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Clicks,
    /// Unreliable under Apple Mail Privacy Protection; allowed, not default.
    Opens,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    id: String,
    name: Option<String>,
    audience: AudienceFile,
    template: String,
    subject: Option<String>,
    preheader: Option<String>,
    topic: Option<String>,
    send_at: SendAtFile,
    smart_sending: Option<String>,
    #[serde(default)]
    utm: BTreeMap<String, String>,
    ab_test: Option<AbFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AudienceFile {
    segments: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    /// Conditions on the contact, as a segment's `when` (read below, so a
    /// bad one is reported at its line).
    #[serde(default)]
    when: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SendAtFile {
    Instant(String),
    Local { local: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AbFile {
    variants: Vec<VariantFile>,
    test_share: String,
    #[serde(default)]
    metric: Option<String>,
    wait: String,
    #[serde(default)]
    min_sample: Option<u32>,
    #[serde(default)]
    if_undecided: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantFile {
    name: String,
    subject: Option<String>,
    template: Option<String>,
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Parses and checks one campaign file against the catalog (segments,
/// templates and topics must exist).
pub fn parse(f: &ContentFile, catalog: &Catalog) -> Result<Campaign, Vec<ContentError>> {
    let file: File = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    let mut d = Diagnostics::new(f);
    check_id(f, &file, &mut d);
    check_content(f, &file, catalog, &mut d);
    let send_at = parse_send_at(f, &file.send_at, &mut d);
    let smart_sending = file.smart_sending.as_ref().and_then(|raw| {
        crate::time::parse_duration(raw)
            .and_then(|window| {
                if window > crate::sending::REMEMBERED_FOR {
                    Err("is longer than 30d (a contact remembers sends that long)".into())
                } else {
                    Ok(window)
                }
            })
            .map_err(|e| {
                d.at(
                    raw,
                    block(f, "smart_sending:"),
                    format!("smart_sending `{raw}`: {e}"),
                )
            })
            .ok()
    });
    if let Some(subject) = &file.subject {
        check_subject(subject, block(f, "subject:"), "subject", &mut d);
    }
    check_utm(f, &file.utm, &mut d);
    let when = parse_when(f, &file.audience.when, &mut d);
    let local = matches!(file.send_at, SendAtFile::Local { .. });
    let ab_test = file
        .ab_test
        .as_ref()
        .and_then(|ab| parse_ab_test(f, ab, local, catalog, &mut d));
    let (Some(send_at), true) = (send_at, d.is_empty()) else {
        return Err(d.into_errors());
    };
    d.finish(Campaign {
        name: file.name.unwrap_or_else(|| file.id.clone()),
        id: file.id,
        segments: file.audience.segments,
        exclude: file.audience.exclude,
        when: when.unwrap_or_default(),
        template: file.template,
        subject: file.subject,
        preheader: file.preheader,
        topic: file.topic,
        send_at,
        smart_sending,
        utm: file.utm,
        ab_test,
    })
}

/// Where a key's block starts (0-based line), so a value is found in its
/// own block (a variant named `a` is not the `a` of `audience`).
fn block(f: &ContentFile, key: &str) -> usize {
    f.text
        .lines()
        .position(|l| l.trim_start().starts_with(key))
        .unwrap_or(0)
}

/// The id is lower_snake_case and the file's own name.
fn check_id(f: &ContentFile, file: &File, d: &mut Diagnostics) {
    let stem = f
        .path
        .rsplit('/')
        .next()
        .and_then(|n| n.strip_suffix(".yaml").or_else(|| n.strip_suffix(".yml")))
        .unwrap_or("");
    if !is_id(&file.id) {
        d.at(
            "id:",
            0,
            format!("id `{}`: lower_snake_case, at most 64 characters", file.id),
        );
    } else if file.id != stem {
        d.at(
            "id:",
            0,
            format!("id `{}` must match the file name `{stem}`", file.id),
        );
    }
}

/// Segments, template and topic exist in the catalog.
fn check_content(f: &ContentFile, file: &File, catalog: &Catalog, d: &mut Diagnostics) {
    let audience_at = block(f, "audience:");
    if file.audience.segments.is_empty() {
        d.at(
            "segments",
            audience_at,
            "audience: name at least one segment".into(),
        );
    }
    for s in file.audience.segments.iter().chain(&file.audience.exclude) {
        if !catalog.segments().iter().any(|x| &x.id == s) {
            d.at(s, audience_at, format!("no segment `{s}` in segments/"));
        }
    }
    if catalog.template(&file.template).is_none() {
        d.at(
            &file.template,
            block(f, "template:"),
            format!("no template `{}` in templates/", file.template),
        );
    }
    if let Some(t) = &file.topic
        && !catalog.topics().iter().any(|x| &x.id == t)
    {
        d.at(
            t,
            block(f, "topic:"),
            format!("topic `{t}` is not in journeys/_defaults.yaml's topics"),
        );
    }
}

/// `audience.when`: conditions on the contact alone (as a segment's), not
/// on an event or a journey's run.
fn parse_when(
    f: &ContentFile,
    raw: &serde_json::Value,
    d: &mut Diagnostics,
) -> Option<ContactConditions> {
    let line = block(f, "when:");
    let when = match ContactConditions::from_value(raw.clone()) {
        Ok(w) => w,
        Err(e) => {
            d.at("when", line, format!("audience when: {e}"));
            return None;
        }
    };
    for m in crate::journey::catalog::check_conditions(when.conditions()) {
        d.at("when", line, format!("audience when: {m}"));
    }
    for c in when.conditions() {
        if c.reads_event() || !c.steps_named().is_empty() {
            d.at(
                "when",
                line,
                format!("audience when: {c:?} reads an event or a run; a campaign's conditions are about the contact"),
            );
        }
    }
    Some(when)
}

fn parse_send_at(f: &ContentFile, send_at: &SendAtFile, d: &mut Diagnostics) -> Option<SendAt> {
    let line = block(f, "send_at:");
    match send_at {
        SendAtFile::Instant(raw) => match crate::time::parse_instant(raw) {
            Some(t) => Some(SendAt::Instant(t)),
            None => {
                d.at(
                    raw,
                    line,
                    format!(
                        "send_at `{raw}`: an instant with its offset (2026-12-04T09:00:00Z), or {{local: \"2026-12-04T10:00\"}}"
                    ),
                );
                None
            }
        },
        SendAtFile::Local { local } => match local.parse::<jiff::civil::DateTime>() {
            Ok(t) => Some(SendAt::Local(t)),
            Err(_) => {
                d.at(
                    local,
                    line,
                    format!("send_at local `{local}`: a local date and time (2026-12-04T10:00)"),
                );
                None
            }
        },
    }
}

fn check_utm(f: &ContentFile, utm: &BTreeMap<String, String>, d: &mut Diagnostics) {
    let line = block(f, "utm:");
    for (k, v) in utm {
        if !["source", "medium", "campaign", "content", "term"].contains(&k.as_str()) {
            d.at(
                k,
                line,
                format!("utm `{k}`: one of source, medium, campaign, content, term"),
            );
        }
        if v.is_empty() || v.chars().any(|c| c.is_control() || c == '&' || c == '#') {
            d.at(
                k,
                line,
                format!("utm `{k}`: a non-empty value without `&`, `#` or control characters"),
            );
        }
    }
}

fn parse_ab_test(
    f: &ContentFile,
    ab: &AbFile,
    local: bool,
    catalog: &Catalog,
    d: &mut Diagnostics,
) -> Option<AbTest> {
    let ab_at = block(f, "ab_test:");
    check_variants(ab, ab_at, catalog, d);
    let share = ab
        .test_share
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse::<u8>()
        .ok()
        .filter(|p| (2..=100).contains(p));
    if share.is_none() {
        d.at(
            "test_share",
            ab_at,
            format!(
                "test_share `{}`: a percentage from 2 % to 100 %",
                ab.test_share
            ),
        );
    }
    let metric = match ab.metric.as_deref() {
        None | Some("clicks") => Some(Metric::Clicks),
        Some("opens") => Some(Metric::Opens),
        Some(other) => {
            d.at(other, ab_at, format!("metric `{other}`: clicks or opens"));
            None
        }
    };
    let wait = ab_wait(&ab.wait, local)
        .map_err(|m| d.at("wait", ab_at, m))
        .ok();
    let min_sample = match ab.min_sample {
        None => Some(MIN_SAMPLE),
        Some(n @ 1..=1_000_000) => Some(n),
        Some(n) => {
            d.at(
                "min_sample",
                ab_at,
                format!("min_sample {n}: from 1 to 1000000 emails per variant"),
            );
            None
        }
    };
    let if_undecided = match ab.if_undecided.as_deref() {
        None | Some("best") => Some(IfUndecided::Best),
        Some("first") => Some(IfUndecided::First),
        Some(other) => {
            d.at(
                "if_undecided",
                ab_at,
                format!("if_undecided `{other}`: best or first"),
            );
            None
        }
    };
    Some(AbTest {
        variants: ab
            .variants
            .iter()
            .map(|v| Variant {
                name: v.name.clone(),
                subject: v.subject.clone(),
                template: v.template.clone(),
            })
            .collect(),
        test_share: share?,
        metric: metric?,
        wait: wait?,
        min_sample: min_sample?,
        if_undecided: if_undecided?,
    })
}

/// A subject is written in the template language (`{{ contact.first_name }}`):
/// one that does not parse is refused here, not at send time.
fn check_subject(subject: &str, line: usize, what: &str, d: &mut Diagnostics) {
    if let Err(e) = crate::email::check_line(subject) {
        d.at(subject, line, format!("{what} `{subject}`: {e}"));
    }
}

/// 2 to 4 variants, each named once and changing something that exists.
fn check_variants(ab: &AbFile, ab_at: usize, catalog: &Catalog, d: &mut Diagnostics) {
    if !(2..=4).contains(&ab.variants.len()) {
        d.at(
            "variants",
            ab_at,
            format!("ab_test: 2 to 4 variants, not {}", ab.variants.len()),
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for v in &ab.variants {
        let named = format!("name: {}", v.name);
        if !is_id(&v.name) || !names.insert(v.name.clone()) {
            d.at(
                &named,
                ab_at,
                format!("variant `{}`: a unique lower_snake_case name", v.name),
            );
        }
        if v.subject.is_none() && v.template.is_none() {
            d.at(
                &named,
                ab_at,
                format!("variant `{}`: give a subject, a template or both", v.name),
            );
        }
        if let Some(subject) = &v.subject {
            check_subject(subject, ab_at, &format!("variant `{}`: subject", v.name), d);
        }
        if let Some(t) = &v.template
            && catalog.template(t).is_none()
        {
            d.at(t, ab_at, format!("no template `{t}` in templates/"));
        }
    }
}

/// How long the test runs before the winner goes out: at least 30 minutes
/// (clicks need time), and 30 hours for a local-time send (its waves span
/// 26 hours, UTC+14 to UTC-12: the decision waits for the last).
fn ab_wait(raw: &str, local: bool) -> Result<SignedDuration, String> {
    match crate::time::parse_duration(raw) {
        Ok(d) if local && d < SignedDuration::from_hours(30) => Err(
            "ab_test wait: at least 30h with a local-time send_at (its waves span 26 hours; the last needs time to click)".into(),
        ),
        Ok(d) if d >= SignedDuration::from_mins(30) => Ok(d),
        Ok(_) => Err("ab_test wait: at least 30m (clicks need time)".into()),
        Err(e) => Err(format!("ab_test wait `{raw}`: {e}")),
    }
}

/// The journey name a campaign's runs, messages and results go under
/// (SES tags allow `-`; journey ids never have one).
pub fn journey(id: &str) -> String {
    format!("campaign-{id}")
}

/// Whether a journey name is a campaign's.
pub fn is_campaign(journey: &str) -> bool {
    journey.starts_with("campaign-")
}

/// How long a contact keeps a campaign's run once decided: past the
/// attribution windows and the weeks refunds come in; then it expires (a
/// weekly newsletter must not grow every profile by 52 runs a year).
pub const RUN_KEPT: SignedDuration = SignedDuration::from_hours(24 * 90);

/// The step name of a campaign's email without an A/B test.
pub const STEP: &str = "email";

/// The branch a test recipient of `variant` is on, as the results key it
/// (`variant=<name>`).
pub fn branch(variant: &str) -> String {
    format!("variant={variant}")
}

/// The variant a results key's branch names, if it is one.
pub fn branch_variant(step: &str) -> Option<&str> {
    step.strip_prefix("variant=")
}

/// Which part of the audience a contact is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// No A/B test: everyone gets the one email.
    All,
    /// In the test share, with this variant (index).
    Test(usize),
    /// Gets the winner once it is decided.
    Rest,
}

/// Stable per (campaign, contact), in `0..n`.
fn bucket(campaign: &str, contact: &str, salt: &str, n: u64) -> u64 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [campaign, contact, salt] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d = h.finalize();
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]) % n.max(1)
}

impl Campaign {
    /// When the send starts: the instant; for a local time, the moment it
    /// is that time in the earliest zone on Earth (UTC+14), so every zone's
    /// wave can be queued ahead of its hour.
    pub fn starts_at(&self) -> Timestamp {
        match &self.send_at {
            SendAt::Instant(t) => *t,
            SendAt::Local(dt) => {
                let earliest = jiff::tz::TimeZone::fixed(jiff::tz::offset(14));
                dt.to_zoned(earliest)
                    .map(|z| z.timestamp())
                    .unwrap_or(Timestamp::MIN)
            }
        }
    }

    /// When a recipient in `zone` gets it: the instant, or the local time in
    /// their zone. A recipient whose local time had already passed when the
    /// send started (`started`) gets it at once (never a day late); but the
    /// rest of a local-time A/B test (`rest`), whose winner is decided after
    /// every zone's time has passed, get it at that time of day on their next
    /// day instead (at once would mail them at whatever hour the test ended).
    pub fn due_for(&self, zone: &jiff::tz::TimeZone, started: Timestamp, rest: bool) -> Timestamp {
        match &self.send_at {
            SendAt::Instant(t) => (*t).max(started),
            SendAt::Local(dt) => {
                let first = dt
                    .to_zoned(zone.clone())
                    .map(|z| z.timestamp())
                    .unwrap_or(started);
                if first >= started || !rest {
                    first.max(started)
                } else {
                    crate::sending::next_local(started, dt.time(), &[], zone)
                }
            }
        }
    }

    /// The part of the audience `contact` is in (stable: a restarted
    /// fan-out puts everyone in the same place).
    pub fn group(&self, contact: &str) -> Group {
        let Some(ab) = &self.ab_test else {
            return Group::All;
        };
        if bucket(&self.id, contact, "share", 100) < u64::from(ab.test_share) {
            Group::Test(bucket(&self.id, contact, "variant", ab.variants.len() as u64) as usize)
        } else {
            Group::Rest
        }
    }

    /// The step name, subject and template of a variant (or of the campaign
    /// without a test).
    pub fn email(&self, variant: Option<&str>) -> (String, Option<String>, String) {
        let v = variant.and_then(|name| {
            self.ab_test
                .as_ref()
                .and_then(|ab| ab.variants.iter().find(|v| v.name == name))
        });
        match v {
            None => (
                STEP.to_string(),
                self.subject.clone(),
                self.template.clone(),
            ),
            Some(v) => (
                v.name.clone(),
                v.subject.clone().or_else(|| self.subject.clone()),
                v.template.clone().unwrap_or_else(|| self.template.clone()),
            ),
        }
    }
}

/// One recipient's send, as the fan-out records it (an event the contact's
/// processing takes: consent, topics, smart sending, local time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Send {
    pub campaign: String,
    pub contact: crate::ids::ContactId,
    /// The variant this recipient gets (A/B), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// When the send (or this wave) started.
    pub started_at: Timestamp,
    /// The schedule this send belongs to (its `scheduled_at`, in ms): a
    /// send of a run since cancelled and scheduled again is dropped. None in
    /// sends recorded before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<i64>,
    /// The campaign itself (left out where a run keeps the send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub def: Option<Box<Campaign>>,
    /// The page delivery that decided and sent it straight from the page
    /// (`fanout`), kept in the decision's run: a page delivered again tells
    /// its own recipients from another segment's. None when `process`
    /// decided it from the recorded event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// Set by process after reading the outbox: this contact's email from
    /// an earlier (cancelled) schedule of the campaign was never sent, so
    /// this schedule decides them again. Never stored.
    #[serde(skip)]
    pub earlier_unsent: bool,
}

/// Why dispatch skips a campaign email: its schedule was cancelled (or
/// scheduled again) before it went.
pub const STOPPED: &str = "campaign cancelled";

/// Whether a campaign email of schedule `schedule` must not go: the
/// campaign's current schedule (`current`, cancelled or not) is another
/// one, or is this one and was cancelled. A schedule is only ever replaced
/// after a cancel (or before it started), so an email of an earlier one is
/// an email of a cancelled one.
pub fn stopped(schedule: i64, current: i64, cancelled: bool) -> bool {
    schedule != current || cancelled
}

/// `url` with the campaign's UTM parameters added, for links to the store's
/// own `origin` only (other sites' links are left alone).
pub fn with_utm(url: &str, origin: &str, utm: &BTreeMap<String, String>) -> String {
    if utm.is_empty() || !url.starts_with(origin) {
        return url.to_string();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let mut out = base.to_string();
    for (k, v) in utm {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(&format!("utm_{k}={}", query_value(v)));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// A query value percent-encoded (RFC 3986: unreserved characters stay), so
/// `Black Friday` or `été` make a link that still parses.
fn query_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `body` (HTML or text) with the UTM parameters added to every link to
/// the store's `origin` (a URL ends at a quote, space, bracket or `<`).
pub fn add_utm(body: &str, origin: &str, utm: &BTreeMap<String, String>) -> String {
    if utm.is_empty() || origin.is_empty() {
        return body.to_string();
    }
    let mut out = String::with_capacity(body.len() + 64);
    let mut rest = body;
    while let Some(i) = rest.find(origin) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | ')'))
            .unwrap_or(tail.len());
        // A sentence's full stop after a bare URL is not part of it.
        let url = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        out.push_str(&with_utm(url, origin, utm));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::from_files(&crate::repo_content::files(&crate::repo_content::root())).unwrap()
    }

    fn file(name: &str, text: &str) -> ContentFile {
        ContentFile {
            path: format!("campaigns/{name}.yaml"),
            text: text.to_string(),
        }
    }

    #[test]
    fn a_campaign_with_a_test_parses() {
        let c = parse(
            &file(
                "black_friday",
                "id: black_friday\naudience:\n  segments: [engaged, prospects]\n  exclude: [lapsed]\ntemplate: welcome_1\nsubject: Black Friday\ntopic: offers\nsend_at: {local: \"2026-11-27T10:00\"}\nsmart_sending: 16h\nutm: {source: waymark, campaign: black_friday}\nab_test:\n  variants:\n    - {name: a, subject: \"Black Friday: 30 % off\"}\n    - {name: b, subject: \"Our biggest sale\"}\n  test_share: 20%\n  wait: 30h\n",
            ),
            &catalog(),
        )
        .unwrap();
        assert_eq!(c.segments, vec!["engaged", "prospects"]);
        assert!(matches!(c.send_at, SendAt::Local(_)));
        let ab = c.ab_test.unwrap();
        assert_eq!(
            (ab.test_share, ab.metric, ab.variants.len()),
            (20, Metric::Clicks, 2)
        );
    }

    #[test]
    fn every_problem_is_named_with_its_line() {
        let text = "id: sale\naudience:\n  segments: [nobody]\ntemplate: no_such_template\ntopic: gossip\nsend_at: tomorrow\nab_test:\n  variants:\n    - {name: a}\n  test_share: 120%\n  wait: 5m\n";
        let errors = parse(&file("sale", text), &catalog()).unwrap_err();
        let said: Vec<String> = errors
            .iter()
            .map(|e| format!("{}:{} {}", e.path, e.line, e.message))
            .collect();
        let has = |line: usize, part: &str| {
            assert!(
                errors
                    .iter()
                    .any(|e| e.line == line && e.message.contains(part)),
                "line {line} `{part}` in {said:#?}"
            );
        };
        has(3, "no segment `nobody`");
        has(4, "no template `no_such_template`");
        has(5, "topic `gossip`");
        has(6, "send_at `tomorrow`");
        has(8, "2 to 4 variants");
        has(9, "give a subject, a template or both");
        has(10, "test_share");
        has(11, "at least 30m");
        assert!(errors.iter().all(|e| e.path == "campaigns/sale.yaml"));
    }

    #[test]
    fn smart_sending_longer_than_a_contact_remembers_is_named_with_its_line() {
        let text = "id: t\naudience: {segments: [engaged]}\ntemplate: welcome_1\nsend_at: \"2026-12-04T10:00:00Z\"\nsmart_sending: 45d\n";
        let errors = parse(&file("t", text), &catalog()).unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.line == 5 && e.message.contains("longer than 30d")),
            "{errors:?}"
        );
    }

    #[test]
    fn a_subject_that_does_not_parse_is_named_with_its_line() {
        let text = "id: t\naudience: {segments: [engaged]}\ntemplate: welcome_1\nsubject: \"{{ contact.first_name \"\nsend_at: \"2026-12-04T10:00:00Z\"\nab_test:\n  variants:\n    - {name: a, subject: \"Hi {% if %}\"}\n    - {name: b, subject: \"{{ contact.first_name }}, new in\"}\n  test_share: 20%\n  wait: 4h\n";
        let errors = parse(&file("t", text), &catalog()).unwrap_err();
        let said: Vec<String> = errors
            .iter()
            .map(|e| format!("{}: {}", e.line, e.message))
            .collect();
        assert_eq!(errors.len(), 2, "{said:#?}");
        assert!(
            errors[0].line == 4 && errors[0].message.starts_with("subject `"),
            "{said:#?}"
        );
        assert!(
            errors[1].line == 8 && errors[1].message.starts_with("variant `a`: subject"),
            "{said:#?}"
        );
    }

    #[test]
    fn a_local_time_test_waits_for_its_last_wave() {
        let text = "id: t\naudience: {segments: [engaged]}\ntemplate: welcome_1\nsend_at: {local: \"2026-12-04T10:00\"}\nab_test:\n  variants:\n    - {name: a, subject: A}\n    - {name: b, subject: B}\n  test_share: 20%\n  wait: 4h\n";
        let e = parse(&file("t", text), &catalog()).unwrap_err();
        assert!(e[0].message.contains("at least 30h"), "{e:?}");
        assert_eq!(e[0].line, 10);
        let ok = text.replace("wait: 4h", "wait: 30h");
        assert!(parse(&file("t", &ok), &catalog()).is_ok());
    }

    #[test]
    fn the_rest_of_a_local_time_test_get_the_winner_at_their_next_local_time() {
        let text = "id: t\naudience: {segments: [engaged]}\ntemplate: welcome_1\nsend_at: {local: \"2026-12-04T10:00\"}\nab_test:\n  variants:\n    - {name: a, subject: A}\n    - {name: b, subject: B}\n  test_share: 20%\n  wait: 30h\n";
        let c = parse(&file("t", text), &catalog()).unwrap();
        let ts = |s: &str| s.parse::<Timestamp>().unwrap();
        let ny = jiff::tz::TimeZone::get("America/New_York").unwrap();
        let tokyo = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
        // The test's wave: each zone at its own 10:00.
        let start = c.starts_at();
        assert_eq!(start, ts("2026-12-03T20:00:00Z"));
        assert_eq!(c.due_for(&ny, start, false), ts("2026-12-04T15:00:00Z"));
        assert_eq!(c.due_for(&tokyo, start, false), ts("2026-12-04T01:00:00Z"));
        // Decided 30 h after the last page (every zone's 10:00 has passed):
        // the rest get it at 10:00 on their next day, not at 02:00 in New York.
        let decided = ts("2026-12-05T07:00:00Z");
        assert_eq!(c.due_for(&ny, decided, true), ts("2026-12-05T15:00:00Z"));
        assert_eq!(c.due_for(&tokyo, decided, true), ts("2026-12-06T01:00:00Z"));
        // A send without a test still goes at once once its time has passed.
        assert_eq!(c.due_for(&ny, decided, false), decided);
    }

    #[test]
    fn an_audience_condition_is_about_the_contact_and_a_bad_one_is_named_at_its_line() {
        let base = "id: t\naudience:\n  segments: [engaged]\n  when:\n    - COND\ntemplate: welcome_1\nsend_at: 2026-12-04T09:00:00Z\n";
        let ok = base.replace("COND", "orders_at_least: 2");
        let c = parse(&file("t", &ok), &catalog()).unwrap();
        // It travels in the sends' events: the file form goes and comes back.
        let back: Campaign = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.when.conditions().len(), 1);
        for (cond, says) in [
            ("total_at_least: \"50.00\"", "reads an event or a run"),
            ("received: email_1", "reads an event or a run"),
            (
                "orders_at_lest: 2",
                "audience when: unknown variant `orders_at_lest`",
            ),
            ("rfm: sleepy", "unknown RFM cell"),
        ] {
            let e = parse(&file("t", &base.replace("COND", cond)), &catalog()).unwrap_err();
            assert!(e[0].message.contains(says), "{cond}: {e:?}");
            assert_eq!(e[0].line, 4, "{cond}: {e:?}");
        }
        // Without `when`, every member is in the audience (and an old
        // record without the field still reads).
        let plain = parse(
            &file("t", &base.replace("  when:\n    - COND\n", "")),
            &catalog(),
        )
        .unwrap();
        assert!(plain.when.is_empty());
        let mut old = serde_json::to_value(&plain).unwrap();
        assert!(old.get("when").is_none());
        old.as_object_mut().unwrap().remove("when");
        assert_eq!(serde_json::from_value::<Campaign>(old).unwrap(), plain);
    }

    #[test]
    fn the_id_matches_the_file_and_unknown_fields_are_refused() {
        let e = parse(&file("x", "id: y\naudience: {segments: [engaged]}\ntemplate: welcome_1\nsend_at: 2026-12-04T09:00:00Z\n"), &catalog()).unwrap_err();
        assert!(e[0].message.contains("match the file name"), "{e:?}");
        let e = parse(&file("x", "id: x\naudience: {segments: [engaged]}\ntemplate: welcome_1\nsend_at: 2026-12-04T09:00:00Z\nsegmnts: []\n"), &catalog()).unwrap_err();
        assert!(e[0].message.contains("segmnts"), "{e:?}");
        assert_eq!(e[0].line, 5);
    }

    #[test]
    fn utm_goes_on_every_store_link_in_a_body() {
        let utm = BTreeMap::from([("campaign".to_string(), "bf".to_string())]);
        let html = r#"<a href="https://shop.example/a">A</a> <a href="https://x.example/b">B</a> see https://shop.example/c."#;
        let out = add_utm(html, "https://shop.example", &utm);
        assert!(
            out.contains(r#"href="https://shop.example/a?utm_campaign=bf""#),
            "{out}"
        );
        assert!(out.contains(r#"href="https://x.example/b""#), "{out}");
        assert!(
            out.contains("https://shop.example/c?utm_campaign=bf."),
            "{out}"
        );
    }

    #[test]
    fn utm_goes_on_the_stores_links_only() {
        let utm = BTreeMap::from([("source".to_string(), "waymark".to_string())]);
        assert_eq!(
            with_utm(
                "https://shop.example/p?x=1#top",
                "https://shop.example",
                &utm
            ),
            "https://shop.example/p?x=1&utm_source=waymark#top"
        );
        assert_eq!(
            with_utm("https://other.example/p", "https://shop.example", &utm),
            "https://other.example/p"
        );
        let spaced = BTreeMap::from([("campaign".to_string(), "Black Friday été".to_string())]);
        assert_eq!(
            with_utm("https://shop.example/p", "https://shop.example", &spaced),
            "https://shop.example/p?utm_campaign=Black%20Friday%20%C3%A9t%C3%A9"
        );
    }

    fn test_of(n: usize) -> AbTest {
        AbTest {
            variants: (0..n)
                .map(|i| Variant {
                    name: format!("v{i}"),
                    subject: Some(format!("S{i}")),
                    template: None,
                })
                .collect(),
            test_share: 20,
            metric: Metric::Clicks,
            wait: SignedDuration::from_hours(4),
            min_sample: MIN_SAMPLE,
            if_undecided: IfUndecided::Best,
        }
    }

    fn tallies(t: &[(i64, i64)]) -> Vec<Tally> {
        t.iter().map(|&(sent, hits)| Tally { sent, hits }).collect()
    }

    #[test]
    fn a_clear_leader_with_enough_emails_wins_significantly() {
        let d = test_of(2).decide(&tallies(&[(1000, 20), (1000, 60)]));
        assert_eq!(d.winner, "v1");
        assert_eq!(d.leader.as_deref(), Some("v1"));
        assert_eq!(d.result, Verdict::Significant, "{d:?}");
        assert!(d.p_value.unwrap() < 0.05 && d.reason.is_none());
    }

    #[test]
    fn below_the_minimum_sample_the_result_is_undecided_and_the_rest_get_what_the_file_says() {
        let mut ab = test_of(2);
        // A tenfold gap, but only 50 emails a variant.
        let t = tallies(&[(50, 1), (50, 10)]);
        let d = ab.decide(&t);
        assert_eq!(d.result, Verdict::Undecided);
        assert!(
            d.reason.as_deref().unwrap().contains("v0 was sent 50"),
            "{d:?}"
        );
        assert_eq!((d.winner.as_str(), d.leader.as_deref()), ("v1", Some("v1")));
        ab.if_undecided = IfUndecided::First;
        assert_eq!(ab.decide(&t).winner, "v0");
        ab.min_sample = 50;
        assert_eq!(ab.decide(&t).result, Verdict::Significant);
        assert_eq!(ab.decide(&t).winner, "v1");
    }

    #[test]
    fn too_few_clicks_for_the_normal_approximation_are_undecided() {
        // 0 of 100 against 5 of 100: the z-test says p ≈ 0.024, but 2.5
        // clicks are expected a variant (an exact test says p ≈ 0.06).
        let d = test_of(2).decide(&tallies(&[(100, 0), (100, 5)]));
        assert_eq!(d.result, Verdict::Undecided, "{d:?}");
        assert!(d.reason.unwrap().contains("too few clicks"));
        assert_eq!(d.winner, "v1");
    }

    #[test]
    fn a_gap_chance_explains_is_undecided() {
        let d = test_of(2).decide(&tallies(&[(1000, 20), (1000, 25)]));
        assert_eq!(d.result, Verdict::Undecided);
        assert!(d.reason.unwrap().contains("not significantly better"));
        assert_eq!(d.winner, "v1");
    }

    #[test]
    fn with_more_variants_the_leader_needs_a_smaller_p() {
        // p ≈ 0.038 for the leader against the runner-up.
        let two = test_of(2).decide(&tallies(&[(1000, 30), (1000, 48)]));
        assert_eq!(two.result, Verdict::Significant, "{two:?}");
        let three = test_of(3).decide(&tallies(&[(1000, 30), (1000, 48), (1000, 10)]));
        assert_eq!((three.alpha, three.result), (0.025, Verdict::Undecided));
        assert_eq!(three.winner, "v1");
    }

    #[test]
    fn without_clicks_or_on_a_tie_the_first_variant_goes() {
        let none = test_of(3).decide(&tallies(&[(500, 0), (500, 0), (500, 0)]));
        assert_eq!((none.winner.as_str(), none.leader), ("v0", None));
        assert_eq!(none.reason.as_deref(), Some("no click yet"));
        let tie = test_of(2).decide(&tallies(&[(500, 9), (500, 9)]));
        assert_eq!(
            (tie.winner.as_str(), tie.result),
            ("v0", Verdict::Undecided)
        );
    }

    #[test]
    fn the_minimum_sample_and_the_undecided_choice_are_read_and_checked_at_their_line() {
        let text = |extra: &str| {
            format!(
                "id: t\naudience: {{segments: [engaged]}}\ntemplate: welcome_1\nsend_at: \"2026-12-04T10:00:00Z\"\nab_test:\n  variants:\n    - {{name: a, subject: A}}\n    - {{name: b, subject: B}}\n  test_share: 20%\n  wait: 4h\n{extra}"
            )
        };
        let c = parse(
            &file("t", &text("  min_sample: 400\n  if_undecided: first\n")),
            &catalog(),
        )
        .unwrap();
        let ab = c.ab_test.unwrap();
        assert_eq!((ab.min_sample, ab.if_undecided), (400, IfUndecided::First));
        let c = parse(&file("t", &text("")), &catalog()).unwrap();
        let ab = c.ab_test.unwrap();
        assert_eq!(
            (ab.min_sample, ab.if_undecided),
            (MIN_SAMPLE, IfUndecided::Best)
        );
        let errors = parse(
            &file("t", &text("  min_sample: 0\n  if_undecided: coin\n")),
            &catalog(),
        )
        .unwrap_err();
        let at = |line: usize, part: &str| {
            errors
                .iter()
                .any(|e| e.line == line && e.message.contains(part))
        };
        assert!(
            at(11, "min_sample 0") && at(12, "if_undecided `coin`"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_test_stored_before_the_minimum_sample_reads_with_the_defaults() {
        let mut stored = serde_json::to_value(test_of(2)).unwrap();
        let obj = stored.as_object_mut().unwrap();
        obj.remove("min_sample");
        obj.remove("if_undecided");
        let ab: AbTest = serde_json::from_value(stored).unwrap();
        assert_eq!(
            (ab.min_sample, ab.if_undecided),
            (MIN_SAMPLE, IfUndecided::Best)
        );
    }
}
