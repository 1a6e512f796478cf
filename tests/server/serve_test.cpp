// `sovgrid serve` as the real binary on loopback: the API's rules, tenant
// isolation, durability across SIGKILL in a submission burst, clean SIGTERM.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "testing/daemon.h"
#include "testing/run_command.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Daemon;

const std::string kBinary = SOVGRID_BINARY;
const std::string kScenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml";

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sovgrid-serve-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    daemon_.reset();
    fs::remove_all(dir_);
  }
  void Start(std::vector<std::string> extra = {}, const std::string& speedup = "1000",
             const std::string& cycle_interval = "0.05") {
    std::vector<std::string> args = {
        "serve",       "--scenario",  kScenario,   "--data-dir", (dir_ / "data").string(),
        "--listen",    "127.0.0.1:0", "--speedup", speedup,      "--cycle-interval",
        cycle_interval};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<Daemon>(kBinary, args, (dir_ / "serve.log").string());
    port_ = daemon_->WaitForPort();
    ASSERT_GT(port_, 0) << daemon_->Log();
    std::ifstream in(dir_ / "data" / "admin.token");
    std::getline(in, admin_);
    ASSERT_FALSE(admin_.empty());
  }
  httplib::Result Call(const std::string& method, const std::string& path, const std::string& token,
                       const std::string& body = {}) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(30, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    if (method == "GET") return client.Get(path, headers);
    if (method == "DELETE") return client.Delete(path, headers);
    if (method == "PUT") return client.Put(path, headers, body, "application/json");
    return client.Post(path, headers, body, "application/json");
  }
  // serve's flags for local execution: as root (CI) jobs run under uids of
  // their own, from a range of this test process alone (ctest runs test
  // processes side by side); elsewhere with isolation none.
  static bool Root() { return ::geteuid() == 0; }
  static std::string UidBase() {
    return std::to_string(2120000000U + static_cast<unsigned>(::getpid() % 100000) * 64U);
  }
  static std::vector<std::string> Local(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--backend", "local",           "--job-uid-base",
                                     UidBase(),   "--job-uid-count", "64"};
    if (!Root()) args.insert(args.end(), {"--job-isolation", "none"});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
  fs::path JobDir(const std::string& tenant, const std::string& id) const {
    return dir_ / "data" / "local" / "jobs" / tenant / id;
  }
  // The number a job wrote to `file` (0 when it did not within 10 s).
  static long long ReadNumber(const fs::path& file) {
    return testing::ReadNumberOnceWritten(file.string(), 10);
  }
  // The response's JSON; a JSON null when there was no response.
  json Body(const httplib::Result& r) {
    EXPECT_TRUE(r) << "no response: " << httplib::to_string(r.error());
    return r ? json::parse(r->body, nullptr, false) : json();
  }

  // Polls the job until its state is `state` (at most `seconds`); its last JSON.
  json WaitForState(const std::string& id, const std::string& state, double seconds = 20) {
    json j;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      j = Body(Call("GET", "/v1/jobs/" + id, admin_));
      if (j.is_object() && j.value("state", "") == state) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return j;
  }

  fs::path dir_;
  std::unique_ptr<Daemon> daemon_;
  int port_ = -1;
  std::string admin_;
};

TEST_F(ServeTest, JobsAreSubmittedRunAndExplained) {
  Start();
  auto health = Call("GET", "/healthz", "");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(fs::status(dir_ / "data" / "admin.token").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  auto r = Call("POST", "/v1/jobs", admin_,
                R"({"id": "a", "tenant": "startup", "accelerators": 2, "runtime_s": 1000})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  // research's grant is valid from 2027 only (scenarios/small.toml): pending with that reason.
  r = Call("POST", "/v1/jobs", admin_,
           R"({"id": "huge", "tenant": "research", "accelerators": 2})");
  ASSERT_EQ(r->status, 201) << r->body;
  // 1000 s at speedup 1000 is one second: wait until it has finished.
  json a;
  for (int i = 0; i < 200; ++i) {
    a = Body(Call("GET", "/v1/jobs/a", admin_));
    if (a["state"] == "finished") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(a["state"], "finished") << a.dump();
  std::vector<std::string> states;
  for (const auto& e : a["history"]) states.push_back(e["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"pending", "running", "finished"}));
  const json huge = Body(Call("GET", "/v1/jobs/huge", admin_));
  EXPECT_EQ(huge["state"], "pending");
  EXPECT_NE(huge.value("pending_reason", std::string()).find("no grant of research"),
            std::string::npos)
      << huge.dump();

  const auto metrics = Call("GET", "/metrics", "");
  EXPECT_NE(metrics->body.find("sovgrid_jobs_submitted_total 2"), std::string::npos)
      << metrics->body;
  const json openapi = Body(Call("GET", "/v1/openapi.json", ""));
  for (const char* path : {"/v1/jobs", "/v1/jobs:batch", "/v1/jobs/{id}", "/v1/jobs/{id}/cancel",
                           "/v1/jobs/{id}/logs", "/v1/grid", "/v1/tokens", "/v1/tokens/{id}",
                           "/v1/audit", "/v1/cluster", "/healthz", "/readyz", "/metrics"})
    EXPECT_TRUE(openapi["paths"].contains(path)) << path;
  // A known path with a method it does not take is not found, as an unknown path is.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"PUT", "/v1/jobs"}, {"DELETE", "/v1/grid"}, {"POST", "/v1/jobs/a"}, {"GET", "/v1/x"}}) {
    auto answer = Call(method, path, admin_);
    ASSERT_TRUE(answer) << method << " " << path;
    EXPECT_EQ(answer->status, 404) << method << " " << path;
    EXPECT_EQ(Body(answer)["error"].value("message", ""),
              "no such endpoint: " + method + " " + path);
  }
  // One daemon on SQLite: always the leader, epoch 1.
  const json cluster = Body(Call("GET", "/v1/cluster", ""));
  EXPECT_EQ(cluster.value("role", ""), "leader") << cluster.dump();
  EXPECT_EQ(cluster.value("epoch", 0), 1) << cluster.dump();
  EXPECT_EQ(cluster.value("leader", ""), cluster.value("self", "-")) << cluster.dump();
  const json grid = Body(Call("GET", "/v1/grid", admin_));
  ASSERT_EQ(grid["pools"].size(), 2U) << grid.dump();  // scenarios/small.toml: two pools
  EXPECT_EQ(daemon_->Stop(SIGTERM), 0) << daemon_->Log();
  EXPECT_NE(daemon_->Log().find("stopped"), std::string::npos);
}

TEST_F(ServeTest, SubmissionsAreCancellableAtOnceAndListedAsCanonicalJson) {
  Start({}, "1000", "3600");  // one cycle at start: the jobs stay in the inbox
  // Ids are names from a safe alphabet: quotes, escapes, control characters,
  // slashes and the like are refused at $.id, and nothing is kept.
  for (const std::string& bad : {std::string("odd \"id\" \\ \t \u0001 \u00e9"), std::string("a/b"),
                                 std::string("a\nb"), std::string(".."), std::string(129, 'x')}) {
    auto r = Call("POST", "/v1/jobs", admin_,
                  json({{"id", bad}, {"tenant", "startup"}, {"accelerators", 1}}).dump());
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_EQ(Body(r)["error"]["field"], "$.id") << r->body;
  }
  const std::string id = "Odd.id_1-x";
  auto r = Call("POST", "/v1/jobs", admin_,
                json({{"id", id}, {"tenant", "startup"}, {"accelerators", 1}}).dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const json pending = Body(Call("GET", "/v1/jobs/%22x", admin_));  // unknown: 404
  EXPECT_EQ(pending["error"]["code"], "not_found");
  ASSERT_EQ(Call("POST", "/v1/jobs", admin_, R"({"id": "b", "tenant": "startup"})")->status, 201);
  const json b = Body(Call("GET", "/v1/jobs/b", admin_));
  EXPECT_EQ(b["state"], "pending");
  EXPECT_FALSE(b.value("pending_reason", std::string()).empty()) << b.dump();
  // Cancelled before any cycle has seen it.
  r = Call("POST", "/v1/jobs/b/cancel", admin_);
  EXPECT_EQ(r->status, 200) << r->body;
  // An ended job's id stays taken, and a duplicate fails alone (409), leaving no trace.
  r = Call("POST", "/v1/jobs:batch", admin_,
           R"({"jobs": [{"id": "c", "tenant": "startup"}, {"id": "b", "tenant": "startup"}]})");
  EXPECT_EQ(r->status, 409) << r->body;
  EXPECT_EQ(Body(r)["error"]["message"], "jobs[1] (id b): job 'b' already exists") << r->body;
  EXPECT_EQ(Call("GET", "/v1/jobs/c", admin_)->status, 404);
  // The listing's hand-written JSON is the same text as nlohmann's dump of it.
  r = Call("GET", "/v1/jobs", admin_);
  ASSERT_EQ(r->status, 200);
  const json page = json::parse(r->body);
  EXPECT_EQ(r->body, page.dump());
  ASSERT_EQ(page["jobs"].size(), 2U) << r->body;
  EXPECT_EQ(page["jobs"][0]["id"], id);
  EXPECT_EQ(page["jobs"][1]["state"], "cancelled");
  const json audit = Body(Call("GET", "/v1/audit", admin_));
  int submits = 0;
  for (const auto& e : audit["entries"]) submits += e["action"] == "job.submit" ? 1 : 0;
  EXPECT_EQ(submits, 2) << audit.dump();
}

TEST_F(ServeTest, BadRequestsGet4xxAndChangeNothing) {
  Start({"--max-body-mb", "1"});
  struct Case {
    std::string body;
    int status;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"{not json", 400, "$"},
      {R"({"id": "x", "tenant": "research", "gpus": 2})", 400, "$.gpus"},
      {R"({"id": "x", "tenant": "research", "accelerators": "two"})", 400, "$.accelerators"},
      {R"({"id": "x", "tenant": "nobody"})", 400, "$.tenant"},
      {R"({"tenant": "research"})", 400, "$.id"},
  };
  for (const auto& c : cases) {
    auto r = Call("POST", "/v1/jobs", admin_, c.body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.status) << c.body << " -> " << r->body;
    EXPECT_EQ(Body(r)["error"].value("field", ""), c.field) << r->body;
  }
  // A batch with one bad job adds none.
  auto batch = Call("POST", "/v1/jobs:batch", admin_,
                    R"({"jobs": [{"id": "b1", "tenant": "research"},
                                 {"id": "b2", "tenant": "research", "accelerators": 0}]})");
  EXPECT_EQ(batch->status, 400);
  EXPECT_EQ(Body(batch)["error"]["field"], "$.jobs[1].accelerators") << batch->body;
  // The scheduler's own checks name the field too (Status::field, not the message).
  auto unknown_tenant = Call("POST", "/v1/jobs:batch", admin_,
                             R"({"jobs": [{"id": "b1", "tenant": "research"},
                                          {"id": "b2", "tenant": "nobody"}]})");
  EXPECT_EQ(unknown_tenant->status, 400);
  EXPECT_EQ(Body(unknown_tenant)["error"]["field"], "$.jobs[1].tenant") << unknown_tenant->body;
  auto one_in_batch =
      Call("POST", "/v1/jobs:batch", admin_, R"({"jobs": [{"id": "b2", "tenant": "nobody"}]})");
  EXPECT_EQ(Body(one_in_batch)["error"]["field"], "$.jobs[0].tenant") << one_in_batch->body;
  EXPECT_EQ(Call("GET", "/v1/jobs/b1", admin_)->status, 404);
  // Oversized body.
  auto big = Call("POST", "/v1/jobs", admin_, std::string(2 << 20, ' '));
  EXPECT_EQ(big->status, 413);
  // Unknown ids and invalid state changes.
  EXPECT_EQ(Call("GET", "/v1/jobs/nope", admin_)->status, 404);
  ASSERT_EQ(Call("POST", "/v1/jobs", admin_, R"({"id": "c", "tenant": "research"})")->status, 201);
  EXPECT_EQ(Call("POST", "/v1/jobs/c/cancel", admin_)->status, 200);
  EXPECT_EQ(Call("POST", "/v1/jobs/c/cancel", admin_)->status, 409);
  EXPECT_EQ(Call("POST", "/v1/jobs", admin_, R"({"id": "c", "tenant": "research"})")->status, 409);
  EXPECT_EQ(Call("GET", "/v1/jobs?limit=0", admin_)->status, 400);
  EXPECT_EQ(Call("GET", "/v1/nothing", admin_)->status, 404);
  EXPECT_EQ(Call("GET", "/v1/jobs", "")->status, 401);
  EXPECT_EQ(Call("GET", "/v1/jobs", "sg_not_a_token")->status, 401);
  // The daemon is still healthy.
  EXPECT_EQ(Call("GET", "/healthz", "")->status, 200);
}

