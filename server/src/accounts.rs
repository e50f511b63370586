//! Accounts (customers, enterprises and their members) and users: every write on them that an
//! operator or admin makes — creating an account, creating a user, changing a user's role and
//! whether they may sign in. The JSON API, the users page, `create-admin` and the demo call these
//! functions, so the same bad input gets the same zh-CN message everywhere, nothing is written
//! until every rule holds, and each write carries its audit entry. (Customers signing up
//! themselves go through `signup`; password changes and resets through `auth::credentials`.)

use serde_json::json;
use shuipiao_shared::ids::UserId;

use crate::auth::password::{self, ChooseError, HashError, WeakPassword};
use crate::store::models::{Account, AccountKind, AuditEntry, NewAccount, NewUser, Role, User};
use crate::store::{ConflictKind, Store, StoreError};

/// Longest login name, in characters.
pub const MAX_USERNAME_CHARS: usize = 32;
/// Longest account name, in characters (what a company's registered name needs).
pub const MAX_ACCOUNT_NAME_CHARS: usize = 40;

/// Roles of the plant's own staff, which the console hands out and may change between;
/// customers and enterprise admins sign in to the wallet and keep their role.
pub const STAFF_ROLES: [Role; 6] = [
    Role::Courier,
    Role::StoreStaff,
    Role::Statistician,
    Role::Dispatcher,
    Role::Operator,
    Role::Admin,
];

/// Why a write on accounts or users was refused; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The login name breaks [`username`]'s rule.
    #[error("登录名为 1–32 位字母、数字、汉字、下划线、点或横线")]
    Username,
    /// The password breaks `auth::password`'s rule.
    #[error(transparent)]
    Weak(#[from] WeakPassword),
    /// A courier without a region.
    #[error("送水员需要选择服务区域")]
    CourierWithoutRegion,
    /// A store clerk without a store.
    #[error("门店店员需要选择门店")]
    ClerkWithoutOutlet,
    /// A region for someone other than a courier, or a store for someone other than a clerk.
    #[error("只有送水员关联服务区域,只有门店店员关联门店")]
    PlaceNotForRole,
    /// A wallet user without an account, or a staff member with one.
    #[error("客户和企业管理员必须关联账户,其他角色不能关联账户")]
    AccountLink,
    /// The account a wallet user is linked to does not exist.
    #[error("账户不存在")]
    UnknownAccount,
    /// A customer linked to an enterprise, or an enterprise admin to a customer account.
    #[error("客户只能关联客户账户,企业管理员只能关联企业账户")]
    AccountKind,
    /// The account name is empty or too long.
    #[error("账户名称为 1–40 个字")]
    AccountName,
    /// The enterprise a member is put in does not exist.
    #[error("所属企业不存在")]
    UnknownEnterprise,
    /// An enterprise put inside another.
    #[error("企业账户不能隶属于其他企业")]
    NestedEnterprise,
    /// The user a change is about does not exist.
    #[error("用户不存在")]
    UnknownUser,
    /// An admin would lock themselves out.
    #[error("不能修改自己的角色或停用自己")]
    SelfLockout,
    /// Customers and enterprise admins keep their role.
    #[error("客户账号的角色不能在这里修改")]
    WalletRole,
    /// A staff member can only be given another staff role.
    #[error("请选择员工角色")]
    NotStaffRole,
    /// A user without a region made a courier.
    #[error("该用户没有服务区域,不能改为送水员")]
    NoRegionForCourier,
    /// A user without a store made a store clerk.
    #[error("该用户没有所属门店,不能改为门店店员")]
    NoOutletForClerk,
    /// Hashing the password failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Storage failed or the write collides with existing data (a taken login name, a region or
    /// store that does not exist).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ChooseError> for AccountError {
    fn from(err: ChooseError) -> AccountError {
        match err {
            ChooseError::Weak(weak) => AccountError::Weak(weak),
            ChooseError::Hash(err) => AccountError::Hash(err),
        }
    }
}

