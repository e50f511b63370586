//! The door decision (docs/protocol.md, "Door verdict") as a pure function of the scanned text, the keyring, the
//! device's local view of book status and the device context.
//!
//! Checks run in the documented order — decode, parse, key known and usable, signature (and the
//! holder's proof for a rotating v2 code), time window (and the proof's age), revoked, scope,
//! product, units left, freshness — and the first failure decides. Being
//! pure, the same inputs give the same verdict on every device and in every test vector.

use std::num::NonZeroU16;

use serde::{Deserialize, Serialize};

use crate::credential::Credential;
use crate::event::EventFlags;
use crate::holder::{Presented, ProofTime};
use crate::ids::{BookId, ProductCode, ScopeId};
use crate::keyring::Keyring;

/// Why a code was refused. The serialized names and [`RejectReason::code`] numbers are stable:
/// they are stored in events and counted in statistics. Add variants; never renumber.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum RejectReason {
    /// Not a Shuipiao code, or damaged.
    Unreadable = 1,
    /// Signature does not verify: forged or edited.
    BadSignature = 2,
    /// Signed by a key this device does not know (another plant, or keyring too old).
    UnknownKey = 3,
    /// Signed by a key marked compromised.
    KeyCompromised = 4,
    /// Before its first valid day.
    NotYetValid = 5,
    /// Past its last valid day.
    Expired = 6,
    /// Revoked on the server.
    Revoked = 7,
    /// Not valid in the scopes this device serves.
    OutOfScope = 8,
    /// For another product than the one being delivered.
    WrongProduct = 9,
    /// Fewer units left than requested.
    InsufficientUnits = 10,
    /// Status data older than the refusal limit, and no supervisor override.
    StaleData = 11,
    /// Status data is stale and the offline budget is used up.
    OfflineBudgetExceeded = 12,
    /// A rotating code whose proof is more than 90 s old: a screenshot or a stale page.
    HolderProofExpired = 13,
    /// A rotating code whose proof lies more than a minute in the future: a clock is wrong.
    HolderClockAhead = 14,
}

impl RejectReason {
    /// Every reason, in code order.
    pub const ALL: [RejectReason; 14] = [
        RejectReason::Unreadable,
        RejectReason::BadSignature,
        RejectReason::UnknownKey,
        RejectReason::KeyCompromised,
        RejectReason::NotYetValid,
        RejectReason::Expired,
        RejectReason::Revoked,
        RejectReason::OutOfScope,
        RejectReason::WrongProduct,
        RejectReason::InsufficientUnits,
        RejectReason::StaleData,
        RejectReason::OfflineBudgetExceeded,
        RejectReason::HolderProofExpired,
        RejectReason::HolderClockAhead,
    ];

    /// Stable numeric code, as stored in signed events.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The reason with this code.
    pub fn from_code(code: u8) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Short zh-CN text for the red screen.
    pub fn message(self) -> &'static str {
        match self {
            RejectReason::Unreadable => "无法识别",
            RejectReason::BadSignature => "签名无效",
            RejectReason::UnknownKey => "未知密钥",
            RejectReason::KeyCompromised => "密钥已停用",
            RejectReason::NotYetValid => "未生效",
            RejectReason::Expired => "已过期",
            RejectReason::Revoked => "已作废",
            RejectReason::OutOfScope => "不在服务区域",
            RejectReason::WrongProduct => "产品不符",
            RejectReason::InsufficientUnits => "余量不足",
            RejectReason::StaleData => "数据过旧",
            RejectReason::OfflineBudgetExceeded => "离线额度已用完",
            RejectReason::HolderProofExpired => "动态码已过期（截图无效）",
            RejectReason::HolderClockAhead => "动态码时间不符",
        }
    }

    /// What the courier should do next, in zh-CN.
    pub fn hint(self) -> &'static str {
        match self {
            RejectReason::Unreadable => "请重新对准二维码，或让客户调亮屏幕",
            RejectReason::BadSignature => "此票可能被伪造或篡改，请勿送水",
            RejectReason::UnknownKey => "请联网同步后重试；仍失败请联系水厂",
            RejectReason::KeyCompromised => "此票签发密钥已停用，请客户联系水厂换发",
            RejectReason::NotYetValid => "此票尚未到生效日期",
            RejectReason::Expired => "此票已超过有效期",
            RejectReason::Revoked => "此票已作废，请客户联系水厂",
            RejectReason::OutOfScope => "此票不能在本区域使用",
            RejectReason::WrongProduct => "此票不适用于当前选择的产品",
            RejectReason::InsufficientUnits => "剩余张数不足，请减少数量",
            RejectReason::StaleData => "数据超过72小时未同步，请联网同步或由主管授权",
            RejectReason::OfflineBudgetExceeded => "离线核销额度已用完，请联网同步或由主管授权",
            RejectReason::HolderProofExpired => {
                "请客户打开水票页面出示实时二维码，截图或超过90秒的二维码无效"
            }
            RejectReason::HolderClockAhead => "客户手机时间与本机相差过大，请核对双方手机时间",
        }
    }
}

