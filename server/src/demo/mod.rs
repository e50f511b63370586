//! The demo data set: a bottled-water plant in Hubei (regions 武汉/襄阳/宜昌), its stores, couriers,
//! store clerks, families and an enterprise in 襄阳 that bought 100 tickets for its staff, with a
//! year and a month of history (so the dashboard's seasonal forecast and its backtest have
//! something to read), all through the real domain functions and signed device events.
//!
//! The history ([`history`]) is a story told day by day: every family drinks at its own pace,
//! more in Wuhan's hot summers, at weekends, and in working hours with a morning and an evening
//! peak ([`traffic`]); it buys a new book of its package when the last one runs out, and its
//! regular courier's phone (or its store's counter) records each redemption. The seeded dice
//! make every demo the same.
//!
//! The first families also keep delivery addresses and have ordered water over the past week and
//! for today and tomorrow, with two recurring orders, all through the ordering domain's rules.
//! The past week's orders were dispatched and closed at the door by the couriers' devices
//! (delivered with tickets, on account or for cash, with deposits and empties, or 未送达), some
//! were cancelled; today's are assigned to the couriers (`dispatch`), and a dispatcher (调度员)
//! may assign tomorrow's.
//!
//! [`Scale`] sets how many families, couriers and days: the default is quick; `--scale large`
//! (a year for 50 000 families and 200 couriers) goes through the same paths.

mod history;
mod traffic;

use std::fmt;
use std::num::NonZeroU16;

use ed25519_dalek::SigningKey;
use shuipiao_shared::event::{
    ChainTip, DeliveryOutcome, Event, EventBody, EventFlags, MissReason, SignedEvent,
};
use shuipiao_shared::ids::{EventId, ProductCode, ScopeId, UserId};
use shuipiao_shared::sync::EnrollRequest;

use self::history::{Customer, Story, held, push_pending};
use self::traffic::{Dice, Drinker};
use crate::accounts::{self, AccountError, Actor, UserRequest};
use crate::auth::password;
use crate::buckets::RecordInput;
use crate::catalogue::{self, CatalogueError, PackageDraft};
use crate::config::MasterKey;
use crate::config::PromotionConfig;
use crate::enrollment::{self, EnrollError};
use crate::issuance::{self, Allocation, Gift, IssueError, IssueOrder};
use crate::keys::{self, KeyError};
use crate::local_time;
use crate::notify::jobs;
use crate::ordering::addresses::{self, AddressInput};
use crate::ordering::orders::{self, OrderInput};
use crate::ordering::recurring::{self, RecurringInput};
use crate::ordering::{OrderingError, slots};
use crate::pii::Phone;
use crate::store::buckets::{PayMethod, RecordKind};
use crate::store::delivery_orders::{DeliveryOrder, OrderState, Payment, Slot};
use crate::store::models::*;
use crate::store::{Store, StoreError};

/// Password of every demo user; printed in the summary. Demo data only.
pub const DEMO_PASSWORD: &str = "shuipiao-demo";

/// Phone number of the demo customer who signed up through a courier's staff code.
pub const DEMO_PHONE: &str = "13800138000";

/// Families with delivery addresses and orders (the first ones); the demo needs at least these.
const ORDERING_FAMILIES: usize = 6;

