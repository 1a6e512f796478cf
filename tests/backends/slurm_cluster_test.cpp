// The Slurm test fixture is a real cluster: jobs pinned by node list and GPU
// count run where they were put, a two-node exclusive gang runs on both nodes,
// scancel reaches the job's processes, two clusters run side by side, and a
// stopped controller is noticed in bounded time and recovers its jobs.
// Also records what squeue, scontrol and sbatch print in Slurm 22.05.8 (see
// docs/slurm.md). No test is skipped: without Slurm installed each one fails.
#include "testing/slurm_cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::SlurmCluster;
using testing::SlurmClusterOptions;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The file's content once it is not empty (at most 10 s): a job may show
// RUNNING before its script has written anything.
std::string WaitForFile(const std::string& path) {
  const auto t0 = Clock::now();
  std::string text = ReadFile(path);
  while (text.empty() && SecondsSince(t0) < 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    text = ReadFile(path);
  }
  return text;
}

std::string MakeTempDir(const std::string& tag) {
  std::string templ = "/tmp/sovgrid-slurm-" + tag + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) return "";
  return templ;
}

// Removes a cluster's directory unless SOVGRID_KEEP_SLURM_DIRS is set (to
// read the daemons' logs after a run).
void RemoveDir(const std::string& dir) {
  if (::getenv("SOVGRID_KEEP_SLURM_DIRS") == nullptr) fs::remove_all(dir);
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (true) {
    const std::size_t next = s.find(sep, pos);
    parts.push_back(s.substr(pos, next == std::string::npos ? std::string::npos : next - pos));
    if (next == std::string::npos) return parts;
    pos = next + 1;
  }
}

// `sbatch --parsable ARGS`: prints "JOBID\n" ("JOBID;CLUSTER" only with -M).
// Returns the id, or "" (and a test failure) when sbatch fails.
std::string Submit(const SlurmCluster& c, const std::string& args) {
  const CommandResult r = c.Run("sbatch --parsable --chdir=" + c.jobs_dir() + " " + args);
  const std::string id = Trim(r.out);
  EXPECT_EQ(r.exit_code, 0) << "sbatch " << args << ": " << r.out << r.err;
  EXPECT_FALSE(id.empty()) << "sbatch " << args << ": " << r.err;
  EXPECT_EQ(id.find_first_not_of("0123456789"), std::string::npos) << id;
  return r.exit_code == 0 ? id : "";
}

// `scontrol show job -o ID`: one line of space-separated Key=Value fields
// (values are not quoted: a value with spaces runs into the next field, so
// a token without '=' continues the previous value). "_raw" holds the line:
//   JobId=7 JobName=sovgrid-j42 UserId=root(0) ... JobState=PENDING
//   Reason=JobHeldUser ... ExitCode=0:0 ... StartTime=Unknown ...
//   Partition=batch ... ReqNodeList=a-gpu002 ExcNodeList=(null) NodeList=
//   NumNodes=1 ... Comment=sovgrid:j42  StdErr=... TresPerNode=gres:gpu:1
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

// `squeue -h -t all -j ID -o '%T'`: the state name, "" if unknown.
std::string State(const SlurmCluster& c, const std::string& id) {
  return Trim(c.Run("squeue -h -t all -j " + id + " -o '%T'", 15).out);
}

// Polls until the job's state is one of `states`; returns the last state seen.
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

bool ProcessAlive(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
}

// Processes started for the cluster in `dir` (its daemons carry
// SOVGRID_SLURM_DIR=dir; slurmstepd runs in dir), as "pid name" lines.
std::vector<std::string> ClusterProcesses(const std::string& dir) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!ProcessAlive(static_cast<pid_t>(std::stol(pid)))) continue;
    const std::string env = ReadFile("/proc/" + pid + "/environ");
    std::error_code ec;
    const bool in_dir = fs::read_symlink("/proc/" + pid + "/cwd", ec).string() == dir;
    if (env.find("SOVGRID_SLURM_DIR=" + dir + '\0') != std::string::npos || in_dir) {
      found.push_back(pid + " " + ReadFile("/proc/" + pid + "/comm"));
    }
  }
  return found;
}

