//! The command line, run as a real process: create-admin, enroll-code, rotate-keys,
//! compromise-key, backup and restore on SQLite; reset-password on both backends.

use std::process::Command;

use shuipiao_server::store::models::{NewUser, Role, Session, User};

use crate::support;

/// A staff user made directly in the store (no password anyone knows).
async fn staff(store: &shuipiao_server::store::Store, username: &str, role: Role) -> User {
    let user = NewUser {
        username: username.into(),
        password_hash: "x".into(),
        role,
        account_id: None,
        region_id: None,
        outlet_id: None,
    };
    let audit = support::audit("user.create");
    store
        .create_user(&user, support::NOW, &audit)
        .await
        .unwrap()
}

fn run(db_url: &str, args: &[&str]) -> String {
    let admin_password = [("SHUIPIAO_ADMIN_PASSWORD", support::PASSWORD)];
    let (ok, stdout, stderr) = run_with(db_url, args, &admin_password);
    assert!(ok, "{args:?} failed: {stderr}");
    stdout
}

/// Runs the binary with extra environment; returns whether it succeeded, stdout and stderr.
pub(crate) fn run_with(
    db_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_shuipiao-server"))
        .args(args)
        .env("SHUIPIAO_DATABASE_URL", db_url)
        .env(
            "SHUIPIAO_MASTER_KEY",
            data_encoding::HEXLOWER.encode(&support::MASTER),
        )
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn admin_keys_codes_backup_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let live = format!("sqlite://{}/live/shuipiao.db", dir.path().display());
    run(&live, &["create-admin", "--username", "boss"]);
    let rotated = run(&live, &["rotate-keys"]);
    assert!(rotated.starts_with("new issuer key "), "{rotated}");

    let store = support::open(&support::TestDb::at(&live)).await;
    let boss = store.user_by_name("boss").await.unwrap();
    let courier = staff(&store, "courier", Role::Courier).await;
    assert_eq!(boss.spec.role, Role::Admin);
    let code = run(
        &live,
        &["enroll-code", "--username", &courier.spec.username],
    );
    assert_eq!(code.trim().len(), 16, "{code}");

    let backup = dir.path().join("backup.db");
    run(&live, &["backup", backup.to_str().unwrap()]);
    let restored = format!("sqlite://{}/restored.db", dir.path().display());
    run(&restored, &["restore", backup.to_str().unwrap()]);
    let copy = support::open(&support::TestDb::at(&restored)).await;
    assert_eq!(copy.user_by_name("boss").await.unwrap().id, boss.id);
    assert_eq!(
        copy.signing_keys().await.unwrap().len(),
        3,
        "root, retired issuer, active issuer"
    );
}

#[tokio::test]
async fn compromise_key_revokes_and_reissues_its_books() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shuipiao.db", dir.path().display());
    let db = support::TestDb::at(&url);
    let store = support::open(&db).await;
    shuipiao_server::keys::ensure(&store, &support::master(), support::NOW)
        .await
        .unwrap();
    let cat = support::catalogue(&store, 10).await;
    let account = support::customer_account(&store, "王阿姨").await;
    let order = shuipiao_server::issuance::issue_order(
        &store,
        &support::master(),
        &shuipiao_server::issuance::IssueOrder {
            account_id: account.id,
            package_id: cat.package_id,
            quantity: 1,
            allocations: Vec::new(),
        },
        None,
        support::NOW,
    )
    .await
    .unwrap();
    let old = &order.books[0];

    let out = run(&url, &["compromise-key", &old.kid_hex.to_uppercase()]);
    assert!(out.contains("reissued 1 books"), "{out}");

    let revoked = store.book(old.id).await.unwrap();
    assert!(
        revoked.revoked_at.is_some(),
        "the compromised book is revoked"
    );
    let mine = store.books_of_account(account.id).await.unwrap();
    let fresh: Vec<_> = mine.iter().filter(|b| b.revoked_at.is_none()).collect();
    assert_eq!(
        fresh.len(),
        1,
        "one working book for the customer: {mine:?}"
    );
    assert_ne!(
        fresh[0].issued.kid_hex, old.kid_hex,
        "signed under another key"
    );
    assert_eq!(fresh[0].issued.units, old.units);

    let keys = store.signing_keys().await.unwrap();
    let compromised = keys
        .iter()
        .find(|k| data_encoding::HEXLOWER.encode(&k.kid) == old.kid_hex);
    assert_eq!(
        compromised.map(|k| k.status),
        Some(shuipiao_server::store::models::KeyStatus::Compromised)
    );
}

/// A session row for `user`, as a sign-in would store it.
async fn session_of(store: &shuipiao_server::store::Store, user: &User) -> String {
    let id = shuipiao_server::auth::token::session_id();
    let secret = shuipiao_server::auth::token::secret();
    let session = Session {
        id: id.clone(),
        user_id: user.id,
        secret_hash: secret.hash,
        expires_at: support::NOW + 3_600,
    };
    store.create_session(&session, support::NOW).await.unwrap();
    id
}

/// An admin who forgot their password (or a locked-out staff member) gets a new one from the
/// command line, under the same rule as everywhere else; their sessions end.
async fn reset_password_from_the_command_line(db: support::TestDb) {
    let url = db.url.expose().to_string();
    let store = support::open(&db).await;
    let boss = staff(&store, "boss", Role::Admin).await;
    let session = session_of(&store, &boss).await;
    let args = ["reset-password", "--username", "boss"];

    let (ok, _, err) = run_with(&url, &args, &[("SHUIPIAO_NEW_PASSWORD", "short")]);
    assert!(!ok && err.contains("密码至少需要 8 位"), "{err}");
    assert!(store.session(&session).await.is_ok(), "nothing changed");
    let (ok, _, err) = run_with(
        &url,
        &["reset-password", "--username", "ghost"],
        &[("SHUIPIAO_NEW_PASSWORD", support::PASSWORD)],
    );
    assert!(!ok && err.contains("ghost"), "{err}");

    let (ok, out, err) = run_with(&url, &args, &[("SHUIPIAO_NEW_PASSWORD", support::PASSWORD)]);
    assert!(ok, "{err}");
    assert!(out.contains("boss"), "{out}");
    assert!(store.session(&session).await.is_err(), "their sessions end");
    let stored = store.user_by_name("boss").await.unwrap();
    assert!(
        shuipiao_server::auth::password::verify(
            support::PASSWORD.into(),
            Some(stored.spec.password_hash)
        )
        .await
    );
    let log = store.audit_log(10).await.unwrap();
    assert!(
        log.iter()
            .any(|entry| entry.action == "user.password_reset" && entry.target == "user:boss"),
        "{log:?}"
    );
}

support::on_both_backends!(reset_password_from_the_command_line);