/// Why the demo could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The scale asked for is too small for the demo's story.
    #[error("演示规模至少 {ORDERING_FAMILIES} 户客户、3 名配送员、{MIN_DAYS} 天历史")]
    Scale,
    /// A demo user or account broke a rule, or the database already holds demo data.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// Storage failed (e.g. the database already holds demo data).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A demo product, region, store, scope or package broke a catalogue rule.
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
    /// Enrolling a device failed.
    #[error(transparent)]
    Enroll(#[from] EnrollError),
    /// Making the plant's keys failed.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// Hashing a password failed.
    #[error(transparent)]
    Password(#[from] password::HashError),
    /// Pushing the history's events failed.
    #[error(transparent)]
    Push(#[from] crate::sync::PushError),
    /// A demo address or order broke an ordering rule.
    #[error(transparent)]
    Ordering(#[from] OrderingError),
    /// A demo bucket record broke a bucket rule.
    #[error(transparent)]
    Buckets(#[from] crate::buckets::BucketError),
    /// Assigning today's orders broke a dispatch rule.
    #[error(transparent)]
    Dispatch(#[from] crate::dispatch::DispatchError),
}

/// Fewest days of history: the past week of orders comes after the story, and the forecast's
/// backtest needs eight weeks.
pub const MIN_DAYS: u32 = 8 * 7;

/// How big a plant the demo makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Families (`customer01` …).
    pub customers: u32,
    /// Couriers, spread over the three regions.
    pub couriers: u32,
    /// Days of history before today.
    pub days: u32,
}

impl Scale {
    /// The default demo: a few seconds to fill, a year and a month of history (so the forecast
    /// has last year's same weeks), a few hundred books.
    pub const DEMO: Scale = Scale {
        customers: 30,
        couriers: 6,
        days: 400,
    };

    /// `--scale large`: a year for 50 000 families and 200 couriers.
    pub const LARGE: Scale = Scale {
        customers: 50_000,
        couriers: 200,
        days: 365,
    };

    /// Checks the scale is big enough for the story (orders of six families, a courier per
    /// region, eight weeks).
    pub fn checked(self) -> Result<Scale, DemoError> {
        if (self.customers as usize) < ORDERING_FAMILIES
            || self.couriers < 3
            || self.days < MIN_DAYS
        {
            return Err(DemoError::Scale);
        }
        Ok(self)
    }
}

/// Where the demo reports how far it got (stderr for the command line).
pub type Progress<'a> = dyn FnMut(String) + Send + 'a;

/// What the demo made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Books issued.
    pub books: usize,
    /// Events pushed.
    pub events: usize,
    /// Families (`customer01` … `customerNN`).
    pub customers: usize,
    /// Staff and enterprise users made, by name.
    pub users: Vec<(String, Role)>,
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo data: {} families, {} books, {} device events",
            self.customers, self.books, self.events
        )?;
        writeln!(f, "demo users (password `{DEMO_PASSWORD}`):")?;
        writeln!(f, "  {DEMO_PHONE:<16} customer (signs in by phone number)")?;
        writeln!(
            f,
            "  {:<16} customer (a family with a live book, deliveries, points and an open order; customer02 … customer{:02} too)",
            "customer01", self.customers
        )?;
        let couriers = self
            .users
            .iter()
            .filter(|(_, role)| *role == Role::Courier)
            .count();
        for (name, role) in self.users.iter().filter(|(name, role)| {
            !name.starts_with("member") && (*role != Role::Courier || couriers <= 12)
        }) {
            writeln!(f, "  {name:<16} {}", role.as_str())?;
        }
        if couriers > 12 {
            writeln!(
                f,
                "  {:<16} courier ({couriers} couriers: courier<region 1-3><n>)",
                "courier11"
            )?;
        }
        Ok(())
    }
}

/// A device (a courier's phone or a store's counter) with its chain, as the courier app would
/// keep it.
struct DemoDevice {
    device: Device,
    key: SigningKey,
    courier: UserId,
    tip: ChainTip,
    pending: Vec<SignedEvent>,
}

impl DemoDevice {
    fn record(&mut self, scanned_at: u64, body: EventBody, dice: &mut Dice) -> EventId {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&dice.next().to_be_bytes());
        let signed = Event {
            event_id: EventId::v7(scanned_at * 1000, random),
            device_id: self.device.id,
            device_seq: self.tip.device_seq + 1,
            prev_hash: self.tip.hash,
            scanned_at,
            courier_id: self.courier,
            flags: EventFlags {
                offline: dice.below(4) == 0,
                ..EventFlags::default()
            },
            body,
        }
        .sign(&self.key);
        self.tip = ChainTip {
            device_seq: self.tip.device_seq + 1,
            hash: signed.hash(),
        };
        self.pending.push(signed);
        signed.event.event_id
    }

    /// Closes `order` at the door as the courier app does: a tickets order by scanning its book
    /// (the redemption, then the delivery naming it), the others on account or for cash; when
    /// `missed`, nobody was home. A customer's first delivery takes deposits for the buckets left
    /// there, later ones take back as many empties as full bottles came.
    fn deliver(&mut self, order: &DeliveryOrder, first: bool, missed: bool, dice: &mut Dice) {
        let slot_hour = match order.slot {
            Slot::Morning => 9,
            Slot::Afternoon => 15,
        };
        let day = crate::local_time::day_start(&order.slot_date).unwrap_or_default();
        let at = (day + slot_hour * 3_600 + dice.below(3 * 3_600) as i64).max(0) as u64;
        let Some(bottles) = NonZeroU16::new(order.bottles) else {
            return;
        };
        let (empties, deposits) = if first {
            (0, order.bottles)
        } else {
            (order.bottles, 0)
        };
        let outcome = match order.payment {
            _ if missed => DeliveryOutcome::NotDelivered {
                reason: MissReason::NobodyHome,
            },
            Payment::Tickets(book_id) => DeliveryOutcome::Tickets {
                bottles,
                deposits,
                redemption: self.record(
                    at,
                    EventBody::Redemption {
                        book_id,
                        units: order.bottles,
                        product: order.product,
                    },
                    dice,
                ),
            },
            Payment::Account => DeliveryOutcome::Account { bottles, deposits },
            Payment::Cash => DeliveryOutcome::Cash { bottles, deposits },
        };
        let empties = if outcome.delivered() { empties } else { 0 };
        self.record(
            at + 60,
            EventBody::Delivery {
                order_id: order.id as u64,
                outcome,
                empties,
            },
            dice,
        );
    }
}

