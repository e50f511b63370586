//! Server configuration: safe defaults, then an optional TOML file, then `SHUIPIAO_*` environment
//! variables. Secrets come only from the file or the environment and never appear in `Debug`.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

/// Database URL used when none is configured: an embedded SQLite file beside the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./data/shuipiao.db";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file that was asked for.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML for [`Config`].
    #[error("invalid config file: {0}")]
    Parse(#[from] toml::de::Error),
    /// An environment variable holds a value that does not parse.
    #[error("invalid value in {name}: {reason}")]
    Env {
        /// The variable name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The database URL names a backend this server does not have.
    #[error(
        "unsupported database url `{0}`: use sqlite://PATH (default {DEFAULT_DATABASE_URL}) or postgres://USER:PASSWORD@HOST:PORT/DB in SHUIPIAO_DATABASE_URL"
    )]
    UnknownScheme(String),
    /// The master key is missing or malformed.
    #[error(
        "{0}: set SHUIPIAO_MASTER_KEY (or master_key in the config file) to 64 hex digits, e.g. from `openssl rand -hex 32`"
    )]
    MasterKey(&'static str),
}

/// Which storage backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (`sqlite://path` or `sqlite::memory:`).
    Sqlite,
    /// PostgreSQL (`postgres://` or `postgresql://`).
    Postgres,
}

/// A database URL. Its `Debug` and `Display` hide any password.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Wraps a URL string; the scheme is checked by [`DatabaseUrl::backend`].
    pub fn new(url: impl Into<String>) -> DatabaseUrl {
        DatabaseUrl(url.into())
    }

    /// The full URL, password included: pass it to the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The backend named by the URL scheme.
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let scheme = self.0.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(ConfigError::UnknownScheme(self.to_string())),
        }
    }

    /// The URL with the password, if any, replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        let (authority, tail) = match rest.find(['/', '?']) {
            Some(idx) => rest.split_at(idx),
            None => (rest, ""),
        };
        match authority.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The 256-bit key that seals private signing keys and derives the holder-tag key.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(bytes)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Result<MasterKey, ConfigError> {
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.trim().as_bytes())
            .map_err(|_| ConfigError::MasterKey("master key is not hex"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| ConfigError::MasterKey("master key must be 32 bytes"))?;
        Ok(MasterKey(bytes))
    }

    /// The key as lower-case hex, for printing once to an operator who just generated it.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }

    /// The raw key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA256 of `message` under a subkey for `purpose`, so each use (holder tags, phone
    /// lookups, phone sealing) has its own key and one leaked output says nothing of another.
    pub fn mac(&self, purpose: &[u8], message: &[u8]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        type HmacSha256 = Hmac<sha2::Sha256>;
        let mut derive = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        derive.update(purpose);
        let subkey = derive.finalize().into_bytes();
        let mut mac = HmacSha256::new_from_slice(&subkey).expect("HMAC takes any key length");
        mac.update(message);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl<'de> Deserialize<'de> for MasterKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        MasterKey::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// Everything the server needs to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; loopback by default.
    pub bind: SocketAddr,
    /// Database URL; its scheme picks the backend.
    pub database_url: DatabaseUrl,
    /// Key sealing private keys at rest; required to serve.
    pub master_key: Option<MasterKey>,
    /// Largest accepted request body, in bytes.
    pub body_limit_bytes: usize,
    /// Lifetime of a login session, in seconds.
    pub session_ttl_secs: u64,
    /// Status rows returned by one pull at most.
    pub pull_page_size: u32,
    /// Mark the session cookie `Secure`: set this when clients reach the server over HTTPS
    /// (e.g. behind a TLS-terminating proxy).
    pub cookie_secure: bool,
    /// Customer messages.
    pub notify: NotifyConfig,
    /// Gifts for new customers.
    pub promotions: PromotionConfig,
}

/// Where customer messages go (`[notify]` in the config file).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// Gateway URL; without one, messages are written to the log.
    pub http_endpoint: Option<String>,
    /// Key the gateway checks request signatures with (`SHUIPIAO_NOTIFY_SECRET`).
    pub http_secret: Option<String>,
    /// Attempts per message before it is dead-lettered.
    pub max_attempts: u32,
    /// Seconds between two delivery rounds.
    pub interval_secs: u64,
}

