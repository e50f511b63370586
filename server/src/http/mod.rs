//! The transport kernel: application state, the route table's entry type (every route declares
//! who may call it and which surface it serves), the access check, the one error type, rate
//! limits, cookies, and the layers every route runs behind (security headers, body limit,
//! panics answered, metrics).
//!
//! **Architecture Invariant:** the kernel knows neither the JSON API (`api`) nor the pages
//! (`web`): they hand it their routes, and `router` joins both lists into the one table. How a
//! refusal is shown (JSON error or error page) is the kernel's choice, made by the route's
//! [`Surface`]. A tidy test checks that no kernel file imports `crate::api` or `crate::web`.

pub mod auth;
pub mod error;
pub mod rate_limit;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use cookie::Cookie;
use tower_http::catch_panic::{CatchPanicLayer, ResponseForPanic};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::{Config, MasterKey};
use crate::http::rate_limit::Limits;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::store::models::Role;

/// Everything a handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// Storage.
    pub store: Store,
    /// Key sealing private keys.
    pub master: MasterKey,
    /// Per-client limits of this instance.
    pub limits: Arc<Limits>,
    /// Configuration.
    pub config: Arc<Config>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (health, login, enrollment by one-time code).
    Public,
    /// A metrics scraper: with the configured `metrics_token`, or without one from this host
    /// (`metrics::may_scrape`).
    Metrics,
    /// An enrolled, enabled device with its bearer token.
    Device,
    /// A signed-in user holding one of these roles.
    Roles(&'static [Role]),
}

/// Every role.
pub const EVERYONE: &[Role] = &Role::ALL;
/// Support and administration.
pub const STAFF: &[Role] = &[Role::Operator, Role::Admin];
/// Administration only (keys, users, devices).
pub const ADMIN: &[Role] = &[Role::Admin];
/// Read-only reports.
pub const REPORTS: &[Role] = &[Role::Statistician, Role::Operator, Role::Admin];
/// Dispatch (派单): the day's orders of water, assignment and route sheets.
pub const DISPATCH: &[Role] = &[Role::Dispatcher, Role::Operator, Role::Admin];
/// Everyone who signs in to the admin console (their own password page).
pub const CONSOLE: &[Role] = &[
    Role::Statistician,
    Role::Dispatcher,
    Role::Operator,
    Role::Admin,
];
/// Readers of books: holders see their own, staff see all.
pub const BOOK_READERS: &[Role] = &[
    Role::Customer,
    Role::EnterpriseAdmin,
    Role::Operator,
    Role::Admin,
];
/// Book holders.
pub const HOLDERS: &[Role] = &[Role::Customer, Role::EnterpriseAdmin];

/// What a route serves, which decides how a refused caller is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// JSON for programs: refusals are JSON errors.
    Api,
    /// HTML for people: refusals go to the login page or an error page.
    Page,
}

/// One entry of the route table.
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path template, e.g. `/api/v1/books/{id}`.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// API or web page.
    pub surface: Surface,
    handler: MethodRouter<AppState>,
}

impl Route {
    /// An entry of the table.
    pub fn new<H, T>(
        surface: Surface,
        method: Method,
        path: &'static str,
        access: Access,
        handler: H,
    ) -> Route
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter =
            MethodFilter::try_from(method.clone()).expect("route table uses standard methods");
        Route {
            method,
            path,
            access,
            surface,
            handler: on(filter, handler),
        }
    }
}

async fn count_request(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_string())
        .unwrap_or_default();
    let response = next.run(request).await;
    state
        .metrics
        .record_request(&method, &route, response.status().as_u16());
    response
}

/// Answers a panic of a route's handler instead of dropping the connection: a 500 in the route's
/// own surface (the JSON error, or the error page), logged and counted in `/metrics`.
#[derive(Clone)]
struct PanicAnswer {
    surface: Surface,
    route: &'static str,
    metrics: Arc<Metrics>,
}

impl ResponseForPanic for PanicAnswer {
    type ResponseBody = axum::body::Body;

    fn response_for_panic(&mut self, panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        self.metrics.record_panic(self.route);
        let cause = std::io::Error::other(format!("{} panicked: {message}", self.route));
        error::ApiError::internal(&cause).into_surface_response(self.surface)
    }
}

/// `handler` with its panics answered by [`PanicAnswer`].
fn catch_panics<T: Clone + Send + Sync + 'static>(
    handler: MethodRouter<T>,
    surface: Surface,
    route: &'static str,
    metrics: &Arc<Metrics>,
) -> MethodRouter<T> {
    handler.layer(CatchPanicLayer::custom(PanicAnswer {
        surface,
        route,
        metrics: metrics.clone(),
    }))
}

/// Unknown paths: a JSON error under `/api/`, an error page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    use axum::response::IntoResponse;
    let err = error::ApiError::not_found();
    if uri.path().starts_with("/api/") {
        err.into_response()
    } else {
        error::refuse_page(err, &uri)
    }
}

