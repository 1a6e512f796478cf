// Node-level placement (sched/node_placement.h): the filter, FGD's fragmentation
// measure, and for every policy a small cluster whose choice is computed by hand
// in the comments from the policy's published formula.
#include "sched/node_placement.h"

#include <gtest/gtest.h>

#include <cmath>
#include <initializer_list>
#include <random>
#include <set>

namespace sovgrid::sched {
namespace {

NodeState Node(int model, std::int64_t cpu_free, std::int64_t memory_free,
               std::initializer_list<Milli> gpu_free, std::int64_t cpu_capacity = 0,
               std::int64_t memory_capacity = 0) {
  NodeState n;
  n.model = gpu_free.size() == 0 ? -1 : model;
  n.cpu_free = cpu_free;
  n.cpu_capacity = cpu_capacity > 0 ? cpu_capacity : cpu_free;
  n.memory_free = memory_free;
  n.memory_capacity = memory_capacity > 0 ? memory_capacity : memory_free;
  for (Milli f : gpu_free) n.gpu_free[static_cast<std::size_t>(n.gpu_count++)] = f;
  return n;
}

PodRequest Pod(std::int64_t cpu, int gpus, Milli milli, std::int64_t memory = 0,
               std::uint64_t models = kAnyModel) {
  PodRequest p;
  p.cpu_milli = cpu;
  p.memory_mib = memory;
  p.gpus = gpus;
  p.gpu_milli = milli;
  p.models = models;
  return p;
}

WorkloadMix MixOf(std::initializer_list<std::pair<PodRequest, double>> types) {
  WorkloadMix mix;
  for (const auto& [shape, p] : types) mix.types.push_back({shape, p});
  return mix;
}

struct Choice {
  int node;
  int gpu;  // first accelerator taken, -1 for none
};

// Places `pod` with `policy` on a table of `nodes`; seed fixed.
Choice PlaceWith(std::string_view policy, std::vector<NodeState> nodes, const PodRequest& pod,
                 const WorkloadMix* mix = nullptr, std::uint64_t seed = 1) {
  auto scorer = MakeNodeScorer(policy);
  EXPECT_TRUE(scorer.ok()) << policy;
  std::mt19937_64 rng(seed);
  PlacementContext ctx{mix, &rng};
  NodeTable table(std::move(nodes));
  const auto placed = table.Place(pod, -1, **scorer, ctx);
  return {placed.node, placed.gpus.count > 0 ? placed.gpus.index[0] : -1};
}

double ScoreOf(std::string_view policy, const NodeState& node, const PodRequest& pod,
               const WorkloadMix* mix = nullptr) {
  auto scorer = MakeNodeScorer(policy);
  std::mt19937_64 rng(1);
  return (*scorer)->Score(node, pod, {mix, &rng}).score;
}

TEST(FitsTest, ChecksCpuMemoryModelAndShares) {
  const NodeState n = Node(/*model=*/2, 8000, 1000, {1000, 400, 0});
  EXPECT_TRUE(Fits(n, Pod(8000, 1, 1000, 1000)));
  EXPECT_FALSE(Fits(n, Pod(8001, 1, 1000)));             // CPU
  EXPECT_FALSE(Fits(n, Pod(1000, 1, 1000, 1001)));       // memory
  EXPECT_TRUE(Fits(n, Pod(1000, 1, 400)));               // the 400 left on accelerator 1
  EXPECT_FALSE(Fits(n, Pod(1000, 2, 1000)));             // only one fully free accelerator
  EXPECT_TRUE(Fits(n, Pod(1000, 1, 300, 0, 1U << 2)));   // model 2 accepted
  EXPECT_FALSE(Fits(n, Pod(1000, 1, 300, 0, 1U << 1)));  // only model 1 accepted
  EXPECT_TRUE(Fits(n, Pod(1000, 0, 0, 0, 1U << 1)));     // CPU-only pods ignore models
  EXPECT_FALSE(Fits(Node(0, 8000, 1000, {}), Pod(1000, 1, 100)));
}

TEST(FitsTest, TightestAndLowestFreeAccelerators) {
  const NodeState n = Node(0, 8000, 1000, {1000, 600, 1000, 450});
  EXPECT_EQ(TightestGpu(n, Pod(0, 1, 400)).index[0], 3);  // 450 is the least that fits
  EXPECT_EQ(TightestGpu(n, Pod(0, 1, 500)).index[0], 1);
  const GpuChoice two = LowestFreeGpus(n, Pod(0, 2, 1000));
  ASSERT_EQ(two.count, 2);
  EXPECT_EQ(two.index[0], 0);
  EXPECT_EQ(two.index[1], 2);
}

TEST(FragmentationTest, TaskFragmentationByHand) {
  // Free: 1000 + 300 + 0 + 500 = 1800.
  const NodeState n = Node(0, 4000, 1000, {1000, 300, 0, 500});
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 1, 400), false), 300);      // 300 (and 0) < 400
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 1, 1000), false), 800);     // 300 + 500
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 2, 1000), false), 1800);    // does not fit: all
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 0, 0), false), 1800);       // CPU-only: all
  EXPECT_EQ(TaskFragmentation(n, Pod(5000, 1, 100), false), 1800);     // short of CPU: all
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 1, 100, 2000), false), 0);  // memory ignored
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 1, 100, 2000), true), 1800);
  EXPECT_EQ(TaskFragmentation(n, Pod(1000, 1, 100, 0, 1U << 3), false), 1800);  // model

  const WorkloadMix mix = MixOf({{Pod(1000, 1, 400), 0.5}, {Pod(1000, 0, 0), 0.5}});
  EXPECT_DOUBLE_EQ(NodeFragmentation(n, mix, false), 0.5 * 300 + 0.5 * 1800);
}

