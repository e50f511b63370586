//! A plant's day: customers' orders of water for tomorrow spread over ten regions, automatic
//! dispatch to every courier by region and load, then every courier's phone pulls its delivery
//! list through `GET /api/v1/sync/deliveries` and pushes one signed delivery event per order
//! through `POST /api/v1/sync/push`, all phones at once, on SQLite and PostgreSQL.
//!
//! Orders are placed through the same domain code as the wallet (`ordering::orders::place`),
//! which is setup and not measured; dispatch runs `dispatch::auto_assign` for the whole day.

use std::num::NonZeroU16;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use shuipiao_server::accounts::Actor;
use shuipiao_server::ordering::addresses::{self, AddressInput};
use shuipiao_server::ordering::orders::{self, OrderInput};
use shuipiao_server::store::models::{AccountKind, AuditEntry, NewAccount, NewUser, Role, User};
use shuipiao_server::{dispatch, local_time};
use shuipiao_shared::delivery::DeliveriesResponse;
use shuipiao_shared::event::{DeliveryOutcome, EventBody};
use tokio::task::JoinSet;

use crate::plant::{self, LoadDevice, PRODUCT, Plant};
use crate::server::{self, BACKENDS, Running, backend_name};
use crate::{Cell, Options, Table, measure};

/// Regions the orders and couriers are spread over.
const REGIONS: usize = 10;
/// Orders each customer account places for the day.
const ORDERS_PER_ACCOUNT: usize = 10;
/// Delivery events per push request: a phone pushes after every few doors.
const PUSH_BATCH: usize = 50;
/// Rows per delivery-list page the phones ask for.
const PULL_LIMIT: u32 = 500;

/// Runs the day on both backends.
pub async fn run(options: &Options) -> anyhow::Result<Table> {
    let mut table = Table::new(
        "day: orders dispatched, pulled by every courier's phone and closed by delivery events",
        &[
            "backend",
            "couriers",
            "orders",
            "dispatch s",
            "list KiB p50",
            "list KiB max",
            "pull all s",
            "push events/s",
            "push p99 ms",
        ],
    );
    let http = server::client();
    for backend in BACKENDS {
        let name = backend_name(backend);
        let Some((db, running)) = server::start_or_skip(backend, &mut table).await? else {
            continue;
        };
        let couriers = options.day_couriers;
        let orders = couriers * options.day_deliveries;
        let day = local_time::date(shuipiao_server::unix_now() + 86_400);
        let devices = setup(&running, couriers, orders, &day).await?;

        let started = Instant::now();
        let assigned = dispatch::auto_assign(
            &running.store,
            Actor {
                user: None,
                via: "bench",
            },
            &day,
            None,
            shuipiao_server::unix_now(),
        )
        .await
        .context("dispatch the day")?;
        let dispatch_time = started.elapsed();
        anyhow::ensure!(
            assigned.plan.assignments.len() == orders,
            "dispatch assigned {} of {orders} orders",
            assigned.plan.assignments.len()
        );

        let started = Instant::now();
        let mut pulls = JoinSet::new();
        for device in devices {
            let (http, url) = (http.clone(), running.url.clone());
            pulls.spawn(async move { pull_list(&http, &url, device).await });
        }
        let mut lists = Vec::with_capacity(couriers);
        while let Some(pulled) = pulls.join_next().await {
            lists.push(pulled??);
        }
        let pull_time = started.elapsed();
        let pulled: usize = lists.iter().map(|list| list.orders.len()).sum();
        anyhow::ensure!(
            pulled == orders,
            "phones pulled {pulled} of {orders} orders"
        );
        let mut list_kib: Vec<f64> = lists.iter().map(|l| l.bytes as f64 / 1024.0).collect();
        list_kib.sort_by(f64::total_cmp);

        let started = Instant::now();
        let mut pushes = JoinSet::new();
        for list in lists {
            let (http, url) = (http.clone(), running.url.clone());
            pushes.spawn(async move { deliver_all(&http, &url, list).await });
        }
        let mut latencies = Vec::new();
        while let Some(pushed) = pushes.join_next().await {
            latencies.extend(pushed??);
        }
        let push_time = started.elapsed();

        table.rows.push(vec![
            Cell::text(name),
            Cell::count(couriers as f64),
            Cell::count(orders as f64),
            Cell::figure(dispatch_time.as_secs_f64(), 2),
            Cell::figure(list_kib[list_kib.len() / 2], 1),
            Cell::figure(list_kib.last().copied().unwrap_or(0.0), 1),
            Cell::figure(pull_time.as_secs_f64(), 2),
            Cell::count((orders as f64 / push_time.as_secs_f64()).round()),
            Cell::figure(measure::percentile_ms(&mut latencies, 0.99), 1),
        ]);
        running.stop().await?;
        db.remove().await?;
    }
    table.notes = vec![format!(
        "Cash orders for tomorrow over {REGIONS} regions and both slots, {ORDERS_PER_ACCOUNT} per \
         customer account, placed through the wallet's domain code before the clock starts. \
         Dispatch: one automatic assignment of the whole day. Lists: every phone pages its feed \
         at {PULL_LIMIT} rows, all phones at once; KiB of JSON per phone. Push: every phone \
         signs one delivery event per order (cash, one empty back) and pushes {PUSH_BATCH} at a \
         time, all phones at once."
    )];
    Ok(table)
}

