//! An account's delivery addresses (an enterprise's delivery points): the rules of
//! docs/deliveries.md, "Addresses", and the list as customers see it, phone masked.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::config::MasterKey;
use crate::ordering::{OrderingError, ordering_account, region_exists};
use crate::pii::Phone;
use crate::store::addresses::AddressFields;
use crate::store::delivery_orders::AddressRow;
use crate::store::models::{AuditEntry, User};
use crate::store::{Store, StoreError};

/// Most live addresses an account keeps.
pub const MAX_ADDRESSES: usize = 20;

/// An address as typed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    /// The region it lies in.
    pub region_id: i64,
    /// A delivery point's name (e.g. 三楼前台), 0–20 characters.
    #[serde(default)]
    pub label: String,
    /// 小区, 1–40 characters.
    pub community: String,
    /// 楼栋, 1–40 characters.
    pub building: String,
    /// 单元, 0–40 characters.
    #[serde(default)]
    pub unit: String,
    /// 门牌, 0–40 characters.
    #[serde(default)]
    pub room: String,
    /// Who receives the water, 1–20 characters.
    pub contact: String,
    /// The contact's mainland mobile number; when editing, empty keeps the stored one.
    #[serde(default)]
    pub phone: String,
}

/// An address as its account sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct AddressView {
    /// Address id.
    pub id: i64,
    /// Its region.
    pub region_id: i64,
    /// The region's name.
    pub region_name: String,
    /// A delivery point's name, empty for a home.
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
    /// The contact's phone, masked (`138****5678`).
    pub phone_masked: String,
    /// 小区 楼栋 单元 门牌 on one line.
    pub line: String,
    /// The account's default address.
    pub is_default: bool,
}

/// One text field's rule: its messages when missing (`None`: may be empty) and when too long.
struct FieldRule {
    missing: Option<&'static str>,
    too_long: &'static str,
    max: usize,
}

const LABEL: FieldRule = FieldRule {
    missing: None,
    too_long: "标签不能超过 20 字",
    max: 20,
};
const COMMUNITY: FieldRule = FieldRule {
    missing: Some("请填写小区"),
    too_long: "小区不能超过 40 字",
    max: 40,
};
const BUILDING: FieldRule = FieldRule {
    missing: Some("请填写楼栋"),
    too_long: "楼栋不能超过 40 字",
    max: 40,
};
const UNIT: FieldRule = FieldRule {
    missing: None,
    too_long: "单元不能超过 40 字",
    max: 40,
};
const ROOM: FieldRule = FieldRule {
    missing: None,
    too_long: "门牌不能超过 40 字",
    max: 40,
};
const CONTACT: FieldRule = FieldRule {
    missing: Some("请填写联系人"),
    too_long: "联系人不能超过 20 字",
    max: 20,
};

fn field(text: &str, rule: FieldRule) -> Result<String, OrderingError> {
    let text = text.trim();
    if text.chars().any(char::is_control) {
        return Err(OrderingError::AddressField("地址信息不能包含控制字符"));
    }
    match rule.missing {
        Some(message) if text.is_empty() => Err(OrderingError::AddressField(message)),
        _ if text.chars().count() > rule.max => Err(OrderingError::AddressField(rule.too_long)),
        _ => Ok(text.to_string()),
    }
}

/// Checks every rule of `input` but the phone; `phone_sealed` is what to store.
async fn check(
    store: &Store,
    input: &AddressInput,
    phone_sealed: Vec<u8>,
) -> Result<AddressFields, OrderingError> {
    let fields = AddressFields {
        region_id: input.region_id,
        label: field(&input.label, LABEL)?,
        community: field(&input.community, COMMUNITY)?,
        building: field(&input.building, BUILDING)?,
        unit: field(&input.unit, UNIT)?,
        room: field(&input.room, ROOM)?,
        contact: field(&input.contact, CONTACT)?,
        phone_sealed,
    };
    if !region_exists(store, input.region_id).await? {
        return Err(OrderingError::UnknownRegion);
    }
    Ok(fields)
}

fn audit(user: &User, action: &'static str, id: i64, region_id: Option<i64>) -> AuditEntry {
    AuditEntry::new(
        Some(user.id),
        action,
        format!("address:{id}"),
        json!({ "region_id": region_id }),
    )
}

