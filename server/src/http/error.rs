//! The one error type: a status code plus the protocol's `{code, message}` body, answered as that
//! JSON body to API clients or as the zh-CN error page to people ([`PageError`]), as the route's
//! [`Surface`] says; and the JSON, query and path extractors that turn malformed input into it.

use askama::Template;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use shuipiao_shared::sync::{ErrorBody, ErrorCode};

use crate::accounts::AccountError;
use crate::auth::credentials::CredentialError;
use crate::auth::session::TokenError;
use crate::auth::sign_in::PasswordError;
use crate::buckets::BucketError;
use crate::catalogue::CatalogueError;
use crate::deliveries::DeliveriesError;
use crate::dispatch::DispatchError;
use crate::enrollment::{DisableError, EnrollError};
use crate::feedback::FeedbackError;
use crate::http::Surface;
use crate::issuance::IssueError;
use crate::keys::KeyError;
use crate::notify::ResendError;
use crate::notify::channels::ChannelError;
use crate::ordering::OrderingError;
use crate::review::ReviewError;
use crate::store::{ConflictKind, StoreError};
use crate::sync::ReportError;

/// An error answered to an API client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable class.
    pub code: ErrorCode,
    /// zh-CN message.
    pub message: String,
    /// Seconds to send as `Retry-After`, for refusals that pass with time (busy, rate limited).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// Any status with a message.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: the client should wait `retry_after` seconds.
    pub fn rate_limited(retry_after: u64, message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::RateLimited,
                message,
            )
        }
    }

    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }

    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "未登录或凭证无效",
        )
    }

    /// 403.
    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "没有权限执行此操作",
        )
    }

    /// 404.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "未找到")
    }

    /// 500; the cause is logged, never sent.
    pub fn internal(cause: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "服务器内部错误",
        )
    }
}

/// `response` with `Retry-After: secs` when `retry_after` is set.
pub fn with_retry_after(mut response: Response, retry_after: Option<u64>) -> Response {
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, secs.into());
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        with_retry_after(
            (self.status, axum::Json(body)).into_response(),
            self.retry_after,
        )
    }
}

