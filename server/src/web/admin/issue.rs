//! Issuance: one click for an order (package + account + quantity), or bulk for an enterprise
//! (the units split evenly among its members, or one shared book per package), with a preview of
//! exactly what the customer receives before anything is signed. The customer is found by the
//! directory's search (phone, ticket, name, login, address), not picked from a list of everyone.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use crate::catalogue;
use crate::directory::{self, DirectoryError};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::issuance::{self, Allocation, IssueOrder};
use crate::store::Store;
use crate::store::models::{Account, AccountKind, Package};
use crate::web::admin::{Admin, Chrome, done};
use crate::web::{PageError, PageQuery};

/// How an enterprise's order is handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    /// One book per package to the buyer (a family, or an enterprise's shared book).
    Buyer,
    /// The units split evenly among the enterprise's members, one book each.
    Members,
}

/// The issue form as typed (every field text, so bad input gets a message, not a rejection).
#[derive(Debug, Default, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    package: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    split: String,
    /// The customer search, while no account is chosen.
    #[serde(default)]
    q: String,
}

/// One book of the preview.
struct PlannedBook {
    holder: String,
    units: u32,
}

/// What an order gives the customer.
struct Plan {
    order: IssueOrder,
    books: Vec<PlannedBook>,
    units: u32,
    price: String,
    validity_days: u32,
}

/// `total` units split among `n` members as evenly as possible (the first ones get one more).
fn split_evenly(total: u32, n: u32) -> Vec<u32> {
    let n = n.max(1);
    (0..n)
        .map(|i| total / n + u32::from(i < total % n))
        .collect()
}

fn yuan(fen: i64) -> String {
    format!("¥{}.{:02}", fen / 100, fen % 100)
}

/// Checks the form against the catalogue and plans the books; a zh-CN message when it is wrong.
/// The size of the order is [`issuance::order_size`]'s rule, the same as the API's.
fn plan(form: &IssueForm, accounts: &[Account], packages: &[Package]) -> Result<Plan, String> {
    let account_id: i64 = form.account.trim().parse().map_err(|_| "请选择客户账户")?;
    let buyer = accounts
        .iter()
        .find(|a| a.id == account_id)
        .ok_or("客户账户不存在")?;
    let package_id: i64 = form.package.trim().parse().map_err(|_| "请选择套餐")?;
    let package = packages
        .iter()
        .find(|p| p.id == package_id)
        .ok_or("套餐不存在")?;
    if package.retired_at.is_some() {
        return Err(catalogue::RETIRED.into());
    }
    let quantity: u32 = form.quantity.trim().parse().map_err(|_| "数量应为正整数")?;
    let size = issuance::order_size(&package.spec, quantity).map_err(|err| err.to_string())?;
    let units = size.total_units;
    let split = match form.split.as_str() {
        "members" => Split::Members,
        _ => Split::Buyer,
    };
    let (books, allocations) = match split {
        Split::Buyer => (
            (0..quantity)
                .map(|_| PlannedBook {
                    holder: buyer.spec.name.clone(),
                    units: u32::from(size.units_per_package),
                })
                .collect(),
            Vec::new(),
        ),
        Split::Members => {
            if buyer.spec.kind != AccountKind::Enterprise {
                return Err("只有企业账户可以分给成员".into());
            }
            let members: Vec<&Account> = accounts
                .iter()
                .filter(|a| a.spec.enterprise_id == Some(buyer.id))
                .collect();
            if members.is_empty() {
                return Err("该企业还没有成员账户".into());
            }
            issuance::check_book_count(members.len()).map_err(|err| err.to_string())?;
            let count = u32::try_from(members.len()).expect("at most MAX_ORDER_BOOKS members");
            let shares = split_evenly(units, count);
            if shares.iter().any(|&n| n == 0 || n > u32::from(u16::MAX)) {
                return Err("张数少于成员人数,无法平均分配".into());
            }
            let books = members
                .iter()
                .zip(&shares)
                .map(|(m, &n)| PlannedBook {
                    holder: m.spec.name.clone(),
                    units: n,
                })
                .collect();
            let allocations = members
                .iter()
                .zip(&shares)
                .map(|(m, &n)| Allocation {
                    account_id: m.id,
                    units: n as u16,
                })
                .collect();
            (books, allocations)
        }
    };
    Ok(Plan {
        order: IssueOrder {
            account_id,
            package_id,
            quantity,
            allocations,
        },
        books,
        units,
        price: yuan(size.total_fen),
        validity_days: package.spec.validity_days,
    })
}

struct Choice {
    id: i64,
    label: String,
}

#[derive(Template)]
#[template(path = "admin/issue.html")]
struct IssuePage {
    chrome: Chrome,
    /// The account chosen, if the form names one that may buy.
    chosen: Option<Choice>,
    /// Accounts the search found, to choose from.
    found: Vec<Choice>,
    packages: Vec<Choice>,
    form: IssueForm,
    plan: Option<Plan>,
    error: Option<String>,
}

async fn catalogue(store: &Store) -> Result<(Vec<Account>, Vec<Package>), PageError> {
    Ok((store.accounts().await?, store.packages().await?))
}

/// An account as the form names it; members are issued through their enterprise.
fn choice(account: &Account) -> Option<Choice> {
    account.spec.enterprise_id.is_none().then(|| Choice {
        id: account.id,
        label: match account.spec.kind {
            AccountKind::Enterprise => format!("{}(企业)", account.spec.name),
            AccountKind::Customer => account.spec.name.clone(),
        },
    })
}

/// The packages on sale.
fn package_choices(packages: &[Package]) -> Vec<Choice> {
    packages
        .iter()
        .filter(|p| p.retired_at.is_none())
        .map(|p| Choice {
            id: p.id,
            label: format!("{} · {}", p.spec.name, yuan(p.spec.price_fen)),
        })
        .collect()
}

