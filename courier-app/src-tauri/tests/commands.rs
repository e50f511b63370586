//! The commands through Tauri's mock runtime: the same IPC path the window uses, without a
//! window. Practice tickets (练习模式) stand in for a server.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use shuipiao_courier_app::{Launch, setup, start};
use tauri::test::{INVOKE_KEY, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{App, Listener, WebviewWindow, WebviewWindowBuilder};

struct Harness {
    dir: tempfile::TempDir,
    app: App<tauri::test::MockRuntime>,
    window: WebviewWindow<tauri::test::MockRuntime>,
}

impl Harness {
    fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let launch = Launch {
            data_dir: Some(dir.path().join("app")),
            camera: Some(format!(
                "ticket:{}",
                dir.path().join("ticket.txt").display()
            )),
        };
        let app = setup(mock_builder(), launch.clone())
            .build(mock_context(noop_assets()))
            .expect("mock app");
        start(app.handle(), launch).expect("start");
        let window = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("mock window");
        Harness { dir, app, window }
    }

    /// The file the synthetic camera shows.
    fn camera(&self) -> PathBuf {
        self.dir.path().join("ticket.txt")
    }

    /// Every payload of `event` from now on.
    fn events(&self, event: &str) -> mpsc::Receiver<Value> {
        let (tx, rx) = mpsc::channel();
        self.app.listen_any(event, move |event| {
            let _ = tx.send(serde_json::from_str(event.payload()).expect("json payload"));
        });
        rx
    }

    fn call(&self, cmd: &str, body: Value) -> Result<Value, Value> {
        get_ipc_response(
            &self.window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: tauri::ipc::InvokeBody::Json(body),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_owned(),
            },
        )
        .map(|response| response.deserialize::<Value>().expect("json response"))
    }

    fn ok<T: DeserializeOwned>(&self, cmd: &str, body: Value) -> T {
        let value = self
            .call(cmd, body)
            .unwrap_or_else(|error| panic!("{cmd} failed: {error}"));
        serde_json::from_value(value).expect("response shape")
    }

    fn error_code(&self, cmd: &str, body: Value) -> String {
        let error = self.call(cmd, body).expect_err(cmd);
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{cmd}: every error carries a message: {error}"
        );
        error["code"].as_str().expect("error code").to_owned()
    }
}

#[test]
fn a_fresh_device_asks_for_enrollment() {
    let app = Harness::new();
    let overview: Value = app.ok("overview", json!({}));
    assert_eq!(overview["profile"], Value::Null);
    assert_eq!(overview["training"], false);
    assert_eq!(overview["status"]["last_sync_text"], "从未同步");
    assert_eq!(overview["status"]["online"], false);
    assert_eq!(overview["settings"]["last_product"], 189);
    assert_eq!(app.error_code("assist_qr", json!({})), "not_enrolled");
    assert_eq!(app.error_code("sync_now", json!({})), "not_enrolled");
    let keys: Vec<Value> = ["S", "P", "1", "A", "Enter"]
        .iter()
        .enumerate()
        .map(|(i, key)| json!({ "key": key, "at_ms": 1000 + i }))
        .collect();
    assert_eq!(
        app.error_code("counter_keys", json!({ "keys": keys })),
        "not_enrolled"
    );
    assert_eq!(
        app.error_code("practice_scan", json!({ "index": 0 })),
        "not_training"
    );
}

#[test]
fn the_enrollment_camera_skips_other_codes_and_hands_over_the_enrollment_qr() {
    let app = Harness::new();
    let camera_events = app.events("camera");
    let read = app.events("enroll_qr");
    std::fs::write(app.camera(), "https://example.com/").expect("show a web link");
    let () = app.ok("scan_enrollment_qr", json!({}));
    let wait = Duration::from_secs(60);
    let refused = loop {
        let event = camera_events.recv_timeout(wait).expect("a camera event");
        if event["kind"] == "not_enrollment" {
            break event;
        }
    };
    assert!(
        refused["message"]
            .as_str()
            .is_some_and(|m| m.contains("不是设备注册二维码")),
        "{refused}"
    );
    assert!(read.try_recv().is_err(), "nothing filled in");

    std::fs::write(
        app.camera(),
        "SPENROLL:1:K7Q2X3ABCDEFGHIJ:https://shuipiao.example.com/",
    )
    .expect("show the enrollment QR");
    let qr = read.recv_timeout(wait).expect("the enrollment QR");
    assert_eq!(
        qr,
        json!({ "server_url": "https://shuipiao.example.com", "code": "K7Q2X3ABCDEFGHIJ" })
    );
    let () = app.ok("stop_camera", json!({}));
}