/// Who writes, as the audit log names them: the signed-in user (none for the command line and
/// the demo) and the surface (`api`, `admin`, `cli`, `demo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user acting, if any.
    pub user: Option<UserId>,
    /// The surface, kept in the audit entry's detail.
    pub via: &'static str,
}

impl Actor {
    /// A user of the JSON API.
    pub fn api(user: UserId) -> Actor {
        Actor {
            user: Some(user),
            via: "api",
        }
    }

    /// A user of the admin console.
    pub fn console(user: UserId) -> Actor {
        Actor {
            user: Some(user),
            via: "admin",
        }
    }

    /// The `shuipiao-server` command line.
    pub const COMMAND_LINE: Actor = Actor {
        user: None,
        via: "cli",
    };

    /// The demo data set.
    pub const DEMO: Actor = Actor {
        user: None,
        via: "demo",
    };
}

/// A login name as typed, trimmed: 1–[`MAX_USERNAME_CHARS`] characters, each an ASCII letter or
/// digit, `_`, `.`, `-`, or a CJK ideograph (staff often sign in with their Chinese name). No
/// whitespace, punctuation or other scripts, so a name cannot hide a look-alike of another in
/// the console or the audit log.
pub fn username(typed: &str) -> Result<&str, AccountError> {
    let name = typed.trim();
    let allowed = |c: char| {
        c.is_ascii_alphanumeric() || "_-.".contains(c) || ('\u{4e00}'..='\u{9fff}').contains(&c)
    };
    if name.is_empty() || name.chars().count() > MAX_USERNAME_CHARS || !name.chars().all(allowed) {
        return Err(AccountError::Username);
    }
    Ok(name)
}

/// A user as asked for, before any rule is checked.
#[derive(Debug, Clone, Copy)]
pub struct UserRequest<'a> {
    /// Login name as typed.
    pub username: &'a str,
    /// Initial password as typed.
    pub password: &'a str,
    /// Role.
    pub role: Role,
    /// Account, for customers and enterprise admins only.
    pub account_id: Option<i64>,
    /// Region, for couriers only.
    pub region_id: Option<i64>,
    /// Store, for store clerks only.
    pub outlet_id: Option<i64>,
}

/// The rules that need no database: the login name, the password, the role's place and account.
/// Returns the trimmed login name.
fn check_request<'a>(request: &UserRequest<'a>) -> Result<&'a str, AccountError> {
    let name = username(request.username)?;
    password::check(name, request.password)?;
    match request.role {
        Role::Courier if request.region_id.is_none() => {
            return Err(AccountError::CourierWithoutRegion);
        }
        Role::StoreStaff if request.outlet_id.is_none() => {
            return Err(AccountError::ClerkWithoutOutlet);
        }
        _ => {}
    }
    if (request.region_id.is_some() && request.role != Role::Courier)
        || (request.outlet_id.is_some() && request.role != Role::StoreStaff)
    {
        return Err(AccountError::PlaceNotForRole);
    }
    let wallet_kind = match request.role {
        Role::Customer => Some(AccountKind::Customer),
        Role::EnterpriseAdmin => Some(AccountKind::Enterprise),
        _ => None,
    };
    if wallet_kind.is_some() != request.account_id.is_some() {
        return Err(AccountError::AccountLink);
    }
    Ok(name)
}

/// Creates a user after checking every rule: the login name ([`username`]), the password
/// (`auth::password`), a courier's region and a clerk's store (and nobody else's), and a wallet
/// user's account of the matching kind. A region or store that does not exist, or a login name
/// taken, is the store's conflict.
pub async fn create_user(
    store: &Store,
    request: &UserRequest<'_>,
    actor: Actor,
    now: i64,
) -> Result<User, AccountError> {
    create(store, request, None, actor, now).await
}

/// [`create_user`] with `hash`, the already made hash of `request.password`, which is still
/// checked against the rule: the demo hashes its one password once for all its users.
pub async fn create_user_with_hash(
    store: &Store,
    request: &UserRequest<'_>,
    hash: &str,
    actor: Actor,
    now: i64,
) -> Result<User, AccountError> {
    create(store, request, Some(hash), actor, now).await
}

