//! Device events (docs/protocol.md, "Events and the hash chain"): redemptions, voids and refused scan attempts, each signed by the
//! device and linked into a per-device hash chain.
//!
//! Every event a device makes takes the next `device_seq` (1, 2, 3, … with no gaps) and carries
//! `prev_hash`, the SHA-256 of the previous event's record bytes (all zeros for the first). The
//! server can therefore tell a lost, reordered, forged or edited event from an honest one, and
//! [`verify_chain`] names the first bad link.
//!
//! Record layout (big-endian, **do not reorder or renumber**, it is signed and hashed):
//! `"SPE1" | event_id [16] | device_id u64 | device_seq u64 | prev_hash [32] | scanned_at u64 |
//! courier_id u64 | flags u8 | kind u8 | body | signature [64]`, with body
//! `book_id u64 | units u16 | product u16` for a redemption (kind 1),
//! `book_id u64 | target event_id [16]` for a void (kind 2) and
//! `has_book u8 | book_id u64 | refusal u8` for a scan attempt (kind 3; refusal 0 is 已使用,
//! otherwise a [`RejectReason`] code) and
//! `order_id u64 | outcome u8 | reason u8 | bottles u16 | empties u16 | deposits u16 |
//! redemption event_id [16]` for a delivery (kind 4, see [`DeliveryOutcome`]). A scan attempt is
//! logged only for refused scans: an accepted scan is its redemption.
//!
//! A record has one reading: [`SignedEvent::from_bytes`] refuses any byte a field does not use
//! (a scan attempt's book id without `has_book`, a delivery's reason when it was delivered, …)
//! as [`EventParseError::NonCanonical`], so two records never mean the same event.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use crate::bytes::{ReadError, Reader};
use std::num::NonZeroU16;

use crate::ids::{BookId, DeviceId, EventId, ProductCode, UserId};
use crate::verdict::RejectReason;

const MAGIC: &[u8; 4] = b"SPE1";

/// SHA-256 of an event record; the chain link.
pub type EventHash = [u8; 32];

/// The `prev_hash` of a device's first event.
pub const GENESIS_HASH: EventHash = [0; 32];

/// Circumstances recorded on an event, for review and statistics.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFlags {
    /// Made without a connection to the server.
    pub offline: bool,
    /// Made while status data was older than the stale limit.
    pub stale: bool,
    /// A supervisor PIN overrode a freshness refusal.
    pub supervisor_override: bool,
    /// The device clock was behind the last server time seen.
    pub clock_rollback: bool,
}

impl EventFlags {
    const OFFLINE: u8 = 1;
    const STALE: u8 = 2;
    const OVERRIDE: u8 = 4;
    const CLOCK_ROLLBACK: u8 = 8;

    fn to_bits(self) -> u8 {
        let bit = |on: bool, value: u8| if on { value } else { 0 };
        bit(self.offline, Self::OFFLINE)
            | bit(self.stale, Self::STALE)
            | bit(self.supervisor_override, Self::OVERRIDE)
            | bit(self.clock_rollback, Self::CLOCK_ROLLBACK)
    }

    fn from_bits(bits: u8) -> Option<EventFlags> {
        let known = Self::OFFLINE | Self::STALE | Self::OVERRIDE | Self::CLOCK_ROLLBACK;
        (bits & !known == 0).then_some(EventFlags {
            offline: bits & Self::OFFLINE != 0,
            stale: bits & Self::STALE != 0,
            supervisor_override: bits & Self::OVERRIDE != 0,
            clock_rollback: bits & Self::CLOCK_ROLLBACK != 0,
        })
    }

    /// Whether anything about the event asks for an operator's eye.
    pub fn needs_review(self) -> bool {
        self.stale || self.supervisor_override || self.clock_rollback
    }
}

/// Why a scan was refused, as logged in a scan attempt.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Nothing left on the book.
    AlreadyUsed,
    /// Rejected for this reason.
    Rejected(RejectReason),
}

