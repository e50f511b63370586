//! Devices: the list with last upload and data age (stale after 24 h, as on the devices), disabling
//! a lost phone, and one-time enrollment codes shown as text and as a QR code to scan. The QR
//! carries the server address too (`SPENROLL:1:<code>:<url>`, docs/protocol.md), so a courier
//! scans it instead of typing either.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::header::HOST;
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::{DeviceId, UserId};

use crate::enrollment::{self, EnrollError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::models::{Device, Role, User};
use crate::store::reports::DeviceActivity;
use crate::web::admin::{Admin, Chrome, DoneQuery, PlainForm, done};
use crate::web::{PageError, PagePath, PageQuery, qr};

/// Devices whose last upload is older than this are stale (docs/protocol.md, "Door verdict").
pub(super) const STALE_AFTER_SECS: i64 = 24 * 3_600;
/// Enrollment codes last a day.
const CODE_TTL_SECS: i64 = 86_400;

/// A device as listed.
pub(super) struct DeviceRow {
    pub id: u64,
    pub name: String,
    pub staff: String,
    pub enrolled: String,
    pub last_push: String,
    pub events: i64,
    /// Events still on the device as it last reported, and when (server time).
    pub pending: Option<(i64, String)>,
    /// The device's failed sync before that report.
    pub sync_error: Option<String>,
    pub stale: bool,
    pub disabled: bool,
}

/// The device list: each device with its staff member, last upload, what it last reported
/// (events not uploaded yet, its previous sync error) and whether its data is stale (enabled and
/// no upload for 24 h).
pub(super) fn device_rows(
    devices: &[Device],
    activity: &[DeviceActivity],
    users: &[User],
    now: i64,
) -> Vec<DeviceRow> {
    let names: HashMap<UserId, &str> = users
        .iter()
        .map(|u| (u.id, u.spec.username.as_str()))
        .collect();
    let uploads: HashMap<DeviceId, &DeviceActivity> =
        activity.iter().map(|a| (a.device_id, a)).collect();
    devices
        .iter()
        .map(|device| {
            let upload = uploads.get(&device.id);
            let last = upload.and_then(|a| a.last_push_at);
            let seen = last.unwrap_or(device.enrolled_at);
            DeviceRow {
                id: device.id.0,
                name: device.name.clone(),
                staff: names.get(&device.user_id).unwrap_or(&"").to_string(),
                enrolled: local_time::minute(device.enrolled_at),
                last_push: last.map_or_else(|| "从未上传".into(), local_time::minute),
                events: upload.map_or(0, |a| a.events),
                pending: upload
                    .and_then(|a| Some((a.pending_events?, local_time::minute(a.reported_at?)))),
                sync_error: upload.and_then(|a| a.last_sync_error.clone()),
                stale: device.disabled_at.is_none() && now - seen > STALE_AFTER_SECS,
                disabled: device.disabled_at.is_some(),
            }
        })
        .collect()
}

struct StaffOption {
    id: u64,
    label: String,
}

#[derive(Template)]
#[template(path = "admin/devices.html")]
struct DevicesPage {
    chrome: Chrome,
    devices: Vec<DeviceRow>,
    staff: Vec<StaffOption>,
    can_manage: bool,
    code: Option<IssuedCodeView>,
}

struct IssuedCodeView {
    code: String,
    staff: String,
    expires: String,
    /// What the QR encodes; empty when the request named no host to put in it.
    qr_text: String,
    qr_svg: String,
}

/// The text of the enrollment QR for `code`: the fixed prefix, format version 1, the code, and the
/// base URL this console was reached at (`https` when the server or a proxy in front does TLS),
/// which is the address devices must use too. `None` without a usable host (HTTP/1.0 clients):
/// then only the typed code is shown.
fn enroll_qr_text(code: &str, https: bool, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let authority = match uri.authority() {
        Some(authority) => authority.clone(),
        None => headers
            .get(HOST)?
            .to_str()
            .ok()?
            .parse::<Authority>()
            .ok()?,
    };
    if authority.as_str().contains('@') {
        return None;
    }
    let scheme = if https { "https" } else { "http" };
    Some(format!("SPENROLL:1:{code}:{scheme}://{authority}"))
}

async fn page(
    state: &AppState,
    admin: &Admin,
    done: Option<&str>,
    code: Option<IssuedCodeView>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let users = store.users().await?;
    let devices = device_rows(
        &store.devices().await?,
        &store.device_activity().await?,
        &users,
        crate::unix_now(),
    );
    let staff = users
        .iter()
        .filter(|u| u.disabled_at.is_none())
        .filter(|u| {
            u.spec.role == Role::Courier
                || (u.spec.role == Role::StoreStaff && u.spec.outlet_id.is_some())
        })
        .map(|u| StaffOption {
            id: u.id.0,
            label: format!("{}({})", u.spec.username, u.spec.role.label()),
        })
        .collect();
    Ok(admin.send(&DevicesPage {
        chrome: admin.chrome("/admin/devices", done),
        devices,
        staff,
        can_manage: admin.is_admin(),
        code,
    }))
}

/// `GET /admin/devices`.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    page(&state, &admin, query.done.as_deref(), None).await
}

