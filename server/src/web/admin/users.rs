//! Users and roles (admins only): staff accounts with their region or store, role changes,
//! disabling and re-enabling sign-in, a new password for staff who lost theirs; and the audit
//! log of every admin action.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use shuipiao_shared::ids::UserId;

use crate::accounts::{self, AccountError, Actor, STAFF_ROLES, UserChange, UserRequest};
use crate::auth::credentials::{self, CredentialError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::local_time;
use crate::store::Store;
use crate::store::audit;
use crate::store::models::{AuditRecord, Role, User};
use crate::web::admin::{Admin, Chrome, DoneQuery, done};
use crate::web::{PageError, PagePath, PageQuery};

/// Audit entries per page.
const AUDIT_PAGE: u32 = 100;
/// Who the audit log names for entries without a user (the command line, background jobs).
const SYSTEM_ACTOR: &str = "命令行/系统";

struct RoleOption {
    key: &'static str,
    label: &'static str,
}

struct Place {
    id: i64,
    name: String,
}

struct UserRow {
    id: u64,
    username: String,
    role: Role,
    role_label: &'static str,
    place: String,
    disabled: bool,
    staff: bool,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserRow>,
    roles: Vec<RoleOption>,
    regions: Vec<Place>,
    outlets: Vec<Place>,
}

/// `GET /admin/users`.
pub async fn list(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<DoneQuery>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let regions: Vec<Place> = store
        .regions()
        .await?
        .into_iter()
        .map(|r| Place {
            id: r.id,
            name: r.name,
        })
        .collect();
    let outlets: Vec<Place> = store
        .outlets()
        .await?
        .into_iter()
        .map(|o| Place {
            id: o.id,
            name: o.name,
        })
        .collect();
    let place_name = |places: &[Place], id: Option<i64>| {
        id.and_then(|id| places.iter().find(|p| p.id == id))
            .map(|p| p.name.clone())
    };
    let users = store
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            id: u.id.0,
            place: place_name(&outlets, u.spec.outlet_id)
                .or_else(|| place_name(&regions, u.spec.region_id))
                .unwrap_or_default(),
            role_label: u.spec.role.label(),
            staff: STAFF_ROLES.contains(&u.spec.role),
            is_self: u.id == admin.user.id,
            disabled: u.disabled_at.is_some(),
            role: u.spec.role,
            username: u.spec.username,
        })
        .collect();
    Ok(admin.send(&UsersPage {
        chrome: admin.chrome("/admin/users", query.done.as_deref()),
        users,
        roles: STAFF_ROLES
            .iter()
            .map(|r| RoleOption {
                key: r.as_str(),
                label: r.label(),
            })
            .collect(),
        regions,
        outlets,
    }))
}

/// The new-user form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    outlet: String,
}

/// A role from the form's list; which roles the console may hand out is
/// [`accounts`]' rule.
fn role(text: &str) -> Result<Role, PageError> {
    Role::parse(text.trim()).ok_or_else(|| ApiError::from(AccountError::NotStaffRole).into())
}

fn optional_id(text: &str) -> Result<Option<i64>, PageError> {
    match text.trim() {
        "" => Ok(None),
        id => id
            .parse()
            .map(Some)
            .map_err(|_| ApiError::bad_request("区域或门店无效").into()),
    }
}

/// `POST /admin/users`: the rules are [`accounts::create_user`]'s. The form offers a region and
/// a store whatever the role; the one the role uses is taken.
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<CreateForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let role = role(&form.role)?;
    let request = UserRequest {
        username: &form.username,
        password: &form.password,
        role,
        account_id: None,
        region_id: optional_id(&form.region)?.filter(|_| role == Role::Courier),
        outlet_id: optional_id(&form.outlet)?.filter(|_| role == Role::StoreStaff),
    };
    accounts::create_user(
        &state.store,
        &request,
        Actor::console(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/users", "user_created"))
}

/// The change-user form.
#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    status: String,
}

/// The user a form is about.
async fn target_user(store: &Store, id: u64) -> Result<User, PageError> {
    store
        .user(UserId(id))
        .await
        .map_err(|_| ApiError::from(AccountError::UnknownUser).into())
}

/// `POST /admin/users/{id}`: sets the role and whether the user may sign in, under
/// [`accounts::update_user`]'s rules.
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<u64>,
    Form(form): Form<UpdateForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let role = match form.role.trim() {
        "" => None,
        text => Some(role(text)?),
    };
    let disabled = match form.status.as_str() {
        "disabled" => true,
        "active" => false,
        _ => return Err(ApiError::bad_request("请选择启用或停用").into()),
    };
    accounts::update_user(
        &state.store,
        Actor::console(admin.user.id),
        UserId(id),
        UserChange { role, disabled },
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    Ok(done("/admin/users", "user_updated"))
}

