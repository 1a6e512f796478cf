#!/usr/bin/env bash
# The whole test suite: the release build's tests (all but the "slow" label),
# then the loader and scheduler invariant tests again under AddressSanitizer
# and UBSan, then every libFuzzer target for a few seconds on its seeds
# (scripts/fuzz.sh; docs/fuzzing.md). Installs missing dependencies first
# (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
ctest --preset release -j2
scripts/setup.sh asan
ctest --preset asan -j2
# A short fuzz of every input surface: regressions on the seeds and a few
# thousand mutations each (about 13 targets x 4 s, plus the fuzz build).
scripts/fuzz.sh "${SOVGRID_FUZZ_SECONDS:-4}"
