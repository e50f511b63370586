//! 练习模式: a separate training database that trusts only a practice root key, and practice
//! tickets that produce every screen a courier meets at the door (green, orange and each red
//! reason that a ticket can cause). The keys are fixed and public on purpose: a real device pins
//! the plant's root at enrollment and never trusts them, and a training database never syncs.

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::ids::{BookId, ProductCode, ScopeId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::status::{BookState, StatusRow};
use shuipiao_shared::verdict::RejectReason;

use crate::clock::{Clock, IdSource};
use crate::engine::{Engine, EngineError};
use crate::store::{self, status};

/// The scope practice tickets are valid in.
pub const TRAINING_SCOPE: ScopeId = ScopeId(1);

/// One practice ticket and what scanning it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PracticeTicket {
    /// What kind of ticket it is, zh-CN.
    pub label: String,
    /// The headline the verdict screen shows for it.
    pub expect: String,
    /// How to scan it, if it needs more than a plain scan.
    pub hint: Option<String>,
    /// The QR text.
    pub text: String,
}

fn fixed_key(byte: u8) -> SigningKey {
    SigningKey::from_bytes(&[byte; 32])
}

fn root() -> SigningKey {
    fixed_key(0x71)
}

fn issuer() -> SigningKey {
    fixed_key(0x72)
}

fn leaked() -> SigningKey {
    fixed_key(0x73)
}

fn stranger() -> SigningKey {
    fixed_key(0x74)
}

/// Opens the training database at `db_path`, setting it up on first use (practice keyring,
/// one used-up and one revoked practice book), and returns it with the practice tickets for
/// `product` valid around the clock's time.
pub fn open(
    db_path: &Path,
    product: ProductCode,
    clock: Arc<dyn Clock>,
    ids: Box<dyn IdSource>,
) -> Result<(Engine, Vec<PracticeTicket>), EngineError> {
    let now = clock.now_secs();
    let mut engine = Engine::open(db_path, clock, ids)?;
    if !engine.status()?.enrolled {
        let since = u32::try_from(now.saturating_sub(86_400)).unwrap_or(u32::MAX);
        let bundle = Keyring {
            version: 1,
            issued_at: now,
            keys: vec![
                IssuerKey::new(issuer().verifying_key(), 0, u32::MAX, KeyState::Active),
                IssuerKey::new(
                    leaked().verifying_key(),
                    0,
                    u32::MAX,
                    KeyState::Compromised { since },
                ),
            ],
        }
        .sign(&root());
        engine.init_training(root().verifying_key(), &bundle, vec![TRAINING_SCOPE])?;
        let mut conn = store::open(db_path)?;
        let tx = conn.transaction()?;
        for (book, state) in [(2, BookState::UsedUp), (3, BookState::Revoked)] {
            status::apply_row(
                &tx,
                &StatusRow {
                    book_id: BookId(book),
                    used_units: if state == BookState::UsedUp { 4 } else { 0 },
                    state,
                    seq: book,
                    last_used_at: (state == BookState::UsedUp).then_some(now - 3 * 3600),
                },
            )?;
        }
        tx.commit()?;
    }
    Ok((engine, tickets(now, product)))
}

