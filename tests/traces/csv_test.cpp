// The strict CSV toolkit (traces/csv.h: ForEachRow, the one way every reader
// reads a table) and the Alibaba node and pod list parsers built on it
// (traces/alibaba.h), shared by the trace reader and the fill experiment.
#include "traces/csv.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "traces/alibaba.h"
#include "traces/trace_reader.h"

namespace sovgrid::traces {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "sovgrid_csv_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

const csv::TableFormat kFormat{"demo", {{"id", true}, {"n", true}, {"note", false}}};

// A row function that takes rows whose n is 1..9 and records their ids.
struct Taker {
  std::vector<std::string> ids;
  csv::RowCheck operator()(const csv::Row& row) {
    std::int64_t n = 0;
    if (auto p = csv::GetInt(row[1], "n", 1, 9, &n)) {
      return p;
    }
    ids.emplace_back(row[0]);
    return std::nullopt;
  }
};

TEST(CsvForEachRow, LenientPolicySkipsEveryBadLineWithFileLineAndColumn) {
  const std::string text = "id , n\n a,1\n\nb,x\n\"c\",3\nd\ne,2,3\n";
  std::vector<std::string> bad;
  Taker taker;
  auto lines = csv::ForEachRow(
      "f.csv", text, kFormat,
      [&](std::string msg) {
        bad.push_back(std::move(msg));
        return Status::Ok();
      },
      [&](const csv::Row& row) { return taker(row); });
  ASSERT_TRUE(lines.ok()) << lines.status().message();
  EXPECT_EQ(*lines, 5U);  // blank lines are not data lines
  EXPECT_EQ(taker.ids, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(bad, (std::vector<std::string>{
                     "f.csv:4: expected an integer, found 'x' (column n)",
                     "f.csv:6: expected 2 comma-separated fields, found 1",
                     "f.csv:7: expected 2 comma-separated fields, found 3",
                 }));
}

TEST(CsvForEachRow, StrictPolicyStopsAtTheFirstBadLine) {
  Taker taker;
  auto r = csv::ForEachRow("f.csv", std::string("id,n\na,1\nb,\x01\nc,0\n"), kFormat,
                           csv::FailOnBadLine, [&](const csv::Row& row) { return taker(row); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "f.csv:3: binary data, not a text line");
  EXPECT_EQ(taker.ids, (std::vector<std::string>{"a"}));
}

TEST(CsvForEachRow, HeaderProblemsAndHints) {
  auto none = [](const csv::Row&) -> csv::RowCheck { return std::nullopt; };
  auto empty = csv::ForEachRow("f.csv", "\n\n", kFormat, csv::FailOnBadLine, none);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(),
            "f.csv: empty file, expected a demo header with columns id,n");
  const csv::TableFormat hinted{"demo", {{"id", true}, {"n", true, "n is the count"}}};
  auto missing = csv::ForEachRow("f.csv", "id,m\n", hinted, csv::FailOnBadLine, none);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "f.csv:1: not a demo header: no column 'n' (expected columns id,n, found 'id,m'); n "
            "is the count");
}

TEST(CsvForEachRow, FixedFieldsWithoutHeader) {
  const csv::TableFormat tabs{"tabbed", {}, '\t', 2};
  Taker taker;
  auto r = csv::ForEachRow("t.trace", "a\t1\nb\t2\tx\n", tabs, csv::FailOnBadLine,
                           [&](const csv::Row& row) { return taker(row); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "t.trace:2: expected 2 tab-separated fields, found 3");
  EXPECT_EQ(taker.ids, (std::vector<std::string>{"a"}));
}

// The trace reader's grid and any other caller of the node-list parser see
// the same nodes and the same errors.
TEST(AlibabaNodeList, OneParserForEveryCaller) {
  const std::string header = "sn,cpu_milli,memory_mib,gpu,model\n";
  const std::string good =
      WriteTemp("nodes_good.csv", header +
                                      "a,32000,65536,2,T4\nb,64000,131072,8,V100\n"
                                      "c,16000,32768,0,\n");
  std::vector<std::string> seen;
  Status s = alibaba::ForEachNode(good, {}, [&](const alibaba::Node& n) -> csv::RowCheck {
    seen.push_back(std::string(n.sn) + ":" + std::to_string(n.gpus) + ":" + std::string(n.model));
    return std::nullopt;
  });
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(seen, (std::vector<std::string>{"a:2:T4", "b:8:V100", "c:0:"}));

  const std::string dup =
      WriteTemp("nodes_dup.csv", header + "a,32000,65536,2,T4\na,32000,65536,2,T4\n");
  const std::string expected = dup + ":3: duplicate node 'a' (column sn)";
  auto grid = ScenarioFromAlibabaNodes(dup);
  ASSERT_FALSE(grid.ok());
  EXPECT_EQ(grid.status().message(), expected);
  alibaba::NodeListOptions resources;
  resources.resources = true;
  Status strict = alibaba::ForEachNode(
      dup, resources, [](const alibaba::Node&) -> csv::RowCheck { return std::nullopt; });
  EXPECT_EQ(strict.message(), expected);

  // cpu_milli and memory_mib are required only when asked for.
  const std::string bare = WriteTemp("nodes_bare.csv", "gpu,model\n4,A10\n");
  EXPECT_TRUE(ScenarioFromAlibabaNodes(bare).ok());
  Status needs = alibaba::ForEachNode(
      bare, resources, [](const alibaba::Node&) -> csv::RowCheck { return std::nullopt; });
  EXPECT_NE(needs.message().find("no column 'sn'"), std::string::npos) << needs.message();

  const std::string cpu_only = WriteTemp("nodes_cpu.csv", header + "c,16000,32768,0,\n");
  EXPECT_EQ(ScenarioFromAlibabaNodes(cpu_only).status().message(),
            cpu_only + ": no node with GPUs");
}

TEST(AlibabaPodList, ColumnsTimesAndModels) {
  const std::string text =
      "name,num_gpu,gpu_milli,gpu_spec,creation_time,deletion_time,scheduled_time\n"
      "p0,1,500, V100 | |T4 ,10,20,\n"
      "p1,0,,,garbage,,\n"
      "p2,2,1000,,10,x,12\n";
  alibaba::PodListOptions options;
  options.times = true;
  options.skip_cpu_only = true;
  std::vector<alibaba::Pod> pods;
  std::vector<std::string> bad;
  auto lines = alibaba::ForEachPod(
      "pods.csv", text, options,
      [&](std::string msg) {
        bad.push_back(std::move(msg));
        return Status::Ok();
      },
      [&](const alibaba::Pod& p) -> csv::RowCheck {
        pods.push_back(p);
        return std::nullopt;
      });
  ASSERT_TRUE(lines.ok()) << lines.status().message();
  EXPECT_EQ(*lines, 3U);
  ASSERT_EQ(pods.size(), 2U);
  EXPECT_EQ(pods[0].gpu_milli, 500);
  EXPECT_EQ(pods[0].models, (std::vector<std::string_view>{"V100", "T4"}));
  EXPECT_EQ(pods[0].creation, 10);
  EXPECT_FALSE(pods[0].has_scheduled);
  EXPECT_EQ(pods[1].gpus, 0);  // a CPU-only pod, its other columns unread
  EXPECT_EQ(bad,
            (std::vector<std::string>{
                "pods.csv:4: expected a number of seconds, found 'x' (column deletion_time)"}));
}

}  // namespace
}  // namespace sovgrid::traces
