// The Slurm execution backend (src/backends/slurm_backend.h) against real
// Slurm 22.05 clusters started by the SlurmCluster fixture (docs/slurm.md):
// the shared contract suite (backend_contract.h) on a one-node cluster, then
// small.toml's two sites, each backed by a cluster of its own, checked with
// squeue and scontrol: jobs run exactly where sovgrid placed them, with their
// GPUs, gangs run on all their nodes, exit statuses, stop, adoption by a new
// instance, orphans, a node failing in Slurm, a rejected submission, a site
// without a cluster, the controller going away and coming back (asked less
// and less often meanwhile), Slurm's own preemption and time limits, accounts.
//
// The clusters are started once per test binary (lazily; ctest runs each
// test in a process of its own) and stopped at its end by a gtest
// environment. Label `slurm`, RESOURCE_LOCK slurm. Never skipped.
#include "backends/slurm_backend.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backends/backend_contract.h"
#include "backends/process.h"
#include "scenario/loader.h"
#include "testing/slurm_cluster.h"

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using sovgrid::testing::CommandResult;
using sovgrid::testing::SlurmCluster;
using sovgrid::testing::SlurmClusterOptions;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The clusters of this binary, each started on first use with
// batch_sched_delay=0 (a submitted job starts within ~1 s instead of ~3 s).
// "contract": 1 node x 16 GPUs; "north": n-gpu001..004 x 8 GPUs, partitions
// batch, urgent (preempts batch) and short (one-minute limit); "south":
// s-gpu001..004 x 2 GPUs (small.toml's pools); "forgetful": like "contract",
// with MinJobAge=2.
class SharedClusters {
 public:
  static SlurmCluster* Get(const std::string& name) {
    Entry& e = entries()[name];
    if (e.cluster == nullptr && e.error.empty()) {
      std::string templ = "/tmp/sovgrid-slurm-" + name + "-XXXXXX";
      if (::mkdtemp(templ.data()) == nullptr) {
        e.error = "mkdtemp failed";
        return nullptr;
      }
      e.dir = templ;
      SlurmClusterOptions o;
      o.cluster_name = name;
      o.dir = e.dir;
      const bool one_node = name == "contract" || name == "forgetful";
      o.nodes = one_node ? 1 : 4;
      o.node_prefix = name == "contract"    ? "c-gpu"
                      : name == "forgetful" ? "f-gpu"
                      : name == "north"     ? "n-gpu"
                                            : "s-gpu";
      o.gpus_per_node = one_node ? 16 : name == "north" ? 8 : 2;
      o.extra_config = {"SchedulerParameters=batch_sched_delay=0"};
      // Forgets ended jobs 2 s after their end (at its next purge, at most 60 s later).
      if (name == "forgetful") o.extra_config.emplace_back("MinJobAge=2");
      if (name == "north") {
        // The site's own rules: work in `urgent` preempts (cancels) work in
        // `batch`; `short` has a one-minute time limit.
        o.partitions = {{"batch", "", "PriorityTier=1"},
                        {"urgent", "", "PriorityTier=2"},
                        {"short", "", "DefaultTime=1 MaxTime=1"}};
        o.extra_config.emplace_back("PreemptType=preempt/partition_prio");
        o.extra_config.emplace_back("PreemptMode=CANCEL");
      }
      const auto t0 = Clock::now();
      auto started = SlurmCluster::Start(o);
      if (started.ok()) {
        e.cluster = std::move(started).value();
        std::printf("cluster %s up in %.2f s\n", name.c_str(), SecondsSince(t0));
      } else {
        e.error = started.status().ToString();
      }
    }
    EXPECT_NE(e.cluster, nullptr) << "cluster " << name << ": " << e.error;
    return e.cluster.get();
  }
  static void StopAll() {
    for (auto& [name, e] : entries()) {
      e.cluster.reset();
      const bool keep = ::getenv("SOVGRID_KEEP_SLURM_DIRS") != nullptr ||
                        ::testing::UnitTest::GetInstance()->Failed();
      if (!e.dir.empty() && !keep) fs::remove_all(e.dir);
    }
    entries().clear();
  }

 private:
  struct Entry {
    std::unique_ptr<SlurmCluster> cluster;
    std::string dir, error;
  };
  static std::map<std::string, Entry>& entries() {
    static auto* e = new std::map<std::string, Entry>();
    return *e;
  }
};

class ClustersEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { SharedClusters::StopAll(); }
};
[[maybe_unused]] ::testing::Environment* const kClustersEnvironment =
    ::testing::AddGlobalTestEnvironment(new ClustersEnvironment);

const model::Scenario& LoadOrDie(const std::string& what, const std::string& text,
                                 const std::string& path) {
  static auto* loaded = new std::map<std::string, model::Scenario>();
  auto it = loaded->find(what);
  if (it != loaded->end()) return it->second;
  auto s = path.empty() ? scenario::ParseScenario(text, what) : scenario::LoadScenarioFile(path);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what.c_str(), s.status().ToString().c_str());
    std::abort();
  }
  return loaded->emplace(what, std::move(s).value()).first->second;
}

// The contract suite's world: site-a with pool-a, one node of 16 GPUs.
const model::Scenario& ContractScenario() {
  return LoadOrDie("contract.toml", R"(
[scenario]
name = "contract"
epoch = 2027-01-04T00:00:00Z

[[accelerators]]
name = "G"
vendor = "NVIDIA"
quota_class = "g"
memory_gib = 80.0
power_w = 700.0

[[sites]]
id = "site-a"
name = "Site A"
operator = "Op"
region = "r"
jurisdiction = "KR"
tier = 3

[[pools]]
id = "pool-a"
site = "site-a"
accelerator = "G"
accelerators_per_node = 16
nodes = 1
domain_size = 16

[[tenants]]
id = "t"
name = "T"
)",
                   "");
}

const model::Scenario& SmallScenario() {
  return LoadOrDie("small", "", std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
}

}  // namespace

