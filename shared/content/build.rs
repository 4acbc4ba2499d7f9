//! Bundles `journeys/` and `templates/` (at the repository root) into the
//! binary, so a deployed function runs exactly the content it was built with.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What a function bundles: definitions and template parts (not, say, a
/// preview screenshot kept beside a template).
const CONTENT: [&str; 5] = ["yaml", "yml", "txt", "html", "mjml"];

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| CONTENT.contains(&e))
        {
            out.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in ["journeys", "segments", "templates"] {
        let d = root.join(dir);
        println!("cargo:rerun-if-changed={}", d.display());
        collect(&d, &mut files);
    }
    files.sort();
    let mut code = String::from("pub static FILES: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f
            .strip_prefix(&root)
            .expect("collected under the root")
            .to_string_lossy()
            .replace('\\', "/");
        let abs = f.canonicalize().expect("file exists");
        writeln!(code, "    ({rel:?}, include_str!({:?})),", abs.display()).unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("content.rs");
    std::fs::write(out, code).unwrap();
}
