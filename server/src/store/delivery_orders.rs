//! Addresses, orders of water and the couriers' delivery feed (docs/deliveries.md): the rows and
//! the SQL that the ordering and dispatch modules build on.

use shuipiao_shared::ids::{BookId, ProductCode, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::store::{StoreError, StoreResult, rows};

/// Half a day of deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// 上午.
    Morning,
    /// 下午.
    Afternoon,
}

impl Slot {
    /// Both slots, in the order of the day.
    pub const ALL: [Slot; 2] = [Slot::Morning, Slot::Afternoon];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::Morning => "morning",
            Slot::Afternoon => "afternoon",
        }
    }

    /// Reads a stored or wire name.
    pub fn parse(text: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| slot.as_str() == text)
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Slot::Morning => "上午",
            Slot::Afternoon => "下午",
        }
    }
}

/// Where an order is in the plant's day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderState {
    /// 待派单: placed, no courier yet.
    Pending,
    /// 已派单: assigned; the courier's phone has not fetched it yet.
    Assigned,
    /// 配送中: the courier's phone has it.
    Out,
    /// 已送达.
    Delivered,
    /// 未送达, with a reason.
    Failed,
    /// 已取消.
    Cancelled,
}

impl OrderState {
    /// Every state, in the order of the day.
    pub const ALL: [OrderState; 6] = [
        OrderState::Pending,
        OrderState::Assigned,
        OrderState::Out,
        OrderState::Delivered,
        OrderState::Failed,
        OrderState::Cancelled,
    ];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Pending => "pending",
            OrderState::Assigned => "assigned",
            OrderState::Out => "out",
            OrderState::Delivered => "delivered",
            OrderState::Failed => "failed",
            OrderState::Cancelled => "cancelled",
        }
    }

    /// Reads a stored or wire name.
    pub fn parse(text: &str) -> Option<OrderState> {
        OrderState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            OrderState::Pending => "待派单",
            OrderState::Assigned => "已派单",
            OrderState::Out => "配送中",
            OrderState::Delivered => "已送达",
            OrderState::Failed => "未送达",
            OrderState::Cancelled => "已取消",
        }
    }

    /// Whether the order is still to be delivered (and a tickets order still reserves units).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderState::Pending | OrderState::Assigned | OrderState::Out
        )
    }
}

/// How an order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Payment {
    /// Tickets of one book, reserved until the door.
    Tickets(BookId),
    /// 月结: on the enterprise's account.
    Account,
    /// 货到付款: cash to the courier.
    Cash,
}

impl Payment {
    /// The stored and wire name of the kind.
    pub fn kind(self) -> &'static str {
        match self {
            Payment::Tickets(_) => "tickets",
            Payment::Account => "account",
            Payment::Cash => "cash",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Payment::Tickets(_) => "水票",
            Payment::Account => "月结",
            Payment::Cash => "货到付款",
        }
    }

    /// The book a tickets order reserves.
    pub fn book(self) -> Option<BookId> {
        match self {
            Payment::Tickets(book) => Some(book),
            Payment::Account | Payment::Cash => None,
        }
    }

    /// Reads the stored kind and book.
    fn from_row(kind: &str, book: Option<BookId>) -> Option<Payment> {
        match (kind, book) {
            ("tickets", Some(book)) => Some(Payment::Tickets(book)),
            ("account", None) => Some(Payment::Account),
            ("cash", None) => Some(Payment::Cash),
            _ => None,
        }
    }
}

/// An address as stored; the phone stays sealed until a domain function opens it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressRow {
    /// Row id.
    pub id: i64,
    /// The account it belongs to.
    pub account_id: i64,
    /// Its region.
    pub region_id: i64,
    /// A delivery point's name (enterprises), empty for a home.
    pub label: String,
    /// 小区.
    pub community: String,
    /// 楼栋.
    pub building: String,
    /// 单元.
    pub unit: String,
    /// 门牌.
    pub room: String,
    /// Who receives the water.
    pub contact: String,
    /// The contact's phone, sealed (`pii::Phone::seal`).
    pub phone_sealed: Vec<u8>,
    /// The account's default address.
    pub is_default: bool,
    /// When it was removed from the list; orders keep it.
    pub removed_at: Option<i64>,
}