// Issue 14: 80,000 '[' once ended the daemon with SIGSEGV (recursion in
// nlohmann::json). Every JSON body is depth-checked first: 400 naming the
// problem, and the daemon serves on.
TEST_F(ServeTest, DeeplyNestedBodiesGet400AndTheDaemonStaysUp) {
  Start();
  const std::string deep = std::string(80'000, '[') + std::string(80'000, ']');
  for (const std::string path :
       {"/v1/jobs", "/v1/jobs:batch", "/v1/admin/tenants/research/quota", "/v1/tokens"}) {
    auto r = Call("POST", path, admin_, deep);
    ASSERT_TRUE(r) << path << ": no response (daemon died?)\n" << daemon_->Log();
    EXPECT_EQ(r->status, 400) << path << " -> " << r->body.substr(0, 300);
    const json e = Body(r)["error"];
    EXPECT_EQ(e.value("message", ""), "$: nesting deeper than 64 at byte 64") << path;
    EXPECT_EQ(e.value("field", ""), "$") << path;
  }
  // Deep inside an otherwise valid batch.
  auto inner = Call("POST", "/v1/jobs:batch", admin_,
                    R"({"jobs": [{"id": "x", "tenant": "research", "models": )" +
                        std::string(100, '[') + std::string(100, ']') + "}]}");
  ASSERT_TRUE(inner);
  EXPECT_EQ(inner->status, 400);
  EXPECT_NE(inner->body.find("nesting deeper than 64"), std::string::npos) << inner->body;
  // Found by fuzz_api: a token's tenant of the wrong type threw inside the handler.
  auto token = Call("POST", "/v1/tokens", admin_, R"({"tenant": 5})");
  ASSERT_TRUE(token);
  EXPECT_EQ(token->status, 400) << token->body;
  EXPECT_EQ(Body(token)["error"].value("field", ""), "$.tenant") << token->body;
  EXPECT_EQ(Call("GET", "/healthz", "")->status, 200);
  ASSERT_EQ(Call("POST", "/v1/jobs", admin_, R"({"id": "after", "tenant": "research"})")->status,
            201);
}

// A serve --config with a 50,000-part table header is refused cleanly at its
// line and column (it crashed toml++ before).
TEST_F(ServeTest, ConfigFileWithAHugeHeaderIsACleanError) {
  std::string header = "[a";
  for (int i = 0; i < 50'000; ++i) header += ".a";
  std::ofstream(dir_ / "deep.toml") << "listen = \"127.0.0.1:0\"\n" << header << "]\n";
  auto r = testing::RunCommand(kBinary + " serve --data-dir " + (dir_ / "x").string() +
                               " --config " + (dir_ / "deep.toml").string());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("deep.toml:2:65: key with more than 32 dotted parts"), std::string::npos)
      << r.err.substr(0, 500);
}

TEST_F(ServeTest, TenantsSeeOnlyTheirOwnJobsAndEveryChangeIsAudited) {
  Start();
  auto make = [&](const std::string& tenant, const std::string& role) {
    auto r = Call("POST", "/v1/tokens", admin_, json({{"tenant", tenant}, {"role", role}}).dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return Body(r)["token"].get<std::string>();
  };
  const std::string startup = make("startup", "user");
  const std::string research_ro = make("research", "read-only");
  ASSERT_EQ(Call("POST", "/v1/jobs", admin_, R"({"id": "r1", "tenant": "research"})")->status, 201);
  ASSERT_EQ(Call("POST", "/v1/jobs", startup, R"({"id": "s1", "tenant": "startup"})")->status, 201);
  // Another tenant's job is invisible, not forbidden: 404 exactly like a missing one.
  EXPECT_EQ(Call("GET", "/v1/jobs/r1", startup)->status, 404);
  EXPECT_EQ(Call("POST", "/v1/jobs/r1/cancel", startup)->status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/jobs/r1", startup)->status, 404);
  const json listed = Body(Call("GET", "/v1/jobs", startup));
  ASSERT_EQ(listed["jobs"].size(), 1U) << listed.dump();
  EXPECT_EQ(listed["jobs"][0]["id"], "s1");
  EXPECT_EQ(Body(Call("GET", "/v1/jobs?tenant=research", startup))["jobs"].size(), 0U);
  // Submitting for another tenant, and read-only tokens submitting, are refused.
  EXPECT_EQ(Call("POST", "/v1/jobs", startup, R"({"id": "s2", "tenant": "research"})")->status,
            400);
  EXPECT_EQ(Call("POST", "/v1/jobs", research_ro, R"({"id": "r2", "tenant": "research"})")->status,
            403);
  EXPECT_EQ(Call("GET", "/v1/jobs/r1", research_ro)->status, 200);
  // A route's role is checked before anything else: a read-only token may
  // cancel nothing, seen or not.
  EXPECT_EQ(Call("DELETE", "/v1/jobs/r1", research_ro)->status, 403);
  EXPECT_EQ(Call("POST", "/v1/jobs/s1/cancel", research_ro)->status, 403);
  // Users cannot create tokens or read the audit log.
  EXPECT_EQ(Call("POST", "/v1/tokens", startup, R"({"tenant": "startup"})")->status, 403);
  EXPECT_EQ(Call("GET", "/v1/audit", startup)->status, 403);
  const json audit = Body(Call("GET", "/v1/audit", admin_));
  std::multiset<std::string> actions;
  for (const auto& e : audit["entries"]) actions.insert(e["action"].get<std::string>());
  EXPECT_EQ(actions.count("token.create"), 3U);  // the bootstrap admin token and two more
  EXPECT_EQ(actions.count("job.submit"), 2U);
  // Revoked tokens stop working.
  const json tokens = Body(Call("GET", "/v1/tokens", admin_));
  std::string startup_id;
  for (const auto& t : tokens["tokens"]) {
    EXPECT_FALSE(t.contains("hash"));
    if (t["tenant"] == "startup") startup_id = t["id"];
  }
  ASSERT_EQ(Call("DELETE", "/v1/tokens/" + startup_id, admin_)->status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs", startup)->status, 401);
}

TEST_F(ServeTest, AdministrationIsAppliedKeptAndReplayed) {
  Start();
  // A grant for research from now on lets its jobs run (scenarios/small.toml's starts in 2027).
  const std::int64_t now = std::time(nullptr);
  auto r = Call("POST", "/v1/admin/tenants/research/grants", admin_,
                json({{"grants",
                       {{{"id", "bridge"},
                         {"accelerator_hours", 100.0},
                         {"valid_from", now - 60},
                         {"valid_until", now + 86400}}}}})
                    .dump());
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(
      Call("POST", "/v1/jobs", admin_, R"({"id": "g1", "tenant": "research", "accelerators": 2})")
          ->status,
      201);
  json g1;
  for (int i = 0; i < 100; ++i) {
    g1 = Body(Call("GET", "/v1/jobs/g1", admin_));
    if (g1["state"] == "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(g1["state"], "running") << g1.dump();
  const json usage = Body(Call("GET", "/v1/tenants/research/usage", admin_));
  double used = 0;
  for (const auto& c : usage["classes"]) used += c["used"].get<double>();
  EXPECT_DOUBLE_EQ(used, 2.0) << usage.dump();
  ASSERT_EQ(usage["grants"].size(), 1U);
  // Take the site it runs on down: the job is requeued; the state survives a restart.
  const std::string node = g1["assignment"][0]["node"];
  const std::string pool = node.substr(0, node.find('/'));
  const std::string site = pool.substr(0, pool.find('-'));
  r = Call("POST", "/v1/admin/sites/" + site + "/state", admin_, R"({"state": "down"})");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Call("POST", "/v1/admin/sites/" + site + "/state", admin_, R"({"state": "sideways"})")
                ->status,
            400);
  EXPECT_EQ(Call("POST", "/v1/admin/sites/atlantis/state", admin_, R"({"state": "down"})")->status,
            404);
  r = Call("POST", "/v1/admin/tenants/research/quota", admin_,
           R"({"guarantee": {"blackwell": -4}})");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Body(r)["error"]["field"], "$.guarantee.blackwell") << r->body;
  r = Call("POST", "/v1/admin/tenants/research/grants", admin_, R"({"grants": [{"id": ""}]})");
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(Body(r)["error"]["field"], "$.grants[0].id") << r->body;
  r = Call("POST", "/v1/admin/nodes/" + node + "/state", admin_, R"({"state": "draining"})");
  EXPECT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(daemon_->Stop(SIGTERM), 0);
  Start();
  const json grid = Body(Call("GET", "/v1/grid", admin_));
  for (const auto& p : grid["pools"]) {
    if (p["site"] == site) {
      EXPECT_EQ(p["site_state"], "down") << grid.dump();
    }
  }
  EXPECT_EQ(Body(Call("GET", "/v1/tenants/research/usage", admin_))["grants"].size(), 1U);
  const json audit = Body(Call("GET", "/v1/audit", admin_));
  std::set<std::string> actions;
  for (const auto& e : audit["entries"]) actions.insert(e["action"].get<std::string>());
  EXPECT_TRUE(actions.count("tenant.grants") && actions.count("site.down") &&
              actions.count("node.draining"))
      << audit.dump();
  // The users' view: usage of another tenant is invisible.
  const std::string startup =
      Body(Call("POST", "/v1/tokens", admin_, R"({"tenant": "startup", "role": "user"})"))["token"];
  EXPECT_EQ(Call("GET", "/v1/tenants/research/usage", startup)->status, 404);
  EXPECT_EQ(
      Call("POST", "/v1/admin/sites/" + site + "/state", startup, R"({"state": "up"})")->status,
      403);
}

TEST_F(ServeTest, ServesHttpsOnlyWithACertificate) {
  const std::string cert = (dir_ / "cert.pem").string(), key = (dir_ / "key.pem").string();
  auto gen = testing::RunCommand(
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " 2>&1");
  ASSERT_EQ(gen.exit_code, 0) << gen.out;
  Start({"--tls-cert", cert, "--tls-key", key});
  httplib::SSLClient tls("127.0.0.1", port_);
  tls.set_ca_cert_path(cert.c_str());
  tls.enable_server_certificate_verification(true);
  auto r = tls.Get("/v1/jobs", {{"Authorization", "Bearer " + admin_}});
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 200);
  // Plain HTTP to the TLS port gets no answer.
  httplib::Client plain("127.0.0.1", port_);
  plain.set_read_timeout(2, 0);
  EXPECT_FALSE(plain.Get("/healthz"));
  // The CLI client with the certificate to trust.
  auto cli = testing::RunCommand(
      kBinary + " jobs --server https://127.0.0.1:" + std::to_string(port_) + " --ca-cert " + cert +
      " --token-file " + (dir_ / "data" / "admin.token").string());
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
}

TEST_F(ServeTest, CliClientTalksToTheDaemon) {
  Start();
  const std::string conn = " --server http://127.0.0.1:" + std::to_string(port_) +
                           " --token-file " + (dir_ / "data" / "admin.token").string();
  const fs::path job = dir_ / "job.json";
  std::ofstream(job) << R"({"id": "cli-1", "tenant": "research", "accelerators": 2})";
  auto r = testing::RunCommand(kBinary + " submit " + job.string() + conn);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("submitted cli-1"), std::string::npos);
  const fs::path batch = dir_ / "batch.json";
  std::ofstream(batch)
      << R"({"jobs": [{"id": "cli-2", "tenant": "startup"}, {"id": "cli-3", "tenant": "startup"}]})";
  r = testing::RunCommand(kBinary + " submit " + batch.string() + conn);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("submitted 2 jobs"), std::string::npos);
  r = testing::RunCommand(kBinary + " jobs --tenant startup" + conn);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("cli-2"), std::string::npos);
  EXPECT_EQ(r.out.find("cli-1"), std::string::npos);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  r = testing::RunCommand(kBinary + " job cli-1" + conn);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("waiting: "), std::string::npos) << r.out;
  r = testing::RunCommand(kBinary + " job cli-1 --json" + conn);
  EXPECT_EQ(json::parse(r.out)["state"], "pending");
  r = testing::RunCommand(kBinary + " cancel cli-1" + conn);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = testing::RunCommand(kBinary + " cancel cli-1" + conn);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already cancelled"), std::string::npos) << r.err;
  r = testing::RunCommand(kBinary + " grid" + conn);
  EXPECT_NE(r.out.find("north-b200"), std::string::npos) << r.out;
  r = testing::RunCommand(kBinary + " usage research" + conn);
  EXPECT_NE(r.out.find("research-2027"), std::string::npos) << r.out;
  r = testing::RunCommand(kBinary + " admin audit" + conn);
  EXPECT_NE(r.out.find("job.cancel"), std::string::npos) << r.out;
  // A bad token, a bad file, a server that is not there.
  const fs::path bad = dir_ / "bad.token";
  std::ofstream(bad) << "sg_wrong\n";
  r = testing::RunCommand(kBinary + " jobs --server http://127.0.0.1:" + std::to_string(port_) +
                          " --token-file " + bad.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("unknown or revoked token"), std::string::npos) << r.err;
  std::ofstream(job) << R"({"id": "cli-9", "tenant": "research", "accelerators": -1})";
  r = testing::RunCommand(kBinary + " submit " + job.string() + conn);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("($.accelerators)"), std::string::npos) << r.err;
  r = testing::RunCommand(kBinary + " jobs --server http://127.0.0.1:1 --token-file " +
                          bad.string());
  EXPECT_EQ(r.exit_code, 3) << r.err;
}