namespace contract {
namespace {

struct SlurmHarness {
  static constexpr bool kTracksRealWork = true;
  // A job starts up to ~1-3 s after its submission and a pass reads squeue
  // every 0.5 s: every wait of the suite is three times as long.
  static constexpr double kTimeScale = 3;
  static std::unique_ptr<ExecutionBackend> Make(const fs::path& dir) {
    SlurmCluster* c = SharedClusters::Get("contract");
    if (c == nullptr) return nullptr;
    SlurmBackendOptions o;
    o.dir = dir.string();
    o.clusters = {{"site-a", c->client_conf_path(), "", {{"pool-a", "batch", c->node_names()}}}};
    o.poll_interval_s = 0.5;
    auto b = MakeSlurmBackend(o, ContractScenario());
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? std::move(b).value() : nullptr;
  }
  static model::Job JobFor(const std::string& id, int seconds) {
    model::Job j;
    j.id = id;
    j.tenant = "t";
    j.command = seconds > 0 ? "sleep " + std::to_string(seconds) : "sleep 600";
    return j;
  }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Slurm, BackendContractTest, SlurmHarness);

}  // namespace
}  // namespace contract

namespace {

// `scontrol show job -o ID` as Key=Value fields (a token without '='
// continues the previous value); "_raw" holds the whole output.
std::map<std::string, std::string> ShowJob(const SlurmCluster& c, const std::string& id) {
  const CommandResult r = c.Run("scontrol show job -o " + id);
  std::map<std::string, std::string> fields = {{"_raw", r.out + r.err}};
  std::string last;
  std::istringstream in(r.out);
  for (std::string token; in >> token;) {
    const std::size_t eq = token.find('=');
    if (eq == std::string::npos || eq == 0) {
      if (!last.empty()) fields[last] += " " + token;
      continue;
    }
    last = token.substr(0, eq);
    fields[last] = token.substr(eq + 1);
  }
  return fields;
}

std::string State(const SlurmCluster& c, const std::string& id) {
  return Trim(c.Run("squeue -h -t all -j " + id + " -o '%T'", 15).out);
}

std::string WaitForState(const SlurmCluster& c, const std::string& id,
                         const std::set<std::string>& states, double timeout_s = 30) {
  const auto t0 = Clock::now();
  std::string state;
  while (SecondsSince(t0) < timeout_s) {
    state = State(c, id);
    if (states.count(state) != 0) return state;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return state;
}

// "slurm:north:17" -> "17".
std::string SlurmId(const std::string& handle) { return handle.substr(handle.rfind(':') + 1); }

PlacedPart North(int node, std::vector<int> gpus, double share = 1) {
  return {"north-b200/n0000" + std::to_string(node), "north-b200", "north", std::move(gpus), share};
}
PlacedPart South(int node, std::vector<int> gpus, double share = 1) {
  return {"south-l4/n0000" + std::to_string(node), "south-l4", "south", std::move(gpus), share};
}

// small.toml's sites on two clusters of their own.
class SlurmSitesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    north_ = SharedClusters::Get("north");
    south_ = SharedClusters::Get("south");
    ASSERT_NE(north_, nullptr);
    ASSERT_NE(south_, nullptr);
    dir_ = fs::temp_directory_path() /
           ("sovgrid-slurm-backend-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    backend_ = Make();
    ASSERT_NE(backend_, nullptr);
  }
  void TearDown() override {
    if (backend_ != nullptr) {
      for (const auto& [id, handle] : handles_) backend_->Stop(id);
      backend_->Poll(contract::WallNow());
      backend_.reset();
    }
    // Leave both clusters as found: every node up and idle.
    for (SlurmCluster* c : {north_, south_}) {
      if (c == nullptr) continue;
      if (!c->controller_running()) {
        EXPECT_TRUE(c->StartController().ok());
      }
      c->Run("scancel --user=root; scontrol update nodename=" + c->node_list() +
             " state=resume >/dev/null 2>&1");
      EXPECT_TRUE(c->WaitForIdle(30).ok()) << c->Run("squeue -h -o '%i|%T|%N|%k'").out;
    }
    fs::remove_all(dir_);
  }

  SlurmBackendOptions Options() const {
    SlurmBackendOptions o;
    o.dir = dir_.string();
    o.clusters = {
        {"north", north_->client_conf_path(), "", {{"north-b200", "batch", north_->node_names()}}},
        {"south", south_->client_conf_path(), "", {{"south-l4", "batch", south_->node_names()}}}};
    o.poll_interval_s = 0.5;
    o.instance = "test";
    return o;
  }
  std::unique_ptr<ExecutionBackend> Make(const SlurmBackendOptions& o) {
    auto b = MakeSlurmBackend(o, SmallScenario());
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? std::move(b).value() : nullptr;
  }
  std::unique_ptr<ExecutionBackend> Make() { return Make(Options()); }

  static model::Job Job(const std::string& id, const std::string& command) {
    model::Job j;
    j.id = id;
    j.tenant = "research";
    j.command = command;
    return j;
  }
  // Starts the job; its handle ("" and a test failure when Start fails).
  std::string StartJob(const model::Job& job, const std::vector<PlacedPart>& where) {
    auto h = backend_->Start(job, where, contract::WallNow());
    EXPECT_TRUE(h.ok()) << job.id << ": " << h.status().ToString();
    if (!h.ok()) return "";
    handles_[job.id] = *h;
    return *h;
  }
  // Polls (Poll and Health) until `done()` or `timeout_s`; what was reported
  // lands in ended_ and health_.
  bool Drive(double timeout_s, const std::function<bool()>& done) {
    const auto t0 = Clock::now();
    while (true) {
      for (auto& e : backend_->Poll(contract::WallNow())) ended_.push_back(std::move(e));
      for (auto& h : backend_->Health(contract::WallNow())) health_.push_back(std::move(h));
      if (done()) return true;
      if (SecondsSince(t0) >= timeout_s) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const Ended* EndOf(const std::string& job) const {
    const Ended* found = nullptr;
    for (const auto& e : ended_) {
      if (e.job == job) {
        EXPECT_EQ(found, nullptr) << job << " reported twice";
        found = &e;
      }
    }
    return found;
  }
  bool WaitEnded(const std::string& job, double timeout_s = 30) {
    return Drive(timeout_s, [&] { return EndOf(job) != nullptr; });
  }
  // The last health state reported for `name` ("" if none).
  std::string HealthOf(const std::string& name, std::string* reason = nullptr) const {
    std::string state;
    for (const auto& h : health_) {
      if (h.name == name) {
        state = h.state;
        if (reason != nullptr) *reason = h.reason;
      }
    }
    return state;
  }
  std::string Stdout(const std::string& job) {
    auto logs = backend_->Logs(job, "stdout", 0, 1 << 20);
    EXPECT_TRUE(logs.ok()) << logs.status().ToString();
    return logs.ok() ? *logs : "";
  }

  SlurmCluster* north_ = nullptr;
  SlurmCluster* south_ = nullptr;
  fs::path dir_;
  std::unique_ptr<ExecutionBackend> backend_;
  std::map<std::string, std::string> handles_;
  std::vector<Ended> ended_;
  std::vector<HealthChange> health_;
};

TEST_F(SlurmSitesTest, AJobRunsOnTheSlurmNodeOfItsPlacementWithItsGpus) {
  const std::string print =
      "echo gpus=$CUDA_VISIBLE_DEVICES node=$SLURMD_NODENAME sovgrid=$SOVGRID_NODE "
      "rank=$SOVGRID_NODE_RANK site=$SOVGRID_SITE job=$SOVGRID_JOB_ID; sleep 3";
  // north-b200/n00002 is the third node of north's cluster; south-l4/n00001
  // the second of south's; half a GPU is a whole one in Slurm.
  const std::string hn = StartJob(Job("on-north", print), {North(2, {0, 1, 2})});
  const std::string hs = StartJob(Job("on-south", print), {South(1, {1}, 0.5)});
  ASSERT_FALSE(hn.empty());
  ASSERT_FALSE(hs.empty());
  EXPECT_EQ(hn.rfind("slurm:north:", 0), 0u) << hn;
  EXPECT_EQ(hs.rfind("slurm:south:", 0), 0u) << hs;
  ASSERT_EQ(WaitForState(*north_, SlurmId(hn), {"RUNNING", "COMPLETED"}), "RUNNING");
  ASSERT_EQ(WaitForState(*south_, SlurmId(hs), {"RUNNING", "COMPLETED"}), "RUNNING");
  auto n = ShowJob(*north_, SlurmId(hn));
  EXPECT_EQ(n["NodeList"], "n-gpu003") << n["_raw"];
  EXPECT_EQ(n["ReqNodeList"], "n-gpu003");
  EXPECT_EQ(n["NumNodes"], "1");
  EXPECT_EQ(n["TresPerNode"], "gres:gpu:3");
  EXPECT_EQ(n["OverSubscribe"], "OK");  // not exclusive: 3 of 8 GPUs
  EXPECT_EQ(n["Comment"], "sovgrid:test:on-north");
  EXPECT_EQ(n["JobName"], "sovgrid-on-north");
  EXPECT_EQ(n["Partition"], "batch");
  auto s = ShowJob(*south_, SlurmId(hs));
  EXPECT_EQ(s["NodeList"], "s-gpu002") << s["_raw"];
  EXPECT_EQ(s["TresPerNode"], "gres:gpu:1");
  // Each cluster knows only its own job.
  EXPECT_EQ(Trim(north_->Run("squeue -h -o %k").out), "sovgrid:test:on-north");
  EXPECT_EQ(Trim(south_->Run("squeue -h -o %k").out), "sovgrid:test:on-south");

  ASSERT_TRUE(Drive(30, [&] { return EndOf("on-north") && EndOf("on-south"); }));
  for (const char* id : {"on-north", "on-south"}) {
    EXPECT_FALSE(EndOf(id)->failed) << EndOf(id)->message;
    EXPECT_FALSE(EndOf(id)->lost) << EndOf(id)->message;
    EXPECT_EQ(EndOf(id)->message.rfind("exit 0", 0), 0u) << EndOf(id)->message;
  }
  // Slurm chose the GPU indexes: as many as placed (0,1,2 on an idle node).
  EXPECT_EQ(Stdout("on-north"),
            "gpus=0,1,2 node=n-gpu003 sovgrid=north-b200/n00002 rank=0 site=north "
            "job=on-north\n");
  EXPECT_EQ(Stdout("on-south"),
            "gpus=0 node=s-gpu002 sovgrid=south-l4/n00001 rank=0 site=south job=on-south\n");
  EXPECT_EQ(State(*north_, SlurmId(hn)), "COMPLETED");
}

TEST_F(SlurmSitesTest, AWholeNodeGangRunsExclusiveOnBothNodes) {
  const std::vector<int> all = {0, 1, 2, 3, 4, 5, 6, 7};
  const std::string h =
      StartJob(Job("gang",
                   "echo $SOVGRID_NODE_RANK $SLURMD_NODENAME $SOVGRID_NODE $CUDA_VISIBLE_DEVICES "
                   "$SOVGRID_NUM_NODES $SOVGRID_NODES; sleep 1"),
               {North(0, all), North(1, all)});
  ASSERT_FALSE(h.empty());
  ASSERT_EQ(WaitForState(*north_, SlurmId(h), {"RUNNING", "COMPLETED", "FAILED"}), "RUNNING");
  auto j = ShowJob(*north_, SlurmId(h));
  EXPECT_EQ(j["NodeList"], "n-gpu[001-002]") << j["_raw"];
  EXPECT_EQ(j["NumNodes"], "2");
  EXPECT_EQ(j["TresPerNode"], "gres:gpu:8");
  EXPECT_EQ(j["OverSubscribe"], "NO");  // --exclusive
  EXPECT_EQ(j["NumCPUs"], "16");        // both nodes' CPUs
  ASSERT_TRUE(WaitEnded("gang"));
  EXPECT_FALSE(EndOf("gang")->failed) << EndOf("gang")->message;
  std::multiset<std::string> lines;
  std::istringstream out(Stdout("gang"));
  for (std::string line; std::getline(out, line);) lines.insert(line);
  const std::string tail = " 0,1,2,3,4,5,6,7 2 north-b200/n00000,north-b200/n00001";
  EXPECT_EQ(lines, (std::multiset<std::string>{"0 n-gpu001 north-b200/n00000" + tail,
                                               "1 n-gpu002 north-b200/n00001" + tail}));

  // Part of two nodes each: a gang, not exclusive.
  const std::string h2 = StartJob(Job("half-gang", "sleep 1"), {South(2, {0}), South(3, {0})});
  ASSERT_EQ(WaitForState(*south_, SlurmId(h2), {"RUNNING", "COMPLETED"}), "RUNNING");
  auto j2 = ShowJob(*south_, SlurmId(h2));
  EXPECT_EQ(j2["NodeList"], "s-gpu[003-004]") << j2["_raw"];
  EXPECT_EQ(j2["OverSubscribe"], "OK");
  ASSERT_TRUE(WaitEnded("half-gang"));
  EXPECT_FALSE(EndOf("half-gang")->failed) << EndOf("half-gang")->message;
}

TEST_F(SlurmSitesTest, ExitStatusesAndOutputComeBack) {
  // An id with characters that are not plain in a path or a Slurm field.
  const std::string odd = "odd id/%j";
  StartJob(Job(odd, "echo out; echo err >&2"), {North(0, {0})});
  StartJob(Job("three", "echo before; exit 3"), {North(0, {1})});
  StartJob(Job("gang-three", "[ \"$SOVGRID_NODE_RANK\" = 1 ] && exit 3; sleep 1"),
           {South(0, {0}), South(1, {0})});
  ASSERT_TRUE(Drive(30, [&] { return EndOf(odd) && EndOf("three") && EndOf("gang-three"); }));
  EXPECT_FALSE(EndOf(odd)->failed) << EndOf(odd)->message;
  EXPECT_EQ(Stdout(odd), "out\n");
  auto err = backend_->Logs(odd, "stderr", 0, 100);
  ASSERT_TRUE(err.ok()) << err.status().ToString();
  EXPECT_EQ(*err, "err\n");
  auto part = backend_->Logs(odd, "stdout", 1, 2);
  ASSERT_TRUE(part.ok());
  EXPECT_EQ(*part, "ut");
  EXPECT_TRUE(EndOf("three")->failed);
  EXPECT_FALSE(EndOf("three")->lost);
  EXPECT_NE(EndOf("three")->message.find("exit 3"), std::string::npos) << EndOf("three")->message;
  EXPECT_EQ(Stdout("three"), "before\n");
  EXPECT_TRUE(EndOf("gang-three")->failed);
  EXPECT_EQ(EndOf("gang-three")->message.rfind("exit 3 on south-l4/n00001", 0), 0u)
      << EndOf("gang-three")->message;
  EXPECT_EQ(backend_->Logs("never-ran", "stdout", 0, 10).status().code(), StatusCode::kNotFound);
}

TEST_F(SlurmSitesTest, StopCancelsTheSlurmJobAndItIsNeverReported) {
  const std::string h = StartJob(Job("forever", "echo started; exec sleep 600"), {North(1, {0})});
  const std::string pending =
      StartJob(Job("pending", "sleep 600"), {North(1, {0, 1, 2, 3, 4, 5, 6, 7})});
  ASSERT_EQ(WaitForState(*north_, SlurmId(h), {"RUNNING"}), "RUNNING");
  // The second waits in Slurm for GPUs of n-gpu002 (it takes all eight).
  EXPECT_EQ(State(*north_, SlurmId(pending)), "PENDING");
  ASSERT_TRUE(Drive(10, [&] { return Stdout("forever") == "started\n"; }));
  backend_->Stop("forever");
  backend_->Stop("pending");
  EXPECT_EQ(WaitForState(*north_, SlurmId(h), {"CANCELLED"}, 10), "CANCELLED");
  EXPECT_EQ(WaitForState(*north_, SlurmId(pending), {"CANCELLED"}, 10), "CANCELLED");
  Drive(2, [] { return false; });
  EXPECT_TRUE(ended_.empty()) << ended_[0].job << ": " << ended_[0].message;
}

TEST_F(SlurmSitesTest, ANewInstanceAdoptsWhatTheLastOneStarted) {
  const model::Job job = Job("survivor", "sleep 3; echo done");
  const std::string h = StartJob(job, {South(3, {0, 1})});
  ASSERT_EQ(WaitForState(*south_, SlurmId(h), {"RUNNING"}), "RUNNING");
  backend_.reset();  // the daemon went away; Slurm runs on
  backend_ = Make();
  ASSERT_TRUE(backend_->Adopt(job, {South(3, {0, 1})}, contract::WallNow(), h).ok());
  // A job Slurm never ran (or forgot), and handles that name nothing.
  const model::Job ghost = Job("ghost", "true");
  ASSERT_TRUE(
      backend_->Adopt(ghost, {North(0, {0})}, contract::WallNow(), "slurm:north:987654").ok());
  EXPECT_EQ(backend_->Adopt(ghost, {}, 0, "").code(), StatusCode::kNotFound);
  EXPECT_EQ(backend_->Adopt(ghost, {}, 0, "pid:17").code(), StatusCode::kNotFound);
  EXPECT_EQ(backend_->Adopt(ghost, {}, 0, "slurm:west:17").code(), StatusCode::kNotFound);
  ASSERT_TRUE(Drive(30, [&] { return EndOf("survivor") && EndOf("ghost"); }));
  EXPECT_FALSE(EndOf("survivor")->failed) << EndOf("survivor")->message;
  EXPECT_FALSE(EndOf("survivor")->lost) << EndOf("survivor")->message;
  EXPECT_EQ(Stdout("survivor"), "done\n");
  EXPECT_TRUE(EndOf("ghost")->lost) << EndOf("ghost")->message;
  EXPECT_FALSE(EndOf("ghost")->failed);
  EXPECT_NE(EndOf("ghost")->message.find("987654"), std::string::npos) << EndOf("ghost")->message;
}

// The daemon commits a start before it runs it and records the handle after:
// a crash in between leaves a running job without a handle. It is found by
// its tag, or reported lost when sbatch never reached Slurm; never run twice.
TEST_F(SlurmSitesTest, AJobWithoutARecordedHandleIsFoundByItsTag) {
  const model::Job job = Job("unrecorded", "sleep 2; echo done");
  const std::string h = StartJob(job, {South(3, {0, 1})});
  ASSERT_EQ(WaitForState(*south_, SlurmId(h), {"RUNNING"}), "RUNNING");
  backend_.reset();
  backend_ = Make();
  ASSERT_TRUE(backend_->Adopt(job, {South(3, {0, 1})}, contract::WallNow(), "").ok());
  // No job directory: never even prepared, so not found (queued again).
  const model::Job never = Job("never", "true");
  EXPECT_EQ(backend_->Adopt(never, {North(0, {0})}, contract::WallNow(), "").code(),
            StatusCode::kNotFound);
  // Prepared but sbatch never reached Slurm: reported lost by the next pass.
  const model::Job prepared = Job("prepared", "true");
  fs::create_directories(dir_ / "jobs" / EncodeJobId(prepared.id));
  ASSERT_TRUE(backend_->Adopt(prepared, {North(0, {0})}, contract::WallNow(), "").ok());
  ASSERT_TRUE(Drive(30, [&] { return EndOf("unrecorded") && EndOf("prepared"); }));
  EXPECT_FALSE(EndOf("unrecorded")->failed) << EndOf("unrecorded")->message;
  EXPECT_FALSE(EndOf("unrecorded")->lost) << EndOf("unrecorded")->message;
  EXPECT_EQ(Stdout("unrecorded"), "done\n");
  EXPECT_TRUE(EndOf("prepared")->lost) << EndOf("prepared")->message;
  // One Slurm job for it: the adopted one was not cancelled as an orphan.
  const auto all = south_->Run("squeue -h -t all -o '%k|%T'").out;
  EXPECT_NE(all.find("unrecorded|COMPLETED"), std::string::npos) << all;
}

TEST_F(SlurmSitesTest, ATaggedJobNobodyTracksIsCancelledAndOthersAreLeftAlone) {
  const auto submit = [&](const std::string& args) {
    const CommandResult r = north_->Run("sbatch --parsable --chdir=" + north_->jobs_dir() +
                                        " --nodelist=n-gpu004 " + args + " --wrap 'sleep 600'");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return Trim(r.out);
  };
  const std::string orphan = submit("--comment=sovgrid:test:x");
  const std::string foreign = submit("--comment=someone-else");
  const std::string other_daemons = submit("--comment=sovgrid:other:x");
  ASSERT_EQ(WaitForState(*north_, foreign, {"RUNNING"}), "RUNNING");
  ASSERT_EQ(WaitForState(*north_, other_daemons, {"RUNNING"}), "RUNNING");
  EXPECT_NE(State(*north_, orphan), "CANCELLED");
  Drive(10, [&] { return State(*north_, orphan) == "CANCELLED"; });
  EXPECT_EQ(State(*north_, orphan), "CANCELLED");
  Drive(1, [] { return false; });
  EXPECT_EQ(State(*north_, foreign), "RUNNING");
  EXPECT_EQ(State(*north_, other_daemons), "RUNNING");
  EXPECT_TRUE(ended_.empty());
  north_->Run("scancel " + foreign + " " + other_daemons);
}

TEST_F(SlurmSitesTest, TwoDaemonsShareAClusterWithoutTouchingEachOthersJobs) {
  SlurmBackendOptions o = Options();
  o.dir = (dir_ / "other").string();
  o.instance = "";  // made and kept in its directory
  auto other = Make(o);
  ASSERT_NE(other, nullptr);
  std::string instance;
  std::getline(std::ifstream(dir_ / "other" / "instance"), instance);
  EXPECT_EQ(instance.size(), 12u) << instance;
  EXPECT_NE(instance, "test");
  // The same sovgrid job id in both: each daemon's own.
  const std::string mine = StartJob(Job("same-id", "exec sleep 600"), {North(0, {0})});
  auto theirs =
      other->Start(Job("same-id", "exec sleep 600"), {North(1, {0})}, contract::WallNow());
  ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
  EXPECT_EQ(ShowJob(*north_, SlurmId(*theirs))["Comment"], "sovgrid:" + instance + ":same-id");
  ASSERT_EQ(WaitForState(*north_, SlurmId(mine), {"RUNNING"}), "RUNNING");
  ASSERT_EQ(WaitForState(*north_, SlurmId(*theirs), {"RUNNING"}), "RUNNING");
  std::vector<Ended> other_ended;
  Drive(3, [&] {
    for (auto& e : other->Poll(contract::WallNow())) other_ended.push_back(e);
    return false;
  });
  EXPECT_TRUE(ended_.empty());
  EXPECT_TRUE(other_ended.empty());
  EXPECT_EQ(State(*north_, SlurmId(mine)), "RUNNING");
  EXPECT_EQ(State(*north_, SlurmId(*theirs)), "RUNNING");
  // Stopping one daemon's job leaves the other's running.
  other->Stop("same-id");
  EXPECT_EQ(WaitForState(*north_, SlurmId(*theirs), {"CANCELLED"}), "CANCELLED");
  Drive(1, [] { return false; });
  EXPECT_EQ(State(*north_, SlurmId(mine)), "RUNNING");
  // A new instance over the same directory is the same daemon: same name.
  other = Make(o);
  std::string again;
  std::getline(std::ifstream(dir_ / "other" / "instance"), again);
  EXPECT_EQ(again, instance);
}

TEST_F(SlurmSitesTest, ANodeDownInSlurmIsReportedAndItsJobIsLost) {
  const std::string h = StartJob(Job("on-bad-node", "sleep 600"), {North(3, {0, 1})});
  ASSERT_EQ(WaitForState(*north_, SlurmId(h), {"RUNNING"}), "RUNNING");
  Drive(1.5, [] { return false; });
  EXPECT_EQ(HealthOf("north-b200/n00003"), "");  // up, as assumed: nothing to report
  const CommandResult r =
      north_->Run("scontrol update nodename=n-gpu004 state=down reason=test-failure");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitEnded("on-bad-node", 20));
  EXPECT_TRUE(EndOf("on-bad-node")->lost) << EndOf("on-bad-node")->message;
  EXPECT_FALSE(EndOf("on-bad-node")->failed);
  EXPECT_NE(EndOf("on-bad-node")->message.find("NODE_FAIL"), std::string::npos)
      << EndOf("on-bad-node")->message;
  ASSERT_TRUE(Drive(10, [&] { return HealthOf("north-b200/n00003") == "down"; }));
  std::string reason;
  HealthOf("north-b200/n00003", &reason);
  EXPECT_NE(reason.find("test-failure"), std::string::npos) << reason;
  for (const auto& c : health_) {
    EXPECT_EQ(c.name, "north-b200/n00003") << c.state << " " << c.reason;
  }

  // Drained is "draining"; resumed is "up" again.
  north_->Run("scontrol update nodename=n-gpu004 state=resume");
  north_->Run("scontrol update nodename=n-gpu003 state=drain reason=maintenance");
  ASSERT_TRUE(Drive(10, [&] {
    return HealthOf("north-b200/n00003") == "up" && HealthOf("north-b200/n00002") == "draining";
  })) << HealthOf("north-b200/n00003");
  north_->Run("scontrol update nodename=n-gpu003 state=resume");
  ASSERT_TRUE(Drive(10, [&] { return HealthOf("north-b200/n00002") == "up"; }));
}

TEST_F(SlurmSitesTest, ASiteWithoutAClusterIsDownFromTheStart) {
  SlurmBackendOptions o = Options();
  o.clusters.pop_back();  // south has none
  backend_ = Make(o);
  ASSERT_NE(backend_, nullptr);
  health_ = backend_->Health(contract::WallNow());
  ASSERT_EQ(health_.size(), 1u);
  EXPECT_EQ(health_[0].kind, HealthChange::Kind::kSite);
  EXPECT_EQ(health_[0].name, "south");
  EXPECT_EQ(health_[0].state, "down");
  EXPECT_TRUE(backend_->Health(contract::WallNow()).empty()) << "reported twice";
  auto h = backend_->Start(Job("nowhere", "true"), {South(0, {0})}, contract::WallNow());
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().code(), StatusCode::kIoError) << h.status().ToString();
  // North works, and reports nothing about itself while all is well.
  StartJob(Job("somewhere", "true"), {North(0, {0})});
  ASSERT_TRUE(WaitEnded("somewhere"));
  EXPECT_FALSE(EndOf("somewhere")->failed) << EndOf("somewhere")->message;
  EXPECT_TRUE(health_.size() == 1u) << health_.back().name << " " << health_.back().state;
}

TEST_F(SlurmSitesTest, BadConfigurationsAreRefusedAtCreation) {
  const auto refused = [&](const std::function<void(SlurmBackendOptions*)>& change) {
    SlurmBackendOptions o = Options();
    change(&o);
    auto b = MakeSlurmBackend(o, SmallScenario());
    return b.ok() ? std::string("accepted") : b.status().message();
  };
  EXPECT_NE(
      refused([](SlurmBackendOptions* o) { o->clusters[0].site = "west"; }).find("no such site"),
      std::string::npos);
  EXPECT_NE(refused([](SlurmBackendOptions* o) {
              o->clusters[1].pools[0].pool = "north-b200";
            }).find("is at site 'north'"),
            std::string::npos);
  EXPECT_NE(refused([](SlurmBackendOptions* o) {
              o->clusters[0].pools[0].nodes.pop_back();
            }).find("4 nodes"),
            std::string::npos);
  EXPECT_NE(
      refused([](SlurmBackendOptions* o) { o->clusters.push_back(o->clusters[0]); }).find("twice"),
      std::string::npos);
}

TEST_F(SlurmSitesTest, ARejectedSubmissionIsAnErrorWithSlurmsMessage) {
  SlurmBackendOptions o = Options();
  o.clusters[1].pools[0].partition = "nope";  // Slurm has no such partition
  backend_ = Make(o);
  ASSERT_NE(backend_, nullptr);
  auto h = backend_->Start(Job("refused", "true"), {South(0, {0})}, contract::WallNow());
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().code(), StatusCode::kIoError) << h.status().ToString();
  EXPECT_NE(h.status().message().find("Invalid partition name specified"), std::string::npos)
      << h.status().message();
  // More GPUs on a node than Slurm has there.
  auto h2 = backend_->Start(Job("too-big", "true"), {North(0, {0, 1, 2, 3, 4, 5, 6, 7, 8})},
                            contract::WallNow());
  ASSERT_FALSE(h2.ok());
  EXPECT_NE(h2.status().code(), StatusCode::kIoError) << h2.status().ToString();
  EXPECT_NE(h2.status().message().find("Requested node configuration is not available"),
            std::string::npos)
      << h2.status().message();
  // A node outside the mapping, a job without a command.
  EXPECT_FALSE(backend_->Start(Job("n9", "true"), {North(9, {0})}, contract::WallNow()).ok());
  EXPECT_FALSE(backend_->Start(Job("nocmd", ""), {North(0, {0})}, contract::WallNow()).ok());
  Drive(1.5, [] { return false; });
  EXPECT_TRUE(ended_.empty());
  EXPECT_TRUE(health_.empty()) << health_[0].name << " " << health_[0].state;
}

