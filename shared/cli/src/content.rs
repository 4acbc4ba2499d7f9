//! `waymark journeys …`: validates the content files on disk (the same
//! validation the functions run on their bundled copy).

use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use waymark_core::journey::{Catalog, ContentFile};

#[derive(Subcommand)]
pub enum Journeys {
    /// Reports every problem in journeys/ and templates/ with file, line and
    /// column; exits non-zero if there is any.
    Validate {
        /// The repository root holding journeys/ and templates/.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Runs a journey over a timeline of webhooks and ticks (JSON lines) with
    /// the in-memory adapters, and prints who entered, waited, branched, got
    /// which email, and left, with the reason.
    Simulate {
        /// The journey id, e.g. abandoned_checkout.
        journey: String,
        /// JSON lines: {"topic": "checkouts/create", "file": "…json" | "payload": {…},
        /// "set": {…top-level fields…}} or {"tick": "2026-11-23T11:01:00Z"}.
        #[arg(long)]
        events: PathBuf,
        /// Run time on to this instant at the end (default: 90 days after the last input).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
    /// Prints a diagram of a journey (Mermaid by default, or Graphviz DOT).
    Graph {
        journey: String,
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormat,
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

/// Every content file under `root`'s journeys/, segments/ and templates/,
/// sorted by path: what the build bundles, read from disk (the CLI is the
/// only place that reads content files; the core never touches a disk).
pub fn read_tree(root: &Path) -> std::io::Result<Vec<ContentFile>> {
    let mut files = Vec::new();
    for dir in ["journeys", "segments", "templates"] {
        let mut stack = vec![root.join(dir)];
        while let Some(d) = stack.pop() {
            if !d.exists() {
                continue;
            }
            for entry in std::fs::read_dir(&d)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                if ContentFile::is_content(&rel) {
                    let text = std::fs::read_to_string(&path)?;
                    files.push(ContentFile { path: rel, text });
                }
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The catalog from the content files on disk, or every problem printed.
fn load(root: &Path) -> Result<Result<Catalog, Vec<waymark_core::journey::ContentError>>> {
    let files =
        read_tree(root).with_context(|| format!("reading content under {}", root.display()))?;
    Ok(Catalog::from_files(&files))
}

pub(crate) fn load_or_report(root: &Path) -> Result<Option<Catalog>> {
    match load(root)? {
        Ok(c) => Ok(Some(c)),
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s)", errors.len());
            Ok(None)
        }
    }
}

pub async fn journeys(cmd: Journeys) -> Result<ExitCode> {
    match cmd {
        Journeys::Simulate {
            journey,
            events,
            until,
            root,
        } => {
            let Some(catalog) = load_or_report(&root)? else {
                return Ok(ExitCode::FAILURE);
            };
            crate::simulate::run(catalog, &journey, &events, until.as_deref()).await
        }
        Journeys::Graph {
            journey,
            format,
            root,
        } => {
            let Some(catalog) = load_or_report(&root)? else {
                return Ok(ExitCode::FAILURE);
            };
            let d = catalog.latest(&journey).ok_or_else(|| {
                anyhow::anyhow!("no journey `{journey}` in {}/journeys", root.display())
            })?;
            print!(
                "{}",
                match format {
                    GraphFormat::Mermaid => waymark_core::journey::graph::mermaid(d),
                    GraphFormat::Dot => waymark_core::journey::graph::dot(d),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Journeys::Validate { root } => match load(&root)? {
            Ok(catalog) => {
                let n = catalog.journeys().len();
                let t = catalog.templates().count();
                println!("ok: {n} journey version(s), {t} template(s)");
                Ok(ExitCode::SUCCESS)
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                eprintln!("{} problem(s)", errors.len());
                Ok(ExitCode::FAILURE)
            }
        },
    }
}
