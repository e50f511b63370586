//! Enterprise membership by consent, and what an enterprise may see and take back of its
//! members' books. Shared by the enterprise page, the wallet and the join page.
//!
//! An enterprise admin only *invites* a phone number. The customer becomes a member by accepting:
//! on the invitation card in 我的水票, or with the code the invitation SMS carries (a phone
//! without an account gets one then). Invitations expire, the enterprise can withdraw an
//! unanswered one, and a member may leave at any time. Membership gives the enterprise nothing
//! over the member's own books: it sees and takes back only what it handed out
//! ([`member_books`], [`reclaim`]).

use serde_json::json;
use shuipiao_shared::ids::BookId;
use shuipiao_shared::status::BookState;

use crate::accounts::{self, AccountError};
use crate::auth::token;
use crate::config::MasterKey;
use crate::issuance::{self, IssueError};
use crate::local_time;
use crate::notify;
use crate::pii::Phone;
use crate::signup;
use crate::store::models::{
    Account, AuditEntry, Book, Invitation, InvitationLimits, InvitationState, MessageKind,
    NewInvitation, Role, User,
};
use crate::store::{ConflictKind, Store, StoreError, StoreResult};
use crate::wallet::{self, AllocationError, Names, WalletStatus};

/// How long an invitation can be accepted.
pub const INVITATION_TTL_DAYS: i64 = 7;
/// Invitations one enterprise may send per hour: enough to bring a department in, too few to
/// use the plant's SMS account for spam.
const INVITATIONS_PER_ENTERPRISE_PER_HOUR: i64 = 50;
/// After a customer declines, the same enterprise may not ask again for this long.
const DECLINED_QUIET_DAYS: i64 = 30;
/// Invitations the enterprise page lists.
const LISTED_INVITATIONS: u32 = 100;
const DAY_SECS: i64 = 86_400;

/// Why a membership step was refused; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum EnterpriseError {
    /// Only an enterprise admin invites.
    #[error("只有企业管理员可以邀请成员")]
    NotEnterpriseAdmin,
    /// Another enterprise's members.
    #[error("只能查看本企业的成员")]
    OtherEnterprise,
    /// An invitation needs a name for the enterprise's list.
    #[error("请填写成员姓名")]
    NameMissing,
    /// The invitee's name, or the login name made from the phone, breaks the rule of every
    /// account and user (`accounts`).
    #[error(transparent)]
    Name(AccountError),
    /// The phone's customer is a member already.
    #[error("该客户已是本企业成员")]
    AlreadyMember,
    /// The enterprise's earlier invitation is still open.
    #[error("已邀请该手机号,请等待对方接受")]
    AlreadyInvited,
    /// The customer declined this enterprise recently.
    #[error("对方已拒绝本企业的邀请,30 天内不能再次邀请")]
    RecentlyDeclined,
    /// Too many invitations to this phone, or from this enterprise.
    #[error("邀请发送太频繁,请稍后再试")]
    TooManyInvitations,
    /// Unknown, not the customer's, answered, withdrawn or expired.
    #[error("邀请不存在或已失效")]
    NoInvitation,
    /// Wrong code, or no open invitation for the phone.
    #[error("邀请码错误或已过期")]
    WrongCode,
    /// The customer belongs to another enterprise.
    #[error("您已加入其他企业,请先退出后再接受邀请")]
    InOtherEnterprise,
    /// The phone belongs to a staff or enterprise admin login.
    #[error("该手机号的账号不能加入企业")]
    CannotJoin,
    /// Leaving without being a member.
    #[error("您不是企业成员")]
    NotAMember,
    /// Handing the enterprise's books back failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An invitation as its lists show it: its stored state, with an unanswered one past its time
/// shown as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    /// 待接受.
    Pending,
    /// 已过期.
    Expired,
    /// 已加入.
    Accepted,
    /// 已拒绝.
    Declined,
    /// 已撤回.
    Withdrawn,
    /// 已退出.
    Left,
}

impl InvitationStatus {
    /// The status of `invitation` at `now`.
    pub fn of(invitation: &Invitation, now: i64) -> InvitationStatus {
        match invitation.state {
            InvitationState::Pending if invitation.expires_at <= now => InvitationStatus::Expired,
            InvitationState::Pending => InvitationStatus::Pending,
            InvitationState::Expired => InvitationStatus::Expired,
            InvitationState::Accepted => InvitationStatus::Accepted,
            InvitationState::Declined => InvitationStatus::Declined,
            InvitationState::Withdrawn => InvitationStatus::Withdrawn,
            InvitationState::Left => InvitationStatus::Left,
        }
    }

