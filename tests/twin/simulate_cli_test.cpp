// `sovgrid simulate`, run as the real binary on the real traces and scenarios.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing/run_command.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using testing::RunCommand;
const std::string kBinary = SOVGRID_BINARY;
const fs::path kSource = SOVGRID_SOURCE_DIR;
const std::string kPhilly =
    (kSource / "../shared/traces/philly-pollux/simulator/traces/philly.csv").string();

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("sovgrid-test-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The Helios ranking on the Philly trace (docs/validation.md): FIFO > SJF >
// SRTF in mean JCT, at twice the trace's load, preemption free as in Helios.
TEST(SimulateCli, PhillyReproducesTheHeliosRanking) {
  const fs::path dir = TempDir("philly");
  auto r = RunCommand(
      kBinary + " simulate --scenario " + (kSource / "scenarios/philly.toml").string() +
      " --trace " + kPhilly +
      " --trace-format philly --trace-window 2017-10-01,2017-12-01 --only-scenario-groups"
      " --load-scale 2 --preemption on --preemption-grace 0 --trace-checkpoint 1"
      " --policy fifo,sjf,srtf --quiet --json " +
      (dir / "out.json").string() + " --csv " + (dir / "csv").string() + " --report " +
      (dir / "report").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir / "out.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["policies"].size(), 3u);
  std::map<std::string, double> jct;
  for (const auto& p : j["policies"]) {
    for (const char* key :
         {"policy", "jobs", "jobs_finished", "mean_jct_s", "p50_jct_s", "p99_jct_s", "mean_queue_s",
          "utilization", "residency_violations", "preemptions", "scheduler_cpu_s", "decisions",
          "wall_s", "peak_rss_mb"}) {
      EXPECT_TRUE(p.contains(key)) << key;
    }
    EXPECT_EQ(p["residency_violations"], 0);
    // The window holds 68,503 jobs of the 11 VCs (docs/validation.md).
    EXPECT_EQ(p["jobs"], 68503);
    EXPECT_EQ(p["jobs_finished"], 68503);
    EXPECT_EQ(p["unfinished_by_reason"], nlohmann::json::object());
    ASSERT_EQ(p["tenants"].size(), 11u);
    std::size_t jobs = 0;
    for (const auto& t : p["tenants"]) jobs += t["jobs"].get<std::size_t>();
    EXPECT_EQ(jobs, 68503u);
    jct[p["policy"]] = p["mean_jct_s"];
  }
  EXPECT_GT(jct["fifo"], jct["sjf"]);
  EXPECT_GT(jct["sjf"], jct["srtf"]);
  EXPECT_TRUE(fs::exists(dir / "report/index.html"));
  EXPECT_TRUE(fs::exists(dir / "csv/summary.csv"));
  fs::remove_all(dir);
}

// --explain off drops the explanations and changes no decision; --radio off
// keeps every base-station node for other work.
TEST(SimulateCli, ExplainAndRadioSwitches) {
  auto run = [](const std::string& flags) {
    auto r = RunCommand(kBinary + " simulate --scenario " +
                        (kSource / "scenarios/korea-2027.toml").string() +
                        " --synthetic --jobs 3000 --days 1 --policy drf --cycle-interval 60"
                        " --quiet --json /dev/stdout " +
                        flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out)["policies"][0];
  };
  const auto on = run("");
  const auto off = run("--explain off");
  for (const char* key : {"decisions", "cycles", "jobs_finished", "preemptions", "mean_jct_s"})
    EXPECT_EQ(on[key], off[key]) << key;
  double stranded_on = 0, stranded_off = 0, radio_on = 0;
  for (const auto& p : on["pools"]) {
    stranded_on += p["stranded_accelerator_hours"].get<double>();
    radio_on += p["radio_accelerator_hours"].get<double>();
  }
  for (const auto& p : off["pools"]) stranded_off += p["stranded_accelerator_hours"].get<double>();
  EXPECT_GT(stranded_on, 0);
  EXPECT_EQ(stranded_off, 0);
  EXPECT_GT(radio_on, 0);
  EXPECT_TRUE(off["utilization_window"].is_null());

  const auto no_radio = run("--radio off");
  EXPECT_EQ(no_radio["radio_preemptions"], 0);
  for (const auto& p : no_radio["pools"]) EXPECT_EQ(p["radio_accelerator_hours"], 0) << p["id"];

  auto bad = RunCommand(kBinary + " simulate --synthetic --jobs 10 --explain maybe --quiet");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--explain"), std::string::npos) << bad.err;
}

// Not on a terminal (here: a pipe), progress is a line per tenth of the jobs
// done, in order, before the policy's closing line; --quiet prints none.
TEST(SimulateCli, ProgressIsALinePerTenthWhenNotOnATerminal) {
  const std::string cmd = kBinary + " simulate --scenario " +
                          (kSource / "scenarios/small.toml").string() +
                          " --synthetic --jobs 400 --days 1 --policy drf";
  auto r = RunCommand(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t at = 0;
  for (int percent = 10; percent <= 90; percent += 10) {
    const std::string line = "  drf: " + std::to_string(percent) + " % of the jobs done, ";
    const std::size_t found = r.out.find(line, at);
    ASSERT_NE(found, std::string::npos) << line << "\n" << r.out;
    at = found + line.size();
  }
  EXPECT_NE(r.out.find("  drf: ", at), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("100 % of the jobs done"), std::string::npos) << r.out;

  auto quiet = RunCommand(cmd + " --quiet");
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.out.find("of the jobs done"), std::string::npos) << quiet.out;
}

TEST(SimulateCli, BadTraceLinesAreSkippedWithFileAndLine) {
  const std::string trace = (kSource / "tests/twin/cli/bad-philly.csv").string();
  auto r = RunCommand(kBinary + " simulate --scenario " +
                      (kSource / "scenarios/philly.toml").string() + " --trace " + trace +
                      " --trace-format philly --policy fifo --json /dev/stdout --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(trace + ":3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(trace + ":5:"), std::string::npos) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["lines_skipped"], 2);
  EXPECT_EQ(j["policies"][0]["jobs_finished"], 3);
}

TEST(SimulateCli, StrictStopsAtTheFirstBadLine) {
  const std::string trace = (kSource / "tests/twin/cli/bad-philly.csv").string();
  auto r =
      RunCommand(kBinary + " simulate --scenario " + (kSource / "scenarios/philly.toml").string() +
                 " --trace " + trace + " --trace-format philly --strict --quiet");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(trace + ":3:"), std::string::npos) << r.err;
}

