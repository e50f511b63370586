//! The engine at the door, against real encrypted SQLite files: every verdict path, the local
//! view, dedupe, undo, freshness and offline budget, clock rollback, the supervisor PIN, chain
//! continuity across restarts and encryption at rest.

mod engine_support;

use std::num::NonZeroU16;

use engine_support::*;
use shuipiao_courier::engine::{
    EngineError, OutcomeKind, ScanInput, ScanOutcome, ScanSource, Warning,
};
use shuipiao_courier::store::{self, StoreError, meta, outbox, status};
use shuipiao_shared::credential::Credential;
use shuipiao_shared::event::{ChainTip, EventBody, Refusal, verify_chain};
use shuipiao_shared::ids::{BookId, ProductCode};
use shuipiao_shared::status::BookState;
use shuipiao_shared::sync::{PushResult, PushVerdict};
use shuipiao_shared::verdict::{FreshnessPolicy, RejectReason};

fn input(product: ProductCode, quantity: u16) -> ScanInput<'static> {
    ScanInput {
        product,
        quantity: NonZeroU16::new(quantity).unwrap(),
        source: ScanSource::Camera,
        supervisor_pin: None,
    }
}

fn one() -> ScanInput<'static> {
    input(BUCKET, 1)
}

#[test]
fn an_accept_is_a_signed_chained_redemption_committed_before_it_returns() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    let outcome = engine.scan(&ticket(book(1001, 10)), &one()).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Accepted);
    assert_eq!(outcome.title, "可以送水");
    assert_eq!(outcome.remaining, Some(9));
    assert!(!outcome.duplicate);
    drop(engine);

    // A fresh connection (as after a crash) sees the committed record.
    let conn = store::open(&device.db).unwrap();
    let entries = outbox::recent(&conn, 10).unwrap();
    assert_eq!(entries.len(), 1);
    let event = entries[0].event;
    assert_eq!(Some(event.event.event_id), outcome.event_id);
    assert_eq!(event.event.device_seq, 1);
    assert_eq!(
        event.event.body,
        EventBody::Redemption {
            book_id: BookId(1001),
            units: 1,
            product: BUCKET
        }
    );
    assert!(event.verify(&device_key().verifying_key()));
    verify_chain(
        ChainTip::GENESIS,
        DEVICE,
        &device_key().verifying_key(),
        &[event],
    )
    .unwrap();
}

/// Each refusal path: the reason shown, and a scan attempt logged with it.
#[test]
fn every_refusal_path_is_shown_and_logged_as_a_scan_attempt() {
    let device = Device::enrolled(
        &[
            row(2001, 0, BookState::Revoked, 1),
            row(2002, 10, BookState::UsedUp, 2),
            row(2003, 8, BookState::Active, 3),
        ],
        NOW - HOUR,
    );
    let mut engine = device.engine();
    let mut tampered = book(1001, 10).sign(&issuer());
    tampered.signature[10] ^= 1;
    let not_yet = Credential {
        valid_from: u32::try_from(NOW + HOUR).unwrap(),
        ..book(1002, 10)
    };
    let expired = Credential {
        valid_until: u32::try_from(NOW - HOUR).unwrap(),
        ..book(1003, 10)
    };
    let elsewhere = Credential {
        scope: XIANGYANG,
        ..book(1004, 10)
    };
    let cases: Vec<(&str, String, ScanInput<'static>, Option<RejectReason>)> = vec![
        (
            "garbage",
            "HELLO".to_owned(),
            one(),
            Some(RejectReason::Unreadable),
        ),
        (
            "forged",
            tampered.to_qr_text(),
            one(),
            Some(RejectReason::BadSignature),
        ),
        (
            "other plant",
            book(1005, 10).sign(&other_plant()).to_qr_text(),
            one(),
            Some(RejectReason::UnknownKey),
        ),
        (
            "leaked key",
            book(1006, 10).sign(&leaked()).to_qr_text(),
            one(),
            Some(RejectReason::KeyCompromised),
        ),
        (
            "not yet valid",
            ticket(not_yet),
            one(),
            Some(RejectReason::NotYetValid),
        ),
        (
            "expired",
            ticket(expired),
            one(),
            Some(RejectReason::Expired),
        ),
        (
            "revoked",
            ticket(book(2001, 10)),
            one(),
            Some(RejectReason::Revoked),
        ),
        (
            "out of scope",
            ticket(elsewhere),
            one(),
            Some(RejectReason::OutOfScope),
        ),
        (
            "wrong product",
            ticket(book(1007, 10)),
            input(OTHER_PRODUCT, 1),
            Some(RejectReason::WrongProduct),
        ),
        (
            "too many",
            ticket(book(2003, 10)),
            input(BUCKET, 3),
            Some(RejectReason::InsufficientUnits),
        ),
        ("used up", ticket(book(2002, 10)), one(), None),
    ];
    for (index, (name, text, scan_input, reason)) in cases.iter().enumerate() {
        let outcome = engine.scan(text, scan_input).unwrap();
        match reason {
            Some(reason) => {
                assert_eq!(outcome.kind, OutcomeKind::Rejected, "{name}");
                assert_eq!(outcome.reason, Some(*reason), "{name}");
                assert_eq!(outcome.title, reason.message(), "{name}");
                assert_eq!(outcome.detail, reason.hint(), "{name}");
            }
            None => {
                assert_eq!(outcome.kind, OutcomeKind::AlreadyUsed, "{name}");
                assert_eq!(outcome.title, "已使用");
                assert_eq!(outcome.last_used_at, Some(NOW - 5 * HOUR));
                assert_eq!(outcome.last_used_here, Some(false));
            }
        }
        let logged = engine.history(1).unwrap()[0].event.event;
        assert_eq!(logged.device_seq, index as u64 + 1, "{name}");
        let expected = match reason {
            Some(reason) => Refusal::Rejected(*reason),
            None => Refusal::AlreadyUsed,
        };
        assert!(
            matches!(logged.body, EventBody::ScanAttempt { refusal, .. } if refusal == expected),
            "{name}: {:?}",
            logged.body
        );
    }
}