// One 4-node cluster with 8 fake GPUs each, shared by the tests of this suite
// (ctest runs each test in its own process, so each starts its own).
class SlurmClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("a"));
    SlurmClusterOptions o;
    o.cluster_name = "a";
    o.dir = *dir_;
    o.nodes = 4;
    o.node_prefix = "a-gpu";
    o.gpus_per_node = 8;
    o.partitions = {{"batch", "", ""}, {"small", "a-gpu[001-002]", ""}};
    const auto t0 = Clock::now();
    auto started = SlurmCluster::Start(o);
    if (started.ok()) {
      cluster_ = std::move(started).value().release();
      std::printf("4-node cluster up in %.2f s\n", SecondsSince(t0));
    } else {
      error_ = new std::string(started.status().ToString());
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    if (error_ == nullptr && !::testing::UnitTest::GetInstance()->Failed()) RemoveDir(*dir_);
    delete dir_;
    delete error_;
    error_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << (error_ != nullptr ? *error_ : "not started");
  }
  const SlurmCluster& c() const { return *cluster_; }

  static SlurmCluster* cluster_;
  static std::string* dir_;
  static std::string* error_;
};
SlurmCluster* SlurmClusterTest::cluster_ = nullptr;
std::string* SlurmClusterTest::dir_ = nullptr;
std::string* SlurmClusterTest::error_ = nullptr;

