//! What a pushed event may carry and where it ends up, on both backends: every device flag
//! with every kind of odd event lands once in the review queue with all its reasons and never
//! stalls the device; redemptions are checked against their books' terms; numbers the store
//! cannot hold are refused by name; one damaged stored row does not take the queue down.

use axum::http::{Method, StatusCode};
use serde_json::Value;
use serde_json::json;
use shuipiao_server::store::models::{NewPackage, NewUser, Role, Scope};
use shuipiao_shared::event::{ChainTip, Event, EventBody, EventFlags, Refusal, SignedEvent};
use shuipiao_shared::ids::{BookId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::sync::{PushResponse, PushResult, PushVerdict};
use shuipiao_shared::verdict::RejectReason;
use sqlx::Connection;

use crate::support::{self, NOW, TestDb, TestDevice, TestServer, audit, on_both_backends};
use crate::web::Browser;

on_both_backends!(
    every_flag_with_every_odd_event_is_queued_once_with_all_its_reasons,
    a_refused_scan_of_no_book_by_another_courier_is_queued_and_resolved,
    redemptions_are_checked_against_their_books_terms,
    numbers_past_what_the_store_holds_are_refused_by_name,
    a_damaged_stored_row_leaves_the_review_queue_readable,
);

const PRODUCT: ProductCode = ProductCode(189);

struct Setup {
    server: TestServer,
    admin: String,
    operator: String,
    /// The catalogue's one scope (武汉市).
    scope: Scope,
}

async fn setup(db: &TestDb) -> Setup {
    let server = support::start(db).await;
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let (_, operator) = server.user("operator", Role::Operator, None).await;
    support::catalogue(&server.store, 1).await;
    let scope = server.store.scopes().await.unwrap().remove(0);
    Setup {
        server,
        admin,
        operator,
        scope,
    }
}

impl Setup {
    /// Issues `count` books of `units` for `scope` through the API; returns their ids.
    async fn books(&self, count: u32, units: u32, scope: ScopeId) -> Vec<BookId> {
        let store = &self.server.store;
        let n = store.packages().await.unwrap().len();
        let package = store
            .create_package(
                &NewPackage {
                    name: format!("套餐{n}"),
                    price_fen: 100,
                    paid_units: units,
                    bonus_units: 0,
                    validity_days: 31,
                    product: PRODUCT,
                    scope,
                    holder_bound: false,
                },
                NOW,
                &audit("package.create"),
            )
            .await
            .unwrap();
        let account = support::customer_account(store, &format!("客户{n}")).await;
        let order = self
            .server
            .call(
                Method::POST,
                "/api/v1/orders",
                Some(&self.operator),
                Some(json!({ "account_id": account.id, "package_id": package.id, "quantity": count })),
            )
            .await;
        assert_eq!(order.status, StatusCode::OK, "{:?}", order.json);
        order.json["books"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| BookId(b["id"].as_u64().unwrap()))
            .collect()
    }

    async fn revoke(&self, book: BookId) {
        let revoked = self
            .server
            .call(
                Method::POST,
                &format!("/api/v1/books/{}/revoke", book.0),
                Some(&self.operator),
                Some(json!({ "reason": "退款" })),
            )
            .await;
        assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.json);
    }

    /// The push's answer as JSON.
    async fn push_json(&self, device: &TestDevice, events: &[SignedEvent]) -> Value {
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
        response.json
    }

    async fn push(&self, device: &TestDevice, events: &[SignedEvent]) -> Vec<PushResult> {
        let response: PushResponse =
            serde_json::from_value(self.push_json(device, events).await).unwrap();
        response.results
    }

    /// The review queue as the operator reads it through the API.
    async fn review(&self, all: bool) -> Vec<Value> {
        let path = if all {
            "/api/v1/review?all=true"
        } else {
            "/api/v1/review"
        };
        let response = self
            .server
            .call(Method::GET, path, Some(&self.operator), None)
            .await;
        assert_eq!(response.status, StatusCode::OK, "{:?}", response.json);
        response.json.as_array().unwrap().clone()
    }

    /// The admin review page as the operator sees it.
    async fn review_page(&self) -> String {
        let mut browser = Browser::new(&self.server);
        browser.sign_in("operator").await;
        let page = browser.get("/admin/review").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        page.text
    }

    /// A courier in `region` with an enrolled device.
    async fn courier_in(&self, name: &str, region_id: Option<i64>) -> TestDevice {
        let store = &self.server.store;
        let courier = store
            .create_user(
                &NewUser {
                    username: name.into(),
                    password_hash: "!".into(),
                    role: Role::Courier,
                    account_id: None,
                    region_id,
                    outlet_id: None,
                },
                NOW,
                &audit("user.create"),
            )
            .await
            .unwrap();
        self.enroll(courier.id, name).await
    }

    async fn enroll(&self, user: UserId, name: &str) -> TestDevice {
        self.server.enroll_device(&self.admin, user, name).await
    }
}

