//! What an app keeps on the device, in one directory: the device database (and its key file),
//! the training database, the enrollment profile shown on screen and the courier's settings.
//!
//! The profile and settings are small JSON files beside the databases: nothing in them is
//! secret (names, region names, the staff code, preferences) and nothing in them decides a
//! verdict. Logout wipes the directory, settings excepted.

use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use shuipiao_shared::ids::{DeviceId, ProductCode};
use shuipiao_shared::sync::{DeviceRole, EnrollResponse, NamedScope};

use crate::sync::{self, SyncError};

/// Who the device was enrolled for, as the enrollment answer said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Server base URL, without a trailing slash.
    pub server_url: String,
    /// The device's id.
    pub device_id: DeviceId,
    /// Courier or store counter.
    pub role: DeviceRole,
    /// The courier's or clerk's display name.
    pub display_name: String,
    /// The store, for store devices.
    pub store_name: Option<String>,
    /// Regions and stores served.
    pub scopes: Vec<NamedScope>,
    /// Staff code for 线下协助 sign-ups.
    pub staff_code: String,
}

impl Profile {
    /// The profile of an enrollment answer from `server_url`.
    pub fn from_enrollment(server_url: &str, response: &EnrollResponse) -> Profile {
        Profile {
            server_url: server_url.trim_end_matches('/').to_owned(),
            device_id: response.device_id,
            role: response.role,
            display_name: response.display_name.clone(),
            store_name: response.store_name.clone(),
            scopes: response.scopes.clone(),
            staff_code: response.staff_code.clone(),
        }
    }

    /// The wallet's registration page for a customer signed up by this courier (线下协助).
    pub fn register_url(&self) -> String {
        format!(
            "{}/wallet/register?code={}",
            self.server_url,
            url_component(&self.staff_code)
        )
    }
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn url_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A product the courier can pick on the scan screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductChoice {
    /// Product code on the tickets.
    pub code: ProductCode,
    /// Name shown, e.g. 18.9L 桶装水.
    pub name: String,
}

/// Which screen the app opens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Camera at the door.
    #[default]
    Courier,
    /// USB scanner at a store counter.
    Counter,
}

/// The courier's preferences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Frame source spec (see [`crate::live::SourceSpec`]), e.g. `camera:0`.
    pub camera: String,
    /// Play verdict sounds.
    pub sounds: bool,
    /// Vibrate on verdicts where the platform can.
    pub vibration: bool,
    /// Products offered on the scan screen.
    pub products: Vec<ProductChoice>,
    /// The product chosen last (the scan screen's default).
    pub last_product: ProductCode,
    /// Units per scan by default.
    pub default_quantity: u16,
    /// The screen the app opens on.
    pub mode: Mode,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camera: "camera:0".to_owned(),
            sounds: true,
            vibration: true,
            products: vec![
                ProductChoice {
                    code: ProductCode(189),
                    name: "18.9L 桶装水".to_owned(),
                },
                ProductChoice {
                    code: ProductCode(113),
                    name: "11.3L 桶装水".to_owned(),
                },
                ProductChoice {
                    code: ProductCode(75),
                    name: "7.5L 桶装水".to_owned(),
                },
            ],
            last_product: ProductCode(189),
            default_quantity: 1,
            mode: Mode::Courier,
        }
    }
}

/// Why [`DataDir::enroll`] failed.
#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    /// The server refused or could not be reached, or the database failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The data directory could not be written.
    #[error("data directory: {0}")]
    Io(#[from] io::Error),
}

impl EnrollError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EnrollError::Sync(error) => error.code(),
            EnrollError::Io(_) => "data_dir",
        }
    }

    /// zh-CN text for the courier.
    pub fn user_message(&self) -> &'static str {
        match self {
            EnrollError::Sync(SyncError::Server {
                status: 400 | 401 | 403 | 404 | 409 | 410,
                ..
            }) => "注册码无效或已使用，请向水厂索取新的注册码",
            EnrollError::Sync(error) => error.user_message(),
            EnrollError::Io(_) => "无法写入应用数据目录，请检查存储空间",
        }
    }
}

