# s3rver (npm), a fake S3 server that accepts `If-None-Match: *` and overwrites anyway:
# the store `storage ping` must catch ignoring create-exclusive.
S3RVER_VERSION=3.7.1
S3RVER_BUCKET=trunks-test
# s3rver's built-in, fixed credentials.
S3RVER_KEY=S3RVER

install() {
  local dir="$TRUNKS_CACHE/s3rver-$S3RVER_VERSION"
  [ -x "$dir/node_modules/.bin/s3rver" ] && return 0
  command -v node >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
  rm -rf "$dir.tmp"
  npm install --silent --no-audit --no-fund --prefix "$dir.tmp" "s3rver@$S3RVER_VERSION" >&2
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

start() {
  local dir=$1 port=$2
  mkdir -p "$dir/data"
  # Through a launcher that fixes a race which crashed the server (see the file).
  run_bg "$dir" node "$(dirname "${BASH_SOURCE[0]}")/s3rver_launch.cjs" \
    "$TRUNKS_CACHE/s3rver-$S3RVER_VERSION/node_modules/s3rver" \
    --directory "$dir/data" --address 127.0.0.1 --port "$port" --silent \
    --no-vhost-buckets --configure-bucket "$S3RVER_BUCKET"
  wait_port "$port" 60 || return 1
  cat >"$dir/env" <<ENV
TRUNKS_TEST_S3RVER_ENDPOINT=http://127.0.0.1:$port
TRUNKS_TEST_S3RVER_ACCESS_KEY=$S3RVER_KEY
TRUNKS_TEST_S3RVER_SECRET_KEY=$S3RVER_KEY
TRUNKS_TEST_S3RVER_BUCKET=$S3RVER_BUCKET
ENV
}
