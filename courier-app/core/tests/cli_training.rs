//! 练习模式 from the command line, as a real process: `--training` and `practice` work on the
//! training database beside the device database, never touch the device database and never go
//! online.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

fn cli(db: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_shuipiao-courier"))
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("run shuipiao-courier")
}

fn ok(db: &Path, args: &[&str]) -> String {
    let output = cli(db, args);
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert!(
        output.status.success(),
        "{args:?}: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn json(db: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(db, &all)).expect("json output")
}

fn refused(db: &Path, args: &[&str]) -> String {
    let output = cli(db, args);
    assert_eq!(output.status.code(), Some(1), "{args:?} must fail cleanly");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn training_runs_on_its_own_database_and_never_goes_online() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("courier.db");
    let training_db = dir.path().join("training.db");

    let tickets = json(&db, &["practice", "--product", "189"]);
    let tickets = tickets.as_array().expect("a list");
    assert_eq!(
        tickets.len(),
        16,
        "green, orange and the fourteen red reasons"
    );
    let listed = ok(&db, &["practice", "--product", "189"]);
    assert!(
        listed.contains(" 13. 正常水票，但手机数据过旧 → 应显示：数据过旧"),
        "{listed}"
    );
    assert!(
        training_db.exists() && !db.exists(),
        "only the training database"
    );

    // Practice tickets scanned by their text under --training: green, then orange.
    let good = tickets[0]["text"].as_str().expect("text");
    let green = ok(
        &db,
        &[
            "--training",
            "scan",
            "--text",
            good,
            "--product",
            "189",
            "--quantity",
            "20",
        ],
    );
    assert!(
        green.starts_with("【练习】【绿】可以送水：本次核销 20 张，剩余 0 张"),
        "{green}"
    );
    let used_up = tickets[1]["text"].as_str().expect("text");
    let used = json(
        &db,
        &["--training", "scan", "--text", used_up, "--product", "189"],
    );
    assert_eq!(used["kind"], "already_used");

    // The two sync-state tickets, each with the status it pretends.
    let stale = json(&db, &["practice", "13", "--product", "189"]);
    assert_eq!(stale["reason"], "stale_data");
    let status = ok(&db, &["--training", "status"]);
    assert!(
        status.contains("练习模式：记录只留在练习数据库，不会同步"),
        "{status}"
    );
    assert!(status.contains("数据过旧（需主管授权）"), "{status}");
    let pin = ok(&db, &["--training", "set-pin", "2468"]);
    assert!(pin.contains("主管密码已设置"));
    std::thread::sleep(std::time::Duration::from_millis(5_100));
    let overridden = json(
        &db,
        &["practice", "13", "--product", "189", "--pin", "2468"],
    );
    assert_eq!(overridden["kind"], "accepted");
    assert_eq!(overridden["flags"]["supervisor_override"], true);
    let budget = ok(&db, &["practice", "14", "--product", "189"]);
    assert!(budget.contains("【练习】【红】离线额度已用完"), "{budget}");
    let status = json(&db, &["--training", "status"]);
    assert_eq!(status["training"], true);
    assert_eq!(status["freshness"], "stale");
    assert_eq!(status["offline_units_used"], status["offline_units_budget"]);

    let history = ok(&db, &["--training", "history"]);
    assert!(
        history.contains("练习，不上传") && !history.contains("待上传"),
        "{history}"
    );

    // Never online, and the device database stays untouched.
    for args in [
        &["--training", "sync"][..],
        &[
            "--training",
            "enroll",
            "--server",
            "http://127.0.0.1:9",
            "--code",
            "ABCD",
            "--name",
            "x",
        ],
    ] {
        assert!(refused(&db, args).contains("练习模式不联网"), "{args:?}");
    }
    assert!(
        refused(&db, &["practice", "17"]).contains("没有第 17 张练习票（共 16 张）"),
        "numbers outside the list"
    );
    assert!(!db.exists(), "the device database was never opened");
    let device = ok(&db, &["status"]);
    assert!(device.contains("设备尚未注册"), "{device}");
}
