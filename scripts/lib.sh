# Shared by scripts/dev and scripts/test: install what is missing, start what is
# not running, remember what we started so it can be stopped. Idempotent.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA="$ROOT/.data"
mkdir -p "$DATA"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it yourself, or run as root)"; fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* yourself"
  if [ -z "$APT_UPDATED" ]; then as_root apt-get update -qq >/dev/null; APT_UPDATED=1; fi
  say "installing $* (apt)"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_rust_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || die "cargo fmt/clippy missing and no rustup to add them"
    rustup component add rustfmt clippy
  fi
}

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_postgres_binaries() {
  if [ -z "$(pg_bin_dir)" ] || [ ! -x "$(pg_bin_dir)/initdb" ]; then
    apt_install postgresql postgresql-client
  fi
  command -v psql >/dev/null || apt_install postgresql-client
}

# Runs a command as the owner of the local cluster (initdb refuses root).
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Starts (or reuses) the project-local cluster under .data/pg on $1 (port) and
# sets LOCAL_PG_URL to its superuser URL (database "postgres"). Not to be run
# in a subshell: it records what it started for stop_local_postgres.
LOCAL_PG_STARTED=""
LOCAL_PG_URL=""
start_local_postgres() {
  local port="$1" dir="$DATA/pg" bin
  ensure_postgres_binaries
  bin="$(pg_bin_dir)"
  if [ ! -s "$dir/PG_VERSION" ]; then
    say "creating a project-local Postgres cluster in .data/pg"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
    as_pg_owner "$bin/initdb" -D "$dir" -A trust -U postgres --no-instructions >/dev/null
  fi
  [ "$(id -u)" -eq 0 ] && chown -R postgres:postgres "$dir"
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    say "starting the project-local Postgres on 127.0.0.1:$port"
    as_pg_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
      || { tail -n 20 "$dir/server.log" >&2; die "Postgres did not start"; }
    LOCAL_PG_STARTED="$dir"
  fi
  LOCAL_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

stop_local_postgres() {
  if [ -n "$LOCAL_PG_STARTED" ]; then
    say "stopping the project-local Postgres"
    as_pg_owner "$(pg_bin_dir)/pg_ctl" -D "$LOCAL_PG_STARTED" -m fast -w stop >/dev/null || true
  fi
}

# Exports ACCORD_TEST_DATABASE_URL, a superuser URL to a cluster the tests may
# create databases in: the one already in it, else a server on 127.0.0.1:5432
# that accepts user postgres, else a project-local cluster on 5433.
ensure_test_postgres() {
  if [ -z "${ACCORD_TEST_DATABASE_URL:-}" ]; then
    if command -v psql >/dev/null && psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
      ACCORD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    else
      start_local_postgres 5433
      ACCORD_TEST_DATABASE_URL="$LOCAL_PG_URL"
    fi
  fi
  export ACCORD_TEST_DATABASE_URL
}

ensure_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    apt_install nodejs npm
  fi
}

# npm ci in $1 when its lock file changed since the last install.
npm_ci_if_needed() {
  local dir="$1" stamp="$1/node_modules/.accord-lock-stamp"
  ensure_node
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    say "installing npm packages in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$dir/package-lock.json" "$stamp"
  fi
}
