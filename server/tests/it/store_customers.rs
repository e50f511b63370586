//! The store contract for customers and messages, on SQLite and PostgreSQL: phone codes,
//! registration (with its welcome gifts, all or nothing), the outbox with its filters, resend
//! and bound channels, and the usage cursor.

use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::pii::Phone;
use shuipiao_server::store::models::*;
use shuipiao_server::store::{ConflictKind, StoreError};

use crate::support::{self, NOW, TestDb, audit, catalogue, master, on_both_backends};

on_both_backends!(
    phone_codes_are_single_use_and_limited,
    outbox_claims_messages_and_erases_secrets,
    one_account_per_phone,
    outbox_dedupes_and_records_attempts,
    registration_with_gifts_is_all_or_nothing,
    outbox_filters_and_resends_failed_messages,
    usage_changes_follow_the_status_sequence,
    gifts_spend_points_and_stock_atomically,
    feedback_moves_through_the_support_desk,
);

fn customer(phone: &str, username: &str) -> NewCustomer {
    let phone = Phone::parse(phone).unwrap();
    NewCustomer {
        name: "客户".into(),
        enterprise_id: None,
        username: username.into(),
        password_hash: "x".into(),
        phone_index: phone.index(&master()),
        phone_sealed: phone.seal(&master()),
        referrer: None,
        browser_hash: Some(vec![7; 32]),
    }
}

/// A code for `phone` (a blind index) with hash `hash`, carried by a message to a made-up
/// sealed number.
fn phone_code(phone: &[u8], hash: &[u8], expires_at: i64) -> NewPhoneCode {
    NewPhoneCode {
        phone_index: phone.to_vec(),
        code_hash: hash.to_vec(),
        expires_at,
        message: shuipiao_server::notify::code_message(
            &master(),
            vec![9; 16],
            "123456",
            expires_at,
            NOW,
        ),
    }
}

async fn phone_codes_are_single_use_and_limited(db: TestDb) {
    let store = support::open(&db).await;
    let phone = [1u8; 32];
    let create = |hash: &'static [u8], at: i64| {
        let store = store.clone();
        async move {
            store
                .create_phone_code(&phone_code(&phone, hash, at + 600), &[], at)
                .await
                .unwrap()
        }
    };
    assert!(create(b"good", NOW).await);
    assert!(!store.use_phone_code(&phone, b"bad", NOW).await.unwrap());
    assert!(
        !store.use_phone_code(&[2; 32], b"good", NOW).await.unwrap(),
        "other phone"
    );
    assert!(store.use_phone_code(&phone, b"good", NOW).await.unwrap());
    assert!(
        !store.use_phone_code(&phone, b"good", NOW).await.unwrap(),
        "used up"
    );

    assert!(create(b"late", NOW).await);
    assert!(
        !store
            .use_phone_code(&phone, b"late", NOW + 600)
            .await
            .unwrap(),
        "expired"
    );

    assert!(create(b"guess", NOW).await);
    for _ in 0..5 {
        assert!(!store.use_phone_code(&phone, b"wrong", NOW).await.unwrap());
    }
    assert!(
        !store.use_phone_code(&phone, b"guess", NOW).await.unwrap(),
        "five misses end the code"
    );
    let codes = NotificationFilter {
        kind: Some(MessageKind::Code),
        ..NotificationFilter::default()
    };
    let queued = store.list_notifications(&codes, 10).await.unwrap();
    assert_eq!(queued.len(), 3, "each code queued its message");

    // One a minute and five an hour: a refused code stores nothing and queues nothing.
    let limited = [3u8; 32];
    let ask = |at: i64| {
        let store = store.clone();
        async move {
            store
                .create_phone_code(
                    &phone_code(&limited, b"x", at + 600),
                    &shuipiao_server::signup::CODE_LIMITS,
                    at,
                )
                .await
                .unwrap()
        }
    };
    assert!(ask(NOW).await);
    assert!(!ask(NOW + 60).await, "a minute after is still within it");
    for n in 1..5 {
        assert!(ask(NOW + 61 * n).await, "code {n}");
    }
    assert!(!ask(NOW + 3_000).await, "five an hour");
    assert!(ask(NOW + 3_601).await, "the first one left the hour");
    let queued = store.list_notifications(&codes, 20).await.unwrap();
    assert_eq!(queued.len(), 3 + 6);
}