/// The practice tickets for `product`, valid around `now`.
pub fn tickets(now: u64, product: ProductCode) -> Vec<PracticeTicket> {
    let now32 = u32::try_from(now).unwrap_or(u32::MAX);
    let base = Credential {
        kid: Kid([0; 4]),
        book_id: BookId(1),
        product,
        units: 20,
        scope: TRAINING_SCOPE,
        valid_from: now32.saturating_sub(30 * 86_400),
        valid_until: now32.saturating_add(335 * 86_400),
        holder_tag: 0x7a11_0000,
    };
    let book = |id: u64| Credential {
        book_id: BookId(id),
        ..base
    };
    let reject = |label: &str, reason: RejectReason, text: String| PracticeTicket {
        label: label.to_owned(),
        expect: reason.message().to_owned(),
        hint: None,
        text,
    };
    let tampered = {
        let signed = book(9).sign(&issuer());
        SignedCredential {
            credential: Credential {
                units: 200,
                ..signed.credential
            },
            ..signed
        }
    };
    vec![
        PracticeTicket {
            label: "正常水票（20张）".to_owned(),
            expect: "可以送水".to_owned(),
            hint: None,
            text: book(1).sign(&issuer()).to_qr_text(),
        },
        PracticeTicket {
            label: "已用完的水票".to_owned(),
            expect: "已使用".to_owned(),
            hint: None,
            text: Credential {
                units: 4,
                ..book(2)
            }
            .sign(&issuer())
            .to_qr_text(),
        },
        reject(
            "已挂失作废的水票",
            RejectReason::Revoked,
            book(3).sign(&issuer()).to_qr_text(),
        ),
        PracticeTicket {
            hint: Some("先把数量选为2桶再扫".to_owned()),
            ..reject(
                "只剩1张的水票",
                RejectReason::InsufficientUnits,
                Credential {
                    units: 1,
                    ..book(4)
                }
                .sign(&issuer())
                .to_qr_text(),
            )
        },
        reject(
            "其他产品的水票",
            RejectReason::WrongProduct,
            Credential {
                product: ProductCode(product.0.wrapping_add(1)),
                ..book(5)
            }
            .sign(&issuer())
            .to_qr_text(),
        ),
        reject(
            "外区域的水票",
            RejectReason::OutOfScope,
            Credential {
                scope: ScopeId(TRAINING_SCOPE.0 + 1),
                ..book(6)
            }
            .sign(&issuer())
            .to_qr_text(),
        ),
        reject(
            "下月才生效的水票",
            RejectReason::NotYetValid,
            Credential {
                valid_from: now32.saturating_add(30 * 86_400),
                ..book(7)
            }
            .sign(&issuer())
            .to_qr_text(),
        ),
        reject(
            "过期的水票",
            RejectReason::Expired,
            Credential {
                valid_until: now32.saturating_sub(86_400),
                ..book(8)
            }
            .sign(&issuer())
            .to_qr_text(),
        ),
        reject(
            "被改过的水票",
            RejectReason::BadSignature,
            tampered.to_qr_text(),
        ),
        reject(
            "别家水厂的水票",
            RejectReason::UnknownKey,
            book(10).sign(&stranger()).to_qr_text(),
        ),
        reject(
            "密钥泄露后签发的水票",
            RejectReason::KeyCompromised,
            book(11).sign(&leaked()).to_qr_text(),
        ),
        reject(
            "不是水票的二维码",
            RejectReason::Unreadable,
            "https://example.com/".to_owned(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;
    use crate::clock::{CountingIds, TestClock};
    use crate::engine::{ScanInput, ScanSource};

    #[test]
    fn every_practice_ticket_shows_what_its_card_says() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("training.db");
        let clock = TestClock::at_secs(1_790_000_000);
        let product = ProductCode(189);
        let (mut engine, tickets) = open(
            &db,
            product,
            Arc::new(clock.clone()),
            Box::new(CountingIds::default()),
        )
        .expect("training db");
        assert!(engine.status().expect("status").training);
        for ticket in &tickets {
            let quantity = if ticket.hint.is_some() { 2 } else { 1 };
            let outcome = engine
                .scan(
                    &ticket.text,
                    &ScanInput {
                        product,
                        quantity: NonZeroU16::new(quantity).expect("non-zero"),
                        source: ScanSource::Camera,
                        supervisor_pin: None,
                    },
                )
                .expect("scan");
            assert_eq!(outcome.title, ticket.expect, "{}", ticket.label);
        }
        let covered = tickets.len() - 2;
        assert_eq!(
            covered, 10,
            "every reason a ticket can cause, plus green and orange"
        );

        drop(engine);
        let (engine, again) = open(
            &db,
            product,
            Arc::new(clock),
            Box::new(CountingIds::default()),
        )
        .expect("reopen");
        assert_eq!(again, tickets, "reopening keeps the same practice set");
        assert!(engine.status().expect("status").training);
    }
}
