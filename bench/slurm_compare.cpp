// sbatch directly vs through sovgrid, on the same real Slurm cluster in one run
// (issue "Real execution", docs/benchmarks.md "Slurm"): N one-second jobs of
// one GPU each on a 128-node x 8-GPU test cluster, in rounds one after the
// other: sbatch in a loop, `sovgrid serve --backend slurm` (jobs through its
// batch endpoint) once per sbatch worker count, sbatch in a loop again.
// Figures come from the times Slurm records (SubmitTime, StartTime, whole
// seconds): starts per second from the hand-off of the jobs (the loop's start;
// sovgrid's acknowledgement) to the last start, and submit-to-start latency
// p50/p99 both from Slurm's submit time and from the hand-off.
//
//   ./build/release/slurm_compare [--nodes 128] [--jobs 2000] [--sleep 1] [--workers 8,1]
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
  std::string state, name;
};

// Every job of the cluster whose name starts with `prefix`.
std::map<std::string, SlurmJob> Jobs(const SlurmCluster& c, const std::string& prefix) {
  std::map<std::string, SlurmJob> out;
  const auto r = c.Run("squeue -h -t all -o '%i|%T|%V|%S|%j'", 120);
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string x;
    while (std::getline(ls, x, '|')) f.push_back(x);
    if (f.size() < 5 || f[4].rfind(prefix, 0) != 0) continue;
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
// (Slurm's clock); latency: start - submit, `submit_of` (job name -> epoch
// seconds) giving each job's, Slurm's SubmitTime for the others.
Figures Summarise(const std::map<std::string, SlurmJob>& jobs,
                  const std::map<std::string, std::int64_t>& submit_of) {
  Figures f;
  std::int64_t first = -1, last = -1;
  std::vector<double> lat;
  for (const auto& [id, j] : jobs) {
    if (j.start < 0) continue;
    auto s = submit_of.find(j.name);
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

std::int64_t EpochNow() { return static_cast<std::int64_t>(std::time(nullptr)); }

// One round of `sbatch` in a loop; jobs named PREFIX-N. Figures from Slurm's
// submit times, and `handoff` from the loop's start: the moment the user had
// all N jobs, as sovgrid's users have them at its acknowledgement.
bool DirectRound(SlurmCluster& c, const std::string& prefix, int jobs, int sleep_s,
                 Figures* from_slurm, Figures* from_handoff) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t handed = EpochNow();
  std::map<std::string, std::int64_t> handoff;
  for (int i = 0; i < jobs; ++i) {
    const std::string name = prefix + "-" + std::to_string(i);
    handoff[name] = handed;
    const auto r = c.Run("sbatch --parsable --gres=gpu:1 -J " + name +
                         " --output=/dev/null --wrap 'sleep " + std::to_string(sleep_s) + "'");
    if (r.exit_code != 0) {
      std::cerr << "sbatch failed: " << r.err << "\n";
      return false;
    }
  }
  const double submit_s = Since(t0);
  if (!WaitDone(c, prefix + "-", static_cast<std::size_t>(jobs), 1800)) return false;
  const auto done = Jobs(c, prefix + "-");
  *from_slurm = Summarise(done, {});
  *from_handoff = Summarise(done, handoff);
  from_slurm->wall_s = from_handoff->wall_s = Since(t0);
  from_slurm->submit_s = from_handoff->submit_s = submit_s;
  return c.WaitForIdle(120).ok();
}

// One round through `sovgrid serve --backend slurm` (a daemon of its own,
// `workers` concurrent sbatch calls), jobs PREFIX-N sent through the batch
// endpoint 500 at a time; `from_handoff` counts from each acknowledgement.
bool SovgridRound(SlurmCluster& c, const fs::path& dir, int nodes, const std::string& prefix,
                  int jobs, int sleep_s, int workers, Figures* from_slurm, Figures* from_handoff) {
  const fs::path run = dir / prefix;
  fs::create_directories(run);
  // The checked-in grid, resized to the cluster (--nodes).
  std::stringstream grid_text;
  grid_text << std::ifstream(std::string(SOVGRID_SOURCE_DIR) + "/bench/slurm_bench.toml").rdbuf();
  std::string grid = grid_text.str();
  auto replace = [&](const std::string& from, const std::string& to) {
    if (auto at = grid.find(from); at != std::string::npos) grid.replace(at, from.size(), to);
  };
  replace("nodes = 128", "nodes = " + std::to_string(nodes));
  replace("blackwell = 1024", "blackwell = " + std::to_string(nodes * 8));
  std::ofstream(run / "grid.toml") << grid;
  const fs::path config = run / "slurm.toml";
  std::ofstream(config) << "poll_interval_s = 1\nsubmit_workers = " << workers
                        << "\n[[clusters]]\nsite = \"bench\"\nslurm_conf = \""
                        << c.client_conf_path()
                        << "\"\n[[clusters.pools]]\npool = \"gpu\"\npartition = \"batch\"\n"
                        << "nodes = \"" << c.node_list() << "\"\n";
  sovgrid::testing::Daemon daemon(
      SOVGRID_BINARY,
      {"serve", "--scenario", (run / "grid.toml").string(), "--data-dir", (run / "data").string(),
       "--listen", "127.0.0.1:0", "--backend", "slurm", "--slurm-config", config.string(),
       "--cycle-interval", "0.5"},
      (run / "serve.log").string());
  const int port = daemon.WaitForPort();
  if (port <= 0) {
    std::cerr << "daemon did not start:\n" << daemon.Log();
    return false;
  }
  std::string token;
  std::getline(std::ifstream(run / "data" / "admin.token"), token);
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(120, 0);
  std::map<std::string, std::int64_t> acked_at;  // Slurm job name -> acknowledged (epoch s)
  const auto t0 = std::chrono::steady_clock::now();
  constexpr int kBatch = 500;
  for (int from = 0; from < jobs; from += kBatch) {
    json batch = {{"jobs", json::array()}};
    for (int i = from; i < std::min(jobs, from + kBatch); ++i) {
      batch["jobs"].push_back({{"id", prefix + "-" + std::to_string(i)},
                               {"tenant", "lab"},
                               {"command", "sleep " + std::to_string(sleep_s)}});
    }
    auto r = client.Post("/v1/jobs:batch", {{"Authorization", "Bearer " + token}}, batch.dump(),
                         "application/json");
    if (!r || r->status != 201) {
      std::cerr << "batch refused: " << (r ? r->body : "no answer") << "\n";
      return false;
    }
    const std::int64_t now = EpochNow();
    for (int i = from; i < std::min(jobs, from + kBatch); ++i)
      acked_at["sovgrid-" + prefix + "-" + std::to_string(i)] = now;
  }
  const double submit_s = Since(t0);
  const std::string names = "sovgrid-" + prefix + "-";
  if (!WaitDone(c, names, static_cast<std::size_t>(jobs), 1800)) return false;
  const auto done = Jobs(c, names);
  *from_slurm = Summarise(done, {});
  *from_handoff = Summarise(done, acked_at);
  from_slurm->wall_s = from_handoff->wall_s = Since(t0);
  from_slurm->submit_s = from_handoff->submit_s = submit_s;
  daemon.Stop(SIGTERM);
  return c.WaitForIdle(120).ok();
}

}  // namespace

int main(int argc, char** argv) {
  int nodes = 128, jobs = 2000;
  int sleep_s = 1;
  std::vector<int> worker_counts = {8, 1};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--nodes") nodes = std::atoi(argv[i + 1]);
    if (a == "--jobs") jobs = std::atoi(argv[i + 1]);
    if (a == "--sleep") sleep_s = std::atoi(argv[i + 1]);
    if (a == "--workers") {
      worker_counts.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string w; std::getline(list, w, ',');)
        worker_counts.push_back(std::atoi(w.c_str()));
    }
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
  SlurmCluster& c = **cluster;
  std::printf("cluster: %d nodes x 8 GPUs (%s), %d jobs of `sleep %d` with 1 GPU each\n", nodes,
              c.node_list().c_str(), jobs, sleep_s);

  // Rounds one after another on the idle cluster: sbatch directly, through
  // sovgrid with each worker count, sbatch directly again (the machine's
  // drift between the first and the last round bounds the noise).
  struct Row {
    std::string path;
    Figures slurm, handoff;
  };
  std::vector<Row> rows;
  auto direct = [&](const std::string& prefix) {
    Row r{"sbatch in a loop (" + prefix + ")", {}, {}};
    std::fprintf(stderr, "%s\n", r.path.c_str());
    if (!DirectRound(c, prefix, jobs, sleep_s, &r.slurm, &r.handoff)) return false;
    rows.push_back(r);
    return true;
  };
  if (!direct("direct1")) return 1;
  for (int w : worker_counts) {
    Row r{"sovgrid, " + std::to_string(w) + " sbatch worker" + (w == 1 ? "" : "s"), {}, {}};
    std::fprintf(stderr, "%s\n", r.path.c_str());
    if (!SovgridRound(c, dir, nodes, "w" + std::to_string(w), jobs, sleep_s, w, &r.slurm,
                      &r.handoff))
      return 1;
    rows.push_back(r);
  }
  if (!direct("direct2")) return 1;

  std::printf(
      "\n| path | submit phase s | wall s | starts/s | Slurm submit to start p50 / p99 s | "
      "hand-off to start p50 / p99 s |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const auto& r : rows) {
    std::printf("| %s | %.1f | %.1f | %.2f | %.0f / %.0f | %.0f / %.0f |\n", r.path.c_str(),
                r.slurm.submit_s, r.slurm.wall_s, r.handoff.starts_per_s, r.slurm.p50, r.slurm.p99,
                r.handoff.p50, r.handoff.p99);
  }
  const double base = (rows.front().handoff.starts_per_s + rows.back().handoff.starts_per_s) / 2;
  std::printf("\nstarts/s as a ratio to the mean of the two direct rounds (%.2f/s):", base);
  for (std::size_t i = 1; i + 1 < rows.size(); ++i)
    std::printf(" %s %.3f;", rows[i].path.c_str(),
                base > 0 ? rows[i].handoff.starts_per_s / base : 0);
  std::printf("\n");
  cluster->reset();
  fs::remove_all(dir);
  return 0;
}
