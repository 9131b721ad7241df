#!/usr/bin/env bash
# The end-to-end benchmark of `connector run` (see main.go): the real binary
# against `connector kafka` and `connector emulator`, with a raw consume of
# the same topic as the reference. Not part of .ci/run: a run of 1,000,000
# events takes minutes.
#
#   bash test/bench/run.sh                                                    # 200,000 events, 3 runs
#   BULKSTREAM_BENCH_EVENTS=200000,1000000 BULKSTREAM_BENCH_RUNS=2 bash test/bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run -tags bench ./test/bench
