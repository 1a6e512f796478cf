// What the local backend promises beyond the common contract: real processes
// with their accelerators in the environment, captured output, exit statuses,
// process groups killed on stop, and how a job ended while nobody watched.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include "backends/execution_backend.h"

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
  std::unique_ptr<ExecutionBackend> Make(double grace = 1) {
    LocalBackendOptions o;
    o.dir = (dir_ / "local").string();
    o.kill_grace_s = grace;
    auto b = MakeLocalBackend(o);
    EXPECT_TRUE(b.ok()) << b.status().message();
    return std::move(b).value();
  }
  static model::Job Job(const std::string& id, const std::string& command) {
    model::Job j;
    j.id = id;
    j.tenant = "lab";
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
  const fs::path pidfile = dir_ / "child.pid";
  // The command leaves a grandchild behind: stopping must reach it too.
  ASSERT_TRUE(backend_
                  ->Start(Job("tree", "sleep 300 & echo $! > " + pidfile.string() + "; wait"),
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
  const fs::path pidfile = dir_ / "stubborn.pid";
  ASSERT_TRUE(backend_
                  ->Start(Job("stubborn", "trap '' TERM; echo $$ > " + pidfile.string() +
                                              "; while :; do sleep 0.1; done"),
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
  const fs::path pidfile = dir_ / "orphan.pid";
  ASSERT_TRUE(backend_
                  ->Start(Job("leaver", "sleep 300 & echo $! > " + pidfile.string()),
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
}

}  // namespace
}  // namespace sovgrid::backends
