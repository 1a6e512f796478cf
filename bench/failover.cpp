// Failover time of several `sovgrid serve` daemons on one PostgreSQL store
// (docs/deployment.md): three daemons on a throw-away PostgreSQL server
// (tests/testing/postgres_server.h), a client submitting a job every few
// milliseconds through all of them; the leader is killed with SIGKILL KILLS
// times (restarted each time as a follower). For each kill it measures
//  * takeover: from the SIGKILL until another daemon says it leads and is ready;
//  * writes: from the SIGKILL until a submission is acknowledged again.
// Prints min / median / max of each.
//
//   failover [--kills N] [--lease-ttl S] [--jobs-running N]
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/postgres_server.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sovgrid::testing::Daemon;
using sovgrid::testing::PostgresServer;
using Clock = std::chrono::steady_clock;

const std::string kBinary = SOVGRID_BINARY;
const std::string kScenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml";

json Cluster(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(0, 300000);
  c.set_read_timeout(1, 0);
  auto r = c.Get("/v1/cluster");
  return r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
}

bool Ready(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(0, 300000);
  c.set_read_timeout(1, 0);
  auto r = c.Get("/readyz");
  return r && r->status == 200;
}

void Summary(const char* what, std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return;
  std::printf("%-10s n=%zu  min %.2f s  median %.2f s  max %.2f s\n", what, v.size(), v.front(),
              v[v.size() / 2], v.back());
}

}  // namespace

int main(int argc, char** argv) {
  int kills = 10;
  std::string ttl = "3";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--kills") kills = std::stoi(argv[i + 1]);
    if (a == "--lease-ttl") ttl = argv[i + 1];
  }
  const fs::path dir =
      fs::temp_directory_path() / ("sovgrid-failover-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto pg = PostgresServer::Start();
  if (!pg.ok()) {
    std::cerr << "error: " << pg.status().message() << "\n";
    return 1;
  }
  constexpr int kDaemons = 3;
  std::vector<std::unique_ptr<Daemon>> daemons(kDaemons);
  std::vector<int> ports(kDaemons, -1);
  std::mutex ports_mu;
  int generation = 0;
  auto start = [&](int i) {
    const std::string name = "d" + std::to_string(i);
    daemons[i] = std::make_unique<Daemon>(
        kBinary,
        std::vector<std::string>{"serve", "--scenario", kScenario, "--data-dir",
                                 (dir / name).string(), "--store", (*pg)->Uri(), "--listen",
                                 "127.0.0.1:0", "--speedup", "1000", "--cycle-interval", "0.1",
                                 "--lease-ttl", ttl},
        (dir / (name + "-" + std::to_string(generation++) + ".log")).string());
    const int port = daemons[i]->WaitForPort();
    std::lock_guard lock(ports_mu);
    ports[i] = port;
    return port > 0;
  };
  for (int i = 0; i < kDaemons; ++i) {
    if (!start(i)) {
      std::cerr << "error: daemon " << i << " did not start:\n" << daemons[i]->Log();
      return 1;
    }
  }
  std::string admin;
  for (int i = 0; i < kDaemons; ++i) {
    std::ifstream in(dir / ("d" + std::to_string(i)) / "admin.token");
    std::string t;
    if (std::getline(in, t) && !t.empty()) admin = t;
  }
  auto leader = [&](int skip) {
    for (int i = 0; i < kDaemons; ++i) {
      if (i == skip) continue;
      int port = 0;
      {
        std::lock_guard lock(ports_mu);
        port = ports[i];
      }
      const json c = Cluster(port);
      if (c.is_object() && c.value("role", "") == "leader" && Ready(port)) return i;
    }
    return -1;
  };
  // A client submitting through every daemon in turn; the time of each acknowledgement.
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> last_ack_ns{0};
  std::thread client([&] {
    for (int n = 0; !stop; ++n) {
      int port = 0;
      {
        std::lock_guard lock(ports_mu);
        port = ports[n % kDaemons];
      }
      httplib::Client c("127.0.0.1", port);
      c.set_connection_timeout(0, 300000);
      c.set_read_timeout(5, 0);
      const json job = {{"id", "j" + std::to_string(n)},
                        {"tenant", n % 2 ? "research" : "startup"},
                        {"accelerators", 1},
                        {"runtime_s", 30}};
      auto r = c.Post("/v1/jobs", {{"Authorization", "Bearer " + admin}}, job.dump(),
                      "application/json");
      if (r && r->status == 201)
        last_ack_ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
                .count();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  std::vector<double> takeover, writes;
  for (int k = 0; k < kills; ++k) {
    int l = -1;
    for (int i = 0; i < 300 && l < 0; ++i) {
      l = leader(-1);
      if (l < 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (l < 0) {
      std::cerr << "error: no leader\n";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const auto t0 = Clock::now();
    const auto t0_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count();
    daemons[l]->Stop(SIGKILL);
    int next = -1;
    while (next < 0 && Clock::now() - t0 < std::chrono::seconds(30)) {
      next = leader(l);
      if (next < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (next < 0) {
      std::cerr << "error: no takeover within 30 s\n";
      break;
    }
    takeover.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    while (last_ack_ns <= t0_ns && Clock::now() - t0 < std::chrono::seconds(30))
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    writes.push_back(static_cast<double>(last_ack_ns - t0_ns) / 1e9);
    std::printf("kill %2d: leader d%d -> d%d, takeover %.2f s, writes again after %.2f s\n", k + 1,
                l, next, takeover.back(), writes.back());
    std::fflush(stdout);
    start(l);  // back as a follower
  }
  stop = true;
  client.join();
  std::printf("lease ttl %s s, %d daemons, %d kills\n", ttl.c_str(), kDaemons, kills);
  Summary("takeover", takeover);
  Summary("writes", writes);
  daemons.clear();
  pg->reset();
  fs::remove_all(dir);
  return takeover.size() == static_cast<std::size_t>(kills) ? 0 : 1;
}
