// The ExecutionBackend contract suite (backend_contract.h) run against the
// twin and local backends; slurm_backend_test.cpp runs it against Slurm.
//
// local_backend_test.cpp covers what only the local backend promises
// (processes, environment, logs, exit codes, process groups).
#include "backends/backend_contract.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "backends/execution_backend.h"

namespace sovgrid::backends::contract {
namespace {

namespace fs = std::filesystem;

struct TwinHarness {
  static constexpr bool kTracksRealWork = false;  // nothing runs: it cannot lose a job
  static constexpr double kTimeScale = 1;
  static std::unique_ptr<ExecutionBackend> Make(const fs::path& /*dir*/) {
    return MakeTwinBackend(1);
  }
  static model::Job JobFor(const std::string& id, int seconds) {
    model::Job j;
    j.id = id;
    j.tenant = "t";
    j.runtime_estimate_s = seconds;  // 0: until stopped
    return j;
  }
};

struct LocalHarness {
  static constexpr bool kTracksRealWork = true;
  static constexpr double kTimeScale = 1;
  static std::unique_ptr<ExecutionBackend> Make(const fs::path& dir) {
    LocalBackendOptions o;
    o.dir = dir.string();
    o.kill_grace_s = 1;
    // As root (CI) jobs run under their own uids, from a range of this test
    // process alone; elsewhere as the user.
    o.isolation = ::geteuid() == 0 ? JobIsolation::kUid : JobIsolation::kNone;
    o.uid_base = 2110000000U + static_cast<std::uint32_t>(::getpid() % 100000) * 64U;
    o.uid_count = 64;
    auto b = MakeLocalBackend(o);
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

using Harnesses = ::testing::Types<TwinHarness, LocalHarness>;
INSTANTIATE_TYPED_TEST_SUITE_P(Backends, BackendContractTest, Harnesses);

}  // namespace
}  // namespace sovgrid::backends::contract