/// The one item of `event` in `queue`, if any; panics if there are several.
fn item_of(queue: &[Value], event: EventId) -> Option<&Value> {
    let id = event.0.to_string();
    let mut items = queue.iter().filter(|item| item["event_id"] == id.as_str());
    let item = items.next();
    assert!(items.next().is_none(), "one item per event: {queue:#?}");
    item
}

/// Asserts the queue holds exactly one item for `event` with `reasons` and a zh-CN label for
/// each, or none when `reasons` is empty.
fn assert_queued(queue: &[Value], event: EventId, reasons: &[&str], case: &str) {
    match item_of(queue, event) {
        None => assert!(
            reasons.is_empty(),
            "{case}: not queued, expected {reasons:?}"
        ),
        Some(item) => {
            assert_eq!(item["reasons"], json!(reasons), "{case}: {item}");
            assert_eq!(item["reason"], reasons[0], "{case}: the first reason");
            let labels = item["labels"].as_array().unwrap();
            assert_eq!(labels.len(), reasons.len(), "{case}");
            assert!(
                labels.iter().all(|label| label
                    .as_str()
                    .is_some_and(|text| text != "其他" && !text.is_ascii())),
                "{case}: {labels:?}"
            );
        }
    }
}

const STALE: EventFlags = EventFlags {
    offline: true,
    stale: true,
    supervisor_override: false,
    clock_rollback: false,
};
const OVERRIDE: EventFlags = EventFlags {
    offline: true,
    stale: true,
    supervisor_override: true,
    clock_rollback: false,
};
const ROLLBACK: EventFlags = EventFlags {
    offline: false,
    stale: false,
    supervisor_override: false,
    clock_rollback: true,
};

/// What is odd about a case's event, besides its device flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Odd {
    Nothing,
    OverRedeemed,
    AfterRevocation,
    UnknownBook,
    ForeignCourier,
    InvalidVoid,
    WrongProduct,
    OutOfScope,
    NotYetValid,
    Expired,
}

const ODD: [Odd; 10] = [
    Odd::Nothing,
    Odd::OverRedeemed,
    Odd::AfterRevocation,
    Odd::UnknownBook,
    Odd::ForeignCourier,
    Odd::InvalidVoid,
    Odd::WrongProduct,
    Odd::OutOfScope,
    Odd::NotYetValid,
    Odd::Expired,
];

impl Odd {
    /// The reason the queue names, as the API spells it.
    fn reason(self) -> Option<&'static str> {
        match self {
            Odd::Nothing => None,
            Odd::OverRedeemed => Some("over_redeemed"),
            Odd::AfterRevocation => Some("after_revocation"),
            Odd::UnknownBook => Some("unknown_book"),
            Odd::ForeignCourier => Some("foreign_courier"),
            Odd::InvalidVoid => Some("invalid_void"),
            Odd::OutOfScope => Some("out_of_scope"),
            Odd::WrongProduct => Some("wrong_product"),
            Odd::NotYetValid => Some("not_yet_valid"),
            Odd::Expired => Some("expired"),
        }
    }
}