/// `POST /admin/devices/{id}/disable`.
pub async fn disable(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<u64>,
    Form(form): Form<PlainForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    enrollment::disable_device(
        &state.store,
        DeviceId(id),
        admin.user.id,
        "admin",
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/devices", "disabled"))
}

/// The enrollment code form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
}

/// `POST /admin/devices/enrollment-codes`: makes a code and shows it once, as text and QR.
pub async fn enrollment_code(
    State(state): State<AppState>,
    admin: Admin,
    uri: Uri,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let user_id: u64 = form
        .user_id
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("请选择送水员或店员"))?;
    let now = crate::unix_now();
    let issued = enrollment::create_code(
        &state.store,
        UserId(user_id),
        CODE_TTL_SECS,
        Some(admin.user.id),
        now,
    )
    .await
    .map_err(|err| match err {
        EnrollError::Invalid(message) => ApiError::bad_request(message),
        EnrollError::Store(crate::store::StoreError::NotFound) => {
            ApiError::bad_request("用户不存在")
        }
        other => ApiError::internal(&other),
    })?;
    let staff = state.store.user(UserId(user_id)).await?.spec.username;
    let qr_text = enroll_qr_text(
        &issued.code,
        state.config.secure_cookies(),
        &uri,
        &admin.headers,
    )
    .unwrap_or_default();
    let view = IssuedCodeView {
        qr_svg: if qr_text.is_empty() {
            String::new()
        } else {
            qr::svg(&qr_text).unwrap_or_default()
        },
        qr_text,
        code: issued.code,
        staff,
        expires: local_time::minute(issued.expires_at),
    };
    page(&state, &admin, None, Some(view)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::NewUser;

    #[test]
    fn the_enrollment_qr_carries_the_address_the_console_was_reached_at() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, value.parse().unwrap());
            headers
        };
        let path = Uri::from_static("/admin/devices/enrollment-codes");
        assert_eq!(
            enroll_qr_text("ABCD", false, &path, &host("127.0.0.1:8080")).as_deref(),
            Some("SPENROLL:1:ABCD:http://127.0.0.1:8080")
        );
        assert_eq!(
            enroll_qr_text("ABCD", true, &path, &host("shuipiao.example.com")).as_deref(),
            Some("SPENROLL:1:ABCD:https://shuipiao.example.com")
        );
        let absolute = Uri::from_static("https://water.example.com/admin/devices/enrollment-codes");
        assert_eq!(
            enroll_qr_text("ABCD", true, &absolute, &HeaderMap::new()).as_deref(),
            Some("SPENROLL:1:ABCD:https://water.example.com"),
            "HTTP/2 names the authority in the URI"
        );
        for bad in ["", "a b", "admin@evil.example", "evil.example/path"] {
            let value = bad.parse::<axum::http::HeaderValue>().ok();
            let headers = HeaderMap::from_iter(value.map(|value| (HOST, value)));
            assert_eq!(
                enroll_qr_text("ABCD", false, &path, &headers),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_device_is_stale_after_a_day_without_upload() {
        let now = 1_000_000;
        let device = |id: u64, enrolled_at: i64, disabled_at: Option<i64>| Device {
            id: DeviceId(id),
            name: format!("phone{id}"),
            user_id: UserId(7),
            public_key: [0; 32],
            token_hash: Vec::new(),
            enrolled_at,
            disabled_at,
        };
        let devices = [
            device(1, 0, None),
            device(2, 0, None),
            device(3, now - 60, None),
            device(4, 0, Some(5)),
        ];
        let activity = [
            DeviceActivity {
                device_id: DeviceId(1),
                last_push_at: Some(now - STALE_AFTER_SECS + 1),
                events: 4,
                pending_events: Some(2),
                last_sync_error: None,
                reported_at: Some(now - 30),
            },
            DeviceActivity {
                device_id: DeviceId(2),
                last_push_at: Some(now - STALE_AFTER_SECS - 1),
                events: 1,
                pending_events: None,
                last_sync_error: None,
                reported_at: None,
            },
        ];
        let users = [User {
            id: UserId(7),
            spec: NewUser {
                username: "courier11".into(),
                password_hash: String::new(),
                role: Role::Courier,
                account_id: None,
                region_id: None,
                outlet_id: None,
            },
            disabled_at: None,
            phone_sealed: None,
        }];
        let rows = device_rows(&devices, &activity, &users, now);
        let stale: Vec<bool> = rows.iter().map(|r| r.stale).collect();
        assert_eq!(stale, [false, true, false, false]);
        assert_eq!(rows[0].staff, "courier11");
        assert_eq!(rows[2].last_push, "从未上传");
        assert!(rows[3].disabled);
        assert_eq!(rows[0].pending, Some((2, local_time::minute(now - 30))));
        assert_eq!(rows[1].pending, None, "never reported");
    }
}