TEST(SimulateCli, RejectsUnknownPoliciesFormatsAndSites) {
  const std::string small = (kSource / "scenarios/small.toml").string();
  auto r = RunCommand(kBinary + " simulate --scenario " + small +
                      " --synthetic --jobs 10 --policy lottery --quiet");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown queue order 'lottery'"), std::string::npos) << r.err;
  r = RunCommand(kBinary + " simulate --scenario " + small + " --trace " + kPhilly +
                 " --trace-format slurmdb --quiet");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("slurmdb"), std::string::npos) << r.err;
  r = RunCommand(kBinary + " simulate --scenario " + small +
                 " --synthetic --jobs 10 --site-down mars:1:2 --quiet");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown site 'mars'"), std::string::npos) << r.err;
}

// A synthetic run with a site outage and node failures: deterministic for a
// seed, no residency violation, work lost to failures is counted.
TEST(SimulateCli, SyntheticWithFailuresIsRepeatable) {
  const std::string cmd =
      kBinary + " simulate --scenario " + (kSource / "scenarios/small.toml").string() +
      " --synthetic --jobs 400 --days 2 --seed 7 --policy drf,las --site-down north:10:20"
      " --node-mtbf 100 --json /dev/stdout --quiet";
  auto a = RunCommand(cmd);
  auto b = RunCommand(cmd);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto ja = nlohmann::json::parse(a.out);
  const auto jb = nlohmann::json::parse(b.out);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(ja["policies"][i]["mean_jct_s"], jb["policies"][i]["mean_jct_s"]);
    EXPECT_EQ(ja["policies"][i]["decisions"], jb["policies"][i]["decisions"]);
    EXPECT_EQ(ja["policies"][i]["residency_violations"], 0);
    EXPECT_GT(ja["policies"][i]["lost_gpu_hours"], 0.0);
  }
}

}  // namespace
}  // namespace sovgrid

