#!/usr/bin/env bash
# The whole test suite: the release build's tests (all but the "slow" label),
# then the loader and scheduler invariant tests again under AddressSanitizer
# and UBSan. Installs missing dependencies first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
ctest --preset release -j2
scripts/setup.sh asan
ctest --preset asan -j2
