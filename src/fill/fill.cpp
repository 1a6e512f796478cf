#include "fill/fill.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <tuple>
#include <utility>

#include "traces/alibaba.h"
#include "traces/csv.h"

namespace sovgrid::fill {

namespace csv = traces::csv;

namespace {

using model::Milli;
using sched::NodeState;
using sched::PodRequest;

constexpr Milli kWhole = model::kMilliPerAccelerator;

std::string Family(const std::string& path) {
  std::string stem = std::filesystem::path(path).stem().string();
  constexpr std::string_view kPrefix = "openb_pod_list_";
  if (stem.rfind(kPrefix, 0) == 0 && stem.size() > kPrefix.size()) stem.erase(0, kPrefix.size());
  return stem;
}

double Pct(Milli part, Milli whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// What no node had enough of for `pod` at this moment.
std::string FailureReason(const std::vector<NodeState>& nodes, const PodRequest& pod) {
  bool gpu = false, gpu_cpu = false;
  for (const auto& n : nodes) {
    NodeState unlimited = n;
    unlimited.cpu_free = unlimited.memory_free = std::numeric_limits<std::int64_t>::max() / 4;
    if (!sched::Fits(unlimited, pod)) continue;
    gpu = true;
    unlimited.cpu_free = n.cpu_free;
    if (!sched::Fits(unlimited, pod)) continue;
    gpu_cpu = true;
  }
  if (!gpu) return pod.cpu_only() ? "cpu" : "accelerator";
  return gpu_cpu ? "memory" : "cpu";
}

}  // namespace

std::string PodRequestLabel(int gpus, Milli gpu_milli) {
  if (gpus == 0) return "CPU only";
  if (gpus == 1 && gpu_milli < kWhole) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f GPU", static_cast<double>(gpu_milli) / 1000);
    return buf;
  }
  return std::to_string(gpus) + (gpus == 1 ? " GPU" : " GPUs");
}

std::string GpuSpecLabel(const std::string& gpu_spec) {
  return gpu_spec.empty() ? "any" : gpu_spec;
}

Result<FillCluster> ReadFillCluster(const std::string& path) {
  FillCluster c;
  c.path = path;
  traces::alibaba::NodeListOptions options;
  options.resources = true;
  options.max_gpus = sched::kMaxAcceleratorsPerNode;
  Status s = traces::alibaba::ForEachNode(
      path, options, [&](const traces::alibaba::Node& node) -> csv::RowCheck {
        NodeState n;
        n.cpu_capacity = n.cpu_free = node.cpu_milli;
        n.memory_capacity = n.memory_free = node.memory_mib;
        n.gpu_count = node.gpus;
        if (node.gpus > 0) {
          auto it = std::find(c.models.begin(), c.models.end(), node.model);
          if (it == c.models.end()) {
            if (c.models.size() == static_cast<std::size_t>(sched::kMaxModels))
              return csv::Problem{"more than 64 accelerator models", "model"};
            c.models.emplace_back(node.model);
            c.model_capacity_milli.push_back(0);
            it = c.models.end() - 1;
          }
          n.model = static_cast<int>(it - c.models.begin());
          for (int g = 0; g < n.gpu_count; ++g) n.gpu_free[g] = kWhole;
          c.gpu_capacity_milli += node.gpus * kWhole;
          c.model_capacity_milli[static_cast<std::size_t>(n.model)] += node.gpus * kWhole;
        }
        c.names.emplace_back(node.sn);
        c.nodes.push_back(n);
        return std::nullopt;
      });
  if (!s.ok()) return s;
  return c;
}

Result<FillWorkload> ReadFillWorkload(const std::string& path, const FillCluster& cluster) {
  auto text = csv::ReadWholeFile(path);
  if (!text.ok()) return text.status();
  FillWorkload w;
  w.path = path;
  w.family = Family(path);
  std::map<std::tuple<std::int64_t, std::int64_t, int, Milli, std::uint64_t>, int> shapes;
  traces::alibaba::PodListOptions options;
  options.resources = true;
  options.max_gpus = sched::kMaxAcceleratorsPerNode;
  auto read = traces::alibaba::ForEachPod(
      path, *text, options, csv::FailOnBadLine,
      [&](const traces::alibaba::Pod& p) -> csv::RowCheck {
        if (p.gpus == 0 && p.gpu_milli != 0)
          return csv::Problem{"num_gpu is 0 but gpu_milli is " + std::to_string(p.gpu_milli) +
                                  " (a share needs num_gpu 1)",
                              "gpu_milli"};
        if (p.gpus > 0 && p.gpu_milli == 0)
          return csv::Problem{"num_gpu is " + std::to_string(p.gpus) + " but gpu_milli is 0",
                              "gpu_milli"};
        if (p.gpus > 1 && p.gpu_milli != kWhole)
          return csv::Problem{"a pod of " + std::to_string(p.gpus) +
                                  " GPUs must take them whole (gpu_milli 1000), found " +
                                  std::to_string(p.gpu_milli),
                              "gpu_milli"};
        FillPod pod;
        PodRequest& r = pod.request;
        pod.name = std::string(p.name);
        r.cpu_milli = p.cpu_milli;
        r.memory_mib = p.memory_mib;
        r.gpus = static_cast<int>(p.gpus);
        r.gpu_milli = p.gpu_milli;
        pod.gpu_spec = std::string(p.gpu_spec);
        if (!pod.gpu_spec.empty() && r.gpus > 0) {
          r.models = 0;
          for (auto model : p.models) {
            auto it = std::find(cluster.models.begin(), cluster.models.end(), model);
            if (it != cluster.models.end())
              r.models |= std::uint64_t{1} << (it - cluster.models.begin());
          }
        }
        auto [it, added] =
            shapes.try_emplace({r.cpu_milli, r.memory_mib, r.gpus, r.gpu_milli, r.models},
                               static_cast<int>(shapes.size()));
        pod.shape = it->second;
        w.pods.push_back(std::move(pod));
        return std::nullopt;
      });
  if (!read.ok()) return read.status();
  if (w.pods.empty()) return InvalidArgument(path + ": no pods");
  w.shape_count = static_cast<int>(shapes.size());
  std::vector<PodRequest> requests;
  requests.reserve(w.pods.size());
  for (const auto& p : w.pods) requests.push_back(p.request);
  w.mix = sched::WorkloadMix::FromPods(requests);
  return w;
}

std::vector<std::size_t> ArrivalOrder(const FillWorkload& workload, Milli capacity_milli,
                                      double target_load, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto draw = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  std::vector<std::size_t> order(workload.pods.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[draw(i)]);
  const double target = target_load * static_cast<double>(capacity_milli);
  double demand = 0;
  for (const auto& p : workload.pods) demand += static_cast<double>(p.request.gpu_total());
  if (demand < target) {
    // Until the demand reaches the target (or a bound, in case no pod asks for
    // an accelerator).
    const std::size_t limit = 100 * workload.pods.size() + 1000;
    for (std::size_t n = 0; n < limit && demand < target; ++n) {
      const std::size_t pick = draw(workload.pods.size());
      demand += static_cast<double>(workload.pods[pick].request.gpu_total());
      order.push_back(pick);
    }
  } else {
    // Drop random pods until dropping the next one would take the demand below the target.
    while (!order.empty()) {
      const std::size_t at = draw(order.size());
      const double less = static_cast<double>(workload.pods[order[at]].request.gpu_total());
      if (demand - less < target) break;
      demand -= less;
      order.erase(order.begin() + static_cast<std::ptrdiff_t>(at));
    }
  }
  return order;
}

Result<FillRun> RunFill(const FillCluster& cluster, const FillWorkload& workload,
                        const std::string& policy, std::uint64_t seed, const FillOptions& options) {
  auto scorer = sched::MakeNodeScorer(policy);
  if (!scorer.ok()) return scorer.status();
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::size_t> order =
      ArrivalOrder(workload, cluster.gpu_capacity_milli, options.target_load, seed);
  // A generator of its own for placement, so that the order does not depend on the policy.
  std::mt19937_64 rng(seed ^ 0x9E3779B97F4A7C15ULL);
  sched::PlacementContext ctx{&workload.mix, &rng};
  sched::NodeTable table(cluster.nodes);

  FillRun run;
  run.workload = workload.family;
  run.policy = policy;
  run.seed = seed;
  run.pods = order.size();
  run.curve.emplace_back(0, 0.0);
  const Milli capacity = cluster.gpu_capacity_milli;
  Milli arrived = 0, allocated = 0;
  std::map<std::tuple<int, Milli, std::string, std::string>, FailedPods> failed;
  int next_point = 1;  // the next whole percent of arrived demand to record
  // Records (next_point, allocated %) and, at 100 %, the fragmentation.
  auto record_point = [&] {
    run.curve.emplace_back(next_point, Pct(allocated, capacity));
    if (next_point == 100) {
      double frag = 0, idle = 0;
      std::vector<double> by_model(cluster.models.size(), 0.0);
      for (const auto& n : table.nodes()) {
        const double f = sched::NodeFragmentation(n, workload.mix, false);
        frag += f;
        idle += static_cast<double>(n.FreeGpuMilli());
        if (n.model >= 0) by_model[static_cast<std::size_t>(n.model)] += f;
      }
      run.frag_pct_at_100 = 100.0 * frag / static_cast<double>(capacity);
      run.frag_ratio_at_100 = idle > 0 ? 100.0 * frag / idle : 0.0;
      for (std::size_t m = 0; m < by_model.size(); ++m) {
        const auto cap = static_cast<double>(cluster.model_capacity_milli[m]);
        by_model[m] = cap > 0 ? 100.0 * by_model[m] / cap : 0.0;
      }
      run.model_frag_pct_at_100 = std::move(by_model);
    }
    ++next_point;
  };
  for (std::size_t i = 0; i < order.size(); ++i) {
    const FillPod& pod = workload.pods[order[i]];
    // Curve points passed by this pod's arrival take the state before it: the
    // last moment the arrived demand was at or below that percent.
    while (100 * (arrived + pod.request.gpu_total()) > next_point * capacity) record_point();
    const auto placed = table.Place(pod.request, pod.shape, **scorer, ctx);
    arrived += pod.request.gpu_total();
    if (options.keep_placements) run.placements.push_back({order[i], placed.node, placed.gpus});
    if (placed.node >= 0) {
      allocated += pod.request.gpu_total();
    } else {
      ++run.failed_pods;
      const std::string reason = FailureReason(table.nodes(), pod.request);
      auto& f = failed[{pod.request.gpus, pod.request.gpu_milli, pod.gpu_spec, reason}];
      f.gpus = pod.request.gpus;
      f.gpu_milli = pod.request.gpu_milli;
      f.gpu_spec = pod.gpu_spec;
      f.reason = reason;
      ++f.count;
      f.gpu_demand_milli += pod.request.gpu_total();
    }
    if (options.progress) options.progress(i + 1, order.size());
  }
  // A point the last arrival reached exactly.
  while (100 * arrived >= next_point * capacity) record_point();
  if (options.keep_placements) run.final_nodes = table.nodes();
  run.arrived_pct = Pct(arrived, capacity);
  run.allocated_pct = Pct(allocated, capacity);
  for (auto& [key, f] : failed) run.failed.push_back(std::move(f));
  std::stable_sort(run.failed.begin(), run.failed.end(), [](const auto& a, const auto& b) {
    return a.gpu_demand_milli != b.gpu_demand_milli ? a.gpu_demand_milli > b.gpu_demand_milli
                                                    : a.count > b.count;
  });
  run.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return run;
}

std::vector<FillSummary> SummarizeFill(const std::vector<FillRun>& runs) {
  struct Sums {
    std::map<int, std::pair<double, int>> alloc;  // load -> (sum, runs that reached it)
    double failed = 0, wall = 0, frag = 0;
    int frag_runs = 0;
  };
  std::vector<FillSummary> out;
  std::vector<Sums> sums;
  for (const auto& r : runs) {
    auto it = std::find_if(out.begin(), out.end(), [&](const FillSummary& s) {
      return s.workload == r.workload && s.policy == r.policy;
    });
    if (it == out.end()) {
      out.push_back({});
      sums.push_back({});
      it = out.end() - 1;
      it->workload = r.workload;
      it->policy = r.policy;
    }
    FillSummary& s = *it;
    Sums& t = sums[static_cast<std::size_t>(it - out.begin())];
    ++s.runs;
    t.failed += static_cast<double>(r.failed_pods);
    t.wall += r.wall_s;
    if (r.frag_pct_at_100 >= 0) {
      t.frag += r.frag_pct_at_100;
      ++t.frag_runs;
    }
    for (int load : kFillReportLoads) {
      if (static_cast<std::size_t>(load) >= r.curve.size()) continue;
      const double v = r.curve[static_cast<std::size_t>(load)].second;
      auto& [sum, count] = t.alloc[load];
      s.alloc_min[load] = count == 0 ? v : std::min(s.alloc_min[load], v);
      s.alloc_max[load] = count == 0 ? v : std::max(s.alloc_max[load], v);
      sum += v;
      ++count;
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto n = static_cast<double>(out[i].runs);
    out[i].failed_pods_mean = sums[i].failed / n;
    out[i].wall_s_mean = sums[i].wall / n;
    if (sums[i].frag_runs > 0) out[i].frag_pct_at_100_mean = sums[i].frag / sums[i].frag_runs;
    for (const auto& [load, sc] : sums[i].alloc) out[i].alloc_mean[load] = sc.first / sc.second;
  }
  return out;
}

}  // namespace sovgrid::fill
