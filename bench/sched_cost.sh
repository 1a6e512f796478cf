#!/usr/bin/env bash
# The scheduler's cost on the reference grid: `sovgrid simulate` on korea-2027
# with drf, a cycle every 60 s and 200,000 synthetic jobs (a week), then
# scheduler CPU per decision in microseconds, wall time, the process's CPU
# time (user + system: on a shared machine the wall time includes waiting for
# a core) and peak RSS.
#
#   bench/sched_cost.sh                 # build/release/sovgrid, 200,000 jobs
#   JOBS=20000 bench/sched_cost.sh      # a quicker look
#   SOVGRID=/path/to/sovgrid bench/sched_cost.sh
#
# Needs jq or python3 to read the JSON. Measures only; figures in docs/benchmarks.md.
set -euo pipefail
. "$(dirname "$0")/sched_cost_common.sh"
bin=${SOVGRID:-$sched_cost_root/build/release/sovgrid}
jobs=${JOBS:-200000}
[ -x "$bin" ] || { echo "error: no sovgrid binary at $bin (build the release preset)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

TIMEFORMAT="%U %S"
reference_run_args "$jobs" "$out/run.json"
{ time "$bin" "${reference_run[@]}" 2>/dev/null; } 2>"$out/time"
read -r user_s sys_s <"$out/time"

read -r cpu decisions cycles wall rss < <(policy_fields "$out/run.json" \
  scheduler_cpu_s decisions cycles wall_s peak_rss_mb)

awk -v user="$user_s" -v sys="$sys_s" -v cpu="$cpu" -v d="$decisions" -v c="$cycles" -v wall="$wall" -v rss="$rss" -v jobs="$jobs" 'BEGIN {
  printf "korea-2027, drf, --cycle-interval 60, %d synthetic jobs\n", jobs
  printf "  scheduler CPU      %.2f s over %d decisions, %d cycles\n", cpu, d, c
  printf "  per decision       %.1f us\n", (d > 0 ? cpu * 1e6 / d : 0)
  printf "  wall time          %.1f s (process CPU %.1f s)\n", wall, user + sys
  printf "  peak RSS           %.0f MB\n", rss
}'
