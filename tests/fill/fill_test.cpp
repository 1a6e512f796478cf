// The fill experiment (fill/fill.h): readers with file:line errors, the
// workload inflation, and the invariants of randomized runs on the real
// Alibaba cluster-trace-gpu-v2023 files.
#include "fill/fill.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace sovgrid::fill {
namespace {

const std::string kCsvDir = std::string(SOVGRID_SOURCE_DIR) +
                            "/../shared/traces/alibaba-clusterdata/cluster-trace-gpu-v2023/csv/";
const std::string kNodes = kCsvDir + "openb_node_list_gpu_node.csv";

std::string WriteTemp(const std::string& name, const std::string& text) {
  const auto dir = std::filesystem::temp_directory_path() / "sovgrid_fill_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

constexpr std::string_view kNodeHeader = "sn,cpu_milli,memory_mib,gpu,model\n";
constexpr std::string_view kPodHeader = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec\n";

FillCluster SmallCluster() {
  auto c = ReadFillCluster(WriteTemp("small_nodes.csv", std::string(kNodeHeader) +
                                                            "a,32000,65536,2,T4\n"
                                                            "b,64000,131072,8,V100\n"
                                                            "c,16000,32768,0,\n"));
  EXPECT_TRUE(c.ok()) << c.status().message();
  return std::move(c).value();
}

TEST(FillReaderTest, ReadsTheAlibabaNodeList) {
  auto c = ReadFillCluster(kNodes);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->nodes.size(), 1213U);
  EXPECT_EQ(c->gpu_capacity_milli, 6212 * 1000);
  EXPECT_EQ(c->models.size(), 7U);
  model::Milli by_model = 0;
  for (auto m : c->model_capacity_milli) by_model += m;
  EXPECT_EQ(by_model, c->gpu_capacity_milli);
}

TEST(FillReaderTest, SmallClusterAndPods) {
  const FillCluster c = SmallCluster();
  ASSERT_EQ(c.nodes.size(), 3U);
  EXPECT_EQ(c.nodes[2].gpu_count, 0);
  EXPECT_EQ(c.nodes[2].model, -1);
  EXPECT_EQ(c.gpu_capacity_milli, 10000);
  auto w = ReadFillWorkload(WriteTemp("openb_pod_list_tiny.csv",
                                      std::string(kPodHeader) + "p0,4000,8192,1,500,\n"
                                                                "p1,4000,8192,1,500,\n"
                                                                "p2,8000,16384,2,1000,V100|H100\n"
                                                                "p3,1000,1024,0,0,\n"),
                            c);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->family, "tiny");
  ASSERT_EQ(w->pods.size(), 4U);
  EXPECT_EQ(w->pods[0].shape, w->pods[1].shape);
  EXPECT_NE(w->pods[0].shape, w->pods[2].shape);
  EXPECT_EQ(w->shape_count, 3);
  // V100 is model 1 of the cluster; H100 is unknown and matches nothing.
  EXPECT_EQ(w->pods[2].request.models, 1U << 1);
  EXPECT_EQ(w->pods[3].request.gpu_total(), 0);
}

struct BadCase {
  std::string name;
  std::string text;
  std::string expected;  // substring of the message, after the path
};

TEST(FillReaderTest, MalformedNodeLinesSayFileLineAndColumn) {
  const std::vector<BadCase> cases = {
      {"cpu", "a,32000,65536,2,T4\nb,lots,65536,2,T4\n",
       ":3: expected an integer, found 'lots' (column cpu_milli)"},
      {"duplicate", "a,32000,65536,2,T4\na,32000,65536,2,T4\n",
       ":3: duplicate node 'a' (column sn)"},
      {"gpus", "a,32000,65536,17,T4\n", ":2: expected 0..16, found '17' (column gpu)"},
      {"model", "a,32000,65536,2,\n",
       ":2: empty value: a node with GPUs needs a model (column model)"},
      {"fields", "a,32000,65536\n", ":2: expected 5 comma-separated fields, found 3"},
      {"binary", std::string("a,32000,65536,2,T4\n\x01\x02\x00garbage\n", 30),
       ":3: binary data, not a text line"},
      {"no_gpu", "a,32000,65536,0,\n", ": no node with GPUs"},
  };
  for (const auto& c : cases) {
    const std::string path =
        WriteTemp("bad_nodes_" + c.name + ".csv", std::string(kNodeHeader) + c.text);
    auto r = ReadFillCluster(path);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().message(), path + c.expected) << c.name;
  }
  auto header = ReadFillCluster(WriteTemp("bad_header.csv", "sn,cpu,mem\n"));
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.status().message().find("no column 'cpu_milli'"), std::string::npos);
  auto missing = ReadFillCluster("/nonexistent/nodes.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
}

