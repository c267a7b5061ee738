#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the postgres-marked tests and print its URL on
# stdout (everything else goes to stderr), so: export AUTODS_PG_URL=$(bash .ci/start-postgres.sh)
# Re-running while it is up just prints the URL again. Stop it with: pg_ctl -D <dir>/data stop
set -euo pipefail
PORT="${AUTODS_PG_PORT:-55432}"
DB=autods_test
URL="postgresql+psycopg://postgres@127.0.0.1:${PORT}/${DB}"

bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  echo "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; run .ci/system-deps.sh as root" >&2
  exit 2
fi

# The server refuses to run as root, so as root we run it as the Debian 'postgres' user.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  echo "PostgreSQL already listening on port $PORT" >&2
else
  dir="$(mktemp -d /tmp/autods-pg.XXXXXX)"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 >&2
  # Unix socket in the temp dir: /var/run/postgresql may not exist or be writable.
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $PORT -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >&2
  echo "PostgreSQL data in $dir/data (log: $dir/server.log)" >&2
fi

if ! as_pg "$bin/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB" >&2
fi
echo "$URL"
