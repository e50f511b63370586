//! Decoding database rows into store models; a row that does not decode is reported as corrupt.

use shuipiao_shared::event::SignedEvent;
use shuipiao_shared::ids::{BookId, DeviceId, EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::ledger::ResolutionAction;
use shuipiao_shared::verdict::UseTerms;
use sqlx::Row;
use sqlx::any::AnyRow;

use shuipiao_shared::status::{BookState, StatusRow, StatusSets};

use crate::store::models::*;
use crate::store::{StoreError, StoreResult};

/// A row held a value the schema allows but the code does not (e.g. an unknown role).
pub(super) fn corrupt(what: &str) -> StoreError {
    StoreError::Other(format!("corrupt row: {what}").into())
}

fn get<T>(row: &AnyRow, column: &str) -> StoreResult<T>
where
    T: for<'r> sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    Ok(row.try_get::<T, _>(column)?)
}

fn int<T: TryFrom<i64>>(row: &AnyRow, column: &str) -> StoreResult<T> {
    let value: i64 = get(row, column)?;
    T::try_from(value).map_err(|_| corrupt(column))
}

fn opt_int<T: TryFrom<i64>>(row: &AnyRow, column: &str) -> StoreResult<Option<T>> {
    let value: Option<i64> = get(row, column)?;
    value
        .map(|value| T::try_from(value).map_err(|_| corrupt(column)))
        .transpose()
}

fn fixed<const N: usize>(row: &AnyRow, column: &str) -> StoreResult<[u8; N]> {
    let bytes: Vec<u8> = get(row, column)?;
    bytes.try_into().map_err(|_| corrupt(column))
}

/// Hex of a key id, as shown in APIs.
pub(super) fn kid_hex(kid: [u8; 4]) -> String {
    data_encoding::HEXLOWER.encode(&kid)
}

/// Key id bytes from hex.
pub(super) fn kid_bytes(hex: &str) -> StoreResult<[u8; 4]> {
    data_encoding::HEXLOWER_PERMISSIVE
        .decode(hex.as_bytes())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| StoreError::Other(format!("bad key id `{hex}`").into()))
}

pub(super) fn product(row: &AnyRow) -> StoreResult<Product> {
    Ok(Product {
        code: ProductCode(int(row, "code")?),
        name: get(row, "name")?,
        volume_ml: int(row, "volume_ml")?,
        deposit_fen: get(row, "deposit_fen")?,
    })
}

pub(super) fn region(row: &AnyRow) -> StoreResult<Region> {
    Ok(Region {
        id: get(row, "id")?,
        name: get(row, "name")?,
    })
}

pub(super) fn outlet(row: &AnyRow) -> StoreResult<Outlet> {
    Ok(Outlet {
        id: get(row, "id")?,
        region_id: get(row, "region_id")?,
        name: get(row, "name")?,
    })
}

pub(super) fn package(row: &AnyRow) -> StoreResult<Package> {
    Ok(Package {
        id: get(row, "id")?,
        spec: NewPackage {
            name: get(row, "name")?,
            price_fen: get(row, "price_fen")?,
            paid_units: int(row, "paid_units")?,
            bonus_units: int(row, "bonus_units")?,
            validity_days: int(row, "validity_days")?,
            product: ProductCode(int(row, "product_code")?),
            scope: ScopeId(int(row, "scope_id")?),
            holder_bound: int::<i64>(row, "holder_bound")? != 0,
        },
        retired_at: row.try_get("retired_at")?,
    })
}

pub(super) fn account(row: &AnyRow) -> StoreResult<Account> {
    let kind: String = get(row, "kind")?;
    Ok(Account {
        id: get(row, "id")?,
        spec: NewAccount {
            kind: AccountKind::parse(&kind).ok_or_else(|| corrupt("accounts.kind"))?,
            name: get(row, "name")?,
            enterprise_id: get(row, "enterprise_id")?,
        },
    })
}

pub(super) fn user(row: &AnyRow) -> StoreResult<User> {
    let role: String = get(row, "role")?;
    Ok(User {
        id: UserId(int(row, "id")?),
        spec: NewUser {
            username: get(row, "username")?,
            password_hash: get(row, "password_hash")?,
            role: Role::parse(&role).ok_or_else(|| corrupt("users.role"))?,
            account_id: get(row, "account_id")?,
            region_id: get(row, "region_id")?,
            outlet_id: get(row, "outlet_id")?,
        },
        disabled_at: get(row, "disabled_at")?,
        phone_sealed: get(row, "phone_sealed")?,
    })
}