// Several clients submit while the daemon is killed with SIGKILL; after a
// restart every acknowledged job is there, once, and allocations never overlap.
TEST_F(ServeTest, AcknowledgedJobsSurviveSigkill) {
  ::signal(SIGPIPE, SIG_IGN);  // clients write to a daemon that is killed under them
  Start();
  std::mutex mu;
  std::set<std::string> acked;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 5000 && !stop; ++i) {
        const std::string id = "c" + std::to_string(c) + "-" + std::to_string(i);
        const std::string body = json({{"id", id},
                                       {"tenant", c % 2 ? "research" : "startup"},
                                       {"accelerators", 1 + i % 4},
                                       {"runtime_s", 100000}})
                                     .dump();
        httplib::Client client("127.0.0.1", port_);
        client.set_read_timeout(5, 0);
        auto r = client.Post("/v1/jobs", {{"Authorization", "Bearer " + admin_}}, body,
                             "application/json");
        if (!r) break;  // the daemon is gone
        if (r->status == 201) {
          std::lock_guard lock(mu);
          acked.insert(id);
        }
      }
    });
  }
  // Let the burst run, then kill the daemon in the middle of it.
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard lock(mu);
      if (acked.size() >= 200) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(daemon_->Stop(SIGKILL), 128 + SIGKILL);
  stop = true;
  for (auto& t : clients) t.join();
  ASSERT_GE(acked.size(), 50U);

  Start();  // same data directory
  std::map<std::string, json> seen;
  std::int64_t after = 0;
  for (int page = 0; page < 1000; ++page) {
    const json p = Body(Call("GET", "/v1/jobs?limit=1000&after=" + std::to_string(after), admin_));
    for (const auto& j : p["jobs"]) {
      EXPECT_EQ(seen.count(j["id"]), 0U) << "twice: " << j["id"];
      seen[j["id"]] = j;
    }
    after = p["next_after"];
    if (after == 0) break;
  }
  for (const auto& id : acked) EXPECT_EQ(seen.count(id), 1U) << "lost acknowledged job " << id;
  // Let the restarted daemon schedule, then check no accelerator is over-allocated.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::map<std::string, double> share;  // node/accelerator -> allocated share
  after = 0;
  int running = 0;
  for (int page = 0; page < 1000; ++page) {
    const json p = Body(
        Call("GET", "/v1/jobs?state=running&limit=1000&after=" + std::to_string(after), admin_));
    for (const auto& j : p["jobs"]) {
      ++running;
      for (const auto& part : j["assignment"]) {
        for (const auto& a : part["accelerators"]) {
          share[part["node"].get<std::string>() + "/" + std::to_string(a.get<int>())] +=
              part["share"].get<double>();
        }
      }
    }
    after = p["next_after"];
    if (after == 0) break;
  }
  EXPECT_GT(running, 0);
  for (const auto& [accel, s] : share) EXPECT_LE(s, 1.0 + 1e-9) << accel;
}

