//! Orders of water (订水单, docs/deliveries.md, "Orders"): placing one with every rule checked
//! in one place, a customer cancelling a pending one, repeating the last one, and the account's
//! orders as its users read them. A tickets order reserves its bottles on the book under the
//! book's lock, so two orders at once cannot reserve the same units.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde::{Deserialize, Serialize};
use serde_json::json;
use shuipiao_shared::ids::{BookId, ProductCode, UserId};
use shuipiao_shared::status::BookState;
use utoipa::ToSchema;

use crate::local_time;
use crate::ordering::addresses::live_address;
use crate::ordering::{OrderingError, ordering_account, slots};
use crate::store::delivery_orders::{
    AddressRow, DeliveryOrder, NewOrderRow, OrderState, Payment, Placed, Slot,
};
use crate::store::models::{AccountKind, AuditEntry, Book, Role, User};
use crate::store::{Store, StoreError};
use crate::wallet;

/// Longest note a customer may leave for the courier, in characters.
pub const MAX_NOTE_CHARS: usize = 100;

/// Most bottles one order may hold.
pub const MAX_BOTTLES: i64 = 50;

/// How many of an account's orders the lists show.
pub const LIST_LIMIT: u32 = 100;

/// An order as asked for.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderInput {
    /// One of the account's live addresses.
    pub address_id: i64,
    /// The product's code.
    pub product: i64,
    /// 1–50 bottles.
    pub bottles: i64,
    /// The Beijing day, `YYYY-MM-DD`: today or tomorrow.
    pub slot_date: String,
    /// `morning` or `afternoon`.
    pub slot: String,
    /// A note for the courier, at most 100 characters.
    #[serde(default)]
    pub note: String,
    /// `tickets`, `account` (月结, enterprises) or `cash` (货到付款).
    pub payment: String,
    /// The book a `tickets` order reserves its bottles on.
    #[serde(default)]
    pub book_id: Option<u64>,
}

/// What an order holds besides its day and slot, checked: shared by orders and recurring orders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) account: i64,
    pub(crate) address: AddressRow,
    pub(crate) product: ProductCode,
    pub(crate) bottles: u16,
    pub(crate) note: String,
    pub(crate) payment: Payment,
}

/// What an order, a recurring order and the recurring job's day share besides the day, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub(crate) address_id: i64,
    pub(crate) product: i64,
    pub(crate) bottles: i64,
    pub(crate) note: &'a str,
    pub(crate) payment: &'a str,
    pub(crate) book_id: Option<u64>,
}

impl OrderInput {
    fn parts(&self) -> Parts<'_> {
        Parts {
            address_id: self.address_id,
            product: self.product,
            bottles: self.bottles,
            note: &self.note,
            payment: &self.payment,
            book_id: self.book_id,
        }
    }
}

/// The rules of an order that do not depend on its day: the address is the account's and live,
/// the product exists, 1–50 bottles, the note, and who may pay how. The book's validity on the
/// day and its units are checked by [`check_book`] and under the book's lock.
pub(crate) async fn check_parts(
    store: &Store,
    user: &User,
    parts: Parts<'_>,
) -> Result<(Checked, Option<Book>), OrderingError> {
    let Parts {
        address_id,
        product,
        bottles,
        note,
        payment,
        book_id,
    } = parts;
    let account = ordering_account(user)?;
    let address = live_address(store, account, address_id).await?;
    let product = u16::try_from(product)
        .map(ProductCode)
        .map_err(|_| OrderingError::UnknownProduct)?;
    match store.product(product).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => return Err(OrderingError::UnknownProduct),
        Err(err) => return Err(err.into()),
    }
    let bottles = match u16::try_from(bottles) {
        Ok(bottles) if (1..=MAX_BOTTLES).contains(&i64::from(bottles)) => bottles,
        _ => return Err(OrderingError::Bottles),
    };
    let note = note.trim();
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(OrderingError::NoteTooLong);
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(OrderingError::NoteControl);
    }
    let (payment, book) = match (payment.trim(), book_id) {
        ("cash", None) => (Payment::Cash, None),
        ("account", None) => {
            if store.account(account).await?.spec.kind != AccountKind::Enterprise {
                return Err(OrderingError::AccountNotEnterprise);
            }
            (Payment::Account, None)
        }
        ("tickets", Some(id)) => {
            let book = match store.book(BookId(id)).await {
                Ok(book) => book,
                Err(StoreError::NotFound) => return Err(OrderingError::NotYourBook),
                Err(err) => return Err(err.into()),
            };
            if !wallet::may_read(user, &book) {
                return Err(OrderingError::NotYourBook);
            }
            if book.state != BookState::Active {
                return Err(OrderingError::BookNotLive);
            }
            if book.issued.product != product {
                return Err(OrderingError::WrongProduct);
            }
            (Payment::Tickets(book.issued.id), Some(book))
        }
        _ => return Err(OrderingError::PaymentChoice),
    };
    Ok((
        Checked {
            account,
            address,
            product,
            bottles,
            note: note.to_string(),
            payment,
        },
        book,
    ))
}