pub(super) fn session(row: &AnyRow) -> StoreResult<Session> {
    Ok(Session {
        id: get(row, "id")?,
        user_id: UserId(int(row, "user_id")?),
        secret_hash: get(row, "secret_hash")?,
        expires_at: get(row, "expires_at")?,
    })
}

pub(super) fn book(row: &AnyRow) -> StoreResult<Book> {
    let state: String = get(row, "state")?;
    Ok(Book {
        issued: NewBook {
            id: BookId(int(row, "id")?),
            account_id: get(row, "account_id")?,
            product: ProductCode(int(row, "product_code")?),
            units: int(row, "units")?,
            scope: ScopeId(int(row, "scope_id")?),
            valid_from: int(row, "valid_from")?,
            valid_until: int(row, "valid_until")?,
            kid_hex: kid_hex(fixed(row, "kid")?),
            qr_text: get(row, "qr_text")?,
            source: get(row, "source")?,
            replaces: opt_int(row, "replaces_book_id")?.map(BookId),
        },
        order_id: get(row, "order_id")?,
        package_id: get(row, "package_id")?,
        used_units: int(row, "used_units")?,
        state: book_state(&state).ok_or_else(|| corrupt("books.state"))?,
        revoked_at: get(row, "revoked_at")?,
        revoke_reason: get(row, "revoke_reason")?,
        last_used_at: get(row, "last_used_at")?,
        status_seq: get(row, "status_seq")?,
    })
}

pub(super) fn signing_key(row: &AnyRow) -> StoreResult<SigningKeyRow> {
    let purpose: String = get(row, "purpose")?;
    let state: String = get(row, "state")?;
    Ok(SigningKeyRow {
        kid: fixed(row, "kid")?,
        purpose: match purpose.as_str() {
            "root" => KeyPurpose::Root,
            "issuer" => KeyPurpose::Issuer,
            _ => return Err(corrupt("signing_keys.purpose")),
        },
        public_key: fixed(row, "public_key")?,
        sealed_secret: get(row, "sealed_secret")?,
        not_before: int(row, "not_before")?,
        not_after: int(row, "not_after")?,
        status: match state.as_str() {
            "active" => KeyStatus::Active,
            "retired" => KeyStatus::Retired,
            "compromised" => KeyStatus::Compromised,
            _ => return Err(corrupt("signing_keys.state")),
        },
        compromised_since: opt_int(row, "compromised_since")?,
    })
}

pub(super) fn device(row: &AnyRow) -> StoreResult<Device> {
    Ok(Device {
        id: DeviceId(int(row, "id")?),
        name: get(row, "name")?,
        user_id: UserId(int(row, "user_id")?),
        public_key: fixed(row, "public_key")?,
        token_hash: get(row, "token_hash")?,
        enrolled_at: get(row, "enrolled_at")?,
        disabled_at: get(row, "disabled_at")?,
    })
}

pub(super) fn audit(row: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: get(row, "id")?,
        actor_user_id: get(row, "actor_user_id")?,
        action: get(row, "action")?,
        target: get(row, "target")?,
        detail: get(row, "detail")?,
        at: get(row, "at")?,
    })
}

/// Stored text of a book state.
pub(super) fn book_state_text(state: BookState) -> &'static str {
    match state {
        BookState::Active => "active",
        BookState::UsedUp => "used_up",
        BookState::Revoked => "revoked",
    }
}

fn book_state(text: &str) -> Option<BookState> {
    [BookState::Active, BookState::UsedUp, BookState::Revoked]
        .into_iter()
        .find(|state| book_state_text(*state) == text)
}

pub(super) fn status_row(row: &AnyRow) -> StoreResult<StatusRow> {
    let state: String = get(row, "state")?;
    Ok(StatusRow {
        book_id: BookId(int(row, "id")?),
        used_units: int(row, "used_units")?,
        state: book_state(&state).ok_or_else(|| corrupt("books.state"))?,
        seq: int(row, "status_seq")?,
        last_used_at: opt_int(row, "last_used_at")?,
    })
}

