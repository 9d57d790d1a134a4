# Shared by scripts/test-servers.sh and every scripts/servers/<name>.sh.
#
# A server file defines:
#   install            make the binary available (cached under $TRUNKS_CACHE); idempotent
#   start DIR PORT     start in the background with data in DIR on 127.0.0.1:PORT; write the
#                      pid to DIR/pid (or use run_bg) and the env lines to DIR/env
# and may define `stop DIR` when killing the pid is not enough.
TRUNKS_TEST_STATE=${TRUNKS_TEST_STATE:-/tmp/trunks-test-servers}
TRUNKS_CACHE=${TRUNKS_CACHE:-$HOME/.cache/trunks-test}
export TRUNKS_TEST_STATE TRUNKS_CACHE
export GOBIN="$TRUNKS_CACHE/bin"
export PATH="$GOBIN:$PATH"

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() { printf 'test-servers: error: %s\n' "$*" >&2; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port=$1 secs=${2:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# run_bg DIR CMD...: start CMD detached, logging to DIR/log, pid in DIR/pid.
run_bg() {
  local dir=$1
  shift
  setsid "$@" >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

# A server that died is a zombie until something reaps it, and some sandboxes' init never
# does: kill -0 still succeeds on a zombie, so its state is read too.
server_running() {
  local dir="$TRUNKS_TEST_STATE/$1" pid state
  [ -f "$dir/pid" ] && [ -f "$dir/env" ] || return 1
  pid=$(cat "$dir/pid")
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
  [ "$state" != Z ]
}

server_up() {
  local n=$1 dir="$TRUNKS_TEST_STATE/$1" port
  rm -rf "$dir"
  mkdir -p "$dir"
  log "$n: installing (cached in $TRUNKS_CACHE)"
  mkdir -p "$TRUNKS_CACHE"
  # Several test runs may share the cache; one installs while the others wait, so none
  # sees (or removes) a half-made install.
  (flock 9 && install) 9>"$TRUNKS_CACHE/.install-$n.lock" || die "$n: install failed"
  port=$(free_port)
  log "$n: starting on 127.0.0.1:$port"
  start "$dir" "$port" || { tail -n 30 "$dir/log" >&2 2>/dev/null; die "$n: did not start"; }
  [ -f "$dir/env" ] || die "$n: start wrote no env"
}

server_down() {
  local n=$1 dir="$TRUNKS_TEST_STATE/$1"
  [ -d "$dir" ] || return 0
  if [ -f "$here/servers/$n.sh" ]; then
    # shellcheck disable=SC1090
    ( . "$here/servers/$n.sh"; if declare -F stop >/dev/null; then stop "$dir"; fi ) || true
  fi
  if [ -f "$dir/pid" ]; then
    local pid
    pid=$(cat "$dir/pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  log "$n: stopped"
}