/// Regions, couriers with one phone each, customers with an address each, and `orders` cash
/// orders for `day` spread over the regions and both slots.
async fn setup(
    running: &Running,
    couriers: usize,
    orders: usize,
    day: &str,
) -> anyhow::Result<Vec<LoadDevice>> {
    let store = &running.store;
    let now = shuipiao_server::unix_now();
    let audit = || AuditEntry::new(None, "bench.setup", "bench", json!({}));
    Plant::setup(running, 1).await?;
    let mut regions = Vec::with_capacity(REGIONS);
    for idx in 0..REGIONS {
        regions.push(
            store
                .create_region(&format!("压测区{idx}"), now, &audit())
                .await?,
        );
    }
    let mut devices = Vec::with_capacity(couriers);
    for idx in 0..couriers {
        let courier = NewUser {
            username: format!("bench-courier-{idx}"),
            password_hash: "!".into(),
            role: Role::Courier,
            account_id: None,
            region_id: Some(regions[idx % REGIONS].id),
            outlet_id: None,
        };
        let courier = store.create_user(&courier, now, &audit()).await?;
        devices.push(plant::enroll_device(running, courier.id, 0).await?);
    }
    let accounts = orders.div_ceil(ORDERS_PER_ACCOUNT);
    let mut placing = JoinSet::new();
    for idx in 0..accounts {
        let store = store.clone();
        let master = running.master.clone();
        let region = regions[idx % REGIONS].id;
        let count = ORDERS_PER_ACCOUNT.min(orders - idx * ORDERS_PER_ACCOUNT);
        let day = day.to_owned();
        placing.spawn(async move {
            let customer = customer(&store, idx, now).await?;
            let input = AddressInput {
                region_id: region,
                community: format!("压测小区{}", idx / 40),
                building: format!("{}栋", idx % 40 + 1),
                room: format!("{}", 101 + idx % 30),
                contact: "压测客户".into(),
                phone: format!("138{:08}", idx),
                ..AddressInput::default()
            };
            let address_id = addresses::add(&store, &master, &customer, &input, now).await?;
            for n in 0..count {
                let order = OrderInput {
                    address_id,
                    product: i64::from(PRODUCT.0),
                    bottles: 1,
                    slot_date: day.clone(),
                    slot: if n % 2 == 0 { "morning" } else { "afternoon" }.into(),
                    note: String::new(),
                    payment: "cash".into(),
                    book_id: None,
                };
                orders::place(&store, &customer, &order, now).await?;
            }
            anyhow::Ok(())
        });
        // A few accounts at a time: the store serializes writers anyway.
        if placing.len() >= 8 {
            placing.join_next().await.context("placing task")???;
        }
    }
    while let Some(placed) = placing.join_next().await {
        placed??;
    }
    Ok(devices)
}

/// A customer account and its user.
async fn customer(
    store: &shuipiao_server::store::Store,
    idx: usize,
    now: i64,
) -> anyhow::Result<User> {
    let audit = || AuditEntry::new(None, "bench.setup", "bench", json!({}));
    let account = NewAccount {
        kind: AccountKind::Customer,
        name: format!("压测客户{idx}"),
        enterprise_id: None,
    };
    let account = store.create_account(&account, now, &audit()).await?;
    let user = NewUser {
        username: format!("bench-customer-{idx}"),
        password_hash: "!".into(),
        role: Role::Customer,
        account_id: Some(account.id),
        region_id: None,
        outlet_id: None,
    };
    Ok(store.create_user(&user, now, &audit()).await?)
}

/// A phone with its pulled list.
struct Pulled {
    device: LoadDevice,
    /// Order ids and bottles of the list.
    orders: Vec<(u64, u16)>,
    /// Response bytes of every page.
    bytes: usize,
}

/// Pages through the phone's delivery feed from cursor 0.
async fn pull_list(
    http: &reqwest::Client,
    url: &str,
    device: LoadDevice,
) -> anyhow::Result<Pulled> {
    let mut cursor = 0;
    let mut orders = Vec::new();
    let mut bytes = 0;
    loop {
        let answer = http
            .get(format!(
                "{url}/api/v1/sync/deliveries?cursor={cursor}&limit={PULL_LIMIT}"
            ))
            .bearer_auth(&device.token)
            .send()
            .await?;
        let status = answer.status();
        let body = answer.bytes().await?;
        anyhow::ensure!(status.is_success(), "delivery pull answered {status}");
        bytes += body.len();
        let page: DeliveriesResponse = serde_json::from_slice(&body)?;
        orders.extend(
            page.rows
                .iter()
                .filter_map(|row| row.task.as_ref())
                .map(|task| (task.order_id, task.bottles)),
        );
        cursor = page.next_cursor;
        if !page.has_more {
            break;
        }
    }
    Ok(Pulled {
        device,
        orders,
        bytes,
    })
}

/// Delivers every order of the list for cash with one empty taken back, pushing
/// [`PUSH_BATCH`] events at a time; returns each push's latency.
async fn deliver_all(
    http: &reqwest::Client,
    url: &str,
    mut list: Pulled,
) -> anyhow::Result<Vec<Duration>> {
    let orders = list.orders;
    let chain = list.device.chain(orders.len(), |device_seq| {
        let (order_id, bottles) = orders[(device_seq - 1) as usize];
        let body = EventBody::Delivery {
            order_id,
            outcome: DeliveryOutcome::Cash {
                bottles: NonZeroU16::new(bottles).unwrap_or(NonZeroU16::MIN),
                deposits: 0,
            },
            empties: 1,
        };
        (plant::an_hour_ago_ms() + device_seq, body)
    });
    let mut latencies = Vec::new();
    for events in chain.chunks(PUSH_BATCH) {
        let sent = Instant::now();
        plant::push(http, url, &list.device.token, &plant::push_body(events)).await?;
        latencies.push(sent.elapsed());
    }
    if let Some(last) = chain.last() {
        list.device.pushed(last);
    }
    Ok(latencies)
}