/// One pushed case: its event, its book (if the server knows it) and what it must be queued for.
struct Case {
    name: String,
    event: SignedEvent,
    book: Option<BookId>,
    reasons: Vec<&'static str>,
}

/// The design's main scenario and its relatives: each device flag (and none) × each odd thing
/// (and none). One device pushes every case, so its chain must go on after each of them; then
/// a whole recomputation of every book must keep each reason the ledger does not decide.
async fn every_flag_with_every_odd_event_is_queued_once_with_all_its_reasons(db: TestDb) {
    let s = setup(&db).await;
    let flags = [
        ("no flag", EventFlags::default()),
        ("stale", STALE),
        ("supervisor override", OVERRIDE),
        ("clock rollback", ROLLBACK),
    ];
    let cases = flags.len() * ODD.len();
    let mut plain = s.books(cases as u32, 1, ScopeId::ANYWHERE).await;
    let mut scoped = s.books(flags.len() as u32, 1, s.scope.id).await;
    let spare = s.books(1, 1_000, ScopeId::ANYWHERE).await[0];
    let mut device = s.server.device(&s.admin, "courier").await;
    let mut other = s.server.device(&s.admin, "courier2").await;
    let mut pushed: Vec<Case> = Vec::new();
    let mut unknown = 900_000_000;
    for (flag_name, flag) in flags {
        for odd in ODD {
            let name = format!("{flag_name} × {odd:?}");
            let book = match odd {
                Odd::UnknownBook => {
                    unknown += 1;
                    BookId(unknown)
                }
                Odd::OutOfScope => scoped.pop().unwrap(),
                _ => plain.pop().unwrap(),
            };
            let redemption = |product| EventBody::Redemption {
                book_id: book,
                units: 1,
                product,
            };
            let body = match odd {
                Odd::OverRedeemed => {
                    let first = device.redeem(book, 1);
                    let counted = s.push(&device, &[first]).await;
                    assert_eq!(counted[0].verdict, PushVerdict::Accepted, "{name}");
                    redemption(PRODUCT)
                }
                Odd::AfterRevocation => {
                    s.revoke(book).await;
                    redemption(PRODUCT)
                }
                Odd::InvalidVoid => {
                    let theirs = other.redeem(book, 1);
                    s.push(&other, &[theirs]).await;
                    EventBody::Void {
                        book_id: book,
                        target: theirs.event.event_id,
                    }
                }
                Odd::WrongProduct => redemption(ProductCode(999)),
                _ => redemption(PRODUCT),
            };
            let (enrolled, clock) = (device.courier, device.clock);
            match odd {
                Odd::ForeignCourier => device.courier = UserId(enrolled.0 + 1_000),
                Odd::NotYetValid => device.clock = shuipiao_server::unix_now() as u64 - 7_200,
                Odd::Expired => device.clock += 40 * 86_400,
                _ => {}
            }
            let event = device.next(body, flag);
            (device.courier, device.clock) = (enrolled, clock);
            let mut reasons: Vec<&str> = odd.reason().into_iter().collect();
            if flag.needs_review() && matches!(body, EventBody::Redemption { .. }) {
                reasons.push("flagged");
            }
            let results = s.push(&device, &[event]).await;
            let expected = if reasons.is_empty() {
                PushVerdict::Accepted
            } else {
                PushVerdict::Conflict
            };
            assert_eq!(
                (results[0].verdict, results[0].rejection),
                (expected, None),
                "{name}"
            );
            // The device's next event still lands.
            let next = device.redeem(spare, 1);
            let results = s.push(&device, &[next]).await;
            assert_eq!(
                results[0].verdict,
                PushVerdict::Accepted,
                "{name}: next push"
            );
            assert_queued(
                &s.review(false).await,
                event.event.event_id,
                &reasons,
                &name,
            );
            pushed.push(Case {
                name,
                event,
                book: (odd != Odd::UnknownBook).then_some(book),
                reasons,
            });
        }
    }
    let queue = s.review(false).await;
    for case in &pushed {
        assert_queued(&queue, case.event.event.event_id, &case.reasons, &case.name);
    }
    let page = s.review_page().await;
    for label in [
        "超额核销",
        "作废后仍被核销",
        "服务器无此票本",
        "记录的送水员与设备登记的不符",
        "撤销的不是本设备对该票本的核销",
        "核销的产品与票本不符",
        "票本不在该设备的服务区域",
        "核销时票本尚未生效",
        "核销时票本已过期",
        "设备标记:数据过旧、主管授权",
        "设备标记:时钟回拨",
    ] {
        assert!(page.contains(label), "the page shows {label}");
    }

    // The device voids each of its case redemptions of a known book: every such book is
    // recomputed whole, the ledger's reasons go (a voided redemption is neither over-redeemed
    // nor after revocation), every other reason stays.
    let voids: Vec<SignedEvent> = pushed
        .iter()
        .filter(|case| matches!(case.event.event.body, EventBody::Redemption { .. }))
        .filter_map(|case| {
            case.book.map(|book| {
                device.next(
                    EventBody::Void {
                        book_id: book,
                        target: case.event.event.event_id,
                    },
                    EventFlags::default(),
                )
            })
        })
        .collect();
    let results = s.push(&device, &voids).await;
    assert!(
        results.iter().all(|r| r.verdict == PushVerdict::Accepted),
        "{results:?}"
    );
    let queue = s.review(false).await;
    for case in &pushed {
        let voided =
            case.book.is_some() && matches!(case.event.event.body, EventBody::Redemption { .. });
        let left: Vec<&str> = case
            .reasons
            .iter()
            .copied()
            .filter(|reason| !voided || !["over_redeemed", "after_revocation"].contains(reason))
            .collect();
        let name = format!("{} after a whole recomputation", case.name);
        assert_queued(&queue, case.event.event.event_id, &left, &name);
    }
    for void in &voids {
        assert!(item_of(&queue, void.event.event_id).is_none());
    }
}

