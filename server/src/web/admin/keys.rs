//! Signing keys: the list with windows and states, rotation, and marking a leaked issuer key
//! compromised, which reissues every live book under it with the active key in the same step.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::keyring::Kid;

use crate::http::AppState;
use crate::http::error::ApiError;
use crate::issuance;
use crate::keys::{self, KeyError};
use crate::local_time;
use crate::store::StoreError;
use crate::store::models::{KeyPurpose, KeyStatus};
use crate::web::admin::{Admin, Chrome, DoneQuery, PlainForm, done};
use crate::web::{PageError, PagePath, PageQuery};

struct KeyRow {
    kid: String,
    purpose: &'static str,
    status: &'static str,
    status_class: &'static str,
    window: String,
    compromised_since: Option<String>,
    live_books: usize,
    can_compromise: bool,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage {
    chrome: Chrome,
    keys: Vec<KeyRow>,
}

/// `GET /admin/keys`.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let mut rows = Vec::new();
    for key in store.signing_keys().await?.into_iter().rev() {
        let issuer = key.purpose == KeyPurpose::Issuer;
        let live_books = if issuer {
            store.live_books_of_key(key.kid).await?.len()
        } else {
            0
        };
        let (status, status_class) = match key.status {
            KeyStatus::Active => ("使用中", "green"),
            KeyStatus::Retired => ("已退役(仍可验证)", "grey"),
            KeyStatus::Compromised => ("已泄露", "red"),
        };
        rows.push(KeyRow {
            kid: Kid(key.kid).to_string(),
            purpose: if issuer {
                "签发水票"
            } else {
                "根密钥(签名密钥环)"
            },
            status,
            status_class,
            window: format!(
                "{} 至 {}",
                local_time::date(i64::from(key.not_before)),
                local_time::date(i64::from(key.not_after))
            ),
            compromised_since: key
                .compromised_since
                .map(|at| local_time::minute(i64::from(at))),
            live_books,
            can_compromise: issuer && key.status != KeyStatus::Compromised,
        });
    }
    Ok(admin.send(&KeysPage {
        chrome: admin.chrome("/admin/keys", query.done.as_deref()),
        keys: rows,
    }))
}

fn key_error(err: KeyError) -> PageError {
    match err {
        KeyError::Store(StoreError::NotFound) => ApiError::bad_request("密钥不存在").into(),
        other => ApiError::from(other).into(),
    }
}

/// `POST /admin/keys/rotate`.
pub async fn rotate(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<PlainForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    keys::rotate_issuer(
        &state.store,
        &state.master,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(key_error)?;
    Ok(done("/admin/keys", "rotated"))
}

/// The compromise form: the key id typed again as confirmation.
#[derive(Debug, Deserialize)]
pub struct CompromiseForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /admin/keys/{kid}/compromise`: refuses the key's books from now and reissues them.
pub async fn compromise(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(kid): PagePath<String>,
    Form(form): Form<CompromiseForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let bytes = keys::parse_kid(&kid).ok_or_else(|| ApiError::bad_request("密钥编号格式错误"))?;
    if keys::parse_kid(&form.confirm) != Some(bytes) {
        return Err(ApiError::bad_request("请输入要标记的密钥编号以确认").into());
    }
    let now = crate::unix_now();
    let since = u32::try_from(now.max(0)).unwrap_or(u32::MAX);
    keys::mark_compromised(
        &state.store,
        &state.master,
        bytes,
        since,
        Some(admin.user.id),
        now,
    )
    .await
    .map_err(key_error)?;
    issuance::reissue_compromised(&state.store, &state.master, bytes, Some(admin.user.id), now)
        .await
        .map_err(ApiError::from)?;
    Ok(done("/admin/keys", "compromised"))
}
