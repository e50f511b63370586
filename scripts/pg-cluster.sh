#!/usr/bin/env bash
# Throw-away PostgreSQL 15 cluster for tests.
#
#   scripts/pg-cluster.sh start DIR   # initdb + start on a free loopback port; prints the URL
#   scripts/pg-cluster.sh stop DIR    # stop the cluster (DIR can then be deleted)
#
# The URL printed on stdout (postgres://postgres@127.0.0.1:PORT/postgres) is what
# SHUIPIAO_TEST_PG_URL expects. Authentication is `trust` on loopback only: never use this for data.
# initdb refuses to run as root, so as root the cluster runs as the `postgres` user.
set -euo pipefail

usage() {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
action=$1
dir=$2

bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
if [ ! -x "$bindir/initdb" ]; then
    echo "PostgreSQL 15 not found in $bindir: apt-get install -y postgresql (or set PG_BINDIR)" >&2
    exit 1
fi

as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A random high port nothing answers on; pg_ctl fails (and we retry) if it is taken meanwhile.
pick_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

case "$action" in
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir"
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -A trust -U postgres --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
            { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    started=""
    for _attempt in 1 2 3 4 5; do
        port=$(pick_port)
        if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
            -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null; then
            started=yes
            break
        fi
    done
    [ -n "$started" ] || { cat "$dir/log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
*)
    usage
    ;;
esac
