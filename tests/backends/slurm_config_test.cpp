// The Slurm configuration file (`sovgrid serve --slurm-config FILE`,
// src/backends/slurm_config.h) read against scenarios/small.toml: a good file
// gives the options it says, and every kind of mistake is reported at its
// FILE:LINE:COLUMN with the field, all of them at once.
#include "backends/slurm_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "scenario/loader.h"

namespace sovgrid::backends {
namespace {

namespace fs = std::filesystem;

const model::Scenario& Small() {
  static const model::Scenario* s = [] {
    auto loaded =
        scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return new model::Scenario(std::move(loaded).value());
  }();
  return *s;
}

// The two sites of small.toml, each on a cluster of its own.
const char* const kGood = R"(poll_interval_s = 0.5
submit_workers = 4
retry_max_interval_s = 10
instance = "prod-1"

[[clusters]]
site = "north"
slurm_conf = "/etc/slurm-north/client.conf"
account = "national-ai"

[[clusters.pools]]
pool = "north-b200"
partition = "b200"
nodes = "n-gpu[001-004]"

[[clusters]]
site = "south"
slurm_conf = "/etc/slurm-south/client.conf"

[[clusters.pools]]
pool = "south-l4"
partition = "l4"
nodes = "s-gpu[001-003],s-gpu009"
)";

class SlurmConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("sovgrid-slurm-config-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".toml");
  }
  void TearDown() override { fs::remove(path_); }
  // Reads `text` as the file; its problems as "LINE:COLUMN: field: message" lines.
  std::vector<std::string> Problems(const std::string& text,
                                    backends::SlurmBackendOptions* out = nullptr) {
    std::ofstream(path_) << text;
    std::vector<scenario::Diagnostic> problems;
    auto o = ReadSlurmConfig(path_.string(), Small(), "/data/slurm", &problems);
    EXPECT_EQ(o.ok(), problems.empty());
    if (o.ok() && out != nullptr) *out = *o;
    std::vector<std::string> lines;
    for (const auto& d : problems) {
      EXPECT_EQ(d.file, path_.string());
      lines.push_back(std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + d.field +
                      ": " + d.message);
    }
    return lines;
  }
  // `kGood` with the first `from` replaced by `to`.
  static std::string Good(const std::string& from, const std::string& to) {
    std::string s = kGood;
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) s.replace(at, from.size(), to);
    return s;
  }
  fs::path path_;
};

TEST_F(SlurmConfigTest, AGoodFileGivesItsOptions) {
  backends::SlurmBackendOptions o;
  ASSERT_EQ(Problems(kGood, &o), std::vector<std::string>{});
  EXPECT_EQ(o.dir, "/data/slurm");
  EXPECT_EQ(o.poll_interval_s, 0.5);
  EXPECT_EQ(o.submit_workers, 4);
  EXPECT_EQ(o.retry_max_interval_s, 10);
  EXPECT_EQ(o.instance, "prod-1");
  ASSERT_EQ(o.clusters.size(), 2u);
  EXPECT_EQ(o.clusters[0].site, "north");
  EXPECT_EQ(o.clusters[0].account, "national-ai");
  EXPECT_EQ(o.clusters[0].pools[0].partition, "b200");
  EXPECT_EQ(o.clusters[0].pools[0].nodes,
            (std::vector<std::string>{"n-gpu001", "n-gpu002", "n-gpu003", "n-gpu004"}));
  EXPECT_EQ(o.clusters[1].pools[0].nodes.back(), "s-gpu009");
  EXPECT_EQ(o.clusters[1].account, "");
}

TEST_F(SlurmConfigTest, DefaultsFollowThePollInterval) {
  backends::SlurmBackendOptions o;
  std::string text = kGood;
  text.replace(text.find("retry_max_interval_s = 10\n"), 26, "");
  text.replace(text.find("poll_interval_s = 0.5"), 21, "poll_interval_s = 120");
  ASSERT_EQ(Problems(text, &o), std::vector<std::string>{});
  EXPECT_EQ(o.retry_max_interval_s, 120);  // never below the interval it backs off from
  text.replace(text.find("instance = \"prod-1\"\n"), 20, "");
  ASSERT_EQ(Problems(text, &o), std::vector<std::string>{});
  EXPECT_EQ(o.instance, "");  // the backend makes one and keeps it in dir
  EXPECT_EQ(o.submit_workers, 4);
}

TEST_F(SlurmConfigTest, EachMistakeIsReportedWhereItIs) {
  EXPECT_EQ(
      Problems(Good("submit_workers = 4", "submit_workers = 0")),
      (std::vector<std::string>{"2:18: submit_workers: expected an integer in [1, 64], found 0"}));
  auto p = Problems(Good("retry_max_interval_s = 10", "retry_max_interval_s = 0.1"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].rfind("3:", 0), 0u) << p[0];
  EXPECT_NE(p[0].find("retry_max_interval_s: must be at least poll_interval_s"), std::string::npos)
      << p[0];
  p = Problems(Good("instance = \"prod-1\"", "instance = \"prod 1\""));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("instance: expected 1-32 of"), std::string::npos) << p[0];
  p = Problems(Good("submit_workers = 4", "submit_worker = 4"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].rfind("2:", 0), 0u) << p[0];
  EXPECT_NE(p[0].find("submit_worker"), std::string::npos) << p[0];
  p = Problems(Good("pool = \"south-l4\"", "pool = \"north-b200\""));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("is at site 'north', not 'south'"), std::string::npos) << p[0];
  p = Problems(Good("nodes = \"n-gpu[001-004]\"", "nodes = \"n-gpu[001-003]\""));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("lists 3 nodes; pool 'north-b200' has 4"), std::string::npos) << p[0];
  p = Problems(Good("nodes = \"n-gpu[001-004]\"", "nodes = \"n-gpu[001-004\""));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("unclosed '['"), std::string::npos) << p[0];
  p = Problems(Good("site = \"south\"", "site = \"west\""));
  ASSERT_GE(p.size(), 1u);
  EXPECT_NE(p[0].find("unknown site 'west'"), std::string::npos) << p[0];
  p = Problems(Good("slurm_conf = \"/etc/slurm-south/client.conf\"\n", ""));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].find("slurm_conf"), std::string::npos) << p[0];
}

TEST_F(SlurmConfigTest, SeveralMistakesAreAllReported) {
  std::string text = Good("submit_workers = 4", "submit_workers = 99");
  text.replace(text.find("account = \"national-ai\""), 23, "account = 7");
  const auto p = Problems(text);
  ASSERT_EQ(p.size(), 2u) << p[0];
  EXPECT_EQ(p[0].rfind("2:", 0), 0u) << p[0];
  EXPECT_EQ(p[1].rfind("9:", 0), 0u) << p[1];
}

TEST_F(SlurmConfigTest, ASyntaxErrorIsReportedAtItsLine) {
  const auto p = Problems(
      Good("[[clusters.pools]]\npool = \"south-l4\"", "[[clusters.pools]\npool = \"south-l4\""));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].rfind("20:", 0), 0u) << p[0];
  EXPECT_NE(p[0].find("TOML syntax error"), std::string::npos) << p[0];
}

}  // namespace
}  // namespace sovgrid::backends
