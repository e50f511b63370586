//! A device reports what it could not upload: after the server lost a courier's uploads (as a
//! restore from an old backup does), the courier's next sync is refused with a chain gap, the
//! events stay pending on the phone, and the admin's device list shows how many, with the time
//! the device reported it.

use shuipiao_test_support::TestDb;
use shuipiao_tests::world::{World, accepted};
use sqlx::{Connection, Executor};

shuipiao_test_support::on_both_backends!(device_reports_pending_events);

async fn device_reports_pending_events(db: TestDb) {
    let world = World::start(db).await;
    let plant = &world.plant;
    let (_, qr) = plant.family_book("zhang-wei").await;
    let mut device = world.device("courier-li").await;
    let before = plant.admin.page("/admin/devices").await;
    assert!(
        before.contains("未上报") && !before.contains("class=\"pending\""),
        "no report before the first pull that carries one: {before}"
    );
    device.sync().await;

    device.clock.advance_secs(60);
    accepted("courier-li", &device.scan(&qr, 1), 9);
    let report = device.sync().await;
    assert_eq!(report.acknowledged, 1);
    let synced = plant.admin.page("/admin/devices").await;
    assert!(
        synced.contains("<span class=\"pending\">0</span>"),
        "everything uploaded: {synced}"
    );

    // The server loses the device's upload, as after restoring a backup from before it.
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(world.db.url.expose())
        .await
        .unwrap();
    let device_id = device.id.0 as i64;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DELETE FROM events WHERE device_id = {device_id}"
    )))
    .await
    .unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "UPDATE devices SET chain_seq = 0, chain_hash = NULL WHERE id = {device_id}"
    )))
    .await
    .unwrap();
    conn.close().await.unwrap();

    for remaining in [8, 7] {
        device.clock.advance_secs(60);
        accepted("courier-li", &device.scan(&qr, 1), remaining);
    }
    let report = device.sync().await;
    assert_eq!(
        (report.pushed, report.acknowledged),
        (2, 0),
        "the chain gap keeps both new events pending"
    );
    assert_eq!(device.status().sync.pending, 2, "{:#?}", device.status());
    let page = plant.admin.page("/admin/devices").await;
    assert!(
        page.contains("<span class=\"pending\">2</span>"),
        "the device list shows the two events still on the phone: {page}"
    );
    let today = shuipiao_server::local_time::date(shuipiao_server::unix_now());
    assert!(
        page.contains(&format!("({today} ")),
        "with the report's time: {page}"
    );
}