impl AddressRow {
    /// The address on one line, as a courier reads it: 小区 楼栋 单元 门牌.
    pub fn line(&self) -> String {
        [&self.community, &self.building, &self.unit, &self.room]
            .into_iter()
            .filter(|part| !part.is_empty())
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// An order of water as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOrder {
    /// Row id, the order number customers and couriers see.
    pub id: i64,
    /// The ordering account.
    pub account_id: i64,
    /// Where to deliver.
    pub address_id: i64,
    /// The address's region when the order was placed.
    pub region_id: i64,
    /// What to deliver.
    pub product: ProductCode,
    /// How many bottles (1–50).
    pub bottles: u16,
    /// The Beijing day, `YYYY-MM-DD`.
    pub slot_date: String,
    /// Morning or afternoon.
    pub slot: Slot,
    /// The customer's note for the courier.
    pub note: String,
    /// How it is paid.
    pub payment: Payment,
    /// Where it is in the day.
    pub state: OrderState,
    /// The assigned courier.
    pub courier_id: Option<UserId>,
    /// The recurring order that made it.
    pub recurring_id: Option<i64>,
    /// Who placed it (the customer, or staff for them).
    pub placed_by: Option<UserId>,
    /// Why it was not delivered.
    pub failure_reason: Option<String>,
    /// When it was placed.
    pub created_at: i64,
    /// When it was last assigned.
    pub assigned_at: Option<i64>,
    /// When it was delivered, failed or cancelled.
    pub closed_at: Option<i64>,
}

/// What a new order holds; the domain has checked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrderRow {
    /// The ordering account.
    pub account_id: i64,
    /// Where to deliver.
    pub address_id: i64,
    /// The address's region.
    pub region_id: i64,
    /// What to deliver.
    pub product: ProductCode,
    /// How many bottles.
    pub bottles: u16,
    /// The Beijing day.
    pub slot_date: String,
    /// Morning or afternoon.
    pub slot: Slot,
    /// The customer's note.
    pub note: String,
    /// How it is paid.
    pub payment: Payment,
    /// The recurring order that makes it.
    pub recurring_id: Option<i64>,
    /// Who places it.
    pub placed_by: Option<UserId>,
}

/// What a courier's phone must learn about an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedChange {
    /// The order is now theirs.
    Assigned,
    /// Their order changed (note, slot, address).
    Updated,
    /// The order is no longer theirs: reassigned or cancelled.
    Withdrawn,
}

impl FeedChange {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedChange::Assigned => "assigned",
            FeedChange::Updated => "updated",
            FeedChange::Withdrawn => "withdrawn",
        }
    }

    /// Reads a stored name.
    pub fn parse(text: &str) -> Option<FeedChange> {
        [
            FeedChange::Assigned,
            FeedChange::Updated,
            FeedChange::Withdrawn,
        ]
        .into_iter()
        .find(|change| change.as_str() == text)
    }
}

/// Columns of `addresses` in the order [`address`] reads them.
pub(crate) const ADDRESS_COLUMNS: &str = "id, account_id, region_id, label, community, building, \
    unit, room, contact, phone_sealed, is_default, removed_at";

/// Columns of `delivery_orders` in the order [`order`] reads them.
pub(crate) const ORDER_COLUMNS: &str = "id, account_id, address_id, region_id, product_code, \
    bottles, slot_date, slot, note, payment, book_id, state, courier_id, recurring_id, \
    placed_by, failure_reason, created_at, assigned_at, closed_at";

fn int<T: TryFrom<i64>>(row: &AnyRow, column: &str) -> StoreResult<T> {
    let value: i64 = row.try_get(column)?;
    T::try_from(value).map_err(|_| rows::corrupt(column))
}