    /// zh-CN label.
    pub fn label(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "待接受",
            InvitationStatus::Expired => "已过期",
            InvitationStatus::Accepted => "已加入",
            InvitationStatus::Declined => "已拒绝",
            InvitationStatus::Withdrawn => "已撤回",
            InvitationStatus::Left => "已退出",
        }
    }

    /// Stable key for CSS classes.
    pub fn key(self) -> &'static str {
        match self {
            InvitationStatus::Pending => "pending",
            InvitationStatus::Expired => "expired",
            InvitationStatus::Accepted => "accepted",
            InvitationStatus::Declined => "declined",
            InvitationStatus::Withdrawn => "withdrawn",
            InvitationStatus::Left => "left",
        }
    }
}

/// The enterprise an enterprise admin acts for.
fn admin_enterprise(admin: &User) -> Result<i64, EnterpriseError> {
    match (admin.spec.role, admin.spec.account_id) {
        (Role::EnterpriseAdmin, Some(enterprise)) => Ok(enterprise),
        _ => Err(EnterpriseError::NotEnterpriseAdmin),
    }
}

/// The customer's own account, for the member side.
fn customer_account(user: &User) -> Option<i64> {
    user.spec
        .account_id
        .filter(|_| user.spec.role == Role::Customer)
}

/// The blind index of the user's phone, if they signed up with one.
fn phone_index(master: &MasterKey, user: &User) -> Option<Vec<u8>> {
    let sealed = user.phone_sealed.as_ref()?;
    match Phone::open(master, sealed) {
        Ok(phone) => Some(phone.index(master)),
        Err(_) => {
            tracing::warn!(user = user.id.0, "a stored phone number does not open");
            None
        }
    }
}

/// An enterprise admin invites a phone number: the invitation is stored and its SMS queued
/// (with a code, so the phone's owner can answer without an account), within the limits of
/// SMS codes per phone and [`INVITATIONS_PER_ENTERPRISE_PER_HOUR`]. Nobody joins yet, and the
/// answer is the same whether or not the phone has an account, so inviting does not tell an
/// enterprise who the plant's customers are.
pub async fn invite(
    store: &Store,
    master: &MasterKey,
    admin: &User,
    phone: &Phone,
    name: &str,
    now: i64,
) -> Result<Invitation, EnterpriseError> {
    let enterprise_id = admin_enterprise(admin)?;
    if name.trim().is_empty() {
        return Err(EnterpriseError::NameMissing);
    }
    // The invitee's account is named so if they accept without one.
    let name = accounts::account_name(name)
        .map_err(EnterpriseError::Name)?
        .to_string();
    let index = phone.index(master);
    let existing = match store.user_by_phone(&index).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(err) => return Err(err.into()),
    };
    if let Some(account_id) = existing.as_ref().and_then(customer_account)
        && store.account(account_id).await?.spec.enterprise_id == Some(enterprise_id)
    {
        return Err(EnterpriseError::AlreadyMember);
    }
    let enterprise = store.account(enterprise_id).await?.spec.name;
    let code = signup::new_code();
    let invitation = NewInvitation {
        enterprise_id,
        phone_index: index,
        phone_masked: phone.masked(),
        name,
        code_hash: signup::code_hash(master, phone, &code),
        invited_by: admin.id,
        expires_at: now + INVITATION_TTL_DAYS * DAY_SECS,
    };
    let limits = InvitationLimits {
        per_phone: signup::code_limits(now),
        per_enterprise: (now - 3_600, INVITATIONS_PER_ENTERPRISE_PER_HOUR),
        declined_since: now - DECLINED_QUIET_DAYS * DAY_SECS,
    };
    // The code must reach the phone being invited, so it goes by SMS like sign-in codes, and
    // like them it is sealed in the outbox, never readable by an operator.
    let message = notify::sealed_code_message(
        master,
        existing.map(|user| user.id),
        phone.seal(master),
        MessageKind::Invited,
        notify::invitation_text(&enterprise, notify::SECRET_MASK, INVITATION_TTL_DAYS),
        &code,
        invitation.expires_at,
    );
    let audit = AuditEntry::new(
        Some(admin.id),
        "enterprise.invite",
        format!("account:{enterprise_id}"),
        json!({ "phone": phone.masked() }),
    );
    match store
        .create_invitation(&invitation, &limits, &message, now, &audit)
        .await
    {
        Ok(stored) => Ok(stored),
        Err(StoreError::Conflict(ConflictKind::AlreadyInvited)) => {
            Err(EnterpriseError::AlreadyInvited)
        }
        Err(StoreError::Conflict(ConflictKind::RecentlyDeclined)) => {
            Err(EnterpriseError::RecentlyDeclined)
        }
        Err(StoreError::Conflict(ConflictKind::TooManyInvitations)) => {
            Err(EnterpriseError::TooManyInvitations)
        }
        Err(err) => Err(err.into()),
    }
}

