// The ExecutionBackend contract (src/backends/execution_backend.h) as one
// type-parameterized gtest suite. A backend joins with a harness and one
// INSTANTIATE_TYPED_TEST_SUITE_P(Name, BackendContractTest, Harness) line in
// its test (backend_contract_test.cpp: twin and local; slurm_backend_test.cpp:
// a real Slurm cluster). A harness is a type with
//
//   static constexpr bool kTracksRealWork;  // false: nothing runs, nothing is lost
//   static constexpr double kTimeScale;     // every wait of the suite is multiplied
//                                           // by it (a job on Slurm starts 1-3 s
//                                           // after its submission); 1 for local
//   // A backend over `dir`, a folder that outlives one instance (for Adopt).
//   static std::unique_ptr<ExecutionBackend> Make(const std::filesystem::path& dir);
//   // A job that ends by itself after `seconds` (0: never, until stopped).
//   static model::Job JobFor(const std::string& id, int seconds);
//
// Every job is placed on OnePart(): accelerators 0 and 1 of node
// pool-a/n00000 of site site-a (a harness maps that to its backend's world).
// The assertions are the same for every harness; only the waits scale.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backends/execution_backend.h"

namespace sovgrid::backends::contract {

inline model::Time WallNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::vector<PlacedPart> OnePart() {
  return {{"pool-a/n00000", "pool-a", "site-a", {0, 1}, 1.0}};
}

template <typename H>
class BackendContractTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sovgrid-backend-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    backend_ = H::Make(dir_);
    ASSERT_NE(backend_, nullptr);
  }
  void TearDown() override {
    // Nothing of a test may outlive it: stop whatever still runs.
    if (backend_ != nullptr) {
      for (const auto& id : started_) backend_->Stop(id);
      for (int i = 0; i < 3; ++i) {
        backend_->Poll(WallNow());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    backend_.reset();
    std::filesystem::remove_all(dir_);
  }
  // `seconds` of the suite, in this harness's time.
  static double Scaled(double seconds) { return seconds * H::kTimeScale; }
  void Start(const model::Job& job) {
    auto handle = backend_->Start(job, OnePart(), WallNow());
    ASSERT_TRUE(handle.ok()) << handle.status().message();
    started_.insert(job.id);
    handles_[job.id] = *handle;
  }
  // Polls for `seconds` (scaled) of wall time, or until `stop_after` reports;
  // every report, in order.
  std::vector<Ended> PollFor(double seconds, std::size_t stop_after = SIZE_MAX) {
    std::vector<Ended> out;
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::duration<double>(Scaled(seconds));
    while (std::chrono::steady_clock::now() < end && out.size() < stop_after) {
      for (auto& e : backend_->Poll(WallNow())) out.push_back(std::move(e));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<ExecutionBackend> backend_;
  std::set<std::string> started_;
  std::map<std::string, std::string> handles_;
};

TYPED_TEST_SUITE_P(BackendContractTest);

TYPED_TEST_P(BackendContractTest, AJobThatEndsByItselfIsReportedExactlyOnce) {
  this->Start(TypeParam::JobFor("short", 1));
  auto ended = this->PollFor(10, 1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].job, "short");
  EXPECT_FALSE(ended[0].failed) << ended[0].message;
  EXPECT_FALSE(ended[0].lost) << ended[0].message;
  EXPECT_FALSE(ended[0].message.empty());
  EXPECT_TRUE(this->PollFor(1.5).empty()) << "reported twice";
}

TYPED_TEST_P(BackendContractTest, AStoppedJobIsNeverReported) {
  this->Start(TypeParam::JobFor("forever", 0));
  this->Start(TypeParam::JobFor("short", 1));
  this->backend_->Stop("forever");
  this->backend_->Stop("forever");      // twice: no effect
  this->backend_->Stop("no-such-job");  // unknown: no effect
  auto ended = this->PollFor(3);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].job, "short");
}

TYPED_TEST_P(BackendContractTest, ManyJobsAreEachReportedOnce) {
  for (int i = 0; i < 6; ++i) this->Start(TypeParam::JobFor("j" + std::to_string(i), 1 + i % 2));
  auto ended = this->PollFor(15, 6);
  std::multiset<std::string> ids;
  for (const auto& e : ended) ids.insert(e.job);
  EXPECT_EQ(ids, (std::multiset<std::string>{"j0", "j1", "j2", "j3", "j4", "j5"}));
  EXPECT_TRUE(this->PollFor(1).empty());
}

