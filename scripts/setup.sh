#!/usr/bin/env bash
# Installs the Debian packages sovgrid needs (only those missing), then
# configures and builds the release preset. Safe to run again: it does nothing
# that is already done. Needs root (or sudo) only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  cmake ninja-build g++ pkg-config
  libtomlplusplus-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  libpq-dev  # the PostgreSQL store (serve --store postgresql://...)
  postgresql-15  # the postgres tests' throw-away server (/usr/lib/postgresql/15/bin)
  sqlite3  # the store test builds a database of an older schema
  libcpp-httplib-dev libssl-dev  # httplib: the HTTP client of the CLI, tests and benches
  libmicrohttpd-dev  # the daemon's HTTP server
  openssl  # the TLS test makes a throw-away certificate
  clang libclang-rt-14-dev  # the fuzz preset: libFuzzer, ASan, UBSan (docs/fuzzing.md)
  slurmctld slurmd slurm-client munge  # the slurm tests' real cluster (docs/slurm.md)
  chromium  # the console's browser test (web/e2e), driven by playwright-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm bundle the web console (web/, docs/console.md) at build time:
# Debian's packages, unless a Node.js with its own npm is there already (a
# nodesource nodejs ships npm and conflicts with Debian's npm package).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Slurm test clusters name this host as their controller (SlurmctldHost
# must be `hostname -s`), so that name must resolve; a fresh machine or a
# chroot may not list it. Loopback only, like everything the tests start.
host="$(hostname -s 2>/dev/null || true)"
if [ -n "$host" ] && ! getent hosts "$host" >/dev/null 2>&1; then
  echo "setup: adding '127.0.0.1 $host' to /etc/hosts (the Slurm tests' controller name)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "127.0.0.1 $host" | $SUDO tee -a /etc/hosts >/dev/null
fi

# The web console's build tools and test driver, at the versions of
# web/package-lock.json (npm ci; again only when the lock file changed).
if ! cmp -s web/package-lock.json web/node_modules/.sovgrid-lock 2>/dev/null; then
  echo "setup: npm ci in web/"
  (cd web && npm ci --no-audit --no-fund && cp package-lock.json node_modules/.sovgrid-lock)
fi

preset="${1:-release}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset"