TEST_F(SlurmClusterTest, NodesAndPartitionsAreAsConfigured) {
  EXPECT_EQ(c().node_list(), "a-gpu[001-004]");
  EXPECT_EQ(c().node_names(),
            (std::vector<std::string>{"a-gpu001", "a-gpu002", "a-gpu003", "a-gpu004"}));
  // sinfo -h -N -o '%N|%P|%t|%G|%c': one line per node and partition; the
  // default partition carries a '*'.
  const CommandResult r = c().Run("sinfo -h -N -o '%N|%P|%t|%G|%c'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> lines;
  for (const auto& line : Lines(r.out)) lines.insert(line);
  EXPECT_EQ(lines,
            (std::set<std::string>{"a-gpu001|batch*|idle|gpu:8|8", "a-gpu002|batch*|idle|gpu:8|8",
                                   "a-gpu003|batch*|idle|gpu:8|8", "a-gpu004|batch*|idle|gpu:8|8",
                                   "a-gpu001|small|idle|gpu:8|8", "a-gpu002|small|idle|gpu:8|8"}))
      << r.out;
  EXPECT_NE(c().Env().at("SLURM_CONF"), "");
}

TEST_F(SlurmClusterTest, PinnedJobRunsOnItsNodeWithItsGpus) {
  const std::string id = Submit(c(),
                                "--nodelist=a-gpu003 --gres=gpu:2 --wrap "
                                "'echo $CUDA_VISIBLE_DEVICES $SLURM_JOB_NODELIST > out-pinned'");
  ASSERT_FALSE(id.empty());
  const auto t_submit = Clock::now();
  ASSERT_EQ(WaitForState(c(), id, {"COMPLETED", "FAILED", "CANCELLED"}), "COMPLETED");
  std::printf("a 1-node job submitted to COMPLETED: %.2f s\n", SecondsSince(t_submit));
  EXPECT_EQ(ReadFile(c().jobs_dir() + "/out-pinned"), "0,1 a-gpu003\n");
  auto job = ShowJob(c(), id);
  EXPECT_EQ(job["JobState"], "COMPLETED");
  EXPECT_EQ(job["Reason"], "None");
  EXPECT_EQ(job["ExitCode"], "0:0");
  EXPECT_EQ(job["NodeList"], "a-gpu003");
  EXPECT_EQ(job["ReqNodeList"], "a-gpu003");
  EXPECT_EQ(job["BatchHost"], "a-gpu003");
  EXPECT_EQ(job["TresPerNode"], "gres:gpu:2");
  EXPECT_EQ(job["Partition"], "batch");

  // GPUs are packed and accounted per node: two 4-GPU jobs share a-gpu004,
  // a third job asking for one more waits for Resources until one ends.
  const std::string holder =
      "--nodelist=a-gpu004 --gres=gpu:4 --wrap "
      "'echo $CUDA_VISIBLE_DEVICES > out-pack-$SLURM_JOB_ID; exec sleep 300'";
  const std::string a = Submit(c(), holder);
  const std::string b = Submit(c(), holder);
  ASSERT_EQ(WaitForState(c(), a, {"RUNNING", "COMPLETED"}), "RUNNING");
  ASSERT_EQ(WaitForState(c(), b, {"RUNNING", "COMPLETED"}), "RUNNING");
  const std::string third = Submit(c(),
                                   "--nodelist=a-gpu004 --gres=gpu:1 --wrap "
                                   "'echo $CUDA_VISIBLE_DEVICES > out-pack-third'");
  // squeue -h -o '%T|%r': PENDING|None until the scheduler has looked at
  // it, then PENDING|Resources while the GPUs are taken.
  std::string reason;
  for (const auto t0 = Clock::now(); SecondsSince(t0) < 10;) {
    reason = Trim(c().Run("squeue -h -j " + third + " -o '%T|%r'").out);
    if (reason != "PENDING|None") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(reason, "PENDING|Resources");
  const std::string a_gpus = Trim(WaitForFile(c().jobs_dir() + "/out-pack-" + a));
  const std::string b_gpus = Trim(WaitForFile(c().jobs_dir() + "/out-pack-" + b));
  EXPECT_EQ((std::set<std::string>{a_gpus, b_gpus}), (std::set<std::string>{"0,1,2,3", "4,5,6,7"}));
  const auto t_freed = Clock::now();
  ASSERT_EQ(c().Run("scancel " + a).exit_code, 0);
  ASSERT_EQ(WaitForState(c(), third, {"COMPLETED"}), "COMPLETED");
  std::printf("a job waiting for GPUs, from scancel of their holder to COMPLETED: %.2f s\n",
              SecondsSince(t_freed));
  // The lowest of the GPUs a freed.
  EXPECT_EQ(ReadFile(c().jobs_dir() + "/out-pack-third"), a_gpus == "0,1,2,3" ? "0\n" : "4\n");
  ASSERT_EQ(c().Run("scancel " + b).exit_code, 0);
}

TEST_F(SlurmClusterTest, GangRunsOnTwoExclusiveNodes) {
  const std::string id =
      Submit(c(),
             "--nodes=2 --nodelist=a-gpu001,a-gpu002 --exclusive --gres=gpu:8 --wrap "
             "'srun sh -c \"echo \\$SLURMD_NODENAME \\$CUDA_VISIBLE_DEVICES\" > out-gang; "
             "sleep 1'");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(WaitForState(c(), id, {"RUNNING", "COMPLETED"}), "RUNNING");
  // Both nodes are allocated as a whole while it runs.
  const CommandResult nodes = c().Run("sinfo -h -N -p batch -n a-gpu001,a-gpu002 -o '%N %t'");
  EXPECT_EQ(Lines(nodes.out), (std::vector<std::string>{"a-gpu001 alloc", "a-gpu002 alloc"}))
      << nodes.out;
  ASSERT_EQ(WaitForState(c(), id, {"COMPLETED", "FAILED"}), "COMPLETED");
  std::vector<std::string> out = Lines(ReadFile(c().jobs_dir() + "/out-gang"));
  std::sort(out.begin(), out.end());
  EXPECT_EQ(out,
            (std::vector<std::string>{"a-gpu001 0,1,2,3,4,5,6,7", "a-gpu002 0,1,2,3,4,5,6,7"}));
  auto job = ShowJob(c(), id);
  EXPECT_EQ(job["NodeList"], "a-gpu[001-002]");  // a host list, not a comma list
  EXPECT_EQ(job["NumNodes"], "2");
  EXPECT_EQ(job["NumCPUs"], "16");  // --exclusive: every CPU of both nodes
  EXPECT_EQ(job["OverSubscribe"], "NO");
  EXPECT_EQ(job["TresPerNode"], "gres:gpu:8");
}

TEST_F(SlurmClusterTest, ScancelReachesTheRunningProcess) {
  const std::string id = Submit(c(),
                                "-J sleeper --wrap 'echo $$ > pid-$SLURM_JOB_ID; "
                                "exec sleep 300'");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(WaitForState(c(), id, {"RUNNING"}), "RUNNING");
  const pid_t pid =
      static_cast<pid_t>(std::atol(WaitForFile(c().jobs_dir() + "/pid-" + id).c_str()));
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(ProcessAlive(pid));
  const auto t0 = Clock::now();
  const CommandResult r = c().Run("scancel " + id);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // squeue shows COMPLETING for a moment, then CANCELLED.
  EXPECT_EQ(WaitForState(c(), id, {"CANCELLED"}, 20), "CANCELLED");
  while (ProcessAlive(pid) && SecondsSince(t0) < 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(ProcessAlive(pid)) << "sleep " << pid << " outlived scancel";
  std::printf("scancel to CANCELLED and the process gone: %.2f s\n", SecondsSince(t0));
  auto job = ShowJob(c(), id);
  EXPECT_EQ(job["JobState"], "CANCELLED");
  EXPECT_EQ(job["ExitCode"], "0:15");  // killed by SIGTERM
  // Cancelling it again is not an error for scancel (exit 0, a message).
  const CommandResult again = c().Run("scancel " + id);
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

// squeue and scontrol output as the backend will parse it: states, reasons,
// the job name and comment carrying a sovgrid id.
TEST_F(SlurmClusterTest, QueueAndJobStatesParse) {
  const std::string held = Submit(c(),
                                  "-J sovgrid-j42 --comment=sovgrid:j42 --hold "
                                  "--nodelist=a-gpu002 --gres=gpu:1 --wrap true");
  const std::string failed = Submit(c(), "-J failing -p small --nodelist=a-gpu001 --wrap 'exit 3'");
  const std::string running = Submit(c(), "-J running --nodelist=a-gpu001 --wrap 'sleep 300'");
  ASSERT_FALSE(held.empty() || failed.empty() || running.empty());
  ASSERT_EQ(WaitForState(c(), failed, {"FAILED", "COMPLETED"}), "FAILED");
  ASSERT_EQ(WaitForState(c(), running, {"RUNNING"}), "RUNNING");

  // squeue -h -t all -o '%i|%T|%N|%k|%j|%r|%P': id, state, host list (empty
  // while pending), comment ("(null)" when unset), name, reason, partition.
  const CommandResult q = c().Run("squeue -h -t all -j " + held + "," + failed + "," + running +
                                  " -o '%i|%T|%N|%k|%j|%r|%P'");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  std::map<std::string, std::vector<std::string>> rows;
  for (const auto& line : Lines(q.out)) {
    const auto f = Split(line, '|');
    ASSERT_EQ(f.size(), 7u) << line;
    rows[f[0]] = f;
  }
  EXPECT_EQ(rows[held], (std::vector<std::string>{held, "PENDING", "", "sovgrid:j42", "sovgrid-j42",
                                                  "JobHeldUser", "batch"}));
  EXPECT_EQ(rows[failed], (std::vector<std::string>{failed, "FAILED", "a-gpu001", "(null)",
                                                    "failing", "NonZeroExitCode", "small"}))
      << q.out;
  EXPECT_EQ(rows[running], (std::vector<std::string>{running, "RUNNING", "a-gpu001", "(null)",
                                                     "running", "None", "batch"}));

  auto h = ShowJob(c(), held);
  EXPECT_EQ(h["JobId"], held);
  EXPECT_EQ(h["JobName"], "sovgrid-j42");
  EXPECT_EQ(h["Comment"], "sovgrid:j42");
  EXPECT_EQ(h["JobState"], "PENDING");
  EXPECT_EQ(h["Reason"], "JobHeldUser");
  EXPECT_EQ(h["NodeList"], "") << h["_raw"];  // "NodeList= " while pending
  EXPECT_EQ(h["ReqNodeList"], "a-gpu002");
  EXPECT_EQ(h["StartTime"], "Unknown");
  auto f = ShowJob(c(), failed);
  EXPECT_EQ(f["JobState"], "FAILED");
  EXPECT_EQ(f["Reason"], "NonZeroExitCode");
  EXPECT_EQ(f["ExitCode"], "3:0");    // exit status:signal
  EXPECT_EQ(f.count("Comment"), 0u);  // no Comment= field when unset

  // Requeue (how a preemption can reach Slurm): back to PENDING, Restarts=1,
  // held off by BeginTime (eligible again about two minutes later).
  const CommandResult rq = c().Run("scontrol requeue " + running);
  ASSERT_EQ(rq.exit_code, 0) << rq.err;
  ASSERT_EQ(WaitForState(c(), running, {"PENDING"}, 20), "PENDING");
  auto r = ShowJob(c(), running);
  EXPECT_EQ(r["Restarts"], "1");
  EXPECT_EQ(r["Reason"], "BeginTime");

  // Cancelling a pending job: CANCELLED at once.
  ASSERT_EQ(c().Run("scancel " + held + " " + running).exit_code, 0);
  EXPECT_EQ(WaitForState(c(), held, {"CANCELLED"}, 10), "CANCELLED");
  EXPECT_EQ(WaitForState(c(), running, {"CANCELLED"}, 10), "CANCELLED");

  // An unknown job id: squeue fails.
  const CommandResult unknown = c().Run("squeue -h -t all -j 999999 -o '%T'");
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.err.find("Invalid job id specified"), std::string::npos) << unknown.err;
}

// What sbatch says when it rejects a submission (exit code 1, stderr).
TEST_F(SlurmClusterTest, RejectedSubmissionsSayWhy) {
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--gres=gpu:9 --wrap true", "Requested node configuration is not available"},
      {"-p nope --wrap true", "invalid partition specified: nope"},
      {"--nodelist=zz001 --wrap true", "Invalid node name specified"},
  };
  for (const auto& k : cases) {
    const CommandResult r = c().Run("sbatch --parsable " + k.args);
    EXPECT_EQ(r.exit_code, 1) << k.args << ": " << r.out;
    EXPECT_EQ(r.out, "") << k.args;
    EXPECT_NE(r.err.find(k.message), std::string::npos) << k.args << ": " << r.err;
  }
}

TEST_F(SlurmClusterTest, TwoClustersRunSideBySide) {
  const std::string dir = MakeTempDir("b");
  SlurmClusterOptions o;
  o.cluster_name = "b";
  o.dir = dir;
  o.nodes = 2;
  o.node_prefix = "b-gpu";
  o.gpus_per_node = 2;
  o.cpus_per_node = 4;
  o.controller_port = 32100;  // explicit ports, outside the automatic range
  o.first_node_port = 32101;
  const auto t0 = Clock::now();
  auto b = SlurmCluster::Start(o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  std::printf("second cluster up in %.2f s\n", SecondsSince(t0));
  SlurmCluster& cb = **b;
  EXPECT_EQ(cb.controller_port(), 32100);
  EXPECT_NE(c().controller_port(), cb.controller_port());
  EXPECT_NE(c().conf_path(), cb.conf_path());

  const std::string on_b = Submit(cb,
                                  "-J on-b --nodelist=b-gpu002 --gres=gpu:2 --wrap "
                                  "'echo $SLURM_CLUSTER_NAME $SLURMD_NODENAME "
                                  "$CUDA_VISIBLE_DEVICES > out-b'");
  const std::string on_a = Submit(c(), "-J on-a --wrap 'echo $SLURM_CLUSTER_NAME > out-a'");
  ASSERT_EQ(WaitForState(cb, on_b, {"COMPLETED"}), "COMPLETED");
  ASSERT_EQ(WaitForState(c(), on_a, {"COMPLETED"}), "COMPLETED");
  EXPECT_EQ(ReadFile(cb.jobs_dir() + "/out-b"), "b b-gpu002 0,1\n");
  EXPECT_EQ(ReadFile(c().jobs_dir() + "/out-a"), "a\n");
  // Each cluster sees its own nodes and jobs only.
  EXPECT_EQ(Trim(cb.Run("sinfo -h -o %N").out), "b-gpu[001-002]");
  EXPECT_EQ(Trim(cb.Run("squeue -h -t all -o %j").out), "on-b");
  EXPECT_EQ(c().Run("squeue -h -t all -o %j").out.find("on-b"), std::string::npos);
  // Another cluster on ports that are taken is refused, clearly.
  SlurmClusterOptions clash = o;
  clash.dir = dir + "-clash";
  auto refused = SlurmCluster::Start(clash);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("port 32100 on 127.0.0.1 is in use"), std::string::npos)
      << refused.status().ToString();
  fs::remove_all(clash.dir);

  b = Internal("stopped");  // destroys the cluster: stops b
  EXPECT_EQ(Trim(c().Run("scontrol ping").out).find("is UP") != std::string::npos, true);
  RemoveDir(dir);
}

// A controller that goes away: commands fail in bounded time, running jobs
// go on, and a restarted controller recovers the queue from its state.
TEST(SlurmControllerTest, StopsAndRecoversItsJobs) {
  const std::string dir = MakeTempDir("c");
  SlurmClusterOptions o;
  o.cluster_name = "c";
  o.dir = dir;
  o.nodes = 2;
  o.node_prefix = "c-gpu";
  o.gpus_per_node = 2;
  auto started = SlurmCluster::Start(o);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  SlurmCluster& c = **started;

  const std::string running = Submit(c,
                                     "-J long --nodelist=c-gpu001 --exclusive --wrap "
                                     "'echo $$ > pid-long; exec sleep 300'");
  ASSERT_EQ(WaitForState(c, running, {"RUNNING"}), "RUNNING");
  const std::string queued = Submit(c,
                                    "-J queued --nodelist=c-gpu001 --exclusive --wrap "
                                    "'echo ran > out-queued'");
  ASSERT_FALSE(queued.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(State(c, queued), "PENDING");
  const pid_t pid = static_cast<pid_t>(std::atol(WaitForFile(c.jobs_dir() + "/pid-long").c_str()));
  ASSERT_GT(pid, 0);

  auto t0 = Clock::now();
  ASSERT_TRUE(c.StopController().ok());
  std::printf("graceful StopController: %.2f s\n", SecondsSince(t0));
  EXPECT_FALSE(c.controller_running());

  // `scontrol ping` says DOWN at once (exit 1); squeue and sbatch retry the
  // connection for MessageTimeout (client.conf: 10 s) and then fail.
  t0 = Clock::now();
  const CommandResult ping = c.Run("scontrol ping");
  EXPECT_EQ(ping.exit_code, 1);
  EXPECT_NE(ping.out.find("is DOWN"), std::string::npos) << ping.out;
  EXPECT_LT(SecondsSince(t0), 2.0);
  t0 = Clock::now();
  const CommandResult both =
      c.Run("cd " + c.jobs_dir() +
                "; squeue -h > /dev/null 2> squeue.err & p=$!; sbatch --parsable --wrap true 2> "
                "sbatch.err; "
                "echo sbatch=$?; wait $p; echo squeue=$?; cat squeue.err sbatch.err",
            40);
  const double failed_after = SecondsSince(t0);
  std::printf("squeue and sbatch failed after %.2f s\n", failed_after);
  EXPECT_NE(both.out.find("sbatch=1"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("squeue=1"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("slurm_load_jobs error: Unable to contact slurm controller "
                          "(connect failure)"),
            std::string::npos)
      << both.out;
  EXPECT_NE(both.out.find("sbatch: error: Batch job submission failed: Unable to contact slurm "
                          "controller (connect failure)"),
            std::string::npos)
      << both.out;
  EXPECT_GT(failed_after, 5.0);
  EXPECT_LT(failed_after, 15.0);
  EXPECT_TRUE(ProcessAlive(pid)) << "the running job died with the controller";

  t0 = Clock::now();
  Status s = c.StartController();
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::printf("StartController (answering, nodes registered): %.2f s\n", SecondsSince(t0));
  EXPECT_EQ(State(c, running), "RUNNING");
  EXPECT_EQ(State(c, queued), "PENDING");
  EXPECT_EQ(ShowJob(c, running)["NodeList"], "c-gpu001");
  EXPECT_TRUE(ProcessAlive(pid));

  // A crash (SIGKILL) loses nothing that was saved; the queue still works.
  ASSERT_TRUE(c.StopController(/*graceful=*/false).ok());
  s = c.StartController();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(State(c, running), "RUNNING");
  EXPECT_EQ(State(c, queued), "PENDING");
  ASSERT_EQ(c.Run("scancel " + running).exit_code, 0);
  EXPECT_EQ(WaitForState(c, running, {"CANCELLED"}, 20), "CANCELLED");
  EXPECT_EQ(WaitForState(c, queued, {"COMPLETED"}, 30), "COMPLETED");
  EXPECT_EQ(ReadFile(c.jobs_dir() + "/out-queued"), "ran\n");
  started = Internal("stopped");
  RemoveDir(dir);
}

// A cluster that cannot come up fails within its bound, saying why: nodes
// declaring more CPUs than the host without config_overrides stay invalid.
TEST(SlurmClusterLifetimeTest, StartFailsWithTheReasonAndTheLogs) {
  const std::string dir = MakeTempDir("e");
  SlurmClusterOptions o;
  o.cluster_name = "e";
  o.dir = dir;
  o.nodes = 1;
  o.node_prefix = "e-gpu";
  o.cpus_per_node = 512;
  o.extra_config = {"SlurmdParameters="};
  o.start_timeout_s = 4;
  const auto t0 = Clock::now();
  auto started = SlurmCluster::Start(o);
  ASSERT_FALSE(started.ok());
  EXPECT_LT(SecondsSince(t0), 15.0);
  const std::string& m = started.status().message();
  EXPECT_NE(m.find("nodes not all idle after 4 s; sinfo -N says:\ne-gpu001 inval"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("slurmctld.log (last lines)"), std::string::npos) << m;
  EXPECT_NE(m.find("Low socket*core*thread count"), std::string::npos) << m;
  EXPECT_EQ(ClusterProcesses(dir), std::vector<std::string>{});
  RemoveDir(dir);
}

// The destructor leaves nothing running: daemons, slurmstepd, job processes.
TEST(SlurmClusterLifetimeTest, StopLeavesNoProcess) {
  const std::string dir = MakeTempDir("d");
  SlurmClusterOptions o;
  o.cluster_name = "d";
  o.dir = dir;
  o.nodes = 2;
  o.node_prefix = "d-gpu";
  pid_t job_pid = 0;
  {
    auto started = SlurmCluster::Start(o);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    SlurmCluster& c = **started;
    const std::string id = Submit(c, "--wrap 'echo $$ > pid; exec sleep 300'");
    ASSERT_EQ(WaitForState(c, id, {"RUNNING"}), "RUNNING");
    job_pid = static_cast<pid_t>(std::atol(WaitForFile(c.jobs_dir() + "/pid").c_str()));
    ASSERT_GT(job_pid, 0);
    // munged, slurmctld, slurmscriptd, 2 slurmd, slurmstepd
    EXPECT_GE(ClusterProcesses(dir).size(), 6u);
    const auto t0 = Clock::now();
    started = Internal("stopped");
    std::printf("Stop with a running job: %.2f s\n", SecondsSince(t0));
  }
  EXPECT_FALSE(ProcessAlive(job_pid));
  EXPECT_EQ(ClusterProcesses(dir), std::vector<std::string>{});
  RemoveDir(dir);
}

}  // namespace
}  // namespace sovgrid
