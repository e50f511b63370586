#!/usr/bin/env bash
# Runs every test of the workspace the way CI does: installs the system packages, starts a
# throw-away PostgreSQL so the store contract suite runs against both backends, prepares the
# courier app's window test (Xvfb, tauri-driver), then runs `cargo nextest run --workspace`, the
# API contract run (scripts/api-contract.sh) and the feature suites (camera; keystore inside its
# own D-Bus session with a real gnome-keyring).
# Extra arguments go to nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

pg_dir=$(mktemp -d)
keyring_dir=$(mktemp -d)
trap 'bash scripts/pg-cluster.sh stop "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$pg_dir" "$keyring_dir"' EXIT
SHUIPIAO_TEST_PG_URL=$(bash scripts/pg-cluster.sh start "$pg_dir")
export SHUIPIAO_TEST_PG_URL
echo "PostgreSQL for tests: $SHUIPIAO_TEST_PG_URL" >&2

source scripts/courier-app-window-env.sh
"${window_display[@]}" cargo nextest run --workspace --profile ci "$@"
check_window_screenshots
# The JSON API against its OpenAPI document: schemathesis, every check, against the demo plant.
bash scripts/api-contract.sh
# The real-camera source is behind a feature (it needs V4L headers); with no camera attached its
# test checks that opening one fails with a clear error instead of a panic.
cargo nextest run -p shuipiao-courier --features camera --profile ci --test camera "$@"
# The database key in the platform keystore, against a real Secret Service: a D-Bus session of its
# own with gnome-keyring and a throw-away login keyring, unlocked. The main run leaves these tests
# out (.config/nextest.toml); a daemon that does not start fails the run.
XDG_DATA_HOME="$keyring_dir" XDG_RUNTIME_DIR="$keyring_dir" dbus-run-session -- sh -c '
    printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
        || { echo "gnome-keyring-daemon did not start: keystore tests cannot run" >&2; exit 1; }
    exec cargo nextest run -p shuipiao-courier --features keystore --profile ci \
        --ignore-default-filter -E "binary_id(shuipiao-courier::keystore)" "$@"' sh "$@"