/// A refused scan of a code that named no book, recorded under another courier: the queue has
/// no book to name, and used to refuse the row on every push of the device.
async fn a_refused_scan_of_no_book_by_another_courier_is_queued_and_resolved(db: TestDb) {
    let s = setup(&db).await;
    let spare = s.books(1, 10, ScopeId::ANYWHERE).await[0];
    let mut device = s.server.device(&s.admin, "courier").await;
    let enrolled = device.courier;
    device.courier = UserId(enrolled.0 + 1_000);
    let scan = device.next(
        EventBody::ScanAttempt {
            book_id: None,
            refusal: Refusal::Rejected(RejectReason::Unreadable),
        },
        EventFlags::default(),
    );
    device.courier = enrolled;
    let results = s.push(&device, &[scan]).await;
    assert_eq!(
        (results[0].verdict, results[0].rejection),
        (PushVerdict::Conflict, None)
    );
    let next = device.redeem(spare, 1);
    assert_eq!(
        s.push(&device, &[next]).await[0].verdict,
        PushVerdict::Accepted
    );
    let queue = s.review(false).await;
    assert_queued(
        &queue,
        scan.event.event_id,
        &["foreign_courier"],
        "foreign scan",
    );
    let item = item_of(&queue, scan.event.event_id).unwrap();
    assert!(item["book_id"].is_null());
    assert!(s.review_page().await.contains("无票号"));

    let resolved = s
        .server
        .call(
            Method::POST,
            &format!("/api/v1/review/{}/resolve", scan.event.event_id.0),
            Some(&s.operator),
            Some(json!({ "action": "write_off", "note": "已联系送水员" })),
        )
        .await;
    assert_eq!(resolved.status, StatusCode::OK, "{:?}", resolved.json);
    assert!(resolved.json.is_null(), "no book, no status row");
    assert!(item_of(&s.review(false).await, scan.event.event_id).is_none());
    let all = s.review(true).await;
    let done = item_of(&all, scan.event.event_id).unwrap();
    assert_eq!(done["resolution"], "write_off");
}