/// What happened.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventBody {
    /// Units of a book were redeemed: water was delivered.
    Redemption {
        /// The book.
        book_id: BookId,
        /// Units redeemed.
        units: u16,
        /// Product delivered.
        product: ProductCode,
    },
    /// An earlier redemption by this device is undone.
    Void {
        /// The book of the voided redemption.
        book_id: BookId,
        /// The voided redemption.
        target: EventId,
    },
    /// A scan was refused; logged for 核销成功率 and support.
    ScanAttempt {
        /// The book, if the code could be parsed.
        book_id: Option<BookId>,
        /// Why it was refused.
        refusal: Refusal,
    },
    /// The courier closed an order of water at the door (docs/deliveries.md): handed it over,
    /// paid as the outcome says, or could not.
    Delivery {
        /// The order.
        order_id: u64,
        /// How it went.
        outcome: DeliveryOutcome,
        /// Empty buckets taken back, whatever the outcome.
        empties: u16,
    },
}

/// How a delivery at the door went. Water handed over always counts at least one bottle; a
/// delivery paid with tickets names the redemption the courier's scan made, which the same
/// device signed before it.
// Read through `WireOutcome`: nested in an event body, a derived tagged enum would take an
// integer for its tag (serde reads it from buffered content), and the API must refuse what its
// schema does not describe.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(
    tag = "outcome",
    rename_all = "snake_case",
    deny_unknown_fields,
    try_from = "WireOutcome"
)]
pub enum DeliveryOutcome {
    /// Delivered, paid with tickets (outcome 1).
    Tickets {
        /// Full bottles handed over.
        #[cfg_attr(feature = "openapi", schema(value_type = u16, minimum = 1))]
        bottles: NonZeroU16,
        /// Buckets whose deposit (押桶) was collected at the door, in cash.
        deposits: u16,
        /// The redemption of the customer's book made by the scan.
        redemption: EventId,
    },
    /// Delivered on the enterprise's account, 月结 (outcome 2).
    Account {
        /// Full bottles handed over.
        #[cfg_attr(feature = "openapi", schema(value_type = u16, minimum = 1))]
        bottles: NonZeroU16,
        /// Buckets whose deposit was put on the account.
        deposits: u16,
    },
    /// Delivered and paid in cash, 货到付款 (outcome 3).
    Cash {
        /// Full bottles handed over.
        #[cfg_attr(feature = "openapi", schema(value_type = u16, minimum = 1))]
        bottles: NonZeroU16,
        /// Buckets whose deposit was collected in cash.
        deposits: u16,
    },
    /// Not delivered, 未送达 (outcome 4).
    NotDelivered {
        /// Why.
        reason: MissReason,
    },
}

/// A [`DeliveryOutcome`] as it travels, before its check: the tag must be a string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireOutcome {
    outcome: String,
    bottles: Option<NonZeroU16>,
    deposits: Option<u16>,
    redemption: Option<EventId>,
    reason: Option<MissReason>,
}

impl TryFrom<WireOutcome> for DeliveryOutcome {
    type Error = String;

    fn try_from(wire: WireOutcome) -> Result<DeliveryOutcome, String> {
        let handed_over = |wire: &WireOutcome| -> Result<(NonZeroU16, u16), String> {
            if wire.reason.is_some() {
                return Err(format!(
                    "unknown field `reason` for outcome `{}`",
                    wire.outcome
                ));
            }
            let bottles = wire.bottles.ok_or("missing field `bottles`")?;
            Ok((bottles, wire.deposits.ok_or("missing field `deposits`")?))
        };
        let no_redemption = |wire: &WireOutcome| match wire.redemption {
            Some(_) => Err(format!(
                "unknown field `redemption` for outcome `{}`",
                wire.outcome
            )),
            None => Ok(()),
        };
        match wire.outcome.as_str() {
            "tickets" => {
                let (bottles, deposits) = handed_over(&wire)?;
                let redemption = wire.redemption.ok_or("missing field `redemption`")?;
                Ok(DeliveryOutcome::Tickets {
                    bottles,
                    deposits,
                    redemption,
                })
            }
            "account" | "cash" => {
                no_redemption(&wire)?;
                let (bottles, deposits) = handed_over(&wire)?;
                Ok(if wire.outcome == "account" {
                    DeliveryOutcome::Account { bottles, deposits }
                } else {
                    DeliveryOutcome::Cash { bottles, deposits }
                })
            }
            "not_delivered" => {
                no_redemption(&wire)?;
                if wire.bottles.is_some() || wire.deposits.is_some() {
                    return Err("an order not delivered has no bottles or deposits".into());
                }
                let reason = wire.reason.ok_or("missing field `reason`")?;
                Ok(DeliveryOutcome::NotDelivered { reason })
            }
            other => Err(format!("unknown outcome `{other}`")),
        }
    }
}