struct Maker<'a> {
    store: &'a Store,
    now: i64,
    summary: DemoSummary,
}

impl Maker<'_> {
    fn audit(&self, action: &'static str, target: String) -> AuditEntry {
        AuditEntry::new(None, action, target, serde_json::json!({ "via": "demo" }))
    }

    async fn user(
        &mut self,
        username: &str,
        role: Role,
        account_id: Option<i64>,
        region_id: Option<i64>,
        outlet_id: Option<i64>,
        password_hash: &str,
    ) -> Result<User, DemoError> {
        let request = UserRequest {
            username,
            password: DEMO_PASSWORD,
            role,
            account_id,
            region_id,
            outlet_id,
        };
        let user = accounts::create_user_with_hash(
            self.store,
            &request,
            password_hash,
            Actor::DEMO,
            self.now,
        )
        .await?;
        if role == Role::Customer && account_id.is_some() && !username.starts_with("member") {
            self.summary.customers += 1;
        } else {
            self.summary.users.push((username.to_string(), role));
        }
        Ok(user)
    }

    async fn account(
        &self,
        kind: AccountKind,
        name: &str,
        enterprise_id: Option<i64>,
    ) -> Result<Account, DemoError> {
        let account = NewAccount {
            kind,
            name: name.to_string(),
            enterprise_id,
        };
        Ok(accounts::create_account(self.store, &account, Actor::DEMO, self.now).await?)
    }

    /// Enrolls a device for `user` (a courier or a store clerk) with a fresh key.
    async fn device(&self, user: &User) -> Result<DemoDevice, DemoError> {
        let code = enrollment::create_code(self.store, user.id, 3_600, None, self.now).await?;
        let key = SigningKey::from_bytes(&crate::random::bytes::<32>());
        let name = match user.spec.role {
            Role::StoreStaff => format!("{}的柜台", user.spec.username),
            _ => format!("{}的手机", user.spec.username),
        };
        let request = EnrollRequest {
            code: code.code,
            device_pubkey: key.verifying_key().to_bytes(),
            name,
        };
        let enrolled = enrollment::enroll(self.store, &request, self.now).await?;
        Ok(DemoDevice {
            device: self.store.device(enrolled.device_id).await?,
            key,
            courier: user.id,
            tip: ChainTip::GENESIS,
            pending: Vec::new(),
        })
    }
}

/// Family names: a surname and a given name, then a number once the combinations run out.
fn family_name(idx: usize) -> String {
    const SURNAMES: [&str; 20] = [
        "张", "王", "李", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高",
        "林", "何", "郭", "马", "罗",
    ];
    const GIVEN: [&str; 20] = [
        "伟", "芳", "娜", "洋", "静", "磊", "敏", "强", "婷", "军", "丽", "斌", "勇", "艳", "杰",
        "娟", "涛", "明", "超", "秀英",
    ];
    let combos = SURNAMES.len() * GIVEN.len();
    let surname = SURNAMES[idx % SURNAMES.len()];
    let given = GIVEN[(idx + idx / SURNAMES.len()) % GIVEN.len()];
    match idx / combos {
        0 => format!("{surname}{given}家"),
        n => format!("{surname}{given}家{}", n + 1),
    }
}

/// Makes the plant's keys as of `since`, the start of the history the demo invents. A server
/// that already made its keys at start-up gets a new issuer key from `since`; the key it
/// replaces has signed nothing yet, since the demo fills only an empty catalogue.
async fn keys_since(store: &Store, master: &MasterKey, since: i64) -> Result<(), KeyError> {
    keys::ensure(store, master, since).await?;
    let issuer = keys::active(store, master, KeyPurpose::Issuer).await?;
    if i64::from(issuer.row.not_before) > since {
        keys::rotate_issuer(store, master, None, since).await?;
    }
    Ok(())
}

/// Fills an empty database with the default demo data set ([`Scale::DEMO`]), making its keys
/// first if there are none.
pub async fn fill(store: &Store, master: &MasterKey, now: i64) -> Result<DemoSummary, DemoError> {
    fill_scaled(store, master, now, Scale::DEMO, &mut |_| {}).await
}