/// The enterprise's newest invitations, whatever became of them.
pub async fn invitations(store: &Store, admin: &User) -> Result<Vec<Invitation>, EnterpriseError> {
    let enterprise_id = admin_enterprise(admin)?;
    Ok(store
        .invitations_of(enterprise_id, LISTED_INVITATIONS)
        .await?)
}

/// The enterprise takes back an invitation nobody answered yet.
pub async fn withdraw(
    store: &Store,
    admin: &User,
    invitation_id: i64,
    now: i64,
) -> Result<(), EnterpriseError> {
    let enterprise_id = admin_enterprise(admin)?;
    let audit = AuditEntry::new(
        Some(admin.id),
        "enterprise.withdraw",
        format!("invitation:{invitation_id}"),
        json!({ "enterprise": enterprise_id }),
    );
    match store
        .withdraw_invitation(invitation_id, enterprise_id, now, &audit)
        .await
    {
        Err(StoreError::NotFound) => Err(EnterpriseError::NoInvitation),
        other => Ok(other?),
    }
}

/// The invitations a signed-in customer can still answer (matched by their phone number).
pub async fn open_invitations(
    store: &Store,
    master: &MasterKey,
    user: &User,
    now: i64,
) -> StoreResult<Vec<Invitation>> {
    match (customer_account(user), phone_index(master, user)) {
        (Some(_), Some(index)) => store.open_invitations(&index, now).await,
        _ => Ok(Vec::new()),
    }
}

/// Stores an answer of `account_id` (`None`: a phone without an account declining).
async fn record_answer(
    store: &Store,
    invitation: &Invitation,
    account_id: Option<i64>,
    accept: bool,
    actor: Option<&User>,
    now: i64,
) -> Result<(), EnterpriseError> {
    let action = if accept {
        "enterprise.join"
    } else {
        "enterprise.decline"
    };
    let audit = AuditEntry::new(
        actor.map(|user| user.id),
        action,
        format!("account:{}", invitation.enterprise_id),
        json!({ "invitation": invitation.id, "member_account": account_id }),
    );
    match store
        .answer_invitation(invitation.id, account_id, accept, now, &audit)
        .await
    {
        Err(StoreError::Conflict(ConflictKind::NotPending)) => Err(EnterpriseError::NoInvitation),
        Err(StoreError::Conflict(ConflictKind::NotJoinable)) => {
            Err(EnterpriseError::InOtherEnterprise)
        }
        other => Ok(other?),
    }
}

/// A signed-in customer accepts or declines an invitation to their phone number.
pub async fn answer(
    store: &Store,
    master: &MasterKey,
    user: &User,
    invitation_id: i64,
    accept: bool,
    now: i64,
) -> Result<Invitation, EnterpriseError> {
    let (Some(account_id), Some(index)) = (customer_account(user), phone_index(master, user))
    else {
        return Err(EnterpriseError::NoInvitation);
    };
    let invitation = match store.invitation(invitation_id).await {
        Ok(invitation) => invitation,
        Err(StoreError::NotFound) => return Err(EnterpriseError::NoInvitation),
        Err(err) => return Err(err.into()),
    };
    if invitation.phone_index != index
        || InvitationStatus::of(&invitation, now) != InvitationStatus::Pending
    {
        return Err(EnterpriseError::NoInvitation);
    }
    if accept {
        check_joinable(store, account_id, invitation.enterprise_id).await?;
    }
    record_answer(
        store,
        &invitation,
        Some(account_id),
        accept,
        Some(user),
        now,
    )
    .await?;
    Ok(invitation)
}

async fn check_joinable(
    store: &Store,
    account_id: i64,
    enterprise_id: i64,
) -> Result<(), EnterpriseError> {
    match store.account(account_id).await?.spec.enterprise_id {
        None => Ok(()),
        Some(current) if current == enterprise_id => Err(EnterpriseError::AlreadyMember),
        Some(_) => Err(EnterpriseError::InOtherEnterprise),
    }
}

