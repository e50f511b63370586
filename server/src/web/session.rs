//! Signing in and out in the browser, and the front door that sends each role to its pages.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::session;
use crate::auth::sign_in::{self, PasswordError};
use crate::http::auth::{cleared_session_cookie, session_cookie, session_token, user_of};
use crate::http::rate_limit::ClientIp;
use crate::http::{AppState, Surface};
use crate::store::models::{Role, User};
use crate::web::csrf::{self, CsrfToken};
use crate::web::{PageError, render};

/// Where a signed-in user starts.
fn start_page(role: Role) -> &'static str {
    match role {
        Role::Customer | Role::EnterpriseAdmin => "/wallet",
        Role::Statistician | Role::Operator | Role::Admin => "/admin",
        Role::Dispatcher => "/admin/dispatch",
        _ => "/login?signed_in=1",
    }
}

/// Longest `next` followed; the pages' own links are far shorter.
const MAX_NEXT: usize = 2048;

/// Where to go after signing in, if `next` is a clean path of this site: one leading `/` but
/// not `//` (another host), only visible ASCII and no `\`. Browsers drop tabs and line breaks
/// from a URL and read `\` as `/`, so `/<TAB>/evil.example` or `/\evil.example` would leave the
/// site, and a line break cannot go into a `Location` header at all. Anything else gets `None`,
/// and the caller falls back to the role's start page.
fn safe_next(next: Option<&str>) -> Option<&str> {
    next.filter(|next| {
        let bytes = next.as_bytes();
        bytes.first() == Some(&b'/')
            && bytes.get(1) != Some(&b'/')
            && bytes.len() <= MAX_NEXT
            && bytes.iter().all(|&b| b.is_ascii_graphic() && b != b'\\')
    })
}

/// Opens a session for `user` (`auth::session::open`) and returns the `Set-Cookie` value that
/// carries it to the browser.
pub(super) async fn open_session(
    state: &AppState,
    user: &User,
    now: i64,
) -> Result<String, PageError> {
    let ttl = state.config.session_ttl_secs;
    let session = session::open(&state.store, user, ttl, now).await?;
    Ok(session_cookie(&session.token, ttl))
}