namespace sovgrid {
namespace {

// --what-if: the base and each what-if run with every policy on the same
// workload; every JSON row says its variant; the terminal shows the deltas.
TEST(SimulateCli, WhatIfsRunBesideTheBase) {
  const fs::path dir = TempDir("what-if");
  std::ofstream(dir / "south-down.toml") << "[[down]]\nsite = \"south\"\n"
                                            "from = 2027-01-04T06:00:00Z\n"
                                            "until = 2027-01-04T18:00:00Z\n";
  std::ofstream(dir / "bigger.toml") << "name = \"twice-north\"\n[[resize_pools]]\n"
                                        "id = \"north-b200\"\nnodes = 8\n";
  std::ofstream(dir / "busier.toml") << "demand = 2\n";
  auto r = RunCommand(
      kBinary + " simulate --scenario " + (kSource / "scenarios/small.toml").string() +
      " --synthetic --jobs 300 --days 1 --policy fifo,drf --what-if " +
      (dir / "south-down.toml").string() + " --what-if " + (dir / "bigger.toml").string() +
      " --what-if " + (dir / "busier.toml").string() + " --json " + (dir / "out.json").string() +
      " --csv " + (dir / "csv").string() + " --report " + (dir / "report").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("twice-north:drf"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("utilization (window)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tenant waits that changed most"), std::string::npos) << r.out;
  // The outage's own line under the summary (explanations in the terminal too).
  EXPECT_NE(r.out.find("south-down:fifo: outage pool south-l4 (8 accelerators, 6.0-18.0 h)"),
            std::string::npos)
      << r.out;
  std::ifstream in(dir / "out.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["policies"].size(), 8u);
  std::map<std::string, nlohmann::json> by;
  for (const auto& p : j["policies"])
    by[p["variant"].get<std::string>() + ":" + p["policy"].get<std::string>()] = p;
  ASSERT_EQ(by.size(), 8u);
  for (const char* v : {"base", "south-down", "twice-north", "busier"}) {
    EXPECT_TRUE(by.count(std::string(v) + ":fifo")) << v;
  }
  // The same workload, except where the demand doubles.
  EXPECT_EQ(by["south-down:fifo"]["jobs"], by["base:fifo"]["jobs"]);
  EXPECT_EQ(by["twice-north:fifo"]["jobs"], by["base:fifo"]["jobs"]);
  EXPECT_GT(by["busier:fifo"]["jobs"].get<int>(), by["base:fifo"]["jobs"].get<int>() * 3 / 2);
  // The summary CSV has a variant column.
  std::ifstream summary(dir / "csv" / "summary.csv");
  std::string header;
  std::getline(summary, header);
  EXPECT_NE(header.find("variant"), std::string::npos) << header;
  std::ifstream html(dir / "report" / "index.html");
  std::stringstream page;
  page << html.rdbuf();
  EXPECT_NE(page.str().find("What-if comparison"), std::string::npos);
  fs::remove_all(dir);
}

TEST(SimulateCli, BadWhatIfsAreRefusedWithFileAndLine) {
  const fs::path dir = TempDir("bad-what-if");
  const std::string bad = (dir / "bad.toml").string();
  std::ofstream(bad) << "description = \"x\"\n[[resize_pools]]\nid = \"north-b200\"\nnodes = -1\n";
  const std::string cmd = kBinary + " simulate --scenario " +
                          (kSource / "scenarios/small.toml").string() +
                          " --synthetic --jobs 10 --days 1 --quiet --what-if ";
  auto r = RunCommand(cmd + bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":4:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("resize_pools[0].nodes"), std::string::npos) << r.err;
  std::ofstream(bad) << "remove_pools = [\"nowhere\"]\n";
  r = RunCommand(cmd + bad);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":1: remove_pools: the scenario has no pool 'nowhere'"),
            std::string::npos)
      << r.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sovgrid