TEST_F(SlurmSitesTest, AControllerThatGoesAwayDrainsThenDownsTheSiteAndComesBack) {
  SlurmBackendOptions o = Options();
  o.site_down_after_s = 3;
  backend_ = Make(o);
  const std::string h = StartJob(Job("through", "exec sleep 600"), {South(0, {0})});
  ASSERT_EQ(WaitForState(*south_, SlurmId(h), {"RUNNING"}), "RUNNING");
  Drive(1, [] { return false; });
  ASSERT_TRUE(south_->StopController().ok());
  const auto t_stop = Clock::now();
  ASSERT_TRUE(Drive(10, [&] { return HealthOf("south") == "draining"; }));
  const double drained_after = SecondsSince(t_stop);
  std::string reason;
  HealthOf("south", &reason);
  EXPECT_NE(reason.find("does not answer"), std::string::npos) << reason;
  auto refused = backend_->Start(Job("meanwhile", "true"), {South(2, {0})}, contract::WallNow());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kIoError) << refused.status().ToString();
  backend_->Stop("through");  // cannot reach Slurm now: retried later
  ASSERT_TRUE(Drive(10, [&] { return HealthOf("south") == "down"; }));
  const double down_after = SecondsSince(t_stop);
  EXPECT_GE(down_after, 3);
  // North is not concerned.
  for (const auto& c : health_) EXPECT_EQ(c.name, "south") << c.state;
  StartJob(Job("north-meanwhile", "true"), {North(0, {0})});

  ASSERT_TRUE(south_->StartController().ok());
  const auto t_back = Clock::now();
  ASSERT_TRUE(Drive(15, [&] { return HealthOf("south") == "up"; }));
  const double up_after = SecondsSince(t_back);
  EXPECT_EQ(WaitForState(*south_, SlurmId(h), {"CANCELLED"}, 15), "CANCELLED");
  ASSERT_TRUE(WaitEnded("north-meanwhile"));
  EXPECT_EQ(EndOf("through"), nullptr) << EndOf("through")->message;
  for (const auto& e : ended_) EXPECT_FALSE(e.lost) << e.job << ": " << e.message;
  // Starts work again.
  StartJob(Job("after", "true"), {South(2, {0})});
  ASSERT_TRUE(WaitEnded("after"));
  EXPECT_FALSE(EndOf("after")->failed) << EndOf("after")->message;
  std::printf("draining after %.1f s, down after %.1f s, up %.1f s after the restart\n",
              drained_after, down_after, up_after);
  for (const auto& c : health_)
    std::printf("  %s %s: %s\n", c.name.c_str(), c.state.c_str(), c.reason.c_str());
}

