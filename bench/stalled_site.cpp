// API latency while one of two Slurm controllers is silent (issue 17, "no site
// can stall the control plane"; docs/benchmarks.md "A silent site"): two real
// Slurm test clusters, one per site of scenarios/small.toml, and
// `sovgrid serve --backend slurm` on them. Phase 1 with both controllers
// answering, phase 2 with north's slurmctld stopped (SIGSTOP: its connections
// hang, nothing is refused). In each phase one client loops over GET /v1/grid,
// GET /v1/jobs/{id} and POST /v1/jobs and the bench prints p50 / p99 / max
// per call, so the two phases compare as ratios within one run.
//
//   ./build/release/stalled_site [--seconds 60] [--command-timeout 20]
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/slurm_cluster.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sovgrid::testing::Daemon;
using sovgrid::testing::SlurmCluster;

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

std::unique_ptr<SlurmCluster> StartCluster(const fs::path& dir, const std::string& name,
                                           const std::string& prefix, int gpus) {
  sovgrid::testing::SlurmClusterOptions o;
  o.cluster_name = name;
  o.dir = (dir / name).string();
  o.nodes = 4;
  o.node_prefix = prefix;
  o.gpus_per_node = gpus;
  o.extra_config = {"SchedulerParameters=batch_sched_delay=0"};
  auto c = SlurmCluster::Start(o);
  if (!c.ok()) {
    std::fprintf(stderr, "stalled_site: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 60, command_timeout = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") {
      seconds = std::atof(argv[i + 1]);
    } else if (flag == "--command-timeout") {
      command_timeout = std::atof(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: stalled_site [--seconds 60] [--command-timeout 20]\n");
      return 2;
    }
  }
  // Short: slurmstepd's socket paths under it must stay within 108 bytes.
  const fs::path dir = fs::path("/tmp") / ("sgstall" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  auto north = StartCluster(dir, "north", "n-gpu", 8);
  auto south = StartCluster(dir, "south", "s-gpu", 2);
  std::ofstream(dir / "slurm.toml")
      << "poll_interval_s = 0.2\nsite_down_after_s = 3\n"
      << "command_timeout_s = " << command_timeout << "\n"
      << "[[clusters]]\nsite = \"north\"\nslurm_conf = \"" << north->client_conf_path()
      << "\"\n[[clusters.pools]]\npool = \"north-b200\"\n"
      << "partition = \"batch\"\nnodes = \"" << north->node_list()
      << "\"\n[[clusters]]\nsite = \"south\"\nslurm_conf = \"" << south->client_conf_path()
      << "\"\n[[clusters.pools]]\npool = \"south-l4\"\n"
      << "partition = \"batch\"\nnodes = \"" << south->node_list() << "\"\n";
  Daemon daemon(
      SOVGRID_BINARY,
      {"serve", "--scenario", std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml",
       "--data-dir", (dir / "data").string(), "--listen", "127.0.0.1:0", "--backend", "slurm",
       "--slurm-config", (dir / "slurm.toml").string(), "--cycle-interval", "0.2"},
      (dir / "serve.log").string());
  const int port = daemon.WaitForPort();
  if (port <= 0) {
    std::fprintf(stderr, "stalled_site: the daemon did not start:\n%s\n", daemon.Log().c_str());
    return 1;
  }
  std::string token;
  std::getline(std::ifstream(dir / "data" / "admin.token"), token);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(120, 0);
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  int next_id = 0;
  auto submit = [&](const std::string& id, const std::string& command) {
    const json job = {{"id", id}, {"tenant", "startup"}, {"models", {"L4"}}, {"command", command}};
    auto r = client.Post("/v1/jobs", auth, job.dump(), "application/json");
    return r && r->status == 201;
  };
  if (!submit("probe", "sleep 600")) {
    std::fprintf(stderr, "stalled_site: the first submission failed\n");
    return 1;
  }

  const char* kCalls[] = {"GET /v1/grid", "GET /v1/jobs/{id}", "POST /v1/jobs"};
  auto phase = [&](const char* name, double length) {
    std::map<std::string, std::vector<double>> ms;
    std::size_t errors = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(length);
    while (std::chrono::steady_clock::now() < end) {
      for (int kind = 0; kind < 3; ++kind) {
        const auto t0 = std::chrono::steady_clock::now();
        bool ok = false;
        if (kind == 0) {
          auto r = client.Get("/v1/grid", auth);
          ok = r && r->status == 200;
        } else if (kind == 1) {
          auto r = client.Get("/v1/jobs/probe", auth);
          ok = r && r->status == 200;
        } else {
          ok = submit("j" + std::to_string(next_id++), "true");
        }
        if (!ok) ++errors;
        ms[kCalls[kind]].push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (const char* call : kCalls) {
      const auto& v = ms[call];
      std::printf("%-28s %-18s calls %6zu  p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n", name, call,
                  v.size(), Quantile(v, 0.5), Quantile(v, 0.99), Quantile(v, 1.0));
    }
    if (errors > 0) std::printf("%-28s %zu calls failed\n", name, errors);
  };
  std::printf("two Slurm sites, slurm command timeout %.0f s, %.0f s per phase\n", command_timeout,
              seconds);
  phase("both controllers answering", seconds);
  const pid_t ctld = north->controller_pid();
  ::kill(ctld, SIGSTOP);
  phase("north's slurmctld stopped", seconds);
  auto grid = client.Get("/v1/grid", auth);
  if (grid) {
    // Bound first: a range-for over a part of a temporary reads freed memory.
    const json sites = json::parse(grid->body, nullptr, false)["sites"];
    for (const auto& site : sites)
      std::printf("site %s: %s %s\n", site.value("id", "").c_str(), site.value("state", "").c_str(),
                  site.value("reason", "").c_str());
  }
  ::kill(ctld, SIGCONT);
  return 0;
}
