// `sovgrid serve --store postgresql://...` as the real binary against a real
// PostgreSQL server (tests/testing/postgres_server.h): acknowledged jobs are
// kept across a SIGKILL and a restart (even with another data dir), and only
// the daemon that initialises the empty database writes admin.token.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/postgres_server.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Daemon;
using testing::PostgresServer;

const std::string kBinary = SOVGRID_BINARY;
const std::string kScenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml";

class ServePostgresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sovgrid-serve-pg-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto pg = PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status().message();
    pg_ = std::move(pg).value();
  }
  void TearDown() override {
    daemons_.clear();
    pg_.reset();
    fs::remove_all(dir_);
  }
  // Starts a daemon on the server's database with data dir DIR/NAME; its port.
  int Start(const std::string& name) {
    std::vector<std::string> args = {
        "serve",   "--scenario",       kScenario,  "--data-dir",  (dir_ / name).string(),
        "--store", pg_->Uri(),         "--listen", "127.0.0.1:0", "--speedup",
        "1000",    "--cycle-interval", "0.05",     "--lease-ttl", "1"};
    daemons_[name] = std::make_unique<Daemon>(kBinary, args, (dir_ / (name + ".log")).string());
    const int port = daemons_[name]->WaitForPort();
    EXPECT_GT(port, 0) << daemons_[name]->Log();
    return port;
  }
  std::string Token(const std::string& name) const {
    std::ifstream in(dir_ / name / "admin.token");
    std::string token;
    std::getline(in, token);
    return token;
  }
  static httplib::Result Post(int port, const std::string& token, const std::string& path,
                              const json& body) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30, 0);
    return client.Post(path, {{"Authorization", "Bearer " + token}}, body.dump(),
                       "application/json");
  }
  // Waits (bounded) until `port` answers an authenticated call: a leader is
  // known and answers (a restarted daemon takes over once the lease expired).
  static bool WaitServing(int port, const std::string& token) {
    for (int i = 0; i < 200; ++i) {
      httplib::Client client("127.0.0.1", port);
      auto r = client.Get("/v1/tokens", {{"Authorization", "Bearer " + token}});
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  static json Get(int port, const std::string& token, const std::string& path) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(30, 0);
    auto r = client.Get(path, {{"Authorization", "Bearer " + token}});
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : httplib::to_string(r.error()));
    return r ? json::parse(r->body, nullptr, false) : json();
  }
  static json Job(const std::string& id, const std::string& tenant, int runtime_s) {
    return {{"id", id}, {"tenant", tenant}, {"accelerators", 1}, {"runtime_s", runtime_s}};
  }

  fs::path dir_;
  std::unique_ptr<PostgresServer> pg_;
  std::map<std::string, std::unique_ptr<Daemon>> daemons_;
};

