//! Customers order water (docs/deliveries.md): their addresses, the delivery slots a region
//! offers, orders (一键订水, cancel, repeat) and recurring orders (周期订水). The JSON API, the
//! wallet pages, the console and the demo call these functions; every refusal is an
//! [`OrderingError`] whose message is the zh-CN text they all show.

pub mod addresses;
pub mod closing;
pub mod orders;
pub mod recurring;
pub mod slots;

use crate::store::models::{Role, User};
use crate::store::{Store, StoreError};

/// Why an ordering request was refused; the message is shown as is.
#[derive(Debug, thiserror::Error)]
pub enum OrderingError {
    /// Only customers and enterprise admins order water, for their own account.
    #[error("只有客户和企业管理员可以订水")]
    NotOrderer,
    /// A text field of an address breaks its rule; the message says which.
    #[error("{0}")]
    AddressField(&'static str),
    /// The contact phone is not a mainland mobile number.
    #[error(transparent)]
    Phone(#[from] crate::pii::BadPhone),
    /// The region does not exist.
    #[error("请选择配送区域")]
    UnknownRegion,
    /// The account already keeps the most addresses it may.
    #[error("最多保存 20 个收货地址")]
    TooManyAddresses,
    /// Not one of the account's live addresses.
    #[error("请选择您自己的收货地址")]
    UnknownAddress,
    /// The product does not exist.
    #[error("请选择产品")]
    UnknownProduct,
    /// Fewer than 1 or more than 50 bottles.
    #[error("每单可订 1 到 50 桶")]
    Bottles,
    /// The day or slot is not today's or tomorrow's morning or afternoon.
    #[error("请选择今天或明天的配送时段")]
    SlotChoice,
    /// The slot is not offered, or today's closed an hour before it ends.
    #[error("该配送时段已截止,请选择其他时段")]
    SlotClosed,
    /// The address's region offers no slot that is still open today or tomorrow.
    #[error("今明两天没有可选的配送时段")]
    NoOpenSlot,
    /// The note is longer than [`orders::MAX_NOTE_CHARS`].
    #[error("备注不能超过 100 字")]
    NoteTooLong,
    /// The note holds control characters.
    #[error("备注不能包含控制字符")]
    NoteControl,
    /// Not one of `tickets`, `account`, `cash`, or tickets without a book.
    #[error("请选择付款方式")]
    PaymentChoice,
    /// 月结 asked for by a customer account.
    #[error("只有企业账户可以月结")]
    AccountNotEnterprise,
    /// The book is not one the user may use.
    #[error("请选择您自己的水票")]
    NotYourBook,
    /// The book is revoked or used up.
    #[error("该水票已作废或已用完")]
    BookNotLive,
    /// The book is of another product.
    #[error("该水票不能兑换所选产品")]
    WrongProduct,
    /// The book is not valid on the delivery day.
    #[error("该水票在配送日不在有效期内")]
    BookNotValid,
    /// The book's units left after open orders' reservations do not cover the bottles.
    #[error("该水票还可订 {orderable} 桶,不够本次订购")]
    NotEnoughUnits {
        /// Units − used − reserved.
        orderable: i64,
    },
    /// No such order, or not one the user may see.
    #[error("订单不存在")]
    UnknownOrder,
    /// Customers cancel only orders no courier has yet.
    #[error("只能取消待派单的订单")]
    NotCancellable,
    /// Repeat needs a previous order.
    #[error("还没有订过水,请先下单")]
    NoPreviousOrder,
    /// Slot hours that are not a valid span.
    #[error("{0}")]
    SlotHours(&'static str),
    /// A recurring rule that is neither every 1–60 days nor weekly on a weekday.
    #[error("请选择每隔 1 到 60 天,或每周的某一天")]
    RecurringRule,
    /// The first day of a recurring order is not a date from today on.
    #[error("请选择从今天起的开始日期")]
    StartDate,
    /// The account keeps the most recurring orders it may.
    #[error("最多保存 10 个周期订单")]
    TooManyRecurring,
    /// No such recurring order, or not the account's.
    #[error("周期订单不存在")]
    UnknownRecurring,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The account `user` orders for: a customer's own, an enterprise admin's enterprise.
pub fn ordering_account(user: &User) -> Result<i64, OrderingError> {
    match (user.spec.role, user.spec.account_id) {
        (Role::Customer | Role::EnterpriseAdmin, Some(account)) if user.disabled_at.is_none() => {
            Ok(account)
        }
        _ => Err(OrderingError::NotOrderer),
    }
}

/// Whether region `id` exists.
async fn region_exists(store: &Store, id: i64) -> Result<bool, StoreError> {
    Ok(store.regions().await?.iter().any(|region| region.id == id))
}
