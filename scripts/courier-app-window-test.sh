#!/usr/bin/env bash
# Runs only the courier app's window test: the app in a real window under Xvfb, driven over
# WebDriver against a real shuipiao-server on loopback (courier-app/src-tauri/tests/window.rs).
# Screenshots of every screen go to target/screenshots/courier-app/ (or $SHUIPIAO_SCREENSHOT_DIR).
# scripts/test-all.sh runs the same test inside the whole suite. Extra arguments go to nextest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
source scripts/courier-app-window-env.sh
# The test starts the shuipiao-server binary it finds beside itself (or SHUIPIAO_SERVER_BIN).
[ -n "${SHUIPIAO_SERVER_BIN:-}" ] || cargo build -p shuipiao-server --bin shuipiao-server
"${window_display[@]}" cargo nextest run -p shuipiao-courier-app --test window --no-capture "$@"
check_window_screenshots
