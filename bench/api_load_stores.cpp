// The api_load bench against each store in one run (docs/benchmarks.md):
//   api_load_stores [--stores sqlite,postgresql] [--accounting on[,off]] [--speedup S]
//                   [--repeat N] [--scenario FILE] [api_load options...]
// For each round (--repeat, default 1), store and --accounting setting, in
// that order (so that on and off alternate on the same machine): a fresh
// `sovgrid serve` (korea-2027 by default, twin backend at --speedup) on a
// fresh data dir, with --store sqlite, or --store postgresql://... on a
// throw-away PostgreSQL 15 server started here (tests/testing/postgres_server.h;
// fsync on, synchronous_commit on: durable like SQLite's synchronous=FULL);
// then api_load with the remaining options (tenant fm-lgai unless given),
// then the daemon is stopped. Every step is bounded.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "testing/daemon.h"
#include "testing/postgres_server.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> Split(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string stores = "sqlite,postgresql";
  std::string accounting = "on";
  std::string speedup = "1";
  int repeat = 1;
  std::string scenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/korea-2027.toml";
  std::string pass;
  bool tenant = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--stores" && i + 1 < argc) {
      stores = argv[++i];
    } else if (a == "--accounting" && i + 1 < argc) {
      accounting = argv[++i];
    } else if (a == "--speedup" && i + 1 < argc) {
      speedup = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (a == "--scenario" && i + 1 < argc) {
      scenario = argv[++i];
    } else {
      if (a == "--tenant") tenant = true;
      pass += " '" + a + "'";
    }
  }
  if (!tenant) pass += " --tenant fm-lgai";
  const std::string load = (fs::path(SOVGRID_BINARY).parent_path() / "api_load").string();
  std::unique_ptr<sovgrid::testing::PostgresServer> pg;
  int failures = 0;
  for (int round = 1; round <= repeat; ++round) {
    for (const std::string& store : Split(stores)) {
      if (store == "postgresql") {
        if (!pg) {
          auto s = sovgrid::testing::PostgresServer::Start();
          if (!s.ok()) {
            std::fprintf(stderr, "cannot start PostgreSQL: %s\n", s.status().message().c_str());
            return 1;
          }
          pg = std::move(s).value();
        }
      } else if (store != "sqlite") {
        std::fprintf(stderr, "unknown store %s\n", store.c_str());
        return 2;
      }
      for (const std::string& acct : Split(accounting)) {
        char tmpl[] = "/tmp/sovgrid-bench-XXXXXX";
        if (::mkdtemp(tmpl) == nullptr) return 1;
        const fs::path dir = tmpl;
        // A fresh database per run on PostgreSQL too: the previous run's jobs
        // would otherwise be there.
        std::string run_spec = "sqlite";
        if (store == "postgresql") {
          const std::string db = "load_" + std::to_string(round) + "_" + acct;
          if (auto made = pg->CreateDatabase(db); !made.ok()) {
            std::fprintf(stderr, "cannot create a database: %s\n", made.message().c_str());
            return 1;
          }
          run_spec = pg->Uri(db);
        }
        sovgrid::testing::Daemon daemon(
            SOVGRID_BINARY,
            {"serve", "--scenario", scenario, "--data-dir", (dir / "data").string(), "--store",
             run_spec, "--listen", "127.0.0.1:0", "--backend", "twin", "--speedup", speedup,
             "--accounting", acct},
            (dir / "serve.log").string());
        const int port = daemon.WaitForPort(120);
        if (port <= 0) {
          std::fprintf(stderr, "daemon did not start:\n%s\n", daemon.Log().c_str());
          return 1;
        }
        std::printf("== round %d, store %s, accounting %s\n", round,
                    store == "sqlite" ? "sqlite (DATA_DIR/sovgrid.db)" : "postgresql",
                    acct.c_str());
        std::fflush(stdout);
        const std::string cmd = load + " --server http://127.0.0.1:" + std::to_string(port) +
                                " --token-file " + (dir / "data" / "admin.token").string() + pass;
        if (std::system(cmd.c_str()) != 0) ++failures;
        daemon.Stop(SIGTERM, 60);
        fs::remove_all(dir);
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