#[test]
fn enrolling_against_an_unreachable_server_says_so() {
    let app = Harness::new();
    let code = app.error_code(
        "enroll",
        json!({ "serverUrl": "http://127.0.0.1:9", "code": "ABCD", "name": "测试机" }),
    );
    assert_eq!(code, "sync_network");
    let overview: Value = app.ok("overview", json!({}));
    assert_eq!(overview["profile"], Value::Null, "nothing kept");
}

#[test]
fn training_mode_scans_undoes_and_lists_like_the_real_thing() {
    let app = Harness::new();
    let cards: Vec<Value> = app.ok("set_training", json!({ "on": true }));
    assert!(cards.len() >= 10, "{cards:?}");
    assert!(
        cards
            .iter()
            .all(|c| c["svg"].as_str().is_some_and(|s| s.starts_with("<svg")))
    );
    let status: Value = app.ok("status", json!({}));
    assert_eq!(status["training"], true);

    let verdict: Value = app.ok("practice_scan", json!({ "index": 0 }));
    assert_eq!(verdict["outcome"]["kind"], "accepted");
    assert_eq!(verdict["outcome"]["title"], "可以送水");
    assert_eq!(verdict["training"], true);

    let history: Vec<Value> = app.ok("history", json!({}));
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["undoable"], true);
    let today: Vec<Value> = app.ok("today", json!({}));
    assert_eq!(today.len(), 1, "today's list shows the redemption");

    let event_id = verdict["outcome"]["event_id"].clone();
    let undone: Value = app.ok("undo", json!({ "eventId": event_id }));
    assert_eq!(undone["units"], 1);
    assert_eq!(
        app.error_code("undo", json!({ "eventId": event_id })),
        "undo_already_voided"
    );
    let history: Vec<Value> = app.ok("history", json!({}));
    assert_eq!(history[1]["voided"], true, "{history:?}");
    assert_eq!(history[1]["undoable"], false);
}

#[test]
fn practice_cards_put_the_training_database_into_their_sync_state() {
    let app = Harness::new();
    let cards: Vec<Value> = app.ok("set_training", json!({ "on": true }));
    let index = |expect: &str| {
        cards
            .iter()
            .position(|c| c["ticket"]["expect"] == expect)
            .unwrap_or_else(|| panic!("a practice card for {expect}"))
    };
    for (expect, reason) in [
        ("数据过旧", "stale_data"),
        ("离线额度已用完", "offline_budget_exceeded"),
    ] {
        let verdict: Value = app.ok("practice_scan", json!({ "index": index(expect) }));
        assert_eq!(verdict["outcome"]["reason"], reason);
        assert_eq!(verdict["outcome"]["title"], expect);
        assert_eq!(verdict["training"], true);
        let status: Value = app.ok("status", json!({}));
        assert_eq!(status["stale"], true, "{status}");
        assert!(
            status["last_sync_text"]
                .as_str()
                .is_some_and(|t| t.starts_with("练习：模拟")),
            "{status}"
        );
    }
    let _: Value = app.ok("practice_scan", json!({ "index": 0 }));
    let status: Value = app.ok("status", json!({}));
    assert_eq!(
        status["stale"], false,
        "a plain practice ticket is fresh again"
    );
    assert_eq!(
        app.error_code("practice_scan", json!({ "index": cards.len() })),
        "no_practice_ticket"
    );
}