TEST(FragmentationTest, WorkloadMixKeepsTheCommonTypesUpToCoverage) {
  std::vector<PodRequest> pods;
  for (int i = 0; i < 6; ++i) pods.push_back(Pod(1000, 1, 500, 10));
  for (int i = 0; i < 3; ++i) pods.push_back(Pod(2000, 1, 1000, i == 0 ? 20 : 30));
  pods.push_back(Pod(500, 0, 0));
  // 6 + 3 = 9 pods of 10 reach a 0.9 coverage: two types, renormalised.
  const WorkloadMix mix = WorkloadMix::FromPods(pods, 0.9);
  ASSERT_EQ(mix.types.size(), 2U);
  EXPECT_EQ(mix.types[0].shape.gpu_milli, 500);
  EXPECT_DOUBLE_EQ(mix.types[0].popularity, 6.0 / 9);
  EXPECT_EQ(mix.types[1].shape.cpu_milli, 2000);
  EXPECT_EQ(mix.types[1].shape.memory_mib, 30);  // the most common memory of the type
  EXPECT_DOUBLE_EQ(mix.types[1].popularity, 3.0 / 9);
  EXPECT_EQ(WorkloadMix::FromPods(pods, 0.95).types.size(), 3U);
}

// Three nodes for the whole-accelerator baselines:
//   n0: 8 accelerators free, 96 CPUs free;  n1: 6 of 8 free, 60 CPUs;  n2: 2 of 2 free, 16 CPUs.
std::vector<NodeState> ThreeNodes() {
  return {Node(0, 96000, 1 << 20, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}),
          Node(0, 60000, 1 << 20, {0, 0, 1000, 1000, 1000, 1000, 1000, 1000}),
          Node(0, 16000, 1 << 20, {1000, 1000})};
}

TEST(PolicyTest, BestFit) {
  // 100 x (1 - (0.5 x cpu left/128000 + 0.5 x gpu left/8000)), truncated:
  //   n0: cpu 92000/128000 = 0.71875, gpu 7000/8000 = 0.875  -> 20
  //   n1: cpu 56000/128000 = 0.4375,  gpu 5000/8000 = 0.625  -> 46
  //   n2: cpu 12000/128000 = 0.09375, gpu 1000/8000 = 0.125  -> 89
  const auto nodes = ThreeNodes();
  const PodRequest pod = Pod(4000, 1, 1000);
  EXPECT_EQ(ScoreOf("bestfit", nodes[0], pod), 20);
  EXPECT_EQ(ScoreOf("bestfit", nodes[1], pod), 46);
  EXPECT_EQ(ScoreOf("bestfit", nodes[2], pod), 89);
  const Choice c = PlaceWith("bestfit", nodes, pod);
  EXPECT_EQ(c.node, 2);
  EXPECT_EQ(c.gpu, 0);
}