impl DeliveryOutcome {
    /// Full bottles handed over; 0 when not delivered.
    pub fn bottles(&self) -> u16 {
        match *self {
            DeliveryOutcome::Tickets { bottles, .. }
            | DeliveryOutcome::Account { bottles, .. }
            | DeliveryOutcome::Cash { bottles, .. } => bottles.get(),
            DeliveryOutcome::NotDelivered { .. } => 0,
        }
    }

    /// Buckets whose deposit was taken at the door; 0 when not delivered.
    pub fn deposits(&self) -> u16 {
        match *self {
            DeliveryOutcome::Tickets { deposits, .. }
            | DeliveryOutcome::Account { deposits, .. }
            | DeliveryOutcome::Cash { deposits, .. } => deposits,
            DeliveryOutcome::NotDelivered { .. } => 0,
        }
    }

    /// Whether the water was handed over.
    pub fn delivered(&self) -> bool {
        !matches!(self, DeliveryOutcome::NotDelivered { .. })
    }

    /// The redemption a tickets delivery names.
    pub fn redemption(&self) -> Option<EventId> {
        match *self {
            DeliveryOutcome::Tickets { redemption, .. } => Some(redemption),
            _ => None,
        }
    }
}

/// Why an order was not delivered. The codes are part of the signed record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissReason {
    /// 无人在家 (1).
    NobodyHome,
    /// 地址错误 (2).
    WrongAddress,
    /// 客户拒收 (3).
    Refused,
    /// 其他 (4).
    Other,
}

impl MissReason {
    /// Every reason, in code order.
    pub const ALL: [MissReason; 4] = [
        MissReason::NobodyHome,
        MissReason::WrongAddress,
        MissReason::Refused,
        MissReason::Other,
    ];

    /// The code in the record.
    pub fn code(self) -> u8 {
        match self {
            MissReason::NobodyHome => 1,
            MissReason::WrongAddress => 2,
            MissReason::Refused => 3,
            MissReason::Other => 4,
        }
    }

    /// The reason of a code.
    pub fn from_code(code: u8) -> Option<MissReason> {
        MissReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            MissReason::NobodyHome => "无人在家",
            MissReason::WrongAddress => "地址错误",
            MissReason::Refused => "客户拒收",
            MissReason::Other => "其他",
        }
    }
}

impl EventBody {
    /// The book the event is about.
    pub fn book_id(&self) -> Option<BookId> {
        match *self {
            EventBody::Redemption { book_id, .. } | EventBody::Void { book_id, .. } => {
                Some(book_id)
            }
            EventBody::ScanAttempt { book_id, .. } => book_id,
            EventBody::Delivery { .. } => None,
        }
    }

    /// The order a delivery closes.
    pub fn order_id(&self) -> Option<u64> {
        match *self {
            EventBody::Delivery { order_id, .. } => Some(order_id),
            _ => None,
        }
    }
}

/// An event before signing.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// UUIDv7.
    pub event_id: EventId,
    /// The device that made it.
    pub device_id: DeviceId,
    /// 1, 2, 3, … per device, no gaps.
    pub device_seq: u64,
    /// Hash of the device's previous record.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{64}$"))]
    #[serde(with = "crate::bytes::hex_array")]
    pub prev_hash: EventHash,
    /// Device clock, unix seconds.
    pub scanned_at: u64,
    /// The courier or clerk signed in on the device.
    pub courier_id: UserId,
    /// Circumstances.
    pub flags: EventFlags,
    /// What happened.
    pub body: EventBody,
}

/// An event with the device's signature: what devices store, push and the server keeps.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEvent {
    /// The signed event.
    pub event: Event,
    /// Ed25519 signature by the device key over [`Event::signed_bytes`].
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[0-9a-f]{128}$"))]
    #[serde(with = "crate::bytes::hex_array")]
    pub signature: [u8; 64],
}

/// Why an event record could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EventParseError {
    /// Not an event record.
    #[error("not an event record")]
    BadMagic,
    /// Unknown flag bits.
    #[error("unknown flag bits {0:#04x}")]
    UnknownFlags(u8),
    /// Unknown event kind.
    #[error("unknown event kind {0}")]
    UnknownKind(u8),
    /// Unknown refusal code in a scan attempt.
    #[error("unknown refusal code {0}")]
    UnknownRefusal(u8),
    /// Unknown outcome code in a delivery.
    #[error("unknown delivery outcome {0}")]
    UnknownOutcome(u8),
    /// Unknown reason code in a delivery that did not happen.
    #[error("unknown reason {0} for an order not delivered")]
    UnknownMissReason(u8),
    /// A byte a field does not use is set: a scan attempt's book id without `has_book`, a
    /// delivery's reason, deposits or redemption where its outcome has none, a delivery of no
    /// bottle.
    #[error("non-canonical field")]
    NonCanonical,
    /// Truncated or with extra bytes.
    #[error("malformed event record: {0}")]
    Malformed(#[from] ReadError),
}