/// `GET /admin/issue`: the form, and the preview once an account and a package are chosen.
pub async fn form(
    State(state): State<AppState>,
    admin: Admin,
    PageQuery(mut form): PageQuery<IssueForm>,
) -> Result<Response, PageError> {
    let (accounts, packages) = catalogue(&state.store).await?;
    if form.quantity.is_empty() {
        form.quantity = "1".into();
    }
    let chosen = !form.account.is_empty() && !form.package.is_empty();
    let (plan, mut error) = match chosen.then(|| plan(&form, &accounts, &packages)) {
        Some(Ok(plan)) => (Some(plan), None),
        Some(Err(message)) => (None, Some(message)),
        None => (None, None),
    };
    let chosen = form
        .account
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| accounts.iter().find(|a| a.id == id))
        .and_then(choice);
    let mut found = Vec::new();
    if chosen.is_none() && !form.q.trim().is_empty() {
        match directory::find(&state.store, &state.master, &form.q, None, 0).await {
            Ok(directory) => {
                found = directory
                    .customers
                    .iter()
                    .filter_map(|row| accounts.iter().find(|a| a.id == row.id))
                    .filter_map(choice)
                    .collect();
            }
            Err(DirectoryError::Invalid(message)) => {
                error.get_or_insert_with(|| message.to_string());
            }
            Err(DirectoryError::Store(err)) => return Err(err.into()),
        }
    }
    Ok(admin.send(&IssuePage {
        chrome: admin.chrome("/admin/issue", None),
        chosen,
        found,
        packages: package_choices(&packages),
        form,
        plan,
        error,
    }))
}

/// `POST /admin/issue`: signs and records the books, then shows the first one.
pub async fn submit(
    State(state): State<AppState>,
    admin: Admin,
    Form(form): Form<IssueForm>,
) -> Result<Response, PageError> {
    admin.check_form(&form.csrf)?;
    let (accounts, packages) = catalogue(&state.store).await?;
    let plan = plan(&form, &accounts, &packages).map_err(ApiError::bad_request)?;
    let issued = issuance::issue_order(
        &state.store,
        &state.master,
        &plan.order,
        Some(admin.user.id),
        crate::unix_now(),
    )
    .await
    .map_err(ApiError::from)?;
    let first = issued.books.first().map_or(0, |b| b.id.0);
    Ok(done(&format!("/admin/books/{first}"), "issued"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::{NewAccount, NewPackage};
    use shuipiao_shared::ids::{ProductCode, ScopeId};

    fn account(id: i64, kind: AccountKind, enterprise_id: Option<i64>) -> Account {
        Account {
            id,
            spec: NewAccount {
                kind,
                name: format!("账户{id}"),
                enterprise_id,
            },
        }
    }

    fn fixture() -> (Vec<Account>, Vec<Package>) {
        let accounts = vec![
            account(1, AccountKind::Customer, None),
            account(2, AccountKind::Enterprise, None),
            account(3, AccountKind::Customer, Some(2)),
            account(4, AccountKind::Customer, Some(2)),
            account(5, AccountKind::Customer, Some(2)),
        ];
        let packages = vec![Package {
            retired_at: None,
            id: 9,
            spec: NewPackage {
                name: "买十送一".into(),
                price_fen: 15_000,
                paid_units: 10,
                bonus_units: 1,
                validity_days: 365,
                product: ProductCode(189),
                scope: ScopeId::ANYWHERE,
                holder_bound: false,
            },
        }];
        (accounts, packages)
    }

    fn form(account: &str, quantity: &str, split: &str) -> IssueForm {
        IssueForm {
            account: account.into(),
            package: "9".into(),
            quantity: quantity.into(),
            split: split.into(),
            ..IssueForm::default()
        }
    }

    #[test]
    fn even_split_gives_the_remainder_to_the_first() {
        assert_eq!(split_evenly(11, 3), vec![4, 4, 3]);
        assert_eq!(split_evenly(100, 100), vec![1; 100]);
    }

    #[test]
    fn a_family_order_is_one_book_per_package() {
        let (accounts, packages) = fixture();
        let plan = plan(&form("1", "2", ""), &accounts, &packages).unwrap();
        assert_eq!(plan.books.len(), 2);
        assert_eq!(plan.units, 22);
        assert_eq!(plan.price, "¥300.00");
        assert!(plan.order.allocations.is_empty());
    }

    #[test]
    fn an_enterprise_order_can_go_to_its_members() {
        let (accounts, packages) = fixture();
        let plan = plan(&form("2", "1", "members"), &accounts, &packages).unwrap();
        let units: Vec<u16> = plan.order.allocations.iter().map(|a| a.units).collect();
        assert_eq!(units, vec![4, 4, 3]);
        assert_eq!(plan.books[2].holder, "账户5");
    }

    #[test]
    fn bad_orders_say_why() {
        let (accounts, packages) = fixture();
        let check = |f: IssueForm| plan(&f, &accounts, &packages).err();
        let said = |text: &str| Some(text.to_string());
        assert_eq!(check(form("", "1", "")), said("请选择客户账户"));
        assert_eq!(check(form("1", "0", "")), said("数量应在 1 到 1000 之间"));
        assert_eq!(
            check(form("1", "4294967295", "")),
            said("数量应在 1 到 1000 之间")
        );
        assert_eq!(check(form("1", "x", "")), said("数量应为正整数"));
        assert_eq!(
            check(form("1", "1", "members")),
            said("只有企业账户可以分给成员")
        );
        assert_eq!(check(form("77", "1", "")), said("客户账户不存在"));
    }
}
