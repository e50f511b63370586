//! Request and response bodies of the device API, version 1 (`/api/v1`, docs/protocol.md "Sync API and versioning").
//!
//! Every body rejects unknown fields, so a client and server that disagree on the version fail
//! loudly instead of silently ignoring data. Changes are additive, behind new optional fields or
//! a new version.

use serde::{Deserialize, Serialize};

use crate::event::{EventHash, LinkError, SignedEvent};
use crate::ids::{DeviceId, EventId, ScopeId, UserId};
use crate::status::StatusRow;

/// The path prefix of this API version.
pub const API_PREFIX: &str = "/api/v1";

/// Most events one push may carry.
pub const MAX_PUSH_EVENTS: usize = 500;

/// `POST /api/v1/devices/enroll`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// One-time enrollment code from an admin.
    pub code: String,
    /// The device's Ed25519 public key; the private key never leaves the device.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    #[serde(with = "crate::bytes::hex_array")]
    pub device_pubkey: [u8; 32],
    /// A name for the device list, e.g. "张师傅的手机".
    pub name: String,
}

/// Who a device works for.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRole {
    /// A courier's phone: camera scanning at the door.
    Courier,
    /// A store counter: USB scanner.
    Store,
}

/// A region or store name for display.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedScope {
    /// The scope id carried by credentials.
    pub scope: ScopeId,
    /// Its name, e.g. 武汉市江汉区.
    pub name: String,
}

/// Answer to an enrollment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollResponse {
    /// The new device's id.
    pub device_id: DeviceId,
    /// Bearer token for sync calls; shown once, stored hashed on the server.
    pub device_token: String,
    /// The root public key to pin.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    #[serde(with = "crate::bytes::hex_array")]
    pub root_public_key: [u8; 32],
    /// Courier or store.
    pub role: DeviceRole,
    /// The courier or clerk the device is assigned to.
    pub user_id: UserId,
    /// Their display name.
    pub display_name: String,
    /// The store, for store devices.
    pub store_name: Option<String>,
    /// Scopes the device serves.
    pub scopes: Vec<NamedScope>,
    /// Staff code for 线下协助 sign-ups attributed to this user.
    pub staff_code: String,
    /// Server time, unix seconds.
    pub server_time: u64,
}

/// `POST /api/v1/sync/push`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushRequest {
    /// Events in `device_seq` order, at most [`MAX_PUSH_EVENTS`].
    pub events: Vec<SignedEvent>,
}

/// The server's verdict on one pushed event.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushVerdict {
    /// Stored.
    Accepted,
    /// Already stored with identical content: nothing to do.
    Duplicate,
    /// Stored and flagged for review (over-redeemed, after revocation, stale, override…).
    Conflict,
    /// Not stored; see the reason. The device keeps the event and shows it.
    Rejected,
}

/// Why an event was not stored. Only a broken chain, a reused id or a number no store can hold
/// is refused: an event whose link and signature are sound is a fact and is stored, and
/// anything odd about its content (a book this server does not know, a void of another device's
/// redemption, a redemption outside the book's terms) goes to the review queue with a
/// `conflict` verdict, so one odd event never stalls an honest device's chain.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PushRejection {
    /// The event id is already stored with other content.
    IdReused,
    /// The chain does not continue from what the server holds.
    Chain {
        /// How.
        link: LinkError,
    },
    /// The event arrived after an earlier one in the batch was rejected; resend it later.
    AfterRejected,
    /// A number in the event is larger than the server can store (`2^63 - 1`); no honest
    /// device writes one. Added to version 1 after the other kinds: a device that does not know
    /// it fails to read the answer, which only a device sending such numbers ever gets.
    OutOfRange {
        /// Which number.
        field: EventField,
    },
}

/// A number of a pushed event, as named in [`PushRejection::OutOfRange`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventField {
    /// `device_seq`.
    DeviceSeq,
    /// `scanned_at`.
    ScannedAt,
    /// The `book_id` of a redemption or a void.
    BookId,
    /// The `order_id` of a delivery.
    OrderId,
}

impl PushRejection {
    /// Whether resending the same event later can succeed (a missing earlier link may still
    /// arrive); otherwise the event needs an operator.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            PushRejection::AfterRejected
                | PushRejection::Chain {
                    link: LinkError::Gap { .. }
                }
        )
    }
}

/// Result for one event of a push.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResult {
    /// The event.
    pub event_id: EventId,
    /// Its sequence number.
    pub device_seq: u64,
    /// What the server did.
    pub verdict: PushVerdict,
    /// For stored events that change a book: the status sequence that reflects them. The device
    /// counts the event locally until it pulls a row for the book with `seq >=` this.
    pub server_seq: Option<u64>,
    /// For rejected events.
    pub rejection: Option<PushRejection>,
}

/// Answer to a push.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushResponse {
    /// One result per pushed event, in the order pushed.
    pub results: Vec<PushResult>,
    /// Server time, unix seconds.
    pub server_time: u64,
}

