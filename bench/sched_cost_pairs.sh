#!/usr/bin/env bash
# Two sovgrid binaries compared on the scheduler's cost, in pairs run one at a
# time (A, B, A, B, ...), because on a shared machine the same binary drifts by
# tens of percent within an hour: only the ratio inside a pair means anything.
# Each run is `simulate` on korea-2027 with drf and a cycle every 60 s, as in
# bench/sched_cost.sh. Prints each run's scheduler CPU, per-decision cost,
# run wall time and peak RSS, then per pair B ÷ A, and fails if the two
# binaries made different numbers of decisions (a change meant to keep the
# schedule must keep them equal).
#
#   bench/sched_cost_pairs.sh OLD_BINARY NEW_BINARY            # 3 pairs, 200,000 jobs
#   JOBS=1000000 PAIRS=2 bench/sched_cost_pairs.sh OLD NEW
#
# Needs jq or python3 to read the JSON. Measures only; figures in docs/benchmarks.md.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
. "$(dirname "$0")/sched_cost_common.sh"
jobs=${JOBS:-200000}
pairs=${PAIRS:-3}
require_executables "$1" "$2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One run of binary $1; prints "scheduler_cpu_s decisions wall_s peak_rss_mb".
run() {
  local reference_run
  reference_run_args "$jobs" "$out/run.json"
  "$1" "${reference_run[@]}" >/dev/null 2>&1
  policy_fields "$out/run.json" scheduler_cpu_s decisions wall_s peak_rss_mb
}

echo "korea-2027, drf, --cycle-interval 60, $jobs synthetic jobs, $pairs pairs"
echo "A = $1"
echo "B = $2"
status=0
for ((i = 1; i <= pairs; ++i)); do
  read -r cpu_a dec_a wall_a rss_a < <(run "$1")
  read -r cpu_b dec_b wall_b rss_b < <(run "$2")
  awk -v i="$i" -v ca="$cpu_a" -v da="$dec_a" -v wa="$wall_a" -v ra="$rss_a" \
    -v cb="$cpu_b" -v db="$dec_b" -v wb="$wall_b" -v rb="$rss_b" 'BEGIN {
    printf "pair %d  A: %.2f s CPU, %.1f us/decision, %.1f s wall, %.0f MiB\n", i, ca, ca * 1e6 / da, wa, ra
    printf "        B: %.2f s CPU, %.1f us/decision, %.1f s wall, %.0f MiB   B/A CPU %.2f, wall %.2f\n",
           cb, cb * 1e6 / db, wb, rb, cb / ca, wb / wa
  }'
  if [ "$dec_a" != "$dec_b" ]; then
    echo "        decisions differ: A $dec_a, B $dec_b" >&2
    status=1
  fi
done
exit "$status"
