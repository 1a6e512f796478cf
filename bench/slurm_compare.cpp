// sbatch directly vs through sovgrid, on the same real Slurm cluster in one run
// (issue "Real execution", docs/benchmarks.md "Slurm"): N one-second jobs of
// one GPU each on a 128-node x 8-GPU test cluster, first submitted with
// sbatch in a loop, then submitted to `sovgrid serve --backend slurm` through
// its batch endpoint. Both are measured by the times Slurm records (SubmitTime,
// StartTime, whole seconds) and, for sovgrid, from its own acknowledgement:
// starts per second over the run and submit-to-start latency p50/p99.
//
//   ./build/release/slurm_compare [--nodes 128] [--jobs 2000] [--sleep 1]
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/slurm_cluster.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sovgrid::testing::SlurmCluster;

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// "2026-12-01T21:41:38" (local time, as Slurm prints it) -> seconds since the epoch.
std::int64_t SlurmTime(const std::string& s) {
  std::tm tm{};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) return -1;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(std::mktime(&tm));
}

struct SlurmJob {
  std::int64_t submit = -1, start = -1;
  std::string state, comment;
};

// Every job of the cluster whose comment starts with `tag`.
std::map<std::string, SlurmJob> Jobs(const SlurmCluster& c, const std::string& tag) {
  std::map<std::string, SlurmJob> out;
  const auto r = c.Run("squeue -h -t all -o '%i|%T|%V|%S|%k'", 120);
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string x;
    while (std::getline(ls, x, '|')) f.push_back(x);
    if (f.size() < 5 || f[4].rfind(tag, 0) != 0) continue;
    out[f[0]] = {SlurmTime(f[2]), SlurmTime(f[3]), f[1], f[4]};
  }
  return out;
}