#[test]
fn own_redemptions_count_until_a_pulled_row_reflects_them() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    let text = ticket(book(3001, 5));
    let first = engine.scan(&text, &input(BUCKET, 2)).unwrap();
    assert_eq!(first.remaining, Some(3));
    device.clock.advance_millis(10_000);
    let second = engine.scan(&text, &input(BUCKET, 3)).unwrap();
    assert_eq!(second.remaining, Some(0));
    device.clock.advance_millis(10_000);
    let third = engine.scan(&text, &one()).unwrap();
    assert_eq!(third.kind, OutcomeKind::AlreadyUsed);
    assert_eq!(third.last_used_here, Some(true));

    // Both redemptions pushed: server_seq 10 and 11.
    let mut conn = store::open(&device.db).unwrap();
    let tx = conn.transaction().unwrap();
    for (entry, server_seq) in outbox::recent(&tx, 10).unwrap().iter().rev().zip(10..) {
        outbox::record_result(
            &tx,
            &PushResult {
                event_id: entry.event.event.event_id,
                device_seq: entry.event.event.device_seq,
                verdict: PushVerdict::Accepted,
                server_seq: Some(server_seq),
                rejection: None,
            },
        )
        .unwrap();
    }
    // A row that reflects only the first redemption: the second still counts locally.
    status::apply_row(&tx, &row(3001, 2, BookState::Active, 10)).unwrap();
    tx.commit().unwrap();
    let view = status::book_view(&conn, BookId(3001), 0).unwrap();
    assert_eq!(view.used_units, 5, "2 from the server + 3 still local");

    // A row that reflects both: counted once, not twice.
    let tx = conn.transaction().unwrap();
    status::apply_row(&tx, &row(3001, 5, BookState::UsedUp, 11)).unwrap();
    // An older row arriving late never moves the book backwards.
    status::apply_row(&tx, &row(3001, 2, BookState::Active, 10)).unwrap();
    tx.commit().unwrap();
    let view = status::book_view(&conn, BookId(3001), 0).unwrap();
    assert_eq!(view.used_units, 5);
}

#[test]
fn the_same_code_within_the_dedupe_window_is_one_scan() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    let text = ticket(book(4001, 10));
    let first = engine.scan(&text, &one()).unwrap();
    device.clock.advance_millis(4_900);
    let again = engine.scan(&text, &one()).unwrap();
    assert!(again.duplicate);
    assert_eq!(
        ScanOutcome {
            duplicate: false,
            ..again
        },
        first
    );
    assert_eq!(
        engine.history(10).unwrap().len(),
        1,
        "a duplicate writes nothing"
    );

    // The window slides: a ticket held in view keeps being the same scan.
    device.clock.advance_millis(4_900);
    assert!(engine.scan(&text, &one()).unwrap().duplicate);
    device.clock.advance_millis(5_100);
    let later = engine.scan(&text, &one()).unwrap();
    assert!(!later.duplicate, "out of view for 5.1 s: a new scan");
    assert_eq!(later.remaining, Some(8));

    // A scanner's window is 2.5 s.
    let scanner = ScanInput {
        source: ScanSource::Scanner,
        ..one()
    };
    device.clock.advance_millis(2_400);
    assert!(engine.scan(&text, &scanner).unwrap().duplicate);
    device.clock.advance_millis(2_600);
    let next = engine.scan(&text, &scanner).unwrap();
    assert!(!next.duplicate);
    assert_eq!(next.remaining, Some(7));
}