/// Fills an empty database with a demo plant of `scale`, telling `progress` how far the history
/// got.
pub async fn fill_scaled(
    store: &Store,
    master: &MasterKey,
    now: i64,
    scale: Scale,
    progress: &mut Progress<'_>,
) -> Result<DemoSummary, DemoError> {
    let scale = scale.checked()?;
    let started = std::time::Instant::now();
    let today = local_time::date(now);
    let first_day = local_time::add_days(&today, -i64::from(scale.days)).unwrap_or_default();
    // The plant opened the day before its first delivery: its issuer key dates from then, as a
    // device refuses a book whose validity starts before its key's, as a forgery.
    let opened = local_time::day_start(&first_day).unwrap_or_default() - 86_400;
    keys_since(store, master, opened).await?;
    let mut maker = Maker {
        store,
        now,
        summary: DemoSummary::default(),
    };
    let mut dice = Dice(0x005e_ed5a_1eb0_771e);
    let products = [
        Product {
            code: ProductCode(189),
            name: "18.9L 桶装水".into(),
            volume_ml: 18_900,
            deposit_fen: 3_000,
        },
        Product {
            code: ProductCode(113),
            name: "11.3L 桶装水".into(),
            volume_ml: 11_300,
            deposit_fen: 2_000,
        },
        Product {
            code: ProductCode(75),
            name: "7.5L 桶装水".into(),
            volume_ml: 7_500,
            deposit_fen: 1_500,
        },
    ];
    // The plant's catalogue goes through the same rules as the console's and the API's.
    for product in &products {
        catalogue::create_product(store, product, None, now).await?;
    }
    let mut regions = Vec::new();
    let mut outlets = Vec::new();
    let mut scopes = Vec::new();
    for (region_name, outlet_names) in [
        ("武汉", ["江汉路门店", "光谷门店"]),
        ("襄阳", ["樊城门店", "襄城门店"]),
        ("宜昌", ["西陵门店", "伍家岗门店"]),
    ] {
        let region = catalogue::create_region(store, region_name, None, now).await?;
        let mut region_outlets = Vec::new();
        for name in outlet_names {
            region_outlets.push(catalogue::create_outlet(store, region.id, name, None, now).await?);
        }
        let scope = NewScope {
            name: format!("{region_name}市"),
            region_ids: vec![region.id],
            outlet_ids: region_outlets.iter().map(|o| o.id).collect(),
        };
        let scope = catalogue::create_scope(store, &scope, None, now).await?;
        regions.push(region);
        outlets.push(region_outlets);
        scopes.push(scope.id);
    }
    let package_specs = [
        (
            "家庭月套餐(18.9L×4)",
            6_000,
            4,
            0,
            31,
            products[0].code,
            ScopeId::ANYWHERE,
        ),
        (
            "家庭月套餐(11.3L×6)",
            6_600,
            6,
            0,
            31,
            products[1].code,
            ScopeId::ANYWHERE,
        ),
        (
            "买十送一(18.9L)",
            15_000,
            10,
            1,
            365,
            products[0].code,
            ScopeId::ANYWHERE,
        ),
        (
            "企业年套餐(18.9L×100)",
            140_000,
            100,
            0,
            365,
            products[0].code,
            scopes[1],
        ),
    ];
    let mut packages = Vec::new();
    for (name, price_fen, paid_units, bonus_units, validity_days, product, scope) in package_specs {
        let spec = NewPackage {
            name: name.into(),
            price_fen,
            paid_units,
            bonus_units,
            validity_days,
            product,
            scope,
            holder_bound: false,
        };
        let draft = PackageDraft::new(&spec)?;
        packages.push(catalogue::create_package(store, &draft, None, now).await?);
    }

    let password_hash = password::hash(DEMO_PASSWORD.to_string()).await?;
    maker
        .user("admin", Role::Admin, None, None, None, &password_hash)
        .await?;
    let operator = maker
        .user("operator", Role::Operator, None, None, None, &password_hash)
        .await?;
    maker
        .user(
            "statistician",
            Role::Statistician,
            None,
            None,
            None,
            &password_hash,
        )
        .await?;
    maker
        .user(
            "dispatcher",
            Role::Dispatcher,
            None,
            None,
            None,
            &password_hash,
        )
        .await?;
    // Couriers take turns over the regions (courier11, courier21, courier31, courier12, …), each
    // with an enrolled phone; each store has a clerk with an enrolled counter.
    let mut devices = Vec::new();
    let mut region_couriers = vec![Vec::new(); regions.len()];
    let mut couriers = Vec::new();
    for k in 0..scale.couriers as usize {
        let idx = k % regions.len();
        let courier = maker
            .user(
                &format!("courier{}{}", idx + 1, k / regions.len() + 1),
                Role::Courier,
                None,
                Some(regions[idx].id),
                None,
                &password_hash,
            )
            .await?;
        region_couriers[idx].push(devices.len());
        devices.push(maker.device(&courier).await?);
        couriers.push(courier);
    }
    let mut region_counters = vec![Vec::new(); regions.len()];
    for (idx, region_outlets) in outlets.iter().enumerate() {
        for (n, outlet) in region_outlets.iter().enumerate() {
            let clerk = maker
                .user(
                    &format!("clerk{}{}", idx + 1, n + 1),
                    Role::StoreStaff,
                    None,
                    None,
                    Some(outlet.id),
                    &password_hash,
                )
                .await?;
            region_counters[idx].push(devices.len());
            devices.push(maker.device(&clerk).await?);
        }
    }

    // Families: a third of them from the first day, the others joining over the year, so the
    // plant grows; customer01 buys 买十送一 and the other families a package each.
    let ordering_until = scale.days - 8;
    let mut families = Vec::new();
    let mut customers = Vec::new();
    for idx in 0..scale.customers as usize {
        let account = maker
            .account(AccountKind::Customer, &family_name(idx), None)
            .await?;
        customers.push(
            maker
                .user(
                    &format!("customer{:02}", idx + 1),
                    Role::Customer,
                    Some(account.id),
                    None,
                    None,
                    &password_hash,
                )
                .await?,
        );
        let region = idx % regions.len();
        let package = match (idx, dice.below(20)) {
            (0, _) => 2,
            (_, 0..9) => 0,
            (_, 9..14) => 1,
            _ => 2,
        };
        // 11.3L bottles are smaller: more of them.
        let size = if package == 1 { 1.6 } else { 1.0 };
        let from_day = if idx < ORDERING_FAMILIES || dice.below(3) == 0 {
            0
        } else {
            dice.below(u64::from(scale.days) * 3 / 4) as u32
        };
        let couriers_here = &region_couriers[region];
        let counters_here = &region_counters[region];
        families.push(Customer {
            account_id: account.id,
            region,
            package: Some(package),
            weekly: (0.7 + 0.8 * dice.unit()) * size,
            drinker: Drinker::Household,
            from_day,
            // The ordering families' last week is their orders; the others go on until now.
            until_day: if idx < ORDERING_FAMILIES {
                ordering_until
            } else {
                scale.days + 1
            },
            courier: couriers_here[(idx / regions.len()) % couriers_here.len()],
            counter: counters_here[(idx / regions.len()) % counters_here.len()],
            books: Vec::new(),
        });
    }
    let enterprise = maker
        .account(AccountKind::Enterprise, "襄阳汉江科技有限公司", None)
        .await?;
    let enterprise_admin = maker
        .user(
            "xyadmin",
            Role::EnterpriseAdmin,
            Some(enterprise.id),
            None,
            None,
            &password_hash,
        )
        .await?;
    let mut members = Vec::new();
    for n in 1..=10 {
        let member = maker
            .account(
                AccountKind::Customer,
                &format!("汉江科技 员工{n:02}"),
                Some(enterprise.id),
            )
            .await?;
        maker
            .user(
                &format!("member{n:02}"),
                Role::Customer,
                Some(member.id),
                None,
                None,
                &password_hash,
            )
            .await?;
        members.push(member);
    }
    // The enterprise bought its year of 100 tickets some 200 days ago, ten for each member.
    let bought_day = scale.days.saturating_sub(200);
    let bought_on = local_time::add_days(&first_day, i64::from(bought_day)).unwrap_or_default();
    let bought_at = local_time::day_start(&bought_on).unwrap_or_default() + 10 * 3_600;
    let enterprise_order = IssueOrder {
        account_id: enterprise.id,
        package_id: packages[3].id,
        quantity: 1,
        allocations: members
            .iter()
            .map(|m| Allocation {
                account_id: m.id,
                units: 10,
            })
            .collect(),
    };
    let allocated =
        issuance::issue_order(store, master, &enterprise_order, None, bought_at).await?;
    maker.summary.books += allocated.books.len();
    let xiangyang = 1 % regions.len();
    for (n, book) in allocated.books.iter().enumerate() {
        let couriers_here = &region_couriers[xiangyang];
        families.push(Customer {
            account_id: book.account_id,
            region: xiangyang,
            package: None,
            weekly: 0.25 + 0.15 * dice.unit(),
            drinker: Drinker::Office,
            from_day: bought_day + 1,
            until_day: scale.days + 1,
            courier: couriers_here[n % couriers_here.len()],
            counter: region_counters[xiangyang][0],
            books: held(std::slice::from_ref(book)),
        });
    }

    progress(format!(
        "plant: {} families, {} devices and their users made in {:.1} s",
        scale.customers,
        devices.len(),
        started.elapsed().as_secs_f64()
    ));
    let story = Story {
        store,
        master,
        packages: &packages,
        first_day,
        days: scale.days,
        earliest: opened,
        now,
    };
    let told = history::tell(&story, &mut families, &mut devices, &mut dice, progress).await?;
    maker.summary.books += told.books;
    maker.summary.events += told.events;

    // The ordering families renewed before their week of orders, on different evenings, if few
    // tickets were left.
    let midnight = local_time::day_start(&today).unwrap_or_default();
    for (n, family) in families.iter_mut().take(ORDERING_FAMILIES).enumerate() {
        let renewed_at = midnight - (9 + n as i64) * 86_400 + 20 * 3_600;
        let left: u16 = family.live_books(now).iter().map(|b| b.left).sum();
        if let (true, Some(package)) = (left < 12, family.package) {
            let order = IssueOrder {
                account_id: family.account_id,
                package_id: packages[package].id,
                quantity: 1,
                allocations: Vec::new(),
            };
            let issued = issuance::issue_order(store, master, &order, None, renewed_at).await?;
            maker.summary.books += issued.books.len();
        }
    }
    // Two offline couriers both delivered the last tickets of one family's monthly book
    // yesterday morning: a conflict for review.
    let yesterday = midnight - 86_400;
    let conflict = families
        .iter_mut()
        .skip(ORDERING_FAMILIES)
        .filter(|f| region_couriers[f.region].len() >= 2)
        .find_map(|f| {
            let region = f.region;
            f.live_books(now)
                .iter()
                .find(|b| b.product == products[0].code && b.valid_until > now + 86_400)
                .map(|b| (region, *b))
        });
    if let Some((region, book)) = conflict {
        for (n, &device) in region_couriers[region].iter().take(2).enumerate() {
            devices[device].record(
                (yesterday + 10 * 3_600 + 420 * n as i64) as u64,
                EventBody::Redemption {
                    book_id: book.id,
                    units: book.left,
                    product: book.product,
                },
                &mut dice,
            );
        }
    }
    maker.summary.events += push_pending(store, &mut devices, now).await?;

    // The enterprise also keeps a shared book of 买十送一 to hand out on its page.
    let pool = IssueOrder {
        account_id: enterprise.id,
        package_id: packages[2].id,
        quantity: 1,
        allocations: Vec::new(),
    };
    maker.summary.books += issuance::issue_order(store, master, &pool, None, now)
        .await?
        .books
        .len();
    customer_side(
        &mut maker,
        master,
        &customers,
        couriers[0].id,
        &password_hash,
    )
    .await?;
    let region_ids: Vec<i64> = regions.iter().map(|r| r.id).collect();
    let past = deliveries(
        store,
        master,
        &customers[..ORDERING_FAMILIES],
        &enterprise_admin,
        &region_ids,
        now,
    )
    .await?;
    let mut served = std::collections::HashSet::new();
    for (idx, order) in past.iter().enumerate() {
        // One past order in six found nobody home.
        let missed = idx % 6 == 5;
        let first = !missed && served.insert(order.account_id);
        if let Some(device) = devices
            .iter_mut()
            .find(|d| Some(d.courier) == order.courier_id)
        {
            device.deliver(order, first, missed, &mut dice);
        }
    }
    maker.summary.events += push_pending(store, &mut devices, now).await?;
    // The first courier's phone has fetched today's list: their orders are 配送中.
    if let Some(device) = devices.first() {
        crate::dispatch::acknowledge(store, device.courier, i64::MAX, now).await?;
    }
    progress(format!(
        "orders, deliveries and the rest: {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    // Points for every bottle delivered with tickets, the past week's included.
    jobs::usage(store, PromotionConfig::default().points_per_unit, now).await?;
    progress(format!(
        "points credited: {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    let accounts: Vec<i64> = families
        .iter()
        .filter(|f| f.package.is_some())
        .map(|f| f.account_id)
        .collect();
    bucket_records(store, &operator, &accounts, now).await?;
    progress(format!(
        "buckets recorded: {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(maker.summary)
}

/// Buckets outstanding (押桶 / 欠桶): each family held some 18.9L buckets before the plant
/// counted them (an opening balance) and paid deposits on some at the counter, so the console's
/// 客户水桶 page and the wallet's 我的水桶 card show buckets owed and deposits held.
async fn bucket_records(
    store: &Store,
    operator: &User,
    accounts: &[i64],
    now: i64,
) -> Result<(), DemoError> {
    for (n, account) in accounts.iter().enumerate() {
        let held = 1 + (n % 3) as i64;
        let paid = (n % 2) as i64 + 1;
        for (kind, buckets, note) in [
            (RecordKind::Opening, held, "系统上线前的存桶"),
            (RecordKind::Deposit, paid, "柜台收押金"),
        ] {
            let input = RecordInput {
                product: ProductCode(189),
                kind,
                buckets,
                method: PayMethod::Cash,
                note: note.into(),
            };
            crate::buckets::record(store, operator, *account, &input, now).await?;
        }
    }
    Ok(())
}

/// An order of `bottles` for the first slot open at `at`, paid from the first book that covers
/// it on that day, else in cash.
async fn order_at(
    store: &Store,
    user: &User,
    address: i64,
    region_id: i64,
    bottles: i64,
    note: &str,
    at: i64,
) -> Result<orders::OrderView, OrderingError> {
    let slot = slots::first_open(store, region_id, at).await?;
    let book = orders::payable_books(store, user, at)
        .await?
        .into_iter()
        .find(|b| b.product == 189 && i64::from(b.orderable) >= bottles);
    let mut input = OrderInput {
        address_id: address,
        product: 189,
        bottles,
        slot_date: slot.date,
        slot: slot.slot,
        note: note.into(),
        payment: "cash".into(),
        book_id: None,
    };
    if let Some(book) = book {
        input.payment = "tickets".into();
        input.book_id = Some(book.book_id);
        match orders::place(store, user, &input, at).await {
            // A book that expires before the day pays nothing: cash then.
            Err(OrderingError::BookNotValid) => {}
            placed => return placed,
        }
        input.payment = "cash".into();
        input.book_id = None;
    }
    orders::place(store, user, &input, at).await
}

/// Addresses for six families and two delivery points of the enterprise; orders over the past
/// week (some cancelled) and for tomorrow; two recurring orders; the past week's orders
/// dispatched day by day (returned, for the couriers to deliver) and today's assigned.
async fn deliveries(
    store: &Store,
    master: &MasterKey,
    customers: &[User],
    enterprise_admin: &User,
    regions: &[i64],
    now: i64,
) -> Result<Vec<DeliveryOrder>, DemoError> {
    // Today's orders were placed early enough for today's slots, so the couriers have a list
    // whatever the hour the demo is filled at.
    let this_morning = now.min(
        crate::local_time::day_start(&crate::local_time::date(now)).unwrap_or_default() + 7 * 3_600,
    );
    let communities = ["光谷花园", "汉江苑", "三峡家园"];
    let notes = ["", "放门口即可", "到了请打电话", "下午三点后在家"];
    for (idx, customer) in customers.iter().take(6).enumerate() {
        let region_id = regions[idx % regions.len()];
        let input = AddressInput {
            region_id,
            label: String::new(),
            community: communities[idx % communities.len()].into(),
            building: format!("{}栋", idx + 1),
            unit: "1单元".into(),
            room: format!("{}0{}", idx + 3, idx + 1),
            contact: customer.spec.username.clone(),
            phone: format!("139000000{:02}", idx + 1),
        };
        let address = addresses::add(store, master, customer, &input, now - 8 * 86_400).await?;
        // One order every other day over the past week; every third one was cancelled.
        for day in (1..=7).rev().step_by(2) {
            let at = now - day * 86_400;
            let bottles = 1 + (idx as i64 + day) % 3;
            let note = notes[(idx + day as usize) % notes.len()];
            let placed = order_at(store, customer, address, region_id, bottles, note, at).await?;
            if (idx as i64 + day) % 3 == 0 {
                orders::cancel(store, customer, placed.id, at + 600).await?;
            }
        }
        order_at(store, customer, address, region_id, 2, "", this_morning).await?;
    }
    let xiangyang = regions[1 % regions.len()];
    let mut points = Vec::new();
    for (label, building) in [("三楼前台", "A座"), ("五楼茶水间", "B座")] {
        let input = AddressInput {
            region_id: xiangyang,
            label: label.into(),
            community: "襄阳高新科技园".into(),
            building: building.into(),
            unit: String::new(),
            room: String::new(),
            contact: "行政部".into(),
            phone: "13900000099".into(),
        };
        points
            .push(addresses::add(store, master, enterprise_admin, &input, now - 8 * 86_400).await?);
    }
    let slot = slots::first_open(store, xiangyang, this_morning).await?;
    let monthly = OrderInput {
        address_id: points[0],
        product: 189,
        bottles: 12,
        slot_date: slot.date,
        slot: slot.slot,
        note: "请送到前台".into(),
        payment: "account".into(),
        book_id: None,
    };
    orders::place(store, enterprise_admin, &monthly, this_morning).await?;

    let tomorrow = crate::local_time::date(now + 86_400);
    let customer_addresses = addresses::list(store, master, &customers[0]).await?;
    let weekly = RecurringInput {
        address_id: customer_addresses[0].id,
        product: 189,
        bottles: 2,
        slot: "morning".into(),
        note: "放门口即可".into(),
        payment: "cash".into(),
        book_id: None,
        every_days: None,
        weekday: crate::local_time::weekday(&tomorrow).map(i64::from),
        start_date: tomorrow.clone(),
    };
    recurring::create(store, &customers[0], &weekly, now).await?;
    let every = RecurringInput {
        address_id: points[1],
        product: 189,
        bottles: 6,
        slot: "afternoon".into(),
        note: String::new(),
        payment: "account".into(),
        book_id: None,
        every_days: Some(3),
        weekday: None,
        start_date: crate::local_time::add_days(&tomorrow, 1).unwrap_or(tomorrow),
    };
    recurring::create(store, enterprise_admin, &every, now).await?;
    let mut past = Vec::new();
    for days_ago in (1..=8).rev() {
        let at = now - days_ago * 86_400;
        let day = crate::local_time::date(at);
        crate::dispatch::auto_assign(store, Actor::DEMO, &day, None, at).await?;
        past.extend(
            store
                .dispatch_day(&day, None)
                .await?
                .into_iter()
                .map(|(order, _)| order)
                .filter(|order| order.state == OrderState::Assigned),
        );
    }
    // Today's orders are out with the couriers; tomorrow's wait for the dispatcher.
    crate::dispatch::auto_assign(store, Actor::DEMO, &crate::local_time::date(now), None, now)
        .await?;
    Ok(past)
}

/// The gift catalogue, feedback, and a customer who signed up with a phone number through a
/// courier's staff code.
async fn customer_side(
    maker: &mut Maker<'_>,
    master: &MasterKey,
    customers: &[User],
    courier: UserId,
    password_hash: &str,
) -> Result<(), DemoError> {
    let (store, now) = (maker.store, maker.now);
    for (name, points, stock) in [
        ("品牌水杯", 60, 50),
        ("18.9L 桶装水一桶", 120, 200),
        ("饮水机滤芯", 300, 20),
    ] {
        let audit = maker.audit("gift.create", name.into());
        store.create_gift(name, points, stock, now, &audit).await?;
    }
    for (customer, kind, rating, message) in [
        (
            &customers[0],
            FeedbackKind::Rating,
            Some(5),
            "师傅准时,还帮忙把水桶装上了",
        ),
        (
            &customers[1],
            FeedbackKind::CannotRedeem,
            None,
            "送水员扫码提示已使用,但我只用了两张",
        ),
    ] {
        let feedback = NewFeedback {
            user_id: customer.id,
            book_id: None,
            kind,
            rating,
            staff_user_id: (kind == FeedbackKind::Rating).then_some(courier),
            message: message.into(),
        };
        store.create_feedback(&feedback, now).await?;
    }
    let phone = Phone::parse(DEMO_PHONE).expect("the demo phone number is valid");
    let customer = NewCustomer {
        name: "刘先生".into(),
        enterprise_id: None,
        username: "phone-demo".into(),
        password_hash: password_hash.into(),
        phone_index: phone.index(master),
        phone_sealed: phone.seal(master),
        referrer: Some(courier),
        browser_hash: None,
    };
    let audit = maker.audit("customer.register", phone.masked());
    let user = store.register_customer(&customer, now, &audit).await?;
    if let Some(account_id) = user.spec.account_id {
        let gift = Gift {
            account_id,
            product: ProductCode(189),
            units: PromotionConfig::default().registration_units,
            validity_days: 90,
            source: "registration",
        };
        issuance::issue_gift(store, master, &gift, None, now).await?;
        maker.summary.books += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scale_too_small_for_the_story_is_refused_in_chinese() {
        assert!(Scale::DEMO.checked().is_ok());
        assert!(Scale::LARGE.checked().is_ok());
        for scale in [
            Scale {
                customers: 5,
                ..Scale::DEMO
            },
            Scale {
                couriers: 2,
                ..Scale::DEMO
            },
            Scale {
                days: MIN_DAYS - 1,
                ..Scale::DEMO
            },
        ] {
            let err = scale.checked().unwrap_err();
            assert_eq!(
                err.to_string(),
                "演示规模至少 6 户客户、3 名配送员、56 天历史"
            );
        }
    }

    #[test]
    fn family_names_stay_distinct_at_the_large_scale() {
        let names: std::collections::BTreeSet<String> = (0..Scale::LARGE.customers as usize)
            .map(family_name)
            .collect();
        assert_eq!(names.len(), Scale::LARGE.customers as usize);
        assert_eq!(family_name(0), "张伟家");
        assert_eq!(family_name(11), "孙斌家");
    }
}
