// What the local backend promises beyond the common contract: real processes
// with their accelerators in the environment, captured output, exit statuses,
// process groups killed on stop, and how a job ended while nobody watched.
// As root (as CI runs) every job runs under a uid of its own, which the
// isolation tests at the end check; elsewhere they skip and the rest runs with
// isolation none.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "backends/execution_backend.h"
#include "testing/run_command.h"

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;

class LocalBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sovgrid-local-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    backend_ = Make();
  }
  void TearDown() override {
    backend_.reset();
    fs::remove_all(dir_);
  }
  static bool Root() { return ::geteuid() == 0; }
  // A uid range of this test process alone: ctest runs test processes side by side.
  static std::uint32_t UidBase() {
    return 2100000000U + static_cast<std::uint32_t>(::getpid() % 100000) * 64U;
  }
  std::unique_ptr<ExecutionBackend> Make(double grace = 1, LocalBackendOptions o = {}) {
    o.dir = (dir_ / "local").string();
    o.kill_grace_s = grace;
    o.isolation = Root() ? JobIsolation::kUid : JobIsolation::kNone;
    o.uid_base = UidBase();
    o.uid_count = 64;
    auto b = MakeLocalBackend(o);
    EXPECT_TRUE(b.ok()) << b.status().message();
    return std::move(b).value();
  }
  static model::Job Job(const std::string& id, const std::string& command,
                        const std::string& tenant = "lab") {
    model::Job j;
    j.id = id;
    j.tenant = tenant;
    j.command = command;
    return j;
  }
  // Polls until `id` is reported (at most `seconds`).
  std::optional<Ended> WaitFor(const std::string& id, double seconds = 10) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      for (auto& e : backend_->Poll(0)) {
        if (e.job == id) return e;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return std::nullopt;
  }
  std::string Out(const std::string& id, const char* stream = "stdout") {
    auto text = backend_->Logs(id, stream, 0, 1 << 20);
    EXPECT_TRUE(text.ok()) << text.status().message();
    return text.ok() ? *text : "";
  }
  static bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }
  // Polls until every one of `ids` is reported (at most `seconds`).
  std::map<std::string, Ended> WaitForAll(const std::set<std::string>& ids, double seconds = 10) {
    std::map<std::string, Ended> out;
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (out.size() < ids.size() && std::chrono::steady_clock::now() < end) {
      for (auto& e : backend_->Poll(0)) out[e.job] = e;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }
  // Polls the backend until nothing runs under `uid` (at most `seconds`).
  bool UidGone(uid_t uid, double seconds = 5) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      backend_->Poll(0);
      if (!testing::ProcessRunsUnderUid(uid)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  // The folder of a job of tenant "lab", where its command may write.
  fs::path JobDir(const std::string& id, const std::string& tenant = "lab") const {
    return dir_ / "local" / "jobs" / tenant / id;
  }
  // The number in `file` once the job wrote it (0 after 2 s).
  static long long ReadNumber(const fs::path& file) {
    return testing::ReadNumberOnceWritten(file.string(), 2);
  }

  fs::path dir_;
  std::unique_ptr<ExecutionBackend> backend_;
};

TEST_F(LocalBackendTest, RefusesAJobWithoutACommand) {
  const Status s = backend_->Accepts(Job("x", ""));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("command"), std::string::npos);
  EXPECT_FALSE(backend_->Start(Job("x", ""), {{"p/n00000", "p", "s", {0}, 1}}, 0).ok());
}

TEST_F(LocalBackendTest, RunsTheCommandWithItsAcceleratorsAndCapturesOutput) {
  const std::string cmd =
      "echo devices=$CUDA_VISIBLE_DEVICES job=$SOVGRID_JOB_ID node=$SOVGRID_NODE "
      "rank=$SOVGRID_NODE_RANK/$SOVGRID_NUM_NODES share=$SOVGRID_ACCELERATOR_SHARE; "
      "echo to-stderr >&2";
  ASSERT_TRUE(
      backend_->Start(Job("env", cmd), {{"pool-a/n00003", "pool-a", "site-a", {2, 5}, 1}}, 0).ok());
  auto e = WaitFor("env");
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->failed) << e->message;
  EXPECT_EQ(e->message, "exit 0");
  EXPECT_EQ(Out("env"), "devices=2,5 job=env node=pool-a/n00003 rank=0/1 share=1.000000\n");
  EXPECT_EQ(Out("env", "stderr"), "to-stderr\n");
  // Offsets page through the output.
  auto tail = backend_->Logs("env", "stdout", 8, 3);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, "2,5");
  EXPECT_EQ(*backend_->Logs("env", "stdout", 1000, 10), "");
}

