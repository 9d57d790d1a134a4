#!/usr/bin/env bash
# The test command (README and .ci/run both run this): start every real server the
# integration tests use, run the whole suite, stop the servers.
#   bash scripts/test.sh [deno test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v deno >/dev/null || { echo "test: deno not found; install it with: npm install -g deno@2.9.6" >&2; exit 1; }
command -v git >/dev/null || { echo "test: git not found" >&2; exit 1; }

# Every temp dir a test, git or a server makes lands under one run directory that is
# removed at exit, whatever the tests left behind: leaked temp dirs from earlier runs once
# filled the disk until MinIO refused writes (XMinioStorageFull) and CI failed.
run=$(mktemp -d "${TMPDIR:-/tmp}/trunks-test-run-XXXXXX")
mkdir -p "$run/tmp"
own_state=
if [ -z "${TRUNKS_TEST_STATE:-}" ]; then
  export TRUNKS_TEST_STATE="$run/servers"
  own_state=1
fi
cleanup() {
  bash scripts/test-servers.sh down all >/dev/null 2>&1 || true
  if [ -n "$own_state" ]; then rm -rf "$TRUNKS_TEST_STATE" 2>/dev/null || true; fi
  rm -rf "$run" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export TMPDIR="$run/tmp"

# MinIO refuses every write once its drive is about 99% full, and a full disk fails tests
# far from the cause; say so up front instead.
free_kib=$(df -Pk "$TMPDIR" | awk 'NR==2 {print $4}')
if [ -n "$free_kib" ] && [ "$free_kib" -lt $((3 * 1024 * 1024)) ]; then
  echo "test: only $((free_kib / 1024)) MiB free under $TMPDIR; the suite needs about 3 GiB (free space, or set TMPDIR to a roomier disk)" >&2
  exit 1
fi

servers=$(bash scripts/test-servers.sh list | tr '\n' ' ')
if [ -n "$servers" ]; then
  # shellcheck disable=SC2086
  eval "$(bash scripts/test-servers.sh up $servers | sed 's/^/export /')"
fi
rc=0
deno test -A --parallel "${@:-tests/}" || rc=$?
# A server that died mid-run fails every later test that uses it with ECONNREFUSED, far
# from the cause; name it and show the end of its log while the log still exists.
for n in $servers; do
  if ! bash scripts/test-servers.sh env "$n" | grep -q .; then
    echo "test: server $n is not running any more; the end of its log:" >&2
    tail -n 40 "$TRUNKS_TEST_STATE/$n/log" >&2 2>/dev/null || true
    if [ "$rc" = 0 ]; then rc=1; fi
  fi
done
exit "$rc"
