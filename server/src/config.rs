//! Server configuration: safe defaults, then an optional TOML file, then `SHUIPIAO_*` environment
//! variables. Secrets come only from the file or the environment and never appear in `Debug`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    /// A setting is out of its range or inconsistent with another.
    #[error("invalid setting {name}: {reason}")]
    Invalid {
        /// The setting, as written in the file.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
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
    /// Mark every cookie `Secure`: set this when clients reach the server over HTTPS through a
    /// TLS-terminating proxy (with `[tls]` the server does it by itself).
    pub cookie_secure: bool,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsConfig>,
    /// Per-client limits on sign-in, SMS codes, registration and device enrollment.
    pub limits: LimitsConfig,
    /// Customer messages.
    pub notify: NotifyConfig,
    /// Gifts for new customers.
    pub promotions: PromotionConfig,
    /// Bearer token a Prometheus scraper sends for `/metrics`; without one, `/metrics` answers
    /// only a scraper on this host (see `metrics::may_scrape`).
    pub metrics_token: Option<MetricsToken>,
}

/// The `/metrics` bearer token. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// Shortest token accepted, so it cannot be guessed.
    pub const MIN_CHARS: usize = 16;

    /// The token, to compare with what a scraper sends.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for MetricsToken {
    type Err = String;

    fn from_str(text: &str) -> Result<MetricsToken, String> {
        let text = text.trim();
        if text.chars().count() < MetricsToken::MIN_CHARS
            || !text.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(format!(
                "the metrics token needs at least {} visible ASCII characters, e.g. from `openssl rand -hex 16`",
                MetricsToken::MIN_CHARS
            ));
        }
        Ok(MetricsToken(text.to_string()))
    }
}

impl fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MetricsToken(***)")
    }
}

impl<'de> Deserialize<'de> for MetricsToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The server's own TLS (`[tls]` in the config file): PEM files read at start.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first (`SHUIPIAO_TLS_CERT`).
    pub cert: PathBuf,
    /// Private key: PKCS#8, PKCS#1 or SEC1 (`SHUIPIAO_TLS_KEY`).
    pub key: PathBuf,
}

/// How often one client may do one thing: `requests` at once, refilled evenly over
/// `window_secs`. `requests = 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Burst size, and the most allowed in any window.
    pub requests: u32,
    /// Seconds in which a used-up allowance is back in full.
    pub window_secs: u64,
}

impl Rate {
    /// `requests` per `window_secs`.
    pub const fn new(requests: u32, window_secs: u64) -> Rate {
        Rate {
            requests,
            window_secs,
        }
    }
}

/// A proxy address or network whose `X-Forwarded-For` is believed, e.g. `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    // Invariant: `addr` is canonical (no v4-mapped v6) and `prefix` is at most its bit width.
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, width: u8, prefix: u8) -> u128 {
            let host_bits = u32::from(width - prefix);
            bits.checked_shr(host_bits)
                .unwrap_or(0)
                .checked_shl(host_bits)
                .unwrap_or(0)
        }
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix)
                    == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(net.into(), 128, self.prefix) == masked(ip.into(), 128, self.prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<IpNet, String> {
        let bad = || format!("`{text}` is not an IP address or network like 10.0.0.0/8");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr = addr.parse::<IpAddr>().map_err(|_| bad())?.to_canonical();
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(bad)?,
            None => width,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Per-client limits (`[limits]` in the config file). A client is its IP address (IPv6: its
/// /64 network); behind a reverse proxy list it in `trusted_proxies` so the address it puts in
/// `X-Forwarded-For` counts instead of its own.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Peers whose `X-Forwarded-For` header names the real client.
    pub trusted_proxies: Vec<IpNet>,
    /// Password and SMS-code sign-ins per client (web and API).
    pub login: Rate,
    /// SMS codes asked for per client (on top of the per-phone limits of `signup`).
    pub sms_code: Rate,
    /// Registrations submitted per client.
    pub register: Rate,
    /// Failed device enrollments per client (a good code is used up, so success is not counted).
    pub enroll: Rate,
    /// Wrong passwords for one account from one client before that client waits; the owner
    /// signing in from another address is not held up.
    pub password_failures: Rate,
    /// Wrong passwords for one account from all clients together before everyone waits: a
    /// ceiling for guessing from many addresses, far above one client's allowance.
    pub password_failures_per_account: Rate,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            trusted_proxies: Vec::new(),
            login: Rate::new(30, 300),
            sms_code: Rate::new(20, 3_600),
            register: Rate::new(10, 3_600),
            enroll: Rate::new(10, 600),
            password_failures: Rate::new(5, 900),
            password_failures_per_account: Rate::new(100, 3_600),
        }
    }
}