TEST_F(SlurmSitesTest, AJobPreemptedBySlurmIsLostForRequeueing) {
  const std::string h =
      StartJob(Job("bumped", "exec sleep 600"), {North(0, {0, 1, 2, 3, 4, 5, 6, 7})});
  ASSERT_EQ(WaitForState(*north_, SlurmId(h), {"RUNNING"}), "RUNNING");
  // The site's own urgent work, straight to Slurm, needs the node's GPUs.
  const CommandResult urgent = north_->Run(
      "sbatch --parsable -p urgent -w n-gpu001 --gres=gpu:8 --output=/dev/null --wrap 'sleep 2'");
  ASSERT_EQ(urgent.exit_code, 0) << urgent.err;
  ASSERT_TRUE(WaitEnded("bumped"));
  const Ended* e = EndOf("bumped");
  EXPECT_TRUE(e->lost) << e->message;
  EXPECT_FALSE(e->failed) << e->message;
  EXPECT_NE(e->message.find("PREEMPTED"), std::string::npos) << e->message;
  EXPECT_EQ(State(*north_, SlurmId(h)), "PREEMPTED");
  // Slurm's own job is not sovgrid's to touch.
  EXPECT_EQ(WaitForState(*north_, Trim(urgent.out), {"COMPLETED"}), "COMPLETED");
}