/// A modified device that redeems outside a book's terms (the door's rules) has each such
/// redemption stored and counted, answered `conflict` and queued with its reason; a device of a
/// region the book's scope names is not flagged.
async fn redemptions_are_checked_against_their_books_terms(db: TestDb) {
    let s = setup(&db).await;
    let region = s.scope.region_ids[0];
    let scoped = s.books(2, 5, s.scope.id).await;
    let mut local = s.courier_in("local", Some(region)).await;
    let mut outsider = s.courier_in("outsider", None).await;

    let served = local.redeem(scoped[0], 1);
    assert_eq!(
        s.push(&local, &[served]).await[0].verdict,
        PushVerdict::Accepted,
        "a courier of a region the scope names serves it"
    );
    let drained = outsider.next(
        EventBody::Redemption {
            book_id: scoped[1],
            units: 5,
            product: ProductCode(113),
        },
        EventFlags::default(),
    );
    let results = s.push(&outsider, &[drained]).await;
    assert_eq!(
        (results[0].verdict, results[0].rejection),
        (PushVerdict::Conflict, None)
    );
    assert!(results[0].server_seq.is_some(), "stored and counted");
    assert_queued(
        &s.review(false).await,
        drained.event.event_id,
        &["out_of_scope", "wrong_product"],
        "out of scope and wrong product",
    );
    let book = s.server.store.book(scoped[1]).await.unwrap();
    assert_eq!(book.used_units, 5, "facts are never dropped");
    assert!(item_of(&s.review(false).await, served.event.event_id).is_none());
}

/// Book ids, scan times and sequence numbers past 2^63 - 1 wrapped to negative numbers in the
/// store, and such a book id then broke the review queue for good: each is refused by name and
/// nothing is stored. A refused scan of a forged code naming such an id is an honest device's
/// record: it is stored, and the device goes on.
async fn numbers_past_what_the_store_holds_are_refused_by_name(db: TestDb) {
    let s = setup(&db).await;
    let book = s.books(1, 10, ScopeId::ANYWHERE).await[0];
    let mut device = s.server.device(&s.admin, "courier").await;
    let redemption = |book_id| EventBody::Redemption {
        book_id,
        units: 1,
        product: PRODUCT,
    };
    let void = |book_id| EventBody::Void {
        book_id,
        target: EventId(uuid::Uuid::nil()),
    };
    let cases = [
        (redemption(BookId(1 << 63)), None, "book_id"),
        (redemption(BookId(u64::MAX)), None, "book_id"),
        (void(BookId(1 << 63)), None, "book_id"),
        (void(BookId(u64::MAX)), None, "book_id"),
        (redemption(book), Some(1 << 63), "scanned_at"),
        (redemption(book), Some(u64::MAX), "scanned_at"),
    ];
    let tip = device.tip;
    for (body, scanned_at, field) in cases {
        let event = match scanned_at {
            Some(at) => signed_at(&mut device, body, at),
            None => device.next(body, EventFlags::default()),
        };
        let follow = device.redeem(book, 1);
        device.tip = tip;
        let answer = s.push_json(&device, &[event, follow]).await;
        let results = &answer["results"];
        assert_eq!(results[0]["verdict"], "rejected", "{event:?}: {answer}");
        assert_eq!(
            results[0]["rejection"],
            json!({ "kind": "out_of_range", "field": field }),
            "{event:?}"
        );
        assert_eq!(
            results[1]["rejection"],
            json!({ "kind": "after_rejected" }),
            "what follows waits"
        );
    }
    let status = s
        .server
        .call(
            Method::GET,
            "/api/v1/sync/status",
            Some(&device.token),
            None,
        )
        .await;
    assert_eq!(status.json["last_device_seq"], 0, "nothing was stored");

    let forged = device.next(
        EventBody::ScanAttempt {
            book_id: Some(BookId(u64::MAX)),
            refusal: Refusal::Rejected(RejectReason::BadSignature),
        },
        EventFlags::default(),
    );
    let foreign = {
        let enrolled = device.courier;
        device.courier = UserId(enrolled.0 + 1_000);
        let scan = device.next(
            EventBody::ScanAttempt {
                book_id: Some(BookId(1 << 63)),
                refusal: Refusal::Rejected(RejectReason::UnknownKey),
            },
            EventFlags::default(),
        );
        device.courier = enrolled;
        scan
    };
    let next = device.redeem(book, 1);
    let results = s.push(&device, &[forged, foreign, next]).await;
    assert_eq!(
        results.iter().map(|r| r.verdict).collect::<Vec<_>>(),
        [
            PushVerdict::Accepted,
            PushVerdict::Conflict,
            PushVerdict::Accepted
        ]
    );
    let queue = s.review(false).await;
    assert_queued(
        &queue,
        foreign.event.event_id,
        &["foreign_courier"],
        "foreign scan of a huge id",
    );
    assert!(item_of(&queue, foreign.event.event_id).unwrap()["book_id"].is_null());
    s.review_page().await;
}

