#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests (scale-out workers, heartbeats).
#   .ci/postgres.sh start DIR PORT   -> prints the URL; the server's pid is in DIR/data/postmaster.pid
#   .ci/postgres.sh restart DIR PORT [SECONDS]  -> stops the server (fast: sessions cut), waits, starts it again
#   .ci/postgres.sh stop DIR
# Installs Debian's postgresql when its binaries are missing. Runs the server as the 'postgres' user when
# called as root (PostgreSQL refuses to run as root).
set -euo pipefail
cmd=$1 dir=$2
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] && [ "$cmd" = start ]; then
  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql) >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
serve() {
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c unix_socket_directories=$dir -p $1 -c max_connections=200" start >/dev/null
}
case "$cmd" in
  start)
    port=$3
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U g2l --auth=trust >/dev/null
    serve "$port"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U g2l g2l_test
    echo "postgresql://g2l@127.0.0.1:$port/g2l_test"
    ;;
  restart)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    sleep "${4:-0}"
    serve "$3"
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start DIR PORT | restart DIR PORT [SECONDS] | stop DIR" >&2; exit 2 ;;
esac