TEST_F(LocalBackendTest, OneProcessPerNodeOfAGang) {
  const std::vector<PlacedPart> two = {{"p/n00000", "p", "s", {0, 1, 2, 3}, 1},
                                       {"p/n00001", "p", "s", {0, 1, 2, 3}, 1}};
  ASSERT_TRUE(
      backend_->Start(Job("gang", "echo $SOVGRID_NODE_RANK $SOVGRID_NODE $SOVGRID_NODES"), two, 0)
          .ok());
  auto e = WaitFor("gang");
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->failed) << e->message;
  const std::string out = Out("gang");
  EXPECT_NE(out.find("0 p/n00000 p/n00000,p/n00001\n"), std::string::npos) << out;
  EXPECT_NE(out.find("1 p/n00001 p/n00000,p/n00001\n"), std::string::npos) << out;
}

TEST_F(LocalBackendTest, ANonZeroExitFailsTheJobWithItsStatus) {
  ASSERT_TRUE(
      backend_->Start(Job("bad", "echo trying; exit 3"), {{"p/n00000", "p", "s", {0}, 1}}, 0).ok());
  auto e = WaitFor("bad");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->failed);
  EXPECT_EQ(e->message, "exit 3");
  EXPECT_EQ(Out("bad"), "trying\n");
}

