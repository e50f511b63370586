//! Several server instances on one database: the outbox's claims and the background jobs, run
//! by several stores (one pool each, as instances have) at the same moment or interleaved the
//! way two instances can interleave them.

use shuipiao_server::issuance::{self, IssueOrder};
use shuipiao_server::notify::adapter::Adapters;
use shuipiao_server::notify::dispatch::Dispatcher;
use shuipiao_server::notify::{self, jobs};
use shuipiao_server::pii::Phone;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{
    Channel, MessageKind, NewNotification, Notification, NotificationFilter, NotificationState,
    Role,
};

use crate::gateway::Gateway;
use crate::support::{self, NOW, TestDb, on_both_backends};

on_both_backends!(
    concurrent_claims_never_hand_one_message_to_two,
    an_expired_claim_is_taken_again_and_its_first_holder_records_nothing,
    a_dead_rounds_messages_are_delivered_once_its_claim_runs_out,
    a_usage_change_read_before_a_newer_one_credits_nothing_twice,
    expiry_reminders_run_by_four_instances_at_once_are_queued_once,
);

fn sms(n: usize) -> NewNotification {
    notify::by_sms(
        None,
        Phone::parse("13900000009")
            .unwrap()
            .seal(&support::master()),
        MessageKind::Code,
        format!("【水票】第{n}条"),
        None,
    )
}

async fn queue(store: &Store, count: usize) -> Vec<i64> {
    let messages: Vec<NewNotification> = (0..count).map(sms).collect();
    store.enqueue_notifications(&messages, NOW).await.unwrap();
    let mut ids: Vec<i64> = store
        .list_notifications(&NotificationFilter::default(), 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|message| message.id)
        .collect();
    ids.sort_unstable();
    ids
}

async fn of_kind(store: &Store, kind: MessageKind) -> Vec<Notification> {
    let filter = NotificationFilter {
        kind: Some(kind),
        ..Default::default()
    };
    store.list_notifications(&filter, 100).await.unwrap()
}

/// Eight "instances" claim small batches as fast as they can until nothing is left: every
/// message is handed out, none twice.
async fn concurrent_claims_never_hand_one_message_to_two(db: TestDb) {
    let store = support::open(&db).await;
    let queued = queue(&store, 200).await;
    let mut claimers = tokio::task::JoinSet::new();
    for instance in 0..8 {
        let store = support::open(&db).await;
        claimers.spawn(async move {
            let holder = format!("instance-{instance}");
            let mut got = Vec::new();
            loop {
                let batch = store
                    .claim_notifications(&holder, NOW, NOW + 60, 7)
                    .await
                    .unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|message| message.id));
            }
        });
    }
    let mut handed: Vec<i64> = Vec::new();
    while let Some(got) = claimers.join_next().await {
        handed.extend(got.unwrap());
    }
    handed.sort_unstable();
    assert_eq!(handed, queued, "each message claimed exactly once");
}