/// The reset-password form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /admin/users/{id}/password`: gives a staff member a new password (to hand over in
/// person) and ends all their sessions. Customers reset theirs by SMS code.
pub async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    PagePath(id): PagePath<u64>,
    Form(form): Form<ResetForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let target = target_user(&state.store, id).await?;
    let now = crate::unix_now();
    match credentials::reset_staff(
        &state.store,
        Some(&admin.user),
        &target,
        &form.new_password,
        now,
    )
    .await
    {
        Ok(()) => Ok(done("/admin/users", "password_reset")),
        Err(CredentialError::Store(err)) => Err(err.into()),
        Err(CredentialError::Hash(err)) => Err(ApiError::internal(&err).into()),
        Err(err) => Err(ApiError::bad_request(err.to_string()).into()),
    }
}

/// An audit entry as shown.
pub(super) struct AuditRow {
    pub id: i64,
    pub at: String,
    pub who: String,
    pub action: String,
    pub target: String,
    pub detail: String,
}

/// Audit entries as shown, with the names of their actors.
async fn shown(store: &Store, records: Vec<AuditRecord>) -> Result<Vec<AuditRow>, PageError> {
    let names: HashMap<i64, String> = store
        .users()
        .await?
        .into_iter()
        .map(|u| (u.id.0 as i64, u.spec.username))
        .collect();
    Ok(records
        .into_iter()
        .map(|r| AuditRow {
            id: r.id,
            at: local_time::minute(r.at),
            who: r
                .actor_user_id
                .and_then(|id| names.get(&id).cloned())
                .unwrap_or_else(|| SYSTEM_ACTOR.into()),
            action: r.action,
            target: r.target,
            detail: r.detail,
        })
        .collect())
}

/// The newest `limit` audit entries with the names of their actors.
pub(super) async fn audit_rows(store: &Store, limit: u32) -> Result<Vec<AuditRow>, PageError> {
    shown(store, store.audit_log(limit).await?).await
}

/// Actions the audit page filters by, with their zh-CN names; issuance first, since that is what
/// a plant reviews per operator.
const AUDITED_ACTIONS: [(&str, &str); 15] = [
    ("order.issue", "发放水票(订单)"),
    ("book.gift", "赠送水票"),
    ("book.reissue", "补发水票"),
    ("book.revoke", "作废水票"),
    ("book.allocate", "企业内分配"),
    ("book.bind_holder", "启用动态码"),
    ("review.resolve", "冲突处理"),
    ("package.create", "上架套餐"),
    ("account.create", "创建账户"),
    ("user.create", "创建用户"),
    ("user.update", "修改用户"),
    ("device.enrollment_code", "设备注册码"),
    ("device.disable", "停用设备"),
    ("key.rotate", "轮换密钥"),
    ("key.compromise", "标记密钥泄露"),
];

/// Roles whose members act in the console or for an enterprise, offered as the actor filter.
const ACTOR_ROLES: [Role; 3] = [Role::Operator, Role::Admin, Role::EnterpriseAdmin];

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    q: String,
    actor: String,
    action: String,
    actors: Vec<String>,
    actions: &'static [(&'static str, &'static str)],
    rows: Vec<AuditRow>,
    /// Id to page older from, when older entries match.
    older: Option<i64>,
    /// Id to page newer from, when newer entries match.
    newer: Option<i64>,
}

/// Query of the audit page: the filters and where the page starts.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    q: String,
    /// Only this login name's entries.
    #[serde(default)]
    actor: String,
    /// Only this action's entries.
    #[serde(default)]
    action: String,
    /// Entries older than this id.
    before: Option<i64>,
    /// Entries newer than this id.
    after: Option<i64>,
}

/// `GET /admin/audit?q=…&actor=…&action=…&before=ID|after=ID`: admin actions, newest first, a
/// page at a time, filtered by text (action, target, detail or actor), by one actor and by one
/// action, e.g. everything one operator issued.
pub async fn audit(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(query): PageQuery<AuditQuery>,
) -> Result<Response, PageError> {
    let needle = query.q.trim();
    let actor = query.actor.trim();
    let action = query.action.trim();
    let page = state
        .store
        .audit_page(&audit::AuditQuery {
            text: needle.into(),
            actorless: SYSTEM_ACTOR.contains(needle),
            action: action.into(),
            actor: actor.into(),
            before: query.before,
            after: query.after,
            limit: AUDIT_PAGE,
        })
        .await?;
    let rows = shown(&state.store, page.entries).await?;
    let actors = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| ACTOR_ROLES.contains(&u.spec.role))
        .map(|u| u.spec.username)
        .collect();
    Ok(admin.send(&AuditPage {
        chrome: admin.chrome("/admin/audit", None),
        older: rows.last().filter(|_| page.older).map(|r| r.id),
        newer: rows.first().filter(|_| page.newer).map(|r| r.id),
        q: needle.into(),
        actor: actor.into(),
        action: action.into(),
        actors,
        actions: &AUDITED_ACTIONS,
        rows,
    }))
}
