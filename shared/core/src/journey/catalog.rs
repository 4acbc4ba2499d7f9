//! The bundle of journeys and templates a deployment runs, built from the
//! content files and validated as a whole: every problem is reported with its
//! file, line and column, and nothing partially valid is ever used.

use super::definition::RunPer;
use super::definition::{
    Definition, Exit, File, Goal, Step, StepFile, StepKind, Trigger, WaitAnchor,
};
use crate::email::Template;
use crate::event::EventKind;
use std::collections::BTreeMap;
use std::fmt;

/// One content file: its path relative to the repository root, and its text.
#[derive(Debug, Clone)]
pub struct ContentFile {
    pub path: String,
    pub text: String,
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
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    journeys: Vec<Definition>,
    templates: BTreeMap<String, Template>,
}

impl Catalog {
    /// Builds the catalog from `journeys/*.yaml` and
    /// `templates/<name>/{subject.txt,body.txt,body.html}` files.
    pub fn from_files(files: &[ContentFile]) -> Result<Self, Vec<ContentError>> {
        let mut errors = Vec::new();
        let mut parts: BTreeMap<String, BTreeMap<String, &ContentFile>> = BTreeMap::new();
        for f in files {
            let mut segs = f.path.rsplit('/');
            let (Some(file), Some(dir)) = (segs.next(), segs.next()) else {
                continue;
            };
            if segs.next() == Some("templates") {
                parts
                    .entry(dir.to_string())
                    .or_default()
                    .insert(file.to_string(), f);
            }
        }
        let mut templates = BTreeMap::new();
        for (name, files) in parts {
            match Template::from_parts(&name, &files) {
                Ok(t) => {
                    templates.insert(name, t);
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        let mut journeys: Vec<Definition> = Vec::new();
        for f in files.iter().filter(|f| {
            f.path.contains("journeys/") && (f.path.ends_with(".yaml") || f.path.ends_with(".yml"))
        }) {
            match parse_definition(f, &templates) {
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
        if errors.is_empty() {
            Ok(Self {
                journeys,
                templates,
            })
        } else {
            Err(errors)
        }
    }

    /// Every journey at its newest version: the ones new entries start on.
    pub fn current(&self) -> impl Iterator<Item = &Definition> {
        self.journeys.iter().filter(|d| {
            !self
                .journeys
                .iter()
                .any(|o| o.id == d.id && o.version > d.version)
        })
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
}

fn at(f: &ContentFile, (line, column): (usize, usize), message: String) -> ContentError {
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
fn locate(text: &str, needle: &str, from_line: usize) -> (usize, usize) {
    text.lines()
        .enumerate()
        .skip(from_line)
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or((1, 1))
}

fn parse_definition(
    f: &ContentFile,
    templates: &BTreeMap<String, Template>,
) -> Result<Definition, Vec<ContentError>> {
    let file: File = serde_norway::from_str(&f.text).map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((1, 1));
        vec![at(f, (line, column), e.to_string())]
    })?;
    let mut errors = Vec::new();
    let mut err = |needle: &str, from: usize, msg: String| {
        errors.push(at(f, locate(&f.text, needle, from), msg));
    };
    let known_event = |e: &str| EventKind::NAMES.contains(&e);
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
    let t = &file.trigger;
    if !known_event(&t.event) {
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
    if file.steps.is_empty() {
        err("steps:", 0, format!("{journey}: has no steps"));
    }
    let mut steps = Vec::new();
    let mut seen = Vec::new();
    for s in &file.steps {
        let from = locate(&f.text, &format!("id: {}", s.id), 0)
            .0
            .saturating_sub(1);
        if seen.contains(&s.id) {
            err(
                &format!("id: {}", s.id),
                from + 1,
                format!("{journey}: step id `{}` is used twice", s.id),
            );
        }
        seen.push(s.id.clone());
        match step_kind(s) {
            Ok(kind) => {
                if let StepKind::Email { template, .. } = &kind
                    && !templates.contains_key(template)
                {
                    err(
                        template,
                        from,
                        format!(
                            "{journey}, step `{}`: unknown template `{template}` (no templates/{template}/ folder)",
                            s.id
                        ),
                    );
                }
                steps.push(Step {
                    id: s.id.clone(),
                    kind,
                });
            }
            Err((needle, msg)) => err(needle, from, format!("{journey}, step `{}`: {msg}", s.id)),
        }
    }
    if let Some(pos) = steps.iter().position(|s| s.kind == StepKind::Exit)
        && pos + 1 < steps.len()
    {
        let id = &steps[pos + 1].id;
        err(
            &format!("id: {id}"),
            0,
            format!("{journey}: step `{id}` is unreachable (it follows an exit)"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Definition {
        id: file.id,
        version: file.version,
        name: file.name,
        trigger: Trigger {
            event: file.trigger.event,
            require: file.trigger.require,
            run_per: file.trigger.run_per,
            on_repeat: file.trigger.on_repeat,
        },
        goals: file
            .goals
            .into_iter()
            .map(|g| Goal { event: g.event })
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

/// Exactly one of `wait`, `email` or `exit` makes a step.
fn step_kind(s: &StepFile) -> Result<StepKind, (&'static str, String)> {
    let kinds = [s.wait.is_some(), s.email.is_some(), s.exit]
        .iter()
        .filter(|k| **k)
        .count();
    if kinds != 1 {
        return Err((
            "id:",
            "a step needs exactly one of `wait`, `email` or `exit`".into(),
        ));
    }
    if let Some(w) = &s.wait {
        let duration = crate::time::parse_duration(w).map_err(|e| ("wait:", e))?;
        return Ok(StepKind::Wait {
            duration,
            from_trigger: matches!(s.from, Some(WaitAnchor::Trigger)),
        });
    }
    if s.from.is_some() {
        return Err(("from:", "`from` only applies to a `wait` step".into()));
    }
    if let Some(t) = &s.email {
        return Ok(StepKind::Email {
            template: t.clone(),
            transactional: s.transactional,
        });
    }
    Ok(StepKind::Exit)
}