/// The app's directory on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The directory at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The device database; its key file sits beside it.
    pub fn db_path(&self) -> PathBuf {
        self.root.join("courier.db")
    }

    /// The training (练习模式) database, never synced.
    pub fn training_db_path(&self) -> PathBuf {
        self.root.join("training.db")
    }

    fn profile_path(&self) -> PathBuf {
        self.root.join("profile.json")
    }

    fn settings_path(&self) -> PathBuf {
        self.root.join("settings.json")
    }

    /// Creates the directory.
    pub fn create(&self) -> io::Result<()> {
        std::fs::create_dir_all(&self.root)
    }

    /// The enrollment profile, if the device is enrolled.
    pub fn profile(&self) -> io::Result<Option<Profile>> {
        read_json(&self.profile_path())
    }

    /// The settings (defaults until saved once).
    pub fn settings(&self) -> io::Result<Settings> {
        Ok(read_json(&self.settings_path())?.unwrap_or_default())
    }

    /// Saves the settings.
    pub fn save_settings(&self, settings: &Settings) -> io::Result<()> {
        write_json(&self.settings_path(), settings)
    }

    /// Enrolls the device database with a one-time `code` and keeps the profile for display.
    pub async fn enroll(
        &self,
        server_url: &str,
        code: &str,
        name: &str,
    ) -> Result<Profile, EnrollError> {
        self.create()?;
        let response = sync::enroll(server_url, code, name, &self.db_path()).await?;
        let profile = Profile::from_enrollment(server_url, &response);
        write_json(&self.profile_path(), &profile)?;
        Ok(profile)
    }

    /// Logout: removes both databases, their key files or keystore records and the profile;
    /// settings stay (a keystore entry stays too, until a new database overwrites it). Close
    /// every engine and sync client on the databases first.
    pub fn wipe(&self) -> io::Result<()> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours = name.starts_with("courier.db")
                || name.starts_with("training.db")
                || name == "profile.json";
            if ours && entry.file_type()?.is_file() {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

/// Writes through a temporary file and a rename, so a crash never leaves half a file.
fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use shuipiao_shared::ids::{ScopeId, UserId};

    use super::*;

    fn response() -> EnrollResponse {
        EnrollResponse {
            device_id: DeviceId(3),
            device_token: "token".to_owned(),
            root_public_key: [0; 32],
            role: DeviceRole::Courier,
            user_id: UserId(12),
            display_name: "张师傅".to_owned(),
            store_name: None,
            scopes: vec![NamedScope {
                scope: ScopeId(1),
                name: "武汉市".to_owned(),
            }],
            staff_code: "SP000012".to_owned(),
            server_time: 1_790_000_000,
        }
    }

    #[test]
    fn profile_keeps_what_the_screens_show_and_builds_the_register_url() {
        let profile = Profile::from_enrollment("http://127.0.0.1:8080/", &response());
        assert_eq!(profile.display_name, "张师傅");
        assert_eq!(
            profile.register_url(),
            "http://127.0.0.1:8080/wallet/register?code=SP000012"
        );
        let odd = Profile {
            staff_code: "a b/ü".to_owned(),
            ..profile
        };
        assert!(odd.register_url().ends_with("?code=a%20b%2F%C3%BC"));
    }

    #[test]
    fn settings_default_then_round_trip_and_wipe_keeps_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = DataDir::new(dir.path().join("app"));
        assert_eq!(data.settings().expect("defaults"), Settings::default());
        assert_eq!(data.profile().expect("none"), None);
        let settings = Settings {
            sounds: false,
            last_product: ProductCode(113),
            mode: Mode::Counter,
            ..Settings::default()
        };
        data.save_settings(&settings).expect("save");
        assert_eq!(data.settings().expect("load"), settings);

        write_json(
            &data.profile_path(),
            &Profile::from_enrollment("http://x", &response()),
        )
        .expect("profile");
        for name in [
            "courier.db",
            "courier.db.key",
            "courier.db-wal",
            "training.db",
        ] {
            std::fs::write(data.root().join(name), b"x").expect("db file");
        }
        data.wipe().expect("wipe");
        let left: Vec<String> = std::fs::read_dir(data.root())
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, vec!["settings.json"]);
    }
}
