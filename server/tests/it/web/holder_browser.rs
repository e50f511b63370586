//! The rotating QR in a real headless Chromium: the wallet page makes a non-extractable Ed25519
//! key with WebCrypto, binds the book to it, signs the current 30 s window and shows the code.
//! The screenshot decodes to a v2 code that the door decision accepts now and refuses when the
//! same picture is shown 91 s later.

use std::num::NonZeroU16;
use std::time::Duration;

use fantoccini::Locator;
use shuipiao_server::store::models::KeyPurpose;
use shuipiao_shared::holder::{self, Presented, SignedHolderCredential};
use shuipiao_shared::ids::BookId;
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring};
use shuipiao_shared::verdict::{
    self, BookView, DoorContext, FreshnessPolicy, RejectReason, StatusView, Verdict,
};

use super::browser::{browser, decode_qr, driver, sign_in, snap};
use super::holder_qr::holder_fixture;
use crate::support;

/// A device that has never seen the book used.
struct Unused;

impl StatusView for Unused {
    fn book(&self, _: BookId) -> BookView {
        BookView::default()
    }
    fn stale_units_total(&self) -> u32 {
        0
    }
}

#[tokio::test]
async fn the_wallet_shows_a_rotating_code_that_a_screenshot_cannot_replay() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = holder_fixture(&server).await;
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    sign_in(&client, &base, "li").await;

    let old = fixture.bound_package_book.id;
    client
        .goto(&format!("{base}/wallet/books/{}", old.0))
        .await
        .unwrap();
    // The page binds a fresh key and moves to the book that replaced the static one.
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(
            r#"#rotating-qr[data-mode="rotate"] img:not([hidden])"#,
        ))
        .await
        .expect("the rotating code is shown");
    let path = client.current_url().await.unwrap().path().to_string();
    let new_id: u64 = path
        .trim_start_matches("/wallet/books/")
        .parse()
        .expect("on a book page");
    assert_ne!(new_id, old.0, "bound under a new book number");
    let shown_at = shuipiao_server::unix_now() as u64;
    let png = snap(&client, "10-rotating").await;
    let texts = decode_qr(&png);
    assert_eq!(texts.len(), 1, "one code on the screen");
    let Ok(Presented::Rotating(code)) = Presented::from_qr_text(&texts[0]) else {
        panic!("a rotating code: {}", texts[0]);
    };
    assert_eq!(code.signed.bound.credential.book_id, BookId(new_id));
    assert!(holder::window_at(shown_at).abs_diff(code.window) <= 1);

    // The server stored the credential bound to the browser's key, and only that key signed.
    let stored = server.store.book(BookId(new_id)).await.unwrap();
    assert_eq!(
        SignedHolderCredential::from_text(&stored.issued.qr_text),
        Ok(code.signed)
    );
    assert_eq!(code.verify_proof(), Ok(()));

    let keyring = Keyring {
        version: 1,
        issued_at: shown_at,
        keys: server
            .store
            .signing_keys()
            .await
            .unwrap()
            .into_iter()
            .filter(|k| k.purpose == KeyPurpose::Issuer)
            .map(|k| {
                let key = ed25519_dalek::VerifyingKey::from_bytes(&k.public_key).unwrap();
                IssuerKey::new(key, k.not_before, k.not_after, KeyState::Active)
            })
            .collect(),
    };
    let decide_at = |now: u64| {
        let ctx = DoorContext {
            now,
            scopes: &[],
            product: stored.issued.product,
            quantity: NonZeroU16::MIN,
            data_age: Some(60),
            policy: FreshnessPolicy::default(),
            supervisor_override: false,
            clock_rollback: false,
            offline: true,
        };
        verdict::decide(&texts[0], &keyring, &Unused, &ctx)
    };
    assert!(
        matches!(decide_at(shown_at), Verdict::Accept { remaining: 3, .. }),
        "accepted at the door: {:?}",
        decide_at(shown_at)
    );
    assert!(
        matches!(
            decide_at(shown_at + 91),
            Verdict::Reject {
                reason: RejectReason::HolderProofExpired,
                ..
            }
        ),
        "the screenshot 91 s later is refused"
    );
    client.close().await.unwrap();
}
