//! CSRF protection for forms.
//!
//! **Signed in**, a form's token is derived from the session cookie (a domain-separated SHA-256
//! of its value), so it belongs to that session: a token copied from another session, kept from
//! before signing in, or planted together with a cookie (from a sibling subdomain, or over plain
//! HTTP) does not pass, and every new session gets a new one. The cookie's secret half is what
//! makes the token unguessable, so no server key is involved: only the browser holding the
//! cookie, and the pages the server renders for it, know the token.
//!
//! **Before signing in** (the sign-in, registration and password-reset forms) there is no
//! session: a random token lives in an HttpOnly, `SameSite=Strict` cookie and in a hidden field
//! of each form, and a POST passes only when the two match (double submit). Another site can
//! make a browser send the cookie but cannot read it to fill the field. Under HTTPS both cookies
//! are `__Host-` cookies, which no other host can set (see `http::serve_routes`).

use axum::http::HeaderMap;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::http::auth::{CSRF_COOKIE, SESSION_COOKIE};
use crate::random;

/// A form that carries only its CSRF token: a button that acts on the path it posts to.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    /// The hidden `csrf` field.
    #[serde(default)]
    pub csrf: String,
}

/// The token a page embeds in its forms, and the `Set-Cookie` value when the browser had none.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    /// Value for the hidden `csrf` field.
    pub value: String,
    /// Set when a new token was made.
    pub set_cookie: Option<String>,
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    crate::http::auth::cookie(headers, CSRF_COOKIE)
}

/// The token of a session's forms.
fn session_token(session_cookie: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"shuipiao csrf v1\0")
        .chain_update(session_cookie.as_bytes())
        .finalize();
    data_encoding::BASE32_NOPAD.encode(&digest[..20])
}

/// The token the forms of this request's page carry: the session's, or before signing in the
/// browser's cookie token (a fresh one to set when it has none).
pub fn token(headers: &HeaderMap) -> CsrfToken {
    if let Some(session) = crate::http::auth::cookie(headers, SESSION_COOKIE) {
        return CsrfToken {
            value: session_token(session),
            set_cookie: None,
        };
    }
    match cookie_value(headers) {
        Some(value) => CsrfToken {
            value: value.to_string(),
            set_cookie: None,
        },
        None => {
            let value = data_encoding::BASE32_NOPAD.encode(&random::bytes::<20>());
            let set_cookie = format!("{CSRF_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/");
            CsrfToken {
                value,
                set_cookie: Some(set_cookie),
            }
        }
    }
}

/// Whether a submitted form's token is the one [`token`] gives this request (constant time).
pub fn verify(headers: &HeaderMap, submitted: &str) -> bool {
    let expected = match crate::http::auth::cookie(headers, SESSION_COOKIE) {
        Some(session) => Some(session_token(session)),
        None => cookie_value(headers).map(str::to_string),
    };
    expected.is_some_and(|expected| {
        !submitted.is_empty() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use axum::http::header::COOKIE;

    fn with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        headers
    }

    #[test]
    fn before_sign_in_only_the_cookie_value_passes() {
        let headers = with_cookie("sp_csrf=ABC123");
        assert!(verify(&headers, "ABC123"));
        assert!(!verify(&headers, "ABC124"));
        assert!(!verify(&headers, ""));
        assert!(!verify(&HeaderMap::new(), "ABC123"), "no cookie, no pass");
        assert!(!verify(&with_cookie("sp_csrf="), ""));
    }

    #[test]
    fn signed_in_only_the_session_token_passes() {
        let headers = with_cookie("sp_session=s1.SECRET; sp_csrf=ABC123");
        let own = token(&headers);
        assert!(
            own.set_cookie.is_none(),
            "nothing to set: the session is the key"
        );
        assert_eq!(own.value.len(), 32);
        assert!(verify(&headers, &own.value));
        assert!(
            !verify(&headers, "ABC123"),
            "the cookie token is for signing in only"
        );
        let other = token(&with_cookie("sp_session=s1.SECRET2"));
        assert_ne!(other.value, own.value);
        assert!(!verify(&headers, &other.value));
        assert_eq!(token(&with_cookie("sp_session=s1.SECRET")).value, own.value);
    }

    #[test]
    fn a_browser_without_a_token_gets_one() {
        let fresh = token(&HeaderMap::new());
        assert_eq!(fresh.value.len(), 32);
        assert!(fresh.set_cookie.unwrap().contains("SameSite=Strict"));
        let kept = token(&with_cookie("sp_csrf=KEEP"));
        assert_eq!(kept.value, "KEEP");
        assert!(kept.set_cookie.is_none());
    }
}