/// Freshness rules for status data (docs/protocol.md, "Door verdict").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreshnessPolicy {
    /// Below this age (seconds) data is fresh.
    pub stale_after: u64,
    /// At or above this age nothing is accepted without a supervisor override.
    pub refuse_after: u64,
    /// Units one book may be redeemed for while data is stale.
    pub budget_per_book: u16,
    /// Units all books together may be redeemed for while data is stale.
    pub budget_total: u32,
}

impl Default for FreshnessPolicy {
    fn default() -> Self {
        FreshnessPolicy {
            stale_after: 24 * 3600,
            refuse_after: 72 * 3600,
            budget_per_book: 2,
            budget_total: 50,
        }
    }
}

/// What the device knows about one book: server status plus its own events the server has not
/// yet reflected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BookView {
    /// Units used: server count plus this device's unacknowledged redemptions.
    pub used_units: u16,
    /// Revoked on the server.
    pub revoked: bool,
    /// Latest known use, for the 已使用 screen.
    pub last_use: Option<LastUse>,
    /// Units this device accepted on this book while its data was stale.
    pub stale_units: u16,
}

/// When and where a book was last used, as far as the device knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUse {
    /// Unix seconds.
    pub at: u64,
    /// Used on this very device (else: reported by the server).
    pub by_this_device: bool,
}

/// The device's local status view.
pub trait StatusView {
    /// What is known about `book_id`; unknown books are unused and not revoked.
    fn book(&self, book_id: BookId) -> BookView;
    /// Units accepted on all books while data was stale, since the last fresh sync.
    fn stale_units_total(&self) -> u32;
}

/// What a book's own terms allow: when, where and for which product it may be redeemed.
///
/// The door checks them in [`decide`]; the server checks every pushed redemption against the
/// book's stored terms with the same two functions, so a modified device cannot redeem outside
/// them unnoticed, and an honest device is never flagged for what the door accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UseTerms {
    /// Product the units are for.
    pub product: ProductCode,
    /// Where it may be redeemed; [`ScopeId::ANYWHERE`] for everywhere.
    pub scope: ScopeId,
    /// First valid second (unix, UTC).
    pub valid_from: u32,
    /// Last valid second (unix, UTC), inclusive.
    pub valid_until: u32,
}

impl UseTerms {
    /// The terms a credential carries.
    pub fn of(credential: &Credential) -> UseTerms {
        UseTerms {
            product: credential.product,
            scope: credential.scope,
            valid_from: credential.valid_from,
            valid_until: credential.valid_until,
        }
    }

    /// Whether the book is valid at `at` (unix seconds): [`RejectReason::NotYetValid`] before
    /// its first second, [`RejectReason::Expired`] after its last.
    pub fn check_time(&self, at: u64) -> Result<(), RejectReason> {
        if at < u64::from(self.valid_from) {
            return Err(RejectReason::NotYetValid);
        }
        if at > u64::from(self.valid_until) {
            return Err(RejectReason::Expired);
        }
        Ok(())
    }

    /// Whether a device serving `scopes` may redeem the book: [`RejectReason::OutOfScope`].
    pub fn check_scope(&self, scopes: &[ScopeId]) -> Result<(), RejectReason> {
        if self.scope != ScopeId::ANYWHERE && !scopes.contains(&self.scope) {
            return Err(RejectReason::OutOfScope);
        }
        Ok(())
    }