/// What pages may load: only this server's own scripts, styles and images; no inline script or
/// style, no plugins, no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Browsers that saw HTTPS once keep to it for a year (sent only when this server does TLS).
const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// Cookies that under HTTPS travel as `__Host-` cookies: the session and the CSRF token.
const HOST_ONLY_COOKIES: [&str; 2] = [auth::SESSION_COOKIE, auth::CSRF_COOKIE];
/// The prefix a browser accepts only on a cookie set by this host over HTTPS, with `Path=/` and
/// no `Domain`, so a sibling subdomain or a plain-HTTP hop cannot plant it.
const HOST_PREFIX: &str = "__Host-";

/// Marks every cookie a response sets `Secure` and gives the session and CSRF cookies the
/// `__Host-` prefix, so no handler can forget either; handlers keep the plain names.
async fn secure_cookies(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let secured = cookie.to_str().ok().and_then(|text| {
            let parsed = Cookie::parse(text).ok()?;
            let mut text = text.to_string();
            if HOST_ONLY_COOKIES.contains(&parsed.name()) {
                text.insert_str(0, HOST_PREFIX);
            }
            if parsed.secure() != Some(true) {
                text.push_str("; Secure");
            }
            HeaderValue::from_str(&text).ok()
        });
        headers.append(header::SET_COOKIE, secured.unwrap_or(cookie));
    }
    response
}

/// Under HTTPS, takes the session and CSRF cookies only under their `__Host-` names and hands
/// them on under the plain ones; a plain-named one is dropped, as it may have been planted.
async fn host_cookies(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let kept: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter_map(|cookie| {
            let name = cookie.name();
            match name.strip_prefix(HOST_PREFIX) {
                Some(plain) if HOST_ONLY_COOKIES.contains(&plain) => {
                    Some(format!("{plain}={}", cookie.value()))
                }
                _ if HOST_ONLY_COOKIES.contains(&name) => None,
                _ => Some(format!("{name}={}", cookie.value())),
            }
        })
        .collect();
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(value) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, value);
    }
    request
}

/// The application over `routes`: every route behind its access check and its panic answer, with
/// body limit, tracing, metrics and security headers (content security policy, no MIME sniffing,
/// no framing, no referrer to other sites, nothing stored in caches but the static assets; HSTS,
/// `Secure` and `__Host-` cookies when clients come over HTTPS).
pub fn serve_routes(state: AppState, routes: Vec<Route>) -> Router {
    let mut router = Router::new();
    for entry in routes {
        let check = middleware::from_fn_with_state(
            (state.clone(), entry.access, entry.surface),
            auth::authorize,
        );
        let handler = catch_panics(
            // A route layer: a method the path does not declare answers 405 with `Allow`,
            // before any access check.
            entry.handler.route_layer(check),
            entry.surface,
            entry.path,
            &state.metrics,
        );
        router = router.route(entry.path, handler);
    }
    let mut router = router
        .route_layer(middleware::from_fn_with_state(state.clone(), count_request))
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(state.config.body_limit_bytes))
        .layer(middleware::map_response(error::json_payload_too_large))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.config.body_limit_bytes,
        ))
        .layer(TraceLayer::new_for_http())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        // Pages and API answers carry QR codes, tokens and personal data: no cache keeps them
        // (a shared computer's back button, a proxy). Static assets set their own header.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    if state.config.tls.is_some() {
        router = router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        ));
    }
    if state.config.secure_cookies() {
        router = router
            .layer(middleware::map_response(secure_cookies))
            .layer(middleware::map_request(host_cookies));
    }
    router.with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_raw(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    }

    /// A handler that panics answers 500 in its surface's form, and the panic is counted.
    #[tokio::test]
    async fn a_panic_is_answered_and_counted() {
        async fn boom() -> &'static str {
            panic!("boom")
        }
        let metrics = Arc::new(Metrics::default());
        let app: Router = Router::new()
            .route(
                "/api/v1/boom",
                catch_panics(get(boom), Surface::Api, "/api/v1/boom", &metrics),
            )
            .route(
                "/boom",
                catch_panics(get(boom), Surface::Page, "/boom", &metrics),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let api = get_raw(addr, "/api/v1/boom").await;
        assert!(api.starts_with("HTTP/1.1 500"), "{api}");
        assert!(api.contains(r#""code":"internal""#), "{api}");
        let page = get_raw(addr, "/boom").await;
        assert!(page.starts_with("HTTP/1.1 500"), "{page}");
        assert!(
            page.contains("text/html") && page.contains("服务暂时不可用"),
            "{page}"
        );
        let counted = metrics.render();
        assert!(
            counted.contains(r#"shuipiao_http_panics_total{route="/boom"} 1"#)
                && counted.contains(r#"shuipiao_http_panics_total{route="/api/v1/boom"} 1"#),
            "{counted}"
        );
    }
}
