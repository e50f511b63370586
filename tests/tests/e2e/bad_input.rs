//! Scenario 7: bad input end to end. A forged signature, edited units, another plant's key, an
//! expired book, a book for another region, the wrong product and scanner garbage are each
//! refused on the device with the right zh-CN reason; the refusals reach the server as scan
//! attempts, and no redemption enters any ledger.

use ed25519_dalek::SigningKey;
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::event::{EventBody, Refusal};
use shuipiao_shared::ids::{BookId, EventId, ScopeId};
use shuipiao_shared::keyring::Kid;
use shuipiao_shared::status::BookState;
use shuipiao_shared::verdict::RejectReason;
use shuipiao_test_support::TestDb;
use shuipiao_tests::plant::{BUCKET, SMALL_BOTTLE};
use shuipiao_tests::world::{World, rejected};

shuipiao_test_support::on_both_backends!(bad_input);

fn parse(text: &str) -> SignedCredential {
    SignedCredential::from_qr_text(text).expect("the wallet's QR text parses")
}

async fn bad_input(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let home = plant
        .package("家庭月套餐", 10, BUCKET, ScopeId::ANYWHERE, 31)
        .await;
    let far = plant
        .package("宜昌专享套餐", 10, BUCKET, plant.far_scope, 31)
        .await;
    let short = plant
        .package("体验装", 5, BUCKET, ScopeId::ANYWHERE, 1)
        .await;
    let customer = plant.customer("tester").await;
    let genuine_book = plant.issue(&customer, home, 1).await[0];
    let far_book = plant.issue(&customer, far, 1).await[0];
    let short_book = plant.issue(&customer, short, 1).await[0];
    let genuine = customer.qr_text(genuine_book).await;
    let far_qr = customer.qr_text(far_book).await;
    let short_qr = customer.qr_text(short_book).await;

    let mut forged = parse(&genuine);
    forged.signature[10] ^= 0x40;
    let mut edited = parse(&genuine);
    edited.credential.units = 999;
    let other_plant = SigningKey::from_bytes(&[0x77; 32]);
    let foreign = Credential {
        kid: Kid::of(&other_plant.verifying_key()),
        ..parse(&genuine).credential
    }
    .sign(&other_plant);
    let truncated = &genuine[..genuine.len() - 10];

    let mut device = world.device("courier-careful").await;
    device.sync().await;

    let mut refusals: Vec<(&str, EventId, Option<BookId>, RejectReason)> = Vec::new();
    let mut expect = |device: &mut shuipiao_tests::device::Device,
                      what: &'static str,
                      text: &str,
                      product,
                      reason: RejectReason,
                      message: &str,
                      book: Option<BookId>| {
        let outcome = device.scan_for(text, product, 1);
        let id = rejected(what, &outcome, reason, message);
        assert_eq!(outcome.book_id, book, "{what}: {outcome:#?}");
        refusals.push((what, id, book, reason));
    };
    expect(
        &mut device,
        "forged signature",
        &forged.to_qr_text(),
        BUCKET,
        RejectReason::BadSignature,
        "签名无效",
        Some(genuine_book),
    );
    expect(
        &mut device,
        "edited units",
        &edited.to_qr_text(),
        BUCKET,
        RejectReason::BadSignature,
        "签名无效",
        Some(genuine_book),
    );
    expect(
        &mut device,
        "another plant's key",
        &foreign.to_qr_text(),
        BUCKET,
        RejectReason::UnknownKey,
        "未知密钥",
        Some(genuine_book),
    );
    expect(
        &mut device,
        "wrong region",
        &far_qr,
        BUCKET,
        RejectReason::OutOfScope,
        "不在服务区域",
        Some(far_book),
    );
    expect(
        &mut device,
        "wrong product",
        &genuine,
        SMALL_BOTTLE,
        RejectReason::WrongProduct,
        "产品不符",
        Some(genuine_book),
    );
    for (what, garbage) in [
        ("scanner garbage: words", "hello 水票"),
        ("scanner garbage: prefix only", "SP1"),
        ("scanner garbage: truncated code", truncated),
        ("scanner garbage: a URL", "https://example.com/?q=SP1"),
        ("scanner garbage: control bytes", "\u{1b}[A\u{0}\u{7f}"),
        ("scanner garbage: very long", &"SP1A".repeat(300)),
    ] {
        expect(
            &mut device,
            what,
            garbage,
            BUCKET,
            RejectReason::Unreadable,
            "无法识别",
            None,
        );
    }
    // Two days later the one-day trial book has expired.
    device.clock.advance_secs(2 * 86_400);
    expect(
        &mut device,
        "expired",
        &short_qr,
        BUCKET,
        RejectReason::Expired,
        "已过期",
        Some(short_book),
    );

    device.sync().await;
    let view = world.view().await;
    view.assert_holds_exactly("courier-careful", device.id, &device.events());
    view.assert_ledgers_consistent();
    for book in [genuine_book, far_book, short_book] {
        view.assert_book(book, 0, BookState::Active);
        assert!(
            view.ledger(book).redemptions.is_empty(),
            "book {book}: a refused scan entered the ledger: {:?}",
            view.ledger(book)
        );
    }
    for (what, id, book, reason) in &refusals {
        let stored = view
            .events
            .get(id)
            .unwrap_or_else(|| panic!("{what}: scan attempt {id} was not uploaded"));
        assert_eq!(
            stored.event.body,
            EventBody::ScanAttempt {
                book_id: *book,
                refusal: Refusal::Rejected(*reason)
            },
            "{what}: stored as something else"
        );
    }
    let redemptions = view
        .events
        .values()
        .filter(|e| matches!(e.event.body, EventBody::Redemption { .. }))
        .count();
    assert_eq!(redemptions, 0, "no bad input may become a redemption");
    assert!(plant.review(true).await.is_empty(), "nothing to review");
}