TEST_F(SlurmSitesTest, AJobOverTheSitesTimeLimitFailsWithTimeout) {
  SlurmBackendOptions o = Options();
  o.clusters[0].pools[0].partition = "short";  // DefaultTime=1 minute
  backend_ = Make(o);
  const std::string h = StartJob(Job("overtime", "exec sleep 600"), {North(1, {0})});
  // Slurm checks time limits every 30 s: ends 60-95 s after the start.
  ASSERT_TRUE(WaitEnded("overtime", 180));
  const Ended* e = EndOf("overtime");
  EXPECT_TRUE(e->failed) << e->message;
  EXPECT_FALSE(e->lost) << e->message;
  EXPECT_NE(e->message.find("TIMEOUT"), std::string::npos) << e->message;
  EXPECT_EQ(State(*north_, SlurmId(h)), "TIMEOUT");
}

TEST_F(SlurmSitesTest, JobsAreChargedToTheClustersAccount) {
  SlurmBackendOptions o = Options();
  o.clusters[0].account = "national-ai";
  backend_ = Make(o);
  const std::string h = StartJob(Job("charged", "exec sleep 600"), {North(2, {0})});
  ASSERT_FALSE(h.empty());
  EXPECT_EQ(ShowJob(*north_, SlurmId(h))["Account"], "national-ai");
  const std::string other = StartJob(Job("south-free", "exec sleep 600"), {South(0, {0})});
  ASSERT_FALSE(other.empty());
  EXPECT_NE(ShowJob(*south_, SlurmId(other))["Account"], "national-ai");
}

