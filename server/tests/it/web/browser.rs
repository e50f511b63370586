//! The wallet in a real headless Chromium at phone width (driven through ChromeDriver): sign in,
//! search, open a book, and check that the QR on the screen decodes to the book's signed
//! credential. Screenshots are saved under `target/screenshots/wallet/` for people to look at.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use shuipiao_server::store::models::KeyPurpose;
use shuipiao_shared::credential::SignedCredential;

use super::wallet_fixture;
use crate::support;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// ChromeDriver on a free loopback port; killed on drop.
pub(super) struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts ChromeDriver, or returns `None` (with a note) where Chromium is not installed. CI
/// installs it (scripts/install-deps.sh), so there a missing browser fails the test.
pub(super) async fn driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{CHROMEDRIVER} or {CHROMIUM} missing under CI: run scripts/install-deps.sh"
        );
        eprintln!("chromium / chromedriver not installed: browser test skipped");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Some(driver);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not listen on port {port}");
}

pub(super) async fn browser(driver: &Driver, profile: &std::path::Path) -> Client {
    session(driver, profile, None).await
}

/// A browser whose page is exactly 390 px wide, through ChromeDriver's mobile emulation:
/// headless Chromium never makes its window narrower than 500 px, whatever `--window-size` asks.
pub(super) async fn phone(driver: &Driver, profile: &std::path::Path) -> Client {
    let metrics = json!({ "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 2 } });
    session(driver, profile, Some(metrics)).await
}

async fn session(
    driver: &Driver,
    profile: &std::path::Path,
    mobile_emulation: Option<serde_json::Value>,
) -> Client {
    let mut options = json!({
        "binary": CHROMIUM,
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--hide-scrollbars",
            "--window-size=390,844", "--force-device-scale-factor=2",
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if let Some(emulation) = mobile_emulation {
        options["mobileEmulation"] = emulation;
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/wallet");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

/// Saves a full-page screenshot and returns the PNG.
pub(super) async fn snap(client: &Client, name: &str) -> Vec<u8> {
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), &png).expect("save screenshot");
    png
}

/// The texts of every QR code in a PNG.
pub(super) fn decode_qr(png: &[u8]) -> Vec<String> {
    let image = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

/// Holds back the next submission of the form `css` finds for `delay`, as a loaded machine
/// may: the page before the click stays until then, so a wait that it already satisfies fails
/// every time instead of now and then.
pub(super) async fn submit_late(client: &Client, css: &str, delay: Duration) {
    client
        .execute(
            "const form = document.querySelector(arguments[0]);
             form.addEventListener('submit', (event) => {
               event.preventDefault();
               setTimeout(() => form.submit(), arguments[1]);
             }, { once: true });",
            vec![json!(css), json!(delay.as_millis())],
        )
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"));
}

/// Types into the element `css` finds.
pub(super) async fn type_into(client: &Client, css: &str, text: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"));
    element.send_keys(text).await.unwrap();
}

/// Clicks the element `css` finds.
pub(super) async fn click(client: &Client, css: &str) {
    let element = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("{css}: {err}"));
    element.click().await.unwrap();
}

pub(super) async fn sign_in(client: &Client, base: &str, username: &str) {
    sign_in_to(client, base, "/wallet", username, support::PASSWORD).await;
}

/// Opens `page`, signs in on the login page it sends an anonymous visitor to, and waits to be
/// back on `page`.
pub(super) async fn sign_in_to(
    client: &Client,
    base: &str,
    page: &str,
    username: &str,
    password: &str,
) {
    client.goto(&format!("{base}{page}")).await.unwrap();
    assert!(
        client.current_url().await.unwrap().path() == "/login",
        "an anonymous visit lands on the login page"
    );
    type_into(client, "input[name=username]", username).await;
    type_into(client, "input[name=password]", password).await;
    click(client, "button[type=submit].primary").await;
    client
        .wait()
        .for_url(&format!("{base}{page}").parse().unwrap())
        .await
        .unwrap_or_else(|err| panic!("signed in, on {page}: {err}"));
}

#[tokio::test]
async fn a_customer_finds_a_book_and_its_qr_scans_back_to_the_credential() {
    let Some(driver) = driver().await else {
        return;
    };
    let db = support::TestDb::sqlite();
    let server = support::start(&db).await;
    let fixture = wallet_fixture(&server).await;
    let base = format!("http://{}", server.addr);
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;

    client
        .goto(&format!("{base}/wallet/register?code=SP000001"))
        .await
        .unwrap();
    snap(&client, "00-register").await;
    sign_in(&client, &base, "zhang").await;
    let summary = client.find(Locator::Css(".summary")).await.unwrap();
    assert!(summary.text().await.unwrap().contains("12"));
    snap(&client, "01-list").await;

    // Search by the book number through the filter form, on a browser slow to leave the list.
    // The result page is the one whose search field the server filled in: typing sets only the
    // field's value, never its `value` attribute, so the list of every book never matches.
    let wanted = &fixture.zhang[1];
    click(&client, ".filters summary").await;
    type_into(&client, "input[name=q]", &wanted.id.0.to_string()).await;
    submit_late(&client, ".filter-form", Duration::from_secs(1)).await;
    click(&client, ".filter-form button[type=submit]").await;
    client
        .wait()
        .for_element(Locator::Css(&format!(
            "input[name=q][value='{}']",
            wanted.id.0
        )))
        .await
        .expect("the result page of the search");
    let found = client
        .find_all(Locator::Css("ul.books a.book"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "the search finds exactly the book");
    snap(&client, "02-search").await;
    found[0].click().await.unwrap();
    client
        .wait()
        .for_element(Locator::Css(".qr svg"))
        .await
        .expect("the detail page shows a QR code");
    let png = snap(&client, "03-detail").await;

    let texts = decode_qr(&png);
    assert_eq!(
        texts,
        vec![wanted.qr_text.clone()],
        "the screen's QR is the book's credential"
    );
    let credential = SignedCredential::from_qr_text(&texts[0]).expect("a well-formed credential");
    assert_eq!(credential.credential.book_id, wanted.id);
    let issuer = server
        .store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.purpose == KeyPurpose::Issuer && k.kid == credential.credential.kid.0)
        .expect("signed by one of our issuer keys");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&issuer.public_key).unwrap();
    credential.verify(&key).expect("the signature verifies");

    client
        .goto(&format!("{base}/wallet/books/{}/print", wanted.id.0))
        .await
        .unwrap();
    let printed = snap(&client, "04-print").await;
    assert_eq!(decode_qr(&printed), vec![wanted.qr_text.clone()]);
    for (path, name) in [
        ("/wallet/points", "06-points"),
        ("/wallet/feedback", "07-feedback"),
    ] {
        client.goto(&format!("{base}{path}")).await.unwrap();
        snap(&client, name).await;
    }

    client.close().await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, profile.path()).await;
    sign_in(&client, &base, "hjadmin").await;
    let rows = client
        .find_all(Locator::Css("ul.books a.book"))
        .await
        .unwrap();
    assert!(
        rows.is_empty(),
        "the enterprise's wallet holds its own books only"
    );
    snap(&client, "05-enterprise-wallet").await;
    client
        .goto(&format!("{base}/wallet/enterprise"))
        .await
        .unwrap();
    let allocated = client
        .find_all(Locator::Css(".member .usage li"))
        .await
        .unwrap();
    assert_eq!(
        allocated.len(),
        fixture.members.len(),
        "the enterprise sees what it handed to its members"
    );
    snap(&client, "08-enterprise").await;
    client.close().await.unwrap();
}
