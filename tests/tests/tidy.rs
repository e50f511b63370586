//! Rules of the codebase that matter enough to be enforced by a test rather than by memory:
//! the protocol crate stays pure, dependencies point one way, the Tauri shell stays thin, and
//! every source file says why it exists.

use std::path::{Path, PathBuf};

use shuipiao_tests::repo_root;

fn manifest(crate_dir: &str) -> toml::Table {
    let path = repo_root().join(crate_dir).join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    text.parse().unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// Names of the normal (non-dev) dependencies of a crate, including optional ones.
fn dependencies(crate_dir: &str) -> Vec<String> {
    let manifest = manifest(crate_dir);
    let mut names: Vec<String> = manifest
        .get("dependencies")
        .and_then(|d| d.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    if let Some(targets) = manifest.get("target").and_then(|t| t.as_table()) {
        for target in targets.values() {
            if let Some(deps) = target.get("dependencies").and_then(|d| d.as_table()) {
                names.extend(deps.keys().cloned());
            }
        }
    }
    names
}

fn assert_no_dependency_on(crate_dir: &str, forbidden: &[&str], why: &str) {
    let offending: Vec<String> = dependencies(crate_dir)
        .into_iter()
        .filter(|d| forbidden.contains(&d.as_str()))
        .collect();
    assert!(
        offending.is_empty(),
        "{crate_dir} depends on {offending:?}: {why}"
    );
}

#[test]
fn protocol_crate_is_pure() {
    assert_no_dependency_on(
        "shared",
        &[
            "sqlx",
            "rusqlite",
            "tokio",
            "async-std",
            "axum",
            "hyper",
            "tower",
            "tower-http",
            "reqwest",
            "tauri",
            "nokhwa",
            "shuipiao-server",
            "shuipiao-courier",
        ],
        "shared is the protocol: no runtime, storage, network or UI crates",
    );
}

#[test]
fn dependencies_point_one_way() {
    assert_no_dependency_on(
        "server",
        &[
            "shuipiao-courier",
            "shuipiao-courier-app",
            "shuipiao-tests",
            "rusqlite",
            "tauri",
        ],
        "the server never links courier code",
    );
    assert_no_dependency_on(
        "courier-app/core",
        &[
            "shuipiao-server",
            "shuipiao-courier-app",
            "shuipiao-tests",
            "tauri",
            "sqlx",
            "axum",
        ],
        "the courier engine knows nothing of the server's code or of the UI shell",
    );
}

#[test]
fn tauri_shell_stays_thin() {
    assert_no_dependency_on(
        "courier-app/src-tauri",
        &[
            "rusqlite",
            "sqlx",
            "reqwest",
            "shuipiao-server",
            "rqrr",
            "rxing",
            "nokhwa",
        ],
        "storage, sync and scanning belong in courier-app/core",
    );
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let skip = [
            "target",
            "tests",
            "node_modules",
            "fuzz",
            "benches",
            "examples",
        ];
        if path.is_dir() && !skip.iter().any(|s| name == *s) {
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_opens_with_a_module_doc() {
    let root = repo_root();
    let mut files = Vec::new();
    for krate in [
        "shared",
        "server",
        "courier-app/core",
        "courier-app/src-tauri",
        "tests",
    ] {
        rust_sources(&root.join(krate).join("src"), &mut files);
    }
    assert!(
        files.len() > 5,
        "found only {files:?}: is the repository root right?"
    );
    let undocumented: Vec<&PathBuf> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .collect();
    assert!(
        undocumented.is_empty(),
        "files without a `//!` doc: {undocumented:?}"
    );
}