/// A book pays for a day only if it is valid from before the day ends until the day is over.
pub(crate) fn check_book(book: Option<&Book>, slot_date: &str) -> Result<(), OrderingError> {
    let (Some(book), Some(start)) = (book, local_time::day_start(slot_date)) else {
        return Ok(());
    };
    let end = start + 86_400;
    if i64::from(book.issued.valid_from) >= end || i64::from(book.issued.valid_until) < end {
        return Err(OrderingError::BookNotValid);
    }
    Ok(())
}

impl Checked {
    /// The row to insert for `slot_date` and `slot`.
    pub(crate) fn row(
        &self,
        user: &User,
        slot_date: &str,
        slot: Slot,
        recurring_id: Option<i64>,
    ) -> NewOrderRow {
        NewOrderRow {
            account_id: self.account,
            address_id: self.address.id,
            region_id: self.address.region_id,
            product: self.product,
            bottles: self.bottles,
            slot_date: slot_date.to_string(),
            slot,
            note: self.note.clone(),
            payment: self.payment,
            recurring_id,
            placed_by: Some(user.id),
        }
    }
}

/// The audit entry of placed order `id`.
/// `actor` is `None` for the recurring-order job.
pub(crate) fn placed_audit(actor: Option<UserId>, id: i64, row: &NewOrderRow) -> AuditEntry {
    AuditEntry::new(
        actor,
        "delivery_order.place",
        format!("delivery_order:{id}"),
        json!({
            "bottles": row.bottles,
            "product": row.product.0,
            "payment": row.payment.kind(),
            "book": row.payment.book().map(|book| book.0),
            "slot_date": row.slot_date,
            "slot": row.slot.as_str(),
            "recurring": row.recurring_id,
        }),
    )
}

/// `user` places an order for their account, under every rule of docs/deliveries.md; the order
/// and its audit entry are written in one transaction, or nothing is.
pub async fn place(
    store: &Store,
    user: &User,
    input: &OrderInput,
    now: i64,
) -> Result<OrderView, OrderingError> {
    let (checked, book) = check_parts(store, user, input.parts()).await?;
    let slot = slots::check_open(
        store,
        checked.address.region_id,
        &input.slot_date,
        &input.slot,
        now,
    )
    .await?;
    let slot_date = input.slot_date.trim();
    check_book(book.as_ref(), slot_date)?;
    let row = checked.row(user, slot_date, slot, None);
    match store
        .place_order(&row, |id| placed_audit(Some(user.id), id, &row), now)
        .await?
    {
        Placed::Order(id) => one(store, user, id).await,
        Placed::Short { orderable } => Err(OrderingError::NotEnoughUnits {
            orderable: orderable.max(0),
        }),
    }
}