TEST_F(ServePostgresTest, JobsAreKeptAcrossARestart) {
  const int port = Start("a");
  ASSERT_GT(port, 0);
  const std::string admin = Token("a");
  ASSERT_FALSE(admin.empty()) << daemons_["a"]->Log();
  ASSERT_TRUE(WaitServing(port, admin)) << daemons_["a"]->Log();
  EXPECT_EQ(fs::status(dir_ / "a" / "admin.token").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_NE(daemons_["a"]->Log().find("data in postgresql://postgres@127.0.0.1:"),
            std::string::npos)
      << daemons_["a"]->Log();
  std::set<std::string> acked;
  // A finished job, with its history (first: the long ones fill the tenants' quotas).
  auto r = Post(port, admin, "/v1/jobs", Job("short", "startup", 1));
  ASSERT_TRUE(r && r->status == 201);
  acked.insert("short");
  json shortjob;
  for (int i = 0; i < 200; ++i) {
    shortjob = Get(port, admin, "/v1/jobs/short");
    if (shortjob.value("state", "") == "finished") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(shortjob.value("state", ""), "finished") << shortjob.dump();

  for (int i = 0; i < 20; ++i) {
    const std::string id = "s" + std::to_string(i);
    r = Post(port, admin, "/v1/jobs", Job(id, i % 2 ? "research" : "startup", 100000));
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
    acked.insert(id);
  }
  json batch = json::array();
  for (int i = 0; i < 50; ++i) batch.push_back(Job("b" + std::to_string(i), "startup", 100000));
  r = Post(port, admin, "/v1/jobs:batch", {{"jobs", batch}});
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no response");
  for (int i = 0; i < 50; ++i) acked.insert("b" + std::to_string(i));
  // A duplicate is refused by the batched existence check.
  r = Post(port, admin, "/v1/jobs:batch",
           {{"jobs", {Job("new", "startup", 10), Job("b7", "startup", 10)}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_NE(r->body.find("b7"), std::string::npos) << r->body;
  // Killed, and restarted with another (empty) data dir: the state is the
  // database's. The new daemon did not initialise it: no admin.token.
  EXPECT_EQ(daemons_["a"]->Stop(SIGKILL), 128 + SIGKILL);
  const int port2 = Start("b");
  ASSERT_GT(port2, 0);
  EXPECT_FALSE(fs::exists(dir_ / "b" / "admin.token"));
  ASSERT_TRUE(WaitServing(port2, admin)) << daemons_["b"]->Log();
  std::set<std::string> seen;
  std::int64_t after = 0;
  for (int page = 0; page < 100; ++page) {
    const json p = Get(port2, admin, "/v1/jobs?limit=30&after=" + std::to_string(after));
    for (const auto& j : p["jobs"]) {
      EXPECT_TRUE(seen.insert(j["id"].get<std::string>()).second) << "twice: " << j["id"];
    }
    after = p.value("next_after", std::int64_t{0});
    if (after == 0) break;
  }
  EXPECT_EQ(seen, acked);
  const json again = Get(port2, admin, "/v1/jobs/short");
  EXPECT_EQ(again.value("state", ""), "finished");
  // And it takes new work.
  r = Post(port2, admin, "/v1/jobs", Job("after-restart", "research", 100));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(daemons_["b"]->Stop(SIGTERM), 0) << daemons_["b"]->Log();
}

// The Api keeps a valid token in memory for at most kTokenCacheTtl (1 s): a
// revocation through the API is immediate; one made on the database behind
// its back (SQL, or another daemon's Api while it led) is refused soon after.
TEST_F(ServePostgresTest, ATokenRevokedOnTheDatabaseIsRefusedWithinTheCacheBound) {
  const int port = Start("a");
  const std::string admin = Token("a");
  ASSERT_TRUE(WaitServing(port, admin));
  auto made = Post(port, admin, "/v1/tokens", {{"tenant", "startup"}, {"role", "user"}});
  ASSERT_TRUE(made && made->status == 201) << (made ? made->body : "no answer");
  const json token = json::parse(made->body);
  const std::string secret = token["token"];
  auto status = [&] {
    httplib::Client client("127.0.0.1", port);
    auto r = client.Get("/v1/jobs", {{"Authorization", "Bearer " + secret}});
    return r ? r->status : -1;
  };
  ASSERT_EQ(status(), 200);  // read from the store, now in the cache
  auto revoked = pg_->Query("UPDATE tokens SET revoked = true WHERE id = '" +
                            token["id"].get<std::string>() + "' RETURNING id");
  ASSERT_TRUE(revoked.ok()) << revoked.status().message();
  // Refused once the cached entry expired (1 s; bounded wait of 10 s here).
  int last = 0;
  for (int i = 0; i < 100 && (last = status()) != 401; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(last, 401);
}

TEST_F(ServePostgresTest, OnlyTheDaemonThatInitialisesTheDatabaseWritesTheAdminToken) {
  // Two daemons start together on the empty database.
  std::vector<std::string> names = {"x", "y"};
  std::map<std::string, int> ports;
  for (const auto& n : names) daemons_[n] = nullptr;
  for (const auto& n : names) {
    std::vector<std::string> args = {
        "serve",   "--scenario", kScenario,  "--data-dir",  (dir_ / n).string(),
        "--store", pg_->Uri(),   "--listen", "127.0.0.1:0", "--speedup",
        "1000"};
    daemons_[n] = std::make_unique<Daemon>(kBinary, args, (dir_ / (n + ".log")).string());
  }
  for (const auto& n : names) {
    ports[n] = daemons_[n]->WaitForPort();
    ASSERT_GT(ports[n], 0) << daemons_[n]->Log();
  }
  const bool x = fs::exists(dir_ / "x" / "admin.token");
  const bool y = fs::exists(dir_ / "y" / "admin.token");
  EXPECT_NE(x, y) << "exactly one writes admin.token";
  const std::string admin = Token(x ? "x" : "y");
  for (const auto& n : names) ASSERT_TRUE(WaitServing(ports[n], admin)) << daemons_[n]->Log();
  // The token works on both: they share the database.
  for (const auto& n : names) {
    const json tokens = Get(ports[n], admin, "/v1/tokens");
    EXPECT_TRUE(tokens.is_object() || tokens.is_array()) << tokens.dump();
  }
  // A bad URI is refused before anything starts.
  Daemon bad(kBinary,
             {"serve", "--scenario", kScenario, "--data-dir", (dir_ / "z").string(), "--store",
              "mysql://x", "--listen", "127.0.0.1:0"},
             (dir_ / "z.log").string());
  EXPECT_NE(bad.Stop(0, 10), 0);
  // An unreachable server: the error names it and what failed.
  Daemon down(kBinary,
              {"serve", "--scenario", kScenario, "--data-dir", (dir_ / "w").string(), "--store",
               "postgresql://postgres:secret@127.0.0.1:1/sovgrid", "--listen", "127.0.0.1:0"},
              (dir_ / "w.log").string());
  EXPECT_EQ(down.WaitForPort(20), -1);
  EXPECT_NE(down.Log().find("127.0.0.1:1"), std::string::npos) << down.Log();
  EXPECT_NE(down.Log().find("cannot connect"), std::string::npos) << down.Log();
  EXPECT_EQ(down.Log().find("secret"), std::string::npos) << down.Log();
}

}  // namespace
}  // namespace sovgrid