    /// Whether `product` may be delivered on the book: [`RejectReason::WrongProduct`].
    pub fn check_product(&self, product: ProductCode) -> Result<(), RejectReason> {
        if self.product != product {
            return Err(RejectReason::WrongProduct);
        }
        Ok(())
    }

    /// Every term a redemption of `product` at `at` by a device serving `scopes` breaks, in the
    /// order the door checks them (the door stops at the first; a reviewer wants them all).
    pub fn breaches(
        &self,
        at: u64,
        scopes: &[ScopeId],
        product: ProductCode,
    ) -> impl Iterator<Item = RejectReason> {
        [
            self.check_time(at),
            self.check_scope(scopes),
            self.check_product(product),
        ]
        .into_iter()
        .filter_map(Result::err)
    }
}

/// The circumstances of one scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorContext<'a> {
    /// Device clock, unix seconds.
    pub now: u64,
    /// Scopes this device serves.
    pub scopes: &'a [ScopeId],
    /// Product being delivered.
    pub product: ProductCode,
    /// Units to redeem.
    pub quantity: NonZeroU16,
    /// Seconds since the last successful pull; `None` if never.
    pub data_age: Option<u64>,
    /// Freshness rules.
    pub policy: FreshnessPolicy,
    /// A supervisor entered their PIN for this scan.
    pub supervisor_override: bool,
    /// The device clock is earlier than the last server time seen.
    pub clock_rollback: bool,
    /// The device has no connection to the server right now.
    pub offline: bool,
}

/// The decision shown at the door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver: 可以送水.
    Accept {
        /// The verified credential.
        credential: Credential,
        /// Units redeemed now.
        units: u16,
        /// Units left after this redemption.
        remaining: u16,
        /// Flags to record on the redemption event.
        flags: EventFlags,
    },
    /// Nothing left: 已使用.
    AlreadyUsed {
        /// The verified credential.
        credential: Credential,
        /// When it was last used, if known.
        last_use: Option<LastUse>,
    },
    /// Refused, with the reason; the credential if it could be parsed.
    Reject {
        /// Why.
        reason: RejectReason,
        /// The parsed credential, if parsing got that far.
        credential: Option<Credential>,
    },
}

/// Decides what to show for `text` scanned at the door.
pub fn decide(
    text: &str,
    keyring: &Keyring,
    view: &impl StatusView,
    ctx: &DoorContext<'_>,
) -> Verdict {
    let Ok(presented) = Presented::from_qr_text(text) else {
        return Verdict::Reject {
            reason: RejectReason::Unreadable,
            credential: None,
        };
    };
    decide_parsed(&presented, keyring, view, ctx)
}

/// [`decide`] for an already parsed code of either format.
pub fn decide_parsed(
    presented: &Presented,
    keyring: &Keyring,
    view: &impl StatusView,
    ctx: &DoorContext<'_>,
) -> Verdict {
    let credential = *presented.credential();
    let reject = |reason| Verdict::Reject {
        reason,
        credential: Some(credential),
    };
    let Some(key) = keyring.key(credential.kid) else {
        return reject(RejectReason::UnknownKey);
    };
    if key
        .compromised_since()
        .is_some_and(|since| ctx.now >= u64::from(since))
    {
        return reject(RejectReason::KeyCompromised);
    }
    if presented.verify(&key.key).is_err() {
        return reject(RejectReason::BadSignature);
    }
    let rotating = match presented {
        Presented::Static(_) => None,
        Presented::Rotating(code) => Some(code),
    };
    // The issuer vouched for the holder key; now the holder must have signed this window.
    if rotating.is_some_and(|code| code.verify_proof().is_err()) {
        return reject(RejectReason::BadSignature);
    }
    // A book may not outlive the key that signed it; one that does was not issued by us.
    if credential.valid_from < key.not_before || credential.valid_until > key.not_after {
        return reject(RejectReason::BadSignature);
    }
    let terms = UseTerms::of(&credential);
    if let Err(reason) = terms.check_time(ctx.now) {
        return reject(reason);
    }
    match rotating.map(|code| code.proof_time(ctx.now)) {
        None | Some(ProofTime::Current) => {}
        Some(ProofTime::Expired) => return reject(RejectReason::HolderProofExpired),
        Some(ProofTime::Ahead) => return reject(RejectReason::HolderClockAhead),
    }
    let book = view.book(credential.book_id);
    if book.revoked {
        return reject(RejectReason::Revoked);
    }
    if let Err(reason) = terms.check_scope(ctx.scopes) {
        return reject(reason);
    }
    if let Err(reason) = terms.check_product(ctx.product) {
        return reject(reason);
    }
    let left = credential.units.saturating_sub(book.used_units);
    if left == 0 {
        return Verdict::AlreadyUsed {
            credential,
            last_use: book.last_use,
        };
    }
    let units = ctx.quantity.get();
    if units > left {
        return reject(RejectReason::InsufficientUnits);
    }
    let mut flags = EventFlags {
        offline: ctx.offline,
        clock_rollback: ctx.clock_rollback,
        ..EventFlags::default()
    };
    match freshness(ctx, &book, view, units) {
        Freshness::Fresh => {}
        Freshness::StaleWithinBudget => flags.stale = true,
        Freshness::Refused(_) if ctx.supervisor_override => {
            flags.stale = true;
            flags.supervisor_override = true;
        }
        Freshness::Refused(reason) => return reject(reason),
    }
    Verdict::Accept {
        credential,
        units,
        remaining: left - units,
        flags,
    }
}