impl ApiError {
    /// The answer for a route of `surface`: the JSON body for the API, the error page for pages.
    pub fn into_surface_response(self, surface: Surface) -> Response {
        match surface {
            Surface::Api => self.into_response(),
            Surface::Page => PageError(self).into_response(),
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// A page that could not be shown: rendered as an error page with its status (and
/// `Retry-After` when waiting helps).
#[derive(Debug)]
pub struct PageError(ApiError);

impl From<ApiError> for PageError {
    fn from(err: ApiError) -> PageError {
        PageError(err)
    }
}

impl From<StoreError> for PageError {
    fn from(err: StoreError) -> PageError {
        PageError(err.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.0.status {
            StatusCode::NOT_FOUND => "页面不存在",
            StatusCode::FORBIDDEN => "没有权限",
            StatusCode::TOO_MANY_REQUESTS => "操作过于频繁",
            status if status.is_client_error() => "请求有误",
            _ => "服务暂时不可用",
        };
        let page = ErrorPage {
            title,
            message: &self.0.message,
        };
        let html = page.render().unwrap_or_else(|_| self.0.message.clone());
        let response = (
            self.0.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        with_retry_after(response, self.0.retry_after)
    }
}

/// Answers a refused page request: to the login page (coming back afterwards) when not signed in,
/// else an error page.
pub fn refuse_page(err: ApiError, uri: &Uri) -> Response {
    if err.status == StatusCode::UNAUTHORIZED {
        let next = uri.path_and_query().map_or("/", |pq| pq.as_str());
        let target = format!("/login?next={}", urlencode(next));
        return Redirect::to(&target).into_response();
    }
    PageError(err).into_response()
}

fn urlencode(text: &str) -> String {
    askama::filters::urlencode_strict(text)
        .map(|encoded| encoded.to_string())
        .unwrap_or_default()
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(kind) => ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::Conflict,
                conflict_message(kind),
            ),
            StoreError::BadText => ApiError::bad_request("文字中含有无法保存的字符"),
            StoreError::Busy(_) => {
                tracing::warn!(error = %err, "database busy");
                ApiError {
                    retry_after: Some(1),
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorCode::Busy,
                        "服务器繁忙,请稍后重试",
                    )
                }
            }
            StoreError::Other(_) => ApiError::internal(&err),
        }
    }
}

/// What a client is told about a conflict: a fixed zh-CN text per kind (the database's own
/// message was logged when the conflict was classified).
pub fn conflict_message(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::DuplicateUsername => "用户名已存在",
        ConflictKind::DuplicatePhone => "该手机号已注册",
        ConflictKind::DuplicateProductCode => "产品编号已存在",
        ConflictKind::DuplicateProductName => "产品名称已存在",
        ConflictKind::DuplicateRegionName => "区域名称已存在",
        ConflictKind::DuplicateOutletName => "门店名称已存在",
        ConflictKind::DuplicateScopeName => "使用范围名称已存在",
        ConflictKind::DuplicatePackageName => "已有同名套餐",
        ConflictKind::DuplicateGiftName => "已有同名礼品",
        ConflictKind::DuplicateDeviceKey => "该设备已注册",
        ConflictKind::MissingReference => "关联的记录不存在,请刷新后重试",
        ConflictKind::NotEnterprise => "所属账户不是企业账户",
        ConflictKind::NotJoinable => "该客户已加入其他企业",
        ConflictKind::AlreadyInvited => "已邀请该手机号,请等待对方接受",
        ConflictKind::RecentlyDeclined => "对方已拒绝本企业的邀请,30 天内不能再次邀请",
        ConflictKind::TooManyInvitations => "邀请发送太频繁,请稍后再试",
        ConflictKind::NotPending => "邀请不存在或已失效",
        ConflictKind::UnitsChanged => "该水票刚刚有变动,请刷新后重试",
        ConflictKind::AlreadyRevoked => "该水票已作废,不能重复操作",
        ConflictKind::AlreadyResolved => "该冲突已处理",
        ConflictKind::UnknownBook => "本服务器没有这本水票的记录,请先恢复数据再处理",
        ConflictKind::NotEnoughPoints => "积分不足",
        ConflictKind::OutOfStock => "该礼品已兑完",
        ConflictKind::NotFailed => "只能重发发送失败的通知",
        ConflictKind::SecretGone => "验证码已失效,不能重发,请客户重新获取验证码",
        ConflictKind::SmsChannel => "短信通知发往注册手机号,无需绑定",
        ConflictKind::ActiveKeyExists | ConflictKind::StaleKeyring => "密钥正在更新,请稍后重试",
        ConflictKind::BackupExists => "备份文件已存在",
        ConflictKind::BackupUnsupported => "PostgreSQL 数据库请用 pg_dump 备份",
        ConflictKind::OrderChanged => "该订单刚刚有变动,请刷新后重试",
        ConflictKind::Constraint => "数据不符合要求或与现有数据冲突",
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> ApiError {
        match err {
            TokenError::Invalid => ApiError::unauthorized(),
            TokenError::DeviceDisabled | TokenError::DeviceUserDisabled => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::DeviceDisabled,
                err.to_string(),
            ),
            TokenError::Store(err) => err.into(),
        }
    }
}