impl Event {
    /// The bytes the device signs.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.event_id.0.as_bytes());
        out.extend_from_slice(&self.device_id.0.to_be_bytes());
        out.extend_from_slice(&self.device_seq.to_be_bytes());
        out.extend_from_slice(&self.prev_hash);
        out.extend_from_slice(&self.scanned_at.to_be_bytes());
        out.extend_from_slice(&self.courier_id.0.to_be_bytes());
        out.push(self.flags.to_bits());
        match self.body {
            EventBody::Redemption {
                book_id,
                units,
                product,
            } => {
                out.push(1);
                out.extend_from_slice(&book_id.0.to_be_bytes());
                out.extend_from_slice(&units.to_be_bytes());
                out.extend_from_slice(&product.0.to_be_bytes());
            }
            EventBody::Void { book_id, target } => {
                out.push(2);
                out.extend_from_slice(&book_id.0.to_be_bytes());
                out.extend_from_slice(target.0.as_bytes());
            }
            EventBody::ScanAttempt { book_id, refusal } => {
                out.push(3);
                out.push(u8::from(book_id.is_some()));
                out.extend_from_slice(&book_id.map_or(0, |b| b.0).to_be_bytes());
                out.push(match refusal {
                    Refusal::AlreadyUsed => 0,
                    Refusal::Rejected(reason) => reason.code(),
                });
            }
            EventBody::Delivery {
                order_id,
                outcome,
                empties,
            } => {
                let (code, reason) = match outcome {
                    DeliveryOutcome::Tickets { .. } => (1, 0),
                    DeliveryOutcome::Account { .. } => (2, 0),
                    DeliveryOutcome::Cash { .. } => (3, 0),
                    DeliveryOutcome::NotDelivered { reason } => (4, reason.code()),
                };
                out.push(4);
                out.extend_from_slice(&order_id.to_be_bytes());
                out.push(code);
                out.push(reason);
                out.extend_from_slice(&outcome.bottles().to_be_bytes());
                out.extend_from_slice(&empties.to_be_bytes());
                out.extend_from_slice(&outcome.deposits().to_be_bytes());
                let redemption = outcome.redemption().map_or([0; 16], |id| id.0.into_bytes());
                out.extend_from_slice(&redemption);
            }
        }
        out
    }

    /// Signs with the device key.
    pub fn sign(self, device_key: &SigningKey) -> SignedEvent {
        let signature = device_key.sign(&self.signed_bytes()).to_bytes();
        SignedEvent {
            event: self,
            signature,
        }
    }
}