TEST_F(SlurmSitesTest, StartAllAgainstASilentControllerFailsEveryJobRetryably) {
  ASSERT_TRUE(south_->StopController().ok());
  std::vector<model::Job> jobs;
  for (int i = 0; i < 4; ++i) jobs.push_back(Job("silent-" + std::to_string(i), "true"));
  std::vector<StartRequest> requests;
  for (int i = 0; i < 4; ++i)
    requests.push_back({&jobs[static_cast<std::size_t>(i)], {South(i, {0})}});
  model::Job north_job = Job("north-fine", "true");
  requests.push_back({&north_job, {North(3, {0})}});
  auto handles = backend_->StartAll(requests, contract::WallNow());
  ASSERT_EQ(handles.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(handles[static_cast<std::size_t>(i)].ok()) << jobs[static_cast<std::size_t>(i)].id;
    EXPECT_EQ(handles[static_cast<std::size_t>(i)].status().code(), StatusCode::kIoError)
        << handles[static_cast<std::size_t>(i)].status().ToString();
  }
  // The other site's job is not held up by it.
  ASSERT_TRUE(handles[4].ok()) << handles[4].status().ToString();
  handles_["north-fine"] = *handles[4];
  ASSERT_TRUE(WaitEnded("north-fine"));
  EXPECT_FALSE(EndOf("north-fine")->failed) << EndOf("north-fine")->message;
  EXPECT_EQ(HealthOf("south"), "draining");
}

