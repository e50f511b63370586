//! Scenario 4: key rotation and compromise. After a rotation, books under the retired key still
//! verify. When that key is marked compromised, a device refuses its books once the new keyring
//! arrives; the customer's wallet holds reissued books that work; and a device that redeemed an
//! old book offline after the compromise is flagged `after_revocation`. A key made by an
//! instance whose clock runs ahead never makes the books issued under it look forged.

use shuipiao_courier::clock::Clock;
use shuipiao_shared::ids::ScopeId;
use shuipiao_shared::ledger::Outcome;
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::plant::BUCKET;
use shuipiao_tests::server::master_key;
use shuipiao_tests::world::{World, accepted, rejected};

shuipiao_test_support::on_both_backends!(rotation_and_compromise, a_key_made_on_a_clock_ahead);

async fn rotation_and_compromise(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let package = plant
        .package("家庭月套餐", 10, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("key-holder").await;
    let old_key = plant.active_issuer().await;
    let old_book = plant.issue(&customer, package, 1).await[0];
    let old_qr = customer.qr_text(old_book).await;

    let mut online = world.device("courier-online").await;
    let mut offline = world.device("courier-offline").await;
    online.sync().await;
    offline.sync().await;
    let first_keyring = online.status().keyring_version;

    // Rotation: a new active key; the old one is retired and still verifies its books.
    let new_key = plant.rotate_key().await;
    assert_ne!(new_key, old_key);
    let new_book = plant.issue(&customer, package, 1).await[0];
    assert_eq!(plant.book(new_book).await.issued.kid_hex, new_key);
    let new_qr = customer.qr_text(new_book).await;
    online.sync().await;
    assert!(online.status().keyring_version > first_keyring);
    let before = accepted(
        "old book under the retired key",
        &online.scan(&old_qr, 1),
        9,
    );
    accepted("new book under the new key", &online.scan(&new_qr, 1), 9);
    online.sync().await;

    // The retired key leaks. The operator marks it compromised and reissues in one command.
    let at = online.clock.now_secs() + 1;
    let reissued = world.compromise_key_at(&old_key, at).await;
    assert_eq!(
        reissued.len(),
        1,
        "the one live book under the key: {reissued:?}"
    );
    let replacement = reissued[0];
    let replacement_book = plant.book(replacement).await;
    assert_eq!(
        (
            replacement_book.issued.replaces,
            replacement_book.issued.units,
            replacement_book.issued.kid_hex.as_str()
        ),
        (Some(old_book), 9, new_key.as_str()),
        "the replacement carries the 9 units left, under the new key: {replacement_book:#?}"
    );

    online.sync().await;
    rejected(
        "old book after the compromise",
        &online.scan(&old_qr, 1),
        RejectReason::KeyCompromised,
        "密钥已停用",
    );
    let wallet_qr = customer.qr_text(replacement).await;
    let fresh = accepted("reissued book", &online.scan(&wallet_qr, 1), 8);

    // A courier who has not synced since still trusts the old key, and delivers.
    offline
        .clock
        .set_offset_secs(online.clock.offset_secs() + 60);
    let late = accepted("offline, old keyring", &offline.scan(&old_qr, 1), 9);
    offline.sync().await;
    online.sync().await;

    let view = world.view().await;
    view.assert_holds_exactly("courier-online", online.id, &online.events());
    view.assert_holds_exactly("courier-offline", offline.id, &offline.events());
    view.assert_ledgers_consistent();
    view.assert_book(old_book, 1, BookState::Revoked);
    view.assert_book(new_book, 1, BookState::Active);
    view.assert_book(replacement, 1, BookState::Active);
    view.assert_outcome(before, Outcome::Counted, None);
    view.assert_outcome(fresh, Outcome::Counted, None);
    view.assert_outcome(late, Outcome::AfterRevocation, None);
    let open = plant.review(false).await;
    assert_eq!(
        open.iter()
            .map(|item| (item.event_id, item.reason.as_str()))
            .collect::<Vec<_>>(),
        vec![(late, "after_revocation")],
        "{open:#?}"
    );
    rejected(
        "offline device after its sync",
        &offline.scan(&old_qr, 1),
        RejectReason::KeyCompromised,
        "密钥已停用",
    );
}

/// Another instance behind the load balancer, its clock two minutes ahead, rotates the issuer
/// key; this one issues a book under it at once. Its window may not start before the key's (a
/// device would call it forged): the customer waits until the key's window opens.
async fn a_key_made_on_a_clock_ahead(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let package = plant
        .package("家庭月套餐", 10, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let customer = plant.customer("early-buyer").await;
    let mut phone = world.device("courier-early").await;

    // What `shuipiao-server rotate-keys` does on the instance whose clock runs ahead.
    let ahead = shuipiao_server::unix_now() + 120;
    shuipiao_server::keys::rotate_issuer(&world.server.store, &master_key(), None, ahead)
        .await
        .expect("rotate the issuer key");
    let book = plant.issue(&customer, package, 1).await[0];
    let qr = customer.qr_text(book).await;
    phone.sync().await;

    rejected(
        "before the new key's window opens",
        &phone.scan(&qr, 1),
        RejectReason::NotYetValid,
        "未生效",
    );
    phone.clock.advance_secs(120);
    accepted("once the new key's window is open", &phone.scan(&qr, 1), 9);
}
