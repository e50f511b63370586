//! Sync over HTTP on both backends: idempotency, reordering, chain gaps, forgery, conflicts and
//! the review queue, pull cursors and keyring delivery.

use axum::http::{Method, StatusCode};
use serde_json::json;
use shuipiao_server::store::models::Role;
use shuipiao_shared::event::{EventBody, EventFlags, LinkError, SignedEvent};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;
use shuipiao_shared::sync::{
    PullResponse, PushRejection, PushResponse, PushResult, PushVerdict, SyncStatusResponse,
};

use crate::support::{self, TestDb, TestDevice, TestServer, on_both_backends};

on_both_backends!(
    pushes_are_idempotent_and_pull_reflects_them,
    reordered_batches_and_gaps,
    forged_and_reused_events_are_rejected,
    offline_double_redemption_goes_to_review,
    later_redemptions_append_to_a_flagged_book,
    crossing_pushes_count_as_a_recomputation_would,
    voids_and_revocation_flow_to_devices,
    pull_pages_and_keyring_delivery,
);

struct Setup {
    server: TestServer,
    operator: String,
    admin: String,
}

async fn setup(db: &TestDb) -> Setup {
    let server = support::start(db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    Setup {
        server,
        operator,
        admin,
    }
}

impl Setup {
    /// Issues one book of `units` and returns its id.
    async fn book(&self, units: u32) -> BookId {
        let cat = support::catalogue_with(&self.server.store, units).await;
        let account =
            support::customer_account(&self.server.store, &format!("客户{}", cat.package_id)).await;
        let order = self
            .server
            .call(Method::POST, "/api/v1/orders", Some(&self.operator), Some(json!({ "account_id": account.id, "package_id": cat.package_id, "quantity": 1 })))
            .await;
        assert_eq!(order.status, StatusCode::OK, "{:?}", order.json);
        BookId(order.json["books"][0]["id"].as_u64().unwrap())
    }

    async fn push(&self, device: &TestDevice, events: &[SignedEvent]) -> Vec<PushResult> {
        let response = self
            .server
            .call(
                Method::POST,
                "/api/v1/sync/push",
                Some(&device.token),
                Some(json!({ "events": events })),
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        let response: PushResponse = serde_json::from_value(response.json).unwrap();
        assert_eq!(response.results.len(), events.len());
        response.results
    }

    async fn pull(&self, device: &TestDevice, query: &str) -> PullResponse {
        let response = self
            .server
            .call(
                Method::GET,
                &format!("/api/v1/sync/pull?{query}"),
                Some(&device.token),
                None,
            )
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        serde_json::from_value(response.json).unwrap()
    }

    /// The open review queue, as the operator sees it.
    async fn review(&self) -> Vec<serde_json::Value> {
        let response = self
            .server
            .call(Method::GET, "/api/v1/review", Some(&self.operator), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        response.json.as_array().cloned().unwrap_or_default()
    }

    async fn status_of(&self, device: &TestDevice, book: BookId) -> (u16, BookState, u64) {
        let pulled = self.pull(device, "cursor=0").await;
        let row = pulled
            .statuses
            .iter()
            .find(|r| r.book_id == book)
            .expect("book has a status row");
        (row.used_units, row.state, row.seq)
    }
}

fn verdicts(results: &[PushResult]) -> Vec<PushVerdict> {
    results.iter().map(|r| r.verdict).collect()
}

async fn pushes_are_idempotent_and_pull_reflects_them(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(10).await;
    let mut device = s.server.device(&s.admin, "courier").await;
    let events = vec![
        device.redeem(book, 1),
        device.redeem(book, 2),
        device.redeem(book, 1),
    ];
    let first = s.push(&device, &events).await;
    assert_eq!(verdicts(&first), [PushVerdict::Accepted; 3]);
    let seq = first[2].server_seq.unwrap();
    assert!(
        first.iter().all(|r| r.server_seq == Some(seq)),
        "one status change per book per push"
    );

    let retry = s.push(&device, &events).await;
    assert_eq!(
        verdicts(&retry),
        [PushVerdict::Duplicate; 3],
        "a retried batch is harmless"
    );
    assert_eq!(retry[0].server_seq, Some(seq));
    let (used, state, row_seq) = s.status_of(&device, book).await;
    assert_eq!((used, state), (4, BookState::Active));
    assert!(row_seq >= seq, "the pulled row includes the pushed events");

    let status: SyncStatusResponse = serde_json::from_value(
        s.server
            .call(
                Method::GET,
                "/api/v1/sync/status",
                Some(&device.token),
                None,
            )
            .await
            .json,
    )
    .unwrap();
    assert_eq!(status.last_device_seq, 3);
    assert_eq!(status.last_hash, events[2].hash());

    let rest = vec![device.redeem(book, 6)];
    let last = s.push(&device, &rest).await;
    assert_eq!(verdicts(&last), [PushVerdict::Accepted]);
    assert_eq!(s.status_of(&device, book).await.1, BookState::UsedUp);
}

async fn reordered_batches_and_gaps(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(10).await;
    let mut device = s.server.device(&s.admin, "courier").await;
    let events: Vec<_> = (0..4).map(|_| device.redeem(book, 1)).collect();
    let reordered = vec![events[1], events[0]];
    let results = s.push(&device, &reordered).await;
    assert_eq!(
        verdicts(&results),
        [PushVerdict::Accepted; 2],
        "a batch is checked in chain order"
    );
    assert_eq!(
        results[0].event_id, events[1].event.event_id,
        "results keep the pushed order"
    );

    let gap = s.push(&device, &[events[3]]).await;
    assert_eq!(gap[0].verdict, PushVerdict::Rejected);
    assert_eq!(
        gap[0].rejection,
        Some(PushRejection::Chain {
            link: LinkError::Gap {
                expected: 3,
                found: 4
            }
        })
    );
    assert!(gap[0].rejection.unwrap().is_retryable());

    let filled = s.push(&device, &[events[2], events[3]]).await;
    assert_eq!(
        verdicts(&filled),
        [PushVerdict::Accepted; 2],
        "once the gap is filled the rest goes in"
    );
    assert_eq!(s.status_of(&device, book).await.0, 4);
}

async fn forged_and_reused_events_are_rejected(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(10).await;
    let mut device = s.server.device(&s.admin, "courier1").await;
    let mut other = s.server.device(&s.admin, "courier2").await;

    let theirs = other.redeem(book, 1);
    let wrong_device = s.push(&device, &[theirs]).await;
    assert_eq!(
        wrong_device[0].rejection,
        Some(PushRejection::Chain {
            link: LinkError::WrongDevice
        })
    );

    let mut forged = device.redeem(book, 1);
    forged.event.body = EventBody::Redemption {
        book_id: book,
        units: 9,
        product: shuipiao_shared::ids::ProductCode(189),
    };
    let results = s.push(&device, &[forged]).await;
    assert_eq!(
        results[0].rejection,
        Some(PushRejection::Chain {
            link: LinkError::BadSignature
        })
    );

    device.tip = shuipiao_shared::event::ChainTip::GENESIS;
    device.clock += 1;
    let good = device.redeem(book, 1);
    let follow = device.redeem(book, 1);
    let accepted = s.push(&device, &[good, follow]).await;
    assert_eq!(verdicts(&accepted), [PushVerdict::Accepted; 2]);

    let mut reused = good;
    reused.event.scanned_at += 1;
    reused.signature = reused.event.sign(&device.key).signature;
    let results = s.push(&device, &[reused]).await;
    assert_eq!(
        (results[0].verdict, results[0].rejection),
        (PushVerdict::Rejected, Some(PushRejection::IdReused))
    );

    // A sound link naming a book this server never issued is stored for review, and the
    // device's chain goes on.
    let unknown = device.redeem(BookId(999_999), 1);
    let after = device.redeem(book, 1);
    let results = s.push(&device, &[unknown, after]).await;
    assert_eq!(
        (results[0].verdict, results[0].rejection),
        (PushVerdict::Conflict, None)
    );
    assert_eq!(results[1].verdict, PushVerdict::Accepted);
    assert_eq!(
        s.status_of(&device, book).await.0,
        3,
        "the redemption after the odd event counts"
    );
    let queue = s.review().await;
    let item = queue
        .iter()
        .find(|i| i["event_id"] == unknown.event.event_id.0.to_string())
        .expect("the unknown-book event is in the review queue");
    assert_eq!(item["reason"], "unknown_book");

    // So is an event naming another courier than the one the device was enrolled for: it
    // counts until an operator decides, and the chain goes on.
    let enrolled_courier = device.courier;
    device.courier = shuipiao_shared::ids::UserId(enrolled_courier.0 + 1_000);
    let foreign = device.redeem(book, 1);
    device.courier = enrolled_courier;
    let after = device.redeem(book, 1);
    let results = s.push(&device, &[foreign, after]).await;
    assert_eq!(
        verdicts(&results),
        [PushVerdict::Conflict, PushVerdict::Accepted]
    );
    assert_eq!(s.status_of(&device, book).await.0, 5);
    assert!(
        s.review()
            .await
            .iter()
            .any(|i| i["event_id"] == foreign.event.event_id.0.to_string()
                && i["reason"] == "foreign_courier")
    );

    let too_many: Vec<_> = (0..=shuipiao_shared::sync::MAX_PUSH_EVENTS)
        .map(|_| follow)
        .collect();
    let response = s
        .server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": too_many })),
        )
        .await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let unknown_field = s
        .server
        .call(
            Method::POST,
            "/api/v1/sync/push",
            Some(&device.token),
            Some(json!({ "events": [], "extra": 1 })),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
}

async fn offline_double_redemption_goes_to_review(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(1).await;
    let mut first = s.server.device(&s.admin, "courier1").await;
    let mut second = s.server.device(&s.admin, "courier2").await;
    second.clock = first.clock + 30;
    let a = first.redeem(book, 1);
    let b = second.redeem(book, 1);
    // The later scan arrives first; the ledger still counts the earlier one.
    assert_eq!(
        verdicts(&s.push(&second, &[b]).await),
        [PushVerdict::Accepted]
    );
    let results = s.push(&first, &[a]).await;
    assert_eq!(verdicts(&results), [PushVerdict::Accepted]);

    let queue = s
        .server
        .call(Method::GET, "/api/v1/review", Some(&s.operator), None)
        .await;
    let items = queue.json.as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        items[0]["event_id"],
        b.event.event_id.0.to_string(),
        "the later redemption is over-redeemed"
    );
    assert_eq!(items[0]["reason"], "over_redeemed");
    let (used, state, _) = s.status_of(&first, book).await;
    assert_eq!((used, state), (1, BookState::UsedUp));

    let path = format!("/api/v1/review/{}/resolve", b.event.event_id.0);
    let resolved = s
        .server
        .call(
            Method::POST,
            &path,
            Some(&s.operator),
            Some(json!({ "action": "write_off", "note": "送错了" })),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.json);
    assert_eq!(resolved.json["used_units"], 1);
    let open = s
        .server
        .call(Method::GET, "/api/v1/review", Some(&s.operator), None)
        .await;
    assert!(open.json.as_array().unwrap().is_empty());
    let all = s
        .server
        .call(
            Method::GET,
            "/api/v1/review?all=true",
            Some(&s.operator),
            None,
        )
        .await;
    assert_eq!(all.json[0]["resolution"], "write_off");
    let twice = s
        .server
        .call(
            Method::POST,
            &path,
            Some(&s.operator),
            Some(json!({ "action": "charge" })),
        )
        .await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    let mut third = s.server.device(&s.admin, "courier3").await;
    let flagged = third.next(
        EventBody::Redemption {
            book_id: s.book(5).await,
            units: 1,
            product: shuipiao_shared::ids::ProductCode(189),
        },
        EventFlags {
            stale: true,
            ..EventFlags::default()
        },
    );
    assert_eq!(
        verdicts(&s.push(&third, &[flagged]).await),
        [PushVerdict::Conflict],
        "stale redemptions are flagged"
    );
    let queue = s
        .server
        .call(Method::GET, "/api/v1/review", Some(&s.operator), None)
        .await;
    assert_eq!(queue.json[0]["reason"], "flagged");
}

/// Later redemptions are appended to a book's stored ledger without reloading it: the
/// earlier over-redemption's review item must survive, and a new one must be flagged.
async fn later_redemptions_append_to_a_flagged_book(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(3).await;
    let mut late = s.server.device(&s.admin, "courier1").await;
    let mut early = s.server.device(&s.admin, "courier2").await;
    let mut next = s.server.device(&s.admin, "courier3").await;
    // Every scan falls after the book's issue, which is when it becomes valid.
    late.clock += 1_200;
    early.clock = late.clock - 600;
    next.clock = late.clock + 600;
    let over = late.redeem(book, 2);
    assert_eq!(
        verdicts(&s.push(&late, &[over]).await),
        [PushVerdict::Accepted]
    );
    // An earlier scan arrives later: the book is recomputed and the first one is over-redeemed.
    let earlier = early.redeem(book, 2);
    s.push(&early, &[earlier]).await;
    let flagged = |items: &[serde_json::Value]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["event_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        flagged(&s.review().await),
        [over.event.event_id.0.to_string()]
    );

    // Appended: counted from the unit left, the review item stays.
    let last_unit = next.redeem(book, 1);
    assert_eq!(
        verdicts(&s.push(&next, &[last_unit]).await),
        [PushVerdict::Accepted]
    );
    assert_eq!(
        flagged(&s.review().await),
        [over.event.event_id.0.to_string()]
    );
    let (used, state, _) = s.status_of(&next, book).await;
    assert_eq!((used, state), (3, BookState::UsedUp));

    // Appended past the end: over-redeemed and flagged beside the first.
    let beyond = next.redeem(book, 1);
    assert_eq!(
        verdicts(&s.push(&next, &[beyond]).await),
        [PushVerdict::Conflict]
    );
    let mut open = flagged(&s.review().await);
    open.sort();
    let mut expected = vec![
        over.event.event_id.0.to_string(),
        beyond.event.event_id.0.to_string(),
    ];
    expected.sort();
    assert_eq!(open, expected);
    assert_eq!(s.status_of(&next, book).await.0, 3);
}

async fn crossing_pushes_count_as_a_recomputation_would(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(4).await;
    let mut late = s.server.device(&s.admin, "courier1").await;
    let mut early = s.server.device(&s.admin, "courier2").await;
    let mut earliest = s.server.device(&s.admin, "courier3").await;
    // Every scan falls after the book's issue, which is when it becomes valid.
    late.clock += 1_800;
    early.clock = late.clock - 600;
    earliest.clock = late.clock - 1200;
    let last = late.redeem(book, 2);
    assert_eq!(
        verdicts(&s.push(&late, &[last]).await),
        [PushVerdict::Accepted]
    );
    // Earlier, but it fits in what is left: counted, nothing else changes.
    let fits = early.redeem(book, 1);
    assert_eq!(
        verdicts(&s.push(&early, &[fits]).await),
        [PushVerdict::Accepted]
    );
    assert_eq!(s.status_of(&late, book).await.0, 3);
    assert!(s.review().await.is_empty());
    // Earlier still and past what is left: in scan order it comes first, so the latest scan is
    // the one over-redeemed.
    let first = earliest.redeem(book, 2);
    assert_eq!(
        verdicts(&s.push(&earliest, &[first]).await),
        [PushVerdict::Accepted]
    );
    let review = s.review().await;
    let flagged: Vec<&str> = review
        .iter()
        .map(|i| i["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, [last.event.event_id.0.to_string()]);
    assert_eq!(s.status_of(&late, book).await.0, 3);
}

async fn voids_and_revocation_flow_to_devices(db: TestDb) {
    let s = setup(&db).await;
    let book = s.book(3).await;
    let mut device = s.server.device(&s.admin, "courier").await;
    let mut other = s.server.device(&s.admin, "courier2").await;
    let redemption = device.redeem(book, 2);
    let void = device.next(
        EventBody::Void {
            book_id: book,
            target: redemption.event.event_id,
        },
        EventFlags::default(),
    );
    assert_eq!(
        verdicts(&s.push(&device, &[redemption, void]).await),
        [PushVerdict::Accepted; 2]
    );
    assert_eq!(
        s.status_of(&device, book).await.0,
        0,
        "a void releases the units"
    );

    let foreign_void = other.next(
        EventBody::Void {
            book_id: book,
            target: redemption.event.event_id,
        },
        EventFlags::default(),
    );
    let result = s.push(&other, &[foreign_void]).await[0];
    assert_eq!(
        (result.verdict, result.rejection),
        (PushVerdict::Conflict, None),
        "a void of another device's redemption is stored for review, not applied"
    );
    assert!(s.review().await.iter().any(|i| i["event_id"]
        == foreign_void.event.event_id.0.to_string()
        && i["reason"] == "invalid_void"));

    let revoked = s
        .server
        .call(
            Method::POST,
            &format!("/api/v1/books/{}/revoke", book.0),
            Some(&s.operator),
            Some(json!({ "reason": "退款" })),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(s.status_of(&device, book).await.1, BookState::Revoked);
    device.clock = shuipiao_server::unix_now() as u64 + 60;
    let late = device.redeem(book, 1);
    assert_eq!(
        verdicts(&s.push(&device, &[late]).await),
        [PushVerdict::Conflict],
        "after revocation: stored and flagged"
    );
    let queue = s.review().await;
    let item = queue
        .iter()
        .find(|i| i["event_id"] == late.event.event_id.0.to_string())
        .expect("the late redemption is in the review queue");
    assert_eq!(item["reason"], "after_revocation");
}

async fn pull_pages_and_keyring_delivery(db: TestDb) {
    let s = setup(&db).await;
    let mut device = s.server.device(&s.admin, "courier").await;
    let mut books = Vec::new();
    for _ in 0..3 {
        books.push(s.book(1).await);
    }
    let events: Vec<_> = books.iter().map(|b| device.redeem(*b, 1)).collect();
    s.push(&device, &events).await;

    let first = s.pull(&device, "cursor=0&limit=2").await;
    assert_eq!(first.statuses.len(), 2);
    assert!(first.has_more);
    assert!(
        first.keyring.is_some(),
        "a device with no keyring gets the bundle"
    );
    let second = s
        .pull(&device, &format!("cursor={}&limit=2", first.next_cursor))
        .await;
    assert_eq!(second.statuses.len(), 1);
    assert!(!second.has_more);
    let empty = s
        .pull(&device, &format!("cursor={}", second.next_cursor))
        .await;
    assert!(empty.statuses.is_empty());
    assert_eq!(
        empty.next_cursor, second.next_cursor,
        "an empty pull keeps the cursor"
    );

    let root = shuipiao_server::keys::root_public_key(&s.server.store)
        .await
        .unwrap();
    let keyring = shuipiao_shared::keyring::Keyring::open(
        first.keyring.as_ref().unwrap(),
        &ed25519_dalek::VerifyingKey::from_bytes(&root).unwrap(),
    )
    .unwrap();
    let current = s
        .pull(
            &device,
            &format!("cursor=0&keyring_version={}", keyring.version),
        )
        .await;
    assert!(
        current.keyring.is_none(),
        "no bundle when the device is current"
    );
    let rotated = s
        .server
        .call(Method::POST, "/api/v1/keys/rotate", Some(&s.admin), None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    let newer = s
        .pull(
            &device,
            &format!("cursor=0&keyring_version={}", keyring.version),
        )
        .await;
    let updated = keyring
        .update(
            newer.keyring.as_ref().unwrap(),
            &ed25519_dalek::VerifyingKey::from_bytes(&root).unwrap(),
        )
        .unwrap();
    assert_eq!(updated.keys.len(), 2);

    let bad_query = s
        .server
        .call(
            Method::GET,
            "/api/v1/sync/pull?cursor=abc",
            Some(&device.token),
            None,
        )
        .await;
    assert_eq!(bad_query.status, StatusCode::BAD_REQUEST);
}