// Every client call, logged ("SLURM_CONF program args") before the real one runs.
fs::path LoggingBinDir(const fs::path& dir) {
  const fs::path bin = dir / "bin";
  fs::create_directories(bin);
  for (const char* program : {"sbatch", "squeue", "scontrol", "scancel", "sinfo"}) {
    const fs::path real = fs::path("/usr/bin") / program;
    std::ofstream(bin / program) << "#!/bin/sh\necho \"$SLURM_CONF " << program << " $*\" >> "
                                 << (dir / "calls.log").string() << "\nexec " << real.string()
                                 << " \"$@\"\n";
    fs::permissions(bin / program, fs::perms::owner_all | fs::perms::group_read |
                                       fs::perms::group_exec | fs::perms::others_read |
                                       fs::perms::others_exec);
  }
  return bin;
}

std::size_t CountCalls(const fs::path& log, const std::string& conf, const std::string& what) {
  std::ifstream in(log);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);)
    n += line.rfind(conf + " ", 0) == 0 && line.find(what) != std::string::npos ? 1 : 0;
  return n;
}

TEST_F(SlurmSitesTest, ASilentControllerIsAskedLessAndLessOften) {
  SlurmBackendOptions o = Options();
  o.bin_dir = LoggingBinDir(dir_).string();
  o.poll_interval_s = 0.25;
  o.retry_max_interval_s = 2;
  o.site_down_after_s = 6;
  backend_ = Make(o);
  Drive(1, [] { return false; });
  ASSERT_TRUE(south_->StopController().ok());
  const fs::path log = dir_ / "calls.log";
  const std::size_t south_before = CountCalls(log, south_->client_conf_path(), "scontrol ping");
  const std::size_t north_before = CountCalls(log, north_->client_conf_path(), "scontrol ping");
  ASSERT_TRUE(Drive(30, [&] { return HealthOf("south") == "down"; }));
  Drive(4, [] { return false; });
  const std::size_t south_pings =
      CountCalls(log, south_->client_conf_path(), "scontrol ping") - south_before;
  const std::size_t north_pings =
      CountCalls(log, north_->client_conf_path(), "scontrol ping") - north_before;
  // At a steady 0.25 s, the >= 10 s until now would take some 40 pings; the
  // backoff (0.25, 0.5, 1, 2, 2, ...) asks about a dozen times at most.
  EXPECT_GE(south_pings, 3u);
  EXPECT_LE(south_pings, 16u);
  EXPECT_GT(north_pings, 2 * south_pings) << "the other cluster is polled as before";
  ASSERT_TRUE(south_->StartController().ok());
  ASSERT_TRUE(Drive(20, [&] { return HealthOf("south") == "up"; }));
  std::printf("while silent: %zu pings of south, %zu of north\n", south_pings, north_pings);
}

