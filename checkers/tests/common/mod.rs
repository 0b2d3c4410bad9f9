//! What the checkers' integration tests share: where the shared histories are, and their files.

use std::path::{Path, PathBuf};

/// The shared histories: `$FAULTLINE_SHARED/histories`, else `shared/` beside the checkout.
pub fn shared() -> PathBuf {
    let root = std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    root.join("histories")
}

/// The files of `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}
