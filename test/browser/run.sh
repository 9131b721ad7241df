#!/usr/bin/env bash
# Browser suite: the operator console of the real `connector run` in
# headless Chromium (Debian's chromium package), driven from Go over CDP
# (chromedp). Screenshots of each page go to test/browser/artifacts (or
# $BROWSER_ARTIFACTS), with the connector's log.
#
#   bash test/browser/run.sh       (from anywhere; installs chromium with apt-get if missing)
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
if ! command -v chromium >/dev/null; then
  apt-get update -qq && apt-get install -y -qq chromium
fi
BIN="$(mktemp -d)/connector"
go -C "$ROOT" build -o "$BIN" ./cmd/connector
export BULKSTREAM_BIN="$BIN"
export CHROMIUM="${CHROMIUM:-$(command -v chromium)}"
export BROWSER_ARTIFACTS="${BROWSER_ARTIFACTS:-$SCRIPT_DIR/artifacts}"
go -C "$SCRIPT_DIR" test -tags browser -count=1 -v ./... 2>&1 | grep -v '^=== RUN'
echo "browser suite: screenshots in $BROWSER_ARTIFACTS"