/// `user` cancels one of their account's orders that no courier has yet; its reservation is
/// released.
pub async fn cancel(
    store: &Store,
    user: &User,
    id: i64,
    now: i64,
) -> Result<OrderView, OrderingError> {
    let account = ordering_account(user)?;
    let order = own_order(store, account, id).await?;
    if order.state != OrderState::Pending {
        return Err(OrderingError::NotCancellable);
    }
    let audit = AuditEntry::new(
        Some(user.id),
        "delivery_order.cancel",
        format!("delivery_order:{id}"),
        json!({ "by": "customer" }),
    );
    if !store.cancel_pending_order(account, id, &audit, now).await? {
        return Err(OrderingError::NotCancellable);
    }
    one(store, user, id).await
}

/// `user` orders again what their account ordered last (address, product, bottles, payment,
/// note) for the first slot still open.
pub async fn repeat(store: &Store, user: &User, now: i64) -> Result<OrderView, OrderingError> {
    let account = ordering_account(user)?;
    let last = store
        .orders_of_account(account, 1)
        .await?
        .into_iter()
        .next()
        .ok_or(OrderingError::NoPreviousOrder)?;
    let address = live_address(store, account, last.address_id).await?;
    let choice = slots::first_open(store, address.region_id, now).await?;
    let input = OrderInput {
        address_id: last.address_id,
        product: i64::from(last.product.0),
        bottles: i64::from(last.bottles),
        slot_date: choice.date,
        slot: choice.slot,
        note: last.note,
        payment: last.payment.kind().to_string(),
        book_id: last.payment.book().map(|book| book.0),
    };
    place(store, user, &input, now).await
}

/// An order as its account's users (and staff) read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrderView {
    /// The order number.
    pub id: i64,
    /// The ordering account.
    pub account_id: i64,
    /// Where to deliver.
    pub address_id: i64,
    /// The address on one line.
    pub address_line: String,
    /// A delivery point's name.
    pub address_label: String,
    /// Who receives the water.
    pub contact: String,
    /// The product's code.
    pub product: u16,
    /// The product's name.
    pub product_name: String,
    /// How many bottles.
    pub bottles: u16,
    /// The Beijing day.
    pub slot_date: String,
    /// `morning` or `afternoon`.
    pub slot: String,
    /// 上午 or 下午.
    pub slot_label: String,
    /// The note for the courier.
    pub note: String,
    /// `tickets`, `account` or `cash`.
    pub payment: String,
    /// 水票, 月结 or 货到付款.
    pub payment_label: String,
    /// The book a tickets order reserves on.
    pub book_id: Option<u64>,
    /// `pending`, `assigned`, `out`, `delivered`, `failed` or `cancelled`.
    pub state: String,
    /// 待派单, 已派单, 配送中, 已送达, 未送达 or 已取消.
    pub state_label: String,
    /// Why it was not delivered.
    pub failure_reason: Option<String>,
    /// Whether the customer may still cancel it.
    pub cancellable: bool,
    /// The recurring order that made it.
    pub recurring_id: Option<i64>,
    /// When it was placed, Beijing time (`2026-12-08 09:30`).
    pub placed_at: String,
}

fn present(order: DeliveryOrder, address: &AddressRow, names: &wallet::Names) -> OrderView {
    OrderView {
        id: order.id,
        account_id: order.account_id,
        address_id: order.address_id,
        address_line: address.line(),
        address_label: address.label.clone(),
        contact: address.contact.clone(),
        product: order.product.0,
        product_name: names.product(order.product.0),
        bottles: order.bottles,
        slot_label: order.slot.label().to_string(),
        slot: order.slot.as_str().to_string(),
        slot_date: order.slot_date,
        note: order.note,
        payment: order.payment.kind().to_string(),
        payment_label: order.payment.label().to_string(),
        book_id: order.payment.book().map(|book| book.0),
        state: order.state.as_str().to_string(),
        state_label: order.state.label().to_string(),
        failure_reason: order.failure_reason,
        cancellable: order.state == OrderState::Pending,
        recurring_id: order.recurring_id,
        placed_at: local_time::minute(order.created_at),
    }
}