/// The phone's owner answers with the code from the invitation SMS, signed in or not: the code
/// proves the phone as a sign-in code does, and its guesses are counted the same way. Accepting
/// from a phone without an account makes one (named as the enterprise named the invitee, signed
/// in later by SMS code) and joins it. Returns the invitation answered.
pub async fn answer_with_code(
    store: &Store,
    master: &MasterKey,
    phone: &Phone,
    code: &str,
    accept: bool,
    now: i64,
) -> Result<Invitation, EnterpriseError> {
    let code = code.trim();
    if !signup::well_formed_code(code) {
        return Err(EnterpriseError::WrongCode);
    }
    let index = phone.index(master);
    let hash = signup::code_hash(master, phone, code);
    let Some(invitation) = store.check_invitation_code(&index, &hash, now).await? else {
        return Err(EnterpriseError::WrongCode);
    };
    let holder = match store.user_by_phone(&index).await {
        Ok(user) => Some(user),
        Err(StoreError::NotFound) => None,
        Err(err) => return Err(err.into()),
    };
    let account_id = match (&holder, accept) {
        (Some(user), _) => match customer_account(user) {
            Some(account_id) => Some(account_id),
            None if accept => return Err(EnterpriseError::CannotJoin),
            None => None,
        },
        (None, false) => None,
        (None, true) => Some(new_member_account(store, master, phone, &invitation, now).await?),
    };
    if accept && let Some(account_id) = account_id {
        check_joinable(store, account_id, invitation.enterprise_id).await?;
    }
    record_answer(store, &invitation, account_id, accept, holder.as_ref(), now).await?;
    Ok(invitation)
}

/// The account of an invitee who had none: a customer signing in by SMS code, with no welcome
/// gift (those reward signing oneself up). It joins in the next step.
async fn new_member_account(
    store: &Store,
    master: &MasterKey,
    phone: &Phone,
    invitation: &Invitation,
    now: i64,
) -> Result<i64, EnterpriseError> {
    let password_hash = signup::hash_password(token::secret().text).await?;
    let customer = signup::new_customer(master, phone, &invitation.name, password_hash)
        .map_err(EnterpriseError::Name)?;
    let audit = AuditEntry::new(
        None,
        "customer.register",
        format!("phone:{}", phone.masked()),
        json!({ "invitation": invitation.id }),
    );
    let user = store.register_customer(&customer, now, &audit).await?;
    user.spec
        .account_id
        .ok_or_else(|| StoreError::Other("a registered customer has no account".into()).into())
}

/// The enterprise a customer is a member of.
pub async fn membership(store: &Store, user: &User) -> StoreResult<Option<Account>> {
    let Some(account_id) = customer_account(user) else {
        return Ok(None);
    };
    match store.account(account_id).await?.spec.enterprise_id {
        Some(enterprise_id) => Ok(Some(store.account(enterprise_id).await?)),
        None => Ok(None),
    }
}

/// A member leaves their enterprise. What the enterprise handed them and they have not used goes
/// back to the enterprise (it paid for it); their own books stay theirs. Returns the units given
/// back.
pub async fn leave(
    store: &Store,
    master: &MasterKey,
    user: &User,
    now: i64,
) -> Result<u32, EnterpriseError> {
    let account_id = customer_account(user).ok_or(EnterpriseError::NotAMember)?;
    let enterprise_id = store
        .account(account_id)
        .await?
        .spec
        .enterprise_id
        .ok_or(EnterpriseError::NotAMember)?;
    let mut returned = give_back(store, master, user, account_id, enterprise_id, now).await?;
    let audit = AuditEntry::new(
        Some(user.id),
        "enterprise.leave",
        format!("account:{enterprise_id}"),
        json!({ "member_account": account_id }),
    );
    match store
        .leave_enterprise(account_id, enterprise_id, now, &audit)
        .await
    {
        Err(StoreError::NotFound) => return Err(EnterpriseError::NotAMember),
        other => other?,
    }
    // An allocation that raced the leaving lands after the first pass: hand that back too.
    returned += give_back(store, master, user, account_id, enterprise_id, now).await?;
    Ok(returned)
}

/// Moves the units left in the live books `enterprise_id` handed to `account_id` back to it.
async fn give_back(
    store: &Store,
    master: &MasterKey,
    user: &User,
    account_id: i64,
    enterprise_id: i64,
    now: i64,
) -> Result<u32, EnterpriseError> {
    let mut returned = 0;
    for book in store.allocated_books(enterprise_id).await? {
        let left = book.issued.units.saturating_sub(book.used_units);
        let live = book.state == BookState::Active && i64::from(book.issued.valid_until) > now;
        if book.issued.account_id != account_id || !live || left == 0 {
            continue;
        }
        issuance::allocate(
            store,
            master,
            book.issued.id,
            enterprise_id,
            left,
            Some(user.id),
            now,
        )
        .await?;
        returned += u32::from(left);
    }
    Ok(returned)
}