impl SignedEvent {
    /// Signed bytes followed by the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.event.signed_bytes();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Reads a record written by [`SignedEvent::to_bytes`]. Total; does not verify.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedEvent, EventParseError> {
        let mut reader = Reader::new(bytes);
        if &reader.array::<4>()? != MAGIC {
            return Err(EventParseError::BadMagic);
        }
        let event_id = EventId(Uuid::from_bytes(reader.array()?));
        let device_id = DeviceId(reader.u64()?);
        let device_seq = reader.u64()?;
        let prev_hash = reader.array()?;
        let scanned_at = reader.u64()?;
        let courier_id = UserId(reader.u64()?);
        let flag_bits = reader.u8()?;
        let flags =
            EventFlags::from_bits(flag_bits).ok_or(EventParseError::UnknownFlags(flag_bits))?;
        let body = match reader.u8()? {
            1 => EventBody::Redemption {
                book_id: BookId(reader.u64()?),
                units: reader.u16()?,
                product: ProductCode(reader.u16()?),
            },
            2 => EventBody::Void {
                book_id: BookId(reader.u64()?),
                target: EventId(Uuid::from_bytes(reader.array()?)),
            },
            3 => {
                let has_book = reader.u8()?;
                let raw_book = reader.u64()?;
                let book_id = match (has_book, raw_book) {
                    (1, id) => Some(BookId(id)),
                    (0, 0) => None,
                    _ => return Err(EventParseError::NonCanonical),
                };
                let refusal = match reader.u8()? {
                    0 => Refusal::AlreadyUsed,
                    code => Refusal::Rejected(
                        RejectReason::from_code(code)
                            .ok_or(EventParseError::UnknownRefusal(code))?,
                    ),
                };
                EventBody::ScanAttempt { book_id, refusal }
            }
            4 => read_delivery(&mut reader)?,
            kind => return Err(EventParseError::UnknownKind(kind)),
        };
        let signature = reader.array()?;
        reader.finish()?;
        Ok(SignedEvent {
            event: Event {
                event_id,
                device_id,
                device_seq,
                prev_hash,
                scanned_at,
                courier_id,
                flags,
                body,
            },
            signature,
        })
    }

    /// The chain link the next event must carry as `prev_hash`.
    pub fn hash(&self) -> EventHash {
        let mut hasher = Sha256::new();
        hasher.update(self.event.signed_bytes());
        hasher.update(self.signature);
        hasher.finalize().into()
    }

    /// Verifies the device signature (`verify_strict`).
    pub fn verify(&self, device_key: &VerifyingKey) -> bool {
        device_key
            .verify_strict(
                &self.event.signed_bytes(),
                &Signature::from_bytes(&self.signature),
            )
            .is_ok()
    }

    /// Verifies one device's events together, answering what [`SignedEvent::verify`] would for
    /// each. A server receives them 500 at a time, and one Ed25519 batch verification costs about
    /// a third of checking them one by one; only a batch that fails is checked one by one, to
    /// tell which events are bad.
    ///
    /// Batch verification accepts only signatures made with the device's private key. It does not
    /// apply `verify_strict`'s extra refusals (small-order nonces), so the key's own holder could
    /// craft an odd signature that passes here and fails alone: it would still say what the
    /// device signed. A weak (small-order) key skips the batch, as `verify_strict` refuses it.
    pub fn verify_all(events: &[SignedEvent], device_key: &VerifyingKey) -> Vec<bool> {
        let messages: Vec<Vec<u8>> = events.iter().map(|e| e.event.signed_bytes()).collect();
        let message_refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let signatures: Vec<Signature> = events
            .iter()
            .map(|e| Signature::from_bytes(&e.signature))
            .collect();
        let keys = vec![*device_key; events.len()];
        if events.len() > 1
            && !device_key.is_weak()
            && ed25519_dalek::verify_batch(&message_refs, &signatures, &keys).is_ok()
        {
            return vec![true; events.len()];
        }
        message_refs
            .iter()
            .zip(&signatures)
            .map(|(message, signature)| device_key.verify_strict(message, signature).is_ok())
            .collect()
    }
}

/// The body of a delivery record after its kind byte, refusing every non-canonical combination.
fn read_delivery(reader: &mut Reader<'_>) -> Result<EventBody, EventParseError> {
    let order_id = reader.u64()?;
    let code = reader.u8()?;
    let reason = reader.u8()?;
    let bottles = reader.u16()?;
    let empties = reader.u16()?;
    let deposits = reader.u16()?;
    let redemption = EventId(Uuid::from_bytes(reader.array()?));
    let handed_over = |bottles: u16, reason: u8| -> Result<NonZeroU16, EventParseError> {
        match (NonZeroU16::new(bottles), reason) {
            (Some(bottles), 0) => Ok(bottles),
            _ => Err(EventParseError::NonCanonical),
        }
    };
    let no_redemption = || -> Result<(), EventParseError> {
        if redemption.0.is_nil() {
            Ok(())
        } else {
            Err(EventParseError::NonCanonical)
        }
    };
    let outcome = match code {
        1 => DeliveryOutcome::Tickets {
            bottles: handed_over(bottles, reason)?,
            deposits,
            redemption,
        },
        2 => {
            no_redemption()?;
            DeliveryOutcome::Account {
                bottles: handed_over(bottles, reason)?,
                deposits,
            }
        }
        3 => {
            no_redemption()?;
            DeliveryOutcome::Cash {
                bottles: handed_over(bottles, reason)?,
                deposits,
            }
        }
        4 => {
            no_redemption()?;
            if bottles != 0 || deposits != 0 {
                return Err(EventParseError::NonCanonical);
            }
            DeliveryOutcome::NotDelivered {
                reason: MissReason::from_code(reason)
                    .ok_or(EventParseError::UnknownMissReason(reason))?,
            }
        }
        other => return Err(EventParseError::UnknownOutcome(other)),
    };
    Ok(EventBody::Delivery {
        order_id,
        outcome,
        empties,
    })
}