async fn present_all(
    store: &Store,
    orders: Vec<DeliveryOrder>,
) -> Result<Vec<OrderView>, OrderingError> {
    let names = wallet::Names::load(store).await?;
    let mut addresses: HashMap<i64, AddressRow> = HashMap::new();
    let mut views = Vec::with_capacity(orders.len());
    for order in orders {
        let address = match addresses.entry(order.address_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(slot) => slot.insert(store.address(order.address_id).await?),
        };
        views.push(present(order, address, &names));
    }
    Ok(views)
}

/// Order `id` of `account`, [`OrderingError::UnknownOrder`] otherwise.
async fn own_order(store: &Store, account: i64, id: i64) -> Result<DeliveryOrder, OrderingError> {
    match store.delivery_order(id).await {
        Ok(order) if order.account_id == account => Ok(order),
        Ok(_) | Err(StoreError::NotFound) => Err(OrderingError::UnknownOrder),
        Err(err) => Err(err.into()),
    }
}

/// Whether `user` may read `order`: its account's users, and the plant's staff who handle orders.
pub fn may_see(user: &User, order: &DeliveryOrder) -> bool {
    match user.spec.role {
        Role::Dispatcher | Role::Operator | Role::Admin => true,
        Role::Customer | Role::EnterpriseAdmin => user.spec.account_id == Some(order.account_id),
        Role::Courier | Role::StoreStaff | Role::Statistician => false,
    }
}

/// One order, for its account's users and staff; [`OrderingError::UnknownOrder`] for anyone else.
pub async fn one(store: &Store, user: &User, id: i64) -> Result<OrderView, OrderingError> {
    let order = match store.delivery_order(id).await {
        Ok(order) if may_see(user, &order) => order,
        Ok(_) | Err(StoreError::NotFound) => return Err(OrderingError::UnknownOrder),
        Err(err) => return Err(err.into()),
    };
    Ok(present_all(store, vec![order])
        .await?
        .pop()
        .expect("one order was presented"))
}

/// `user`'s account's orders, newest first.
pub async fn list(store: &Store, user: &User) -> Result<Vec<OrderView>, OrderingError> {
    let account = ordering_account(user)?;
    let orders = store.orders_of_account(account, LIST_LIMIT).await?;
    present_all(store, orders).await
}

/// Units a customer can still order from `book`: units − used − reserved by open orders; none
/// from a book that is not live or has expired.
pub async fn orderable(store: &Store, book: &Book, now: i64) -> Result<u16, OrderingError> {
    if wallet::WalletStatus::of(book, now).redeemable() {
        let units = store.orderable_units(book.issued.id).await?;
        Ok(u16::try_from(units.max(0)).unwrap_or(u16::MAX))
    } else {
        Ok(0)
    }
}

/// A book an order may be paid with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PayableBook {
    /// The book's number.
    pub book_id: u64,
    /// Its title (package, else product).
    pub title: String,
    /// Its product's code.
    pub product: u16,
    /// Units − used − reserved.
    pub orderable: u16,
    /// Last day it is valid, Beijing (`YYYY-MM-DD`).
    pub valid_until: String,
}

/// The books `user` may pay an order with now, with the units still orderable from each.
pub async fn payable_books(
    store: &Store,
    user: &User,
    now: i64,
) -> Result<Vec<PayableBook>, OrderingError> {
    let account = ordering_account(user)?;
    let names = wallet::Names::load(store).await?;
    let mut payable = Vec::new();
    for book in store.books_of_account(account).await? {
        let orderable = orderable(store, &book, now).await?;
        if orderable > 0 {
            payable.push(PayableBook {
                book_id: book.issued.id.0,
                title: names.title(&book),
                product: book.issued.product.0,
                orderable,
                valid_until: local_time::date(i64::from(book.issued.valid_until) - 1),
            });
        }
    }
    Ok(payable)
}