impl LimitsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let rates = [
            ("limits.login", self.login),
            ("limits.sms_code", self.sms_code),
            ("limits.register", self.register),
            ("limits.enroll", self.enroll),
            ("limits.password_failures", self.password_failures),
            (
                "limits.password_failures_per_account",
                self.password_failures_per_account,
            ),
        ];
        for (name, rate) in rates {
            if rate.requests > 0 && rate.window_secs == 0 {
                return Err(ConfigError::Invalid {
                    name,
                    reason:
                        "window_secs must be at least 1 (or set requests = 0 to turn the limit off)"
                            .into(),
                });
            }
        }
        Ok(())
    }
}

/// Shortest `notify.claim_secs`: a send gets at least one second.
pub const MIN_CLAIM_SECS: u64 = 2;
/// Longest `notify.claim_secs`.
pub const MAX_CLAIM_SECS: u64 = 3_600;

/// Where customer messages go (`[notify]` in the config file), with one gateway per channel
/// (`[notify.sms]`, `[notify.wechat]`, `[notify.push]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// SMS gateway; while it is off, SMS messages are written to the log.
    pub sms: GatewayConfig,
    /// WeChat template message gateway; while it is off, its messages go by SMS.
    pub wechat: GatewayConfig,
    /// App push gateway; while it is off, its messages go by SMS.
    pub push: GatewayConfig,
    /// Attempts per message before it is dead-lettered.
    pub max_attempts: u32,
    /// Seconds between two delivery rounds.
    pub interval_secs: u64,
    /// Seconds a delivery round holds a message it is about to send (renewed just before each
    /// send, and each send is cut off at half of it): how long a message claimed by an instance
    /// that died waits before another instance delivers it.
    pub claim_secs: u64,
}

impl Default for NotifyConfig {
    fn default() -> NotifyConfig {
        NotifyConfig {
            sms: GatewayConfig::default(),
            wechat: GatewayConfig::default(),
            push: GatewayConfig::default(),
            max_attempts: 6,
            interval_secs: 5,
            claim_secs: 60,
        }
    }
}

impl NotifyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let gateways = [
            ("notify.sms.endpoint", &self.sms),
            ("notify.wechat.endpoint", &self.wechat),
            ("notify.push.endpoint", &self.push),
        ];
        for (name, gateway) in gateways {
            if gateway.enabled && gateway.endpoint.is_none() {
                return Err(ConfigError::Invalid {
                    name,
                    reason: "an enabled gateway needs its URL (or set enabled = false)".into(),
                });
            }
        }
        if !(MIN_CLAIM_SECS..=MAX_CLAIM_SECS).contains(&self.claim_secs) {
            return Err(ConfigError::Invalid {
                name: "notify.claim_secs",
                reason: format!(
                    "must be {MIN_CLAIM_SECS} to {MAX_CLAIM_SECS} seconds: a send is cut off at \
                     half of it, and a dead instance's messages wait this long"
                ),
            });
        }
        if self.wechat.enabled && self.wechat.template_id.is_none() {
            return Err(ConfigError::Invalid {
                name: "notify.wechat.template_id",
                reason: "WeChat template messages need the id of the template to fill".into(),
            });
        }
        Ok(())
    }
}

