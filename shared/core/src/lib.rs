//! Waymark's pure core: everything that decides something.
//!
//! Parsing and normalising webhooks, contact profiles, the journey step
//! function and email rendering live here as plain functions over plain data.
//! This crate must never perform I/O or read the wall clock: time arrives as
//! an argument, and effects leave as values for an adapter to perform.

pub mod activity;
pub mod analytics;
pub mod campaign;
pub mod contact;
pub mod coupon;
pub mod email;
pub mod event;
pub mod feedback;
pub mod history;
pub mod hmac;
pub mod identity;
pub mod ids;
pub mod journey;
pub mod money;
pub mod outbox;
pub mod ratelimit;
pub mod recent_events;
pub mod redact;
pub mod rfm;
pub mod sending;
pub mod shopify;
pub mod site;
pub mod stats;
pub mod time;
pub mod unsubscribe;

pub use jiff::Timestamp;

#[cfg(test)]
mod hostile_tests;

/// The repository's content files, for tests that check the shipped content
/// (tests may read files; the core itself never does).
#[cfg(test)]
pub(crate) mod repo_content {
    use crate::journey::ContentFile;
    use std::path::{Path, PathBuf};

    /// The workspace root.
    pub fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// Every content file under `root`, sorted by path.
    pub fn files(root: &Path) -> Vec<ContentFile> {
        let mut out = Vec::new();
        for top in ["journeys", "segments", "templates"] {
            collect(root, &root.join(top), &mut out);
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    fn collect(root: &Path, dir: &Path, out: &mut Vec<ContentFile>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries.map(|e| e.expect("a readable directory").path()) {
            if path.is_dir() {
                collect(root, &path, out);
                continue;
            }
            let rel = path.strip_prefix(root).expect("under the root");
            let rel = rel.to_string_lossy().replace('\\', "/");
            if ContentFile::is_content(&rel) {
                let text = std::fs::read_to_string(&path).expect("a readable file");
                out.push(ContentFile { path: rel, text });
            }
        }
    }
}