/// Adds one row of the status-sets query (`id`, `state`) to `sets`; the row whose state is
/// `head` carries the status sequence in `id` instead.
pub(super) fn add_to_sets(row: &AnyRow, seq: &mut u64, sets: &mut StatusSets) -> StoreResult<()> {
    let id: u64 = int(row, "id")?;
    let state: String = get(row, "state")?;
    match (state.as_str(), book_state(&state)) {
        ("head", _) => *seq = id,
        (_, Some(BookState::Revoked)) => {
            sets.revoked.insert(id);
        }
        (_, Some(BookState::UsedUp)) => {
            sets.used_up.insert(id);
        }
        _ => return Err(corrupt("books.state")),
    }
    Ok(())
}

/// An event id stored as text.
pub(super) fn parse_event_id(text: &str) -> StoreResult<EventId> {
    text.parse().map(EventId).map_err(|_| corrupt("event id"))
}

/// A resolution action stored as text.
pub(super) fn parse_action(text: &str) -> StoreResult<ResolutionAction> {
    match text {
        "charge" => Ok(ResolutionAction::Charge),
        "write_off" => Ok(ResolutionAction::WriteOff),
        "void" => Ok(ResolutionAction::Void),
        _ => Err(corrupt("resolutions.action")),
    }
}

/// One review item from its rows (one per reason, ordered by the query), all about one event.
pub(super) fn review_item(group: &[AnyRow]) -> StoreResult<ReviewItem> {
    let row = group.first().ok_or_else(|| corrupt("review_queue"))?;
    let event_id: String = get(row, "event_id")?;
    let resolution_event_id: Option<String> = get(row, "resolution_event_id")?;
    let action: Option<String> = get(row, "action")?;
    let signed: Vec<u8> = get(row, "signed")?;
    let event = SignedEvent::from_bytes(&signed)
        .map_err(|_| corrupt("events.signed"))?
        .event;
    let flags = event.flags;
    let mut reasons = group
        .iter()
        .map(|row| {
            let text: String = get(row, "reason")?;
            Ok(ReviewReason::parse(&text).unwrap_or(ReviewReason::Unknown))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    reasons.sort();
    reasons.dedup();
    let created_at = group
        .iter()
        .map(|row| get::<i64>(row, "created_at"))
        .collect::<StoreResult<Vec<_>>>()?
        .into_iter()
        .min()
        .unwrap_or_default();
    Ok(ReviewItem {
        event_id: parse_event_id(&event_id)?,
        book_id: opt_int(row, "book_id")?.map(BookId),
        order_id: event.body.order_id(),
        reason: reasons.first().copied().unwrap_or(ReviewReason::Unknown),
        labels: reasons.iter().map(|reason| reason.label(flags)).collect(),
        reasons,
        device_id: DeviceId(int(row, "device_id")?),
        device_seq: int(row, "device_seq")?,
        scanned_at: int(row, "scanned_at")?,
        created_at,
        resolution: action.as_deref().map(parse_action).transpose()?,
        resolution_event_id: resolution_event_id
            .as_deref()
            .map(parse_event_id)
            .transpose()?,
    })
}

pub(super) fn invitation(row: &AnyRow) -> StoreResult<Invitation> {
    let state: String = get(row, "state")?;
    Ok(Invitation {
        id: get(row, "id")?,
        enterprise_id: get(row, "enterprise_id")?,
        enterprise_name: get(row, "enterprise_name")?,
        phone_index: get(row, "phone_index")?,
        phone_masked: get(row, "phone_masked")?,
        name: get(row, "name")?,
        state: InvitationState::parse(&state)
            .ok_or_else(|| corrupt("enterprise_invitations.state"))?,
        account_id: get(row, "account_id")?,
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
        answered_at: get(row, "answered_at")?,
    })
}

/// A book's id and the terms a redemption of it is checked against.
pub(super) fn book_terms(row: &AnyRow) -> StoreResult<(BookId, UseTerms)> {
    Ok((
        BookId(int(row, "id")?),
        UseTerms {
            product: ProductCode(int(row, "product_code")?),
            scope: ScopeId(int(row, "scope_id")?),
            valid_from: int(row, "valid_from")?,
            valid_until: int(row, "valid_until")?,
        },
    ))
}