TEST(PolicyTest, DotProduct) {
  // 100 x (1 - (free cpu/128000 x 4000/128000 + free gpu/8000 x 1000/8000) / 2), truncated:
  //   n0: (0.75 x 0.03125 + 1 x 0.125)/2 = 0.0742 -> 92
  //   n1: (0.46875 x 0.03125 + 0.75 x 0.125)/2 = 0.0542 -> 94
  //   n2: (0.125 x 0.03125 + 0.25 x 0.125)/2 = 0.0176 -> 98
  const auto nodes = ThreeNodes();
  const PodRequest pod = Pod(4000, 1, 1000);
  EXPECT_EQ(ScoreOf("dotprod", nodes[0], pod), 92);
  EXPECT_EQ(ScoreOf("dotprod", nodes[1], pod), 94);
  EXPECT_EQ(ScoreOf("dotprod", nodes[2], pod), 98);
  EXPECT_EQ(PlaceWith("dotprod", nodes, pod).node, 2);
}

TEST(PolicyTest, GpuPacking) {
  // A 0.3 share:
  //   idle 8-accelerator node: max(33 - 8, 8) = 25;
  //   node with an accelerator at 500 free: shares it, 100 - floor(50/10) = 95;
  //   node whose only free accelerator is whole: opens it, max(50 - 1, 33) = 49.
  const std::vector<NodeState> nodes = {
      Node(0, 96000, 1 << 20, {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}),
      Node(0, 96000, 1 << 20, {1000, 500, 1000, 1000}), Node(0, 96000, 1 << 20, {0, 1000})};
  const PodRequest pod = Pod(1000, 1, 300);
  EXPECT_EQ(ScoreOf("gpu-packing", nodes[0], pod), 25);
  EXPECT_EQ(ScoreOf("gpu-packing", nodes[1], pod), 95);
  EXPECT_EQ(ScoreOf("gpu-packing", nodes[2], pod), 49);
  const Choice c = PlaceWith("gpu-packing", nodes, pod);
  EXPECT_EQ(c.node, 1);
  EXPECT_EQ(c.gpu, 1);
  EXPECT_EQ(ScoreOf("gpu-packing", nodes[1], Pod(1000, 0, 0)), 0);  // CPU-only: no preference
}

TEST(PolicyTest, GpuClustering) {
  // A share pod: base (75 same shape only, 50 mixed, 25 empty, 0 other shapes only)
  // + floor(25 x used/8000):
  //   n0 hosts shared pods only, 1000 used: 75 + 3 = 78;
  //   n1 hosts a 1-accelerator pod only, 1000 used: 0 + 3 = 3;
  //   n2 is an empty 2-accelerator node (6000 "used" of the 8000 scale): 25 + 18 = 43.
  std::vector<NodeState> nodes = {
      Node(0, 96000, 1 << 20, {500, 500, 1000, 1000, 1000, 1000, 1000, 1000}),
      Node(0, 96000, 1 << 20, {0, 1000, 1000, 1000, 1000, 1000, 1000, 1000}),
      Node(0, 96000, 1 << 20, {1000, 1000})};
  nodes[0].pods_by_gpu_shape[0] = 2;
  nodes[1].pods_by_gpu_shape[1] = 1;
  const PodRequest pod = Pod(1000, 1, 400);
  EXPECT_EQ(ScoreOf("gpu-clustering", nodes[0], pod), 78);
  EXPECT_EQ(ScoreOf("gpu-clustering", nodes[1], pod), 3);
  EXPECT_EQ(ScoreOf("gpu-clustering", nodes[2], pod), 43);
  EXPECT_EQ(PlaceWith("gpu-clustering", nodes, pod).node, 0);
}

