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
source "$SCRIPT_DIR/../lib.sh"
lib_work_dir jsforce-compat emulator.log

echo "==> npm ci (test/jsforce)"
(cd "$SCRIPT_DIR" && npm ci --no-audit --no-fund)

lib_build
lib_start_emulator

echo "==> node --test (EMULATOR_URL=$URL)"
set +e
(cd "$SCRIPT_DIR" && EMULATOR_URL="$URL" node --test)
TEST_STATUS=$?
set -e
exit "$TEST_STATUS"