async fn create(
    store: &Store,
    request: &UserRequest<'_>,
    hash: Option<&str>,
    actor: Actor,
    now: i64,
) -> Result<User, AccountError> {
    let name = check_request(request)?;
    if let Some(account_id) = request.account_id {
        let account = match store.account(account_id).await {
            Ok(account) => account,
            Err(StoreError::NotFound) => return Err(AccountError::UnknownAccount),
            Err(err) => return Err(err.into()),
        };
        let wanted = match request.role {
            Role::EnterpriseAdmin => AccountKind::Enterprise,
            _ => AccountKind::Customer,
        };
        if account.spec.kind != wanted {
            return Err(AccountError::AccountKind);
        }
    }
    let password_hash = match hash {
        Some(hash) => hash.to_string(),
        None => password::choose(name, request.password).await?,
    };
    let user = NewUser {
        username: name.to_string(),
        password_hash,
        role: request.role,
        account_id: request.account_id,
        region_id: request.region_id,
        outlet_id: request.outlet_id,
    };
    let audit = AuditEntry::new(
        actor.user,
        "user.create",
        format!("user:{name}"),
        json!({ "role": request.role.as_str(), "via": actor.via }),
    );
    Ok(store.create_user(&user, now, &audit).await?)
}

/// Creates an account: a trimmed name of 1–[`MAX_ACCOUNT_NAME_CHARS`] characters; a member
/// customer belongs to an enterprise that exists; an enterprise belongs to nobody.
pub async fn create_account(
    store: &Store,
    account: &NewAccount,
    actor: Actor,
    now: i64,
) -> Result<Account, AccountError> {
    let name = account.name.trim();
    if name.is_empty() || name.chars().count() > MAX_ACCOUNT_NAME_CHARS {
        return Err(AccountError::AccountName);
    }
    if let Some(enterprise_id) = account.enterprise_id {
        if account.kind == AccountKind::Enterprise {
            return Err(AccountError::NestedEnterprise);
        }
        match store.account(enterprise_id).await {
            Ok(found) if found.spec.kind == AccountKind::Enterprise => {}
            // The store's own conflict, which it also raises inside its transaction.
            Ok(_) => return Err(StoreError::Conflict(ConflictKind::NotEnterprise).into()),
            Err(StoreError::NotFound) => return Err(AccountError::UnknownEnterprise),
            Err(err) => return Err(err.into()),
        }
    }
    let account = NewAccount {
        name: name.to_string(),
        ..account.clone()
    };
    let audit = AuditEntry::new(
        actor.user,
        "account.create",
        format!("account:{name}"),
        json!({ "kind": account.kind.as_str(), "via": actor.via }),
    );
    Ok(store.create_account(&account, now, &audit).await?)
}

/// A change to a user: their role (`None` keeps it) and whether they may sign in.
#[derive(Debug, Clone, Copy)]
pub struct UserChange {
    /// The new role.
    pub role: Option<Role>,
    /// Whether sign-in is refused.
    pub disabled: bool,
}

/// What a change may do: an admin cannot lock themselves out; only staff change role, and only
/// to a staff role; a courier has a region and a clerk a store.
fn allowed_change(
    actor: Option<UserId>,
    target: &User,
    role: Role,
    disabled: bool,
) -> Result<(), AccountError> {
    if Some(target.id) == actor && (role != target.spec.role || disabled) {
        return Err(AccountError::SelfLockout);
    }
    if role == target.spec.role {
        return Ok(());
    }
    if !STAFF_ROLES.contains(&target.spec.role) {
        return Err(AccountError::WalletRole);
    }
    match role {
        _ if !STAFF_ROLES.contains(&role) => Err(AccountError::NotStaffRole),
        Role::Courier if target.spec.region_id.is_none() => Err(AccountError::NoRegionForCourier),
        Role::StoreStaff if target.spec.outlet_id.is_none() => Err(AccountError::NoOutletForClerk),
        _ => Ok(()),
    }
}