TYPED_TEST_P(BackendContractTest, StartAllStartsEachJobOrRefusesItAlone) {
  std::vector<model::Job> jobs;
  for (int i = 0; i < 5; ++i) jobs.push_back(TypeParam::JobFor("b" + std::to_string(i), 1));
  std::vector<StartRequest> requests;
  for (const auto& job : jobs) requests.push_back({&job, OnePart()});
  // A backend that runs real work cannot run a job placed nowhere.
  if (TypeParam::kTracksRealWork) requests[2].where.clear();
  auto handles = this->backend_->StartAll(requests, WallNow());
  ASSERT_EQ(handles.size(), jobs.size());
  std::multiset<std::string> expected;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    if (TypeParam::kTracksRealWork && i == 2) {
      EXPECT_FALSE(handles[i].ok()) << "a job placed nowhere was started";
      continue;
    }
    ASSERT_TRUE(handles[i].ok()) << jobs[i].id << ": " << handles[i].status().message();
    this->started_.insert(jobs[i].id);
    expected.insert(jobs[i].id);
  }
  auto ended = this->PollFor(15, expected.size());
  std::multiset<std::string> ids;
  for (const auto& e : ended) {
    ids.insert(e.job);
    EXPECT_FALSE(e.failed || e.lost) << e.job << ": " << e.message;
  }
  EXPECT_EQ(ids, expected);
  EXPECT_TRUE(this->PollFor(1).empty());
}

TYPED_TEST_P(BackendContractTest, ANewInstanceAdoptsARunningJobAndReportsItsEnd) {
  const model::Job job = TypeParam::JobFor("survivor", 2);
  const model::Time started = WallNow();
  this->Start(job);
  this->backend_.reset();  // the daemon went away; the job did not
  this->backend_ = TypeParam::Make(this->dir_);
  ASSERT_TRUE(this->backend_->Adopt(job, OnePart(), started, this->handles_["survivor"]).ok());
  auto ended = this->PollFor(10, 1);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].job, "survivor");
  EXPECT_FALSE(ended[0].failed) << ended[0].message;
  EXPECT_FALSE(ended[0].lost) << ended[0].message;
}

TYPED_TEST_P(BackendContractTest, AnAdoptedJobCanBeStopped) {
  const model::Job job = TypeParam::JobFor("adopted", 0);
  const model::Time started = WallNow();
  this->Start(job);
  this->backend_.reset();
  this->backend_ = TypeParam::Make(this->dir_);
  ASSERT_TRUE(this->backend_->Adopt(job, OnePart(), started, this->handles_["adopted"]).ok());
  this->backend_->Stop("adopted");
  EXPECT_TRUE(this->PollFor(2).empty());
}

TYPED_TEST_P(BackendContractTest, AdoptingAJobItNeverRanIsNotFound) {
  if (!TypeParam::kTracksRealWork) GTEST_SKIP() << "simulated execution adopts any job";
  const Status s =
      this->backend_->Adopt(TypeParam::JobFor("never-started", 1), OnePart(), WallNow(), "");
  EXPECT_EQ(s.code(), StatusCode::kNotFound) << s.message();
}

TYPED_TEST_P(BackendContractTest, LogsAreEitherKeptOrRefusedClearly) {
  this->Start(TypeParam::JobFor("quiet", 1));
  ASSERT_EQ(this->PollFor(10, 1).size(), 1u);
  auto logs = this->backend_->Logs("quiet", "stdout", 0, 1024);
  if (TypeParam::kTracksRealWork) {
    EXPECT_TRUE(logs.ok()) << logs.status().message();
  } else {
    EXPECT_EQ(logs.status().code(), StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(this->backend_->Logs("quiet", "stdin", 0, 1024).ok());
}

REGISTER_TYPED_TEST_SUITE_P(BackendContractTest, AJobThatEndsByItselfIsReportedExactlyOnce,
                            AStoppedJobIsNeverReported, ManyJobsAreEachReportedOnce,
                            StartAllStartsEachJobOrRefusesItAlone,
                            ANewInstanceAdoptsARunningJobAndReportsItsEnd, AnAdoptedJobCanBeStopped,
                            AdoptingAJobItNeverRanIsNotFound, LogsAreEitherKeptOrRefusedClearly);

}  // namespace sovgrid::backends::contract
