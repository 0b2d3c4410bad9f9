//! What the checkers' integration tests share: where the shared histories are, and their files.

use std::path::{Path, PathBuf};

/// The shared histories: `$FAULTLINE_SHARED/histories`, else `shared/` beside the checkout.
pub fn shared() -> PathBuf {
    let root = std::env::var_os("FAULTLINE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    root.join("histories")
}

/// Whether the shared histories are there; if not, says in one line that `test` is skipped
/// (a newcomer's clone has no `../shared`).
pub fn have_shared(test: &str) -> bool {
    let dir = shared();
    let there = dir.is_dir();
    if !there {
        println!("skipped: {test}: needs the shared histories at {} (set FAULTLINE_SHARED)", dir.display());
    }
    there
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
