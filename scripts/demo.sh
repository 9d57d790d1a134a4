#!/usr/bin/env bash
# trunks' main job on the local-disk default, start to finish, in a temp dir:
# install, init a repo, connect a local storage, commit, plain `git push`, then pick
# the work up from a second "sandbox" with nothing but the trunk URL, push from there,
# and pull it back into the first.
set -euo pipefail
repo_root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/trunks-demo-XXXXXX)
export TRUNKS_INSTALL_DIR="$work/bin"
export PATH="$TRUNKS_INSTALL_DIR:$PATH"
export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-trunks demo} GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-demo@trunks.invalid}
export GIT_COMMITTER_NAME=$GIT_AUTHOR_NAME GIT_COMMITTER_EMAIL=$GIT_AUTHOR_EMAIL
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

(cd "$repo_root" && deno run -A scripts/install_local.ts)

step "cd myrepo && trunks init"
git init -q -b main "$work/myrepo"
cd "$work/myrepo"
echo "# myrepo" >README.md && git add . && git commit -qm "initial"
trunks init

step "trunks storage add --name primary --backend local --path $work/store"
trunks storage add --name primary --backend local --path "$work/store"

step "git checkout -b feature/auth && git commit && git push"
git checkout -q -b feature/auth
echo "auth fixed" >auth.txt && git add . && git commit -qm "fix auth"
git push

step "trunks status"
trunks status

url="local://$work/store/trunks/myrepo.trunk"
step "trunks clone $url sandbox2   # another sandbox picks the work up"
cd "$work"
trunks clone "$url" sandbox2
git -C sandbox2 log --oneline --all | cat

step "cd sandbox2 && git commit && git push   # ...and carries on"
cd "$work/sandbox2"
echo "tests added" >auth_test.txt && git add . && git commit -qm "test auth"
git push

step "cd myrepo && trunks pull   # the first sandbox gets it back"
cd "$work/myrepo"
trunks pull -q
git log --oneline | cat

step "trunks status --json   # what agents parse"
trunks status --json

step "find $work/store -maxdepth 3"
find "$work/store" -maxdepth 3 | sed "s|$work/||"
printf '\ndemo finished: everything is under %s\n' "$work"
