//! A water plant set up through the admin API, the way an operator would: two products, two
//! regions with a scope each, packages, customers who sign in to their wallet, couriers with
//! one-time enrollment codes, and the operator's actions (issue, revoke, reissue, keys, review).

use serde_json::json;
use shuipiao_server::auth::password;
use shuipiao_server::pii::Phone;
use shuipiao_server::store::Store;
use shuipiao_server::store::models::{AuditEntry, Book, NewCustomer, ReviewItem};
use shuipiao_shared::ids::{BookId, EventId, ProductCode, ScopeId};
use shuipiao_shared::ledger::ResolutionAction;

use crate::api::Api;
use crate::server::{ADMIN, PASSWORD};

/// The product couriers deliver in every scenario: an 18.9 L bucket.
pub const BUCKET: ProductCode = ProductCode(189);
/// Another product (for 产品不符).
pub const SMALL_BOTTLE: ProductCode = ProductCode(5);

/// The plant's catalogue and its admin session.
#[derive(Debug, Clone)]
pub struct Plant {
    /// The admin, signed in.
    pub admin: Api,
    /// Region the couriers serve (武汉).
    pub home_region: i64,
    /// Scope of the home region.
    pub home_scope: ScopeId,
    /// A scope no courier here serves (宜昌).
    pub far_scope: ScopeId,
}

/// A customer account with its wallet session.
#[derive(Debug, Clone)]
pub struct Customer {
    /// Account id.
    pub account_id: i64,
    /// Signed in as the customer.
    pub wallet: Api,
}

impl Plant {
    /// Signs in as the admin of the server at `base` and creates the catalogue.
    pub async fn setup(base: &str) -> Plant {
        let admin = Api::login(base, ADMIN, PASSWORD).await;
        for (code, name, volume_ml) in [
            (BUCKET.0, "18.9L 桶装水", 18_900),
            (SMALL_BOTTLE.0, "550ml 瓶装水", 550),
        ] {
            admin
                .post(
                    "/api/v1/products",
                    &json!({ "code": code, "name": name, "volume_ml": volume_ml }),
                )
                .await;
        }
        let mut scopes = Vec::new();
        let mut home_region = 0;
        for (region, outlet, scope) in [
            ("武汉", "光谷门店", "武汉市"),
            ("宜昌", "夷陵门店", "宜昌市"),
        ] {
            let region = admin
                .post("/api/v1/regions", &json!({ "name": region }))
                .await;
            let region_id = region["id"].as_i64().expect("region id");
            if home_region == 0 {
                home_region = region_id;
            }
            let outlet = admin
                .post(
                    "/api/v1/outlets",
                    &json!({ "region_id": region_id, "name": outlet }),
                )
                .await;
            let scope = admin
                .post(
                    "/api/v1/scopes",
                    &json!({ "name": scope, "region_ids": [region_id], "outlet_ids": [outlet["id"]] }),
                )
                .await;
            scopes.push(ScopeId(
                u32::try_from(scope["id"].as_u64().expect("scope id")).expect("scope id fits"),
            ));
        }
        Plant {
            admin,
            home_region,
            home_scope: scopes[0],
            far_scope: scopes[1],
        }
    }

    /// A package of `units` tickets of `product`, valid `validity_days`, redeemable in `scope`.
    pub async fn package(
        &self,
        name: &str,
        units: u32,
        product: ProductCode,
        scope: ScopeId,
        validity_days: u32,
    ) -> i64 {
        let package = self
            .admin
            .post(
                "/api/v1/packages",
                &json!({
                    "name": name,
                    "price_fen": 500 * i64::from(units),
                    "paid_units": units,
                    "bonus_units": 0,
                    "validity_days": validity_days,
                    "product": product.0,
                    "scope": scope.0,
                }),
            )
            .await;
        package["id"].as_i64().expect("package id")
    }

    /// A customer `username` holding one 10-unit 家庭月套餐 book of 18.9 L buckets, redeemable
    /// anywhere for 31 days: the book and the QR text the wallet shows for it.
    pub async fn family_book(&self, username: &str) -> (BookId, String) {
        let customer = self.customer(username).await;
        self.family_book_for(&customer).await
    }

    /// A customer who registered with mobile `phone` (as the wallet's sign-up does, so messages
    /// reach them), signed in to the wallet as `username`.
    pub async fn phone_customer(&self, store: &Store, username: &str, phone: &str) -> Customer {
        let phone = Phone::parse(phone).expect("a mainland mobile number");
        let master = crate::server::master_key();
        let customer = NewCustomer {
            name: username.into(),
            enterprise_id: None,
            username: username.into(),
            password_hash: password::hash(PASSWORD.into())
                .await
                .expect("hash the password"),
            phone_index: phone.index(&master),
            phone_sealed: phone.seal(&master),
            referrer: None,
            browser_hash: None,
        };
        let audit = AuditEntry::new(None, "customer.register", "test", json!({}));
        let user = store
            .register_customer(&customer, shuipiao_server::unix_now(), &audit)
            .await
            .expect("register the customer");
        let wallet = Api::login(&self.admin.base, username, PASSWORD).await;
        Customer {
            account_id: user.spec.account_id.expect("a customer has an account"),
            wallet,
        }
    }

