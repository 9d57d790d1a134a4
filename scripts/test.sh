#!/usr/bin/env bash
# The test command (README and .ci/run both run this): start every real server the
# integration tests use, run the whole suite, stop the servers.
#   bash scripts/test.sh [deno test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v deno >/dev/null || { echo "test: deno not found; install it with: npm install -g deno@2.9.6" >&2; exit 1; }
command -v git >/dev/null || { echo "test: git not found" >&2; exit 1; }
export TRUNKS_TEST_STATE=${TRUNKS_TEST_STATE:-$(mktemp -d /tmp/trunks-servers-XXXXXX)}
trap 'bash scripts/test-servers.sh down all >/dev/null 2>&1 || true' EXIT
trap 'exit 130' INT TERM
servers=$(bash scripts/test-servers.sh list | tr '\n' ' ')
if [ -n "$servers" ]; then
  # shellcheck disable=SC2086
  eval "$(bash scripts/test-servers.sh up $servers | sed 's/^/export /')"
fi
deno test -A --parallel "${@:-tests/}"
