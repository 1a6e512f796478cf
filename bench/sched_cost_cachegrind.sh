#!/usr/bin/env bash
# Two sovgrid binaries compared on the scheduler's work, by counts that do
# not drift: instructions executed and first-level data-cache misses under
# valgrind's cachegrind, for the same run as bench/sched_cost_pairs.sh
# (`simulate` on korea-2027, drf, a cycle every 60 s). On this project's
# shared 2-core VM the same binary's wall time moves by tens of percent
# within an hour, more than most single changes; these counts repeat exactly,
# so a change that only moves work around shows as what it is. They are a
# proxy: they do not weigh a miss to memory against a hit in the last level,
# so a change meant to save misses is confirmed with the pairs' times too.
#
# The two runs go side by side (one per core). About 50 times slower than a
# plain run: 100,000 jobs take about 3 minutes, 300,000 about 15.
#
#   bench/sched_cost_cachegrind.sh OLD_BINARY NEW_BINARY          # 100,000 jobs
#   JOBS=300000 bench/sched_cost_cachegrind.sh OLD NEW
#   KEEP=DIR bench/sched_cost_cachegrind.sh OLD NEW   # keeps a.cg and b.cg for cg_annotate
#
# Fails if the two binaries made different numbers of decisions. Needs
# valgrind (apt-get install valgrind) and jq or python3. Measures only;
# figures in docs/benchmarks.md.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BINARY_A BINARY_B" >&2; exit 2; }
command -v valgrind >/dev/null || { echo "error: needs valgrind (apt-get install valgrind)" >&2; exit 1; }
. "$(dirname "$0")/sched_cost_common.sh"
jobs=${JOBS:-100000}
require_executables "$1" "$2"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Binary $1 under cachegrind, its files named $2.*
profile() {
  local reference_run
  reference_run_args "$jobs" "$out/$2.json"
  valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file="$out/$2.cg" \
    --log-file="$out/$2.log" "$1" "${reference_run[@]}" >/dev/null 2>&1
}

# "instructions d1_misses ll_misses" from a cachegrind log.
counts() {
  awk '/I *refs:/ {i = $NF} /D1 *misses:/ {d = $4} /LL misses:/ {l = $4}
       END {gsub(/,/, "", i); gsub(/,/, "", d); gsub(/,/, "", l); print i, d, l}' "$1"
}

echo "korea-2027, drf, --cycle-interval 60, $jobs synthetic jobs, under cachegrind"
echo "A = $1"
echo "B = $2"
profile "$1" a &
pid_a=$!
profile "$2" b &
pid_b=$!
for run in a b; do
  pid=$([ "$run" = a ] && echo "$pid_a" || echo "$pid_b")
  if ! wait "$pid"; then
    echo "error: run ${run^^} failed; the end of its valgrind log:" >&2
    tail -n 20 "$out/$run.log" >&2
    exit 1
  fi
done
read -r ir_a d1_a ll_a < <(counts "$out/a.log")
read -r ir_b d1_b ll_b < <(counts "$out/b.log")
awk -v ia="$ir_a" -v da="$d1_a" -v la="$ll_a" -v ib="$ir_b" -v db="$d1_b" -v lb="$ll_b" 'BEGIN {
  printf "             %16s %16s %8s\n", "A", "B", "B/A"
  printf "instructions %16.0f %16.0f %8.3f\n", ia, ib, ib / ia
  printf "D1 misses    %16.0f %16.0f %8.3f\n", da, db, db / da
  printf "LL misses    %16.0f %16.0f %8.3f\n", la, lb, lb / la
}'
dec_a=$(policy_fields "$out/a.json" decisions)
dec_b=$(policy_fields "$out/b.json" decisions)
if [ "$dec_a" != "$dec_b" ]; then
  echo "decisions differ: A $dec_a, B $dec_b" >&2
  exit 1
fi
echo "decisions: $dec_a (both)"
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$out/a.cg" "$out/b.cg" "$KEEP/"
  echo "per function: cg_annotate $KEEP/a.cg (and b.cg)"
fi
