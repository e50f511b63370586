//! The database key in the platform keystore, against a real Secret Service: run inside
//! `dbus-run-session` with an unlocked gnome-keyring (`scripts/test-all.sh` does). "Keystore
//! unavailable" is real too: the CLI runs as a child whose session bus address points nowhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shuipiao_courier::store::key_source::{self, KEYSTORE_SERVICE, KeySource, KeystoreEntry};
use shuipiao_courier::store::{self, DbKey, StoreError};

/// Every file in `dir` with its bytes: what "nothing changed" compares.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn keyring_entry(entry: &KeystoreEntry) -> keyring::Entry {
    keyring::Entry::new(&entry.service, &entry.account).unwrap()
}

/// Writes a row, so reopening shows the same data came back.
fn write_probe(db: &Path) {
    let conn = store::open(db).unwrap();
    conn.execute_batch("CREATE TABLE probe(x INTEGER); INSERT INTO probe VALUES (42);")
        .unwrap();
}

fn read_probe(db: &Path) -> i64 {
    store::open(db)
        .unwrap()
        .query_row("SELECT x FROM probe", [], |row| row.get(0))
        .unwrap()
}

/// The CLI on `db` with the session bus pointing at a socket that does not exist.
fn cli_without_keystore(dir: &Path, db: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shuipiao-courier"))
        .arg("--db")
        .arg(db)
        .arg("status")
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", dir.join("no-bus").display()),
        )
        .output()
        .unwrap()
}

fn provisioned_in_keystore(db: &Path) -> KeystoreEntry {
    match key_source::provision(db).unwrap() {
        KeySource::Keystore(entry) => entry,
        other => panic!("expected the keystore (is the Secret Service running?), got {other:?}"),
    }
}

#[test]
fn keystore_holds_a_new_databases_key_and_no_key_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    let training = dir.path().join("training.db");

    let entry = provisioned_in_keystore(&db);
    assert_eq!(entry.service, KEYSTORE_SERVICE);
    assert_eq!(
        PathBuf::from(&entry.account),
        std::path::absolute(&db).unwrap()
    );
    write_probe(&db);
    assert!(!key_source::key_path(&db).exists(), "no key file beside it");
    assert_eq!(read_probe(&db), 42, "reopening finds the key again");

    // The entry is really in the Secret Service, and it is the key that opens the database.
    let secret = keyring_entry(&entry).get_secret().unwrap();
    let key = DbKey(secret.try_into().expect("a 32-byte key"));
    assert!(store::open_with_key(&db, &key).is_ok());

    // Provisioning again keeps the key rather than making a new one.
    assert_eq!(
        key_source::provision(&db).unwrap(),
        KeySource::Keystore(entry.clone())
    );
    assert_eq!(keyring_entry(&entry).get_secret().unwrap(), key.0);

    // A second database (training) gets its own entry and key.
    let training_entry = provisioned_in_keystore(&training);
    assert_ne!(training_entry.account, entry.account);
    assert_ne!(
        keyring_entry(&training_entry).get_secret().unwrap(),
        key.0.to_vec()
    );

    for entry in [entry, training_entry] {
        keyring_entry(&entry).delete_credential().unwrap();
    }
}

#[test]
fn keystore_entry_missing_or_wrong_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    let entry = provisioned_in_keystore(&db);
    write_probe(&db);
    let right = keyring_entry(&entry).get_secret().unwrap();
    let before = files(dir.path());

    keyring_entry(&entry).delete_credential().unwrap();
    assert!(matches!(
        store::open(&db),
        Err(StoreError::KeystoreKeyMissing { .. })
    ));
    assert_eq!(
        key_source::provision(&db).unwrap(),
        KeySource::Keystore(entry.clone())
    );
    assert!(
        matches!(
            keyring_entry(&entry).get_secret(),
            Err(keyring::Error::NoEntry)
        ),
        "provisioning an existing database never makes a new key"
    );
    assert_eq!(files(dir.path()), before);

    keyring_entry(&entry).set_secret(&[7; 32]).unwrap();
    assert!(matches!(
        store::open(&db),
        Err(StoreError::KeystoreKeyWrong(_))
    ));
    keyring_entry(&entry).set_secret(b"short").unwrap();
    assert!(matches!(
        store::open(&db),
        Err(StoreError::KeystoreKeyWrong(_))
    ));
    assert_eq!(files(dir.path()), before);

    keyring_entry(&entry).set_secret(&right).unwrap();
    assert_eq!(read_probe(&db), 42, "the right key opens it again");
    keyring_entry(&entry).delete_credential().unwrap();
}

#[test]
fn keystore_unavailable_gives_a_new_database_a_0600_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");

    let output = cli_without_keystore(dir.path(), &db);
    assert!(output.status.success(), "{output:?}");
    let key_file = key_source::key_path(&db);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file readable by the owner only");
    }
    assert!(!key_source::record_path(&db).exists());
    assert_eq!(
        key_source::locate(&db).unwrap(),
        Some(KeySource::File(key_file))
    );
    assert!(store::open(&db).is_ok());
}

#[test]
fn keystore_unavailable_for_a_keystore_keyed_database_is_a_clear_error_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    let entry = provisioned_in_keystore(&db);
    write_probe(&db);
    let before = files(dir.path());

    let output = cli_without_keystore(dir.path(), &db);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("无法使用系统钥匙串"), "{stderr}");
    assert!(stderr.contains("切勿卸载应用或清除数据"), "{stderr}");
    assert_eq!(files(dir.path()), before, "no new key, no database write");

    assert_eq!(read_probe(&db), 42, "with the keystore back it opens");
    keyring_entry(&entry).delete_credential().unwrap();
}

#[test]
fn keystore_feature_keeps_key_file_databases_on_their_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("courier.db");
    write_probe(&db);
    let key_file = key_source::key_path(&db);
    let key_text = std::fs::read(&key_file).unwrap();

    assert_eq!(
        key_source::provision(&db).unwrap(),
        KeySource::File(key_file.clone())
    );
    assert!(!key_source::record_path(&db).exists());
    let would_be = KeystoreEntry {
        service: KEYSTORE_SERVICE.to_owned(),
        account: std::path::absolute(&db).unwrap().display().to_string(),
    };
    assert!(matches!(
        keyring_entry(&would_be).get_secret(),
        Err(keyring::Error::NoEntry)
    ));
    assert_eq!(read_probe(&db), 42);
    assert_eq!(std::fs::read(&key_file).unwrap(), key_text);
}
