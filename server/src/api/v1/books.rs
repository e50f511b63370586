//! Orders and books: issue, read (holders see their own), revoke, reissue.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Deserialize;
use shuipiao_shared::ids::BookId;
use utoipa::ToSchema;

use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::issuance::{self, IssueOrder, IssuedOrder};
use crate::store::models::Book;
use crate::wallet;

/// Issues an order: signs its books.
#[utoipa::path(post, path = "/api/v1/orders", tag = "books", request_body = IssueOrder,
    responses((status = 200, body = IssuedOrder), (status = 400), (status = 404)))]
pub async fn issue_order(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
    ApiJson(order): ApiJson<IssueOrder>,
) -> Result<Json<IssuedOrder>, ApiError> {
    Ok(Json(
        issuance::issue_order(
            &state.store,
            &state.master,
            &order,
            Some(actor.id),
            crate::unix_now(),
        )
        .await?,
    ))
}

/// Books of the signed-in holder's account (an enterprise admin: the enterprise's own books).
#[utoipa::path(get, path = "/api/v1/books/mine", tag = "books", responses((status = 200, body = Vec<Book>)))]
pub async fn my_books(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
) -> Result<Json<Vec<Book>>, ApiError> {
    Ok(Json(wallet::holder_books(&state.store, &user).await?))
}

/// One book; holders may read only their own (others get 404, so ids are not probed).
#[utoipa::path(get, path = "/api/v1/books/{id}", tag = "books",
    params(("id" = u64, Path, description = "book id")), responses((status = 200, body = Book), (status = 404)))]
pub async fn get_book(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<u64>,
) -> Result<Json<Book>, ApiError> {
    let book = state.store.book(BookId(id)).await?;
    if !wallet::may_read(&user, &book) {
        return Err(ApiError::not_found());
    }
    Ok(Json(book))
}

/// Why a book is revoked or reissued.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    /// Free text, e.g. 用户挂失.
    pub reason: String,
}

/// Revokes a book.
#[utoipa::path(post, path = "/api/v1/books/{id}/revoke", tag = "books", request_body = Reason,
    params(("id" = u64, Path, description = "book id")), responses((status = 200, body = Book), (status = 409)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<u64>,
    ApiJson(reason): ApiJson<Reason>,
) -> Result<Json<Book>, ApiError> {
    Ok(Json(
        issuance::revoke(
            &state.store,
            BookId(id),
            &reason.reason,
            Some(actor.id),
            crate::unix_now(),
        )
        .await?,
    ))
}

/// Lost-ticket recovery: revokes the book and issues its remaining units in a new one.
#[utoipa::path(post, path = "/api/v1/books/{id}/reissue", tag = "books", request_body = Reason,
    params(("id" = u64, Path, description = "book id")), responses((status = 200, body = Book), (status = 400), (status = 409)))]
pub async fn reissue(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<u64>,
    ApiJson(reason): ApiJson<Reason>,
) -> Result<Json<Book>, ApiError> {
    Ok(Json(
        issuance::reissue(
            &state.store,
            &state.master,
            BookId(id),
            &reason.reason,
            Some(actor.id),
            crate::unix_now(),
        )
        .await?,
    ))
}