/// One channel's gateway: it receives signed JSON requests.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Whether messages go to this gateway.
    pub enabled: bool,
    /// Gateway URL.
    pub endpoint: Option<String>,
    /// Key the gateway checks request signatures with (also `SHUIPIAO_NOTIFY_<CHANNEL>_SECRET`).
    pub secret: Option<String>,
    /// WeChat only: the template the message fills.
    pub template_id: Option<String>,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("enabled", &self.enabled)
            .field("endpoint", &self.endpoint)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("template_id", &self.template_id)
            .finish()
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
            tls: None,
            limits: LimitsConfig::default(),
            notify: NotifyConfig::default(),
            promotions: PromotionConfig::default(),
            metrics_token: None,
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
        if let Some(token) = env("SHUIPIAO_METRICS_TOKEN") {
            config.metrics_token = Some(token.parse().map_err(|reason| ConfigError::Env {
                name: "SHUIPIAO_METRICS_TOKEN",
                reason,
            })?);
        }
        let gateways = [
            ("SHUIPIAO_NOTIFY_SMS_SECRET", &mut config.notify.sms),
            ("SHUIPIAO_NOTIFY_WECHAT_SECRET", &mut config.notify.wechat),
            ("SHUIPIAO_NOTIFY_PUSH_SECRET", &mut config.notify.push),
        ];
        for (name, gateway) in gateways {
            if let Some(secret) = env(name) {
                gateway.secret = Some(secret);
            }
        }
        match (env("SHUIPIAO_TLS_CERT"), env("SHUIPIAO_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                config.tls = Some(TlsConfig {
                    cert: cert.into(),
                    key: key.into(),
                });
            }
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::Env {
                    name: "SHUIPIAO_TLS_CERT",
                    reason: "set SHUIPIAO_TLS_CERT and SHUIPIAO_TLS_KEY together".into(),
                });
            }
        }
        config.database_url.backend()?;
        config.limits.validate()?;
        config.notify.validate()?;
        Ok(config)
    }

    /// Whether cookies get the `Secure` flag: when served over TLS, or `cookie_secure` says a
    /// proxy in front does TLS.
    pub fn secure_cookies(&self) -> bool {
        self.cookie_secure || self.tls.is_some()
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
    fn metrics_token_is_hidden_and_must_be_long() {
        let token = "0123456789abcdef0123";
        let config =
            Config::from_sources(Some(&format!("metrics_token = \"{token}\"")), |_| None).unwrap();
        assert_eq!(config.metrics_token.as_ref().unwrap().expose(), token);
        assert!(!format!("{config:?}").contains(token));
        let env = Config::from_sources(None, |name| {
            (name == "SHUIPIAO_METRICS_TOKEN").then(|| token.to_string())
        })
        .unwrap();
        assert_eq!(env.metrics_token, config.metrics_token);
        let short = Config::from_sources(None, |name| {
            (name == "SHUIPIAO_METRICS_TOKEN").then(|| "short".to_string())
        })
        .unwrap_err();
        assert!(short.to_string().contains("openssl rand"), "{short}");
        assert!(
            Config::from_sources(Some("metrics_token = \"has a space in it!\""), |_| None).is_err()
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

    #[test]
    fn tls_from_file_or_env_and_never_half() {
        let file = "[tls]\ncert = \"/etc/sp/cert.pem\"\nkey = \"/etc/sp/key.pem\"\n";
        let config = Config::from_sources(Some(file), |_| None).unwrap();
        assert!(config.secure_cookies());
        let tls = config.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/sp/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/sp/key.pem"));

        let config = Config::from_sources(None, |name| match name {
            "SHUIPIAO_TLS_CERT" => Some("c.pem".into()),
            "SHUIPIAO_TLS_KEY" => Some("k.pem".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.tls.unwrap().key, PathBuf::from("k.pem"));

        let half = Config::from_sources(None, |name| {
            (name == "SHUIPIAO_TLS_CERT").then(|| "c.pem".to_string())
        })
        .unwrap_err();
        assert!(half.to_string().contains("SHUIPIAO_TLS_KEY"), "{half}");
        assert!(
            !Config::from_sources(None, |_| None)
                .unwrap()
                .secure_cookies()
        );
    }

    #[test]
    fn notify_gateways_parse_take_env_secrets_and_refuse_half_settings() {
        let file = "[notify.sms]\nenabled = true\nendpoint = \"http://sms/send\"\n\
            [notify.wechat]\nendpoint = \"http://wx/send\"\ntemplate_id = \"T1\"\n";
        let config = Config::from_sources(Some(file), |name| {
            (name == "SHUIPIAO_NOTIFY_WECHAT_SECRET").then(|| "wx-secret".to_string())
        })
        .unwrap();
        let notify = &config.notify;
        assert!(notify.sms.enabled && !notify.wechat.enabled && !notify.push.enabled);
        assert_eq!(notify.wechat.secret.as_deref(), Some("wx-secret"));
        assert_eq!(notify.sms.secret, None);
        assert!(!format!("{config:?}").contains("wx-secret"));

        for (bad, setting) in [
            ("[notify.push]\nenabled = true\n", "notify.push.endpoint"),
            (
                "[notify.wechat]\nenabled = true\nendpoint = \"http://wx\"\n",
                "notify.wechat.template_id",
            ),
            ("[notify]\nclaim_secs = 1\n", "notify.claim_secs"),
            ("[notify]\nclaim_secs = 86400\n", "notify.claim_secs"),
        ] {
            let err = Config::from_sources(Some(bad), |_| None).unwrap_err();
            assert!(err.to_string().contains(setting), "{err}");
        }
    }

    #[test]
    fn limits_parse_and_reject_a_zero_window() {
        let file = "[limits]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\nlogin = { requests = 3, window_secs = 60 }\nenroll = { requests = 0, window_secs = 0 }\n";
        let limits = Config::from_sources(Some(file), |_| None).unwrap().limits;
        assert_eq!(limits.login, Rate::new(3, 60));
        assert_eq!(limits.enroll.requests, 0, "0 turns a limit off");
        assert_eq!(limits.register, LimitsConfig::default().register);
        let [net, loopback] = limits.trusted_proxies[..] else {
            panic!("two proxies: {:?}", limits.trusted_proxies)
        };
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.9.9.9".parse().unwrap()),
            "v4-mapped"
        );
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(loopback.contains("::1".parse().unwrap()));
        assert!(!loopback.contains("::2".parse().unwrap()));

        let zero = Config::from_sources(
            Some("[limits]\nlogin = { requests = 3, window_secs = 0 }"),
            |_| None,
        )
        .unwrap_err();
        assert!(zero.to_string().contains("limits.login"), "{zero}");
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
        assert!(
            "0.0.0.0/0"
                .parse::<IpNet>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }
}
