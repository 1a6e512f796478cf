# Sourced by bench/sched_cost.sh, sched_cost_pairs.sh and sched_cost_cachegrind.sh:
# the reference run they all measure and how its JSON is read. Not a script
# of its own.
#
# The run: `sovgrid simulate` on korea-2027, drf, a cycle every 60 s, a week
# of synthetic jobs.

sched_cost_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Sets the array `reference_run` to the simulate arguments for $1 jobs, the
# JSON written to $2.
reference_run_args() {
  reference_run=(simulate --scenario "$sched_cost_root/scenarios/korea-2027.toml" --synthetic
    --jobs "$1" --days 7 --policy drf --cycle-interval 60 --json "$2" --quiet)
}

# Prints the named fields of the run's one policy in JSON file $1, on one
# line separated by spaces. Needs jq or python3.
policy_fields() {
  local file=$1
  shift
  if command -v jq >/dev/null; then
    local filter
    filter=$(printf ' \\(.%s)' "$@")
    jq -r ".policies[0] | \"${filter# }\"" "$file"
  else
    python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["policies"][0]
print(*(p[f] for f in sys.argv[2:]))' "$file" "$@"
  fi
}

# Exits with an error unless every argument is an executable.
require_executables() {
  local bin
  for bin in "$@"; do
    [ -x "$bin" ] || { echo "error: $bin is not an executable" >&2; exit 1; }
  done
}