/// A claim that ran out is claimed by the next round; the first round may then neither send the
/// message (its renewal fails) nor record over the second round's result.
async fn an_expired_claim_is_taken_again_and_its_first_holder_records_nothing(db: TestDb) {
    let store = support::open(&db).await;
    let other = support::open(&db).await;
    let [id] = queue(&store, 1).await[..] else {
        panic!("one message")
    };
    assert_eq!(
        store
            .claim_notifications("first", NOW, NOW + 10, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        other
            .claim_notifications("second", NOW + 9, NOW + 19, 10)
            .await
            .unwrap()
            .is_empty(),
        "held until its claim runs out"
    );
    let taken = other
        .claim_notifications("second", NOW + 10, NOW + 20, 10)
        .await
        .unwrap();
    assert_eq!(taken.iter().map(|m| m.id).collect::<Vec<_>>(), [id]);
    assert!(
        !store
            .renew_notification_claim("first", id, NOW + 25)
            .await
            .unwrap(),
        "the first round must not send it now"
    );
    assert!(
        other
            .renew_notification_claim("second", id, NOW + 25)
            .await
            .unwrap()
    );
    // The first round's send failed late; it records that if it still can.
    let late_failure = || async {
        store
            .record_delivery("first", id, Channel::Sms, Err("503"), Some(NOW + 60), NOW)
            .await
            .unwrap()
    };
    assert!(
        !late_failure().await,
        "the first round's late result is not recorded"
    );
    assert!(
        other
            .record_delivery("second", id, Channel::Sms, Ok(()), None, NOW + 12)
            .await
            .unwrap()
    );
    assert!(
        !late_failure().await,
        "nor after the second round recorded its own"
    );
    let [message] = &store
        .list_notifications(&NotificationFilter::default(), 10)
        .await
        .unwrap()[..]
    else {
        panic!("one message")
    };
    assert_eq!(
        (
            message.state,
            message.attempts,
            message.last_error.as_deref()
        ),
        (NotificationState::Sent, 1, None)
    );
    assert!(
        !other
            .renew_notification_claim("second", id, NOW + 30)
            .await
            .unwrap(),
        "a recorded message is not sent again"
    );
}

/// A round claims messages and its server dies before sending any: with a claim of a few
/// seconds, another server delivers them as soon as the claim runs out, each once.
async fn a_dead_rounds_messages_are_delivered_once_its_claim_runs_out(db: TestDb) {
    let store = support::open(&db).await;
    let gateway = Gateway::start().await;
    queue(&store, 12).await;
    let dead = store
        .claim_notifications("died-mid-round", NOW, NOW + 5, 100)
        .await
        .unwrap();
    assert_eq!(dead.len(), 12);
    let config = shuipiao_server::config::NotifyConfig {
        sms: gateway.config(),
        ..Default::default()
    };
    let survivor = Dispatcher::new(
        support::open(&db).await,
        support::master(),
        Adapters::from_config(&config).unwrap(),
        3,
        5,
    );
    assert_eq!(survivor.run_once(NOW + 4, 100).await.unwrap().sent, 0);
    assert_eq!(survivor.run_once(NOW + 5, 100).await.unwrap().sent, 12);
    let mut ids: Vec<i64> = gateway
        .received()
        .iter()
        .map(|payload| payload["id"].as_i64().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 12);
    assert_eq!(gateway.received().len(), 12, "each message went out once");
    assert!(
        !store
            .record_delivery(
                "died-mid-round",
                dead[0].id,
                Channel::Sms,
                Ok(()),
                None,
                NOW
            )
            .await
            .unwrap(),
        "a round that lost its claim records nothing"
    );
}

/// Two instances' redemption jobs read the same book at two moments (1 unit used, then 3) and
/// record what they read in the other order: the holder is told about and credited for 3
/// units, once, and the job then finds nothing left to tell.
async fn a_usage_change_read_before_a_newer_one_credits_nothing_twice(db: TestDb) {
    let server = support::start_with(&db, |config| config.notify.interval_secs = 86_400).await;
    let store = &server.store;
    let catalogue = support::catalogue(store, 10).await;
    let user = support::phone_customer(store, "13511112222", "客户").await;
    let account_id = user.spec.account_id.unwrap();
    let now = shuipiao_server::unix_now();
    let order = IssueOrder {
        account_id,
        package_id: catalogue.package_id,
        quantity: 1,
        allocations: Vec::new(),
    };
    let book = issuance::issue_order(store, &support::master(), &order, None, now)
        .await
        .unwrap()
        .books
        .remove(0);
    let (_, admin) = server.user("admin", Role::Admin, None).await;
    let mut device = server.device(&admin, "courier1").await;
    let one = device.redeem(book.id, 1);
    server.push_ok(&device, &[one]).await;
    let (early, _) = store.usage_changes(0, 500).await.unwrap();
    let two = device.redeem(book.id, 2);
    server.push_ok(&device, &[two]).await;
    let (late, _) = store.usage_changes(0, 500).await.unwrap();
    assert_eq!(
        (
            early[0].used_units,
            late[0].used_units,
            late[0].notified_used_units
        ),
        (1, 3, 0)
    );
    let told = |units: u16| {
        let key = format!("redeemed:{}:{units}", book.id.0);
        async move {
            notify::for_account(
                store,
                account_id,
                MessageKind::Redeemed,
                "【水票】",
                Some(&key),
            )
            .await
            .unwrap()
        }
    };
    store
        .notify_usage(&late[0], &told(3).await, 30, now)
        .await
        .unwrap();
    store
        .notify_usage(&early[0], &told(1).await, 10, now)
        .await
        .unwrap();
    assert_eq!(
        store.points_balance(account_id).await.unwrap(),
        30,
        "10 points per unit used, each unit once"
    );
    assert_eq!(
        jobs::usage(store, 10, now).await.unwrap(),
        0,
        "nothing left"
    );
    let redeemed = of_kind(store, MessageKind::Redeemed).await;
    assert_eq!(redeemed.len(), 1, "told once: {redeemed:?}");
    assert_eq!(store.points_balance(account_id).await.unwrap(), 30);
}

/// Four instances run the expiry job at the same moment: each book's holder gets one reminder
/// (the dedupe key `expiring:<book>:<user>` is unique, and a second insert does nothing).
async fn expiry_reminders_run_by_four_instances_at_once_are_queued_once(db: TestDb) {
    let store = support::open(&db).await;
    shuipiao_server::keys::ensure(&store, &support::master(), NOW)
        .await
        .unwrap();
    let catalogue = support::catalogue(&store, 4).await;
    let user = support::phone_customer(&store, "13511113333", "客户").await;
    let order = IssueOrder {
        account_id: user.spec.account_id.unwrap(),
        package_id: catalogue.package_id,
        quantity: 5,
        allocations: Vec::new(),
    };
    let books = issuance::issue_order(&store, &support::master(), &order, None, NOW)
        .await
        .unwrap()
        .books;
    let near_end = i64::from(books[0].valid_until) - 2 * 86_400;
    let mut instances = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let store = support::open(&db).await;
        instances.spawn(async move { jobs::expiry(&store, near_end).await.unwrap() });
    }
    while let Some(found) = instances.join_next().await {
        assert_eq!(found.unwrap(), 5, "each instance finds the five books");
    }
    let reminders = of_kind(&store, MessageKind::Expiring).await;
    assert_eq!(reminders.len(), 5, "one reminder per book: {reminders:?}");
}
