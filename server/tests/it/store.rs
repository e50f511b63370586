//! The store contract: the same tests on SQLite and PostgreSQL.

use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::keys;
use shuipiao_server::store::StoreError;
use shuipiao_server::store::models::*;
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;

use crate::support::{
    self, NOW, TestDb, audit, catalogue, customer_account, master, on_both_backends,
};

on_both_backends!(
    catalogue_round_trips_and_names_are_unique,
    book_ids_are_never_reused,
    orders_issue_signed_books_and_revocation_moves_status,
    lost_ticket_recovery_keeps_lineage,
    enrollment_codes_are_one_time_and_expire,
    keyring_versions_only_move_forward,
    key_rotation_and_compromise,
    instances_starting_together_install_one_key_set,
    status_sequence_is_commit_ordered_under_concurrency,
    admin_actions_are_audited,
);

async fn catalogue_round_trips_and_names_are_unique(db: TestDb) {
    let store = support::open(&db).await;
    let cat = catalogue(&store, 4).await;
    assert_eq!(store.products().await.unwrap().len(), 1);
    assert_eq!(store.regions().await.unwrap()[0].name, "武汉");
    let scopes = store.scopes().await.unwrap();
    assert_eq!(scopes[0].region_ids, vec![cat.region_id]);
    assert_eq!(scopes[0].outlet_ids, vec![cat.outlet_id]);
    assert_eq!(
        store.package(cat.package_id).await.unwrap().spec.paid_units,
        4
    );
    let dup = store
        .create_region("武汉", NOW, &audit("region.create"))
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert!(matches!(
        store.package(999).await,
        Err(StoreError::NotFound)
    ));
    let enterprise = store
        .create_account(
            &NewAccount {
                kind: AccountKind::Enterprise,
                name: "襄阳某企业".into(),
                enterprise_id: None,
            },
            NOW,
            &audit("account.create"),
        )
        .await
        .unwrap();
    let member = store
        .create_account(
            &NewAccount {
                kind: AccountKind::Customer,
                name: "员工".into(),
                enterprise_id: Some(enterprise.id),
            },
            NOW,
            &audit("account.create"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.members(enterprise.id).await.unwrap(),
        vec![member.clone()]
    );
    let not_enterprise = store
        .create_account(
            &NewAccount {
                kind: AccountKind::Customer,
                name: "x".into(),
                enterprise_id: Some(member.id),
            },
            NOW,
            &audit("account.create"),
        )
        .await;
    assert!(
        matches!(not_enterprise, Err(StoreError::Conflict(_))),
        "a member's enterprise must be an enterprise"
    );
}

async fn book_ids_are_never_reused(db: TestDb) {
    let store = support::open(&db).await;
    let first = store.allocate_book_ids(3).await.unwrap();
    let second = store.allocate_book_ids(2).await.unwrap();
    assert_eq!(first, 1..4);
    assert_eq!(
        second,
        4..6,
        "ids allocated but never used are not handed out again"
    );
}

async fn orders_issue_signed_books_and_revocation_moves_status(db: TestDb) {
    let store = support::open(&db).await;
    keys::ensure(&store, &master(), NOW).await.unwrap();
    let cat = catalogue(&store, 4).await;
    let account = customer_account(&store, "张伟家").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: cat.package_id,
        quantity: 2,
        allocations: vec![],
    };
    let issued = issuance::issue_order(&store, &master(), &order, None, NOW)
        .await
        .unwrap();
    assert_eq!(issued.books.len(), 2);
    let book = store.book(issued.books[0].id).await.unwrap();
    assert_eq!(
        (book.issued.units, book.used_units, book.state),
        (4, 0, BookState::Active)
    );
    assert_eq!(
        book.status_seq, None,
        "a fresh book has no status change for devices yet"
    );
    let parsed =
        shuipiao_shared::credential::SignedCredential::from_qr_text(&book.issued.qr_text).unwrap();
    assert_eq!(parsed.credential.book_id, book.issued.id);
    assert_eq!(parsed.credential.units, 4);
    assert_eq!(store.books_of_account(account.id).await.unwrap().len(), 2);

    let revoked = issuance::revoke(&store, book.issued.id, "用户退款", None, NOW + 10)
        .await
        .unwrap();
    assert_eq!(revoked.state, BookState::Revoked);
    let rows = store.pull_statuses(0, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].book_id, rows[0].state),
        (book.issued.id, BookState::Revoked)
    );
    let again = issuance::revoke(&store, book.issued.id, "again", None, NOW + 20).await;
    assert!(
        matches!(
            again,
            Err(issuance::IssueError::Store(StoreError::Conflict(_)))
        ),
        "{again:?}"
    );
    assert!(matches!(
        store
            .revoke_book(BookId(999), "x", NOW, &audit("book.revoke"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn lost_ticket_recovery_keeps_lineage(db: TestDb) {
    let store = support::open(&db).await;
    keys::ensure(&store, &master(), NOW).await.unwrap();
    let cat = catalogue(&store, 10).await;
    let account = customer_account(&store, "王芳家").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: cat.package_id,
        quantity: 1,
        allocations: vec![],
    };
    let old = issuance::issue_order(&store, &master(), &order, None, NOW)
        .await
        .unwrap()
        .books[0]
        .clone();
    let new = issuance::reissue(&store, &master(), old.id, "用户挂失", None, NOW + 5)
        .await
        .unwrap();
    assert_eq!(new.issued.replaces, Some(old.id));
    assert_eq!(new.issued.units, 10);
    assert_eq!(new.issued.valid_until, old.valid_until);
    assert_eq!(store.book(old.id).await.unwrap().state, BookState::Revoked);
    assert!(new.issued.id > old.id);
    let twice = issuance::reissue(&store, &master(), old.id, "again", None, NOW + 6).await;
    assert!(
        twice.is_err(),
        "a revoked book cannot be reissued twice: {twice:?}"
    );
}

async fn enrollment_codes_are_one_time_and_expire(db: TestDb) {
    let store = support::open(&db).await;
    let courier = store
        .create_user(
            &NewUser {
                username: "c".into(),
                password_hash: "x".into(),
                role: Role::Courier,
                account_id: None,
                region_id: None,
                outlet_id: None,
            },
            NOW,
            &audit("user.create"),
        )
        .await
        .unwrap();
    let code = NewEnrollmentCode {
        code_hash: vec![1; 32],
        user_id: courier.id,
        expires_at: NOW + 60,
        created_by: None,
    };
    store
        .create_enrollment_code(&code, NOW, &audit("code"))
        .await
        .unwrap();
    let device = NewDevice {
        name: "phone".into(),
        public_key: [3; 32],
        token_hash: vec![9; 32],
    };
    let late = store
        .enroll_device(&code.code_hash, &device, NOW + 61)
        .await;
    assert!(
        matches!(late, Err(StoreError::NotFound)),
        "expired codes are refused"
    );
    let enrolled = store
        .enroll_device(&code.code_hash, &device, NOW + 1)
        .await
        .unwrap();
    assert_eq!(enrolled.user_id, courier.id);
    let reused = store
        .enroll_device(
            &code.code_hash,
            &NewDevice {
                public_key: [4; 32],
                ..device.clone()
            },
            NOW + 2,
        )
        .await;
    assert!(
        matches!(reused, Err(StoreError::NotFound)),
        "codes are one-time"
    );
    store
        .disable_device(enrolled.id, NOW + 3, &audit("device.disable"))
        .await
        .unwrap();
    assert_eq!(
        store.device(enrolled.id).await.unwrap().disabled_at,
        Some(NOW + 3)
    );
    assert!(matches!(
        store
            .disable_device(enrolled.id, NOW + 4, &audit("device.disable"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn keyring_versions_only_move_forward(db: TestDb) {
    let store = support::open(&db).await;
    store.insert_keyring_bundle(1, b"one", NOW).await.unwrap();
    store.insert_keyring_bundle(2, b"two", NOW).await.unwrap();
    assert!(matches!(
        store.insert_keyring_bundle(2, b"again", NOW).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.latest_keyring_bundle().await.unwrap(),
        Some((2, b"two".to_vec()))
    );
}

/// Several servers starting at once on an empty database end with one active key per purpose
/// and a keyring that names them, whoever wins each race.
async fn instances_starting_together_install_one_key_set(db: TestDb) {
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(support::open(&db).await);
    }
    let master = master();
    let started = tokio::join!(
        keys::ensure(&stores[0], &master, NOW),
        keys::ensure(&stores[1], &master, NOW),
        keys::ensure(&stores[2], &master, NOW),
        keys::ensure(&stores[3], &master, NOW),
    );
    let started = [started.0, started.1, started.2, started.3];
    assert!(started.iter().all(Result::is_ok), "{started:?}");
    let rows = stores[0].signing_keys().await.unwrap();
    for purpose in [KeyPurpose::Root, KeyPurpose::Issuer] {
        let active: Vec<_> = rows
            .iter()
            .filter(|r| r.purpose == purpose && r.status == KeyStatus::Active)
            .collect();
        assert_eq!(active.len(), 1, "{purpose:?}: {rows:?}");
    }
    let (_, bundle) = stores[0].latest_keyring_bundle().await.unwrap().unwrap();
    let root = keys::root_public_key(&stores[0]).await.unwrap();
    let root = ed25519_dalek::VerifyingKey::from_bytes(&root).unwrap();
    let keyring = shuipiao_shared::keyring::Keyring::open(&bundle, &root).unwrap();
    let issuer = rows
        .iter()
        .find(|r| r.purpose == KeyPurpose::Issuer && r.status == KeyStatus::Active)
        .unwrap();
    assert!(keyring.keys.iter().any(|k| k.kid.0 == issuer.kid));
}

async fn key_rotation_and_compromise(db: TestDb) {
    let store = support::open(&db).await;
    keys::ensure(&store, &master(), NOW).await.unwrap();
    keys::ensure(&store, &master(), NOW).await.unwrap();
    assert_eq!(
        store.signing_keys().await.unwrap().len(),
        2,
        "ensure is idempotent"
    );
    let cat = catalogue(&store, 5).await;
    let account = customer_account(&store, "李娜家").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: cat.package_id,
        quantity: 2,
        allocations: vec![],
    };
    let books = issuance::issue_order(&store, &master(), &order, None, NOW)
        .await
        .unwrap()
        .books;
    let old_kid = books[0].kid_hex.clone();

    let rotated = keys::rotate_issuer(&store, &master(), None, NOW + 1)
        .await
        .unwrap();
    let rows = store.signing_keys().await.unwrap();
    let old = rows
        .iter()
        .find(|r| shuipiao_shared::keyring::Kid(r.kid).to_string() == old_kid)
        .unwrap();
    assert_eq!(old.status, KeyStatus::Retired);
    let root = keys::root_public_key(&store).await.unwrap();
    let (version, bundle) = store.latest_keyring_bundle().await.unwrap().unwrap();
    let keyring = shuipiao_shared::keyring::Keyring::open(
        &bundle,
        &ed25519_dalek::VerifyingKey::from_bytes(&root).unwrap(),
    )
    .unwrap();
    assert_eq!(keyring.version, version);
    assert_eq!(keyring.keys.len(), 2);

    let wrong_master = shuipiao_server::config::MasterKey::from_bytes([1; 32]);
    assert!(
        keys::active(&store, &wrong_master, KeyPurpose::Issuer)
            .await
            .is_err(),
        "a wrong master key cannot unseal"
    );

    keys::mark_compromised(&store, &master(), old.kid, (NOW + 2) as u32, None, NOW + 2)
        .await
        .unwrap();
    let reissued = issuance::reissue_compromised(&store, &master(), old.kid, None, NOW + 3)
        .await
        .unwrap();
    assert_eq!(reissued.len(), 2);
    for book in &reissued {
        assert_eq!(
            book.issued.kid_hex,
            shuipiao_shared::keyring::Kid(rotated.kid).to_string()
        );
    }
    assert!(store.live_books_of_key(old.kid).await.unwrap().is_empty());
    let (_, bundle) = store.latest_keyring_bundle().await.unwrap().unwrap();
    let keyring = shuipiao_shared::keyring::Keyring::open(
        &bundle,
        &ed25519_dalek::VerifyingKey::from_bytes(&root).unwrap(),
    )
    .unwrap();
    let compromised = keyring.key(shuipiao_shared::keyring::Kid(old.kid)).unwrap();
    assert_eq!(compromised.compromised_since(), Some((NOW + 2) as u32));
}

async fn status_sequence_is_commit_ordered_under_concurrency(db: TestDb) {
    let store = support::open(&db).await;
    keys::ensure(&store, &master(), NOW).await.unwrap();
    let cat = catalogue(&store, 1).await;
    let account = customer_account(&store, "刘洋家").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: cat.package_id,
        quantity: 24,
        allocations: vec![],
    };
    let books = issuance::issue_order(&store, &master(), &order, None, NOW)
        .await
        .unwrap()
        .books;
    let mut tasks = Vec::new();
    for book in books.clone() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .revoke_book(book.id, "test", NOW, &audit("book.revoke"))
                .await
                .unwrap();
        }));
    }
    // Pull while the writers commit: every page must continue exactly where the last ended.
    let mut cursor = 0;
    let mut seen = Vec::new();
    for _ in 0..200 {
        let rows = store.pull_statuses(cursor, 5).await.unwrap();
        for row in &rows {
            assert!(row.seq > cursor, "rows come after the cursor");
            cursor = row.seq;
            seen.push(row.book_id);
        }
        if seen.len() == books.len() {
            break;
        }
        tokio::task::yield_now().await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rest = store.pull_statuses(cursor, 100).await.unwrap();
    seen.extend(rest.iter().map(|r| r.book_id));
    seen.sort();
    let mut expected: Vec<_> = books.iter().map(|b| b.id).collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "no status row is skipped by a cursor, none is seen twice"
    );
}

async fn admin_actions_are_audited(db: TestDb) {
    let store = support::open(&db).await;
    catalogue(&store, 4).await;
    let log = store.audit_log(10).await.unwrap();
    let actions: Vec<_> = log.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "package.create",
            "scope.create",
            "outlet.create",
            "region.create",
            "product.create"
        ]
    );
}
