//! `segments/<id>.yaml`: a named set of contacts, defined by the contact alone.

use super::checks::check_conditions;
use super::diagnostics::{ContentError, ContentFile, at, is_snake_id, locate, yaml_error};
use crate::journey::condition::Condition;
use crate::journey::definition::Segment;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentFile {
    id: String,
    name: String,
    when: Vec<Condition>,
}

pub(super) fn parse_segment(f: &ContentFile) -> Result<Segment, Vec<ContentError>> {
    let file: SegmentFile = serde_norway::from_str(&f.text).map_err(|e| yaml_error(f, e))?;
    let mut errors = Vec::new();
    let here = format!("segment `{}`", file.id);
    if !is_snake_id(&file.id) {
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