TEST_F(ServeTest, RunningJobsKeepTheirAllocationAcrossSigkill) {
  Start({}, "1");  // real time: the jobs run for minutes
  for (const char* id : {"r1", "r2", "r3"}) {
    auto r = Call(
        "POST", "/v1/jobs", admin_,
        json({{"id", id}, {"tenant", "startup"}, {"accelerators", 2}, {"runtime_s", 600}}).dump());
    ASSERT_EQ(r->status, 201) << r->body;
  }
  std::map<std::string, json> before;
  for (const char* id : {"r1", "r2", "r3"}) {
    const json j = WaitForState(id, "running");
    ASSERT_EQ(j["state"], "running") << j.dump();
    before[id] = j["assignment"];
  }
  EXPECT_EQ(daemon_->Stop(SIGKILL), 128 + SIGKILL);
  Start({}, "1");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few cycles
  for (const auto& [id, assignment] : before) {
    const json j = Body(Call("GET", "/v1/jobs/" + id, admin_));
    EXPECT_EQ(j["state"], "running") << j.dump();
    EXPECT_EQ(j["assignment"], assignment) << id;
    std::vector<std::string> states;  // not requeued: no second "pending"
    for (const auto& e : j["history"]) states.push_back(e["state"]);
    EXPECT_EQ(states, (std::vector<std::string>{"pending", "running"})) << j.dump();
  }
  // The restored allocations are taken: the rest of the grid is what new jobs get.
  const json grid = Body(Call("GET", "/v1/grid", admin_));
  EXPECT_EQ(grid["jobs_running"], 3) << grid.dump();
  double used = 0;
  for (const auto& p : grid["pools"]) used += p["used"].get<double>();
  EXPECT_DOUBLE_EQ(used, 6);
  const auto ready = Call("GET", "/readyz", "");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
}

