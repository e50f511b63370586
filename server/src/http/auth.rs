//! Who is calling: a user (bearer token on the API, session cookie on pages) or a device
//! (device bearer token), and the middleware that enforces each route's declared [`Access`]
//! before its handler runs. Whether a token is good is decided by `auth::session`; this module
//! only finds it in the request.
//!
//! **The JSON API is bearer-only.** A browser attaches its cookies to requests other sites make
//! it send (forms, navigations, `fetch` without CORS). `SameSite=Lax` stops most of them, but not
//! top-level navigations, nor requests from a sibling subdomain, which count as same-site. The
//! API's POSTs carry no CSRF token, and some carry no body at all (`keys/rotate`,
//! `devices/{id}/disable`, `auth/logout`), so a cookie there would leave them to SameSite alone.
//! No browser adds an `Authorization` header by itself, so the API takes only that, and the
//! session cookie authenticates pages only, whose forms all carry a CSRF token bound to the
//! session (`web::csrf`). The wallet's scripts stay on page routes for the same reason:
//! binding a holder key posts the page's token to `/wallet/books/{id}/holder-key`, and the
//! rotating QR is a GET of `/wallet/books/{id}/qr.svg`, which changes nothing.

use std::net::IpAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cookie::Cookie;

use crate::auth::{session, token};
use crate::http::error::{ApiError, refuse_page};
use crate::http::rate_limit::PeerAddr;
use crate::http::{Access, AppState, Surface};
use crate::metrics::{self, Scrape};
use crate::store::models::{Device, User};

/// Name of the web session cookie.
pub const SESSION_COOKIE: &str = "sp_session";

/// Name of the pages' CSRF cookie (`web::csrf`); named here because, like the session cookie,
/// it travels as a `__Host-` cookie under HTTPS.
pub const CSRF_COOKIE: &str = "sp_csrf";

/// The signed-in user, put into request extensions by [`authorize`].
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

/// The authenticated device, put into request extensions by [`authorize`].
#[derive(Debug, Clone)]
pub struct CurrentDevice(pub Device);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of the request's cookie `name`, if set and not empty.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|cookie| cookie.name() == name)
        .find_map(|cookie| cookie.value_raw().filter(|value| !value.is_empty()))
}

/// The session token of a request: the bearer header on the API, the session cookie on pages
/// (never the other way round, see the module doc).
pub fn session_token(headers: &HeaderMap, surface: Surface) -> Option<&str> {
    match surface {
        Surface::Api => bearer(headers),
        Surface::Page => cookie(headers, SESSION_COOKIE),
    }
}

/// The id of the request's session, e.g. the one a password change keeps.
pub fn session_id(headers: &HeaderMap, surface: Surface) -> Option<&str> {
    session_token(headers, surface)
        .and_then(token::split)
        .map(|(id, _)| id)
}

/// The user behind the request's session (`auth::session::user_of`).
pub async fn user_of(
    state: &AppState,
    headers: &HeaderMap,
    surface: Surface,
    now: i64,
) -> Result<User, ApiError> {
    let text = session_token(headers, surface).ok_or_else(ApiError::unauthorized)?;
    Ok(session::user_of(&state.store, text, now).await?)
}

/// The `Set-Cookie` value carrying a new session's token. The cookie is `SameSite=Lax` so links
/// from a text message open the wallet signed in; forms carry a CSRF token instead (see
/// `web::csrf`). `Secure` and the `__Host-` prefix are added by the router when clients come
/// over HTTPS.
pub fn session_cookie(token: &str, ttl_secs: u64) -> String {
    format!("{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={ttl_secs}")
}

/// The `Set-Cookie` value that clears the session cookie.
pub fn cleared_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0")
}

/// The address the request's connection came from (not what a proxy says of its client).
fn peer(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|ConnectInfo(PeerAddr(addr))| addr.ip())
}

/// Checks `access` and puts the caller into the request's extensions.
async fn admit(
    state: &AppState,
    access: Access,
    surface: Surface,
    request: &mut Request,
) -> Result<(), ApiError> {
    match access {
        Access::Public => {}
        Access::Metrics => {
            let token = state.config.metrics_token.as_ref();
            let headers = request.headers();
            match metrics::may_scrape(token, bearer(headers), peer(request), headers) {
                Scrape::Allowed => {}
                Scrape::WrongToken => return Err(ApiError::unauthorized()),
                Scrape::NotLocal => return Err(ApiError::not_found()),
            }
        }
        Access::Device => {
            let text = bearer(request.headers()).ok_or_else(ApiError::unauthorized)?;
            let device = session::device_of(&state.store, text).await?;
            request.extensions_mut().insert(CurrentDevice(device));
        }
        Access::Roles(roles) => {
            let user = user_of(state, request.headers(), surface, crate::unix_now()).await?;
            if !roles.contains(&user.spec.role) {
                return Err(ApiError::forbidden());
            }
            request.extensions_mut().insert(CurrentUser(user));
        }
    }
    Ok(())
}

/// Enforces `access` for one route, then runs the handler with the caller in extensions. API
/// routes answer a refusal with the JSON error; pages send the browser to the login page or an
/// error page.
pub async fn authorize(
    State((state, access, surface)): State<(AppState, Access, Surface)>,
    mut request: Request,
    next: Next,
) -> Response {
    match (admit(&state, access, surface, &mut request).await, surface) {
        (Ok(()), _) => next.run(request).await,
        (Err(err), Surface::Api) => err.into_response(),
        (Err(err), Surface::Page) => refuse_page(err, request.uri()),
    }
}
