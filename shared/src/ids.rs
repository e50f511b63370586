//! Identifier newtypes, so a book id can never be passed where a device id is expected.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Server-assigned serial of a ticket book; never reused.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BookId(pub u64);

/// Server-assigned serial of an enrolled device.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub u64);

/// Server-assigned serial of a user (customer, courier, store staff, operator, …).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub u64);

/// Product code, e.g. one code per bottle size (18.9 L, 11.3 L, 7.5 L).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProductCode(pub u16);

/// A scope: a region or a group of stores defined on the server. [`ScopeId::ANYWHERE`] is valid
/// everywhere.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeId(pub u32);

impl ScopeId {
    /// The scope of books that may be redeemed by any device.
    pub const ANYWHERE: ScopeId = ScopeId(0);
}

/// Identifier of an event (redemption, void, scan attempt, resolution): a UUIDv7, so ids sort
/// roughly by creation time and can be made offline without coordination.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub Uuid);

impl EventId {
    /// A UUIDv7 from a unix time in milliseconds and 10 random bytes supplied by the caller
    /// (this crate reads no clock and no entropy source).
    pub fn v7(unix_millis: u64, random: [u8; 10]) -> EventId {
        EventId(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
    }
}

impl fmt::Display for BookId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
