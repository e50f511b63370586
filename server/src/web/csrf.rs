//! CSRF protection for forms by double submit: a random token lives in an HttpOnly,
//! `SameSite=Strict` cookie and in a hidden field of each form; a POST is accepted only when the
//! two match. Another site can make a browser send the cookie but cannot read it to fill the field.

use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::random;

/// Name of the CSRF cookie.
pub const CSRF_COOKIE: &str = "sp_csrf";

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

/// The browser's token, or a fresh one to set.
pub fn token(headers: &HeaderMap) -> CsrfToken {
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

/// Whether a submitted form's token matches the cookie (constant time).
pub fn verify(headers: &HeaderMap, submitted: &str) -> bool {
    cookie_value(headers).is_some_and(|cookie| {
        !submitted.is_empty() && bool::from(cookie.as_bytes().ct_eq(submitted.as_bytes()))
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
    fn only_the_cookie_value_passes() {
        let headers = with_cookie("sp_session=x.y; sp_csrf=ABC123");
        assert!(verify(&headers, "ABC123"));
        assert!(!verify(&headers, "ABC124"));
        assert!(!verify(&headers, ""));
        assert!(!verify(&HeaderMap::new(), "ABC123"), "no cookie, no pass");
        assert!(!verify(&with_cookie("sp_csrf="), ""));
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
