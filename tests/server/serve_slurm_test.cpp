// `sovgrid serve --backend slurm` against two real Slurm clusters, one per
// site of scenarios/small.toml: jobs run where sovgrid placed them, gangs span
// nodes, cancel reaches Slurm, a daemon SIGKILL loses and doubles nothing, and
// a site whose controller stops is failed over.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "testing/daemon.h"
#include "testing/slurm_cluster.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Daemon;
using testing::SlurmCluster;

const std::string kBinary = SOVGRID_BINARY;
const std::string kScenario = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml";

class ServeSlurmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Short: slurmstepd's socket paths under it must stay within 108 bytes.
    static int count = 0;
    dir_ = fs::path("/tmp") / ("sgss" + std::to_string(::getpid()) + "-" + std::to_string(++count));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    ::chmod(dir_.c_str(), 0755);
    // north-b200: 4 nodes x 8 GPUs; south-l4: 4 nodes x 2 GPUs.
    north_ = StartCluster("north", "n-gpu", 8);
    south_ = StartCluster("south", "s-gpu", 2);
    ASSERT_TRUE(north_ && south_);
    std::ofstream(dir_ / "slurm.toml")
        << "poll_interval_s = 0.2\nsite_down_after_s = 3\ncommand_timeout_s = 15\n"
        << "[[clusters]]\nsite = \"north\"\nslurm_conf = \"" << north_->client_conf_path()
        << "\"\n[[clusters.pools]]\npool = \"north-b200\"\npartition = \"batch\"\nnodes = \""
        << north_->node_list() << "\"\n"
        << "[[clusters]]\nsite = \"south\"\nslurm_conf = \"" << south_->client_conf_path()
        << "\"\n[[clusters.pools]]\npool = \"south-l4\"\npartition = \"batch\"\nnodes = \""
        << south_->node_list() << "\"\n";
  }
  void TearDown() override {
    daemon_.reset();
    north_.reset();
    south_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::unique_ptr<SlurmCluster> StartCluster(const std::string& name, const std::string& prefix,
                                             int gpus) {
    testing::SlurmClusterOptions o;
    o.cluster_name = name;
    o.dir = (dir_ / name).string();
    o.nodes = 4;
    o.node_prefix = prefix;
    o.gpus_per_node = gpus;
    o.extra_config = {"SchedulerParameters=batch_sched_delay=0"};
    auto c = SlurmCluster::Start(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }
  void Start() {
    daemon_ = std::make_unique<Daemon>(
        kBinary,
        std::vector<std::string>{"serve", "--scenario", kScenario, "--data-dir",
                                 (dir_ / "data").string(), "--listen", "127.0.0.1:0", "--backend",
                                 "slurm", "--slurm-config", (dir_ / "slurm.toml").string(),
                                 "--cycle-interval", "0.2"},
        (dir_ / "serve.log").string());
    port_ = daemon_->WaitForPort();
    ASSERT_GT(port_, 0) << daemon_->Log();
    std::ifstream in(dir_ / "data" / "admin.token");
    std::getline(in, admin_);
  }
  httplib::Result Call(const std::string& method, const std::string& path,
                       const std::string& body = {}) {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(30, 0);
    const httplib::Headers h = {{"Authorization", "Bearer " + admin_}};
    if (method == "GET") return client.Get(path, h);
    return client.Post(path, h, body, "application/json");
  }
  json Job(const std::string& id) {
    auto r = Call("GET", "/v1/jobs/" + id);
    return r ? json::parse(r->body, nullptr, false) : json::object();
  }
  // For "running", also until its Slurm handle is recorded: a start is
  // committed as running before sbatch runs, and its handle follows.
  json WaitFor(const std::string& id, const std::string& state, double seconds = 30) {
    json j = json::object();
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      j = Job(id);
      const bool started = state != "running" || (j.is_object() && j.contains("backend_ref") &&
                                                  j["backend_ref"].is_string() &&
                                                  !j["backend_ref"].get<std::string>().empty());
      if (j.is_object() && j.value("state", "") == state && started) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return j;
  }
  void Submit(const json& job) {
    auto r = Call("POST", "/v1/jobs", job.dump());
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 201) << r->body;
  }
  // The Slurm node behind sovgrid's "pool/n0000K": the K-th node of the cluster.
  static std::string SlurmNodeOf(const SlurmCluster& c, const std::string& node) {
    return c.node_names().at(std::stoul(node.substr(node.rfind("/n") + 2)));
  }
  // squeue's "%i|%T|%N" for the job, by its Slurm id from backend_ref "slurm:SITE:ID".
  static std::string SlurmLine(const SlurmCluster& c, const std::string& ref) {
    const std::string id = ref.substr(ref.rfind(':') + 1);
    auto r = c.Run("squeue -h -t all -j " + id + " -o '%i|%T|%N'");
    return r.out;
  }

  fs::path dir_;
  std::unique_ptr<SlurmCluster> north_, south_;
  std::unique_ptr<Daemon> daemon_;
  int port_ = -1;
  std::string admin_;
};