/// The tip of a device's chain as held by a verifier: the last sequence number and its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTip {
    /// Last `device_seq` accepted; 0 before the first event.
    pub device_seq: u64,
    /// Hash of that event; [`GENESIS_HASH`] before the first.
    #[serde(with = "crate::bytes::hex_array")]
    pub hash: EventHash,
}

impl ChainTip {
    /// The tip of a device that has made no event yet.
    pub const GENESIS: ChainTip = ChainTip {
        device_seq: 0,
        hash: GENESIS_HASH,
    };

    /// Checks that `event` is the next link after this tip and returns the new tip.
    pub fn extend(
        &self,
        device_id: DeviceId,
        device_key: &VerifyingKey,
        event: &SignedEvent,
    ) -> Result<ChainTip, LinkError> {
        self.link(device_id, event, |event| event.verify(device_key))
    }

    /// [`extend`](Self::extend) with the signature check supplied by the caller, so a verifier
    /// can check many signatures in parallel (or before taking a lock) and then walk the chain.
    /// The checks run in the same order as `extend`'s, so the same link error is reported.
    pub fn link(
        &self,
        device_id: DeviceId,
        event: &SignedEvent,
        signature_ok: impl FnOnce(&SignedEvent) -> bool,
    ) -> Result<ChainTip, LinkError> {
        if event.event.device_id != device_id {
            return Err(LinkError::WrongDevice);
        }
        let expected = self.device_seq + 1;
        if event.event.device_seq != expected {
            return Err(LinkError::Gap {
                expected,
                found: event.event.device_seq,
            });
        }
        if event.event.prev_hash != self.hash {
            return Err(LinkError::BadLink);
        }
        if !signature_ok(event) {
            return Err(LinkError::BadSignature);
        }
        Ok(ChainTip {
            device_seq: expected,
            hash: event.hash(),
        })
    }
}

/// How one link of a chain is broken.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LinkError {
    /// The event names another device.
    #[error("event belongs to another device")]
    WrongDevice,
    /// A sequence number is missing or repeated.
    #[error("expected device_seq {expected}, found {found}")]
    Gap {
        /// The next sequence number.
        expected: u64,
        /// The one the event carries.
        found: u64,
    },
    /// `prev_hash` is not the hash of the previous event.
    #[error("prev_hash does not match the previous event")]
    BadLink,
    /// The device signature does not verify.
    #[error("device signature does not verify")]
    BadSignature,
}

/// The first broken link of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("chain broken at index {index} (device_seq {device_seq}): {error}")]
pub struct ChainBreak {
    /// Position in the checked slice.
    pub index: usize,
    /// The sequence number the event carries.
    pub device_seq: u64,
    /// What is wrong.
    pub error: LinkError,
}

