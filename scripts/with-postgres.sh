#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server: installs PostgreSQL from Debian's packages
# if it is missing, starts a private cluster on a free loopback port, exports
# NTJP_TEST_DATABASE_URL for the command, and stops and removes the cluster afterwards.
# With NTJP_TEST_DATABASE_URL already set, it just runs the command against that server.
# fsync is off (the tests need no durability); NTJP_PG_FSYNC=on for benchmarks that measure commits.
set -euo pipefail

if [ -n "${NTJP_TEST_DATABASE_URL:-}" ]; then
  exec "$@"
fi

# The server's folder: one with initdb and postgres (the client package alone makes a bin/ with psql).
pg_bin() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return; fi
  done
}

if [ -z "$(pg_bin)" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "with-postgres: installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "with-postgres: PostgreSQL is not installed; install the 'postgresql' package (as root) or set NTJP_TEST_DATABASE_URL" >&2
    exit 1
  fi
fi
BIN=$(pg_bin)
# pgBackRest, for the backup and point-in-time restore tests (docs/operations.md).
if ! command -v pgbackrest >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "with-postgres: installing pgBackRest from Debian's packages" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbackrest >/dev/null
fi

DATA=$(mktemp -d /tmp/ntjp-pg.XXXXXX)
PORT=${NTJP_PG_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
RUN=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$DATA"
  RUN=(runuser -u postgres --)
fi

cleanup() {
  "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA/db" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$DATA"
}
trap cleanup EXIT

"${RUN[@]}" "$BIN/initdb" -D "$DATA/db" -U ntjp --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${RUN[@]}" "$BIN/pg_ctl" -D "$DATA/db" -w -l "$DATA/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=${NTJP_PG_FSYNC:-off} -c max_connections=200 ${NTJP_PG_OPTIONS:-}" start >/dev/null

export NTJP_TEST_DATABASE_URL="postgresql://ntjp@127.0.0.1:$PORT/postgres"
echo "with-postgres: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
"$@"
