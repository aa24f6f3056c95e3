#!/usr/bin/env bash
# Start a private PostgreSQL cluster on a loopback port for the durable-run tests, then print
# the variables the tests read (eval "$(.ci/postgres.sh)"). Idempotent and quick: it installs
# Debian's postgresql package only when missing, and reuses a cluster that is already up.
set -euo pipefail
PORT="${FLOWKIT_TEST_POSTGRES_PORT:-54329}"
DATA="${FLOWKIT_TEST_POSTGRES_DATA:-/tmp/flowkit-ci-postgres}"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >&2
    BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
as_postgres() {
    if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
if [ ! -f "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    as_postgres "'$BIN/initdb' -D '$DATA' -U postgres --auth=trust -E UTF8 >/dev/null"
fi
# authentication_timeout: a client that connects while the server shuts down (the restart
# fault test does) holds a child that waits this long for its startup packet, and the
# postmaster waits for that child: at the default 1 min, pg_ctl stop -w gives up first.
if ! as_postgres "'$BIN/pg_ctl' -D '$DATA' status" >/dev/null 2>&1; then
    as_postgres "'$BIN/pg_ctl' -D '$DATA' -l '$DATA/server.log' -w -t 30 \
        -o '-c listen_addresses=127.0.0.1 -p $PORT -k /tmp -c fsync=off \
        -c authentication_timeout=5s' start" >&2
fi
echo "export FLOWKIT_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "export FLOWKIT_TEST_POSTGRES_DATA=$DATA"
echo "export FLOWKIT_TEST_POSTGRES_BIN=$BIN"
