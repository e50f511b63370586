#!/usr/bin/env bash
# Checks the JSON API against its own OpenAPI document: starts the demo plant on a throw-away
# SQLite database and runs schemathesis with every check (`--checks all`: status codes, content
# types, response schemas, valid input accepted, invalid input refused, auth not ignored,
# undeclared methods answered 405) over every operation, staff routes as the demo admin and
# device routes as an enrolled device. Examples per operation: SHUIPIAO_API_EXAMPLES (default
# 20). Uses the debug build of shuipiao-server in CARGO_TARGET_DIR (built if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
examples="${SHUIPIAO_API_EXAMPLES:-20}"
venv="$target/tools/schemathesis-4.32.5"
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "schemathesis==4.32.5"
fi
cargo build --quiet -p shuipiao-server --bin shuipiao-server
server="$target/debug/shuipiao-server"

work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
SHUIPIAO_BIND="127.0.0.1:$port" SHUIPIAO_DATABASE_URL="sqlite://$work/demo.db" \
    "$server" demo >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do
    curl -fsS "$base/healthz" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.5
done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() {
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"shuipiao-demo\"}" | json "['token']"
}
admin=$(login admin)
logout=$(login operator)
customer=$(login customer01)
# A device of the demo's first courier. Its key is the public key of RFC 8032's first Ed25519
# test vector: a valid point, so enrollment takes it; schemathesis never signs with it.
courier=$(curl -fsS "$base/api/v1/devices" -H "authorization: Bearer $admin" | json "[0]['user_id']")
code=$(curl -fsS "$base/api/v1/devices/enrollment-codes" -H "authorization: Bearer $admin" \
    -H 'content-type: application/json' -d "{\"user_id\":$courier}" | json "['code']")
device=$(curl -fsS "$base/api/v1/devices/enroll" -H 'content-type: application/json' \
    -d "{\"code\":\"$code\",\"name\":\"api-contract\",\"device_pubkey\":\"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\"}" \
    | json "['device_token']")

SHUIPIAO_API_ADMIN="$admin" SHUIPIAO_API_DEVICE="$device" SHUIPIAO_API_LOGOUT="$logout" \
    SHUIPIAO_API_CUSTOMER="$customer" \
    "$venv/bin/schemathesis" --config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json" \
    --checks all --max-examples "$examples" --seed 1 --no-color