enum Freshness {
    Fresh,
    StaleWithinBudget,
    Refused(RejectReason),
}

fn freshness(
    ctx: &DoorContext<'_>,
    book: &BookView,
    view: &impl StatusView,
    units: u16,
) -> Freshness {
    let policy = &ctx.policy;
    match ctx.data_age {
        Some(age) if age < policy.stale_after => Freshness::Fresh,
        Some(age) if age < policy.refuse_after => {
            let book_ok =
                u32::from(book.stale_units) + u32::from(units) <= u32::from(policy.budget_per_book);
            let total_ok = view.stale_units_total() + u32::from(units) <= policy.budget_total;
            if book_ok && total_ok {
                Freshness::StaleWithinBudget
            } else {
                Freshness::Refused(RejectReason::OfflineBudgetExceeded)
            }
        }
        _ => Freshness::Refused(RejectReason::StaleData),
    }
}

impl Verdict {
    /// The book the verdict is about, if the code could be parsed.
    pub fn book_id(&self) -> Option<BookId> {
        match self {
            Verdict::Accept { credential, .. } | Verdict::AlreadyUsed { credential, .. } => {
                Some(credential.book_id)
            }
            Verdict::Reject { credential, .. } => credential.map(|c| c.book_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn use_terms_bound_time_scope_and_product() {
        let terms = UseTerms {
            product: ProductCode(189),
            scope: ScopeId(7),
            valid_from: 100,
            valid_until: 200,
        };
        assert_eq!(terms.check_time(99), Err(RejectReason::NotYetValid));
        assert_eq!(terms.check_time(100), Ok(()));
        assert_eq!(terms.check_time(200), Ok(()), "the last second is valid");
        assert_eq!(terms.check_time(201), Err(RejectReason::Expired));
        assert_eq!(terms.check_time(u64::MAX), Err(RejectReason::Expired));
        let served = [ScopeId::ANYWHERE, ScopeId(7)];
        assert_eq!(terms.check_scope(&served), Ok(()));
        assert_eq!(
            terms.check_scope(&[ScopeId::ANYWHERE]),
            Err(RejectReason::OutOfScope)
        );
        assert_eq!(terms.check_product(ProductCode(189)), Ok(()));
        assert_eq!(
            terms.check_product(ProductCode(113)),
            Err(RejectReason::WrongProduct)
        );
        let anywhere = UseTerms {
            scope: ScopeId::ANYWHERE,
            ..terms
        };
        assert_eq!(anywhere.check_scope(&[]), Ok(()));
        assert_eq!(terms.breaches(150, &served, ProductCode(189)).count(), 0);
        assert_eq!(
            terms
                .breaches(201, &[], ProductCode(113))
                .collect::<Vec<_>>(),
            [
                RejectReason::Expired,
                RejectReason::OutOfScope,
                RejectReason::WrongProduct
            ],
            "every breach, in the door's order"
        );
    }
}
