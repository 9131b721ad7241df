#!/usr/bin/env bash
# The org speed benchmark (see orgbench_test.go): `connector run` with its
# default configuration against `connector emulator --org-speed`, its
# throughput as a ratio of the model's capacity. Not part of .ci/run: one run
# of 300,000 events takes a minute and a half.
#
#   bash test/orgbench/run.sh
#   BULKSTREAM_ORGBENCH_EVENTS=150000 bash test/orgbench/run.sh -benchtime 3x
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go test -tags orgbench -run '^$' -bench BenchmarkOrgCapacity -benchtime 1x -timeout 60m "$@" ./test/orgbench/