/// Verifies that `events` continue the chain from `tip`, in order; returns the new tip or the
/// first broken link.
pub fn verify_chain(
    tip: ChainTip,
    device_id: DeviceId,
    device_key: &VerifyingKey,
    events: &[SignedEvent],
) -> Result<ChainTip, ChainBreak> {
    events
        .iter()
        .enumerate()
        .try_fold(tip, |tip, (index, event)| {
            tip.extend(device_id, device_key, event)
                .map_err(|error| ChainBreak {
                    index,
                    device_seq: event.event.device_seq,
                    error,
                })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(key: &SigningKey, n: u64) -> Vec<SignedEvent> {
        let mut prev = GENESIS_HASH;
        (1..=n)
            .map(|seq| {
                let signed = Event {
                    event_id: EventId::v7(1_700_000_000_000 + seq, [seq as u8; 10]),
                    device_id: DeviceId(7),
                    device_seq: seq,
                    prev_hash: prev,
                    scanned_at: 1_700_000_000 + seq,
                    courier_id: UserId(3),
                    flags: EventFlags::default(),
                    body: EventBody::Redemption {
                        book_id: BookId(seq),
                        units: 1,
                        product: ProductCode(189),
                    },
                }
                .sign(key);
                prev = signed.hash();
                signed
            })
            .collect()
    }

    #[test]
    fn verifying_together_answers_what_verifying_alone_does() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let device_key = key.verifying_key();
        let mut events = chain(&key, 6);
        assert_eq!(SignedEvent::verify_all(&events, &device_key), vec![true; 6]);
        assert_eq!(
            SignedEvent::verify_all(&events[..1], &device_key),
            vec![true]
        );
        assert_eq!(
            SignedEvent::verify_all(&[], &device_key),
            Vec::<bool>::new()
        );

        events[1].signature[0] ^= 1;
        events[4] = events[4].event.sign(&SigningKey::from_bytes(&[5; 32]));
        events[5].event.scanned_at += 1;
        let alone: Vec<bool> = events.iter().map(|e| e.verify(&device_key)).collect();
        assert_eq!(alone, [true, false, true, true, false, false]);
        assert_eq!(SignedEvent::verify_all(&events, &device_key), alone);

        // Every signature fails under a weak key, as verify_strict refuses it.
        let weak = VerifyingKey::from_bytes(&[0; 32]).unwrap();
        assert!(weak.is_weak());
        assert_eq!(SignedEvent::verify_all(&events, &weak), vec![false; 6]);
    }

    #[test]
    fn a_good_chain_verifies_and_bytes_round_trip() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let events = chain(&key, 5);
        let tip = verify_chain(
            ChainTip::GENESIS,
            DeviceId(7),
            &key.verifying_key(),
            &events,
        )
        .unwrap();
        assert_eq!(tip.device_seq, 5);
        assert_eq!(tip.hash, events[4].hash());
        for event in &events {
            assert_eq!(SignedEvent::from_bytes(&event.to_bytes()), Ok(*event));
        }
    }

    #[test]
    fn the_first_bad_link_is_named() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let public = key.verifying_key();
        let mut events = chain(&key, 5);
        events.remove(2);
        let broken = verify_chain(ChainTip::GENESIS, DeviceId(7), &public, &events).unwrap_err();
        assert_eq!(broken.index, 2);
        assert_eq!(
            broken.error,
            LinkError::Gap {
                expected: 3,
                found: 4
            }
        );

        let mut events = chain(&key, 5);
        events[3].event.scanned_at += 1;
        let broken = verify_chain(ChainTip::GENESIS, DeviceId(7), &public, &events).unwrap_err();
        assert_eq!((broken.index, broken.error), (3, LinkError::BadSignature));
    }

    #[test]
    fn a_delivery_outcome_in_json_takes_only_its_named_fields_and_a_string_tag() {
        let read = |outcome: &str| {
            let body = format!(
                r#"{{"kind": "delivery", "order_id": 7, "empties": 1, "outcome": {outcome}}}"#
            );
            serde_json::from_str::<EventBody>(&body)
        };
        let redemption = r#""e3e70682-c209-1cac-a29f-6fbed82c07cd""#;
        assert!(read(&format!(r#"{{"outcome": "tickets", "bottles": 2, "deposits": 0, "redemption": {redemption}}}"#)).is_ok());
        assert!(read(r#"{"outcome": "not_delivered", "reason": "nobody_home"}"#).is_ok());
        for refused in [
            format!(r#"{{"outcome": 0, "bottles": 1, "deposits": 0, "redemption": {redemption}}}"#),
            r#"{"outcome": "cash", "bottles": 0, "deposits": 0}"#.to_owned(),
            r#"{"outcome": "cash", "bottles": 1}"#.to_owned(),
            format!(
                r#"{{"outcome": "cash", "bottles": 1, "deposits": 0, "redemption": {redemption}}}"#
            ),
            r#"{"outcome": "cash", "bottles": 1, "deposits": 0, "reason": "other"}"#.to_owned(),
            r#"{"outcome": "not_delivered", "reason": "other", "bottles": 1}"#.to_owned(),
            r#"{"outcome": "not_delivered", "reason": 1}"#.to_owned(),
            r#"{"outcome": "lost", "bottles": 1, "deposits": 0}"#.to_owned(),
            r#"{"outcome": "cash", "bottles": 1, "deposits": 0, "tip": 5}"#.to_owned(),
        ] {
            assert!(read(&refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn flags_reject_unknown_bits() {
        assert_eq!(EventFlags::from_bits(0x10), None);
        let all = EventFlags {
            offline: true,
            stale: true,
            supervisor_override: true,
            clock_rollback: true,
        };
        assert_eq!(EventFlags::from_bits(all.to_bits()), Some(all));
    }
}