async fn outbox_claims_messages_and_erases_secrets(db: TestDb) {
    let store = support::open(&db).await;
    let code = |at: i64| phone_code(&[4; 32], b"h", at + 600).message;
    let plain = shuipiao_server::notify::by_sms(
        None,
        vec![9; 16],
        MessageKind::Issued,
        "【水票】到账".into(),
        None,
    );
    store
        .enqueue_notifications(&[code(NOW), code(NOW), plain], NOW)
        .await
        .unwrap();
    let claimed = store
        .claim_notifications("test", NOW, NOW + 60, 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    assert!(
        claimed[0].spec.secret.is_some(),
        "delivery needs the secret"
    );
    let rest = store
        .claim_notifications("test", NOW, NOW + 60, 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "claimed messages are nobody else's");
    assert!(
        store
            .claim_notifications("test", NOW + 59, NOW + 119, 10)
            .await
            .unwrap()
            .is_empty(),
        "until their claim lapses"
    );
    let (sent, failed) = (&claimed[0], &claimed[1]);
    store
        .record_delivery("test", sent.id, Channel::Sms, Ok(()), None, NOW)
        .await
        .unwrap();
    store
        .record_delivery(
            "test",
            failed.id,
            Channel::Sms,
            Err("503"),
            Some(NOW + 30),
            NOW,
        )
        .await
        .unwrap();
    let lapsed = store
        .claim_notifications("test", NOW + 60, NOW + 120, 10)
        .await
        .unwrap();
    let ids: Vec<i64> = lapsed.iter().map(|m| m.id).collect();
    assert_eq!(
        ids,
        vec![rest[0].id, failed.id],
        "the lapsed claim and the retry"
    );
    let all = store
        .list_notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap();
    let secret_of = |id: i64| all.iter().find(|m| m.id == id).unwrap().spec.secret.clone();
    assert_eq!(secret_of(sent.id), None, "erased once sent");
    assert!(secret_of(failed.id).is_some(), "kept for the retry");
    assert!(sent.spec.body.contains("验证码是******"));

    // Past its expiry the secret is erased and the message given up on, never resent.
    store
        .claim_notifications("test", NOW + 600, NOW + 660, 10)
        .await
        .unwrap();
    let all = store
        .list_notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap();
    let expired = all.iter().find(|m| m.id == failed.id).unwrap();
    assert_eq!(
        (expired.state, expired.spec.secret.clone()),
        (NotificationState::Dead, None)
    );
    assert_eq!(
        expired.last_error.as_deref(),
        Some(shuipiao_server::store::SECRET_EXPIRED)
    );
    let resend = store
        .resend_notification(failed.id, NOW + 700, &audit("notification.resend"))
        .await;
    assert!(
        matches!(
            &resend,
            Err(StoreError::Conflict(
                shuipiao_server::store::ConflictKind::SecretGone
            ))
        ),
        "{resend:?}"
    );
}

async fn one_account_per_phone(db: TestDb) {
    let store = support::open(&db).await;
    let user = store
        .register_customer(
            &customer("13800000000", "p1"),
            NOW,
            &audit("customer.register"),
        )
        .await
        .unwrap();
    assert_eq!(user.spec.role, Role::Customer);
    let account = store.account(user.spec.account_id.unwrap()).await.unwrap();
    assert_eq!(account.spec.kind, AccountKind::Customer);
    let phone = Phone::parse("13800000000").unwrap();
    let found = store.user_by_phone(&phone.index(&master())).await.unwrap();
    assert_eq!(found.id, user.id);
    let sealed = found.phone_sealed.expect("the phone is kept sealed");
    assert_eq!(Phone::open(&master(), &sealed).unwrap(), phone);
    let again = store
        .register_customer(
            &customer("13800000000", "p2"),
            NOW,
            &audit("customer.register"),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.signups_from_browser(&[7; 32]).await.unwrap(), 1);
    let wechat = shuipiao_server::pii::seal_address(&master(), "wechat", "oid");
    store
        .bind_channel(user.id, Channel::Wechat, Some(&wechat), NOW)
        .await
        .unwrap();
    assert_eq!(
        store.recipients(account.id).await.unwrap(),
        vec![Recipient {
            user_id: user.id,
            phone_sealed: sealed,
            wechat_sealed: Some(wechat),
            push_sealed: None,
        }]
    );
}

async fn registration_with_gifts_is_all_or_nothing(db: TestDb) {
    let store = support::open(&db).await;
    shuipiao_server::keys::ensure(&store, &master(), NOW)
        .await
        .unwrap();
    catalogue(&store, 4).await;
    let gift = issuance::plan_gift(
        &store,
        &master(),
        shuipiao_shared::ids::ProductCode(189),
        2,
        90,
        "registration",
        NOW,
    )
    .await
    .unwrap();
    let phone_sealed = Phone::parse("13800000000").unwrap().seal(&master());
    let welcome = |account_id: i64, user_id: shuipiao_shared::ids::UserId| {
        let (book, audit) = gift.sign(&master(), account_id, None);
        Welcome {
            books: vec![book],
            audits: vec![audit],
            messages: vec![shuipiao_server::notify::by_sms(
                Some(user_id),
                phone_sealed.clone(),
                MessageKind::Issued,
                gift.message(),
                Some(gift.dedupe_key()),
            )],
        }
    };
    let user = store
        .register_customer_with(
            &customer("13800000000", "p1"),
            NOW,
            &audit("customer.register"),
            welcome,
        )
        .await
        .unwrap();
    let account = user.spec.account_id.unwrap();
    let books = store.books_of_account(account).await.unwrap();
    assert_eq!((books.len(), books[0].issued.units), (1, 2));
    assert_eq!(store.notifications_of(user.id, 5).await.unwrap().len(), 1);

    // The same book id again: its insert fails inside the transaction, so the second customer
    // is not stored either.
    let again = |account_id: i64, _user_id| {
        let (book, audit) = gift.sign(&master(), account_id, None);
        Welcome {
            books: vec![book],
            audits: vec![audit],
            messages: Vec::new(),
        }
    };
    let failed = store
        .register_customer_with(
            &customer("13800000001", "p2"),
            NOW,
            &audit("customer.register"),
            again,
        )
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let phone = Phone::parse("13800000001").unwrap();
    assert!(matches!(
        store.user_by_phone(&phone.index(&master())).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.signups_from_browser(&[7; 32]).await.unwrap(),
        1,
        "one sign-up only"
    );
    let customers = store
        .accounts()
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.spec.kind == AccountKind::Customer)
        .count();
    assert_eq!(customers, 1, "no account left behind");
}

async fn outbox_filters_and_resends_failed_messages(db: TestDb) {
    let store = support::open(&db).await;
    let user = store
        .register_customer(
            &customer("13800000000", "p1"),
            NOW,
            &audit("customer.register"),
        )
        .await
        .unwrap();
    let message = |kind, channel, user_id| NewNotification {
        user_id,
        channel,
        recipient_sealed: vec![1, 2, 3],
        address_sealed: (channel != Channel::Sms).then(|| vec![4, 5]),
        kind,
        body: "【水票】提醒".into(),
        dedupe_key: None,
        secret: None,
    };
    store
        .enqueue_notifications(
            &[
                message(MessageKind::Code, Channel::Sms, None),
                message(MessageKind::Issued, Channel::Wechat, Some(user.id)),
                message(MessageKind::Expiring, Channel::Push, Some(user.id)),
            ],
            NOW,
        )
        .await
        .unwrap();
    let all = store
        .list_notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap();
    let [push, wechat, code] = &all[..] else {
        panic!("three messages, newest first: {all:?}")
    };
    assert_eq!(push.spec.address_sealed, Some(vec![4, 5]));
    store
        .record_delivery("test", code.id, Channel::Sms, Ok(()), None, NOW)
        .await
        .unwrap();
    store
        .record_delivery("test", wechat.id, Channel::Wechat, Err("503"), None, NOW)
        .await
        .unwrap();
    store
        .record_delivery(
            "test",
            push.id,
            Channel::Sms,
            Err("timeout"),
            Some(NOW + 30),
            NOW,
        )
        .await
        .unwrap();
    let ids = |filter: NotificationFilter| {
        let store = store.clone();
        async move {
            store
                .list_notifications(&filter, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
        }
    };
    let failed = NotificationFilter {
        failed: true,
        ..NotificationFilter::default()
    };
    assert_eq!(ids(failed.clone()).await, vec![push.id, wechat.id]);
    let dead = NotificationFilter {
        state: Some(NotificationState::Dead),
        ..NotificationFilter::default()
    };
    assert_eq!(ids(dead).await, vec![wechat.id]);
    let by_sms = NotificationFilter {
        channel: Some(Channel::Sms),
        ..NotificationFilter::default()
    };
    assert_eq!(
        ids(by_sms).await,
        vec![push.id, code.id],
        "the channel that carried it"
    );
    let codes = NotificationFilter {
        kind: Some(MessageKind::Code),
        ..NotificationFilter::default()
    };
    assert_eq!(ids(codes).await, vec![code.id]);
    let mine = NotificationFilter {
        user_id: Some(user.id),
        since: Some(NOW),
        ..NotificationFilter::default()
    };
    assert_eq!(ids(mine).await, vec![push.id, wechat.id]);
    let later = NotificationFilter {
        since: Some(NOW + 1),
        ..NotificationFilter::default()
    };
    assert!(ids(later).await.is_empty());

    let refused = store
        .resend_notification(code.id, NOW + 5, &audit("notification.resend"))
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict(ConflictKind::NotFailed))),
        "a delivered message is not resent: {refused:?}"
    );
    assert!(matches!(
        store
            .resend_notification(999, NOW, &audit("notification.resend"))
            .await,
        Err(StoreError::NotFound)
    ));
    store
        .resend_notification(wechat.id, NOW + 5, &audit("notification.resend"))
        .await
        .unwrap();
    let due = store
        .claim_notifications("test", NOW + 5, NOW + 65, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "due now; the push retry is due later");
    assert_eq!(
        (due[0].id, due[0].state, due[0].attempts),
        (wechat.id, NotificationState::Pending, 0)
    );
    assert_eq!(
        ids(failed).await,
        vec![push.id],
        "resent: waiting, not failed"
    );
}

