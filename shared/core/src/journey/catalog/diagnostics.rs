//! Where a content problem is: files, located errors, and the collector each
//! parser reports into so one validator run shows every problem at once.

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

/// The problems found in one file, each located at the text it concerns.
pub(crate) struct Diagnostics<'f> {
    file: &'f ContentFile,
    errors: Vec<ContentError>,
}

impl<'f> Diagnostics<'f> {
    pub(crate) fn new(file: &'f ContentFile) -> Self {
        Self {
            file,
            errors: Vec::new(),
        }
    }

    /// A problem at the first `needle` at or after line `from` (0-based).
    pub(crate) fn at(&mut self, needle: &str, from: usize, message: String) {
        self.errors.push(at(
            self.file,
            locate(&self.file.text, needle, from),
            message,
        ));
    }

    /// The line (1-based) of the first `needle`; 1 when absent.
    pub(crate) fn line_of(&self, needle: &str) -> usize {
        locate(&self.file.text, needle, 0).0
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `value` when nothing was found, else every problem.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Vec<ContentError>> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(self.errors)
        }
    }

    pub(crate) fn into_errors(self) -> Vec<ContentError> {
        self.errors
    }
}

/// Ids of journeys, segments, topics and coupons: lower_snake_case.
pub(crate) fn is_snake_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