TEST(PolicyTest, FgdMinimisesTheFragmentationIncrease) {
  // Target workload: pods of 2 whole accelerators. A 0.5 share:
  //   A {600, 1000, 1000}: F = 600 (600 < 1000). On accelerator 0 -> {100, ...}: F = 100,
  //     decrease 500, 100 x sigmoid(0.5) = 62.2 -> 62; on accelerator 1 -> only one whole
  //     accelerator left, F = 2100, decrease -1500 -> 18.
  //   B {1000, 1000}: F = 0 -> {500, 1000}: F = 1500 -> 18.
  const WorkloadMix mix = MixOf({{Pod(1000, 2, 1000), 1.0}});
  const std::vector<NodeState> nodes = {Node(0, 8000, 1 << 20, {600, 1000, 1000}),
                                        Node(0, 8000, 1 << 20, {1000, 1000})};
  const PodRequest pod = Pod(1000, 1, 500);
  EXPECT_EQ(ScoreOf("fgd", nodes[0], pod, &mix), 62);
  EXPECT_EQ(ScoreOf("fgd", nodes[1], pod, &mix), 18);
  const Choice c = PlaceWith("fgd", nodes, pod, &mix);
  EXPECT_EQ(c.node, 0);
  EXPECT_EQ(c.gpu, 0);
}

TEST(PolicyTest, SovgridCountsMemoryThatStrandsAccelerators) {
  // Target workload: 1-accelerator pods asking 100,000 MiB. A CPU-only pod of 60,000 MiB:
  //   on X or Y (2 accelerators, 150,000 MiB free) it leaves 90,000 MiB: the typical pod no
  //   longer fits and both accelerators are stranded (F 0 -> 2000, score 100 x sigmoid(-2) = 11);
  //   on Z (no accelerators) nothing is stranded (score 50).
  // FGD ignores memory: all three score 50 and the tie goes to the node order.
  const WorkloadMix mix = MixOf({{Pod(1000, 1, 1000, 100000), 1.0}});
  const std::vector<NodeState> nodes = {Node(0, 8000, 150000, {1000, 1000}),
                                        Node(0, 8000, 150000, {1000, 1000}),
                                        Node(0, 8000, 200000, {})};
  const PodRequest pod = Pod(1000, 0, 0, 60000);
  EXPECT_EQ(ScoreOf("sovgrid", nodes[0], pod, &mix), 11);
  EXPECT_EQ(ScoreOf("sovgrid", nodes[2], pod, &mix), 50);
  EXPECT_EQ(ScoreOf("fgd", nodes[0], pod, &mix), 50);
  for (std::uint64_t seed = 1; seed <= 20; ++seed)
    EXPECT_EQ(PlaceWith("sovgrid", nodes, pod, &mix, seed).node, 2) << "seed " << seed;
}

TEST(PolicyTest, RandomChoosesUniformlyAmongFeasibleNodes) {
  // Node 1 lacks CPU; the others are chosen about equally often.
  const std::vector<NodeState> nodes = {
      Node(0, 8000, 1 << 20, {1000, 1000}), Node(0, 500, 1 << 20, {1000, 1000}),
      Node(0, 8000, 1 << 20, {700, 1000}), Node(0, 8000, 1 << 20, {1000})};
  std::array<int, 4> chosen{};
  std::set<int> gpus_on_node2;
  for (std::uint64_t seed = 1; seed <= 3000; ++seed) {
    const Choice c = PlaceWith("random", nodes, Pod(1000, 1, 500), nullptr, seed);
    ASSERT_GE(c.node, 0);
    ++chosen[static_cast<std::size_t>(c.node)];
    if (c.node == 2) gpus_on_node2.insert(c.gpu);
  }
  EXPECT_EQ(chosen[1], 0);
  for (int n : {0, 2, 3}) EXPECT_NEAR(chosen[static_cast<std::size_t>(n)], 1000, 150) << n;
  EXPECT_EQ(gpus_on_node2, (std::set<int>{0, 1}));  // either accelerator fits a 0.5 share
  // The same seed gives the same choice.
  EXPECT_EQ(PlaceWith("random", nodes, Pod(1000, 1, 500), nullptr, 7).node,
            PlaceWith("random", nodes, Pod(1000, 1, 500), nullptr, 7).node);
}

