//! `/admin/password`: staff change their own password in the console, with the form and rule
//! the wallet uses (`web::account`).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::http::AppState;
use crate::http::rate_limit::ClientIp;
use crate::web::PageError;
use crate::web::account::{self, PasswordForm};
use crate::web::admin::{Admin, Chrome, DoneQuery, done};

#[derive(Template)]
#[template(path = "admin/password.html")]
struct PasswordPage {
    chrome: Chrome,
    error: Option<String>,
}

/// `GET /admin/password`.
pub async fn form(admin: Admin, Query(query): Query<DoneQuery>) -> Response {
    admin.send(&PasswordPage {
        chrome: admin.chrome("", query.done.as_deref()),
        error: None,
    })
}

/// `POST /admin/password`.
pub async fn change(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientIp,
    Form(form): Form<PasswordForm>,
) -> Result<Response, PageError> {
    let changed = account::change(&state, &admin.user, client, &admin.headers, form).await?;
    Ok(match changed {
        Ok(()) => done("/admin/password", "password_changed"),
        Err(message) => {
            let page = PasswordPage {
                chrome: admin.chrome("", None),
                error: Some(message),
            };
            (StatusCode::BAD_REQUEST, admin.send(&page)).into_response()
        }
    })
}
