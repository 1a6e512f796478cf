#!/usr/bin/env bash
# Builds the libFuzzer targets (the `fuzz` preset: clang, ASan+UBSan) and runs
# each for SECONDS on a copy of its seeds (tests/fuzz/seeds/<target>/, the
# target name without "fuzz_"). Exits non-zero on any finding: crash, leak,
# timeout, out-of-memory, sanitizer report. Findings (crash-*, leak-*,
# timeout-*, oom-*) and each target's log are left in build/fuzz/findings/.
# docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s, every target
#   FUZZ_JOBS=N   run N targets at a time (default 1; the machine is shared)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz

bin=build/fuzz
out="$bin/findings"
mkdir -p "$out"
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in "$bin"/fuzz_*; do
    [ -x "$f" ] && [ -f "$f" ] && targets+=("$(basename "$f")")
  done
fi

# Bounds for every input: a hang or a blow-up is a finding, not a slow run.
#   -timeout: seconds per input; -rss_limit_mb: the process; -malloc_limit_mb: one allocation.
opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -max_len=65536
      -print_final_stats=1 -detect_leaks=1)

run_one() {
  local t="$1" seeds corpus log
  seeds="tests/fuzz/seeds/${t#fuzz_}"
  corpus="$(mktemp -d "${TMPDIR:-/tmp}/sovgrid-corpus-$t-XXXXXX")"
  log="$out/$t.log"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  if "$bin/$t" "${opts[@]}" -max_total_time="$seconds" -artifact_prefix="$out/$t-" \
      "$corpus" >"$log" 2>&1; then
    echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo '?') runs)"
    rm -rf "$corpus"
    return 0
  fi
  echo "fuzz: $t FOUND A PROBLEM; log $log; artifacts $out/$t-*" >&2
  grep -E "^==[0-9]+==ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -5 >&2 || true
  rm -rf "$corpus"
  return 1
}

failed=0
jobs="${FUZZ_JOBS:-1}"
if [ "$jobs" -le 1 ]; then
  for t in "${targets[@]}"; do run_one "$t" || failed=1; done
else
  pids=()
  for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    if ((${#pids[@]} >= jobs)); then
      wait "${pids[0]}" || failed=1
      pids=("${pids[@]:1}")
    fi
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
fi
exit "$failed"
