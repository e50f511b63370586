//! 练习模式: a separate training database that trusts only a practice root key, and practice
//! tickets that produce every screen a courier meets at the door: green, orange and every red
//! reason. Most reasons come from the ticket; 数据过旧 and 离线额度已用完 come from the phone's
//! sync state, so their practice tickets carry a [`PracticeSync`] that [`scan_ticket`] puts the
//! training database into first. The keys are fixed and public on purpose: a real device pins
//! the plant's root at enrollment and never trusts them, and a training database never syncs.

use std::path::Path;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use shuipiao_shared::credential::{Credential, SignedCredential};
use shuipiao_shared::holder::{HolderCredential, window_at};
use shuipiao_shared::ids::{BookId, ProductCode, ScopeId};
use shuipiao_shared::keyring::{IssuerKey, KeyState, Keyring, Kid};
use shuipiao_shared::status::{BookState, StatusRow};
use shuipiao_shared::verdict::{FreshnessPolicy, RejectReason};

use crate::clock::{Clock, IdSource};
use crate::engine::{Engine, EngineError, ScanInput, ScanOutcome};
pub use crate::store::meta::PracticeSync;
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
    /// The sync state the training database pretends while this ticket is scanned.
    #[serde(default)]
    pub sync: PracticeSync,
}

/// Scans a practice ticket as its card says: puts the training database into the ticket's sync
/// state (a fresh sync for all but the sync-state tickets), then decides the ticket. The state
/// stays until the next practice ticket, so the status bar shows it behind the verdict too.
pub fn scan_ticket(
    engine: &mut Engine,
    ticket: &PracticeTicket,
    input: &ScanInput<'_>,
) -> Result<ScanOutcome, EngineError> {
    engine.set_practice_sync(ticket.sync)?;
    engine.scan(&ticket.text, input)
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

/// The key a customer's browser would hold for a holder-bound book.
fn holder() -> SigningKey {
    fixed_key(0x75)
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
        sync: PracticeSync::default(),
    };
    // Ages past the limits of the policy a training database runs with.
    let policy = FreshnessPolicy::default();
    // A rotating code as the customer's phone shows it, for the window around `at`.
    let rotating = |id: u64, at: u64| {
        HolderCredential {
            credential: book(id),
            holder_key: holder().verifying_key().to_bytes(),
        }
        .sign(&issuer())
        .present(&holder(), window_at(at))
        .to_qr_text()
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
            sync: PracticeSync::default(),
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
            sync: PracticeSync::default(),
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
        PracticeTicket {
            hint: Some("模拟手机已超过3天未联网同步；可请主管输入密码授权".to_owned()),
            sync: PracticeSync {
                data_age_secs: policy.refuse_after + 6 * 3600,
                budget_used_up: false,
            },
            ..reject(
                "正常水票，但手机数据过旧",
                RejectReason::StaleData,
                book(12).sign(&issuer()).to_qr_text(),
            )
        },
        PracticeTicket {
            hint: Some("模拟离线超过1天，离线核销额度已用完".to_owned()),
            sync: PracticeSync {
                data_age_secs: policy.stale_after + 6 * 3600,
                budget_used_up: true,
            },
            ..reject(
                "正常水票，但离线额度已用完",
                RejectReason::OfflineBudgetExceeded,
                book(13).sign(&issuer()).to_qr_text(),
            )
        },
        reject(
            "动态码的旧截图",
            RejectReason::HolderProofExpired,
            rotating(14, now.saturating_sub(600)),
        ),
        reject(
            "时间不对的手机上的动态码",
            RejectReason::HolderClockAhead,
            rotating(15, now.saturating_add(365 * 86_400)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;

    use super::*;
    use crate::clock::{CountingIds, TestClock};
    use crate::engine::{Freshness, OutcomeKind, ScanSource};
    use crate::store::meta;

    fn input(product: ProductCode, quantity: u16, pin: Option<&str>) -> ScanInput<'_> {
        ScanInput {
            product,
            quantity: NonZeroU16::new(quantity).expect("non-zero"),
            source: ScanSource::Camera,
            supervisor_pin: pin,
        }
    }

    fn ticket_for(tickets: &[PracticeTicket], reason: RejectReason) -> &PracticeTicket {
        tickets
            .iter()
            .find(|t| t.expect == reason.message())
            .expect("a practice ticket for the reason")
    }

    #[test]
    fn sync_state_tickets_show_in_the_status_and_give_way_to_the_next_ticket() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = TestClock::at_secs(1_790_000_000);
        let product = ProductCode(189);
        let (mut engine, tickets) = open(
            &dir.path().join("training.db"),
            product,
            Arc::new(clock.clone()),
            Box::new(CountingIds::default()),
        )
        .expect("training db");

        let too_old = ticket_for(&tickets, RejectReason::StaleData);
        scan_ticket(&mut engine, too_old, &input(product, 1, None)).expect("scan");
        let status = engine.status().expect("status");
        assert_eq!(status.freshness, Freshness::TooOld);
        assert_eq!(status.data_age_secs, Some(too_old.sync.data_age_secs));

        // A supervisor override is practised the same way as on a real phone.
        engine.set_supervisor_pin("2468").expect("pin");
        clock.advance_millis(6_000);
        let overridden =
            scan_ticket(&mut engine, too_old, &input(product, 1, Some("2468"))).expect("override");
        assert_eq!(overridden.kind, OutcomeKind::Accepted);
        assert!(overridden.flags.supervisor_override && overridden.flags.stale);

        let budget = ticket_for(&tickets, RejectReason::OfflineBudgetExceeded);
        scan_ticket(&mut engine, budget, &input(product, 1, None)).expect("scan");
        let status = engine.status().expect("status");
        assert_eq!(status.freshness, Freshness::Stale);
        assert_eq!(status.offline_units_used, status.offline_units_budget);

        // Any other practice ticket puts the fresh state back.
        scan_ticket(&mut engine, &tickets[0], &input(product, 1, None)).expect("scan");
        let status = engine.status().expect("status");
        assert_eq!(status.freshness, Freshness::Fresh);
        assert_eq!(status.offline_units_used, 0);
    }

    #[test]
    fn a_device_database_cannot_pretend_a_sync_state() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut engine = Engine::open(
            &dir.path().join("courier.db"),
            Arc::new(TestClock::at_secs(1_790_000_000)),
            Box::new(CountingIds::default()),
        )
        .expect("device db");
        let pretend = PracticeSync {
            data_age_secs: 1,
            budget_used_up: true,
        };
        assert!(matches!(
            engine.set_practice_sync(pretend),
            Err(EngineError::NotTraining)
        ));
        assert_eq!(
            meta::read(engine.connection()).expect("meta").practice,
            PracticeSync::default()
        );
    }

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
        let mut reasons = Vec::new();
        for ticket in &tickets {
            let quantity = if ticket.expect == RejectReason::InsufficientUnits.message() {
                2
            } else {
                1
            };
            let outcome =
                scan_ticket(&mut engine, ticket, &input(product, quantity, None)).expect("scan");
            assert_eq!(outcome.title, ticket.expect, "{}", ticket.label);
            reasons.extend(outcome.reason);
        }
        reasons.sort_by_key(|r| r.code());
        assert_eq!(
            reasons,
            RejectReason::ALL,
            "every red reason, plus green and orange"
        );
        assert_eq!(tickets.len(), RejectReason::ALL.len() + 2);

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
