//! Accounts (customers, enterprises and their members) and users.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::UserId;
use utoipa::ToSchema;

use crate::accounts::{self, Actor, UserRequest};
use crate::enterprise::{self, EnterpriseError};
use crate::http::AppState;
use crate::http::auth::CurrentUser;
use crate::http::error::{ApiError, ApiJson, ApiPath};
use crate::store::models::{Account, NewAccount, Role};

/// Adds an account.
#[utoipa::path(post, path = "/api/v1/accounts", tag = "accounts", request_body = NewAccount, responses((status = 200, body = Account)))]
pub async fn create_account(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
    ApiJson(account): ApiJson<NewAccount>,
) -> Result<Json<Account>, ApiError> {
    Ok(Json(
        accounts::create_account(
            &state.store,
            &account,
            Actor::api(actor.id),
            crate::unix_now(),
        )
        .await?,
    ))
}

/// Members of an enterprise; an enterprise admin sees only their own enterprise.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/members", tag = "accounts",
    params(("id" = i64, Path, description = "enterprise account id")), responses((status = 200, body = Vec<Account>), (status = 403)))]
pub async fn members(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<Account>>, ApiError> {
    if user.spec.role == Role::EnterpriseAdmin && user.spec.account_id != Some(id) {
        return Err(ApiError::forbidden());
    }
    Ok(Json(state.store.members(id).await?))
}

/// A book an enterprise handed to a member, as the enterprise may see it: the figures, never
/// the QR (see [`crate::enterprise::AllocatedBook`]).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AllocatedBookBody {
    /// Book number.
    pub book_id: u64,
    /// The member account holding it.
    pub account_id: i64,
    /// Package name, else product name.
    pub title: String,
    /// Units handed out.
    pub units: u16,
    /// Units used.
    pub used_units: u16,
    /// `unused`, `partial`, `used_up`, `expired` or `revoked`.
    pub status: String,
    /// Unix seconds after which it cannot be used.
    pub valid_until: i64,
    /// Device time of the last counted use.
    pub last_used_at: Option<i64>,
}

/// The books an enterprise handed to its members (split orders, allocations, their reissues),
/// with how much of each was used; an enterprise admin sees only their own enterprise. A
/// member's own books are not here.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/allocated-books", tag = "accounts",
    params(("id" = i64, Path, description = "enterprise account id")),
    responses((status = 200, body = Vec<AllocatedBookBody>), (status = 403)))]
pub async fn allocated_books(
    State(state): State<AppState>,
    Extension(CurrentUser(user)): Extension<CurrentUser>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<AllocatedBookBody>>, ApiError> {
    let members = enterprise::member_books(&state.store, &user, id, crate::unix_now())
        .await
        .map_err(|err| match err {
            EnterpriseError::Store(err) => ApiError::from(err),
            _ => ApiError::forbidden(),
        })?;
    Ok(Json(
        members
            .iter()
            .flat_map(|member| &member.books)
            .map(|book| AllocatedBookBody {
                book_id: book.id.0,
                account_id: book.holder,
                title: book.title.clone(),
                units: book.units,
                used_units: book.used,
                status: book.status.key().to_string(),
                valid_until: book.valid_until,
                last_used_at: book.last_used_at,
            })
            .collect(),
    ))
}

/// `POST /api/v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 1–32 ASCII letters or digits, CJK ideographs, `_`, `.` or `-`.
    pub username: String,
    /// Initial password: at least 8 characters, not the login name.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Account, for customers and enterprise admins.
    pub account_id: Option<i64>,
    /// Region, for couriers.
    pub region_id: Option<i64>,
    /// Store, for store staff.
    pub outlet_id: Option<i64>,
}

/// A created user.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// Id.
    #[schema(value_type = u64)]
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Role.
    pub role: Role,
}

/// Adds a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "accounts", request_body = CreateUser, responses((status = 200, body = CreatedUser), (status = 409)))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(CurrentUser(actor)): Extension<CurrentUser>,
    ApiJson(request): ApiJson<CreateUser>,
) -> Result<Json<CreatedUser>, ApiError> {
    let request = UserRequest {
        username: &request.username,
        password: &request.password,
        role: request.role,
        account_id: request.account_id,
        region_id: request.region_id,
        outlet_id: request.outlet_id,
    };
    let user = accounts::create_user(
        &state.store,
        &request,
        Actor::api(actor.id),
        crate::unix_now(),
    )
    .await?;
    Ok(Json(CreatedUser {
        id: user.id,
        username: user.spec.username,
        role: user.spec.role,
    }))
}