TEST_F(ServeTest, LocalExecutionRunsCommandsAndKeepsTheirOutput) {
  Start(Local({"--kill-grace", "1"}));
  auto r = Call("POST", "/v1/jobs", admin_,
                json({{"id", "hello"},
                      {"tenant", "startup"},
                      {"accelerators", 2},
                      {"command", "echo gpus=$CUDA_VISIBLE_DEVICES; echo careful >&2"}})
                    .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  json j = WaitForState("hello", "finished");
  ASSERT_EQ(j["state"], "finished") << j.dump();
  EXPECT_EQ(j["reason"], "exit 0");
  auto out = Call("GET", "/v1/jobs/hello/logs", admin_);
  ASSERT_EQ(out->status, 200) << out->body;
  // The accelerators the scheduler chose, as the node's indexes.
  ASSERT_EQ(j["assignment"].size(), 1U) << j.dump();
  std::string expected = "gpus=";
  for (const auto& a : j["assignment"][0]["accelerators"])
    expected += (expected.size() > 5 ? "," : "") + std::to_string(a.get<int>());
  EXPECT_EQ(out->body, expected + "\n");
  EXPECT_EQ(Call("GET", "/v1/jobs/hello/logs?stream=stderr", admin_)->body, "careful\n");
  EXPECT_EQ(Call("GET", "/v1/jobs/hello/logs?offset=5&limit=1", admin_)->body.size(), 1U);
  EXPECT_EQ(Call("GET", "/v1/jobs/hello/logs?stream=stdin", admin_)->status, 400);
  EXPECT_EQ(Call("GET", "/v1/jobs/nope/logs", admin_)->status, 404);
  const auto cli = testing::RunCommand(
      kBinary + " logs hello --server http://127.0.0.1:" + std::to_string(port_) +
      " --token-file " + (dir_ / "data" / "admin.token").string());
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, out->body);

  // A job without a command cannot run here: refused, not acknowledged.
  r = Call("POST", "/v1/jobs", admin_, R"({"id": "empty", "tenant": "startup"})");
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(Body(r)["error"]["field"], "$.command") << r->body;
  EXPECT_EQ(Call("GET", "/v1/jobs/empty", admin_)->status, 404);

  // A failing command fails its job with its exit status.
  r = Call("POST", "/v1/jobs", admin_,
           R"({"id": "bad", "tenant": "startup", "command": "exit 3"})");
  ASSERT_EQ(r->status, 201) << r->body;
  j = WaitForState("bad", "failed");
  EXPECT_EQ(j["reason"], "exit 3") << j.dump();

  // Cancelling a running job kills its processes.
  const fs::path pidfile = JobDir("startup", "sleeper") / "sleeper.pid";
  r = Call("POST", "/v1/jobs", admin_,
           json({{"id", "sleeper"},
                 {"tenant", "startup"},
                 {"command", "echo $$ > $SOVGRID_JOB_DIR/sleeper.pid; exec sleep 300"}})
               .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  ASSERT_EQ(WaitForState("sleeper", "running")["state"], "running");
  pid_t pid = 0;
  for (int i = 0; i < 200 && pid == 0; ++i) {
    std::ifstream in(pidfile);
    in >> pid;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(pid, 0);
  ASSERT_EQ(::kill(pid, 0), 0);
  ASSERT_EQ(Call("POST", "/v1/jobs/sleeper/cancel", admin_)->status, 200);
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = ::kill(pid, 0) != 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "the cancelled job's process " << pid << " still runs";
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/sleeper", admin_))["state"], "cancelled");
}

TEST_F(ServeTest, ALocalJobRunsOnThroughADaemonSigkill) {
  Start(Local());
  // Two jobs of two tenants; each counts its runs in its own folder.
  const std::string count = "echo start >> $SOVGRID_JOB_DIR/runs; sleep 2; echo done; ";
  auto r = Call("POST", "/v1/jobs", admin_,
                json({{"id", "long"}, {"tenant", "startup"}, {"command", count + "true"}}).dump());
  ASSERT_EQ(r->status, 201) << r->body;
  r = Call("POST", "/v1/jobs", admin_,
           json({{"id", "other"}, {"tenant", "acme"}, {"command", count + "exit 4"}}).dump());
  ASSERT_EQ(r->status, 201) << r->body;
  json running = WaitForState("long", "running");
  // The start is committed before the process runs, its handle just after.
  for (int i = 0; i < 100 && !running.contains("backend_ref"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    running = Body(Call("GET", "/v1/jobs/long", admin_));
  }
  ASSERT_EQ(running["state"], "running") << running.dump();
  ASSERT_EQ(WaitForState("other", "running")["state"], "running");
  EXPECT_EQ(running["backend_ref"].get<std::string>().rfind("pid:", 0), 0U) << running.dump();
  EXPECT_EQ(daemon_->Stop(SIGKILL), 128 + SIGKILL);
  Start(Local());
  const json j = WaitForState("long", "finished");
  ASSERT_EQ(j["state"], "finished") << j.dump();
  EXPECT_EQ(j["reason"], "exit 0");
  EXPECT_EQ(j["assignment"], running["assignment"]);
  std::vector<std::string> states;
  for (const auto& e : j["history"]) states.push_back(e["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"pending", "running", "finished"})) << j.dump();
  EXPECT_EQ(Call("GET", "/v1/jobs/long/logs", admin_)->body, "done\n");
  const json other = WaitForState("other", "failed");
  EXPECT_EQ(other["reason"], "exit 4") << other.dump();
  // Each ran once: adopted, not started again.
  for (const auto& [tenant, id] : {std::pair{"startup", "long"}, std::pair{"acme", "other"}}) {
    std::ifstream in(JobDir(tenant, id) / "runs");
    std::string runs((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(runs, "start\n") << id;
  }
}

// The reproduction of issue 14: a job must not read the admin token, the
// database or another tenant's output, nor get the daemon's environment, and
// nothing it leaves running survives its cancellation.
TEST_F(ServeTest, LocalJobsCannotReachTheDaemonsSecretsNorEachOther) {
  if (!Root()) {
    GTEST_SKIP() << "needs root: the daemon isolates jobs under uids of their own only as root";
  }
  ::setenv("SOVGRID_TOKEN", "token-of-the-daemons-environment", 1);
  Start(Local({"--kill-grace", "1"}));
  ::unsetenv("SOVGRID_TOKEN");
  const fs::path data = dir_ / "data";
  auto mode = [](const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode(data), 0711U);  // passable to the jobs' folders, listable by none
  for (const char* f : {"admin.token", "sovgrid.db", "sovgrid.db-wal", "sovgrid.db-shm"})
    EXPECT_EQ(mode(data / f), 0600U) << f;

  auto r = Call("POST", "/v1/jobs", admin_,
                json({{"id", "victim"},
                      {"tenant", "acme"},
                      {"command", "echo ACME-PRIVATE-OUTPUT; sleep 300"}})
                    .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  ASSERT_EQ(WaitForState("victim", "running")["state"], "running");
  const std::string victim_out = (JobDir("acme", "victim") / "stdout").string();
  std::string tries;
  for (const std::string& path :
       {std::string("$SOVGRID_JOB_DIR/../../../../admin.token"),
        std::string("$SOVGRID_JOB_DIR/../../../admin.token"), (data / "admin.token").string(),
        (data / "sovgrid.db").string(), (data / "sovgrid.db-wal").string(),
        std::string("$SOVGRID_JOB_DIR/../../../../sovgrid.db"), victim_out,
        std::string("$SOVGRID_JOB_DIR/../../acme/victim/stdout")})
    tries += "cat " + path + "; ";
  tries += "ls " + data.string() + "; ls $SOVGRID_JOB_DIR/..; ";
  tries += "echo token=${SOVGRID_TOKEN:-none}";
  r = Call("POST", "/v1/jobs", admin_,
           json({{"id", "thief"}, {"tenant", "startup"}, {"command", tries}}).dump());
  ASSERT_EQ(r->status, 201) << r->body;
  json j = WaitForState("thief", "finished");
  ASSERT_EQ(j["state"], "finished") << j.dump();
  const std::string out = Call("GET", "/v1/jobs/thief/logs", admin_)->body;
  const std::string err = Call("GET", "/v1/jobs/thief/logs?stream=stderr", admin_)->body;
  EXPECT_EQ(out, "token=none\n") << out;
  EXPECT_EQ(out.find(admin_), std::string::npos);
  EXPECT_EQ(err.find(admin_), std::string::npos);
  EXPECT_EQ(out.find("ACME-PRIVATE"), std::string::npos);
  std::size_t denied = 0;
  for (auto at = err.find("Permission denied"); at != std::string::npos;
       at = err.find("Permission denied", at + 1))
    ++denied;
  // Every try but ../../../admin.token (DATA/local has none) is refused.
  EXPECT_EQ(denied, 9U) << err;
  EXPECT_EQ(Call("GET", "/v1/jobs/victim/logs", admin_)->body, "ACME-PRIVATE-OUTPUT\n");

  // A double-forked escapee (its own session, orphaned) ends with its job.
  r = Call("POST", "/v1/jobs", admin_,
           json({{"id", "escape"},
                 {"tenant", "startup"},
                 {"command",
                  "id -u > $SOVGRID_JOB_DIR/uid; (setsid sh -c 'sleep 1000 & echo $! > "
                  "$SOVGRID_JOB_DIR/escapee' &); sleep 300"}})
               .dump());
  ASSERT_EQ(r->status, 201) << r->body;
  const auto uid = static_cast<uid_t>(ReadNumber(JobDir("startup", "escape") / "uid"));
  const auto escapee = ReadNumber(JobDir("startup", "escape") / "escapee");
  ASSERT_GT(uid, 0U);
  ASSERT_GT(escapee, 0);
  ASSERT_TRUE(testing::ProcessRunsUnderUid(uid));
  ASSERT_EQ(Call("POST", "/v1/jobs/escape/cancel", admin_)->status, 200);
  bool gone = false;
  for (int i = 0; i < 250 && !gone; ++i) {
    gone = !testing::ProcessRunsUnderUid(uid);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "a process of uid " << uid << " outlived its cancelled job";
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/escape", admin_))["state"], "cancelled");
  ASSERT_EQ(Call("POST", "/v1/jobs/victim/cancel", admin_)->status, 200);
}

TEST_F(ServeTest, WithoutRootLocalExecutionNeedsIsolationNone) {
  if (!Root()) GTEST_SKIP() << "needs root to start the daemon as another user";
  // The daemon as nobody: uid isolation is refused, none starts with a warning.
  const fs::path data = dir_ / "nobody";
  fs::create_directories(data);
  ASSERT_EQ(::chown(data.c_str(), 65534, 65534), 0);
  // nobody may not reach the checkout (it may live under /root, 0700): the
  // binary and the scenario are copied where it can.
  const std::string binary = (dir_ / "sovgrid").string(), scenario = (dir_ / "small.toml").string();
  fs::copy_file(kBinary, binary);
  fs::copy_file(kScenario, scenario);
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  const std::string as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups " + binary +
                                " serve --scenario " + scenario + " --data-dir " + data.string() +
                                " --backend local --listen 127.0.0.1:0";
  const auto refused = testing::RunCommand(as_nobody);
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("--job-isolation none"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("needs root"), std::string::npos) << refused.err;
  EXPECT_FALSE(fs::exists(data / "sovgrid.db")) << "refused before anything is created";
  Daemon none("/usr/bin/setpriv",
              {"--reuid=65534", "--regid=65534", "--clear-groups", binary, "serve", "--scenario",
               scenario, "--data-dir", data.string(), "--backend", "local", "--listen",
               "127.0.0.1:0", "--job-isolation", "none"},
              (dir_ / "nobody.log").string());
  port_ = none.WaitForPort();
  ASSERT_GT(port_, 0) << none.Log();
  EXPECT_NE(none.Log().find("warning: --job-isolation none"), std::string::npos) << none.Log();
  std::ifstream(data / "admin.token") >> admin_;
  auto r = Call("POST", "/v1/jobs", admin_,
                R"({"id": "dev", "tenant": "startup", "command": "id -u; echo $HOME"})");
  ASSERT_EQ(r->status, 201) << r->body;
  const json j = WaitForState("dev", "finished");
  ASSERT_EQ(j["state"], "finished") << j.dump() << none.Log();
  EXPECT_EQ(Call("GET", "/v1/jobs/dev/logs", admin_)->body,
            "65534\n" + (data / "local" / "jobs" / "startup" / "dev").string() + "\n");
  EXPECT_EQ(none.Stop(SIGTERM), 0) << none.Log();
}

TEST_F(ServeTest, ReadsAConfigFileWhereFlagsWin) {
  const fs::path config = dir_ / "serve.toml";
  std::ofstream(config) << "backend = \"local\"\nkill_grace = 2\nlisten = \"127.0.0.1:1\"\n"
                        << "job_uid_base = " << UidBase() << "\njob_uid_count = 64\n"
                        << (Root() ? "" : "job_isolation = \"none\"\n");
  Start({"--config", config.string()});  // --listen on the command line wins over the file
  json ready = json::object();
  for (int i = 0; i < 100 && ready.value("status", "") != "ready"; ++i) {
    ready = Body(Call("GET", "/readyz", ""));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(ready["backend"], "local") << ready.dump();

  std::ofstream(dir_ / "bad.toml") << "listen = \"127.0.0.1:0\"\nbogus = 3\n";
  auto r = testing::RunCommand(kBinary + " serve --data-dir " + (dir_ / "x").string() +
                               " --config " + (dir_ / "bad.toml").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad.toml:2:9: bogus: unknown option"), std::string::npos) << r.err;
  std::ofstream(dir_ / "range.toml") << "cycle-interval = 0\n";
  r = testing::RunCommand(kBinary + " serve --data-dir " + (dir_ / "x").string() + " --config " +
                          (dir_ / "range.toml").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("range.toml:1:18: cycle-interval"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_ / "x" / "sovgrid.db")) << "a bad configuration must not start";
}

TEST_F(ServeTest, FailingASiteMovesItsJobsWhereTheirDataMayGo) {
  Start({}, "1");  // real time: nothing ends during the test
  auto submit = [&](const json& job) {
    auto r = Call("POST", "/v1/jobs", admin_, job.dump());
    ASSERT_EQ(r->status, 201) << r->body;
  };
  // acme-designs may only be at site north (scenarios/small.toml).
  submit({{"id", "pinned"},
          {"tenant", "acme"},
          {"accelerators", 2},
          {"datasets", {"acme-designs"}},
          {"runtime_s", 3600}});
  submit({{"id", "mobile"},
          {"tenant", "startup"},
          {"accelerators", 2},
          {"checkpoint_s", 60},
          {"runtime_s", 3600}});
  json pinned = WaitForState("pinned", "running"), mobile = WaitForState("mobile", "running");
  ASSERT_EQ(pinned["state"], "running") << pinned.dump();
  ASSERT_EQ(mobile["state"], "running") << mobile.dump();
  auto site_of = [](const json& j) {
    return j["assignment"][0]["node"].get<std::string>().rfind("north", 0) == 0 ? "north" : "south";
  };
  ASSERT_EQ(site_of(pinned), "north");
  // Fail the site the mobile job runs on: it is requeued and placed at the other one.
  const std::string first = site_of(mobile), other = first == "north" ? "south" : "north";
  auto r = Call("POST", "/v1/admin/sites/" + first + "/state", admin_, R"({"state": "down"})");
  ASSERT_EQ(r->status, 200) << r->body;
  json moved;
  for (int i = 0; i < 200; ++i) {
    moved = Body(Call("GET", "/v1/jobs/mobile", admin_));
    if (moved["state"] == "running" && site_of(moved) == other) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(moved["state"], "running") << moved.dump();
  EXPECT_EQ(site_of(moved), other) << moved.dump();
  std::vector<std::string> states;
  std::string requeue_detail;
  for (const auto& e : moved["history"]) {
    states.push_back(e["state"]);
    if (e["state"] == "pending" && states.size() > 1) requeue_detail = e["detail"];
  }
  EXPECT_EQ(states, (std::vector<std::string>{"pending", "running", "pending", "running"}));
  EXPECT_NE(requeue_detail.find("since its last checkpoint lost"), std::string::npos)
      << requeue_detail;
  ASSERT_EQ(
      Call("POST", "/v1/admin/sites/" + first + "/state", admin_, R"({"state": "up"})")->status,
      200);

  // Fail north: the pinned job's data may not leave it, so it waits, and says why.
  ASSERT_EQ(Call("POST", "/v1/admin/sites/north/state", admin_, R"({"state": "down"})")->status,
            200);
  json waiting = WaitForState("pinned", "pending");
  ASSERT_EQ(waiting["state"], "pending") << waiting.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few cycles: it stays
  waiting = Body(Call("GET", "/v1/jobs/pinned", admin_));
  EXPECT_EQ(waiting["state"], "pending") << waiting.dump();
  const std::string why = waiting.value("pending_reason", "");
  EXPECT_NE(why.find("residency of acme-designs"), std::string::npos) << why;
  EXPECT_NE(why.find("sites that are down"), std::string::npos) << why;
  // Restored: it runs at north again.
  ASSERT_EQ(Call("POST", "/v1/admin/sites/north/state", admin_, R"({"state": "up"})")->status, 200);
  EXPECT_EQ(WaitForState("pinned", "running")["state"], "running");
}

// What the web console reads beyond the job API: draining with and without
// requeue, a pool's nodes, pending totals by tenant and reason, the name
// search and usage per day and tenant; each scoped to the token's subtree.
TEST_F(ServeTest, ConsoleEndpointsDrainWithRequeueNodesQueueSearchAndUsageByDay) {
  Start({}, "1");  // real time: nothing ends during the test
  const json acme_token =
      Body(Call("POST", "/v1/tokens", admin_, json({{"tenant", "acme"}, {"role", "user"}}).dump()));
  const std::string acme = acme_token["token"];
  auto submit = [&](const json& job) {
    auto r = Call("POST", "/v1/jobs", admin_, job.dump());
    ASSERT_EQ(r->status, 201) << r->body;
  };
  submit({{"id", "mobile"},
          {"tenant", "startup"},
          {"accelerators", 2},
          {"checkpoint_s", 60},
          {"runtime_s", 3600}});
  submit({{"id", "too-big"}, {"tenant", "startup"}, {"accelerators", 16}, {"models", {"L4"}}});
  json mobile = WaitForState("mobile", "running");
  ASSERT_EQ(mobile["state"], "running") << mobile.dump();
  auto site_of = [](const json& j) {
    return j["assignment"][0]["node"].get<std::string>().rfind("north", 0) == 0 ? "north" : "south";
  };
  const std::string first = site_of(mobile), other = first == "north" ? "south" : "north";
  const std::string first_pool = first == "north" ? "north-b200" : "south-l4";
  const std::string other_pool = first == "north" ? "south-l4" : "north-b200";

  // A pool's nodes: health, use, the jobs on each; another tenant's job is counted, not named.
  json nodes = Body(Call("GET", "/v1/pools/" + first_pool + "/nodes", admin_));
  ASSERT_EQ(nodes["node_count"], 4) << nodes.dump();
  const std::string node = mobile["assignment"][0]["node"];
  json on_node;
  for (const auto& n : nodes["nodes"]) {
    EXPECT_EQ(n["state"], "up");
    if (n["name"] == node) on_node = n;
  }
  ASSERT_TRUE(on_node.is_object()) << nodes.dump();
  ASSERT_EQ(on_node["jobs"].size(), 1u) << on_node.dump();
  EXPECT_EQ(on_node["jobs"][0]["id"], "mobile");
  EXPECT_EQ(on_node["jobs"][0]["tenant"], "startup");
  EXPECT_EQ(on_node["jobs"][0]["accelerators"].size(), 2u);
  EXPECT_DOUBLE_EQ(on_node["used"].get<double>(), 2.0);
  json seen_by_acme = Body(Call("GET", "/v1/pools/" + first_pool + "/nodes", acme));
  for (const auto& n : seen_by_acme["nodes"]) {
    EXPECT_TRUE(n["jobs"].empty()) << n.dump();
    if (n["name"] == node) {
      EXPECT_EQ(n["other_jobs"], 1) << n.dump();
    }
  }
  EXPECT_EQ(Call("GET", "/v1/pools/nowhere/nodes", admin_)->status, 404);
  EXPECT_EQ(Call("GET", "/v1/pools/" + first_pool + "/nodes?limit=0", admin_)->status, 400);
  json window = Body(Call("GET", "/v1/pools/" + first_pool + "/nodes?offset=3&limit=5", admin_));
  ASSERT_EQ(window["nodes"].size(), 1u) << window.dump();

  // Pending totals by tenant and reason, in words, scoped to the token.
  json q;
  for (int i = 0; i < 100; ++i) {
    q = Body(Call("GET", "/v1/queue/summary", admin_));
    if (q["pending"] == 1 && q["by_reason"][0]["reason"] != "not_tried") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(q["pending"], 1) << q.dump();
  ASSERT_EQ(q["by_tenant"].size(), 1u) << q.dump();
  EXPECT_EQ(q["by_tenant"][0]["tenant"], "startup");
  EXPECT_EQ(q["by_reason"][0]["pending"], 1);
  EXPECT_EQ(q["by_reason"][0]["example"]["id"], "too-big");
  EXPECT_EQ(q["by_reason"][0]["tenants"]["startup"], 1);
  EXPECT_FALSE(q["by_reason"][0]["words"].get<std::string>().empty());
  EXPECT_FALSE(q["by_reason"][0]["example"]["reason"].get<std::string>().empty());
  json q_acme = Body(Call("GET", "/v1/queue/summary", acme));
  EXPECT_EQ(q_acme["pending"], 0) << q_acme.dump();
  EXPECT_TRUE(q_acme["by_reason"].empty()) << q_acme.dump();
  EXPECT_EQ(Call("GET", "/v1/queue/summary?tenant=acme", admin_)->status, 400);

  // Draining alone stops new placements: the running job stays.
  ASSERT_EQ(Call("POST", "/v1/admin/sites/" + first + "/state", admin_, R"({"state": "draining"})")
                ->status,
            200);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // several cycles
  mobile = Body(Call("GET", "/v1/jobs/mobile", admin_));
  ASSERT_EQ(mobile["state"], "running");
  EXPECT_EQ(site_of(mobile), first);
  // requeue goes with draining only, as a boolean.
  auto bad = Call("POST", "/v1/admin/sites/" + first + "/state", admin_,
                  R"({"state": "up", "requeue": true})");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad)["error"]["field"], "$.requeue");
  EXPECT_EQ(Call("POST", "/v1/admin/sites/" + first + "/state", admin_,
                 R"({"state": "draining", "requeue": "yes"})")
                ->status,
            400);
  // Draining with requeue moves it: stopped, pending, running at the other site; the site stays
  // draining.
  ASSERT_EQ(Call("POST", "/v1/admin/sites/" + first + "/state", admin_,
                 R"({"state": "draining", "requeue": true})")
                ->status,
            200);
  json moved;
  for (int i = 0; i < 200; ++i) {
    moved = Body(Call("GET", "/v1/jobs/mobile", admin_));
    if (moved["state"] == "running" && site_of(moved) == other) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(moved["state"], "running") << moved.dump();
  EXPECT_EQ(site_of(moved), other) << moved.dump();
  std::string detail;
  for (const auto& e : moved["history"]) {
    if (e["state"] == "pending" &&
        e["detail"].get<std::string>().find("drained") != std::string::npos)
      detail = e["detail"];
  }
  EXPECT_NE(detail.find("site " + first + " drained by an administrator, with requeue"),
            std::string::npos)
      << moved.dump();
  EXPECT_NE(detail.find("since its last checkpoint lost"), std::string::npos) << detail;
  // Bound first: a range-for over a part of a temporary reads freed memory
  // (the temporary dies before the loop; ASan caught it).
  const json grid = Body(Call("GET", "/v1/grid", admin_));
  for (const auto& s : grid["sites"]) {
    if (s["id"] == first) {
      EXPECT_EQ(s["state"], "draining");
    }
  }
  json other_nodes = Body(Call("GET", "/v1/pools/" + other_pool + "/nodes", admin_));
  int jobs_there = 0;
  for (const auto& n : other_nodes["nodes"]) jobs_there += static_cast<int>(n["jobs"].size());
  EXPECT_EQ(jobs_there, 1) << other_nodes.dump();
  // A node drained by itself says so in its pool's listing.
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + first_pool + "/n00001/state", admin_,
                 R"({"state": "draining"})")
                ->status,
            200);
  nodes = Body(Call("GET", "/v1/pools/" + first_pool + "/nodes", admin_));
  EXPECT_EQ(nodes["nodes"][1]["state"], "draining") << nodes.dump();
  EXPECT_EQ(nodes["site_state"], "draining");

  // The name search (q=): a prefix, paged by the cursor, scoped to the token.
  json batch = {{"jobs", json::array()}};
  for (const char* id : {"alpha-1", "beta-1", "alpha-2", "alpha-3", "alphabet"})
    batch["jobs"].push_back(
        {{"id", id}, {"tenant", "startup"}, {"accelerators", 16}, {"models", {"L4"}}});
  ASSERT_EQ(Call("POST", "/v1/jobs:batch", admin_, batch.dump())->status, 201);
  json page = Body(Call("GET", "/v1/jobs?q=alpha-&limit=2", admin_));
  ASSERT_EQ(page["jobs"].size(), 2u) << page.dump();
  EXPECT_EQ(page["jobs"][0]["id"], "alpha-1");
  EXPECT_EQ(page["jobs"][1]["id"], "alpha-2");
  ASSERT_NE(page["next_after"], 0);
  page = Body(Call("GET", "/v1/jobs?q=alpha-&limit=2&after=" + page["next_after"].dump(), admin_));
  ASSERT_EQ(page["jobs"].size(), 1u) << page.dump();
  EXPECT_EQ(page["jobs"][0]["id"], "alpha-3");
  EXPECT_EQ(page["next_after"], 0);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs?q=alpha&state=pending", admin_))["jobs"].size(), 4u);
  EXPECT_TRUE(Body(Call("GET", "/v1/jobs?q=alpha", acme))["jobs"].empty());
  EXPECT_EQ(Call("GET", "/v1/jobs?q=" + std::string(129, 'a'), admin_)->status, 400);

  // Usage per day and tenant: a row per pair, both keys named (the running job counts up to
  // now, in whole seconds: wait for one to pass since its start).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  json usage = Body(Call("GET", "/v1/accounting?group_by=day,tenant", admin_));
  EXPECT_EQ(usage["group_by"], "day,tenant") << usage.dump();
  ASSERT_FALSE(usage["rows"].empty()) << usage.dump();
  for (const auto& row : usage["rows"]) {
    EXPECT_TRUE(row.contains("day") && row.contains("tenant")) << row.dump();
    EXPECT_EQ(row["tenant"], "startup") << row.dump();
  }
  EXPECT_EQ(Call("GET", "/v1/accounting?group_by=day,day", admin_)->status, 400);
  EXPECT_TRUE(Body(Call("GET", "/v1/accounting?group_by=day,pool", acme))["rows"].empty());
}

TEST_F(ServeTest, JobIdsAreScopedToTheirTenant) {
  Start();
  auto make = [&](const std::string& tenant) {
    auto r =
        Call("POST", "/v1/tokens", admin_, json({{"tenant", tenant}, {"role", "user"}}).dump());
    EXPECT_EQ(r->status, 201) << r->body;
    return Body(r)["token"].get<std::string>();
  };
  const std::string startup = make("startup"), research = make("research");
  // The same name in two tenants: neither learns of the other.
  auto a = Call("POST", "/v1/jobs", startup, R"({"id": "same", "tenant": "startup"})");
  ASSERT_EQ(a->status, 201) << a->body;
  EXPECT_EQ(Body(a), json({{"id", "same"}, {"tenant", "startup"}}));
  auto b = Call("POST", "/v1/jobs", research, R"({"id": "same", "tenant": "research"})");
  ASSERT_EQ(b->status, 201) << b->body;
  // A retry within the tenant is recognised, not run twice.
  EXPECT_EQ(Call("POST", "/v1/jobs", startup, R"({"id": "same", "tenant": "startup"})")->status,
            409);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/same", startup))["tenant"], "startup");
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/same", research))["tenant"], "research");
  // Reaching into another tenant by name is "not found", as for a name that exists nowhere.
  EXPECT_EQ(Call("GET", "/v1/jobs/same?tenant=research", startup)->status, 404);
  EXPECT_EQ(Call("GET", "/v1/jobs/same/logs?tenant=research", startup)->status, 404);
  EXPECT_EQ(Call("POST", "/v1/jobs/same/cancel?tenant=research", startup)->status, 404);
  // An admin sees both: the bare name is ambiguous and says so; ?tenant= picks one.
  auto ambiguous = Call("GET", "/v1/jobs/same", admin_);
  EXPECT_EQ(ambiguous->status, 409) << ambiguous->body;
  EXPECT_EQ(Body(ambiguous)["error"]["code"], "ambiguous");
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/same?tenant=startup", admin_))["tenant"], "startup");
  // Cancelling research's leaves startup's alone.
  ASSERT_EQ(Call("POST", "/v1/jobs/same/cancel", research)->status, 200);
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/same?tenant=research", admin_))["state"], "cancelled");
  EXPECT_NE(Body(Call("GET", "/v1/jobs/same", startup))["state"], "cancelled");
  const json mine = Body(Call("GET", "/v1/jobs", startup));
  ASSERT_EQ(mine["jobs"].size(), 1U) << mine.dump();
  EXPECT_EQ(mine["jobs"][0]["tenant"], "startup");
  // Both survive a restart under their own keys.
  EXPECT_EQ(daemon_->Stop(SIGKILL), 128 + SIGKILL);
  Start();
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/same", startup))["tenant"], "startup");
  EXPECT_EQ(Body(Call("GET", "/v1/jobs/same", research))["state"], "cancelled");
}

TEST_F(ServeTest, TokensAndRefusalsAreHandledStrictlyAndAudited) {
  Start();
  // A wrongly typed field is a 400 at its path, not a 500.
  auto r = Call("POST", "/v1/tokens", admin_, R"({"role": 5})");
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_EQ(Body(r)["error"]["field"], "$.role");
  r = Call("POST", "/v1/tokens", admin_, R"({"tenant": "startup", "role": "user"})");
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string secret = Body(r)["token"], id = Body(r)["id"];
  // The public id tells nothing of the secret.
  EXPECT_EQ(secret.find(id.substr(4, 6)), std::string::npos) << id << " " << secret;
  // The scheme is case-insensitive.
  httplib::Client client("127.0.0.1", port_);
  for (const char* scheme : {"bearer ", "BEARER ", "Bearer  "}) {
    auto g = client.Get("/v1/jobs", {{"Authorization", scheme + secret}});
    ASSERT_TRUE(g);
    EXPECT_EQ(g->status, 200) << scheme;
  }
  // A refused request is in the audit log, with who tried.
  EXPECT_EQ(Call("GET", "/v1/audit", secret)->status, 403);
  const json audit = Body(Call("GET", "/v1/audit", admin_));
  bool denied = false;
  for (const auto& e : audit["entries"])
    denied |= e["action"] == "denied" && e["actor"] == id && e["target"] == "GET /v1/audit";
  EXPECT_TRUE(denied) << audit.dump();
  // Error messages never show where the daemon keeps its data.
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/jobs/x"}, {"GET", "/nope"}, {"POST", "/v1/jobs"}}) {
    auto e = Call(method, path, admin_, "{");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->body.find(dir_.string()), std::string::npos) << e->body;
    EXPECT_FALSE(e->body.empty()) << method << " " << path;
  }
}

// The data directory on an 8 MB tmpfs, filled up while local jobs run: the
// daemon stops starting jobs, answers writes 503 without paths, keeps
// answering reads, says so on /readyz and /metrics, keeps the ends it sees,
// and resumes by itself once space returns. Then a SIGKILL and a restart: no
// job ran twice, none is recorded twice, none was lost.
TEST_F(ServeTest, AFullDiskStopsStartsLosesNothingAndRecovers) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs for the data directory";
  const fs::path data = dir_ / "data";
  fs::create_directories(data);
  if (testing::RunCommand("mount -t tmpfs -o size=8m tmpfs '" + data.string() + "'").exit_code != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here";
  struct Unmount {
    fs::path at;
    ~Unmount() { (void)testing::RunCommand("umount -l '" + at.string() + "'"); }
  } unmount{data};
  Start({"--backend", "local"});
  // Eight jobs of two accelerators: the small grid runs them all at once.
  for (int i = 0; i < 8; ++i) {
    auto r = Call("POST", "/v1/jobs", admin_,
                  json({{"id", "j" + std::to_string(i)},
                        {"tenant", "startup"},
                        {"accelerators", 2},
                        {"command", "echo ran; sleep 4"}})
                      .dump());
    ASSERT_EQ(r->status, 201) << r->body;
  }
  // Running is committed before the processes start: wait for their output.
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(WaitForState("j" + std::to_string(i), "running")["state"], "running");
    const fs::path out = JobDir("startup", "j" + std::to_string(i)) / "stdout";
    std::string text;
    for (int t = 0; t < 200 && text.empty(); ++t) {
      std::ifstream in(out);
      std::getline(in, text);
      if (text.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_EQ(text, "ran") << out;
  }
  // Fill the disk.
  {
    std::ofstream filler(data / "filler", std::ios::binary);
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < 256 && filler.write(block.data(), block.size()); ++i) {
    }
  }
  // Writes fail cleanly, with no path; nothing of them is kept.
  auto refused = Call("POST", "/v1/jobs", admin_,
                      json({{"id", "late"}, {"tenant", "startup"}, {"command", "true"}}).dump());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->body;
  EXPECT_EQ(refused->body.find(data.string()), std::string::npos) << refused->body;
  auto token = Call("POST", "/v1/tokens", admin_, R"({"tenant": "startup"})");
  EXPECT_EQ(token->status, 503) << token->body;
  EXPECT_EQ(Call("GET", "/readyz", "")->status, 503);
  EXPECT_NE(Call("GET", "/metrics", "")->body.find("sovgrid_store_up 0"), std::string::npos);
  // Reads go on while the jobs end. Their ends are kept until committed;
  // the local backend's clean-up after an end frees a few pages, which may
  // be enough for the commit to succeed before the disk is emptied.
  std::this_thread::sleep_for(std::chrono::seconds(6));
  const std::string j0 = Body(Call("GET", "/v1/jobs/j0", admin_))["state"];
  EXPECT_TRUE(j0 == "running" || j0 == "finished") << j0;
  EXPECT_EQ(Call("GET", "/v1/jobs", admin_)->status, 200);
  // Space returns: everything resumes by itself and the ends are committed.
  fs::remove(data / "filler");
  for (int i = 0; i < 8; ++i) {
    const json j = WaitForState("j" + std::to_string(i), "finished");
    ASSERT_EQ(j["state"], "finished") << j.dump() << daemon_->Log();
    std::vector<std::string> states;
    for (const auto& e : j["history"]) states.push_back(e["state"]);
    EXPECT_EQ(states, (std::vector<std::string>{"pending", "running", "finished"})) << j.dump();
  }
  EXPECT_EQ(Call("GET", "/readyz", "")->status, 200);
  EXPECT_EQ(Call("GET", "/v1/jobs/late", admin_)->status, 404);
  int tokens = 0;
  const json audit = Body(Call("GET", "/v1/audit?limit=1000", admin_));
  for (const auto& e : audit["entries"]) tokens += e["action"] == "token.create" ? 1 : 0;
  EXPECT_EQ(tokens, 1) << audit.dump();  // the bootstrap only: the refused one left nothing
  EXPECT_EQ(Body(Call("GET", "/v1/tokens", admin_))["tokens"].size(), 1U);

  // A second round: jobs running when the disk fills, the daemon killed while
  // it cannot commit, restarted once space is back. None runs twice: each run
  // leaves a line outside the full disk (the jobs' uids may write there).
  const fs::path runs_dir = dir_ / "runs";
  fs::create_directories(runs_dir);
  fs::permissions(runs_dir, fs::perms::all);
  for (int i = 0; i < 4; ++i) {
    const std::string runs_file = (runs_dir / ("k" + std::to_string(i))).string();
    ASSERT_EQ(Call("POST", "/v1/jobs", admin_,
                   json({{"id", "k" + std::to_string(i)},
                         {"tenant", "startup"},
                         {"accelerators", 2},
                         {"command", "echo ran >> " + runs_file + "; sleep 3"}})
                       .dump())
                  ->status,
              201);
  }
  // The disk fills as soon as they are committed as running: some may start
  // before, some not; either way each runs once.
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(WaitForState("k" + std::to_string(i), "running")["state"], "running");
  {
    std::ofstream filler(data / "filler", std::ios::binary);
    const std::string block(64 * 1024, 'x');
    for (int i = 0; i < 256 && filler.write(block.data(), block.size()); ++i) {
    }
  }
  EXPECT_EQ(
      Call("POST", "/v1/jobs", admin_, R"({"id": "late2", "tenant": "startup", "command": "true"})")
          ->status,
      503);
  std::this_thread::sleep_for(std::chrono::seconds(5));  // they end, uncommitted
  EXPECT_EQ(daemon_->Stop(SIGKILL), 128 + SIGKILL);
  fs::remove(data / "filler");
  Start({"--backend", "local"});
  for (int i = 0; i < 4; ++i) {
    const std::string id = "k" + std::to_string(i);
    json j;
    for (int t = 0; t < 200; ++t) {
      j = Body(Call("GET", "/v1/jobs/" + id, admin_));
      const std::string state = j.value("state", "");
      if (state == "finished" || state == "failed") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    // A start that never ran its command may have been requeued after the
    // restart (two "running" in its history); its command ran once.
    std::ifstream out(runs_dir / id);
    int runs = 0;
    for (std::string line; std::getline(out, line);) runs += line == "ran" ? 1 : 0;
    EXPECT_EQ(runs, 1) << "ran " << runs << " times: " << j.dump() << daemon_->Log();
    // Finished, or failed when its exit status could not be written (the disk
    // was full and the daemon not watching): never invented, never rerun.
    EXPECT_TRUE(j["state"] == "finished" || j["state"] == "failed") << j.dump();
  }
}

}  // namespace
}  // namespace sovgrid
