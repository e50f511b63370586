//! The workspace binaries as child processes, for the crash tests: `shuipiao-server serve` on
//! 127.0.0.1:0 (killed with SIGKILL mid-push and started again on the same database), and the
//! `shuipiao-courier` CLI (killed at random points of a scan or a sync); and for the demo a
//! newcomer runs: `shuipiao-server demo` and `enroll-code`.
//!
//! Integration tests only get `CARGO_BIN_EXE_*` for their own package, so the binaries are
//! looked up beside the test executable's target directory; `cargo nextest run --workspace` (and
//! CI) builds them. `SHUIPIAO_SERVER_BIN` / `SHUIPIAO_COURIER_BIN` override the lookup.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::server::{ADMIN, PASSWORD, master_key_hex};
use shuipiao_test_support::TestDb;

/// Path of a workspace binary built into the same target directory as this test.
///
/// # Panics
/// When the binary is not there, with the command that builds it.
pub fn workspace_binary(name: &str, override_var: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(override_var) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let candidates: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(3)
        .map(|dir| dir.join(name))
        .collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "binary `{name}` not found (looked at {candidates:?}). Build it first: \
                 `cargo build --bin {name}` with the same CARGO_TARGET_DIR and profile \
                 (`cargo nextest run --workspace` builds every binary), or set {override_var}"
            )
        })
}

/// The `shuipiao-server` binary.
pub fn server_binary() -> PathBuf {
    workspace_binary("shuipiao-server", "SHUIPIAO_SERVER_BIN")
}

/// The `shuipiao-courier` binary.
pub fn courier_binary() -> PathBuf {
    workspace_binary("shuipiao-courier", "SHUIPIAO_COURIER_BIN")
}

fn server_command(db: &TestDb) -> Command {
    let mut command = Command::new(server_binary());
    command
        .env("SHUIPIAO_DATABASE_URL", db.url.expose())
        .env("SHUIPIAO_MASTER_KEY", master_key_hex())
        .env("SHUIPIAO_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "error")
        .env_remove("SHUIPIAO_CONFIG")
        .stdin(Stdio::null());
    command
}

/// Makes the first admin with `shuipiao-server create-admin`.
pub async fn create_admin(db: &TestDb) {
    let output = server_command(db)
        .args(["create-admin", "--username", ADMIN])
        .env("SHUIPIAO_ADMIN_PASSWORD", PASSWORD)
        .output()
        .await
        .expect("run shuipiao-server create-admin");
    assert!(
        output.status.success(),
        "shuipiao-server create-admin failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A one-time enrollment code for `username`'s phone, from `shuipiao-server enroll-code`.
pub async fn enroll_code(db: &TestDb, username: &str) -> String {
    let output = server_command(db)
        .args(["enroll-code", "--username", username])
        .output()
        .await
        .expect("run shuipiao-server enroll-code");
    assert!(
        output.status.success(),
        "shuipiao-server enroll-code --username {username} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("the code is UTF-8")
        .trim()
        .to_owned()
}

/// `shuipiao-server serve` (or `demo`) as a child process.
pub struct ServerProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://` URL.
    pub url: String,
    child: Child,
    /// The config file it was started with, kept until it stops.
    _config: Option<tempfile::NamedTempFile>,
}

impl ServerProcess {
    /// Starts serving `db` on 127.0.0.1:0 and waits until it answers.
    pub async fn start(db: &TestDb) -> ServerProcess {
        ServerProcess::run(db, &["serve"], None, Stdio::inherit()).await
    }

    /// [`ServerProcess::start`] with a config file holding `config` (TOML, e.g. a `[notify]`
    /// section pointing at a test's gateway); the environment still sets database, key and bind.
    pub async fn start_with_config(db: &TestDb, config: &str) -> ServerProcess {
        let mut file = tempfile::NamedTempFile::new().expect("a temporary config file");
        std::io::Write::write_all(&mut file, config.as_bytes()).expect("write the config file");
        ServerProcess::run(db, &["serve"], Some(file), Stdio::inherit()).await
    }

    /// `shuipiao-server demo`: fills the empty `db` with the demo plant, as a newcomer's first
    /// command does, then serves it like [`ServerProcess::start`].
    pub async fn demo(db: &TestDb) -> ServerProcess {
        ServerProcess::run(db, &["demo"], None, Stdio::inherit()).await
    }

    /// `shuipiao-server demo ARGS…` (a scale, say), then serves like [`ServerProcess::start`];
    /// also returns what the demo wrote to stderr before serving: its progress and summary.
    pub async fn demo_with(db: &TestDb, args: &[&str]) -> (ServerProcess, Vec<String>) {
        let mut command = vec!["demo"];
        command.extend_from_slice(args);
        let mut server = ServerProcess::run(db, &command, None, Stdio::piped()).await;
        let stderr = server.child.stderr.take().expect("server stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut said = Vec::new();
        while let Some(line) = lines.next_line().await.expect("read server stderr") {
            let done = line.starts_with("demo filled in");
            said.push(line);
            if done {
                break;
            }
        }
        // Keep draining, so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        (server, said)
    }

    async fn run(
        db: &TestDb,
        args: &[&str],
        config: Option<tempfile::NamedTempFile>,
        stderr: Stdio,
    ) -> ServerProcess {
        let mut command = server_command(db);
        if let Some(config) = &config {
            command.env("SHUIPIAO_CONFIG", config.path());
        }
        let mut child = command
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .expect("start shuipiao-server serve");
        let stdout = child.stdout.take().expect("server stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next_line()
                .await
                .expect("read server stdout")
                .unwrap_or_else(|| panic!("shuipiao-server exited before listening"));
            if let Some(rest) = line.split("http://").nth(1) {
                break rest
                    .trim()
                    .parse::<SocketAddr>()
                    .unwrap_or_else(|e| panic!("listening line {line:?}: {e}"));
            }
        };
        let url = format!("http://{addr}");
        crate::server::wait_until_healthy(&url).await;
        ServerProcess {
            addr,
            url,
            child,
            _config: config,
        }
    }

    /// SIGKILL, then reap.
    pub async fn kill(mut self) {
        self.child.start_kill().expect("SIGKILL the server");
        self.child.wait().await.expect("reap the server");
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// A `shuipiao-courier` command on the device database `db`, printing JSON.
pub fn courier_command(db: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(courier_binary());
    command
        .arg("--db")
        .arg(db)
        .arg("--json")
        .env_remove("SHUIPIAO_COURIER_DB");
    command
}

/// Enrolls the `shuipiao-courier` device database `db` at `server_url` with a one-time `code`,
/// as `shuipiao-courier enroll` typed by hand does.
pub fn enroll_courier(db: &Path, server_url: &str, code: &str, name: &str) {
    let output = courier_command(db)
        .args([
            "enroll", "--server", server_url, "--code", code, "--name", name,
        ])
        .output()
        .expect("run shuipiao-courier enroll");
    assert!(
        output.status.success(),
        "shuipiao-courier enroll: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
