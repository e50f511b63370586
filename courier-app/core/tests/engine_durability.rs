//! Durability through the real CLI binary: a courier process in counter mode prints an accept
//! and is killed at once (SIGKILL, no clean shutdown); reopening the database shows the
//! redemption in the outbox, chained and signed. Also the CLI's zh-CN lines and `scan --image`
//! through the scan pipeline's frame and decode modules.

mod engine_support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use engine_support::*;
use shuipiao_courier::clock::{Clock, SystemClock};
use shuipiao_courier::degrade::{self, Degradation};
use shuipiao_courier::engine::ScanOutcome;
use shuipiao_courier::store::{self, outbox};
use shuipiao_shared::event::EventBody;
use shuipiao_shared::ids::BookId;

const BIN: &str = env!("CARGO_BIN_EXE_shuipiao-courier");

#[test]
fn a_process_killed_right_after_an_accept_keeps_the_redemption() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, "http://127.0.0.1:9", &[], SystemClock.now_secs());

    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["--json", "scan", "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", ticket(live_book(4242, 10))).unwrap();
    stdin.flush().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // Killed while still running (stdin is open, it waits for the next code).
    child.kill().unwrap();
    child.wait().unwrap();

    let outcome: ScanOutcome = serde_json::from_str(&line).unwrap();
    assert_eq!(outcome.title, "可以送水");
    let conn = store::open(&db).unwrap();
    let entries = outbox::recent(&conn, 10).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(Some(entries[0].event.event.event_id), outcome.event_id);
    assert!(matches!(
        entries[0].event.event.body,
        EventBody::Redemption {
            book_id: BookId(4242),
            units: 1,
            ..
        }
    ));
    assert!(entries[0].event.verify(&device_key().verifying_key()));
}

#[test]
fn the_cli_prints_zh_cn_verdicts_status_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, "http://127.0.0.1:9", &[], SystemClock.now_secs());
    let run = |args: &[&str]| {
        let output = Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let text = ticket(live_book(77, 2));
    let accepted = run(&["scan", "--text", &text, "--quantity", "2"]);
    assert!(accepted.contains("可以送水"), "{accepted}");
    assert!(accepted.contains("剩余 0 张"), "{accepted}");
    let refused = run(&["scan", "--text", "NOT-A-TICKET"]);
    assert!(refused.contains("无法识别"), "{refused}");
    let status = run(&["status"]);
    assert!(status.contains("待上传 2 条"), "{status}");
    assert!(status.contains("数据正常"), "{status}");
    let history = run(&["history"]);
    assert!(history.contains("核销 票册 77 2 张"), "{history}");
    let json = run(&["--json", "status"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["sync"]["pending"], 2);
}

#[test]
fn the_cli_scans_a_photo_of_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    enroll_at(&db, "http://127.0.0.1:9", &[], SystemClock.now_secs());
    let text = ticket(live_book(88, 3));
    let frame = degrade::render(&text, 640, 480, &Degradation::default(), 1).unwrap();
    let photo = dir.path().join("ticket.png");
    image::GrayImage::from_raw(frame.width(), frame.height(), frame.into_luma())
        .unwrap()
        .save(&photo)
        .unwrap();
    let output = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["scan", "--image"])
        .arg(&photo)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("可以送水"), "{stdout}");
    assert!(stdout.contains("剩余 2 张"), "{stdout}");
}

#[cfg(not(feature = "camera"))]
#[test]
fn the_cli_says_when_it_was_built_without_camera_support() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .arg("--db")
        .arg(dir.path().join("courier.db"))
        .args(["scan", "--camera"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("此版本未包含摄像头支持"), "{stderr}");
}