TEST(FillReaderTest, MalformedPodLinesSayFileLineAndColumn) {
  const FillCluster cluster = SmallCluster();
  const std::vector<BadCase> cases = {
      {"share_of_two", "p0,1000,1024,1,500,\np1,1000,1024,2,500,\n",
       ":3: a pod of 2 GPUs must take them whole (gpu_milli 1000), found 500 (column gpu_milli)"},
      {"share_without_gpu", "p0,1000,1024,0,300,\n",
       ":2: num_gpu is 0 but gpu_milli is 300 (a share needs num_gpu 1) (column gpu_milli)"},
      {"milli_range", "p0,1000,1024,1,1500,\n",
       ":2: expected 0..1000, found '1500' (column gpu_milli)"},
      {"negative_cpu", "p0,-5,1024,1,500,\n",
       ":2: expected 0..100000000, found '-5' (column cpu_milli)"},
      {"empty_name", ",1000,1024,1,500,\n", ":2: empty value (column name)"},
  };
  for (const auto& c : cases) {
    const std::string path =
        WriteTemp("bad_pods_" + c.name + ".csv", std::string(kPodHeader) + c.text);
    auto r = ReadFillWorkload(path, cluster);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().message(), path + c.expected) << c.name;
  }
}

TEST(FillInflationTest, ReachesTheTargetAndIsSeeded) {
  auto cluster = ReadFillCluster(kNodes);
  auto w = ReadFillWorkload(kCsvDir + "openb_pod_list_default.csv", *cluster);
  ASSERT_TRUE(w.ok());
  auto demand = [&](const std::vector<std::size_t>& order) {
    model::Milli d = 0;
    for (auto i : order) d += w->pods[i].request.gpu_total();
    return static_cast<double>(d) / static_cast<double>(cluster->gpu_capacity_milli);
  };
  for (double target : {1.3, 0.5}) {  // inflate, and deflate (default asks for ~0.9x capacity)
    const auto a = ArrivalOrder(*w, cluster->gpu_capacity_milli, target, 42);
    EXPECT_GE(demand(a), target);
    EXPECT_LT(demand(a), target + 8000.0 / static_cast<double>(cluster->gpu_capacity_milli));
    EXPECT_EQ(a, ArrivalOrder(*w, cluster->gpu_capacity_milli, target, 42));
    EXPECT_NE(a, ArrivalOrder(*w, cluster->gpu_capacity_milli, target, 43));
  }
}

// The invariants of a randomized run, for every policy and a few seeds and
// pod lists: nothing over capacity, nothing on a model the pod forbids, the
// record agrees with the nodes, allocated <= arrived, curves monotone.
class FillInvariantTest : public ::testing::TestWithParam<std::string> {};

