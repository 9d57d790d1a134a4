#!/usr/bin/env bash
# Real servers for the integration tests: installed (cached) and started on loopback
# by the project, never by hand.
#
#   scripts/test-servers.sh up [NAME...]    install if needed, start, print the env to use
#   scripts/test-servers.sh env             the env of every running server (for eval)
#   scripts/test-servers.sh down [NAME...]  stop them and remove their data
#   scripts/test-servers.sh list            the servers this script knows
#
# Each server is scripts/servers/<name>.sh defining `install` and `start` (see lib.sh).
# State lives in $TRUNKS_TEST_STATE (default /tmp/trunks-test-servers); installs are
# cached in $TRUNKS_CACHE (default ~/.cache/trunks-test), so a second run is fast.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=servers/lib.sh
. "$here/servers/lib.sh"

all_servers() {
  local f
  for f in "$here"/servers/*.sh; do
    f=$(basename "$f" .sh)
    [ "$f" = lib ] || echo "$f"
  done
}

cmd=${1:-}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ] || [ "${names[0]}" = all ]; then mapfile -t names < <(all_servers); fi

case "$cmd" in
  up)
    mkdir -p "$TRUNKS_TEST_STATE"
    for n in "${names[@]}"; do
      [ -f "$here/servers/$n.sh" ] || die "unknown server '$n' (known: $(all_servers | tr '\n' ' '))"
      if server_running "$n"; then
        log "$n: already running"
      else
        ( set -euo pipefail; . "$here/servers/$n.sh"; server_up "$n" )
      fi
      cat "$TRUNKS_TEST_STATE/$n/env"
    done
    ;;
  env)
    for n in "${names[@]}"; do
      if server_running "$n"; then cat "$TRUNKS_TEST_STATE/$n/env"; fi
    done
    ;;
  down)
    for n in "${names[@]}"; do server_down "$n"; done
    ;;
  list)
    all_servers
    ;;
  *)
    die "usage: scripts/test-servers.sh up|env|down|list [NAME...]"
    ;;
esac