TEST(PolicyTest, UnknownPolicyNamesTheKnownOnes) {
  auto s = MakeNodeScorer("tetris");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("fgd"), std::string::npos);
  for (const auto& name : NodeScorerNames()) {
    auto ok = MakeNodeScorer(name);
    ASSERT_TRUE(ok.ok()) << name;
    EXPECT_EQ((*ok)->name(), name);
  }
}

// Every policy over a random sequence of pods: nothing over capacity, nothing on a
// forbidden model, and reusing scores of unchanged nodes changes no decision.
class NodeTableContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(NodeTableContractTest, RandomSequenceKeepsCapacityAndCacheIsInvisible) {
  std::mt19937_64 gen(123);
  std::vector<NodeState> nodes;
  for (int i = 0; i < 40; ++i) {
    const int gpus = std::array<int, 4>{0, 1, 2, 8}[gen() % 4];
    NodeState n;
    n.model = gpus == 0 ? -1 : static_cast<int>(gen() % 3);
    n.cpu_capacity = n.cpu_free = 16000 + static_cast<std::int64_t>(gen() % 8) * 16000;
    n.memory_capacity = n.memory_free = 65536 + static_cast<std::int64_t>(gen() % 8) * 65536;
    n.gpu_count = gpus;
    for (int g = 0; g < gpus; ++g) n.gpu_free[static_cast<std::size_t>(g)] = 1000;
    nodes.push_back(n);
  }
  std::vector<PodRequest> shapes;
  for (int i = 0; i < 12; ++i) {
    PodRequest p;
    p.cpu_milli = 1000 + static_cast<std::int64_t>(gen() % 16) * 1000;
    p.memory_mib = 1024 + static_cast<std::int64_t>(gen() % 64) * 1024;
    const int kind = static_cast<int>(gen() % 4);
    p.gpus = kind == 0 ? 0 : kind == 1 ? 1 : kind == 2 ? 1 : 2 << (gen() % 2);
    p.gpu_milli = kind == 0 ? 0 : kind == 1 ? 100 + static_cast<Milli>(gen() % 9) * 100 : 1000;
    if (gen() % 3 == 0 && p.gpus > 0) p.models = 1U << (gen() % 3);
    shapes.push_back(p);
  }
  const WorkloadMix mix = WorkloadMix::FromPods(shapes);
  auto scorer = MakeNodeScorer(GetParam());
  ASSERT_TRUE(scorer.ok());
  std::mt19937_64 rng_a(9), rng_b(9);
  NodeTable cached(nodes), uncached(nodes);
  PlacementContext ca{&mix, &rng_a}, cb{&mix, &rng_b};
  int placed = 0;
  for (int i = 0; i < 600; ++i) {
    const int shape = static_cast<int>(gen() % shapes.size());
    const PodRequest& pod = shapes[static_cast<std::size_t>(shape)];
    const auto a = cached.Place(pod, shape, **scorer, ca);
    const auto b = uncached.Place(pod, -1, **scorer, cb);
    ASSERT_EQ(a.node, b.node) << "pod " << i;
    if (a.node < 0) continue;
    ++placed;
    const NodeState& n = cached.node(static_cast<std::size_t>(a.node));
    if (!pod.cpu_only()) {
      ASSERT_TRUE((pod.models >> n.model) & 1U);
    }
    ASSERT_EQ(a.gpus.count, pod.cpu_only() ? 0 : pod.gpus);
  }
  EXPECT_GT(placed, 50);
  for (const NodeState& n : cached.nodes()) {
    EXPECT_GE(n.cpu_free, 0);
    EXPECT_GE(n.memory_free, 0);
    for (int g = 0; g < n.gpu_count; ++g) {
      EXPECT_GE(n.gpu_free[static_cast<std::size_t>(g)], 0);
      EXPECT_LE(n.gpu_free[static_cast<std::size_t>(g)], 1000);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPolicy, NodeTableContractTest, ::testing::ValuesIn(NodeScorerNames()),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& c : n) c = c == '-' ? '_' : c;
                           return n;
                         });

}  // namespace
}  // namespace sovgrid::sched
