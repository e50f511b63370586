//! Phone pages: registration (with a referral or staff code from a courier's QR, a store or a
//! poster), sign-in by SMS code, and a new password for a customer who forgot theirs. Each asks
//! for a code first, then the rest of the form.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::credentials::{self, CredentialError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::rate_limit::ClientIp;
use crate::pii::Phone;
use crate::signup::{self, Registration, SignupError};
use crate::store::models::User;
use crate::web::csrf::{self, CsrfToken};
use crate::web::{PageError, render, session};

/// Cookie that tells one browser from another, for referral anti-abuse.
const BROWSER_COOKIE: &str = "sp_browser";

/// Why a phone form was not done: what the person should fix on the form, or a failure for
/// the error page.
enum Refused {
    Form(String),
    Page(PageError),
}

impl From<SignupError> for Refused {
    fn from(err: SignupError) -> Refused {
        match err {
            SignupError::Store(err) => Refused::Page(err.into()),
            other => Refused::Form(other.to_string()),
        }
    }
}

impl From<CredentialError> for Refused {
    fn from(err: CredentialError) -> Refused {
        match err {
            CredentialError::Store(err) => Refused::Page(err.into()),
            CredentialError::Hash(err) => Refused::Page(ApiError::internal(&err).into()),
            CredentialError::Limited(limited) => Refused::Page(ApiError::from(limited).into()),
            other => Refused::Form(other.to_string()),
        }
    }
}

/// Which phone page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Register,
    SignIn,
    /// A new password for a forgotten one.
    Reset,
}

#[derive(Template)]
#[template(path = "phone.html")]
struct PhonePage<'a> {
    register: bool,
    reset: bool,
    csrf: &'a str,
    form: &'a PhoneForm,
    notice: Option<String>,
    error: Option<String>,
}

/// Every field of both phone pages; missing fields are empty.
#[derive(Debug, Default, Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    /// Referral or staff code; `?code=` on the QR link fills it.
    #[serde(default, alias = "ref")]
    referral: String,
    /// `send` asks for a code; anything else submits.
    #[serde(default)]
    action: String,
    #[serde(default)]
    csrf: String,
}

fn browser_id(headers: &HeaderMap) -> Option<String> {
    crate::http::auth::cookie(headers, BROWSER_COOKIE).map(|value| value.chars().take(64).collect())
}

fn page(
    mode: Mode,
    token: &CsrfToken,
    headers: &HeaderMap,
    form: &PhoneForm,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let mut cookies: Vec<_> = token
        .set_cookie
        .iter()
        .map(|cookie| (SET_COOKIE, cookie.clone()))
        .collect();
    if mode == Mode::Register && browser_id(headers).is_none() {
        let id = data_encoding::BASE32_NOPAD.encode(&crate::random::bytes::<15>());
        cookies.push((
            SET_COOKIE,
            format!("{BROWSER_COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age=31536000"),
        ));
    }
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let template = PhonePage {
        register: mode == Mode::Register,
        reset: mode == Mode::Reset,
        csrf: &token.value,
        form,
        notice,
        error,
    };
    (status, AppendHeaders(cookies), render(&template)).into_response()
}

/// Query of the registration link: `?code=SP000012` from a courier's QR.
#[derive(Debug, Default, Deserialize)]
pub struct RegisterQuery {
    #[serde(default)]
    code: String,
}

/// `GET /wallet/register`.
pub async fn register_form(headers: HeaderMap, Query(query): Query<RegisterQuery>) -> Response {
    let form = PhoneForm {
        referral: query.code,
        ..PhoneForm::default()
    };
    page(
        Mode::Register,
        &csrf::token(&headers),
        &headers,
        &form,
        None,
        None,
    )
}

/// `GET /login/sms`.
pub async fn sign_in_form(headers: HeaderMap) -> Response {
    page(
        Mode::SignIn,
        &csrf::token(&headers),
        &headers,
        &PhoneForm::default(),
        None,
        None,
    )
}

/// `GET /login/reset`.
pub async fn reset_form(headers: HeaderMap) -> Response {
    page(
        Mode::Reset,
        &csrf::token(&headers),
        &headers,
        &PhoneForm::default(),
        None,
        None,
    )
}

async fn submit(
    mode: Mode,
    state: AppState,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    form: PhoneForm,
) -> Result<Response, PageError> {
    let limit = match (form.action.as_str(), mode) {
        ("send", _) => &state.limits.sms_code,
        (_, Mode::Register) => &state.limits.register,
        (_, Mode::SignIn | Mode::Reset) => &state.limits.login,
    };
    limit.take(client).map_err(ApiError::from)?;
    let token = csrf::token(&headers);
    let fail = |err: String| Ok(page(mode, &token, &headers, &form, None, Some(err)));
    if !csrf::verify(&headers, &form.csrf) {
        return fail("页面已过期,请重新提交".into());
    }
    let phone = match Phone::parse(&form.phone) {
        Ok(phone) => phone,
        Err(err) => return fail(err.to_string()),
    };
    let now = crate::unix_now();
    if form.action == "send" {
        return match signup::send_code(&state.store, &state.master, &phone, now).await {
            Ok(()) => {
                let notice = format!("验证码已发送至 {},10 分钟内有效", phone.masked());
                Ok(page(mode, &token, &headers, &form, Some(notice), None))
            }
            Err(SignupError::Store(err)) => Err(err.into()),
            Err(err) => fail(err.to_string()),
        };
    }
    let (store, master) = (&state.store, &state.master);
    let done: Result<User, Refused> = match mode {
        Mode::Register => {
            let registration = Registration {
                phone,
                code: form.code.clone(),
                name: form.name.clone(),
                password: form.password.clone(),
                referral: form.referral.clone(),
                browser_id: browser_id(&headers),
            };
            let promotions = &state.config.promotions;
            signup::register(store, master, promotions, &registration, now)
                .await
                .map_err(Refused::from)
        }
        Mode::SignIn => signup::sign_in_with_code(store, master, &phone, &form.code, now)
            .await
            .map_err(Refused::from),
        Mode::Reset => {
            credentials::reset_with_code(store, master, &phone, &form.code, &form.password, now)
                .await
                .map_err(Refused::from)
        }
    };
    let user = match done {
        Ok(user) => user,
        Err(Refused::Form(message)) => return fail(message),
        Err(Refused::Page(err)) => return Err(err),
    };
    let cookie = session::open_session(&state, &user, now).await?;
    Ok((
        AppendHeaders([(SET_COOKIE, cookie)]),
        Redirect::to("/wallet"),
    )
        .into_response())
}

/// `POST /wallet/register`: sends a code, or registers and signs in, within the client's limits
/// on codes and on registrations.
pub async fn register(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Form(form): Form<PhoneForm>,
) -> Result<Response, PageError> {
    submit(Mode::Register, state, client, headers, form).await
}

/// `POST /login/reset`: sends a code, or sets the new password with it and signs in (every
/// other session of the customer ends), within the client's limits on codes and on sign-ins.
pub async fn reset(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Form(form): Form<PhoneForm>,
) -> Result<Response, PageError> {
    submit(Mode::Reset, state, client, headers, form).await
}

/// `POST /login/sms`: sends a code, or signs in with it, within the client's limits on codes
/// and on sign-ins.
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Form(form): Form<PhoneForm>,
) -> Result<Response, PageError> {
    submit(Mode::SignIn, state, client, headers, form).await
}
