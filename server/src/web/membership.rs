//! The member's side of an enterprise: answering an invitation from its card in 我的水票,
//! leaving, and the public join page where the invitation SMS's code answers it without signing
//! in. The rules are in [`crate::enterprise`].

use askama::Template;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;

use crate::enterprise::{self, EnterpriseError};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiPath};
use crate::http::rate_limit::ClientIp;
use crate::pii::Phone;
use crate::web::csrf::{self, CsrfToken, TokenForm};
use crate::web::wallet::{ListQuery, list_page};
use crate::web::{PageError, render};

/// A refusal that is nobody's to fix on the page: an error page.
pub(super) fn page_error(err: EnterpriseError) -> PageError {
    match err {
        EnterpriseError::Store(err) => err.into(),
        EnterpriseError::Issue(err) => ApiError::from(err).into(),
        EnterpriseError::NotEnterpriseAdmin | EnterpriseError::OtherEnterprise => {
            ApiError::forbidden().into()
        }
        other => ApiError::bad_request(other.to_string()).into(),
    }
}

/// Accept or decline.
#[derive(Debug, Deserialize)]
pub struct AnswerForm {
    /// `accept` or anything else to decline.
    #[serde(default)]
    answer: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /wallet/invitations/{id}`: the signed-in customer answers an invitation to their phone.
pub async fn answer(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, PageError> {
    let refuse =
        |message: String| list_page(&state, &user, &headers, ListQuery::default(), Some(message));
    if !csrf::verify(&headers, &form.csrf) {
        return refuse("页面已过期,请重新提交".into()).await;
    }
    let accept = form.answer == "accept";
    let now = crate::unix_now();
    match enterprise::answer(&state.store, &state.master, &user, id, accept, now).await {
        Ok(_) if accept => Ok(Redirect::to("/wallet?done=joined").into_response()),
        Ok(_) => Ok(Redirect::to("/wallet?done=declined").into_response()),
        Err(err @ (EnterpriseError::Store(_) | EnterpriseError::Issue(_))) => Err(page_error(err)),
        Err(err) => refuse(err.to_string()).await,
    }
}

/// `POST /wallet/enterprise/leave`: the member leaves; the enterprise's unused tickets go back.
pub async fn leave(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Result<Response, PageError> {
    let refuse =
        |message: String| list_page(&state, &user, &headers, ListQuery::default(), Some(message));
    if !csrf::verify(&headers, &form.csrf) {
        return refuse("页面已过期,请重新提交".into()).await;
    }
    match enterprise::leave(&state.store, &state.master, &user, crate::unix_now()).await {
        Ok(_) => Ok(Redirect::to("/wallet?done=left").into_response()),
        Err(err @ (EnterpriseError::Store(_) | EnterpriseError::Issue(_))) => Err(page_error(err)),
        Err(err) => refuse(err.to_string()).await,
    }
}

/// The join page's fields.
#[derive(Debug, Default, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    phone: String,
    #[serde(default)]
    code: String,
    /// `accept` or `decline`.
    #[serde(default)]
    answer: String,
    #[serde(default)]
    csrf: String,
}

#[derive(Template)]
#[template(path = "join.html")]
struct JoinPage<'a> {
    csrf: &'a str,
    phone: &'a str,
    notice: Option<String>,
    error: Option<String>,
}

fn join_page(
    token: &CsrfToken,
    phone: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Response {
    let cookies: Vec<_> = token
        .set_cookie
        .iter()
        .map(|cookie| (SET_COOKIE, cookie.clone()))
        .collect();
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = JoinPage {
        csrf: &token.value,
        phone,
        notice,
        error,
    };
    (status, AppendHeaders(cookies), render(&page)).into_response()
}

/// `GET /wallet/join`: phone number and invitation code.
pub async fn join_form(headers: HeaderMap) -> Response {
    join_page(&csrf::token(&headers), "", None, None)
}

/// `POST /wallet/join`: answers an invitation with its code, within the client's sign-in limit
/// (each try is a code guess, also counted against the invitation).
pub async fn join(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    Form(form): Form<JoinForm>,
) -> Result<Response, PageError> {
    state.limits.login.take(client).map_err(ApiError::from)?;
    let token = csrf::token(&headers);
    let fail = |message: String| Ok(join_page(&token, &form.phone, None, Some(message)));
    if !csrf::verify(&headers, &form.csrf) {
        return fail("页面已过期,请重新提交".into());
    }
    let phone = match Phone::parse(&form.phone) {
        Ok(phone) => phone,
        Err(err) => return fail(err.to_string()),
    };
    let accept = match form.answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return fail("请选择接受或拒绝邀请".into()),
    };
    let now = crate::unix_now();
    match enterprise::answer_with_code(&state.store, &state.master, &phone, &form.code, accept, now)
        .await
    {
        Ok(invitation) => {
            let notice = if accept {
                format!(
                    "已加入{}。请用本手机号的短信验证码登录“我的水票”查看企业分配给您的水票。",
                    invitation.enterprise_name
                )
            } else {
                format!("已拒绝{}的邀请。", invitation.enterprise_name)
            };
            Ok(join_page(&token, "", Some(notice), None))
        }
        Err(err @ (EnterpriseError::Store(_) | EnterpriseError::Issue(_))) => Err(page_error(err)),
        Err(err) => fail(err.to_string()),
    }
}
