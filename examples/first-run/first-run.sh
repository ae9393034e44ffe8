#!/usr/bin/env bash
# A user's first run of healloop on an existing project, step by step as the README's "First run"
# tells it: the fixture project (pytest | playwright-js | cypress) is copied into WORKDIR with its own
# toolchain (a .venv or node_modules of its own, not healloop's), then
#   healloop init, healloop doctor, healloop up, one green suite run, one selector broken by an app
#   change, the failing run reported, the heal committed by the agent, Ctrl-C,
# and it checks that `git status` shows only healloop.toml and .gitignore and that no healloop
# process or service is left running. CI runs it for each fixture (tests/stack/test_first_run.py).
#
#   examples/first-run/first-run.sh KIND WORKDIR
#
# HEALLOOP names the healloop command (default: `healloop` on PATH). Cypress's binary cannot be
# downloaded on these machines, so for `cypress` the script stops after `healloop doctor`.
set -euo pipefail
kind=${1:?usage: first-run.sh pytest|playwright-js|cypress WORKDIR}
work=${2:?usage: first-run.sh KIND WORKDIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
healloop=${HEALLOOP:-healloop}
[ -d "$here/$kind" ] || { echo "first-run.sh: no fixture project named $kind in $here" >&2; exit 2; }
step() { printf '\n== %s\n' "$*"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$work"
project=$(cd "$work" && pwd)/notes
cp -r "$here/$kind" "$project"
cd "$project"
# Test harness only: the fixture's fixed app port (3000, 8000) becomes a free one, so parallel CI
# runs and services already on this machine never collide.
port=$(free_port)
grep -rlE '\b(3000|8000)\b' --exclude-dir=node_modules . | xargs -r sed -i -E "s/\b(3000|8000)\b/$port/g"

step "the project as it was before healloop: its own toolchain, committed"
git init -q -b main
git config user.email "dev@example.com"
git config user.name "Notes Dev"
case $kind in
  pytest)
    python3 -m venv .venv
    # The project's test dependencies, healloop's pytest plugin among them (requirements-dev.txt);
    # healloop itself from this checkout rather than the package index.
    .venv/bin/pip install -q --disable-pip-version-check pytest pytest-playwright "$root" ;;
  playwright-js)
    npm install --no-audit --no-fund --prefer-offline --loglevel=error -D \
      @playwright/test@1.65.1 "$root/integrations/playwright" ;;
  cypress)
    # Cypress's own binary cannot be downloaded here: its npm package only.
    CYPRESS_INSTALL_BINARY=0 npm install --no-audit --no-fund --prefer-offline --loglevel=error -D \
      cypress@13 "$root/integrations/cypress" ;;
esac
git add -A
git commit -qm "notes app and its end-to-end suite"

step "healloop init"
"$healloop" init
step "healloop doctor"
doctor=0
"$healloop" doctor || doctor=$?
if [ "$kind" = cypress ]; then
  echo "cypress: Cypress's binary cannot be downloaded on this machine; stopping after doctor"
  exit 0
fi
[ "$doctor" = 0 ] || { echo "first-run.sh: healloop doctor found a blocking problem" >&2; exit 1; }

# Test harness only: free ports for the queue and the node instead of 8787/8788.
sed -i -E 's/^port = 878[78]/port = 0/' healloop.toml

step "healloop up"
"$healloop" up > "$work/up.log" 2>&1 &
up=$!
cleanup() { kill -TERM "$up" 2>/dev/null || true; wait "$up" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 600); do
  grep -q '^run your suite with:' "$work/up.log" && break
  kill -0 "$up" 2>/dev/null || { cat "$work/up.log"; echo "first-run.sh: healloop up exited" >&2; exit 1; }
  sleep 0.2
done
grep '^run your suite with:' "$work/up.log" || { cat "$work/up.log"; exit 1; }
suite_env=$(sed -n 's/^run your suite with: //p' "$work/up.log")
queue=$(sed -n 's/^.*HEALLOOP_URL=\([^ ]*\).*$/\1/p' <<<"$suite_env")
children=$(ps -o pid= --ppid "$up" | tr '\n' ' ')
service_pids=$(cat .healloop/node/services/*.pid)

suite() {
  case $kind in
    pytest) env $suite_env .venv/bin/python -m pytest -q -p no:cacheprovider ;;
    playwright-js) env $suite_env node_modules/.bin/playwright test ;;
  esac
}

step "the suite passes"
suite

step "an app change renames a test id; the suite fails and reports it"
page=$(git ls-files | grep -E 'index\.html$')
sed -i 's/data-testid="add-note"/data-testid="note-add"/' "$page"
git commit -qm "app: rename the add-note test id" -- "$page"
if suite; then echo "first-run.sh: the suite passed on the broken app" >&2; exit 1; fi

step "healloop heals it"
final=""
for _ in $(seq 900); do
  final=$("$healloop" events list --queue "$queue" --json | python3 -c '
import json, sys
events = json.load(sys.stdin)
if events and all(e["status"] in ("resolved", "escalated") for e in events):
    print(" ".join(e["id"] + "=" + e["status"] for e in events))')
  [ -n "$final" ] && break
  sleep 0.2
done
echo "events: ${final:-none final}"
[[ -n "$final" && "$final" != *escalated* ]] || { cat "$work/up.log"; exit 1; }
git log --format='%h %s%n%b' -1
git log -1 --format=%B | grep -q '^Healloop-Event: ' || { echo "first-run.sh: no heal commit" >&2; exit 1; }
suite

step "stopping healloop up (Ctrl-C, or SIGTERM) stops everything"
trap - EXIT
kill -TERM "$up"   # what Ctrl-C does; a background job of a script ignores SIGINT
wait "$up"
left=""
for pid in $children $service_pids; do
  if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    left="$left $pid"
  fi
done
[ -z "$left" ] || { ps -o pid,args -p ${left// /,}; echo "first-run.sh: left running:$left" >&2; exit 1; }

step "git status shows healloop.toml and .gitignore only"
status=$(git status --porcelain)
echo "$status"
unexpected=$(grep -vE '^(\?\?| M) (healloop\.toml|\.gitignore)$' <<<"$status" || true)
[ -z "$unexpected" ] || { echo "first-run.sh: unexpected changes: $unexpected" >&2; exit 1; }
echo "first run of $kind: healed, committed, clean"