/// Longest `last_sync_error` a device may report, in characters.
pub const MAX_SYNC_ERROR_CHARS: usize = 200;

/// Query of `GET /api/v1/sync/pull`.
///
/// `pending_events` and `last_sync_error` were added to version 1 as optional fields: devices
/// that leave them out work as before, and a device sends them only when it has them (they are
/// never serialized as empty), but a server older than the fields refuses them, so servers are
/// upgraded before devices (docs/protocol.md, "API versioning").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullQuery {
    /// `next_cursor` of the previous pull; 0 the first time.
    pub cursor: u64,
    /// Keyring version the device holds; a newer bundle comes back if there is one.
    #[serde(default)]
    pub keyring_version: u64,
    /// Most rows wanted.
    pub limit: Option<u32>,
    /// Events the device still holds that the server has not stored (after this cycle's push),
    /// for the operators' device list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_events: Option<u64>,
    /// The device's last failed sync, if the cycle before this one failed: its error code and
    /// message, at most [`MAX_SYNC_ERROR_CHARS`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_error: Option<String>,
}

/// Answer to a pull.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullResponse {
    /// Books changed after the cursor, in `seq` order.
    pub statuses: Vec<StatusRow>,
    /// A root-signed keyring bundle, if newer than the device's.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = Byte))]
    #[serde(default, with = "optional_blob")]
    pub keyring: Option<Vec<u8>>,
    /// Server time, unix seconds; devices measure data age and clock rollback against it.
    pub server_time: u64,
    /// Cursor for the next pull. Commit-order safe: no row committed later can have a lower
    /// sequence than a cursor already handed out.
    pub next_cursor: u64,
    /// More rows are waiting.
    pub has_more: bool,
}

/// Answer to `GET /api/v1/sync/status`: where the server's copy of this device's chain ends,
/// so a device resumes after a crash without guessing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncStatusResponse {
    /// The device.
    pub device_id: DeviceId,
    /// Highest `device_seq` stored; 0 if none.
    pub last_device_seq: u64,
    /// Hash of that event.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    #[serde(with = "crate::bytes::hex_array")]
    pub last_hash: EventHash,
    /// Server time, unix seconds.
    pub server_time: u64,
}

/// Machine-readable error class of an API error.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request.
    BadRequest,
    /// Missing or wrong credentials.
    Unauthorized,
    /// Authenticated but not allowed.
    Forbidden,
    /// No such thing.
    NotFound,
    /// State conflict.
    Conflict,
    /// Body over the size limit.
    PayloadTooLarge,
    /// Too many requests.
    RateLimited,
    /// Enrollment code unknown, used or expired.
    EnrollmentCodeInvalid,
    /// The device has been disabled by an admin.
    DeviceDisabled,
    /// Server fault.
    Internal,
    /// The server is overloaded (database busy); retry the same request later.
    Busy,
}

/// Body of every API error: clients match on `code`, never on `message`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Class.
    pub code: ErrorCode,
    /// Human-readable detail (zh-CN where a user may see it).
    pub message: String,
}

mod optional_blob {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(blob: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match blob {
            Some(bytes) => crate::bytes::base64_blob::serialize(bytes, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "crate::bytes::base64_blob")] Vec<u8>);
        Ok(Option::<Wrapped>::deserialize(d)?.map(|w| w.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_rejections_name_the_field_and_are_final() {
        let rejection = PushRejection::OutOfRange {
            field: EventField::BookId,
        };
        let text = serde_json::to_string(&rejection).unwrap();
        assert_eq!(text, r#"{"kind":"out_of_range","field":"book_id"}"#);
        assert_eq!(
            serde_json::from_str::<PushRejection>(&text).unwrap(),
            rejection
        );
        assert!(
            !rejection.is_retryable(),
            "resending the same event cannot help"
        );
    }

    #[test]
    fn pull_query_report_fields_are_optional_both_ways() {
        let old: PullQuery =
            serde_json::from_str(r#"{"cursor": 7, "keyring_version": 2, "limit": null}"#).unwrap();
        assert_eq!(old.pending_events, None);
        assert_eq!(old.last_sync_error, None);
        let unreported = serde_json::to_value(PullQuery {
            cursor: 7,
            ..PullQuery::default()
        })
        .unwrap();
        assert_eq!(
            unreported,
            serde_json::json!({"cursor": 7, "keyring_version": 0, "limit": null}),
            "a device without a report sends exactly what older devices send"
        );
        let reported = PullQuery {
            pending_events: Some(3),
            last_sync_error: Some("sync_network: timeout".into()),
            ..PullQuery::default()
        };
        let text = serde_json::to_string(&reported).unwrap();
        assert_eq!(serde_json::from_str::<PullQuery>(&text).unwrap(), reported);
        let unknown = serde_json::from_str::<PullQuery>(r#"{"cursor": 1, "battery": 50}"#);
        assert!(unknown.is_err(), "unknown fields are still refused");
    }
}