TEST_P(FillInvariantTest, RandomizedRunsKeepEveryInvariant) {
  auto cluster = ReadFillCluster(kNodes);
  ASSERT_TRUE(cluster.ok());
  for (const std::string list : {"openb_pod_list_gpuspec33.csv", "openb_pod_list_multigpu50.csv"}) {
    auto w = ReadFillWorkload(kCsvDir + list, *cluster);
    ASSERT_TRUE(w.ok()) << w.status().message();
    for (std::uint64_t seed : {7U, 8U}) {
      FillOptions options;
      options.keep_placements = true;
      auto run = RunFill(*cluster, *w, GetParam(), seed, options);
      ASSERT_TRUE(run.ok());
      std::vector<sched::NodeState> expect = cluster->nodes;
      std::size_t failed = 0;
      for (const auto& p : run->placements) {
        const sched::PodRequest& r = w->pods[p.pod].request;
        if (p.node < 0) {
          ++failed;
          continue;
        }
        auto& n = expect[static_cast<std::size_t>(p.node)];
        if (!r.cpu_only()) {
          ASSERT_GE(n.model, 0);
          ASSERT_TRUE((r.models >> n.model) & 1U) << w->pods[p.pod].name << " on a forbidden model";
        }
        ASSERT_EQ(p.gpus.count, r.cpu_only() ? 0 : r.gpus);
        n.cpu_free -= r.cpu_milli;
        n.memory_free -= r.memory_mib;
        for (int g = 0; g < p.gpus.count; ++g)
          n.gpu_free[p.gpus.index[static_cast<std::size_t>(g)]] -= r.gpu_milli;
      }
      EXPECT_EQ(failed, run->failed_pods);
      ASSERT_EQ(expect.size(), run->final_nodes.size());
      for (std::size_t i = 0; i < expect.size(); ++i) {
        const auto& n = run->final_nodes[i];
        ASSERT_EQ(n.cpu_free, expect[i].cpu_free) << i;
        ASSERT_EQ(n.memory_free, expect[i].memory_free) << i;
        ASSERT_GE(n.cpu_free, 0) << "node " << i << " over its CPU";
        ASSERT_GE(n.memory_free, 0) << "node " << i << " over its memory";
        for (int g = 0; g < n.gpu_count; ++g) {
          ASSERT_EQ(n.gpu_free[static_cast<std::size_t>(g)],
                    expect[i].gpu_free[static_cast<std::size_t>(g)]);
          ASSERT_GE(n.gpu_free[static_cast<std::size_t>(g)], 0) << "node " << i << " over a GPU";
        }
      }
      ASSERT_GE(run->curve.size(), 131U);  // target 1.3: a point for every percent to 130
      for (std::size_t i = 0; i < run->curve.size(); ++i) {
        EXPECT_EQ(run->curve[i].first, static_cast<int>(i));
        EXPECT_LE(run->curve[i].second, run->curve[i].first + 1e-9);
        if (i > 0) {
          EXPECT_GE(run->curve[i].second, run->curve[i - 1].second);
        }
      }
      EXPECT_LE(run->allocated_pct, run->arrived_pct);
      EXPECT_GE(run->frag_pct_at_100, 0);
      EXPECT_EQ(run->model_frag_pct_at_100.size(), cluster->models.size());
      std::size_t by_class = 0;
      for (const auto& f : run->failed) by_class += f.count;
      EXPECT_EQ(by_class, run->failed_pods);
    }
  }
}

TEST_P(FillInvariantTest, DeterministicForASeed) {
  auto cluster = ReadFillCluster(kNodes);
  auto w = ReadFillWorkload(kCsvDir + "openb_pod_list_gpushare40.csv", *cluster);
  ASSERT_TRUE(w.ok());
  auto a = RunFill(*cluster, *w, GetParam(), 5, {});
  auto b = RunFill(*cluster, *w, GetParam(), 5, {});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->curve, b->curve);
  EXPECT_EQ(a->failed_pods, b->failed_pods);
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, FillInvariantTest,
                         ::testing::ValuesIn(sched::NodeScorerNames()), [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

TEST(FillSummaryTest, MeansMinAndMaxOverSeeds) {
  FillRun a, b;
  a.workload = b.workload = "w";
  a.policy = b.policy = "p";
  for (int i = 0; i <= 130; ++i) {
    a.curve.emplace_back(i, i * 0.5);
    b.curve.emplace_back(i, i * 0.7);
  }
  a.failed_pods = 10;
  b.failed_pods = 20;
  a.frag_pct_at_100 = 4;
  b.frag_pct_at_100 = 6;
  const auto s = SummarizeFill({a, b});
  ASSERT_EQ(s.size(), 1U);
  EXPECT_EQ(s[0].runs, 2U);
  EXPECT_DOUBLE_EQ(s[0].alloc_mean.at(100), 60);
  EXPECT_DOUBLE_EQ(s[0].alloc_min.at(100), 50);
  EXPECT_DOUBLE_EQ(s[0].alloc_max.at(130), 91);
  EXPECT_DOUBLE_EQ(s[0].failed_pods_mean, 15);
  EXPECT_DOUBLE_EQ(s[0].frag_pct_at_100_mean, 5);
}

}  // namespace
}  // namespace sovgrid::fill