/// What an enterprise admin sees of a book it handed to a member: enough to account for the
/// water it paid for (how many of the allocated tickets were used, how many are left, until
/// when, when one was last used), and never the credential. The QR text, its picture, the print
/// view and the rotating code belong to the holder: whoever shows them is served water, so an
/// admin who could read them could spend the member's tickets. The delivery-by-delivery history
/// (which courier came when) stays with the holder and the plant's support desk too: the
/// enterprise needs the count, not the member's routine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedBook {
    /// Book number, to take it back by.
    pub id: BookId,
    /// The member holding it.
    pub holder: i64,
    /// Package name, else product name.
    pub title: String,
    /// Units handed out.
    pub units: u16,
    /// Units used.
    pub used: u16,
    /// Status now.
    pub status: WalletStatus,
    /// Unix seconds after which it cannot be used.
    pub valid_until: i64,
    /// Device time of the last counted use, if any.
    pub last_used_at: Option<i64>,
}

impl AllocatedBook {
    fn of(book: &Book, names: &Names, now: i64) -> AllocatedBook {
        AllocatedBook {
            id: book.issued.id,
            holder: book.issued.account_id,
            title: names.title(book),
            units: book.issued.units,
            used: book.used_units,
            status: WalletStatus::of(book, now),
            valid_until: i64::from(book.issued.valid_until),
            last_used_at: book.last_used_at,
        }
    }

    /// Units left.
    pub fn remaining(&self) -> u16 {
        self.units.saturating_sub(self.used)
    }

    /// Unused and still valid: the enterprise may take it back.
    pub fn reclaimable(&self) -> bool {
        self.status.redeemable() && self.used == 0
    }

    /// The last day it can be used (local date).
    pub fn valid_until_date(&self) -> String {
        local_time::date(self.valid_until)
    }

    /// When a unit was last used (local time), if ever.
    pub fn last_used(&self) -> Option<String> {
        self.last_used_at.map(local_time::minute)
    }
}

/// A member and the books the enterprise handed them.
#[derive(Debug, Clone)]
pub struct MemberBooks {
    /// The member's account.
    pub member: Account,
    /// Allocated books, newest first.
    pub books: Vec<AllocatedBook>,
}

impl MemberBooks {
    /// Units used of everything allocated.
    pub fn used(&self) -> u32 {
        self.books.iter().map(|b| u32::from(b.used)).sum()
    }

    /// Units still usable.
    pub fn remaining(&self) -> u32 {
        self.books
            .iter()
            .filter(|b| b.status.redeemable())
            .map(|b| u32::from(b.remaining()))
            .sum()
    }
}

/// The enterprise's members, each with the books the enterprise handed them (and nothing else),
/// for the enterprise's own admin or the plant's staff.
pub async fn member_books(
    store: &Store,
    user: &User,
    enterprise_id: i64,
    now: i64,
) -> Result<Vec<MemberBooks>, EnterpriseError> {
    let allowed = match user.spec.role {
        Role::Operator | Role::Admin => true,
        Role::EnterpriseAdmin => user.spec.account_id == Some(enterprise_id),
        _ => false,
    };
    if !allowed {
        return Err(EnterpriseError::OtherEnterprise);
    }
    let names = Names::load(store).await?;
    let allocated = store.allocated_books(enterprise_id).await?;
    Ok(store
        .members(enterprise_id)
        .await?
        .into_iter()
        .map(|member| MemberBooks {
            books: allocated
                .iter()
                .filter(|book| book.issued.account_id == member.id)
                .map(|book| AllocatedBook::of(book, &names, now))
                .collect(),
            member,
        })
        .collect())
}

/// Whether `book` is one `enterprise_id` handed out (to whoever holds it now).
pub async fn handed_out(store: &Store, enterprise_id: i64, book: BookId) -> StoreResult<bool> {
    Ok(store
        .allocated_books(enterprise_id)
        .await?
        .iter()
        .any(|b| b.issued.id == book))
}

/// The enterprise admin takes every unit left in a book it handed to a member back into the
/// enterprise's own books.
pub async fn reclaim(
    store: &Store,
    master: &MasterKey,
    admin: &User,
    book: BookId,
    now: i64,
) -> Result<Vec<Book>, AllocationError> {
    let enterprise_id = admin_enterprise(admin).map_err(|_| AllocationError::NotYours)?;
    let held = match store.book(book).await {
        Ok(held) => held,
        Err(StoreError::NotFound) => return Err(AllocationError::NotYours),
        Err(err) => return Err(err.into()),
    };
    let units = held.issued.units.saturating_sub(held.used_units);
    wallet::enterprise_allocate(store, master, admin, book, enterprise_id, units, now).await
}