/// `GET /`: the wallet for holders, else the sign-in page.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Redirect {
    match user_of(&state, &headers, Surface::Page, crate::unix_now()).await {
        Ok(user) => Redirect::to(start_page(user.spec.role)),
        Err(_) => Redirect::to("/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    signed_in_as: Option<String>,
}

/// Query of the sign-in page.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn login_page(token: &CsrfToken, page: &LoginPage<'_>, status: axum::http::StatusCode) -> Response {
    let cookies: Vec<(axum::http::HeaderName, String)> = token
        .set_cookie
        .iter()
        .map(|cookie| (SET_COOKIE, cookie.clone()))
        .collect();
    (status, AppendHeaders(cookies), render(page)).into_response()
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let token = csrf::token(&headers);
    let signed_in_as = user_of(&state, &headers, Surface::Page, crate::unix_now())
        .await
        .ok()
        .map(|user| format!("{}({})", user.spec.username, user.spec.role.label()));
    let page = LoginPage {
        csrf: &token.value,
        next: safe_next(query.next.as_deref()).unwrap_or(""),
        username: "",
        error: None,
        signed_in_as,
    };
    login_page(&token, &page, axum::http::StatusCode::OK)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`: checks the password, opens a session, goes on to `next` or the start page.
/// Too many attempts get the 429 message page.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let token = csrf::token(&headers);
    let refuse = |message: &'static str| {
        let page = LoginPage {
            csrf: &token.value,
            next: safe_next(Some(&form.next)).unwrap_or(""),
            username: &form.username,
            error: Some(message),
            signed_in_as: None,
        };
        login_page(&token, &page, axum::http::StatusCode::UNAUTHORIZED)
    };
    if !csrf::verify(&headers, &form.csrf) {
        return Ok(refuse("页面已过期,请重新提交"));
    }
    let now = crate::unix_now();
    let checked = sign_in::check_password(
        &state.store,
        &state.master,
        &state.limits,
        client,
        &form.username,
        form.password.clone(),
        now,
    )
    .await;
    let user = match checked {
        Ok(user) => user,
        Err(PasswordError::Wrong) => return Ok(refuse("账号或密码错误")),
        Err(err) => return Err(crate::http::error::ApiError::from(err).into()),
    };
    let cookie = open_session(&state, &user, now).await?;
    let target = safe_next(Some(&form.next)).unwrap_or(start_page(user.spec.role));
    Ok((AppendHeaders([(SET_COOKIE, cookie)]), Redirect::to(target)).into_response())
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    if !csrf::verify(&headers, &form.csrf) {
        return Err(crate::http::error::ApiError::forbidden().into());
    }
    if let Some(token) = session_token(&headers, Surface::Page) {
        session::end(&state.store, token).await?;
    }
    Ok((
        AppendHeaders([(SET_COOKIE, cleared_session_cookie())]),
        Redirect::to("/login"),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    const SITE: &str = "https://plant.example/login";

    /// Where a browser goes when this site redirects to `location`.
    fn followed(location: &str) -> Option<url::Url> {
        url::Url::parse(SITE).ok()?.join(location).ok()
    }

    #[test]
    fn only_clean_paths_pass() {
        for good in [
            "/wallet",
            "/wallet?status=partial&q=%E5%BC%A0",
            "/admin/books/7",
            "/",
        ] {
            assert_eq!(safe_next(Some(good)), Some(good), "{good}");
        }
        for bad in [
            "",
            "wallet",
            "//evil.example/x",
            "/\\evil.example",
            "/\t/evil.example/x",
            "/\n/evil.example",
            "/\r\n/evil",
            "/ /evil.example",
            "/wallet\u{3000}",
            "/\u{7f}",
            "https://evil.example/",
            "/wallet\\..\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(Some(&format!("/{}", "a".repeat(MAX_NEXT)))), None);
        assert_eq!(safe_next(None), None);
    }

    /// What a redirect target may be made of: a start (`/` or not), then characters browsers
    /// drop or read as `/` (and one of any kind), then a host-like part and a path; or any text.
    fn tricky() -> impl Strategy<Value = String> {
        let special = || {
            proptest::sample::select(vec!["", "/", "\\", "\t", "\n", "\r", " "])
                .prop_map(String::from)
        };
        let any_char = any::<char>().prop_map(String::from);
        let host = prop_oneof![
            Just("evil.example".to_string()),
            Just("@evil.example".to_string()),
            Just("https://evil.example".to_string()),
            Just("javascript:alert(1)".to_string()),
            "[a-z.:@%0-9]{0,8}",
        ];
        let start = proptest::sample::select(vec!["", "/", "//"]);
        let path = "[a-z0-9/?=&%.#]{0,12}";
        let structured = (start, special(), special(), any_char, host, path)
            .prop_map(|(start, a, b, c, host, path)| format!("{start}{a}{b}{c}{host}/{path}"));
        let plain = (special(), special()).prop_map(|(a, b)| format!("/{a}{b}evil.example/"));
        prop_oneof![2 => structured, 2 => plain, 1 => any::<String>()]
    }

    proptest! {
        // Cheap cases: enough of them to meet each dangerous combination many times.
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Whatever a `next` holds, a followed one keeps the browser on this site and fits in a
        /// `Location` header (no 500).
        #[test]
        fn a_followed_next_stays_on_this_site(next in tricky()) {
            if let Some(path) = safe_next(Some(&next)) {
                prop_assert!(HeaderValue::from_str(path).is_ok(), "{path:?}");
                let url = followed(path);
                prop_assert!(url.is_some(), "{path:?}");
                let url = url.unwrap();
                prop_assert_eq!(url.scheme(), "https", "{:?}", path);
                prop_assert_eq!(url.host_str(), Some("plant.example"), "{:?}", path);
                prop_assert_eq!(url.port(), None, "{:?}", path);
            }
        }

        /// Anything that would take the browser elsewhere is refused.
        #[test]
        fn what_leaves_the_site_is_refused(next in tricky()) {
            let elsewhere = followed(&next).is_none_or(|url| {
                url.scheme() != "https" || url.host_str() != Some("plant.example")
            });
            if elsewhere {
                prop_assert_eq!(safe_next(Some(&next)), None);
            }
        }
    }
}