/// `user` adds an address to their account's list; the first becomes the default.
pub async fn add(
    store: &Store,
    master: &MasterKey,
    user: &User,
    input: &AddressInput,
    now: i64,
) -> Result<i64, OrderingError> {
    let account = ordering_account(user)?;
    let phone = Phone::parse(&input.phone)?;
    let fields = check(store, input, phone.seal(master)).await?;
    store
        .add_address(
            account,
            &fields,
            MAX_ADDRESSES,
            |id| audit(user, "address.add", id, Some(fields.region_id)),
            now,
        )
        .await?
        .ok_or(OrderingError::TooManyAddresses)
}

/// Maps "not one of the account's live addresses" to its message.
fn not_yours(err: StoreError) -> OrderingError {
    match err {
        StoreError::NotFound => OrderingError::UnknownAddress,
        err => err.into(),
    }
}

/// `user` rewrites one of their account's live addresses; an empty phone keeps the stored one.
pub async fn edit(
    store: &Store,
    master: &MasterKey,
    user: &User,
    id: i64,
    input: &AddressInput,
    now: i64,
) -> Result<(), OrderingError> {
    let account = ordering_account(user)?;
    let current = live_address(store, account, id).await?;
    let phone_sealed = match input.phone.trim() {
        "" => current.phone_sealed,
        typed => Phone::parse(typed)?.seal(master),
    };
    let fields = check(store, input, phone_sealed).await?;
    let entry = audit(user, "address.edit", id, Some(fields.region_id));
    store
        .edit_address(account, id, &fields, &entry, now)
        .await
        .map_err(not_yours)
}

/// `user` takes one of their account's addresses off the list; orders keep it.
pub async fn remove(store: &Store, user: &User, id: i64, now: i64) -> Result<(), OrderingError> {
    let account = ordering_account(user)?;
    let entry = audit(user, "address.remove", id, None);
    store
        .remove_address(account, id, &entry, now)
        .await
        .map_err(not_yours)
}

/// `user` makes one of their account's addresses the default.
pub async fn set_default(
    store: &Store,
    user: &User,
    id: i64,
    now: i64,
) -> Result<(), OrderingError> {
    let account = ordering_account(user)?;
    let entry = audit(user, "address.default", id, None);
    store
        .set_default_address(account, id, &entry, now)
        .await
        .map_err(not_yours)
}

/// Live address `id` of `account`, [`OrderingError::UnknownAddress`] otherwise.
pub(crate) async fn live_address(
    store: &Store,
    account: i64,
    id: i64,
) -> Result<AddressRow, OrderingError> {
    match store.address(id).await {
        Ok(row) if row.account_id == account && row.removed_at.is_none() => Ok(row),
        Ok(_) | Err(StoreError::NotFound) => Err(OrderingError::UnknownAddress),
        Err(err) => Err(err.into()),
    }
}

/// How `row` reads for its account: region named, phone opened and masked.
pub async fn view(
    store: &Store,
    master: &MasterKey,
    row: &AddressRow,
) -> Result<AddressView, OrderingError> {
    let regions = store.regions().await?;
    Ok(present(master, row, &regions))
}

fn present(
    master: &MasterKey,
    row: &AddressRow,
    regions: &[crate::store::models::Region],
) -> AddressView {
    AddressView {
        id: row.id,
        region_id: row.region_id,
        region_name: regions
            .iter()
            .find(|region| region.id == row.region_id)
            .map(|region| region.name.clone())
            .unwrap_or_default(),
        label: row.label.clone(),
        community: row.community.clone(),
        building: row.building.clone(),
        unit: row.unit.clone(),
        room: row.room.clone(),
        contact: row.contact.clone(),
        // A phone that does not open (a rotated master key) is shown as unknown, not as an error.
        phone_masked: Phone::open(master, &row.phone_sealed)
            .map(|phone| phone.masked())
            .unwrap_or_else(|_| "***".to_string()),
        line: row.line(),
        is_default: row.is_default,
    }
}

/// `user`'s account's live addresses, the default first.
pub async fn list(
    store: &Store,
    master: &MasterKey,
    user: &User,
) -> Result<Vec<AddressView>, OrderingError> {
    let account = ordering_account(user)?;
    let regions = store.regions().await?;
    Ok(store
        .addresses_of_account(account)
        .await?
        .iter()
        .map(|row| present(master, row, &regions))
        .collect())
}
