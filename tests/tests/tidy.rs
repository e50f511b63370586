//! Rules of the codebase that matter enough to be enforced by a test rather than by memory:
//! the protocol crate stays pure, dependencies point one way, the Tauri shell stays thin, the
//! server's transport kernel knows neither the API nor the pages, domain modules know none of
//! the three, store table modules know not the `Store`, handlers leave writes to the domain, and
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
    assert_no_dependency_on(
        "providers",
        &[
            "shuipiao-server",
            "shuipiao-courier",
            "shuipiao-shared",
            "sqlx",
            "openssl",
            "rsa",
        ],
        "the payment providers speak the providers' protocols only; crypto is ring's",
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

/// The push decision is a pure function of the facts the store loads, pinned by vectors that
/// need no database: it names no storage, runtime or HTTP crate, and of the server only the
/// store's plain records.
#[test]
fn push_decision_is_pure() {
    let path = repo_root().join("server/src/sync/classify.rs");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let impure: Vec<&str> = text
        .lines()
        .filter(|line| {
            ["sqlx::", "tokio::", "axum::", "hyper::", "tower::"]
                .iter()
                .any(|name| line.contains(name))
                || line
                    .replace("crate::store::models::", "")
                    .contains("crate::")
        })
        .collect();
    assert!(
        impure.is_empty(),
        "server/src/sync/classify.rs must stay pure (the store loads its facts): {impure:?}"
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

/// Handlers parse and present: the audit entry of a change is built by the domain function that
/// makes it, so the API, the pages and the command line record it alike.
#[test]
fn handlers_build_no_audit_entries() {
    let mut files = Vec::new();
    for dir in ["server/src/http", "server/src/api", "server/src/web"] {
        rust_sources(&repo_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "handler sources not found");
    let offending: Vec<String> = files
        .iter()
        .filter(|path| {
            std::fs::read_to_string(path)
                .unwrap_or_else(|e| panic!("{path:?}: {e}"))
                .contains("AuditEntry")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        offending.is_empty(),
        "handlers that build audit entries (move the write into its domain module): {offending:#?}"
    );
}

/// `text` without its comment lines, on one line, so a call or a `use` split over lines still
/// reads as one.
fn code_of(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The identifier `text` starts with, after spaces.
fn leading_ident(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// The top-level modules of this crate that `code` (as [`code_of`] gives it) names: `crate::x`
/// paths and the first segment of each path in a `crate::{…}` group.
fn crate_modules_named(code: &str) -> Vec<String> {
    let mut named = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            named.push(leading_ident(rest));
            continue;
        };
        let mut depth = 0;
        let mut item = String::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 0 => {
                    named.push(leading_ident(&item));
                    item.clear();
                    if c == '}' {
                        break;
                    }
                    continue;
                }
                '}' => depth -= 1,
                _ => {}
            }
            item.push(c);
        }
    }
    named.retain(|name| !name.is_empty());
    named
}

#[test]
fn crate_modules_named_reads_paths_and_groups() {
    let code = code_of(
        "use crate::http::{AppState, Route};\n// use crate::web::x;\nuse crate::{\n    api::v1,\n    store::{Store, models::Role},\n    web as pages,\n};\nlet _ = crate::router::routes();",
    );
    assert_eq!(
        crate_modules_named(&code),
        ["http", "api", "store", "web", "router"]
    );
}

/// The crate modules among `forbidden` that each of `files` names, as `path: crate::name`.
fn forbidden_imports(files: &[PathBuf], forbidden: &[&str]) -> Vec<String> {
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
            crate_modules_named(&code_of(&text))
                .into_iter()
                .filter(|name| forbidden.contains(&name.as_str()))
                .map(move |name| format!("{}: crate::{name}", path.display()))
        })
        .collect()
}

/// The transport kernel (`server/src/http`) serves routes it is handed: it names neither the
/// JSON API nor the pages, nor the router that joins them, so neither can creep into the
/// access check, the error answers or the layers every route runs behind.
#[test]
fn the_transport_kernel_imports_neither_the_api_nor_the_pages() {
    let mut files = Vec::new();
    rust_sources(&repo_root().join("server/src/http"), &mut files);
    assert!(files.len() >= 3, "kernel sources not found: {files:?}");
    let offending = forbidden_imports(&files, &["api", "web", "router"]);
    assert!(
        offending.is_empty(),
        "the kernel must not import the API, the pages or the router: {offending:#?}"
    );
}

/// The router joins the API's and the pages' route lists, so neither names it: a module that
/// needs the API's routes (the OpenAPI document) takes `api::routes`.
#[test]
fn the_api_and_the_pages_do_not_import_the_router() {
    let mut files = Vec::new();
    for dir in ["server/src/api", "server/src/web"] {
        rust_sources(&repo_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "handler sources not found");
    let offending = forbidden_imports(&files, &["router"]);
    assert!(
        offending.is_empty(),
        "the router imports the API and the pages, not the other way: {offending:#?}"
    );
}

/// The server's domain modules: where its rules live.
const DOMAIN_MODULES: [&str; 17] = [
    "accounts",
    "catalogue",
    "review",
    "feedback",
    "issuance",
    "signup",
    "wallet",
    "rewards",
    "enterprise",
    "enrollment",
    "rotating_qr",
    "pii",
    "auth",
    "keys",
    "stats",
    "sync",
    "notify",
];

/// Domain modules hold the rules; the transport kernel, the JSON API, the pages and the router
/// that joins them call in. A domain module naming any of them would turn that around: what it
/// needs from the transport (e.g. the sign-in rate limits) it states as a trait the kernel
/// implements.
#[test]
fn domain_modules_import_neither_the_transport_the_api_nor_the_pages() {
    let mut files = Vec::new();
    for name in DOMAIN_MODULES {
        let file = repo_root().join(format!("server/src/{name}.rs"));
        if file.exists() {
            files.push(file);
        }
        rust_sources(&repo_root().join(format!("server/src/{name}")), &mut files);
    }
    assert!(
        files.len() > DOMAIN_MODULES.len(),
        "domain sources not found: {files:?}"
    );
    let offending = forbidden_imports(&files, &["http", "api", "web", "router"]);
    assert!(
        offending.is_empty(),
        "domain modules must not import the transport, the API, the pages or the router: {offending:#?}"
    );
}

/// The store's modules that are not table modules: `Store` and its methods (`sql`, and
/// `deliveries` for the plant's day), the leaf transaction module (`tx`), and the row decoding,
/// models, backend and batching helpers.
const STORE_FRAME: [&str; 8] = [
    "mod",
    "sql",
    "deliveries",
    "tx",
    "rows",
    "models",
    "backend",
    "batch",
];

/// The store's modules that `code` (as [`code_of`] gives it) names, as `crate::store::x`,
/// `super::x`, or in a `crate::store::{…}` group.
fn store_modules_named(code: &str) -> Vec<String> {
    crate_modules_named(
        &code
            .replace("crate::store::", "crate::")
            .replace("super::", "crate::"),
    )
}

/// Table modules hold the SQL and run inside the transaction a `Store` method opened: none
/// names `sql` (nor `Store`), and `tx`, which they all use, names no table module, so the
/// dependencies point one way.
#[test]
fn table_modules_do_not_import_the_store_and_tx_imports_no_table_module() {
    let mut files = Vec::new();
    rust_sources(&repo_root().join("server/src/store"), &mut files);
    let module = |path: &PathBuf| {
        path.file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let tables: Vec<String> = files
        .iter()
        .map(module)
        .filter(|name| !STORE_FRAME.contains(&name.as_str()))
        .collect();
    assert!(tables.len() >= 10, "table modules not found: {tables:?}");
    let mut offending = Vec::new();
    for path in &files {
        let name = module(path);
        let code =
            code_of(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}")));
        let named = store_modules_named(&code);
        if tables.contains(&name) {
            offending.extend(
                named
                    .iter()
                    .filter(|named| ["sql", "Store"].contains(&named.as_str()))
                    .map(|named| format!("{name}: {named}")),
            );
        } else if name == "tx" {
            offending.extend(
                named
                    .iter()
                    .filter(|named| tables.contains(named))
                    .map(|named| format!("tx: {named}")),
            );
        }
    }
    assert!(
        offending.is_empty(),
        "table modules must not use sql.rs or Store, nor tx a table module: {offending:#?}"
    );
}

/// Every public method of `Store` that changes stored data. Handlers never call one: a change
/// goes through the domain function that checks its rules and records it.
const STORE_WRITES: &[&str] = &[
    "retire_package",
    "backup_to",
    "create_product",
    "set_product_deposit",
    "add_bucket_record",
    "create_region",
    "create_outlet",
    "create_scope",
    "create_package",
    "create_account",
    "create_invitation",
    "check_invitation_code",
    "answer_invitation",
    "withdraw_invitation",
    "leave_enterprise",
    "create_user",
    "create_session",
    "delete_session",
    "set_password",
    "record_audit",
    "create_phone_code",
    "use_phone_code",
    "register_customer",
    "register_customer_with",
    "enqueue_notifications",
    "claim_notifications",
    "renew_notification_claim",
    "record_delivery",
    "resend_notification",
    "bind_channel",
    "advance_job_cursor",
    "notify_usage",
    "create_gift",
    "order_gift",
    "create_feedback",
    "allocate_book_ids",
    "record_order",
    "record_books",
    "revoke_book",
    "replace_book",
    "insert_signing_key",
    "mark_key_compromised",
    "insert_keyring_bundle",
    "create_enrollment_code",
    "enroll_device",
    "disable_device",
    "push_events",
    "resolve_review",
    "report_device_sync",
    "update_feedback",
    "update_user",
    "auto_assign",
    "assign_order",
    "cancel_order_by_staff",
    "acknowledge_deliveries",
    "add_address",
    "edit_address",
    "remove_address",
    "set_default_address",
    "set_slot_hours",
    "place_order",
    "cancel_pending_order",
    "insert_recurring",
    "set_recurring_paused",
    "delete_recurring",
    "run_recurring_day",
];

/// Every public method of `Store` that only reads.
const STORE_READS: &[&str] = &[
    "buckets_outstanding",
    "customers",
    "delivery_report",
    "connect",
    "bucket_ledgers",
    "bucket_records",
    "delivery_order",
    "address",
    "dispatch_day",
    "couriers",
    "delivery_feed",
    "backend",
    "ping",
    "products",
    "product",
    "regions",
    "outlets",
    "scopes",
    "package",
    "packages",
    "account",
    "members",
    "invitation",
    "invitations_of",
    "open_invitations",
    "allocated_books",
    "user",
    "user_by_name",
    "session",
    "user_by_phone",
    "signups_from_browser",
    "notifications_of",
    "list_notifications",
    "recipients",
    "job_cursor",
    "usage_changes",
    "usage_change",
    "books_expiring",
    "points_balance",
    "points_history",
    "gifts",
    "feedback_of",
    "feedback_inbox",
    "book",
    "book_history",
    "books_of_account",
    "live_books_of_key",
    "signing_keys",
    "latest_keyring_bundle",
    "device",
    "devices",
    "pull_statuses",
    "status_sets",
    "chain_tip",
    "review_queue",
    "is_delivery_event",
    "summary",
    "audit_log",
    "audit_page",
    "report_data",
    "device_activity",
    "search_books",
    "accounts",
    "users",
    "guided_customers",
    "dead_notifications",
    "addresses_of_account",
    "slot_hours",
    "orderable_units",
    "orders_of_account",
    "recurring_order",
    "recurring_of_account",
    "due_recurring",
];

/// The names of the public methods of `Store`, read from the `impl Store` blocks of the
/// store's sources.
fn store_methods() -> Vec<String> {
    let mut files = Vec::new();
    rust_sources(&repo_root().join("server/src/store"), &mut files);
    let mut methods = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        for block in text.split("\nimpl Store {\n").skip(1) {
            let end = block.find("\n}\n").expect("the end of an impl Store block");
            methods.extend(block[..end].lines().filter_map(|line| {
                let rest = line
                    .strip_prefix("    pub async fn ")
                    .or_else(|| line.strip_prefix("    pub fn "))?;
                Some(
                    rest.chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect::<String>(),
                )
            }));
        }
    }
    methods
}

/// A new `Store` method must be sorted into writes or reads, so the rule below cannot miss it.
#[test]
fn every_store_method_is_a_write_or_a_read() {
    let methods = store_methods();
    assert!(methods.len() > 50, "Store methods not found: {methods:?}");
    let unsorted: Vec<&String> = methods
        .iter()
        .filter(|name| {
            !STORE_WRITES.contains(&name.as_str()) && !STORE_READS.contains(&name.as_str())
        })
        .collect();
    assert!(
        unsorted.is_empty(),
        "add these Store methods to STORE_WRITES or STORE_READS: {unsorted:?}"
    );
    let gone: Vec<&&str> = STORE_WRITES
        .iter()
        .chain(STORE_READS)
        .filter(|name| !methods.iter().any(|method| method == *name))
        .collect();
    assert!(gone.is_empty(), "no longer Store methods: {gone:?}");
}

/// Handlers of the JSON API and of the pages parse, call one domain function and present its
/// result: none calls a store method that writes, so every change passes its domain's rules and
/// is recorded alike from the API, the pages and the command line.
#[test]
fn handlers_call_no_store_write() {
    let mut files = Vec::new();
    for dir in ["server/src/api", "server/src/web"] {
        rust_sources(&repo_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "handler sources not found");
    let offending: Vec<String> = files
        .iter()
        .flat_map(|path| {
            let code =
                code_of(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}")));
            STORE_WRITES
                .iter()
                .filter(move |name| code.contains(&format!(".{name}(")))
                .map(move |name| format!("{}: {name}", path.display()))
        })
        .collect();
    assert!(
        offending.is_empty(),
        "handlers that write to the store (move the write into its domain module): {offending:#?}"
    );
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
        "providers",
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

/// Every file git tracks, as a path relative to the repository root.
fn tracked_files() -> Vec<PathBuf> {
    let root = repo_root();
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files runs");
    assert!(output.status.success(), "git ls-files failed");
    output
        .stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| PathBuf::from(String::from_utf8_lossy(name).into_owned()))
        .collect()
}

/// Where `text` sends a reader to something the repository does not hold: a design or
/// measurement document kept elsewhere, a sibling directory, or a numbered issue.
fn outside_citation(text: &str) -> Option<String> {
    // Spelled in pieces so this file does not cite them itself.
    let documents = [
        ["DESIGN", ".md"].concat(),
        ["FIND", "INGS"].concat(),
        ["REQUIRE", "MENTS-zh"].concat(),
        ["STYLE", ".md"].concat(),
        ["../", "shared/"].concat(),
    ];
    if let Some(document) = documents.iter().find(|d| text.contains(d.as_str())) {
        return Some(document.clone());
    }
    let lower = text.to_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("issue") {
        let after = rest[at + "issue".len()..].trim_start_matches([' ', '#']);
        if after.starts_with(|c: char| c.is_ascii_digit()) {
            return Some(rest[at..].chars().take(12).collect());
        }
        rest = &rest[at + "issue".len()..];
    }
    None
}

#[test]
fn outside_citations_are_found() {
    assert!(outside_citation(&["see ", "DESIGN", ".md §4"].concat()).is_some());
    assert!(outside_citation(&["the goal of is", "sue 10"].concat()).is_some());
    assert!(outside_citation(&["Is", "sue #7 says"].concat()).is_some());
    assert!(outside_citation("an issued book, issue 一 of them").is_none());
    assert!(outside_citation("docs/protocol.md, \"Ledger\"").is_none());
}

#[test]
fn nothing_cites_documents_outside_the_repository() {
    let root = repo_root();
    let files = tracked_files();
    assert!(
        files.len() > 50,
        "git lists only {} files: is the repository root right?",
        files.len()
    );
    let offending: Vec<String> = files
        .iter()
        .filter(|path| path.file_name().is_none_or(|name| name != "Cargo.lock"))
        .filter_map(|path| {
            // Binary files (images, fixtures) cannot cite anything.
            let text = std::fs::read_to_string(root.join(path)).ok()?;
            text.lines().enumerate().find_map(|(number, line)| {
                outside_citation(line)
                    .map(|what| format!("{}:{}: {what}", path.display(), number + 1))
            })
        })
        .collect();
    assert!(
        offending.is_empty(),
        "the repository must stand alone; these cite what a reader cannot open \
         (bring what they need into docs/): {offending:#?}"
    );
}

/// One migration's statements with the backend-specific type names folded together, so the two
/// directories can be compared statement by statement.
fn normalised_statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let folds = [
        (
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "INTEGER PRIMARY KEY AUTOINCREMENT",
        ),
        ("BIGSERIAL", "INTEGER"),
        ("BIGINT", "INTEGER"),
        ("BYTEA", "BLOB"),
        ("SMALLINT", "INTEGER"),
    ];
    without_comments
        .split(';')
        .map(|statement| {
            let mut words = statement
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_uppercase();
            for (from, to) in folds {
                words = words.replace(from, to);
            }
            words
        })
        .filter(|statement| !statement.is_empty())
        .collect()
}

#[test]
fn both_migration_directories_hold_the_same_migrations() {
    let root = repo_root().join("server/migrations");
    let names = |backend: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(backend))
            .unwrap_or_else(|e| panic!("{backend} migrations: {e}"))
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty(), "no SQLite migrations found");
    assert_eq!(
        sqlite,
        names("postgres"),
        "every migration exists for both backends under the same name"
    );
    for name in &sqlite {
        let read = |backend: &str| {
            normalised_statements(
                &std::fs::read_to_string(root.join(backend).join(name))
                    .unwrap_or_else(|e| panic!("{backend}/{name}: {e}")),
            )
        };
        let (sqlite, postgres) = (read("sqlite"), read("postgres"));
        // SQLite cannot drop a constraint or a NOT NULL in place, so such a migration rebuilds
        // the table (copy, drop, create, refill) where PostgreSQL alters it: PostgreSQL may only
        // alter tables and create indexes there, and SQLite must create each of those indexes
        // too (besides the older ones of the tables it rebuilt).
        if sqlite
            .iter()
            .any(|s| s.starts_with("CREATE TABLE") && s.contains(" AS SELECT "))
        {
            for statement in &postgres {
                if statement.starts_with("CREATE INDEX") {
                    assert!(
                        sqlite.contains(statement),
                        "{name}: SQLite's rebuild lacks {statement}"
                    );
                } else {
                    assert!(
                        statement.starts_with("ALTER TABLE"),
                        "{name}: a rebuild on SQLite must be only ALTER TABLE and CREATE INDEX \
                         on PostgreSQL, not {statement}"
                    );
                }
            }
            continue;
        }
        assert_eq!(
            sqlite.len(),
            postgres.len(),
            "{name}: the two backends run a different number of statements"
        );
        for (lite, pg) in sqlite.iter().zip(&postgres) {
            // Data changes may use each backend's own functions: the same verb on the same
            // table is enough. The schema must match word for word.
            let is_data = ["UPDATE ", "INSERT ", "DELETE "]
                .iter()
                .any(|verb| lite.starts_with(verb));
            if is_data {
                let head = |s: &str| s.split(' ').take(3).collect::<Vec<_>>().join(" ");
                assert_eq!(
                    head(lite),
                    head(pg),
                    "{name}: a data change differs between the backends in verb or table"
                );
            } else {
                assert_eq!(
                    lite, pg,
                    "{name}: a statement differs between the backends beyond type names"
                );
            }
        }
    }
}