impl fmt::Debug for NotifyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotifyConfig")
            .field("http_endpoint", &self.http_endpoint)
            .field("http_secret", &self.http_secret.as_ref().map(|_| "***"))
            .field("max_attempts", &self.max_attempts)
            .field("interval_secs", &self.interval_secs)
            .finish()
    }
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        NotifyConfig {
            http_endpoint: None,
            http_secret: None,
            max_attempts: 6,
            interval_secs: 5,
        }
    }
}

/// Gifts for new customers (`[promotions]` in the config file); units of 0 turn a gift off.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionConfig {
    /// Product code of gift tickets.
    pub gift_product: u16,
    /// Tickets a new customer gets for registering.
    pub registration_units: u16,
    /// Tickets each side gets when a customer refers a new one.
    pub referral_units: u16,
    /// Days gift tickets stay valid.
    pub gift_validity_days: u32,
    /// Points earned per counted unit (taken back if the redemption is voided).
    pub points_per_unit: u32,
}

impl Default for PromotionConfig {
    fn default() -> PromotionConfig {
        PromotionConfig {
            gift_product: 189,
            registration_units: 2,
            referral_units: 1,
            gift_validity_days: 90,
            points_per_unit: 10,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: DatabaseUrl::new(DEFAULT_DATABASE_URL),
            master_key: None,
            body_limit_bytes: 2 * 1024 * 1024,
            session_ttl_secs: 7 * 24 * 3600,
            pull_page_size: 1000,
            cookie_secure: false,
            notify: NotifyConfig::default(),
            promotions: PromotionConfig::default(),
        }
    }
}

impl Config {
    /// Loads the defaults, then `path` if given, then the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file_text = match path {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.display().to_string(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        Config::from_sources(file_text.as_deref(), |name| std::env::var(name).ok())
    }

    /// Builds a config from file text (TOML) and an environment lookup; environment wins.
    pub fn from_sources(
        file_text: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file_text {
            Some(text) => toml::from_str(text)?,
            None => Config::default(),
        };
        if let Some(bind) = env("SHUIPIAO_BIND") {
            config.bind = bind.parse().map_err(|_| ConfigError::Env {
                name: "SHUIPIAO_BIND",
                reason: format!("`{bind}` is not an address like 127.0.0.1:8080"),
            })?;
        }
        if let Some(url) = env("SHUIPIAO_DATABASE_URL") {
            config.database_url = DatabaseUrl::new(url);
        }
        if let Some(key) = env("SHUIPIAO_MASTER_KEY") {
            config.master_key = Some(MasterKey::from_hex(&key)?);
        }
        if let Some(secret) = env("SHUIPIAO_NOTIFY_SECRET") {
            config.notify.http_secret = Some(secret);
        }
        config.database_url.backend()?;
        Ok(config)
    }

    /// The master key, or an error telling the operator how to set one.
    pub fn require_master_key(&self) -> Result<&MasterKey, ConfigError> {
        self.master_key
            .as_ref()
            .ok_or(ConfigError::MasterKey("no master key configured"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_password_and_master_key() {
        let config = Config::from_sources(None, |name| match name {
            "SHUIPIAO_DATABASE_URL" => Some("postgres://plant:hunter2@db:5432/shuipiao".into()),
            "SHUIPIAO_MASTER_KEY" => Some("ab".repeat(32)),
            _ => None,
        })
        .unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("abab"), "{text}");
        assert!(
            text.contains("postgres://plant:***@db:5432/shuipiao"),
            "{text}"
        );
    }

    #[test]
    fn defaults_are_loopback_and_sqlite() {
        let config = Config::from_sources(None, |_| None).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.database_url.backend().unwrap(), Backend::Sqlite);
    }

    #[test]
    fn unknown_scheme_names_the_fix() {
        let err = Config::from_sources(None, |name| {
            (name == "SHUIPIAO_DATABASE_URL").then(|| "mysql://x".to_string())
        })
        .unwrap_err();
        assert!(err.to_string().contains("sqlite://"), "{err}");
    }

    #[test]
    fn file_then_env() {
        let file = "bind = \"127.0.0.1:9000\"\npull_page_size = 10\n";
        let config = Config::from_sources(Some(file), |name| {
            (name == "SHUIPIAO_BIND").then(|| "127.0.0.1:9001".to_string())
        })
        .unwrap();
        assert_eq!(config.bind.port(), 9001);
        assert_eq!(config.pull_page_size, 10);
        assert!(Config::from_sources(Some("typo = 1"), |_| None).is_err());
    }
}
