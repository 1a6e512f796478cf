#!/usr/bin/env bash
# Style and static checks with the checked-in .clang-format and .clang-tidy.
# Needs clang-format and clang-tidy (Debian: apt-get install clang-format clang-tidy)
# and a configured release build (for compile_commands.json).
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp')
clang-format --dry-run --Werror $files
clang-tidy -p build/release --quiet $(git ls-files 'src/*.cpp')
