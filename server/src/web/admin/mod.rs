//! The plant's admin console (desktop-first, zh-CN): the dashboard and operations monitor, the
//! support desk (ticket search, a book's ledger, revoke, lost-ticket reissue, the feedback inbox,
//! the notification outbox with resend), dispatch (派单) and route sheets, issuance, products and
//! packages, the review queue, keys, devices, the audit log, users, statistics and staff
//! performance.
//!
//! Every page is an entry of the route table with the roles that may open it; the left navigation
//! shows a role exactly the pages the table lets it open. Forms POST with the CSRF token and every
//! action goes through the domain modules, which write its audit entry.

mod buckets;
mod catalogue;
mod charts;
mod customers;
mod dashboard;
mod devices;
mod dispatch;
mod export;
mod inbox;
mod issue;
mod keys;
mod notifications;
mod password;
mod places;
mod review;
mod stats;
mod tickets;
mod users;

use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::http::auth::CurrentUser;
use crate::http::error::ApiError;
use crate::http::{ADMIN, Access, AppState, CONSOLE, DISPATCH, REPORTS, Route, STAFF, Surface};
use crate::store::models::{Role, User};
use crate::web::csrf::{self, CsrfToken};
use crate::web::{PageError, render};

const STYLESHEET: &str = include_str!("../../../static/admin.css");

/// `GET /static/admin.css`.
async fn stylesheet() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// One entry of the left navigation: a page and who may open it (the same roles as its route).
struct NavEntry {
    href: &'static str,
    label: &'static str,
    roles: &'static [Role],
}

const NAV: [NavEntry; 17] = [
    NavEntry {
        href: "/admin",
        label: "运营总览",
        roles: REPORTS,
    },
    NavEntry {
        href: "/admin/customers",
        label: "客户",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/tickets",
        label: "水票查询",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/inbox",
        label: "客服工单",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/notifications",
        label: "通知记录",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/dispatch",
        label: "派单",
        roles: DISPATCH,
    },
    NavEntry {
        href: "/admin/issue",
        label: "发放水票",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/review",
        label: "冲突处理",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/buckets",
        label: "客户水桶",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/stats",
        label: "统计分析",
        roles: REPORTS,
    },
    NavEntry {
        href: "/admin/staff",
        label: "员工绩效",
        roles: REPORTS,
    },
    NavEntry {
        href: "/admin/places",
        label: "区域与门店",
        roles: ADMIN,
    },
    NavEntry {
        href: "/admin/packages",
        label: "产品与套餐",
        roles: ADMIN,
    },
    NavEntry {
        href: "/admin/devices",
        label: "设备管理",
        roles: STAFF,
    },
    NavEntry {
        href: "/admin/keys",
        label: "签名密钥",
        roles: ADMIN,
    },
    NavEntry {
        href: "/admin/users",
        label: "用户与角色",
        roles: ADMIN,
    },
    NavEntry {
        href: "/admin/audit",
        label: "审计日志",
        roles: ADMIN,
    },
];

/// A navigation link as shown.
pub(crate) struct NavLink {
    href: &'static str,
    label: &'static str,
    active: bool,
}

/// What every admin page shows around its content.
pub(crate) struct Chrome {
    username: String,
    role: &'static str,
    csrf: String,
    nav: Vec<NavLink>,
    notice: Option<&'static str>,
}

/// The signed-in staff member of an admin request and their CSRF token.
pub(crate) struct Admin {
    user: User,
    token: CsrfToken,
    headers: HeaderMap,
}

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Admin, PageError> {
        let CurrentUser(user) = parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Admin {
            user,
            token: csrf::token(&parts.headers),
            headers: parts.headers.clone(),
        })
    }
}

impl Admin {
    /// The frame of a page under `current` (a navigation href), with the notice of `done`.
    fn chrome(&self, current: &str, done: Option<&str>) -> Chrome {
        let role = self.user.spec.role;
        Chrome {
            username: self.user.spec.username.clone(),
            role: role.label(),
            csrf: self.token.value.clone(),
            nav: NAV
                .iter()
                .filter(|entry| entry.roles.contains(&role))
                .map(|entry| NavLink {
                    href: entry.href,
                    label: entry.label,
                    active: entry.href == current,
                })
                .collect(),
            notice: done.and_then(notice),
        }
    }