    /// A 10-unit 家庭月套餐 book for `customer` and the QR text the wallet shows for it.
    pub async fn family_book_for(&self, customer: &Customer) -> (BookId, String) {
        let package = self
            .package("家庭月套餐", 10, BUCKET, ScopeId::ANYWHERE, 31)
            .await;
        let book = self.issue(customer, package, 1).await[0];
        (book, customer.qr_text(book).await)
    }

    /// A customer account with a wallet login `username`.
    pub async fn customer(&self, username: &str) -> Customer {
        let account = self
            .admin
            .post(
                "/api/v1/accounts",
                &json!({ "kind": "customer", "name": username }),
            )
            .await;
        let account_id = account["id"].as_i64().expect("account id");
        self.admin
            .post(
                "/api/v1/users",
                &json!({ "username": username, "password": PASSWORD, "role": "customer", "account_id": account_id }),
            )
            .await;
        let wallet = Api::login(&self.admin.base, username, PASSWORD).await;
        Customer { account_id, wallet }
    }

    /// Issues `quantity` packages to `customer`; returns the new books' ids.
    pub async fn issue(&self, customer: &Customer, package_id: i64, quantity: u32) -> Vec<BookId> {
        let order = self
            .admin
            .post(
                "/api/v1/orders",
                &json!({ "account_id": customer.account_id, "package_id": package_id, "quantity": quantity }),
            )
            .await;
        order["books"]
            .as_array()
            .expect("issued books")
            .iter()
            .map(|book| BookId(book["id"].as_u64().expect("book id")))
            .collect()
    }

    /// An address of `customer`'s in the home region, added in the wallet; the new address.
    pub async fn home_address(&self, customer: &Customer) -> serde_json::Value {
        customer
            .wallet
            .post(
                "/api/v1/addresses",
                &json!({"region_id": self.home_region, "community": "幸福小区", "building": "3栋",
                    "unit": "2单元", "room": "501", "contact": "王芳", "phone": "13800138000"}),
            )
            .await
    }

    /// A courier serving the home region, and a one-time enrollment code for their phone.
    pub async fn courier_code(&self, username: &str) -> String {
        let user = self
            .admin
            .post(
                "/api/v1/users",
                &json!({ "username": username, "password": PASSWORD, "role": "courier", "region_id": self.home_region }),
            )
            .await;
        self.enrollment_code(user["id"].as_u64().expect("user id"))
            .await
    }

    /// A fresh one-time enrollment code for an existing courier.
    pub async fn enrollment_code(&self, user_id: u64) -> String {
        let code = self
            .admin
            .post(
                "/api/v1/devices/enrollment-codes",
                &json!({ "user_id": user_id }),
            )
            .await;
        code["code"].as_str().expect("enrollment code").to_owned()
    }

    /// One book as the admin sees it.
    pub async fn book(&self, id: BookId) -> Book {
        self.admin.get_as(&format!("/api/v1/books/{id}")).await
    }

    /// Revokes a book (用户挂失).
    pub async fn revoke(&self, id: BookId) -> Book {
        let json = self
            .admin
            .post(
                &format!("/api/v1/books/{id}/revoke"),
                &json!({ "reason": "用户挂失" }),
            )
            .await;
        serde_json::from_value(json).expect("revoked book")
    }

    /// The active issuer key's kid (hex).
    pub async fn active_issuer(&self) -> String {
        let keys = self.admin.get("/api/v1/keys").await;
        keys.as_array()
            .expect("key list")
            .iter()
            .rev()
            .find(|k| k["purpose"] == "issuer" && k["status"] == "active")
            .and_then(|k| k["kid"].as_str())
            .expect("an active issuer key")
            .to_owned()
    }

    /// Makes a new issuer key; returns its kid (hex).
    pub async fn rotate_key(&self) -> String {
        let key = self.admin.post("/api/v1/keys/rotate", &json!({})).await;
        key["kid"].as_str().expect("kid").to_owned()
    }

    /// Marks issuer key `kid` compromised from `since` (unix seconds; now when `None`) and
    /// reissues its live books; returns the new books' ids.
    pub async fn compromise_key(&self, kid: &str, since: Option<u64>) -> Vec<BookId> {
        let result = self
            .admin
            .post(
                &format!("/api/v1/keys/{kid}/compromise"),
                &json!({ "since": since, "reissue": true }),
            )
            .await;
        result["reissued_books"]
            .as_array()
            .expect("reissued books")
            .iter()
            .map(|id| BookId(id.as_u64().expect("book id")))
            .collect()
    }

    /// The review queue (`all`: resolved items too).
    pub async fn review(&self, all: bool) -> Vec<ReviewItem> {
        self.admin
            .get_as(&format!("/api/v1/review?all={all}"))
            .await
    }

    /// Resolves a flagged redemption as an operator.
    pub async fn resolve(&self, event: EventId, action: ResolutionAction, note: &str) {
        self.admin
            .post(
                &format!("/api/v1/review/{}/resolve", event.0),
                &json!({ "action": action, "note": note }),
            )
            .await;
    }
}

impl Customer {
    /// The QR text of one of the customer's books, as the 我的水票 wallet shows it.
    pub async fn qr_text(&self, book: BookId) -> String {
        let books: Vec<Book> = self.wallet.get_as("/api/v1/books/mine").await;
        books
            .iter()
            .find(|b| b.issued.id == book)
            .unwrap_or_else(|| panic!("book {book} is not in the customer's wallet"))
            .issued
            .qr_text
            .clone()
    }
}
