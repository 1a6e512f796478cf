// `sovgrid scenario validate|show`, run as the real binary.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/run_command.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;
const std::string kBinary = SOVGRID_BINARY;
const fs::path kSource = SOVGRID_SOURCE_DIR;

TEST(ScenarioCli, ValidateAcceptsTheShippedScenarios) {
  for (const char* name : {"small.toml", "philly.toml", "korea-2027.toml"}) {
    auto r = RunCommand(kBinary + " scenario validate " + (kSource / "scenarios" / name).string());
    EXPECT_EQ(r.exit_code, 0) << name << "\n" << r.err;
    EXPECT_NE(r.out.find(": ok ("), std::string::npos) << r.out;
  }
}

TEST(ScenarioCli, ValidateRejectsEveryBadFileWithFileAndLine) {
  for (const auto& entry : fs::directory_iterator(kSource / "tests/scenario/bad")) {
    const std::string path = entry.path().string();
    auto r = RunCommand(kBinary + " scenario validate " + path);
    EXPECT_EQ(r.exit_code, 1) << path;
    EXPECT_NE(r.err.find("error: " + path + ":"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("scenario rejected"), std::string::npos) << r.err;
  }
}

TEST(ScenarioCli, ValidateReportsAMissingFile) {
  auto r = RunCommand(kBinary + " scenario validate /nonexistent.toml");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("/nonexistent.toml"), std::string::npos);
}

// Issue 14: a table header of 50,000 dotted parts once ended the process
// (toml++ recursion); now a clean error at its line and column, exit code 1.
TEST(ScenarioCli, ValidateRefusesAHugeHeaderCleanly) {
  const fs::path path =
      fs::temp_directory_path() / ("sovgrid-deep-header-" + std::to_string(::getpid()) + ".toml");
  std::string header = "[a";
  for (int i = 0; i < 50'000; ++i) header += ".a";
  std::ofstream(path) << "[scenario]\nname = \"deep\"\n" << header << "]\n";
  auto r = RunCommand(kBinary + " scenario validate " + path.string());
  EXPECT_EQ(r.exit_code, 1) << r.err.substr(0, 500);
  EXPECT_NE(r.err.find("error: " + path.string() + ":3:65: key with more than 32 dotted parts"),
            std::string::npos)
      << r.err.substr(0, 500);
  fs::remove(path);
}

TEST(ScenarioCli, ShowJsonIsParseableAndAddsUp) {
  auto r =
      RunCommand(kBinary + " scenario show --json " + (kSource / "scenarios/small.toml").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["totals"]["datacentre_accelerators"], 32);
  EXPECT_EQ(j["totals"]["edge_accelerators"], 8);
  EXPECT_EQ(j["totals"]["nodes"], 8);
  EXPECT_EQ(j["totals"]["by_operator"]["GridCo"]["datacentre_accelerators"], 32);
  EXPECT_EQ(j["tenants"][0]["path"], "research");
}

TEST(ScenarioCli, ShowPrintsReadableTables) {
  auto r = RunCommand(kBinary + " scenario show " + (kSource / "scenarios/small.toml").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* heading : {"Sites", "Pools", "Accelerators by model", "Accelerators by operator",
                              "Tenants", "Datasets", "Totals"}) {
    EXPECT_NE(r.out.find(heading), std::string::npos) << heading;
  }
  EXPECT_NE(r.out.find("data-centre accelerators  32"), std::string::npos) << r.out;
}

TEST(ScenarioCli, HelpListsTheSubcommands) {
  auto r = RunCommand(kBinary + " scenario --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("validate"), std::string::npos);
  EXPECT_NE(r.out.find("show"), std::string::npos);
  auto bad = RunCommand(kBinary + " scenario frobnicate");
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace sovgrid

namespace sovgrid {
namespace {

TEST(ScheduleCli, PrintsDecisionsAndPendingReasons) {
  auto r =
      testing::RunCommand(kBinary + " schedule " + (kSource / "scenarios/small.toml").string() +
                          " " + (kSource / "scenarios/jobs/small-demo.toml").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("start     llm-pretrain"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("startup-big  needs 24 B200"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("is at its borrowing limit"), std::string::npos) << r.out;
}

TEST(ScheduleCli, BadJobsAreReportedWithFileAndLineAndTheRestRuns) {
  const std::string jobs = (kSource / "tests/cli/bad-jobs.toml").string();
  auto r = testing::RunCommand(kBinary + " schedule --json --queue-order fifo " +
                               (kSource / "scenarios/small.toml").string() + " " + jobs);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find(jobs + ":10:1: jobs[1].acelerators: unknown key"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(jobs + ":15:16: jobs[2].accelerators: expected an integer, found a string"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("job no-such-tenant rejected: job.tenant: unknown tenant 'nobody'"),
            std::string::npos)
      << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::vector<std::string> started;
  for (const auto& d : j["decisions"]) started.push_back(d["job"]);
  EXPECT_EQ(started, (std::vector<std::string>{"good-1", "good-2"}));
  EXPECT_EQ(j["rejected"].size(), 3u);
}

TEST(ScheduleCli, UnknownPolicyIsAnError) {
  auto r = testing::RunCommand(kBinary + " schedule --queue-order lottery " +
                               (kSource / "scenarios/small.toml").string() + " " +
                               (kSource / "scenarios/jobs/small-demo.toml").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown queue order 'lottery'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sovgrid
