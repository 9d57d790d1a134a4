# fake-gcs-server (a Google Cloud Storage emulator), built with `go install`.
FAKE_GCS_VERSION=v1.56.1
FAKE_GCS_BUCKET=trunks-test

install() {
  local bin="$GOBIN/fake-gcs-server" stamp="$GOBIN/.fake-gcs-server.version"
  [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$FAKE_GCS_VERSION" ] && return 0
  if ! command -v go >/dev/null; then
    if [ -x /usr/local/go/bin/go ]; then
      PATH="/usr/local/go/bin:$PATH"
    else
      apt-get update && apt-get install -y golang-go
    fi
  fi
  mkdir -p "$GOBIN"
  # A few minutes the first time; cached in $GOBIN afterwards. An older go fetches the
  # toolchain the module asks for from the Go proxy.
  GOTOOLCHAIN=${GOTOOLCHAIN:-auto} go install "github.com/fsouza/fake-gcs-server@$FAKE_GCS_VERSION" >&2
  echo "$FAKE_GCS_VERSION" >"$stamp"
}

start() {
  local dir=$1 port=$2 endpoint
  endpoint="http://127.0.0.1:$port"
  mkdir -p "$dir/data"
  run_bg "$dir" "$GOBIN/fake-gcs-server" -scheme http -host 127.0.0.1 -port "$port" \
    -backend filesystem -filesystem-root "$dir/data" -public-host "127.0.0.1:$port" -log-level warn
  wait_port "$port" 60 || return 1
  python3 - "$endpoint" "$FAKE_GCS_BUCKET" <<'PY' || return 1
import json, sys, urllib.error, urllib.request
endpoint, bucket = sys.argv[1], sys.argv[2]
req = urllib.request.Request(f"{endpoint}/storage/v1/b", data=json.dumps({"name": bucket}).encode(),
                             headers={"content-type": "application/json"}, method="POST")
try:
    urllib.request.urlopen(req, timeout=30).read()
except urllib.error.HTTPError as e:
    if e.code != 409:
        sys.exit(f"fake-gcs: creating bucket: {e.code} {e.read()!r}")
PY
  cat >"$dir/env" <<ENV
TRUNKS_TEST_GCS_ENDPOINT=$endpoint
TRUNKS_TEST_GCS_BUCKET=$FAKE_GCS_BUCKET
ENV
}
