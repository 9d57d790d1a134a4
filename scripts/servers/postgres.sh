# PostgreSQL from the distribution's packages: a throwaway cluster (initdb in a temp
# dir) on 127.0.0.1:PORT, run as an unprivileged user (the server refuses root).
PG_USER=trunks
# A fixed password for a loopback-only throwaway cluster (not a secret).
PG_PASSWORD=trunks-test-password
PG_DB=trunks_test
PG_OS_USER=postgres

pg_bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null && dirname "$(readlink -f "$(command -v initdb)")" && return 0
  return 1
}

install() {
  pg_bindir >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "postgres: not installed; run: sudo apt-get install postgresql"
  (apt-get install -y postgresql || { apt-get update && apt-get install -y postgresql; }) >&2
  pg_bindir >/dev/null
}

# as_pg CMD...: run as the unprivileged server user when we are root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u "$PG_OS_USER" -- "$@"; else "$@"; fi
}

start() {
  local dir=$1 port=$2 bin data
  bin=$(pg_bindir)
  if [ "$(id -u)" = 0 ] && ! id "$PG_OS_USER" >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin "$PG_OS_USER"
  fi
  # Outside $dir: the state dir may be private to root, and the server user needs its data.
  data=$(mktemp -d /tmp/trunks-pg-XXXXXX)
  echo "$data" >"$dir/datadir"
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$data"
  printf '%s\n' "$PG_PASSWORD" >"$data/pwfile"
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$data/pwfile"
  as_pg "$bin/initdb" -D "$data/db" -U "$PG_USER" --pwfile="$data/pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; return 1; }
  rm -f "$data/pwfile"
  # TLS with a throwaway CA, so sslmode=require / verify-full are tested for real.
  make_certs "$data" || return 1
  [ "$(id -u)" = 0 ] && chown "$PG_OS_USER" "$data/server.key" "$data/server.crt"
  # Throwaway data: durability settings off for speed.
  local server=("$bin/postgres" -D "$data/db" -h 127.0.0.1 -p "$port" -k "$data"
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200
    -c ssl=on -c "ssl_cert_file=$data/server.crt" -c "ssl_key_file=$data/server.key")
  if [ "$(id -u)" = 0 ]; then
    run_bg "$dir" runuser -u "$PG_OS_USER" -- "${server[@]}"
  else
    run_bg "$dir" "${server[@]}"
  fi
  wait_port "$port" 60 || return 1
  local i
  for ((i = 0; i < 100; i++)); do
    as_pg "$bin/psql" -h "$data" -p "$port" -U "$PG_USER" -d postgres -qAtc 'select 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  as_pg "$bin/psql" -h "$data" -p "$port" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $PG_DB" >&2 ||
    return 1
  cat >"$dir/env" <<ENV
TRUNKS_TEST_PG_URL=postgres://$PG_USER@127.0.0.1:$port/$PG_DB
TRUNKS_TEST_PG_PASSWORD=$PG_PASSWORD
TRUNKS_TEST_PG_CA=$dir/ca.crt
ENV
  cp "$data/ca.crt" "$dir/ca.crt"
}

# make_certs DIR: ca.crt, and server.crt/server.key for 127.0.0.1 and localhost signed by it.
make_certs() {
  local d=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=trunks test CA" \
    -keyout "$d/ca.key" -out "$d/ca.crt" >/dev/null 2>&1 || return 1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$d/server.key" -out "$d/server.csr" >/dev/null 2>&1 || return 1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 2 -extfile "$d/san.ext" -out "$d/server.crt" >/dev/null 2>&1 || return 1
  chmod 600 "$d/server.key"
}

stop() {
  local dir=$1 data
  data=$(cat "$dir/datadir" 2>/dev/null) || return 0
  [ -n "$data" ] && [ -d "$data/db" ] && as_pg "$(pg_bindir)/pg_ctl" -D "$data/db" stop -m immediate >/dev/null 2>&1
  case "$data" in /tmp/trunks-pg-*) rm -rf "$data" ;; esac
}
