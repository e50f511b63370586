//! CSRF tokens over real HTTP: a signed-in form's token belongs to its session, so a token
//! planted in a cookie, copied from another session or kept from before sign-in is refused.

use axum::http::StatusCode;

use super::{Browser, wallet_fixture};
use crate::support::{self, TestDb};

/// Whether the browser is still signed in (its wallet opens).
async fn signed_in(browser: &mut Browser<'_>) -> bool {
    browser.get("/wallet").await.status == StatusCode::OK
}

async fn a_form_token_works_only_in_its_own_session(db: TestDb) {
    let server = support::start(&db).await;
    wallet_fixture(&server).await;

    let mut zhang = Browser::new(&server);
    zhang.get("/login").await;
    let before_sign_in = zhang.csrf();
    zhang.sign_in("zhang").await;
    let zhangs = zhang.csrf();
    assert_ne!(
        zhangs, before_sign_in,
        "signing in gives the forms a new token"
    );

    let mut wang = Browser::new(&server);
    wang.sign_in("wang").await;
    let wangs = wang.csrf();
    assert_ne!(wangs, zhangs);

    // Another session's token, the one from before signing in, and a token the attacker
    // planted in the cookie (from a sibling subdomain or a plain-HTTP hop) and submits too.
    let refused = wang.post_form("/logout", &[("csrf", &zhangs)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let stale = zhang
        .post_form("/logout", &[("csrf", &before_sign_in)])
        .await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN, "{}", stale.text);
    let mut planted = wang.jar.clone();
    planted.set("sp_csrf", "PLANTEDBYATTACKER");
    let saved = std::mem::replace(&mut wang.jar, planted);
    let forged = wang
        .post_form("/logout", &[("csrf", "PLANTEDBYATTACKER")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    wang.jar = saved;
    assert!(signed_in(&mut zhang).await && signed_in(&mut wang).await);

    // The page's own token works, and the next session gets another one.
    let out = zhang.post_form("/logout", &[("csrf", &zhangs)]).await;
    assert_eq!(out.header("location"), Some("/login"));
    assert!(!signed_in(&mut zhang).await);
    zhang.sign_in("zhang").await;
    assert_ne!(zhang.csrf(), zhangs, "a new session, a new token");
    let old = zhang.post_form("/logout", &[("csrf", &zhangs)]).await;
    assert_eq!(old.status, StatusCode::FORBIDDEN);
    let wangs_own = wang.post_form("/logout", &[("csrf", &wangs)]).await;
    assert_eq!(wangs_own.header("location"), Some("/login"));
}

support::on_both_backends!(a_form_token_works_only_in_its_own_session);