struct Figures {
  double wall_s = 0, starts_per_s = 0, p50 = 0, p99 = 0, submit_s = 0;
  std::size_t jobs = 0;
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

// Starts/s: jobs over the span from the first submission to the last start
// (Slurm's clock); latency: start - submit, `submit_of` giving each job's.
Figures Summarise(const std::map<std::string, SlurmJob>& jobs,
                  const std::map<std::string, std::int64_t>& submit_of) {
  Figures f;
  std::int64_t first = -1, last = -1;
  std::vector<double> lat;
  for (const auto& [id, j] : jobs) {
    if (j.start < 0) continue;
    auto s = submit_of.find(j.comment);
    const std::int64_t submit = s != submit_of.end() ? s->second : j.submit;
    first = first < 0 ? submit : std::min(first, submit);
    last = std::max(last, j.start);
    lat.push_back(static_cast<double>(j.start - submit));
  }
  f.jobs = lat.size();
  f.starts_per_s =
      last > first ? static_cast<double>(lat.size()) / static_cast<double>(last - first) : 0;
  f.p50 = Quantile(lat, 0.50);
  f.p99 = Quantile(lat, 0.99);
  return f;
}

bool WaitDone(const SlurmCluster& c, const std::string& tag, std::size_t n, double timeout_s) {
  const auto t0 = std::chrono::steady_clock::now();
  while (Since(t0) < timeout_s) {
    std::size_t done = 0;
    for (const auto& [id, j] : Jobs(c, tag)) done += j.state == "COMPLETED" ? 1 : 0;
    std::fprintf(stderr, "\r  %zu/%zu completed (%.0f s)   ", done, n, Since(t0));
    if (done >= n) {
      std::fprintf(stderr, "\n");
      return true;
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  std::fprintf(stderr, "\n");
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 128, jobs = 2000;
  int sleep_s = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--nodes") nodes = std::atoi(argv[i + 1]);
    if (a == "--jobs") jobs = std::atoi(argv[i + 1]);
    if (a == "--sleep") sleep_s = std::atoi(argv[i + 1]);
  }
  ::signal(SIGPIPE, SIG_IGN);
  const fs::path dir = fs::path("/tmp") / ("sgbench" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0755);
  sovgrid::testing::SlurmClusterOptions o;
  o.cluster_name = "bench";
  o.dir = (dir / "c").string();
  o.nodes = nodes;
  o.node_prefix = "g";
  o.gpus_per_node = 8;
  o.extra_config = {"MaxJobCount=200000"};
  auto cluster = SlurmCluster::Start(o);
  if (!cluster.ok()) {
    std::cerr << "error: " << cluster.status().ToString() << "\n";
    return 1;
  }
  const SlurmCluster& c = **cluster;
  std::printf("cluster: %d nodes x 8 GPUs (%s), %d jobs of `sleep %d` with 1 GPU each\n", nodes,
              c.node_list().c_str(), jobs, sleep_s);

  // 1. sbatch directly, in a loop.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < jobs; ++i) {
    const auto r = c.Run("sbatch --parsable --gres=gpu:1 --comment=direct:" + std::to_string(i) +
                         " --output=/dev/null --wrap 'sleep " + std::to_string(sleep_s) + "'");
    if (r.exit_code != 0) {
      std::cerr << "sbatch failed: " << r.err << "\n";
      return 1;
    }
  }
  const double direct_submit = Since(t0);
  if (!WaitDone(c, "direct:", static_cast<std::size_t>(jobs), 1800)) return 1;
  Figures direct = Summarise(Jobs(c, "direct:"), {});
  direct.wall_s = Since(t0);
  direct.submit_s = direct_submit;
  if (!(*cluster)->WaitForIdle(120).ok()) return 1;

  // 2. Through sovgrid: the daemon on the same cluster, jobs through its batch endpoint.
  // The checked-in grid, resized to the cluster (--nodes).
  std::stringstream grid_text;
  grid_text << std::ifstream(std::string(SOVGRID_SOURCE_DIR) + "/bench/slurm_bench.toml").rdbuf();
  std::string grid = grid_text.str();
  auto replace = [&](const std::string& from, const std::string& to) {
    if (auto at = grid.find(from); at != std::string::npos) grid.replace(at, from.size(), to);
  };
  replace("nodes = 128", "nodes = " + std::to_string(nodes));
  replace("blackwell = 1024", "blackwell = " + std::to_string(nodes * 8));
  std::ofstream(dir / "grid.toml") << grid;
  const fs::path config = dir / "slurm.toml";
  std::ofstream(config) << "poll_interval_s = 1\n[[clusters]]\nsite = \"bench\"\nslurm_conf = \""
                        << c.client_conf_path()
                        << "\"\n[[clusters.pools]]\npool = \"gpu\"\npartition = \"batch\"\n"
                        << "nodes = \"" << c.node_list() << "\"\n";
  sovgrid::testing::Daemon daemon(
      SOVGRID_BINARY,
      {"serve", "--scenario", (dir / "grid.toml").string(), "--data-dir", (dir / "data").string(),
       "--listen", "127.0.0.1:0", "--backend", "slurm", "--slurm-config", config.string(),
       "--cycle-interval", "0.5"},
      (dir / "serve.log").string());
  const int port = daemon.WaitForPort();
  if (port <= 0) {
    std::cerr << "daemon did not start:\n" << daemon.Log();
    return 1;
  }
  std::string token;
  std::getline(std::ifstream(dir / "data" / "admin.token"), token);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(120, 0);
  std::map<std::string, std::int64_t> acked_at;  // "sovgrid:ID" -> acknowledged (epoch s)
  t0 = std::chrono::steady_clock::now();
  constexpr int kBatch = 500;
  for (int from = 0; from < jobs; from += kBatch) {
    json batch = {{"jobs", json::array()}};
    for (int i = from; i < std::min(jobs, from + kBatch); ++i) {
      batch["jobs"].push_back({{"id", "j" + std::to_string(i)},
                               {"tenant", "lab"},
                               {"command", "sleep " + std::to_string(sleep_s)}});
    }
    auto r = client.Post("/v1/jobs:batch", {{"Authorization", "Bearer " + token}}, batch.dump(),
                         "application/json");
    if (!r || r->status != 201) {
      std::cerr << "batch refused: " << (r ? r->body : "no answer") << "\n";
      return 1;
    }
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    for (int i = from; i < std::min(jobs, from + kBatch); ++i)
      acked_at["sovgrid:j" + std::to_string(i)] = now;
  }
  const double sovgrid_submit = Since(t0);
  if (!WaitDone(c, "sovgrid:", static_cast<std::size_t>(jobs), 1800)) return 1;
  const auto sg_jobs = Jobs(c, "sovgrid:");
  Figures via_slurm = Summarise(sg_jobs, {});       // from sovgrid's sbatch to the start
  Figures via_user = Summarise(sg_jobs, acked_at);  // from the user's acknowledgement
  via_user.wall_s = via_slurm.wall_s = Since(t0);
  via_user.submit_s = via_slurm.submit_s = sovgrid_submit;

  std::printf(
      "\n| path | jobs | submit phase s | wall s | starts/s | submit-to-start p50 s | p99 s |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  auto row = [](const char* name, const Figures& f) {
    std::printf("| %s | %zu | %.1f | %.1f | %.2f | %.0f | %.0f |\n", name, f.jobs, f.submit_s,
                f.wall_s, f.starts_per_s, f.p50, f.p99);
  };
  row("sbatch directly", direct);
  row("sovgrid (from its sbatch)", via_slurm);
  row("sovgrid (from the acknowledgement)", via_user);
  std::printf("\nratio sovgrid/direct: starts/s %.3f, p50 %+.0f s, p99 %+.0f s\n",
              direct.starts_per_s > 0 ? via_user.starts_per_s / direct.starts_per_s : 0,
              via_user.p50 - direct.p50, via_user.p99 - direct.p99);
  daemon.Stop(SIGTERM);
  cluster->reset();
  fs::remove_all(dir);
  return 0;
}
