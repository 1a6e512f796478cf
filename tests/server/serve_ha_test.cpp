// Several `sovgrid serve` daemons on one PostgreSQL store form one control
// plane (docs/deployment.md): the real binary, three daemons on loopback, a
// real PostgreSQL server (tests/testing/postgres_server.h). One leader; a
// follower forwards; the leader killed (SIGKILL), paused (SIGSTOP) past its
// lease, and the database restarted under load: a follower takes over, every
// acknowledged job is there exactly once, no accelerator is handed out twice,
// a paused former leader steps down without writing. Label "ha".
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/postgres_server.h"
#include "testing/run_command.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Daemon;
using testing::PostgresServer;
using Clock = std::chrono::steady_clock;

const std::string kBinary = SOVGRID_BINARY;
const std::string kScenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml";
constexpr int kDaemons = 3;

class ServeHaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sovgrid-serve-ha-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto pg = PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status().message();
    pg_ = std::move(pg).value();
    for (int i = 0; i < kDaemons; ++i) {
      const std::string name = "d" + std::to_string(i);
      std::vector<std::string> args = {
          "serve",   "--scenario",       kScenario,  "--data-dir",  (dir_ / name).string(),
          "--store", pg_->Uri(),         "--listen", "127.0.0.1:0", "--speedup",
          "1000",    "--cycle-interval", "0.05",     "--lease-ttl", "1"};
      daemons_.push_back(
          std::make_unique<Daemon>(kBinary, args, (dir_ / (name + ".log")).string()));
    }
    for (int i = 0; i < kDaemons; ++i) {
      ports_.push_back(daemons_[i]->WaitForPort());
      ASSERT_GT(ports_[i], 0) << daemons_[i]->Log();
    }
    for (int i = 0; i < kDaemons; ++i) {
      std::ifstream in(dir_ / ("d" + std::to_string(i)) / "admin.token");
      std::string t;
      if (std::getline(in, t) && !t.empty()) admin_ = t;
    }
    ASSERT_FALSE(admin_.empty());
    ASSERT_GE(WaitLeader({}, 10), 0) << Logs();
  }
  void TearDown() override {
    for (auto& d : daemons_) {
      ::kill(d->pid(), SIGCONT);
    }
    daemons_.clear();
    pg_.reset();
    fs::remove_all(dir_);
  }

  static json Cluster(int port) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(0, 300000);
    c.set_read_timeout(1, 0);
    auto r = c.Get("/v1/cluster");
    return r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
  }
  // The index of the daemon (not in `skip`) that says it leads, within `timeout_s`; -1.
  int WaitLeader(const std::set<int>& skip, double timeout_s) {
    const auto end = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < end) {
      for (int i = 0; i < kDaemons; ++i) {
        if (skip.count(i) != 0) continue;
        const json c = Cluster(ports_[i]);
        if (c.is_object() && c.value("role", "") == "leader") {
          // Serving: its first cycle ran.
          httplib::Client h("127.0.0.1", ports_[i]);
          auto r = h.Get("/readyz");
          if (r && r->status == 200) return i;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  httplib::Result Post(int port, const json& body) const {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(10, 0);
    return c.Post("/v1/jobs", {{"Authorization", "Bearer " + admin_}}, body.dump(),
                  "application/json");
  }
  json Get(int port, const std::string& path) const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    auto r = c.Get(path, {{"Authorization", "Bearer " + admin_}});
    EXPECT_TRUE(r && r->status == 200) << path << ": " << (r ? r->body : to_string(r.error()));
    return r && r->status == 200 ? json::parse(r->body, nullptr, false) : json();
  }

  // Clients submitting, one per daemon; on a failure the same job goes to the
  // next daemon (as the CLI does with several servers) until it is answered.
  struct Burst {
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::set<std::string> acked;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    // A failed assertion returns early: the clients stop before the daemons do.
    ~Burst() {
      stop = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  };
  void StartBurst(Burst* b, std::set<int> avoid = {}) {
    for (int c = 0; c < kDaemons; ++c) {
      b->threads.emplace_back([this, b, c, avoid] {
        int target = c;
        for (int n = 0; !b->stop; ++n) {
          const std::string id = "c" + std::to_string(c) + "-" + std::to_string(n);
          // Most jobs long (they stay running across a takeover), some short.
          const json job = {{"id", id},
                            {"tenant", n % 2 ? "research" : "startup"},
                            {"accelerators", 1},
                            {"runtime_s", n % 3 == 0 ? 50 : 100000}};
          bool failed_before = false;
          while (!b->stop) {
            if (avoid.count(target % kDaemons) != 0) ++target;
            auto r = Post(ports_[target % kDaemons], job);
            if (r && r->status == 201) {
              std::lock_guard lock(b->mu);
              b->acked.insert(id);
              break;
            }
            if (r && r->status == 409 && failed_before) {
              // A retry of a job whose first answer was lost: it was committed.
              std::lock_guard lock(b->mu);
              b->acked.insert(id);
              break;
            }
            ASSERT_TRUE(!r || r->status == 503 || r->status == 502)
                << id << ": " << r->status << " " << r->body;
            failed_before = true;
            ++b->failures;
            ++target;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          }
        }
      });
    }
  }
  static void StopBurst(Burst* b) {
    b->stop = true;
    for (auto& t : b->threads) {
      if (t.joinable()) t.join();
    }
  }

  // Every acknowledged job exactly once; no accelerator of a pool counted
  // twice; running jobs' accelerators disjoint.
  void CheckState(int port, const std::set<std::string>& acked) {
    std::set<std::string> seen;
    std::int64_t after = 0;
    for (int page = 0; page < 1000; ++page) {
      const json p = Get(port, "/v1/jobs?limit=500&after=" + std::to_string(after));
      for (const auto& j : p["jobs"])
        EXPECT_TRUE(seen.insert(j["id"].get<std::string>()).second) << "twice: " << j["id"];
      after = p.value("next_after", std::int64_t{0});
      if (after == 0) break;
    }
    for (const auto& id : acked) EXPECT_EQ(seen.count(id), 1u) << "acknowledged, missing: " << id;
    const json grid = Get(port, "/v1/grid");
    for (const auto& pool : grid["pools"])
      EXPECT_LE(pool["used"].get<double>(), pool["accelerators"].get<double>()) << pool.dump();
    const json running = Get(port, "/v1/jobs?state=running&limit=1000");
    std::set<std::pair<std::string, int>> taken;
    for (const auto& j : running["jobs"]) {
      for (const auto& part : j["assignment"]) {
        for (const auto& a : part["accelerators"]) {
          EXPECT_TRUE(taken.insert({part["node"].get<std::string>(), a.get<int>()}).second)
              << "accelerator " << part["node"] << "#" << a << " twice, again by " << j["id"];
        }
      }
    }
  }
  // No job started twice (one "running" entry in its history: these jobs are
  // never preempted).
  void CheckSingleStarts(int port, const std::set<std::string>& ids) {
    for (const auto& id : ids) {
      const json j = Get(port, "/v1/jobs/" + id);
      int starts = 0;
      for (const auto& e : j["history"]) starts += e.value("state", "") == "running";
      EXPECT_LE(starts, 1) << id << " started twice: " << j.dump();
    }
  }
  std::string Logs() const {
    std::string out;
    for (int i = 0; i < kDaemons; ++i)
      out += "--- d" + std::to_string(i) + "\n" + daemons_[i]->Log() + "\n";
    return out;
  }

  fs::path dir_;
  std::unique_ptr<PostgresServer> pg_;
  std::vector<std::unique_ptr<Daemon>> daemons_;
  std::vector<int> ports_;
  std::string admin_;
};

TEST_F(ServeHaTest, OneLeaderFollowersForwardAndAnswerCluster) {
  const int leader = WaitLeader({}, 5);
  ASSERT_GE(leader, 0);
  int leaders = 0;
  for (int i = 0; i < kDaemons; ++i) {
    const json c = Cluster(ports_[i]);
    ASSERT_TRUE(c.is_object()) << Logs();
    leaders += c["role"] == "leader";
    EXPECT_EQ(c["self"], "127.0.0.1:" + std::to_string(ports_[i]));
    EXPECT_EQ(c["leader"], "127.0.0.1:" + std::to_string(ports_[leader])) << c.dump();
    EXPECT_GE(c["epoch"].get<int>(), 1);
  }
  EXPECT_EQ(leaders, 1);
  // A write through a follower is the leader's; a bad token is the leader's 401.
  const int follower = (leader + 1) % kDaemons;
  auto r =
      Post(ports_[follower],
           {{"id", "via-follower"}, {"tenant", "startup"}, {"accelerators", 1}, {"runtime_s", 10}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(Get(ports_[leader], "/v1/jobs/via-follower").value("tenant", ""), "startup");
  httplib::Client c("127.0.0.1", ports_[follower]);
  auto denied = c.Get("/v1/jobs", {{"Authorization", "Bearer nope"}});
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  // The web console's files are served by every daemon, followers too.
  auto console = c.Get("/");
  ASSERT_TRUE(console);
  EXPECT_EQ(console->status, 200);
  EXPECT_EQ(console->get_header_value("Content-Type").rfind("text/html", 0), 0U);
  EXPECT_FALSE(console->get_header_value("Content-Security-Policy").empty());
  // The CLI takes a list of daemons and tries the next when one cannot be reached.
  const auto cli = testing::RunCommand(
      "SOVGRID_SERVER=http://127.0.0.1:1,http://127.0.0.1:" + std::to_string(ports_[follower]) +
      " SOVGRID_TOKEN=" + admin_ + " " + kBinary + " job via-follower --json");
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_NE(cli.out.find("via-follower"), std::string::npos) << cli.out << cli.err;
  const auto none = testing::RunCommand(
      "SOVGRID_SERVER=http://127.0.0.1:1,http://127.0.0.1:2 "
      "SOVGRID_TOKEN=" +
      admin_ + " " + kBinary + " jobs");
  EXPECT_EQ(none.exit_code, 3) << none.err;
  EXPECT_NE(none.err.find("127.0.0.1:2"), std::string::npos) << none.err;
}

TEST_F(ServeHaTest, AFollowerLeadsWithinFiveSecondsOfALeaderSigkill) {
  const int leader = WaitLeader({}, 5);
  ASSERT_GE(leader, 0);
  Burst b;
  StartBurst(&b);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const auto killed_at = Clock::now();
  EXPECT_EQ(daemons_[leader]->Stop(SIGKILL), 128 + SIGKILL);
  const int next = WaitLeader({leader}, 5);
  const double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
  ASSERT_GE(next, 0) << Logs();
  EXPECT_LT(took, 5.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  StopBurst(&b);
  EXPECT_GT(b.acked.size(), 20u);
  CheckState(ports_[next], b.acked);
  CheckSingleStarts(ports_[next], b.acked);
  std::cout << "failover " << took << " s, " << b.acked.size() << " jobs acknowledged, "
            << b.failures << " retried\n";
}

TEST_F(ServeHaTest, APausedLeaderIsFencedAndStepsDownWithoutWriting) {
  const int leader = WaitLeader({}, 5);
  ASSERT_GE(leader, 0);
  Burst b;
  StartBurst(&b, {leader});
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_EQ(::kill(daemons_[leader]->pid(), SIGSTOP), 0);
  // Submissions sent to the paused leader itself: handled when it wakes up,
  // by its old term (its write then fenced) or after it stepped down
  // (forwarded to the new leader).
  std::vector<std::pair<std::string, int>> to_paused(4);
  std::vector<std::thread> paused_clients;
  struct Joiner {
    std::vector<std::thread>* threads;
    ~Joiner() {
      for (auto& t : *threads) {
        if (t.joinable()) t.join();
      }
    }
  } joiner{&paused_clients};
  for (int i = 0; i < 4; ++i) {
    paused_clients.emplace_back([&, i] {
      to_paused[i].first = "paused-" + std::to_string(i);
      httplib::Client c("127.0.0.1", ports_[leader]);
      c.set_read_timeout(20, 0);
      auto r = c.Post("/v1/jobs", {{"Authorization", "Bearer " + admin_}},
                      json({{"id", to_paused[i].first},
                            {"tenant", "startup"},
                            {"accelerators", 1},
                            {"runtime_s", 100000}})
                          .dump(),
                      "application/json");
      to_paused[i].second = r ? r->status : 0;
    });
  }
  const int next = WaitLeader({leader}, 8);
  ASSERT_GE(next, 0) << Logs();
  const int epoch = Cluster(ports_[next]).value("epoch", 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_EQ(::kill(daemons_[leader]->pid(), SIGCONT), 0);
  for (auto& t : paused_clients) {
    if (t.joinable()) t.join();
  }
  for (const auto& [id, status] : to_paused) {
    // Acknowledged: it is there; refused (503): nothing was committed.
    EXPECT_TRUE(status == 201 || status == 503) << id << ": " << status;
    httplib::Client c("127.0.0.1", ports_[next]);
    auto r = c.Get("/v1/jobs/" + id, {{"Authorization", "Bearer " + admin_}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status == 201 ? 200 : 404) << id << " answered " << status;
    if (status == 201) b.acked.insert(id);
    std::cout << id << " sent to the paused leader: " << status << "\n";
  }
  // The old leader finds it is no longer the leader, and says so.
  json c;
  for (int i = 0; i < 100; ++i) {
    c = Cluster(ports_[leader]);
    if (c.is_object() && c.value("role", "") == "follower") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(c.value("role", ""), "follower") << c.dump() << Logs();
  EXPECT_NE(daemons_[leader]->Log().find("stepping down"), std::string::npos) << Logs();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  StopBurst(&b);
  // The successor still leads at its epoch: nobody took it back.
  EXPECT_EQ(Cluster(ports_[next]).value("role", ""), "leader");
  EXPECT_EQ(Cluster(ports_[next]).value("epoch", 0), epoch);
  CheckState(ports_[next], b.acked);
  CheckSingleStarts(ports_[next], b.acked);
}

TEST_F(ServeHaTest, DaemonsReconnectAfterAPostgresRestartUnderLoad) {
  ASSERT_GE(WaitLeader({}, 5), 0);
  Burst b;
  StartBurst(&b);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  pg_->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ASSERT_TRUE(pg_->Restart().ok());
  const int leader = WaitLeader({}, 15);
  if (leader < 0) StopBurst(&b);
  ASSERT_GE(leader, 0) << Logs() << "lease: "
                       << pg_->Query(
                                 "SELECT holder || ' ' || epoch || ' ' || expires_at || ' ' || "
                                 "now() FROM lease")
                              .value_or("?");
  // Submissions succeed again.
  std::size_t before = 0;
  {
    std::lock_guard lock(b.mu);
    before = b.acked.size();
  }
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::lock_guard lock(b.mu);
    if (b.acked.size() > before + 10) break;
  }
  StopBurst(&b);
  EXPECT_GT(b.acked.size(), before + 10) << Logs();
  const int now = WaitLeader({}, 5);
  ASSERT_GE(now, 0);
  CheckState(ports_[now], b.acked);
  CheckSingleStarts(ports_[now], b.acked);
}

}  // namespace
}  // namespace sovgrid
