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
}

fn read_tree(root: &Path, dir: &str, out: &mut Vec<ContentFile>) -> Result<()> {
    let mut stack = vec![root.join(dir)];
    while let Some(d) = stack.pop() {
        if !d.exists() {
            continue;
        }
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("reading {rel}"))?;
                out.push(ContentFile { path: rel, text });
            }
        }
    }
    Ok(())
}

pub fn journeys(cmd: Journeys) -> Result<ExitCode> {
    match cmd {
        Journeys::Validate { root } => {
            let mut files = Vec::new();
            read_tree(&root, "journeys", &mut files)?;
            read_tree(&root, "templates", &mut files)?;
            match Catalog::from_files(&files) {
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
            }
        }
    }
}