// A daemon down for longer than Slurm keeps ended jobs (MinJobAge): the next
// instance learns how they ended from their exit files instead of running
// them again.
TEST(SlurmForgetfulTest, JobsSlurmForgotAreReportedFromTheirExitFiles) {
  SlurmCluster* c = SharedClusters::Get("forgetful");
  ASSERT_NE(c, nullptr);
  const fs::path dir =
      fs::temp_directory_path() / ("sovgrid-slurm-forgetful-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  SlurmBackendOptions o;
  o.dir = dir.string();
  o.clusters = {{"site-a", c->client_conf_path(), "", {{"pool-a", "batch", c->node_names()}}}};
  o.poll_interval_s = 0.5;
  auto make = [&] {
    auto b = MakeSlurmBackend(o, ContractScenario());
    EXPECT_TRUE(b.ok()) << b.status().message();
    return b.ok() ? std::move(b).value() : nullptr;
  };
  auto backend = make();
  ASSERT_NE(backend, nullptr);
  const std::vector<PlacedPart> where = {{"pool-a/n00000", "pool-a", "site-a", {0}, 1.0}};
  auto job = [](const std::string& id, const std::string& command) {
    model::Job j;
    j.id = id;
    j.tenant = "t";
    j.command = command;
    return j;
  };
  const model::Job ok = job("ended-ok", "echo done"), bad = job("ended-bad", "exit 3");
  const model::Job killed = job("ended-killed", "kill -9 $PPID; sleep 5");  // no exit file
  std::map<std::string, std::string> handles;
  for (const model::Job* j : {&ok, &bad, &killed}) {
    auto h = backend->Start(*j, where, contract::WallNow());
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    handles[j->id] = *h;
  }
  backend.reset();  // the daemon goes away; the jobs end; Slurm forgets them
  const auto t0 = Clock::now();
  while (SecondsSince(t0) < 150 && !Trim(c->Run("squeue -h -t all -o %i").out).empty())
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ASSERT_TRUE(Trim(c->Run("squeue -h -t all -o %i").out).empty()) << "Slurm did not forget";
  std::printf("Slurm forgot the jobs after %.0f s\n", SecondsSince(t0));

  backend = make();
  ASSERT_NE(backend, nullptr);
  for (const model::Job* j : {&ok, &bad, &killed})
    ASSERT_TRUE(backend->Adopt(*j, where, contract::WallNow(), handles[j->id]).ok());
  std::map<std::string, Ended> ended;
  const auto t1 = Clock::now();
  while (ended.size() < 3 && SecondsSince(t1) < 10) {
    for (auto& e : backend->Poll(contract::WallNow())) ended[e.job] = e;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(ended.size(), 3u);
  EXPECT_FALSE(ended["ended-ok"].failed || ended["ended-ok"].lost) << ended["ended-ok"].message;
  EXPECT_NE(ended["ended-ok"].message.find("exit files"), std::string::npos)
      << ended["ended-ok"].message;
  EXPECT_TRUE(ended["ended-bad"].failed) << ended["ended-bad"].message;
  EXPECT_NE(ended["ended-bad"].message.find("exit 3"), std::string::npos)
      << ended["ended-bad"].message;
  // Killed before it could say how it ended: lost, for the control plane to requeue.
  EXPECT_TRUE(ended["ended-killed"].lost) << ended["ended-killed"].message;
  auto out = backend->Logs("ended-ok", "stdout", 0, 1024);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "done\n");
  backend.reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sovgrid::backends
