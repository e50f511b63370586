//! The command line, run as a real process: create-admin, enroll-code, rotate-keys,
//! compromise-key, backup and restore on SQLite.

use std::process::Command;

use shuipiao_server::store::Store;

use crate::support;

fn run(db_url: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_shuipiao-server"))
        .args(args)
        .env("SHUIPIAO_DATABASE_URL", db_url)
        .env(
            "SHUIPIAO_MASTER_KEY",
            data_encoding::HEXLOWER.encode(&support::MASTER),
        )
        .env("SHUIPIAO_ADMIN_PASSWORD", support::PASSWORD)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
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
    let courier = store
        .create_user(
            &shuipiao_server::store::models::NewUser {
                username: "courier".into(),
                password_hash: "x".into(),
                role: shuipiao_server::store::models::Role::Courier,
                account_id: None,
                region_id: None,
                outlet_id: None,
            },
            support::NOW,
            &support::audit("user.create"),
        )
        .await
        .unwrap();
    assert_eq!(boss.spec.role, shuipiao_server::store::models::Role::Admin);
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
