//! `shuipiao-server`: the command line (serve, demo, create-admin, reset-password, enroll-code,
//! rotate-keys, compromise-key, backup, restore).
#![forbid(unsafe_code)]

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use shuipiao_server::accounts::{self, Actor, UserRequest};
use shuipiao_server::config::{Backend, Config, MasterKey};
use shuipiao_server::store::Store;
use shuipiao_server::store::models::Role;
use shuipiao_server::{auth, demo, enrollment, issuance, keys, serve_store, unix_now};
use tokio::net::TcpListener;

/// Electronic water tickets (电子水票) server.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// TOML config file; `SHUIPIAO_*` environment variables override it.
    #[arg(long, global = true, env = "SHUIPIAO_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API.
    Serve,
    /// Fill the database with a demo data set (a plant in Hubei), then serve.
    Demo {
        /// `small` (quick, 30 families and 400 days of history) or `large` (50 000 families
        /// and 200 couriers over a year; slow, see docs/performance.md).
        #[arg(long, value_enum, default_value_t = DemoScale::Small)]
        scale: DemoScale,
        /// Families, instead of the scale's.
        #[arg(long)]
        customers: Option<u32>,
        /// Couriers, instead of the scale's.
        #[arg(long)]
        couriers: Option<u32>,
        /// Days of history, instead of the scale's.
        #[arg(long)]
        days: Option<u32>,
    },
    /// Create an admin user; the password is read from SHUIPIAO_ADMIN_PASSWORD or stdin.
    CreateAdmin {
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// Give a staff member (an admin who forgot theirs, say) a new password and end all their
    /// sessions; the password is read from SHUIPIAO_NEW_PASSWORD or stdin.
    ResetPassword {
        /// Login name.
        #[arg(long)]
        username: String,
    },
    /// Make a one-time device enrollment code for a courier or store clerk.
    EnrollCode {
        /// The courier's or clerk's login name.
        #[arg(long)]
        username: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 86_400)]
        ttl_secs: i64,
    },
    /// Make a new issuer key; the old one is retired and still verifies old books.
    RotateKeys,
    /// Mark an issuer key compromised: devices refuse its books from `--since` (default now)
    /// once they pull the new keyring, and every live book under it is reissued under the
    /// active key (a new one if the compromised key was active).
    CompromiseKey {
        /// The key id, 8 hex digits, as listed by `GET /api/v1/keys`.
        kid: String,
        /// Unix time the compromise took effect.
        #[arg(long)]
        since: Option<u32>,
        /// Only mark the key; reissue later (`POST /api/v1/keys/{kid}/compromise`).
        #[arg(long)]
        no_reissue: bool,
    },
    /// Copy the live SQLite database to a new file (for PostgreSQL use pg_dump, see docs).
    Backup {
        /// Destination file; must not exist.
        path: PathBuf,
    },
    /// Replace the SQLite database with a backup; run with the server stopped.
    Restore {
        /// Backup file made by `backup`.
        path: PathBuf,
    },
}

