//! Scenario: the courier's delivery list. A customer orders water in the wallet, a dispatcher
//! assigns it to a courier, the courier's phone syncs and has the order offline (and the order
//! is 配送中 on the server); the dispatcher reassigns it: the first phone's next sync drops it
//! and the second phone's has it.

use serde_json::{Value, json};
use shuipiao_courier::sync::DeliveryListSync;
use shuipiao_test_support::TestDb;
use shuipiao_tests::api::Api;
use shuipiao_tests::device::Device;
use shuipiao_tests::server::PASSWORD;
use shuipiao_tests::world::World;

shuipiao_test_support::on_both_backends!(delivery_list);

async fn delivery_list(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let customer = plant.customer("wang-fang").await;
    let address = plant.home_address(&customer).await;
    let tomorrow = shuipiao_server::local_time::date(shuipiao_server::unix_now() + 86_400);
    let order = customer
        .wallet
        .post(
            "/api/v1/delivery-orders",
            &json!({"address_id": address["id"], "product": 189, "bottles": 2,
                "slot_date": tomorrow, "slot": "morning", "note": "请放门口", "payment": "cash"}),
        )
        .await;
    let order_id = order["id"].as_u64().expect("order id");
    let order_path = format!("/api/v1/delivery-orders/{order_id}");

    plant
        .admin
        .post(
            "/api/v1/users",
            &json!({"username": "diao-du", "password": PASSWORD, "role": "dispatcher"}),
        )
        .await;
    let dispatcher = Api::login(&plant.admin.base, "diao-du", PASSWORD).await;
    let li = world.device("courier-li").await;
    let wang: Device = world.device("courier-wang").await;
    let assign = |device: &Device| {
        let path = format!("/api/v1/dispatch/orders/{order_id}/assign");
        let body = json!({"courier_id": device.courier.0});
        let dispatcher = &dispatcher;
        async move { dispatcher.post(&path, &body).await }
    };

    assign(&li).await;
    let report = li.sync().await;
    assert_eq!(report.delivery_list, DeliveryListSync::Pulled);
    assert_eq!(li.delivery_ids(&tomorrow), [order_id]);
    let list = li.deliveries(&tomorrow);
    let task = &list.items[0].task;
    assert_eq!(
        (
            task.address.as_str(),
            task.phone.as_str(),
            task.note.as_str(),
            task.bottles
        ),
        ("幸福小区 3栋 2单元 501", "13800138000", "请放门口", 2)
    );
    assert_eq!((list.done, list.left), (0, 1));
    // The next sync tells the server the phone has it.
    li.sync().await;
    let seen: Value = customer.wallet.get(&order_path).await;
    assert_eq!(seen["state_label"], "配送中", "{seen}");

    assign(&wang).await;
    li.sync().await;
    assert!(
        li.delivery_ids(&tomorrow).is_empty(),
        "the first phone drops it"
    );
    wang.sync().await;
    assert_eq!(
        wang.delivery_ids(&tomorrow),
        [order_id],
        "the second phone has it"
    );
    wang.sync().await;
    let seen: Value = customer.wallet.get(&order_path).await;
    assert_eq!(seen["state_label"], "配送中", "{seen}");
}