impl From<PasswordError> for ApiError {
    fn from(err: PasswordError) -> ApiError {
        match err {
            PasswordError::Limited(limited) => limited.into(),
            PasswordError::Wrong => ApiError::unauthorized(),
            PasswordError::Store(err) => err.into(),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(err: CredentialError) -> ApiError {
        match err {
            CredentialError::Limited(limited) => limited.into(),
            CredentialError::Store(err) => err.into(),
            CredentialError::Hash(err) => ApiError::internal(&err),
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<EnrollError> for ApiError {
    fn from(err: EnrollError) -> ApiError {
        match err {
            EnrollError::BadCode => ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::EnrollmentCodeInvalid,
                "注册码无效、已使用或已过期",
            ),
            EnrollError::Invalid(message) => ApiError::bad_request(message),
            EnrollError::Store(err) => err.into(),
            EnrollError::Keys(err) => err.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> ApiError {
        match err {
            AccountError::Store(err) => err.into(),
            AccountError::Hash(err) => ApiError::internal(&err),
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<BucketError> for ApiError {
    fn from(err: BucketError) -> ApiError {
        match err {
            BucketError::Store(err) => err.into(),
            BucketError::Forbidden => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, err.to_string())
            }
            BucketError::NoAccount => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, err.to_string())
            }
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<FeedbackError> for ApiError {
    fn from(err: FeedbackError) -> ApiError {
        match err {
            FeedbackError::Store(err) => err.into(),
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<DeliveriesError> for ApiError {
    fn from(err: DeliveriesError) -> ApiError {
        match err {
            DeliveriesError::Store(err) => err.into(),
            DeliveriesError::Acknowledge(err) => err.into(),
            DeliveriesError::NotCourier => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, err.to_string())
            }
        }
    }
}

impl From<OrderingError> for ApiError {
    fn from(err: OrderingError) -> ApiError {
        match err {
            OrderingError::Store(err) => err.into(),
            OrderingError::NotOrderer => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::Forbidden, err.to_string())
            }
            OrderingError::UnknownOrder | OrderingError::UnknownRecurring => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, err.to_string())
            }
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<ChannelError> for ApiError {
    fn from(err: ChannelError) -> ApiError {
        match err {
            ChannelError::Store(err) => err.into(),
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(err: ReportError) -> ApiError {
        match err {
            ReportError::Store(err) => err.into(),
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<ResendError> for ApiError {
    fn from(err: ResendError) -> ApiError {
        match err {
            ResendError::Unknown => ApiError::bad_request(err.to_string()),
            ResendError::Store(err) => err.into(),
        }
    }
}

impl From<DisableError> for ApiError {
    fn from(err: DisableError) -> ApiError {
        match err {
            DisableError::Unknown => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, err.to_string())
            }
            DisableError::Store(err) => err.into(),
        }
    }
}

impl From<CatalogueError> for ApiError {
    fn from(err: CatalogueError) -> ApiError {
        match err {
            CatalogueError::Invalid(message) => ApiError::bad_request(message),
            CatalogueError::Store(err) => err.into(),
        }
    }
}

impl From<ReviewError> for ApiError {
    fn from(err: ReviewError) -> ApiError {
        match err {
            ReviewError::NoteTooLong | ReviewError::OrderItem => {
                ApiError::bad_request(err.to_string())
            }
            ReviewError::Store(err) => err.into(),
        }
    }
}

impl From<DispatchError> for ApiError {
    fn from(err: DispatchError) -> ApiError {
        match err {
            DispatchError::Store(err) => err.into(),
            DispatchError::UnknownOrder => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, err.to_string())
            }
            invalid => ApiError::bad_request(invalid.to_string()),
        }
    }
}

impl From<IssueError> for ApiError {
    fn from(err: IssueError) -> ApiError {
        match err {
            IssueError::Store(err) => err.into(),
            IssueError::Keys(err) => err.into(),
            IssueError::Invalid(message) => ApiError::bad_request(message),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(err: KeyError) -> ApiError {
        match err {
            KeyError::Store(err) => err.into(),
            other => ApiError::internal(&other),
        }
    }
}

fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        "请求体过大",
    )
}

/// `axum::Json` whose rejections are [`ApiError`]s (400 bad JSON or unknown fields, 413 too large,
/// 415 wrong content type).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::BadRequest,
                    "请求体必须是 JSON(Content-Type: application/json)",
                ),
                _ => json_error(&rejection),
            }),
        }
    }
}

fn json_error(rejection: &JsonRejection) -> ApiError {
    ApiError::bad_request(format!("请求格式错误:{}", rejection.body_text()))
}

/// `axum::extract::Query` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::bad_request(format!("查询参数错误:{}", rejection.body_text()))
            })
    }
}

/// Turns the plain 413 of the body-limit layer into the API's error body.
pub async fn json_payload_too_large(response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/json"))
    {
        return payload_too_large().into_response();
    }
    response
}

/// `axum::extract::Path` whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| {
                ApiError::bad_request(format!("路径参数错误:{}", rejection.body_text()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_database_asks_the_client_to_retry() {
        let busy: StoreError = sqlx::Error::PoolTimedOut.into();
        assert!(matches!(busy, StoreError::Busy(_)), "{busy:?}");
        let response = ApiError::from(busy).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .unwrap(),
            "1"
        );
        let other: StoreError = sqlx::Error::WorkerCrashed.into();
        assert_eq!(
            ApiError::from(other).into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