    /// Whether the user is an admin (keys, users, disabling devices).
    fn is_admin(&self) -> bool {
        self.user.spec.role == Role::Admin
    }

    /// Refuses a form whose CSRF token is not this session's (400: the page went stale).
    fn check_form(&self, submitted: &str) -> Result<(), PageError> {
        if csrf::verify(&self.headers, submitted) {
            Ok(())
        } else {
            Err(ApiError::bad_request("页面已过期,请刷新页面后重新提交").into())
        }
    }

    /// Renders a page, setting the CSRF cookie if the browser had none.
    fn send(&self, page: &impl Template) -> Response {
        let mut response = render(page);
        if let Some(value) = self
            .token
            .set_cookie
            .as_deref()
            .and_then(|cookie| HeaderValue::from_str(cookie).ok())
        {
            response.headers_mut().append(SET_COOKIE, value);
        }
        response
    }
}

/// Query of pages that show a notice after an action.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct PlainForm {
    #[serde(default)]
    csrf: String,
}

/// The message shown after an action, by the key it redirects with (no free text is reflected).
fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "revoked" => "水票已作废,设备下次同步后拒收此票。",
        "reissued" => "已补发新水票,原票已作废。",
        "issued" => "水票已发放。",
        "resolved" => "冲突已处理,处理结果已写入账本与审计日志。",
        "rotated" => "已启用新签名密钥,旧密钥仍可验证已发水票。",
        "compromised" => "密钥已标记泄露,受影响水票已换发。",
        "disabled" => "设备已停用。",
        "user_created" => "用户已创建。",
        "user_updated" => "用户已更新。",
        "password_changed" => "密码已修改,其他设备上的登录已退出。",
        "password_reset" => "密码已重置,该员工的所有登录已退出,请把新密码当面告诉本人。",
        "ticket_updated" => "工单已更新。",
        "package_created" => "套餐已上架,可以发放了。",
        "package_retired" => "套餐已停售:不能再发放,已发出的水票照常使用。",
        "product_created" => "产品已新增,可以为它上架套餐了。",
        "region_created" => "区域已新增:可以为它开门店、设配送时段、添加送水员了。",
        "outlet_created" => "门店已新增,可以为它添加门店店员了。",
        "scope_created" => "使用范围已新增,上架套餐时可以选择。",
        "slots_saved" => "配送时段已保存,客户下单时按新时段选择。",
        "resent" => "通知已重新排队,稍后发送。",
        "dispatched" => "已自动派单,送水员的手机同步后即可看到。",
        "dispatched_partly" => "已自动派单;有订单所在区域没有可用的送水员,仍为待派单。",
        "assigned" => "已派单,送水员的手机同步后即可看到。",
        "order_cancelled" => "订单已取消,送水员的手机同步后不再显示。",
        "buckets_recorded" => "已登记,客户的水桶账已更新。",
        "deposit_saved" => "押金已保存,此后收退押金按新金额计。",
        _ => return None,
    })
}

/// After a successful form: back to `path` with the notice `done`.
fn done(path: &str, done: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{separator}done={done}")).into_response()
}

fn page<H, T>(method: Method, path: &'static str, roles: &'static [Role], handler: H) -> Route
where
    H: axum::handler::Handler<T, AppState>,
    T: 'static,
{
    Route::new(Surface::Page, method, path, Access::Roles(roles), handler)
}

