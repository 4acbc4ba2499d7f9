//! `segments/_audience.yaml`: scoring, lifecycle stages, RFM and inactivity.

use super::checks::check_conditions;
use super::diagnostics::{ContentError, ContentFile, at, locate, yaml_error};
use crate::event::EventKind;
use crate::journey::condition::{Condition, Duration};
use crate::journey::definition::{Audience, ScoreRule, StageRule};
use serde::Deserialize;

/// Scoring, lifecycle and inactivity rules (not a segment).
pub(super) const AUDIENCE: &str = "segments/_audience.yaml";

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

pub(super) fn parse_audience(f: &ContentFile) -> Result<Audience, Vec<ContentError>> {
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