async fn outbox_dedupes_and_records_attempts(db: TestDb) {
    let store = support::open(&db).await;
    let message = |key: Option<&str>| NewNotification {
        user_id: None,
        channel: Channel::Sms,
        recipient_sealed: vec![1, 2, 3],
        address_sealed: None,
        kind: MessageKind::Expiring,
        body: "【水票】提醒".into(),
        dedupe_key: key.map(str::to_string),
        secret: None,
    };
    let added = store
        .enqueue_notifications(
            &[message(Some("k")), message(Some("k")), message(None)],
            NOW,
        )
        .await
        .unwrap();
    assert_eq!(added, 2, "the second `k` is a duplicate");
    let due = store
        .claim_notifications("test", NOW, NOW + 60, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].spec.kind, MessageKind::Expiring);
    store
        .record_delivery("test", due[0].id, Channel::Sms, Ok(()), None, NOW)
        .await
        .unwrap();
    store
        .record_delivery(
            "test",
            due[1].id,
            Channel::Sms,
            Err("503"),
            Some(NOW + 30),
            NOW,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_notifications("test", NOW + 29, NOW + 89, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = store
        .claim_notifications("test", NOW + 30, NOW + 90, 10)
        .await
        .unwrap();
    assert_eq!((retry.len(), retry[0].attempts), (1, 1));
    assert_eq!(retry[0].last_error.as_deref(), Some("503"));
    store
        .record_delivery(
            "test",
            retry[0].id,
            Channel::Sms,
            Err("503"),
            None,
            NOW + 30,
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_notifications("test", i64::MAX / 2, i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn usage_changes_follow_the_status_sequence(db: TestDb) {
    let store = support::open(&db).await;
    shuipiao_server::keys::ensure(&store, &master(), NOW)
        .await
        .unwrap();
    let cat = catalogue(&store, 4).await;
    let account = support::customer_account(&store, "客户").await;
    let order = IssueOrder {
        account_id: account.id,
        package_id: cat.package_id,
        quantity: 2,
        allocations: Vec::new(),
    };
    let books = issuance::issue_order(&store, &master(), &order, None, NOW)
        .await
        .unwrap()
        .books;
    issuance::revoke(&store, books[0].id, "挂失", None, NOW)
        .await
        .unwrap();
    let (changes, last) = store.usage_changes(0, 100).await.unwrap();
    assert!(changes.is_empty(), "a revocation changes no counted units");
    let last = last.expect("the revocation moved the status sequence");
    assert_eq!(store.job_cursor("test").await.unwrap(), 0);
    store.advance_job_cursor("test", last).await.unwrap();
    store.advance_job_cursor("test", last - 1).await.unwrap();
    assert_eq!(
        store.job_cursor("test").await.unwrap(),
        last,
        "never moves back"
    );
    assert_eq!(
        store.usage_changes(last, 100).await.unwrap(),
        (Vec::new(), None)
    );
}

async fn gifts_spend_points_and_stock_atomically(db: TestDb) {
    let store = support::open(&db).await;
    let user = store
        .register_customer(
            &customer("13800000000", "p1"),
            NOW,
            &audit("customer.register"),
        )
        .await
        .unwrap();
    let account = user.spec.account_id.unwrap();
    let cup = store
        .create_gift("水杯", 30, 1, NOW, &audit("gift.create"))
        .await
        .unwrap();
    let short = store.order_gift(account, user.id, cup.id, NOW).await;
    assert!(
        matches!(
            &short,
            Err(StoreError::Conflict(ConflictKind::NotEnoughPoints))
        ),
        "{short:?}"
    );
    shuipiao_server::keys::ensure(&store, &master(), NOW)
        .await
        .unwrap();
    let order = IssueOrder {
        account_id: account,
        package_id: catalogue(&store, 10).await.package_id,
        quantity: 1,
        allocations: Vec::new(),
    };
    let book = issuance::issue_order(&store, &master(), &order, None, NOW)
        .await
        .unwrap()
        .books
        .remove(0);
    let change = UsageChange {
        book_id: book.id,
        account_id: account,
        units: 10,
        used_units: 4,
        notified_used_units: 0,
        status_seq: 7,
    };
    assert!(store.notify_usage(&change, &[], 40, NOW).await.unwrap());
    assert!(
        !store.notify_usage(&change, &[], 40, NOW).await.unwrap(),
        "recorded already"
    );
    assert_eq!(
        store.points_balance(account).await.unwrap(),
        40,
        "one credit per status change"
    );
    store
        .order_gift(account, user.id, cup.id, NOW)
        .await
        .unwrap();
    assert_eq!(store.points_balance(account).await.unwrap(), 10);
    let gone = store.order_gift(account, user.id, cup.id, NOW).await;
    assert!(matches!(gone, Err(StoreError::Conflict(_))), "{gone:?}");
    assert_eq!(store.gifts().await.unwrap()[0].stock, 0);
    assert_eq!(
        store.points_balance(account).await.unwrap(),
        10,
        "a refused order spends nothing"
    );
    let history = store.points_history(account, 10).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.delta).collect::<Vec<_>>(),
        vec![-30, 40]
    );
    assert!(matches!(
        store.order_gift(account, user.id, 999, NOW).await,
        Err(StoreError::NotFound)
    ));
}

async fn feedback_moves_through_the_support_desk(db: TestDb) {
    let store = support::open(&db).await;
    let user = store
        .register_customer(
            &customer("13800000000", "p1"),
            NOW,
            &audit("customer.register"),
        )
        .await
        .unwrap();
    let feedback = NewFeedback {
        user_id: user.id,
        book_id: None,
        kind: FeedbackKind::Lost,
        rating: None,
        staff_user_id: None,
        message: "水票丢了".into(),
    };
    let id = store.create_feedback(&feedback, NOW).await.unwrap();
    assert_eq!(store.feedback_of(user.id).await.unwrap()[0].spec, feedback);
    store
        .update_feedback(
            id,
            "in_progress",
            Some(user.id),
            NOW + 1,
            &audit("feedback.update"),
        )
        .await
        .unwrap();
    let open = store.feedback_inbox(true).await.unwrap();
    assert_eq!(
        (open[0].state.as_str(), open[0].assignee_id),
        ("in_progress", Some(user.id))
    );
    store
        .update_feedback(id, "closed", None, NOW + 2, &audit("feedback.update"))
        .await
        .unwrap();
    assert!(store.feedback_inbox(true).await.unwrap().is_empty());
    assert_eq!(store.feedback_inbox(false).await.unwrap().len(), 1);
    let bad_state = store
        .update_feedback(id, "lost", None, NOW + 3, &audit("feedback.update"))
        .await;
    assert!(bad_state.is_err(), "the schema refuses unknown states");
    assert!(matches!(
        store
            .update_feedback(999, "closed", None, NOW, &audit("feedback.update"))
            .await,
        Err(StoreError::NotFound)
    ));
}
