//! Support code for the end-to-end suite: the tests live in `tests/tests/`.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}
