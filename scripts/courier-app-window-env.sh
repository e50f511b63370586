# Sourced, not run: prepares the environment of the courier app's window test
# (courier-app/src-tauri/tests/window.rs): tauri-driver in front of Debian's WebKitWebDriver,
# software rendering for WebKitGTK under Xvfb, and where screenshots go. Callers run the tests
# under `xvfb-run`, then `check_window_screenshots`.

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
tools="$target_dir/tools"
if [ ! -x "$tools/bin/tauri-driver" ]; then
    cargo install tauri-driver --locked --version 2.1.0 --root "$tools"
fi
export TAURI_DRIVER="$tools/bin/tauri-driver"

shots="${SHUIPIAO_SCREENSHOT_DIR:-$PWD/target/screenshots/courier-app}"
rm -rf "$shots"
mkdir -p "$shots"
export SHUIPIAO_SCREENSHOT_DIR="$shots"
export SHUIPIAO_WINDOW_TEST=1
# WebKitGTK under Xvfb has no GPU: render in software and without DMA-BUF, or pages stay blank.
export LIBGL_ALWAYS_SOFTWARE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 WEBKIT_DISABLE_COMPOSITING_MODE=1
window_display=(xvfb-run --auto-servernum --server-args="-screen 0 1280x1024x24")

# The window test passes without doing anything when its environment is missing; after a run
# that should have driven it, fewer than 20 screenshots means it did not.
check_window_screenshots() {
    local n_shots
    n_shots=$(find "$shots" -name '*.png' | wc -l)
    if [ "$n_shots" -lt 20 ]; then
        echo "expected 20 screenshots in $shots, found $n_shots: the window test did not run" >&2
        return 1
    fi
    echo "courier app screenshots: $shots" >&2
}