TEST_F(ServeSlurmTest, JobsRunInSlurmWhereSovgridPlacedThem) {
  Start();
  Submit({{"id", "one"},
          {"tenant", "startup"},
          {"accelerators", 2},
          {"models", {"B200"}},
          {"command", "echo gpus=$CUDA_VISIBLE_DEVICES node=$SLURMD_NODENAME; sleep 1"}});
  json running = WaitFor("one", "running");
  ASSERT_EQ(running["state"], "running") << running.dump() << daemon_->Log();
  const std::string node = running["assignment"][0]["node"];
  const std::string ref = running["backend_ref"];
  ASSERT_EQ(ref.rfind("slurm:north:", 0), 0U) << ref;
  json done = WaitFor("one", "finished");
  ASSERT_EQ(done["state"], "finished") << done.dump() << daemon_->Log();
  EXPECT_NE(SlurmLine(*north_, ref).find("|COMPLETED|" + SlurmNodeOf(*north_, node)),
            std::string::npos)
      << SlurmLine(*north_, ref);
  auto logs = Call("GET", "/v1/jobs/one/logs");
  ASSERT_EQ(logs->status, 200) << logs->body;
  EXPECT_EQ(logs->body, "gpus=0,1 node=" + SlurmNodeOf(*north_, node) + "\n");

  // A gang of two whole 8-GPU nodes runs on both, each with all eight.
  Submit({{"id", "gang"},
          {"tenant", "startup"},
          {"accelerators", 16},
          {"accelerators_per_node", 8},
          {"command", "echo $SLURMD_NODENAME $CUDA_VISIBLE_DEVICES"}});
  done = WaitFor("gang", "finished");
  ASSERT_EQ(done["state"], "finished") << done.dump() << daemon_->Log();
  ASSERT_EQ(done["assignment"].size(), 2U) << done.dump();
  logs = Call("GET", "/v1/jobs/gang/logs");
  for (const auto& part : done["assignment"]) {
    EXPECT_NE(logs->body.find(SlurmNodeOf(*north_, part["node"]) + " 0,1,2,3,4,5,6,7"),
              std::string::npos)
        << logs->body;
  }

  // Cancel reaches Slurm.
  Submit({{"id", "long"}, {"tenant", "startup"}, {"models", {"L4"}}, {"command", "sleep 300"}});
  running = WaitFor("long", "running");
  ASSERT_EQ(running["state"], "running") << running.dump();
  ASSERT_EQ(Call("POST", "/v1/jobs/long/cancel")->status, 200);
  std::string line;
  for (int i = 0; i < 100; ++i) {
    line = SlurmLine(*south_, running["backend_ref"]);
    if (line.find("CANCELLED") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(line.find("CANCELLED"), std::string::npos) << line;
  // A failing command fails its job with Slurm's exit code.
  Submit({{"id", "bad"}, {"tenant", "startup"}, {"command", "exit 3"}});
  done = WaitFor("bad", "failed");
  EXPECT_NE(done.value("reason", "").find("exit 3"), std::string::npos) << done.dump();
}

TEST_F(ServeSlurmTest, ADaemonSigkillLosesAndDoublesNothing) {
  Start();
  Submit({{"id", "survivor"},
          {"tenant", "startup"},
          {"models", {"B200"}},
          {"command", "sleep 4; echo done"}});
  const json running = WaitFor("survivor", "running");
  ASSERT_EQ(running["state"], "running") << running.dump() << daemon_->Log();
  EXPECT_EQ(daemon_->Stop(SIGKILL), 128 + SIGKILL);
  // A job Slurm runs that the daemon never recorded (it died before its
  // commit), tagged with the daemon's instance (kept in its data dir).
  std::string instance;
  std::getline(std::ifstream(dir_ / "data" / "slurm" / "instance"), instance);
  ASSERT_FALSE(instance.empty());
  const std::string tag = "sovgrid:" + instance + ":";
  ASSERT_EQ(
      north_->Run("sbatch --parsable --comment=" + tag + "orphan --wrap 'sleep 300'").exit_code, 0);
  Start();
  const json done = WaitFor("survivor", "finished");
  ASSERT_EQ(done["state"], "finished") << done.dump() << daemon_->Log();
  EXPECT_FALSE(done.contains("backend_ref")) << "ended jobs keep no handle: " << done.dump();
  std::vector<std::string> states;
  for (const auto& e : done["history"]) states.push_back(e["state"]);
  EXPECT_EQ(states, (std::vector<std::string>{"pending", "running", "finished"})) << done.dump();
  EXPECT_EQ(Call("GET", "/v1/jobs/survivor/logs")->body, "done\n");
  // One Slurm job for it, and the orphan cancelled.
  const auto all = north_->Run("squeue -h -t all -o '%k|%T'").out;
  std::size_t tagged = 0;
  // Slurm's comment carries the daemon's key of the job (TENANT/NAME, escaped).
  for (std::size_t at = all.find(tag + "startup%2Fsurvivor|"); at != std::string::npos;
       at = all.find(tag + "startup%2Fsurvivor|", at + 1))
    ++tagged;
  EXPECT_EQ(tagged, 1U) << all;
  std::string orphan;
  for (int i = 0; i < 50; ++i) {
    orphan = north_->Run("squeue -h -t all -o '%k|%T'").out;
    if (orphan.find(tag + "orphan|CANCELLED") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(orphan.find(tag + "orphan|CANCELLED"), std::string::npos) << orphan;
}

TEST_F(ServeSlurmTest, AnUnreachableControllerFailsItsSiteOver) {
  Start();
  // Two jobs at north: one may go anywhere (south is drained while it starts),
  // one's data may not leave north.
  ASSERT_EQ(Call("POST", "/v1/admin/sites/south/state", R"({"state": "draining"})")->status, 200);
  Submit({{"id", "mobile"}, {"tenant", "startup"}, {"command", "sleep 300"}});
  const json first = WaitFor("mobile", "running");
  ASSERT_EQ(first["state"], "running") << first.dump() << daemon_->Log();
  Submit({{"id", "pinned"},
          {"tenant", "acme"},
          {"datasets", {"acme-designs"}},
          {"command", "sleep 300"}});
  ASSERT_EQ(WaitFor("pinned", "running")["state"], "running");
  // The mobile job may now run at either site.
  auto r = Call("POST", "/v1/admin/sites/south/state", R"({"state": "up"})");
  ASSERT_EQ(r->status, 200);
  ASSERT_TRUE(north_->StopController(true).ok());
  // After site_down_after_s (3 s) north is down: its jobs are requeued, the
  // mobile one to south.
  json grid;
  std::string north_state;
  for (int i = 0; i < 150 && north_state != "down"; ++i) {
    grid = json::parse(Call("GET", "/v1/grid")->body, nullptr, false);
    for (const auto& p : grid["pools"]) {
      if (p["site"] == "north") north_state = p["site_state"];
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(north_state, "down") << grid.dump() << daemon_->Log();
  const json pinned = WaitFor("pinned", "pending");
  EXPECT_EQ(pinned["state"], "pending") << pinned.dump();
  json moved = json::object();
  for (int i = 0; i < 100; ++i) {
    moved = Job("mobile");
    if (moved.value("backend_ref", "").rfind("slurm:south:", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(moved["state"], "running") << moved.dump();
  EXPECT_EQ(moved.value("backend_ref", "").rfind("slurm:south:", 0), 0U) << moved.dump();
  // Restored controller: the site comes back, and the requeued jobs' old
  // Slurm jobs are cancelled there (no job runs twice).
  ASSERT_TRUE(north_->StartController().ok());
  const json back = WaitFor("pinned", "running", 60);
  EXPECT_EQ(back["state"], "running") << back.dump() << daemon_->Log();
  std::string old;
  for (int i = 0; i < 100; ++i) {
    old = SlurmLine(*north_, first["backend_ref"]);
    if (old.find("CANCELLED") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_NE(old.find("CANCELLED"), std::string::npos) << old;
}

// A controller that stops answering (SIGSTOP: connections hang, nothing is
// refused) slows the daemon's ticks, never its API: every call that waits for
// the scheduler stays fast while sbatch/squeue/scontrol wait out their
// deadlines, and the site is reported down with why (issue 17, "no site can
// stall the control plane"; bench/stalled_site for the figures).
TEST_F(ServeSlurmTest, ASilentControllerStallsNoApiCall) {
  // Commands time out after 4 s here, so that the silent site is found down
  // within the test's window.
  {
    std::ifstream in(dir_ / "slurm.toml");
    std::string conf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string from = "command_timeout_s = 15";
    conf.replace(conf.find(from), from.size(), "command_timeout_s = 4");
    std::ofstream(dir_ / "slurm.toml") << conf;
  }
  Start();
  Submit(
      {{"id", "south-job"}, {"tenant", "startup"}, {"models", {"L4"}}, {"command", "sleep 300"}});
  ASSERT_EQ(WaitFor("south-job", "running")["state"], "running") << daemon_->Log();
  const pid_t ctld = north_->controller_pid();
  ASSERT_GT(ctld, 0);
  ASSERT_EQ(::kill(ctld, SIGSTOP), 0);
  struct Resume {  // the cluster's teardown needs a controller that runs
    pid_t pid;
    ~Resume() { ::kill(pid, SIGCONT); }
  } resume{ctld};

  std::vector<double> ms;
  int submitted = 0;
  std::string north_reason;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(12);
  while (std::chrono::steady_clock::now() < end) {
    for (int kind = 0; kind < 3; ++kind) {
      const auto t0 = std::chrono::steady_clock::now();
      httplib::Result r = kind == 0   ? Call("GET", "/v1/grid")
                          : kind == 1 ? Call("GET", "/v1/jobs/south-job")
                                      : Call("POST", "/v1/jobs",
                                             json({{"id", "s" + std::to_string(submitted++)},
                                                   {"tenant", "startup"},
                                                   {"models", {"L4"}},
                                                   {"command", "true"}})
                                                 .dump());
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, kind == 2 ? 201 : 200) << r->body;
      if (kind == 0) {
        const json grid = json::parse(r->body, nullptr, false);
        for (const auto& site : grid["sites"]) {
          if (site["id"] == "north" && site["state"] == "down") north_reason = site["reason"];
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::sort(ms.begin(), ms.end());
  const double p99 = ms[static_cast<std::size_t>(0.99 * static_cast<double>(ms.size() - 1))];
  // Loose on purpose (a loaded CI machine): the stall it guards against lasts
  // the Slurm command timeout (15 s here); docs/benchmarks.md has the figures.
  EXPECT_LT(p99, 2000.0) << "p99 " << p99 << " ms over " << ms.size() << " calls";
  EXPECT_LT(ms.back(), 5000.0);
  EXPECT_NE(north_reason.find("slurm"), std::string::npos)
      << "north not reported down with a reason; " << daemon_->Log();
  const json ready = json::parse(Call("GET", "/readyz")->body, nullptr, false);
  ASSERT_TRUE(ready.contains("sites_not_up")) << ready.dump();
  bool named = false;
  for (const auto& site : ready["sites_not_up"]) named = named || site["site"] == "north";
  EXPECT_TRUE(named) << ready.dump();
}

}  // namespace
}  // namespace sovgrid
