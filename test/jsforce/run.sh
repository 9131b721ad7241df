#!/usr/bin/env bash
# Runs the jsforce compatibility suite against a freshly built emulator.
#
#   bash test/jsforce/run.sh            (from anywhere; needs go, node >= 20, npm, curl, python3)
#
# Installs jsforce from package-lock.json (npm ci), builds ./cmd/connector,
# starts `connector emulator` on a free loopback port, runs `node --test` with
# EMULATOR_URL pointing at it, and stops the emulator on exit. Exits with the
# test runner's status.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/jsforce-compat.XXXXXX")"
BIN="$WORK_DIR/connector"
LOG="$WORK_DIR/emulator.log"
EMU_PID=""

cleanup() {
  local status=$?
  if [[ -n "$EMU_PID" ]] && kill -0 "$EMU_PID" 2>/dev/null; then
    kill "$EMU_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$EMU_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$EMU_PID" 2>/dev/null || true
    wait "$EMU_PID" 2>/dev/null || true
  fi
  if [[ $status -ne 0 && -s "$LOG" ]]; then
    echo "---- emulator log (last 60 lines) ----" >&2
    tail -n 60 "$LOG" >&2 || true
    echo "--------------------------------------" >&2
  fi
  rm -rf "$WORK_DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> npm ci (test/jsforce)"
(cd "$SCRIPT_DIR" && npm ci --no-audit --no-fund)

echo "==> go build ./cmd/connector"
(cd "$REPO_ROOT" && go build -o "$BIN" ./cmd/connector)

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
URL="http://127.0.0.1:$PORT"

echo "==> starting emulator on $URL (log: $LOG)"
"$BIN" emulator --addr "127.0.0.1:$PORT" >"$LOG" 2>&1 &
EMU_PID=$!

# Wait up to ~30 s for the port to answer any HTTP request.
up=""
for _ in $(seq 1 150); do
  if ! kill -0 "$EMU_PID" 2>/dev/null; then
    echo "emulator exited before it answered on $URL" >&2
    exit 1
  fi
  if curl -s -o /dev/null --max-time 1 "$URL/"; then
    up=1
    break
  fi
  sleep 0.2
done
if [[ -z "$up" ]]; then
  echo "emulator did not answer on $URL within 30 s" >&2
  exit 1
fi

echo "==> node --test (EMULATOR_URL=$URL)"
set +e
(cd "$SCRIPT_DIR" && EMULATOR_URL="$URL" node --test)
TEST_STATUS=$?
set -e
exit "$TEST_STATUS"