/// The admin pages, merged into the route table by `web::routes`.
pub fn routes() -> Vec<Route> {
    let (get, post) = (Method::GET, Method::POST);
    vec![
        Route::new(
            Surface::Page,
            get.clone(),
            "/static/admin.css",
            Access::Public,
            stylesheet,
        ),
        page(get.clone(), "/admin", REPORTS, dashboard::show),
        page(get.clone(), "/admin/tickets", STAFF, tickets::search),
        page(get.clone(), "/admin/books/{id}", STAFF, tickets::book),
        page(
            post.clone(),
            "/admin/books/{id}/revoke",
            STAFF,
            tickets::revoke,
        ),
        page(
            post.clone(),
            "/admin/books/{id}/reissue",
            STAFF,
            tickets::reissue,
        ),
        page(get.clone(), "/admin/inbox", STAFF, inbox::list),
        page(post.clone(), "/admin/inbox/{id}", STAFF, inbox::update),
        page(
            get.clone(),
            "/admin/notifications",
            STAFF,
            notifications::list,
        ),
        page(
            post.clone(),
            "/admin/notifications/{id}/resend",
            STAFF,
            notifications::resend,
        ),
        page(get.clone(), "/admin/dispatch", DISPATCH, dispatch::show),
        page(
            post.clone(),
            "/admin/dispatch/auto",
            DISPATCH,
            dispatch::auto,
        ),
        page(
            post.clone(),
            "/admin/dispatch/orders/{id}/assign",
            DISPATCH,
            dispatch::assign,
        ),
        page(
            post.clone(),
            "/admin/dispatch/orders/{id}/cancel",
            DISPATCH,
            dispatch::cancel,
        ),
        page(
            get.clone(),
            "/admin/dispatch/sheet",
            DISPATCH,
            dispatch::sheet,
        ),
        page(get.clone(), "/admin/issue", STAFF, issue::form),
        page(post.clone(), "/admin/issue", STAFF, issue::submit),
        page(get.clone(), "/admin/review", STAFF, review::list),
        page(
            post.clone(),
            "/admin/review/{event_id}/resolve",
            STAFF,
            review::resolve,
        ),
        page(get.clone(), "/admin/buckets", STAFF, buckets::show),
        page(get.clone(), "/admin/customers", STAFF, customers::list),
        page(get.clone(), "/admin/customers/{id}", STAFF, customers::show),
        page(
            post.clone(),
            "/admin/buckets/{id}/records",
            STAFF,
            buckets::record,
        ),
        page(get.clone(), "/admin/packages", ADMIN, catalogue::list),
        page(
            post.clone(),
            "/admin/products/{id}/deposit",
            ADMIN,
            catalogue::set_deposit,
        ),
        page(post.clone(), "/admin/packages", ADMIN, catalogue::create),
        page(
            post.clone(),
            "/admin/packages/{id}/retire",
            ADMIN,
            catalogue::retire,
        ),
        page(
            post.clone(),
            "/admin/products",
            ADMIN,
            catalogue::create_product,
        ),
        page(get.clone(), "/admin/places", ADMIN, places::show),
        page(post.clone(), "/admin/regions", ADMIN, places::create_region),
        page(post.clone(), "/admin/outlets", ADMIN, places::create_outlet),
        page(post.clone(), "/admin/scopes", ADMIN, places::create_scope),
        page(
            post.clone(),
            "/admin/regions/{id}/slots",
            ADMIN,
            catalogue::set_slots,
        ),
        page(get.clone(), "/admin/keys", ADMIN, keys::list),
        page(post.clone(), "/admin/keys/rotate", ADMIN, keys::rotate),
        page(
            post.clone(),
            "/admin/keys/{kid}/compromise",
            ADMIN,
            keys::compromise,
        ),
        page(get.clone(), "/admin/devices", STAFF, devices::list),
        page(
            post.clone(),
            "/admin/devices/{id}/disable",
            ADMIN,
            devices::disable,
        ),
        page(
            post.clone(),
            "/admin/devices/enrollment-codes",
            ADMIN,
            devices::enrollment_code,
        ),
        page(get.clone(), "/admin/password", CONSOLE, password::form),
        page(post.clone(), "/admin/password", CONSOLE, password::change),
        page(get.clone(), "/admin/users", ADMIN, users::list),
        page(post.clone(), "/admin/users", ADMIN, users::create),
        page(post.clone(), "/admin/users/{id}", ADMIN, users::update),
        page(
            post,
            "/admin/users/{id}/password",
            ADMIN,
            users::reset_password,
        ),
        page(get.clone(), "/admin/audit", ADMIN, users::audit),
        page(get.clone(), "/admin/stats", REPORTS, stats::show),
        page(get.clone(), "/admin/stats/export", REPORTS, stats::export),
        page(get.clone(), "/admin/staff", REPORTS, stats::staff),
        page(get, "/admin/staff/export", REPORTS, stats::staff_export),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The navigation offers a role exactly the admin pages the route table lets it open.
    #[test]
    fn navigation_matches_the_route_table() {
        let table = routes();
        for entry in &NAV {
            let route = table
                .iter()
                .find(|r| r.path == entry.href && r.method == Method::GET)
                .unwrap_or_else(|| panic!("{} is a page", entry.href));
            assert_eq!(route.access, Access::Roles(entry.roles), "{}", entry.href);
        }
    }
}
