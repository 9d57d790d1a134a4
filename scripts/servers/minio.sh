# MinIO, built from source with the Go toolchain (cached), single drive on 127.0.0.1:PORT.
# The Go module proxy serves MinIO only as pseudo-versions (its RELEASE.* tags are not
# semver); this one is the upstream master commit of 2026-02-12.
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_USER=trunks-test
# A fixed credential for a loopback-only throwaway server (not a secret).
MINIO_PASSWORD=trunks-test-secret-key
MINIO_BUCKET=trunks-test

minio_bin() { echo "$TRUNKS_CACHE/minio-$MINIO_VERSION/minio"; }

install() {
  local dir="$TRUNKS_CACHE/minio-$MINIO_VERSION"
  [ -x "$dir/minio" ] && return 0
  command -v go >/dev/null || { apt-get update && apt-get install -y golang-go; }
  log "minio: building $MINIO_VERSION (takes a few minutes, once)"
  mkdir -p "$dir"
  GOBIN="$dir" CGO_ENABLED=0 go install "github.com/minio/minio@$MINIO_VERSION" >&2
  [ -x "$dir/minio" ]
}

start() {
  local dir=$1 port=$2 console
  console=$(free_port)
  mkdir -p "$dir/data"
  run_bg "$dir" env MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD" \
    MINIO_BROWSER=off MINIO_UPDATE=off "$(minio_bin)" server "$dir/data" --quiet \
    --address "127.0.0.1:$port" --console-address "127.0.0.1:$console"
  wait_port "$port" 60 || return 1
  s3_make_bucket "http://127.0.0.1:$port" "$MINIO_USER" "$MINIO_PASSWORD" "$MINIO_BUCKET" || return 1
  cat >"$dir/env" <<ENV
TRUNKS_TEST_MINIO_ENDPOINT=http://127.0.0.1:$port
TRUNKS_TEST_MINIO_ACCESS_KEY=$MINIO_USER
TRUNKS_TEST_MINIO_SECRET_KEY=$MINIO_PASSWORD
TRUNKS_TEST_MINIO_BUCKET=$MINIO_BUCKET
ENV
}

# s3_make_bucket ENDPOINT ACCESS SECRET BUCKET: with the project's own SDK (deno is there).
s3_make_bucket() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  (cd "$root" && S3_ENDPOINT=$1 S3_ACCESS=$2 S3_SECRET=$3 S3_BUCKET=$4 \
    deno run --quiet --allow-env --allow-net=127.0.0.1 --allow-read --allow-sys \
    scripts/servers/s3_bucket.ts)
}
