//! The holder-bound rotating QR (v2 credential) over real HTTP: a book of an opt-in package is
//! bound to the browser's key by a reissue with lineage, only its holder may bind it, and the
//! QR endpoint draws a code only for a current proof by that key. v1 books are untouched.

use axum::http::StatusCode;
use ed25519_dalek::SigningKey;
use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::store::models::{NewBook, NewPackage, Role};
use shuipiao_shared::holder::{SignedHolderCredential, window_at};
use shuipiao_shared::ids::{BookId, ProductCode, ScopeId};
use shuipiao_shared::status::BookState;
use shuipiao_test_support::hex::hex;

use super::Browser;
use crate::support::{self, NOW, TestServer, audit};

/// The customer `li` with one book of a holder-bound package and one of a static package.
pub(super) struct HolderFixture {
    pub bound_package_book: NewBook,
    pub static_book: NewBook,
}

pub(super) async fn holder_fixture(server: &TestServer) -> HolderFixture {
    let store = &server.store;
    let plain = support::catalogue(store, 4).await;
    let package = store
        .create_package(
            &NewPackage {
                name: "防截图月套餐".into(),
                price_fen: 6000,
                paid_units: 4,
                bonus_units: 0,
                validity_days: 31,
                product: ProductCode(189),
                scope: ScopeId::ANYWHERE,
                holder_bound: true,
            },
            NOW,
            &audit("package.create"),
        )
        .await
        .unwrap();
    assert!(store.package(package.id).await.unwrap().spec.holder_bound);
    let account = support::customer_account(store, "李娜家").await;
    server.user("li", Role::Customer, Some(account.id)).await;
    let now = shuipiao_server::unix_now();
    let issue = async |package_id| {
        let order = IssueOrder {
            account_id: account.id,
            package_id,
            quantity: 1,
            allocations: Vec::new(),
        };
        issuance::issue_order(store, &support::master(), &order, None, now)
            .await
            .unwrap()
            .books
            .remove(0)
    };
    HolderFixture {
        bound_package_book: issue(package.id).await,
        static_book: issue(plain.package_id).await,
    }
}

#[tokio::test]
async fn a_holder_binds_a_book_and_only_a_current_proof_draws_its_code() {
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = holder_fixture(&server).await;
    let old = fixture.bound_package_book.id;
    let holder = SigningKey::from_bytes(&[0x48; 32]);
    let public_key = hex(holder.verifying_key().as_bytes());

    // A stranger cannot bind or even see the book.
    let stranger_account = support::customer_account(&server.store, "路人").await;
    server
        .user("stranger", Role::Customer, Some(stranger_account.id))
        .await;
    let mut stranger = Browser::new(&server);
    stranger.sign_in("stranger").await;
    stranger.get("/wallet").await;
    let csrf = stranger.csrf();
    let refused = stranger
        .post_form(
            &format!("/wallet/books/{}/holder-key", old.0),
            &[("csrf", &csrf), ("public_key", &public_key)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let mut browser = Browser::new(&server);
    browser.sign_in("li").await;
    let page = browser.get(&format!("/wallet/books/{}", old.0)).await;
    assert!(page.text.contains(r#"data-mode="bind""#), "{}", page.text);
    assert!(page.text.contains("/static/holder.js"));
    assert!(
        !page.text.contains("<svg"),
        "no static code for a holder-bound book"
    );
    let printed = browser.get(&format!("/wallet/books/{}/print", old.0)).await;
    assert!(printed.text.contains("不能打印"));
    let csrf = browser.csrf();
    let bind_path = format!("/wallet/books/{}/holder-key", old.0);

    // Bad input changes nothing.
    let no_token = browser
        .post_form(&bind_path, &[("public_key", &public_key)])
        .await;
    assert_eq!(no_token.status, StatusCode::FORBIDDEN);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for bad in ["", "abc", &hex(&identity)] {
        let response = browser
            .post_form(&bind_path, &[("csrf", &csrf), ("public_key", bad)])
            .await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "key {bad:?}");
    }
    let static_bind = browser
        .post_form(
            &format!("/wallet/books/{}/holder-key", fixture.static_book.id.0),
            &[("csrf", &csrf), ("public_key", &public_key)],
        )
        .await;
    assert_eq!(static_bind.status, StatusCode::BAD_REQUEST);
    assert!(static_bind.text.contains("不使用动态二维码"));
    assert_eq!(
        server.store.book(old).await.unwrap().state,
        BookState::Active,
        "nothing was revoked by refused requests"
    );

    let bound = browser
        .post_form(&bind_path, &[("csrf", &csrf), ("public_key", &public_key)])
        .await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.text);
    let new_id = BookId(bound.json["book_id"].as_u64().unwrap());
    let old_book = server.store.book(old).await.unwrap();
    assert_eq!(
        old_book.state,
        BookState::Revoked,
        "the static credential dies"
    );
    let new_book = server.store.book(new_id).await.unwrap();
    assert_eq!(new_book.issued.replaces, Some(old), "lineage kept");
    assert_eq!(new_book.issued.units, old_book.issued.units);
    let credential = SignedHolderCredential::from_text(&new_book.issued.qr_text).unwrap();
    assert_eq!(
        credential.bound.holder_key,
        holder.verifying_key().to_bytes()
    );
    assert_eq!(credential.bound.credential.book_id, new_id);

    let page = browser.get(&format!("/wallet/books/{}", new_id.0)).await;
    assert!(page.text.contains(r#"data-mode="rotate""#), "{}", page.text);

    let now = shuipiao_server::unix_now();
    let window = window_at(now as u64);
    let qr = |window: u32, proof: [u8; 64]| {
        format!(
            "/wallet/books/{}/qr.svg?window={window}&proof={}",
            new_id.0,
            hex(&proof)
        )
    };
    let drawn = browser
        .get(&qr(window, credential.present(&holder, window).proof))
        .await;
    assert_eq!(drawn.status, StatusCode::OK, "{}", drawn.text);
    assert_eq!(drawn.header("content-type"), Some("image/svg+xml"));
    assert_eq!(drawn.header("cache-control"), Some("no-store"));
    assert!(drawn.text.contains("<svg"));

    let thief = SigningKey::from_bytes(&[0x66; 32]);
    let forged = browser
        .get(&qr(window, credential.present(&thief, window).proof))
        .await;
    assert_eq!(forged.status, StatusCode::BAD_REQUEST);
    let stale = window - 4;
    let old_proof = browser
        .get(&qr(stale, credential.present(&holder, stale).proof))
        .await;
    assert_eq!(old_proof.status, StatusCode::BAD_REQUEST);
    assert!(old_proof.text.contains("手机时间"));
    let garbage = browser
        .get(&format!(
            "/wallet/books/{}/qr.svg?window=x&proof=00",
            new_id.0
        ))
        .await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    let static_qr = browser
        .get(&format!(
            "/wallet/books/{}/qr.svg?window={window}&proof=00",
            fixture.static_book.id.0
        ))
        .await;
    assert_eq!(static_qr.status, StatusCode::BAD_REQUEST);

    // Binding again (a new phone) reissues once more; the first bound book dies with it.
    let again = browser
        .post_form(
            &format!("/wallet/books/{}/holder-key", new_id.0),
            &[
                ("csrf", &csrf),
                ("public_key", &hex(thief.verifying_key().as_bytes())),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(
        server.store.book(new_id).await.unwrap().state,
        BookState::Revoked
    );
}
