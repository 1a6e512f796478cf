// `sovgrid fill`, run as the real binary on the real Alibaba 2023 files.
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
const fs::path kCsv = fs::path(SOVGRID_SOURCE_DIR) /
                      "../shared/traces/alibaba-clusterdata/cluster-trace-gpu-v2023/csv";

fs::path TempDir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("sovgrid-fill-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(FillCli, TwoPodListsAllPoliciesTwoSeedsWithEveryOutput) {
  const fs::path dir = TempDir("all");
  const std::string pods = (kCsv / "openb_pod_list_default.csv").string() + "," +
                           (kCsv / "openb_pod_list_gpushare40.csv").string();
  auto r =
      RunCommand(kBinary + " fill --nodes " + (kCsv / "openb_node_list_gpu_node.csv").string() +
                 " --pods " + pods + " --seeds 42,43 --json " + (dir / "fill.json").string() +
                 " --csv " + (dir / "csv").string() + " --report " + (dir / "report").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("alloc@130%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sovgrid against the best other policy"), std::string::npos);

  std::ifstream in(dir / "fill.json");
  const auto j = nlohmann::json::parse(in);
  ASSERT_EQ(j["runs"].size(), 2U * 7U * 2U);
  for (const auto& run : j["runs"]) {
    for (const char* key : {"policy", "seed", "pods", "failed_pods", "wall_s", "curve"})
      EXPECT_TRUE(run.contains(key)) << key;
    EXPECT_GE(run["curve"].size(), 131U);
    EXPECT_EQ(run["curve"][100][0], 100);
  }
  ASSERT_EQ(j["summary"].size(), 2U * 7U);
  for (const auto& s : j["summary"]) {
    for (const char* load : {"90", "100", "110", "120", "130"})
      EXPECT_TRUE(s["alloc_pct_at"].contains(load)) << load;
  }
  const std::string html = [&] {
    std::ifstream f(dir / "report/index.html");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }();
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("Pod list gpushare40"), std::string::npos);
  for (const char* file : {"curves.csv", "summary.csv", "failed_pods.csv", "frag_by_model.csv"})
    EXPECT_TRUE(fs::exists(dir / "csv" / file)) << file;
}

TEST(FillCli, MalformedPodLineGivesFileLineAndNonZeroExit) {
  const fs::path dir = TempDir("bad");
  const fs::path pods = dir / "openb_pod_list_bad.csv";
  std::ofstream(pods) << "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n"
                         "p0,1000,1024,1,500,\n"
                         "p1,1000,1024,1,half,\n";
  auto r =
      RunCommand(kBinary + " fill --nodes " + (kCsv / "openb_node_list_gpu_node.csv").string() +
                 " --pods " + pods.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(pods.string() + ":3: expected an integer, found 'half' (column gpu_milli)"),
            std::string::npos)
      << r.err;
}

TEST(FillCli, MalformedNodeLineGivesFileLineAndNonZeroExit) {
  const fs::path dir = TempDir("badnodes");
  const fs::path nodes = dir / "nodes.csv";
  std::ofstream(nodes) << "sn,cpu_milli,memory_mib,gpu,model\n"
                          "n0,64000,262144,2,P100\n"
                          "n1,64000,262144,two,P100\n";
  auto r = RunCommand(kBinary + " fill --nodes " + nodes.string() + " --pods " +
                      (kCsv / "openb_pod_list_default.csv").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(nodes.string() + ":3: expected an integer, found 'two' (column gpu)"),
            std::string::npos)
      << r.err;
}

TEST(FillCli, UnknownPolicyIsAUsageError) {
  auto r = RunCommand(kBinary + " fill --nodes " +
                      (kCsv / "openb_node_list_gpu_node.csv").string() + " --pods " +
                      (kCsv / "openb_pod_list_default.csv").string() + " --policy fgd,tetris");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown placement policy 'tetris'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sovgrid