/// The device's next event, scanned at `at` (which the device's clock, kept in milliseconds in
/// event ids, could not reach).
fn signed_at(device: &mut TestDevice, body: EventBody, at: u64) -> SignedEvent {
    let signed = Event {
        event_id: EventId::v7(device.clock * 1000, shuipiao_server::random::bytes::<10>()),
        device_id: device.id,
        device_seq: device.tip.device_seq + 1,
        prev_hash: device.tip.hash,
        scanned_at: at,
        courier_id: device.courier,
        flags: EventFlags::default(),
        body,
    }
    .sign(&device.key);
    device.tip = ChainTip {
        device_seq: signed.event.device_seq,
        hash: signed.hash(),
    };
    signed
}

/// A row an older server stored with a wrapped number (a book id or scan time past 2^63 - 1)
/// is left out of the review list and logged; the list and the page still answer.
async fn a_damaged_stored_row_leaves_the_review_queue_readable(db: TestDb) {
    let s = setup(&db).await;
    let mut device = s.server.device(&s.admin, "courier").await;
    let wrapped = device.redeem(BookId(900_000_001), 1);
    let odd_time = device.redeem(BookId(900_000_002), 1);
    let sound = device.redeem(BookId(900_000_003), 1);
    let results = s.push(&device, &[wrapped, odd_time, sound]).await;
    assert!(results.iter().all(|r| r.verdict == PushVerdict::Conflict));
    let mut conn = sqlx::AnyConnection::connect(db.url.expose()).await.unwrap();
    sqlx::query("UPDATE review_queue SET book_id = -5 WHERE event_id = $1")
        .bind(wrapped.event.event_id.0.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE events SET scanned_at = -1 WHERE event_id = $1")
        .bind(odd_time.event.event_id.0.to_string())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    for all in [false, true] {
        let queue = s.review(all).await;
        assert_eq!(
            queue
                .iter()
                .map(|item| &item["event_id"])
                .collect::<Vec<_>>(),
            [&json!(sound.event.event_id.0.to_string())],
            "damaged items are left out, the rest is listed"
        );
    }
    let page = s.review_page().await;
    assert!(page.contains("票号 900000003"));
    assert!(page.contains("待处理冲突(1)"));
}