#[test]
fn undo_appends_a_void_within_two_minutes_only() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    let text = ticket(book(5001, 3));
    let accepted = engine.scan(&text, &input(BUCKET, 2)).unwrap();
    let id = accepted.event_id.unwrap();
    device.clock.advance_millis(119_000);
    let undone = engine.undo(id).unwrap();
    assert_eq!((undone.book_id, undone.units), (BookId(5001), 2));
    assert!(matches!(
        engine.undo(id),
        Err(EngineError::UndoAlreadyVoided)
    ));
    let history = engine.history(10).unwrap();
    assert_eq!(
        history.len(),
        2,
        "the redemption is kept, the void appended"
    );
    assert!(history[1].voided);
    assert!(matches!(
        history[0].event.event.body,
        EventBody::Void { target, .. } if target == id
    ));
    // The units are back.
    device.clock.advance_millis(10_000);
    assert_eq!(
        engine.scan(&text, &input(BUCKET, 3)).unwrap().remaining,
        Some(0)
    );

    let other = ticket(book(5002, 3));
    let late = engine.scan(&other, &one()).unwrap().event_id.unwrap();
    device.clock.advance_millis(121_000);
    assert!(matches!(
        engine.undo(late),
        Err(EngineError::UndoWindowPassed)
    ));
    let refused = engine.scan("NOT A TICKET", &one()).unwrap();
    assert!(matches!(
        engine.undo(refused.event_id.unwrap()),
        Err(EngineError::UndoNotRedemption)
    ));
}

#[test]
fn stale_data_accepts_within_the_offline_budget_and_flags_the_events() {
    let device = Device::enrolled(&[], NOW - 30 * HOUR);
    let mut engine = device.engine();
    engine.set_policy(FreshnessPolicy {
        budget_total: 3,
        ..FreshnessPolicy::default()
    });
    let a = ticket(book(6001, 10));
    let accepted = engine.scan(&a, &input(BUCKET, 2)).unwrap();
    assert_eq!(accepted.kind, OutcomeKind::Accepted);
    assert!(accepted.flags.stale && accepted.flags.offline);
    assert!(accepted.warnings.contains(&Warning::DataStale));
    device.clock.advance_millis(10_000);
    let over_book = engine.scan(&a, &one()).unwrap();
    assert_eq!(
        over_book.reason,
        Some(RejectReason::OfflineBudgetExceeded),
        "2 units per book while stale"
    );
    assert_eq!(
        engine.scan(&ticket(book(6002, 10)), &one()).unwrap().kind,
        OutcomeKind::Accepted
    );
    assert_eq!(
        engine.scan(&ticket(book(6003, 10)), &one()).unwrap().reason,
        Some(RejectReason::OfflineBudgetExceeded),
        "3 units in total while stale"
    );
    assert_eq!(engine.status().unwrap().offline_units_used, 3);

    // A successful sync makes the data fresh and starts a new budget.
    let mut conn = store::open(&device.db).unwrap();
    let tx = conn.transaction().unwrap();
    meta::mark_synced(&tx, NOW).unwrap();
    tx.commit().unwrap();
    device.clock.advance_millis(10_000);
    let fresh = engine.scan(&ticket(book(6003, 10)), &one()).unwrap();
    assert_eq!(fresh.kind, OutcomeKind::Accepted);
    assert!(!fresh.flags.stale);
    assert_eq!(engine.status().unwrap().offline_units_used, 0);
}

#[test]
fn data_older_than_72_hours_needs_the_supervisor_pin() {
    let device = Device::enrolled(&[], NOW - 80 * HOUR);
    let mut engine = device.engine();
    let text = ticket(book(7001, 10));
    let refused = engine.scan(&text, &one()).unwrap();
    assert_eq!(refused.reason, Some(RejectReason::StaleData));
    assert_eq!(refused.title, "数据过旧");

    assert!(matches!(
        engine.set_supervisor_pin("12"),
        Err(EngineError::InvalidPin)
    ));
    engine.set_supervisor_pin("2468").unwrap();
    device.clock.advance_millis(10_000);
    let wrong = ScanInput {
        supervisor_pin: Some("1357"),
        ..one()
    };
    let events_before = engine.history(100).unwrap().len();
    assert!(matches!(
        engine.scan(&text, &wrong),
        Err(EngineError::WrongSupervisorPin)
    ));
    assert_eq!(engine.history(100).unwrap().len(), events_before);

    let right = ScanInput {
        supervisor_pin: Some("2468"),
        ..one()
    };
    let accepted = engine.scan(&text, &right).unwrap();
    assert_eq!(accepted.kind, OutcomeKind::Accepted);
    assert!(accepted.flags.supervisor_override && accepted.flags.stale);
}