fn opt_user(row: &AnyRow, column: &str) -> StoreResult<Option<UserId>> {
    let value: Option<i64> = row.try_get(column)?;
    Ok(value.map(|id| UserId(id as u64)))
}

/// Decodes an `addresses` row selected with [`ADDRESS_COLUMNS`].
pub(crate) fn address(row: &AnyRow) -> StoreResult<AddressRow> {
    Ok(AddressRow {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        region_id: row.try_get("region_id")?,
        label: row.try_get("label")?,
        community: row.try_get("community")?,
        building: row.try_get("building")?,
        unit: row.try_get("unit")?,
        room: row.try_get("room")?,
        contact: row.try_get("contact")?,
        phone_sealed: row.try_get("phone_sealed")?,
        is_default: row.try_get::<i64, _>("is_default")? != 0,
        removed_at: row.try_get("removed_at")?,
    })
}

/// Decodes a `delivery_orders` row selected with [`ORDER_COLUMNS`].
pub(crate) fn order(row: &AnyRow) -> StoreResult<DeliveryOrder> {
    let slot: String = row.try_get("slot")?;
    let state: String = row.try_get("state")?;
    let payment: String = row.try_get("payment")?;
    let book: Option<i64> = row.try_get("book_id")?;
    Ok(DeliveryOrder {
        id: row.try_get("id")?,
        account_id: row.try_get("account_id")?,
        address_id: row.try_get("address_id")?,
        region_id: row.try_get("region_id")?,
        product: ProductCode(int(row, "product_code")?),
        bottles: int(row, "bottles")?,
        slot_date: row.try_get("slot_date")?,
        slot: Slot::parse(&slot).ok_or_else(|| rows::corrupt("delivery_orders.slot"))?,
        note: row.try_get("note")?,
        payment: Payment::from_row(&payment, book.map(|id| BookId(id as u64)))
            .ok_or_else(|| rows::corrupt("delivery_orders.payment"))?,
        state: OrderState::parse(&state).ok_or_else(|| rows::corrupt("delivery_orders.state"))?,
        courier_id: opt_user(row, "courier_id")?,
        recurring_id: row.try_get("recurring_id")?,
        placed_by: opt_user(row, "placed_by")?,
        failure_reason: row.try_get("failure_reason")?,
        created_at: row.try_get("created_at")?,
        assigned_at: row.try_get("assigned_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// Stores a new order as `pending`.
pub(crate) async fn insert_order(
    conn: &mut AnyConnection,
    new: &NewOrderRow,
    now: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO delivery_orders (account_id, address_id, region_id, product_code, bottles, \
         slot_date, slot, note, payment, book_id, state, recurring_id, placed_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', $11, $12, $13) RETURNING id",
    )
    .bind(new.account_id)
    .bind(new.address_id)
    .bind(new.region_id)
    .bind(i64::from(new.product.0))
    .bind(i64::from(new.bottles))
    .bind(&new.slot_date)
    .bind(new.slot.as_str())
    .bind(&new.note)
    .bind(new.payment.kind())
    .bind(new.payment.book().map(|book| book.0 as i64))
    .bind(new.recurring_id)
    .bind(new.placed_by.map(|user| user.0 as i64))
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// One order, `NotFound` if there is none.
pub(crate) async fn fetch_order(conn: &mut AnyConnection, id: i64) -> StoreResult<DeliveryOrder> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM delivery_orders WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    order(&row)
}

/// One address, removed or not; `NotFound` if there is none.
pub(crate) async fn fetch_address(conn: &mut AnyConnection, id: i64) -> StoreResult<AddressRow> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ADDRESS_COLUMNS} FROM addresses WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    address(&row)
}

/// Units of a book that open tickets orders hold.
pub(crate) async fn reserved_units(conn: &mut AnyConnection, book: BookId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        // PostgreSQL sums BIGINT as NUMERIC: cast back so both backends answer an integer.
        "SELECT CAST(COALESCE(SUM(bottles), 0) AS BIGINT) FROM delivery_orders \
         WHERE book_id = $1 AND state IN ('pending', 'assigned', 'out')",
    )
    .bind(book.0 as i64)
    .fetch_one(conn)
    .await?)
}