/// The named sizes of `demo`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DemoScale {
    Small,
    Large,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref()).context("loading configuration")?;
    tracing::info!(database = %config.database_url, bind = %config.bind, "configuration");
    match cli.command {
        Command::Serve => {
            let store = open(&config).await?;
            run(store, config).await
        }
        Command::Demo {
            scale,
            customers,
            couriers,
            days,
        } => {
            let base = match scale {
                DemoScale::Small => demo::Scale::DEMO,
                DemoScale::Large => demo::Scale::LARGE,
            };
            let scale = demo::Scale {
                customers: customers.unwrap_or(base.customers),
                couriers: couriers.unwrap_or(base.couriers),
                days: days.unwrap_or(base.days),
            };
            if config.master_key.is_none() {
                let key = MasterKey::from_bytes(shuipiao_server::random::bytes::<32>());
                eprintln!(
                    "no SHUIPIAO_MASTER_KEY set; the demo uses a fresh one. To serve this database again:\n  export SHUIPIAO_MASTER_KEY={}",
                    key.to_hex()
                );
                config.master_key = Some(key);
            }
            let store = open(&config).await?;
            let master = config.require_master_key()?.clone();
            // The demo makes the keys itself, dated from the start of the history it invents;
            // serving makes them on a database that already holds data.
            if store.products().await?.is_empty() {
                let started = std::time::Instant::now();
                let summary = demo::fill_scaled(&store, &master, unix_now(), scale, &mut |line| {
                    eprintln!("{line}")
                })
                .await
                .context("filling demo data")?;
                eprintln!(
                    "{summary}demo filled in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            } else {
                eprintln!(
                    "the database already holds data: serving it without adding the demo set"
                );
            }
            run(store, config).await
        }
        Command::CreateAdmin { username } => {
            let password = read_password("SHUIPIAO_ADMIN_PASSWORD", &username)?;
            let store = open(&config).await?;
            let request = UserRequest {
                username: &username,
                password: &password,
                role: Role::Admin,
                account_id: None,
                region_id: None,
                outlet_id: None,
            };
            let created =
                accounts::create_user(&store, &request, Actor::COMMAND_LINE, unix_now()).await?;
            println!(
                "admin {} created (id {})",
                created.spec.username, created.id.0
            );
            Ok(())
        }
        Command::ResetPassword { username } => {
            let store = open(&config).await?;
            let user = store
                .user_by_name(&username)
                .await
                .with_context(|| format!("no user {username}"))?;
            let password = read_password("SHUIPIAO_NEW_PASSWORD", &username)?;
            auth::credentials::reset_staff(&store, None, &user, &password, unix_now()).await?;
            println!("new password set for {username}; their sessions have ended");
            Ok(())
        }
        Command::EnrollCode { username, ttl_secs } => {
            let store = open(&config).await?;
            let user = store
                .user_by_name(&username)
                .await
                .with_context(|| format!("no user {username}"))?;
            let issued =
                enrollment::create_code(&store, user.id, ttl_secs, None, unix_now()).await?;
            println!("{}", issued.code);
            eprintln!("valid until unix time {}", issued.expires_at);
            Ok(())
        }
        Command::RotateKeys => {
            let store = open(&config).await?;
            let master = config.require_master_key()?;
            keys::ensure(&store, master, unix_now()).await?;
            let row = keys::rotate_issuer(&store, master, None, unix_now()).await?;
            println!(
                "new issuer key {}",
                data_encoding::HEXLOWER.encode(&row.kid)
            );
            Ok(())
        }
        Command::CompromiseKey {
            kid,
            since,
            no_reissue,
        } => {
            let kid_bytes = keys::parse_kid(&kid).context("the key id must be 8 hex digits")?;
            let store = open(&config).await?;
            let master = config.require_master_key()?;
            let now = unix_now();
            let since = since.unwrap_or_else(|| u32::try_from(now.max(0)).unwrap_or(u32::MAX));
            keys::mark_compromised(&store, master, kid_bytes, since, None, now).await?;
            println!("key {kid} compromised from unix time {since}");
            if !no_reissue {
                let books =
                    issuance::reissue_compromised(&store, master, kid_bytes, None, now).await?;
                println!("reissued {} books under the active key", books.len());
            }
            Ok(())
        }
        Command::Backup { path } => {
            let store = open(&config).await?;
            if store.backend() == Backend::Postgres {
                bail!(
                    "for PostgreSQL use: pg_dump --format=custom --file=BACKUP \"$SHUIPIAO_DATABASE_URL\""
                );
            }
            let dest = path.to_str().context("backup path must be UTF-8")?;
            store.backup_to(dest).await?;
            println!("backup written to {}", path.display());
            Ok(())
        }
        Command::Restore { path } => restore(&config, &path).await,
    }
}

/// A password from the environment variable `var`, else typed on stdin.
fn read_password(var: &str, username: &str) -> Result<String> {
    if let Ok(password) = std::env::var(var) {
        return Ok(password);
    }
    eprintln!("password for {username}:");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn open(config: &Config) -> Result<Store> {
    Store::connect(&config.database_url)
        .await
        .with_context(|| format!("opening database {}", config.database_url))
}

async fn run(store: Store, config: Config) -> Result<()> {
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!(
        "Shuipiao server listening on {scheme}://{}",
        listener.local_addr()?
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve_store(store, config, listener, shutdown).await?;
    Ok(())
}

/// Checks the backup opens as a Shuipiao database, then copies it over the configured file.
async fn restore(config: &Config, backup: &std::path::Path) -> Result<()> {
    if config.database_url.backend()? != Backend::Sqlite {
        bail!("for PostgreSQL use: pg_restore --clean --dbname=\"$SHUIPIAO_DATABASE_URL\" BACKUP");
    }
    let target = config
        .database_url
        .expose()
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let check_url =
        shuipiao_server::config::DatabaseUrl::new(format!("sqlite://{}", backup.display()));
    let check = Store::connect(&check_url)
        .await
        .context("the backup does not open as a database")?;
    check.ping().await?;
    drop(check);
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{target}{suffix}"));
    }
    std::fs::copy(backup, &target)
        .with_context(|| format!("copying {} to {target}", backup.display()))?;
    println!("restored {} to {target}", backup.display());
    Ok(())
}
