#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need. Idempotent: when every package is
# already installed it does nothing, so it is cheap to run before each test run.
set -euo pipefail

packages=(
    build-essential pkg-config   # C toolchain for -sys crates (SQLCipher, ring)
    postgresql                   # throw-away cluster for the PostgreSQL store tests
    libclang-dev libv4l-dev      # the courier engine's `camera` feature (nokhwa, bindgen)
    chromium chromium-driver fonts-noto-cjk  # web page tests in headless Chromium, CJK fonts
    libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev webkit2gtk-driver xvfb xauth  # courier app: Tauri 2 stack and its window test
    libdbus-1-dev gnome-keyring dbus  # courier `keystore` feature (Secret Service) and its tests' real keyring daemon
    curl python3-venv            # the API contract run: schemathesis in a virtualenv against the demo
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