/// `admin` sets `target`'s role and whether they may sign in. Disabling ends their sessions and
/// disables their devices in the same step (see `Store::update_user`).
pub async fn update_user(
    store: &Store,
    admin: Actor,
    target: UserId,
    change: UserChange,
    now: i64,
) -> Result<User, AccountError> {
    let target = match store.user(target).await {
        Ok(user) => user,
        Err(StoreError::NotFound) => return Err(AccountError::UnknownUser),
        Err(err) => return Err(err.into()),
    };
    let role = change.role.unwrap_or(target.spec.role);
    allowed_change(admin.user, &target, role, change.disabled)?;
    let audit = AuditEntry::new(
        admin.user,
        "user.update",
        format!("user:{}", target.spec.username),
        json!({
            "role": role.as_str(),
            "was": target.spec.role.as_str(),
            "disabled": change.disabled,
            "via": admin.via,
        }),
    );
    Ok(store
        .update_user(target.id, role, change.disabled, now, &audit)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, role: Role, region_id: Option<i64>) -> User {
        User {
            id: UserId(id),
            spec: NewUser {
                username: format!("u{id}"),
                password_hash: String::new(),
                role,
                account_id: None,
                region_id,
                outlet_id: None,
            },
            disabled_at: None,
            phone_sealed: None,
        }
    }

    #[test]
    fn login_names_are_trimmed_and_plain() {
        assert_eq!(username(" courier31 ").unwrap(), "courier31");
        assert_eq!(username("张师傅").unwrap(), "张师傅");
        assert_eq!(username(&"x".repeat(32)).unwrap().len(), 32);
        for bad in [
            "",
            "  ",
            "zhang san",
            "a\tb",
            "a<b",
            "аdmin",
            &"x".repeat(33),
        ] {
            assert!(username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn every_role_has_its_place() {
        let request = |role, account_id, region_id, outlet_id| UserRequest {
            username: "someone",
            password: "long enough",
            role,
            account_id,
            region_id,
            outlet_id,
        };
        let check = |r| check_request(&r).err().map(|e| e.to_string());
        assert_eq!(check(request(Role::Courier, None, Some(1), None)), None);
        assert_eq!(check(request(Role::Statistician, None, None, None)), None);
        assert_eq!(check(request(Role::Customer, Some(1), None, None)), None);
        assert!(matches!(
            check_request(&request(Role::Courier, None, None, None)),
            Err(AccountError::CourierWithoutRegion)
        ));
        assert!(matches!(
            check_request(&request(Role::StoreStaff, None, Some(1), None)),
            Err(AccountError::ClerkWithoutOutlet)
        ));
        assert!(matches!(
            check_request(&request(Role::Operator, None, Some(1), None)),
            Err(AccountError::PlaceNotForRole)
        ));
        assert!(matches!(
            check_request(&request(Role::Operator, Some(1), None, None)),
            Err(AccountError::AccountLink)
        ));
        assert!(matches!(
            check_request(&request(Role::EnterpriseAdmin, None, None, None)),
            Err(AccountError::AccountLink)
        ));
    }

    #[test]
    fn admins_cannot_lock_themselves_out() {
        let me = user(1, Role::Admin, None);
        assert!(allowed_change(Some(me.id), &me, Role::Admin, false).is_ok());
        assert!(allowed_change(Some(me.id), &me, Role::Operator, false).is_err());
        assert!(allowed_change(Some(me.id), &me, Role::Admin, true).is_err());
        let other = user(2, Role::Operator, None);
        assert!(allowed_change(Some(me.id), &other, Role::Admin, true).is_ok());
        assert!(matches!(
            allowed_change(Some(me.id), &other, Role::Courier, false),
            Err(AccountError::NoRegionForCourier)
        ));
        assert!(matches!(
            allowed_change(Some(me.id), &other, Role::Customer, false),
            Err(AccountError::NotStaffRole)
        ));
        let placed = user(4, Role::Operator, Some(7));
        assert!(allowed_change(Some(me.id), &placed, Role::Courier, false).is_ok());
        let customer = user(3, Role::Customer, None);
        assert!(allowed_change(Some(me.id), &customer, Role::Customer, true).is_ok());
        assert!(allowed_change(Some(me.id), &customer, Role::Courier, false).is_err());
    }
}