#[test]
fn a_clock_behind_the_server_is_flagged_and_warned() {
    let device = Device::enrolled(&[], NOW - HOUR);
    device.clock.set_secs(NOW - 2 * HOUR);
    let mut engine = device.engine();
    let outcome = engine.scan(&ticket(book(8001, 10)), &one()).unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Accepted);
    assert!(outcome.flags.clock_rollback);
    assert!(outcome.warnings.contains(&Warning::ClockRollback));
    assert!(engine.status().unwrap().clock_rollback);
}

#[test]
fn a_clock_behind_this_devices_own_events_is_a_rollback_too() {
    let device = Device::enrolled(&[], NOW - HOUR);
    let mut engine = device.engine();
    device.clock.set_secs(NOW + 10 * HOUR);
    let first = engine.scan(&ticket(book(8101, 10)), &one()).unwrap();
    assert!(!first.flags.clock_rollback);
    // A small correction is tolerated; a jump back is not.
    device.clock.set_secs(NOW + 10 * HOUR - 30);
    let corrected = engine.scan(&ticket(book(8102, 10)), &one()).unwrap();
    assert!(!corrected.flags.clock_rollback);
    device.clock.set_secs(NOW + 2 * HOUR);
    let rolled = engine.scan(&ticket(book(8103, 10)), &one()).unwrap();
    assert!(rolled.flags.clock_rollback);
    assert!(rolled.warnings.contains(&Warning::ClockRollback));
}

#[test]
fn the_chain_continues_across_restarts() {
    let device = Device::enrolled(&[], NOW - HOUR);
    for round in 0..3u64 {
        let mut engine = device.engine();
        for n in 0..3u64 {
            device.clock.advance_millis(6_000);
            engine
                .scan(&ticket(book(9000 + round * 10 + n, 5)), &one())
                .unwrap();
        }
        engine.scan("GARBAGE", &one()).unwrap();
    }
    let conn = store::open(&device.db).unwrap();
    let mut events: Vec<_> = outbox::recent(&conn, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    events.reverse();
    assert_eq!(events.len(), 12);
    let tip = verify_chain(
        ChainTip::GENESIS,
        DEVICE,
        &device_key().verifying_key(),
        &events,
    )
    .unwrap();
    assert_eq!(tip.device_seq, 12);
}

#[test]
fn the_database_is_encrypted_and_does_not_open_without_its_key() {
    let device = Device::enrolled(&[], NOW - HOUR);
    device
        .engine()
        .scan(&ticket(book(1101, 10)), &one())
        .unwrap();
    let engine = device.engine();
    let conn = engine.connection();
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    let synchronous: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        (journal.as_str(), synchronous),
        ("wal", 2),
        "WAL with synchronous=FULL"
    );
    drop(engine);
    let bytes = std::fs::read(&device.db).unwrap();
    assert!(!bytes.starts_with(b"SQLite format 3"));

    let key_path = store::key_source::key_path(&device.db);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file readable by the owner only");
    }

    // Plain SQLite (no key) and a wrong key both fail.
    let plain = rusqlite::Connection::open(&device.db).unwrap();
    assert!(
        plain
            .query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))
            .is_err()
    );
    assert!(matches!(
        store::open_with_key(&device.db, &store::DbKey([7; 32])),
        Err(StoreError::Sqlite(_))
    ));

    // Without the key file the database is not silently recreated.
    std::fs::remove_file(&key_path).unwrap();
    assert!(matches!(
        store::open(&device.db),
        Err(StoreError::KeyMissing(_))
    ));
}

#[test]
fn an_unenrolled_device_refuses_to_scan() {
    let dir = tempfile::tempdir().unwrap();
    let mut engine = shuipiao_courier::engine::Engine::open(
        &dir.path().join("new.db"),
        std::sync::Arc::new(shuipiao_courier::clock::TestClock::at_secs(NOW)),
        Box::new(shuipiao_courier::clock::CountingIds::default()),
    )
    .unwrap();
    assert!(matches!(
        engine.scan(&ticket(book(1, 1)), &one()),
        Err(EngineError::NotEnrolled)
    ));
    assert!(!engine.status().unwrap().enrolled);
}