#[test]
fn counter_keys_go_through_the_wedge_parser() {
    let app = Harness::new();
    let cards: Vec<Value> = app.ok("set_training", json!({ "on": true }));
    let used = cards
        .iter()
        .find(|c| c["ticket"]["expect"] == "已使用")
        .expect("a used-up practice ticket");
    let text = used["ticket"]["text"].as_str().expect("text");
    // A scanner types fast and ends with Enter; Shift presses carry no character.
    let mut keys: Vec<Value> = vec![json!({ "key": "Shift", "at_ms": 1000 })];
    keys.extend(
        text.chars()
            .enumerate()
            .map(|(i, c)| json!({ "key": c.to_string(), "at_ms": 1000 + i as u64 })),
    );
    let half = keys.len() / 2;
    let first: Vec<Value> = app.ok("counter_keys", json!({ "keys": keys[..half] }));
    assert!(first.is_empty(), "no Enter yet");
    let mut rest = keys[half..].to_vec();
    let end = 1000 + text.len() as u64;
    rest.push(json!({ "key": "Enter", "at_ms": end }));
    let verdicts: Vec<Value> = app.ok("counter_keys", json!({ "keys": rest }));
    assert_eq!(verdicts.len(), 1);
    assert_eq!(verdicts[0]["outcome"]["kind"], "already_used");
}

#[test]
fn settings_choice_pin_and_logout() {
    let app = Harness::new();
    let mut settings: Value = app.ok("settings", json!({}));
    settings["sounds"] = json!(false);
    settings["mode"] = json!("counter");
    let () = app.ok("save_settings", json!({ "settings": settings }));
    let saved: Value = app.ok("settings", json!({}));
    assert_eq!(saved["sounds"], false);
    assert_eq!(saved["mode"], "counter");

    let () = app.ok("set_choice", json!({ "product": 113, "quantity": 2 }));
    let saved: Value = app.ok("settings", json!({}));
    assert_eq!(
        saved["last_product"], 113,
        "the last product becomes the default"
    );
    assert_eq!(
        app.error_code("set_choice", json!({ "product": 113, "quantity": 0 })),
        "invalid_quantity"
    );

    let _: Vec<Value> = app.ok("set_training", json!({ "on": true }));
    assert_eq!(
        app.error_code("set_supervisor_pin", json!({ "pin": "12" })),
        "invalid_pin"
    );
    let () = app.ok("set_supervisor_pin", json!({ "pin": "2468" }));

    let () = app.ok("logout", json!({}));
    let overview: Value = app.ok("overview", json!({}));
    assert_eq!(overview["training"], false, "logout leaves 练习模式");
    assert_eq!(
        overview["settings"]["mode"], "counter",
        "settings survive logout"
    );
}

/// The delivery commands take what the UI sends: a fresh device has an empty list and delivers
/// nothing before enrollment; the training database (enrolled, with no list) refuses each way
/// of delivering an order it does not hold in zh-CN, with nothing written.
#[test]
fn the_delivery_list_of_a_fresh_device_is_empty_and_delivering_is_refused() {
    let app = Harness::new();
    let cash = json!({ "handover": "cash", "empties": 1, "deposits": 0 });
    assert_eq!(
        app.error_code("deliver", json!({ "orderId": 7, "handover": cash })),
        "not_enrolled"
    );
    let _: Value = app.ok("set_training", json!({ "on": true }));
    for tomorrow in [false, true] {
        let list: Value = app.ok("deliveries", json!({ "tomorrow": tomorrow }));
        assert_eq!(list["items"], json!([]));
        assert_eq!(
            (list["done"].clone(), list["left"].clone()),
            (json!(0), json!(0))
        );
        assert_eq!(list["day"].as_str().map(str::len), Some(10), "{list}");
    }
    for handover in [
        json!({ "handover": "cash", "empties": 1, "deposits": 0 }),
        json!({ "handover": "account", "empties": 0, "deposits": 2 }),
        json!({ "handover": "not_delivered", "reason": "nobody_home", "empties": 0 }),
    ] {
        let refused = app
            .call("deliver", json!({ "orderId": 7, "handover": handover }))
            .expect_err("not in the list");
        assert_eq!(refused["code"], "order_not_in_list");
        assert_eq!(refused["message"], "配送单中没有这个订单，请先同步");
    }
    assert_eq!(
        app.error_code(
            "deliver",
            json!({ "orderId": 7, "handover": { "handover": "cash", "empties": 100, "deposits": 0 } })
        ),
        "bucket_count"
    );
    assert_eq!(
        app.error_code("delivery_phone", json!({ "orderId": 7 })),
        "order_not_in_list"
    );
    let history: Vec<Value> = app.ok("history", json!({}));
    assert!(history.is_empty(), "nothing written");
}
