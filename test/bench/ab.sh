#!/usr/bin/env bash
# Compares a commit with the working tree by the end-to-end benchmark, one
# run of each in turn, since the CPU per event of one binary drifts with the
# hour on a shared VM: only runs side by side compare. Prints each run's
# line, prefixed by base: or new:. Both sides are measured by this tree's
# benchmark (test/bench/main.go is copied into the base's worktree), so a
# change in how the benchmark measures does not pass for a change in the
# connector.
#
#   bash test/bench/ab.sh BASE [PAIRS]    # PAIRS (default 3) runs of each, 1,000,000 events
#   BULKSTREAM_BENCH_EVENTS=200000 bash test/bench/ab.sh BASE
set -euo pipefail
cd "$(dirname "$0")/../.."
base=${1:?usage: bash test/bench/ab.sh BASE-COMMIT [PAIRS]}
pairs=${2:-3}
events=${BULKSTREAM_BENCH_EVENTS:-1000000}
tmp=$(mktemp -d)
git worktree add -q --detach "$tmp/base" "$base"
trap 'git worktree remove --force "$tmp/base"; rm -rf "$tmp"' EXIT
cp test/bench/main.go "$tmp/base/test/bench/main.go"
for _ in $(seq "$pairs"); do
	for side in base new; do
		dir=.
		if [ "$side" = base ]; then dir=$tmp/base; fi
		(cd "$dir" && BULKSTREAM_BENCH_EVENTS=$events BULKSTREAM_BENCH_RUNS=1 go run -tags bench ./test/bench 2>&1 |
			grep ' run 1:' | sed "s/^/$side: /")
	done
done