/// Takes the dispatch clock's row lock without advancing it: a transaction that will append to
/// the feed takes it before touching any order, so on PostgreSQL two of them cannot deadlock and
/// feed order is commit order.
pub(crate) async fn lock_dispatch_clock(conn: &mut AnyConnection) -> StoreResult<()> {
    sqlx::query("UPDATE dispatch_clock SET seq = seq WHERE id = 1")
        .execute(conn)
        .await?;
    Ok(())
}

/// Appends what a courier's phone must learn about an order, with the next feed sequence;
/// called inside the transaction that makes the change, after [`lock_dispatch_clock`].
pub(crate) async fn append_feed(
    conn: &mut AnyConnection,
    courier: UserId,
    order_id: i64,
    change: FeedChange,
    now: i64,
) -> StoreResult<i64> {
    let seq: i64 =
        sqlx::query_scalar("UPDATE dispatch_clock SET seq = seq + 1 WHERE id = 1 RETURNING seq")
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query(
        "INSERT INTO delivery_feed (seq, courier_id, order_id, change, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(seq)
    .bind(courier.0 as i64)
    .bind(order_id)
    .bind(change.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(seq)
}

/// What placing an order came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The order's id.
    Order(i64),
    /// The book no longer covers the bottles: this many units are still orderable.
    Short {
        /// Units − used − reserved, as read under the book's lock.
        orderable: i64,
    },
}

/// Serialises reservations on one book until the transaction ends, so two orders at once cannot
/// reserve the same units.
pub(crate) async fn lock_book_orders(
    conn: &mut AnyConnection,
    book: BookId,
    now: i64,
) -> StoreResult<()> {
    crate::store::tx::lock_key(conn, "order-book", &book.0.to_be_bytes(), now).await
}

/// Units of `book` a customer may still order: units − used − reserved by open orders. Read it
/// under [`lock_book_orders`] to act on it.
pub(crate) async fn orderable_units(conn: &mut AnyConnection, book: BookId) -> StoreResult<i64> {
    let row = sqlx::query("SELECT units, used_units FROM books WHERE id = $1")
        .bind(book.0 as i64)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    let units: i64 = row.try_get("units")?;
    let used: i64 = row.try_get("used_units")?;
    Ok(units - used - reserved_units(conn, book).await?)
}

/// Inserts `new` unless its book (for a tickets order) no longer covers it, under the book's
/// lock; the caller commits.
pub(crate) async fn place_in(
    conn: &mut AnyConnection,
    new: &NewOrderRow,
    now: i64,
) -> StoreResult<Placed> {
    if let Payment::Tickets(book) = new.payment {
        lock_book_orders(conn, book, now).await?;
        let orderable = orderable_units(conn, book).await?;
        if orderable < i64::from(new.bottles) {
            return Ok(Placed::Short { orderable });
        }
    }
    Ok(Placed::Order(insert_order(conn, new, now).await?))
}

/// An account's orders, newest first, at most `limit`.
pub(super) async fn of_account(
    conn: &mut AnyConnection,
    account_id: i64,
    limit: u32,
) -> StoreResult<Vec<DeliveryOrder>> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM delivery_orders WHERE account_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(account_id)
    .bind(i64::from(limit))
    .fetch_all(conn)
    .await?;
    found.iter().map(order).collect()
}

/// Cancels order `id` of `account_id` if it is still `pending`; `false` if it is not.
pub(super) async fn cancel_pending(
    conn: &mut AnyConnection,
    account_id: i64,
    id: i64,
    now: i64,
) -> StoreResult<bool> {
    let changed = sqlx::query(
        "UPDATE delivery_orders SET state = 'cancelled', closed_at = $3 \
         WHERE id = $1 AND account_id = $2 AND state = 'pending'",
    )
    .bind(id)
    .bind(account_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(changed > 0)
}