TEST_F(LocalBackendTest, StopKillsTheWholeProcessGroup) {
  const fs::path pidfile = JobDir("tree") / "child.pid";
  // The command leaves a grandchild behind: stopping must reach it too.
  ASSERT_TRUE(backend_
                  ->Start(Job("tree", "sleep 300 & echo $! > $SOVGRID_JOB_DIR/child.pid; wait"),
                          {{"p/n00000", "p", "s", {0}, 1}}, 0)
                  .ok());
  pid_t child = 0;
  for (int i = 0; i < 100 && child == 0; ++i) {
    std::ifstream in(pidfile);
    in >> child;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(child, 0);
  ASSERT_TRUE(Alive(child));
  backend_->Stop("tree");
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    EXPECT_TRUE(backend_->Poll(0).empty());  // a stopped job is not reported
    gone = !Alive(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone) << "grandchild " << child << " survived the stop";
}

TEST_F(LocalBackendTest, AJobIgnoringSigtermIsKilledAfterTheGrace) {
  backend_ = Make(0.3);
  const fs::path pidfile = JobDir("stubborn") / "stubborn.pid";
  ASSERT_TRUE(backend_
                  ->Start(Job("stubborn",
                              "trap '' TERM; echo $$ > $SOVGRID_JOB_DIR/stubborn.pid; "
                              "while :; do sleep 0.1; done"),
                          {{"p/n00000", "p", "s", {0}, 1}}, 0)
                  .ok());
  pid_t shell = 0;
  for (int i = 0; i < 100 && shell == 0; ++i) {
    std::ifstream in(pidfile);
    in >> shell;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(shell, 0);
  backend_->Stop("stubborn");
  bool gone = false;
  for (int i = 0; i < 150 && !gone; ++i) {
    backend_->Poll(0);
    gone = !Alive(shell);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

TEST_F(LocalBackendTest, AJobThatEndedWhileNobodyWatchedIsReportedWithItsStatus) {
  const model::Job job = Job("while-away", "exit 7");
  const std::vector<PlacedPart> where = {{"p/n00000", "p", "s", {0}, 1}};
  ASSERT_TRUE(backend_->Start(job, where, 0).ok());
  backend_.reset();  // the daemon is gone while the job ends
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  backend_ = Make();
  ASSERT_TRUE(backend_->Adopt(job, where, 0, "").ok());
  auto e = WaitFor("while-away");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->failed);
  EXPECT_EQ(e->message, "exit 7");
}

TEST_F(LocalBackendTest, JobsInheritNoDescriptorOfTheDaemon) {
  // Opened without O_CLOEXEC, as a careless library would (a listening socket, say).
  const fs::path marker = dir_ / "daemon-only-file";
  const int fd = ::open(marker.c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 3);
  ASSERT_TRUE(
      backend_->Start(Job("fds", "ls -l /proc/$$/fd/"), {{"p/n00000", "p", "s", {0}, 1}}, 0).ok());
  auto e = WaitFor("fds");
  ::close(fd);
  ASSERT_TRUE(e.has_value());
  const std::string out = Out("fds");
  EXPECT_NE(out.find("stdout"), std::string::npos) << out;
  EXPECT_EQ(out.find("daemon-only-file"), std::string::npos) << out;
}

TEST_F(LocalBackendTest, WhatACommandLeavesBehindEndsWithIt) {
  const fs::path pidfile = JobDir("leaver") / "orphan.pid";
  ASSERT_TRUE(backend_
                  ->Start(Job("leaver", "sleep 300 & echo $! > $SOVGRID_JOB_DIR/orphan.pid"),
                          {{"p/n00000", "p", "s", {0}, 1}}, 0)
                  .ok());
  auto e = WaitFor("leaver");
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->failed) << e->message;
  pid_t orphan = 0;
  std::ifstream(pidfile) >> orphan;
  ASSERT_GT(orphan, 0);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    backend_->Poll(0);  // ends what is left
    gone = !Alive(orphan);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
}

TEST_F(LocalBackendTest, IdsCannotEscapeTheJobFolder) {
  ASSERT_TRUE(
      backend_->Start(Job("../../escape", "echo safe"), {{"p/n00000", "p", "s", {0}, 1}}, 0).ok());
  ASSERT_TRUE(WaitFor("../../escape").has_value());
  EXPECT_EQ(Out("../../escape"), "safe\n");
  EXPECT_FALSE(fs::exists(dir_ / "escape"));
  EXPECT_FALSE(fs::exists(dir_.parent_path() / "escape"));
  // Nor can tenants: "..", "." and "" name no folder above or beside their own.
  for (const std::string tenant : {"..", ".", ""}) {
    const std::string id = "t" + std::to_string(tenant.size()) + "x";
    ASSERT_TRUE(
        backend_
            ->Start(Job(id, "echo $SOVGRID_JOB_DIR", tenant), {{"p/n00000", "p", "s", {0}, 1}}, 0)
            .ok());
    ASSERT_TRUE(WaitFor(id).has_value());
    const fs::path shown = fs::path(Out(id).substr(0, Out(id).size() - 1));
    EXPECT_EQ(shown.parent_path().parent_path(), dir_ / "local" / "jobs") << shown;
    EXPECT_TRUE(fs::exists(shown / "stdout")) << shown;
  }
}

// ---- Isolation: jobs under uids of their own (root only) ----

#define SKIP_UNLESS_ROOT()                                                                  \
  if (!Root()) {                                                                            \
    GTEST_SKIP() << "needs root: jobs run under uids of their own only when the daemon is " \
                    "root (isolation none here)";                                           \
  }

const std::vector<PlacedPart> kOnePart = {{"p/n00000", "p", "s", {0}, 1}};

TEST_F(LocalBackendTest, EachRunningJobHasAUidOfItsOwnAndGetsItsFolderOnlyWhileItRuns) {
  SKIP_UNLESS_ROOT();
  for (const char* id : {"u1", "u2"}) {
    ASSERT_TRUE(
        backend_
            ->Start(Job(id, "echo $(id -u) $(id -g) $(id -G); sleep 1; echo $(umask)"), kOnePart, 0)
            .ok());
  }
  struct stat st {};
  ASSERT_EQ(::stat(JobDir("u1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  const uid_t running_owner = st.st_uid;
  ASSERT_EQ(WaitForAll({"u1", "u2"}).size(), 2U);
  std::istringstream one(Out("u1")), two(Out("u2"));
  unsigned long long uid1 = 0, gid1 = 0, groups1 = 0, uid2 = 0, gid2 = 0, groups2 = 0;
  std::string umask1;
  ASSERT_TRUE(one >> uid1 >> gid1 >> groups1 >> umask1) << Out("u1");
  ASSERT_TRUE(two >> uid2 >> gid2 >> groups2) << Out("u2");
  EXPECT_NE(uid1, uid2);
  for (auto u : {uid1, uid2}) {
    EXPECT_GE(u, UidBase());
    EXPECT_LT(u, UidBase() + 64U);
  }
  EXPECT_EQ(gid1, uid1);  // and no supplementary group but its own
  EXPECT_EQ(groups1, uid1);
  EXPECT_EQ(umask1, "0077");
  EXPECT_EQ(running_owner, uid1);
  // Once nothing runs under its uid, the folder is the daemon's again: the
  // next job given that uid cannot read it.
  ASSERT_TRUE(UidGone(static_cast<uid_t>(uid1)));
  backend_->Poll(0);
  ASSERT_EQ(::stat(JobDir("u1").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0U);
  ASSERT_EQ(::stat((JobDir("u1") / "stdout").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0U);
  EXPECT_EQ(st.st_mode & 077, 0U);
  // The daemon's records are out of the jobs' reach.
  ASSERT_EQ(::stat((dir_ / "local" / "state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700U);
  ASSERT_EQ(::stat((dir_ / "local").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711U);
}

TEST_F(LocalBackendTest, AJobReadsNeitherTheDaemonsFilesNorAnotherTenantsOutput) {
  SKIP_UNLESS_ROOT();
  {
    std::ofstream secret(dir_ / "admin.token");
    secret << "TOPSECRET-TOKEN\n";
  }
  fs::permissions(dir_ / "admin.token", fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(
      backend_->Start(Job("b", "echo B-PRIVATE-OUTPUT; sleep 3", "other"), kOnePart, 0).ok());
  const std::string other = (JobDir("b", "other") / "stdout").string();
  ASSERT_TRUE(
      backend_
          ->Start(Job("a",
                      "cat $SOVGRID_JOB_DIR/../../../../admin.token; "
                      "cat " +
                          (dir_ / "admin.token").string() + "; cat " + other +
                          "; ls $SOVGRID_JOB_DIR/..; ls " + (dir_ / "local" / "jobs").string() +
                          "; ls " + (dir_ / "local" / "state").string() + "; echo end"),
                  kOnePart, 0)
          .ok());
  const auto ended = WaitForAll({"a", "b"});
  ASSERT_EQ(ended.size(), 2U);
  const std::string out = Out("a"), err = Out("a", "stderr");
  EXPECT_EQ(out, "end\n") << out;
  EXPECT_EQ(out.find("TOPSECRET"), std::string::npos);
  EXPECT_EQ(out.find("B-PRIVATE"), std::string::npos);
  std::size_t denied = 0;
  for (auto at = err.find("Permission denied"); at != std::string::npos;
       at = err.find("Permission denied", at + 1))
    ++denied;
  EXPECT_EQ(denied, 6U) << err;
  EXPECT_EQ(Out("b", "stdout"), "B-PRIVATE-OUTPUT\n");
}

TEST_F(LocalBackendTest, TheEnvironmentIsOnlyWhatIsDocumented) {
  ::setenv("SOVGRID_TOKEN", "daemon-secret", 1);
  ::setenv("SOVGRID_TEST_LEAK", "leak", 1);
  ASSERT_TRUE(backend_->Start(Job("env-only", "env"), kOnePart, 0).ok());
  ASSERT_TRUE(WaitFor("env-only").has_value());
  ::unsetenv("SOVGRID_TOKEN");
  ::unsetenv("SOVGRID_TEST_LEAK");
  const std::set<std::string> allowed = {"PATH",
                                         "HOME",
                                         "TMPDIR",
                                         "CUDA_VISIBLE_DEVICES",
                                         "SOVGRID_ACCELERATORS",
                                         "SOVGRID_JOB_ID",
                                         "SOVGRID_TENANT",
                                         "SOVGRID_NODE",
                                         "SOVGRID_NODE_RANK",
                                         "SOVGRID_NUM_NODES",
                                         "SOVGRID_NODES",
                                         "SOVGRID_SITE",
                                         "SOVGRID_ACCELERATOR_SHARE",
                                         "SOVGRID_JOB_DIR",
                                         "SOVGRID_SHELL",
                                         "SOVGRID_COMMAND",
                                         "SOVGRID_EXIT_FILE",
                                         "PWD",
                                         "OLDPWD",
                                         "SHLVL",
                                         "_"};  // the last four: the shell's own
  std::istringstream lines(Out("env-only"));
  std::string line;
  std::map<std::string, std::string> env;
  while (std::getline(lines, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;  // a multi-line value (SOVGRID_COMMAND)
    env[line.substr(0, eq)] = line.substr(eq + 1);
    EXPECT_EQ(allowed.count(line.substr(0, eq)), 1U) << line;
  }
  EXPECT_EQ(env.count("SOVGRID_TOKEN"), 0U);
  EXPECT_EQ(env["HOME"], JobDir("env-only").string());
  EXPECT_EQ(env["TMPDIR"], (JobDir("env-only") / "tmp").string());
  EXPECT_EQ(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
}

TEST_F(LocalBackendTest, LimitsAreSetInEveryProcess) {
  LocalBackendOptions o;
  o.max_processes = 77;
  o.max_open_files = 99;
  o.max_file_size_bytes = 1 << 20;
  backend_ = Make(1, o);
  ASSERT_TRUE(backend_
                  ->Start(Job("limits",
                              "grep -E 'Max (processes|open files|core file size|file size)' "
                              "/proc/self/limits | tr -s ' '"),
                          kOnePart, 0)
                  .ok());
  ASSERT_TRUE(WaitFor("limits").has_value());
  const std::string out = Out("limits");
  EXPECT_NE(out.find("Max open files 99 99"), std::string::npos) << out;
  EXPECT_NE(out.find("Max core file size 0 0"), std::string::npos) << out;
  EXPECT_NE(out.find("Max file size 1048576 1048576"), std::string::npos) << out;
  if (Root()) {
    EXPECT_NE(out.find("Max processes 77 77"), std::string::npos) << out;
  }
}

TEST_F(LocalBackendTest, ADoubleForkedEscapeeDiesWithItsStoppedJob) {
  SKIP_UNLESS_ROOT();
  // The escapee leaves the job's session and process group and is orphaned.
  ASSERT_TRUE(backend_
                  ->Start(Job("escape",
                              "id -u > $SOVGRID_JOB_DIR/uid; "
                              "(setsid sh -c 'sleep 1000 & echo $! > $SOVGRID_JOB_DIR/escapee' &); "
                              "sleep 600"),
                          kOnePart, 0)
                  .ok());
  const auto escapee = static_cast<pid_t>(ReadNumber(JobDir("escape") / "escapee"));
  const auto uid = static_cast<uid_t>(ReadNumber(JobDir("escape") / "uid"));
  ASSERT_GT(escapee, 0);
  ASSERT_TRUE(Alive(escapee));
  EXPECT_NE(::getpgid(escapee), ::getpgid(0));
  backend_->Stop("escape");
  EXPECT_TRUE(UidGone(uid)) << "a process of uid " << uid << " survived the stop";
  // Dead; a zombie until whoever adopted the orphan (init) reaps it.
  std::ifstream stat("/proc/" + std::to_string(escapee) + "/stat");
  std::string line;
  if (std::getline(stat, line)) {
    EXPECT_NE(line.find(") Z "), std::string::npos) << line;
  }
}

TEST_F(LocalBackendTest, ADoubleForkedEscapeeDiesWhenItsJobEnds) {
  SKIP_UNLESS_ROOT();
  ASSERT_TRUE(backend_
                  ->Start(Job("gone",
                              "id -u > $SOVGRID_JOB_DIR/uid; "
                              "(setsid sh -c 'sleep 1000 & echo $! > $SOVGRID_JOB_DIR/escapee' &); "
                              "sleep 0.3"),
                          kOnePart, 0)
                  .ok());
  const auto uid = static_cast<uid_t>(ReadNumber(JobDir("gone") / "uid"));
  ASSERT_GT(uid, 0U);
  auto e = WaitFor("gone");
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->failed) << e->message;
  EXPECT_TRUE(UidGone(uid)) << "a process of uid " << uid << " outlived its job";
}

TEST_F(LocalBackendTest, LogsAreNeverReadThroughALinkTheJobMade) {
  SKIP_UNLESS_ROOT();
  {
    std::ofstream secret(dir_ / "secret");
    secret << "NOT-FOR-TENANTS\n";
  }
  fs::permissions(dir_ / "secret", fs::perms::owner_read | fs::perms::owner_write);
  ASSERT_TRUE(
      backend_
          ->Start(Job("linker", "rm $SOVGRID_JOB_DIR/stdout; ln -s " + (dir_ / "secret").string() +
                                    " $SOVGRID_JOB_DIR/stdout; sleep 0.5"),
                  kOnePart, 0)
          .ok());
  auto e = WaitFor("linker");
  ASSERT_TRUE(e.has_value());
  auto logs = backend_->Logs("linker", "stdout", 0, 1024);
  EXPECT_FALSE(logs.ok() && logs->find("NOT-FOR-TENANTS") != std::string::npos) << *logs;
  // Its next run starts clean: the link is gone and output goes to a new file.
  ASSERT_TRUE(backend_->Start(Job("linker", "echo again"), kOnePart, 0).ok());
  ASSERT_TRUE(WaitFor("linker").has_value());
  EXPECT_EQ(Out("linker"), "again\n");
  std::ifstream secret(dir_ / "secret");
  std::string text;
  std::getline(secret, text);
  EXPECT_EQ(text, "NOT-FOR-TENANTS");
}

TEST_F(LocalBackendTest, AJobIsAdoptedByItsFolderWithoutAHandle) {
  const model::Job job = Job("no-handle", "sleep 1; echo ran >> $SOVGRID_JOB_DIR/runs");
  ASSERT_TRUE(backend_->Start(job, kOnePart, 0).ok());
  backend_.reset();
  backend_ = Make();
  ASSERT_TRUE(backend_->Adopt(job, kOnePart, 0, "").ok());
  auto e = WaitFor("no-handle");
  ASSERT_TRUE(e.has_value());
  EXPECT_FALSE(e->failed) << e->message;
  std::ifstream runs(JobDir("no-handle") / "runs");
  std::string all((std::istreambuf_iterator<char>(runs)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "ran\n");
}

TEST_F(LocalBackendTest, AJobReportedBeforeACrashIsReportedAgainWithoutItsOldUid) {
  // The daemon died after Poll reported the end but before it was committed:
  // the restarted one adopts the job and reports the same end, without
  // claiming (or killing) the uid it had, which may belong to another job now.
  const model::Job job = Job("reported", "id -u > $SOVGRID_JOB_DIR/uid; exit 5");
  ASSERT_TRUE(backend_->Start(job, kOnePart, 0).ok());
  auto e = WaitFor("reported");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->message, "exit 5");
  const auto uid = static_cast<uid_t>(ReadNumber(JobDir("reported") / "uid"));
  if (Root()) {
    ASSERT_TRUE(UidGone(uid));
    backend_->Poll(0);
    EXPECT_FALSE(fs::exists(dir_ / "local" / "state" / "lab" / "reported" / "uid"));
  }
  backend_.reset();
  backend_ = Make();
  ASSERT_TRUE(backend_->Adopt(job, kOnePart, 0, "pid:1").ok());
  e = WaitFor("reported");
  ASSERT_TRUE(e.has_value());
  EXPECT_TRUE(e->failed);
  EXPECT_EQ(e->message, "exit 5");
}

TEST_F(LocalBackendTest, AJobThatMayNotHaveStartedIsKilledAndNotAdopted) {
  // A daemon died after recording the process but before knowing it ran its
  // command (record still "starting"): the process goes, the job is requeued.
  const model::Job job = Job("half",
                             "id -u > $SOVGRID_JOB_DIR/uid; echo $$ > "
                             "$SOVGRID_JOB_DIR/pid; sleep 600");
  ASSERT_TRUE(backend_->Start(job, kOnePart, 0).ok());
  const auto pid = static_cast<pid_t>(ReadNumber(JobDir("half") / "pid"));
  ASSERT_GT(pid, 0);
  backend_.reset();
  const fs::path record = dir_ / "local" / "state" / "lab" / "half" / "rank-0.pid";
  std::string text;
  std::getline(std::ifstream(record), text);
  ASSERT_EQ(text.substr(text.rfind(' ')), " launched") << text;
  text.resize(text.rfind(' '));
  std::ofstream(record, std::ios::trunc) << text << " starting\n";
  backend_ = Make();
  EXPECT_EQ(backend_->Adopt(job, kOnePart, 0, "").code(), StatusCode::kNotFound);
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    EXPECT_TRUE(backend_->Poll(0).empty());
    gone = !Alive(pid);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
  // And a job with no record at all is not found either.
  EXPECT_EQ(backend_->Adopt(Job("never", "true"), kOnePart, 0, "").code(), StatusCode::kNotFound);
}

TEST_F(LocalBackendTest, WithoutRootUidIsolationIsRefused) {
  if (Root()) GTEST_SKIP() << "runs as root: uid isolation is available";
  LocalBackendOptions o;
  o.dir = (dir_ / "refused").string();
  auto b = MakeLocalBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(b.status().message().find("none"), std::string::npos) << b.status().message();
}

}  // namespace
}  // namespace sovgrid::backends
