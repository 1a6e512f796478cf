#include "traces/synthetic.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sovgrid::traces {
namespace {

// Hour-of-day weights: quiet nights, a working-day peak (Helios/Philly
// submissions follow office hours).
constexpr double kHourWeight[24] = {0.45, 0.4, 0.35, 0.35, 0.35, 0.4, 0.55, 0.8,
                                    1.1,  1.4, 1.6,  1.6,  1.4,  1.5, 1.6,  1.6,
                                    1.5,  1.4, 1.2,  1.1,  1.0,  0.9, 0.75, 0.6};

// Accelerators per job for training and batch work. Philly and Helios are
// dominated by 1-GPU jobs (Helios Venus: 93% single-GPU, mean 1.3 GPUs); a
// national grid built for LLMs has more multi-node work, so the tail is heavier.
struct SizeBucket {
  int accelerators;
  double weight;
};
constexpr SizeBucket kSizes[] = {{1, 55}, {2, 7},     {4, 8},     {8, 15},    {16, 5},    {32, 4},
                                 {64, 3}, {128, 1.5}, {256, 0.8}, {512, 0.4}, {1024, 0.3}};

// Shares of jobs built for a stack other than CUDA, when the catalogue has one
// (assumptions, docs/twin.md).
constexpr double kServiceOtherStackShare = 0.2;
constexpr double kTrainingRocmShare = 0.05;

// AI-RAN edge services (assumptions, docs/twin.md, "Edge"): this share of the
// services serves one region within this round trip, which only the region's
// edge sites (base stations) meet.
constexpr double kAiRanServiceShare = 0.25;
constexpr double kAiRanLatencyMs = 1.0;
// A service keeps what it served: a restarted replica loses at most this much.
constexpr model::Duration kServiceCheckpointS = 60;
// Service profiles (assumptions, docs/twin.md, "Service profiles"). Of the
// services that are not AI-RAN edge services, this share are digital-twin
// sessions when some leaf tenant names a digital twin; the rest are inference
// deployments.
constexpr double kDigitalTwinShare = 0.2;
// Inference deployments: replicas 1..kInferenceMaxReplicas; per replica a
// share of one accelerator (small models) or whole accelerators on one node
// (tensor-parallel serving of larger models); deployed for 4-48 h.
constexpr int kInferenceMaxReplicas = 4;
struct ServiceSize {
  int accelerators;  // 0: a share (0.1-0.9) of one accelerator
  double weight;
};
constexpr ServiceSize kInferenceSizes[] = {{0, 45}, {1, 35}, {2, 10}, {4, 6}, {8, 4}};
constexpr double kInferenceMinHours = 4;
constexpr double kInferenceMaxHours = 48;
// Digital-twin sessions (interactive simulation and rendering): one replica
// of 1-8 whole RTX-class accelerators for 1-8 h, within 20 ms of its users.
constexpr ServiceSize kDigitalTwinSizes[] = {{1, 40}, {2, 30}, {4, 20}, {8, 10}};
constexpr double kDigitalTwinMinHours = 1;
constexpr double kDigitalTwinMaxHours = 8;
constexpr double kDigitalTwinLatencyMs = 20;

// Whether a catalogue model renders in real time: NVIDIA's RTX-class GPUs
// (RT cores). The data-centre B200/GB200/H100 and the NPUs have none, and
// Omniverse / Isaac Sim rendering does not run on GPUs without RT cores
// (docs/twin.md, "Service profiles").
bool RendersInRealTime(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (name.find("RTX") != std::string::npos) return true;
  for (const char* m : {"L4", "L40", "L40S", "A40", "A10"}) {
    if (name == m) return true;
  }
  return false;
}

// Whether a tenant names a digital twin (its id or name, any case).
bool NamesDigitalTwin(const model::Tenant& t) {
  auto has = [](std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text.find("twin") != std::string::npos;
  };
  return has(t.id) || has(t.name);
}

// Quantum-GPU hybrid jobs per QPU of the scenario and day, and how long one
// holds its QPU (assumptions, docs/twin.md, "Quantum-GPU hybrid jobs").
constexpr double kHybridJobsPerQpuDay = 6.0;
constexpr double kHybridMinHours = 0.5;
constexpr double kHybridMaxHours = 4.0;

}  // namespace

double JobWork(const model::Job& job, model::Duration runtime_s) {
  return static_cast<double>(job.accelerators) * static_cast<double>(job.replicas) *
         static_cast<double>(job.accelerator_milli) / model::kMilliPerAccelerator *
         static_cast<double>(runtime_s);
}

Result<Workload> GenerateSynthetic(const model::Scenario& s, const SyntheticOptions& o) {
  if (o.days <= 0) return InvalidArgument("--days must be > 0");
  if (o.max_load < 0) return InvalidArgument("--max-load must be >= 0");
  if (s.tenants.empty()) return InvalidArgument("the scenario has no tenants to submit jobs");
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);

  // Leaf tenants, weighted by their guarantees (a floor so that every tenant submits).
  std::vector<int> leaves;
  std::vector<double> weights;
  for (std::size_t t = 0; t < s.tenants.size(); ++t) {
    bool leaf = true;
    for (const auto& other : s.tenants) leaf = leaf && other.parent != s.tenants[t].id;
    if (!leaf) continue;
    double g = 0;
    for (const auto& [cls, n] : s.tenants[t].guarantee) g += static_cast<double>(n);
    // Tenant::demand, multiplied down the tree: a subtree that asks for more
    // than its guarantee (e.g. research demand above the national centre's).
    double demand = 1;
    for (int at = static_cast<int>(t); at >= 0;
         at = s.tenants[static_cast<std::size_t>(at)].parent_index)
      demand *= s.tenants[static_cast<std::size_t>(at)].demand;
    leaves.push_back(static_cast<int>(t));
    weights.push_back(std::max(g, 50.0) * demand);
  }
  if (std::all_of(weights.begin(), weights.end(), [](double x) { return x <= 0; }))
    return InvalidArgument("no tenant submits jobs: every leaf tenant's demand is 0");
  std::discrete_distribution<std::size_t> pick_tenant(weights.begin(), weights.end());
  std::vector<double> size_weights;
  for (const auto& b : kSizes) size_weights.push_back(b.weight);
  std::discrete_distribution<std::size_t> pick_size(size_weights.begin(), size_weights.end());
  std::discrete_distribution<int> pick_hour(std::begin(kHourWeight), std::end(kHourWeight));
  // Durations: log-normal fitted to Helios Venus (median 1,144 s, mean 13,136 s).
  std::lognormal_distribution<double> duration(std::log(1144.0), 2.21);
  const double horizon_s = o.days * 86400.0;

  // Datasets each leaf may use; regions with edge sites, for services.
  std::vector<std::vector<std::string>> datasets(s.tenants.size());
  for (int t : leaves) {
    for (const auto& d : s.datasets) {
      bool ok = d.tenants.empty();
      for (const auto& a : d.tenants) ok = ok || s.InSubtree(t, s.FindTenant(a));
      if (ok) datasets[static_cast<std::size_t>(t)].push_back(d.id);
    }
  }
  std::vector<std::pair<std::string, double>>
      edge_regions;  // region, best latency from an edge site
  for (const auto& site : s.sites) {
    if (!site.edge) continue;
    for (const auto& entry : site.latency_ms) {
      auto it = std::find_if(edge_regions.begin(), edge_regions.end(),
                             [&](const auto& e) { return e.first == entry.first; });
      if (it == edge_regions.end()) {
        edge_regions.push_back(entry);
      } else {
        it->second = std::min(it->second, entry.second);
      }
    }
  }

  // Software stacks other than CUDA that some model of the catalogue runs
  // (sorted, deduplicated): a share of jobs asks for them (docs/twin.md,
  // "Synthetic workload"). Drawn from a generator of their own, so that the
  // other draws are those of a grid without them.
  std::vector<std::string> other_stacks;
  for (const auto& a : s.accelerators) {
    for (const auto& st : a.stacks) {
      if (st != "cuda") other_stacks.push_back(st);
    }
  }
  std::sort(other_stacks.begin(), other_stacks.end());
  other_stacks.erase(std::unique(other_stacks.begin(), other_stacks.end()), other_stacks.end());
  const bool has_rocm =
      std::find(other_stacks.begin(), other_stacks.end(), "rocm") != other_stacks.end();
  std::mt19937_64 stack_rng(o.seed ^ 0x9e3779b97f4a7c15ULL);

  // AI-RAN regions: some edge site meets kAiRanLatencyMs to the region and no
  // other site does; weighted by the edge accelerators that serve it (users
  // where the base stations are). Each with a stack its edge accelerators run.
  struct AiRanRegion {
    std::string region;
    double accelerators = 0;
    std::string stack;
  };
  std::vector<AiRanRegion> ai_ran;
  {
    std::map<std::string, AiRanRegion> by_region;
    std::set<std::string> data_centre_near;
    for (std::size_t si = 0; si < s.sites.size(); ++si) {
      const model::Site& site = s.sites[si];
      for (const auto& [region, ms] : site.latency_ms) {
        if (ms > kAiRanLatencyMs) continue;
        if (!site.edge) {
          data_centre_near.insert(region);
          continue;
        }
        AiRanRegion& r = by_region[region];
        r.region = region;
        for (const auto& pool : s.pools) {
          if (pool.site_index != static_cast<int>(si)) continue;
          r.accelerators += static_cast<double>(pool.accelerators());
          const auto& stacks =
              s.accelerators[static_cast<std::size_t>(pool.accelerator_index)].stacks;
          if (r.stack.empty() || r.stack != "cuda") {
            r.stack =
                stacks.empty() || std::find(stacks.begin(), stacks.end(), "cuda") != stacks.end()
                    ? "cuda"
                    : stacks.front();
          }
        }
      }
    }
    for (auto& [region, r] : by_region) {
      if (data_centre_near.count(region) == 0 && r.accelerators > 0) ai_ran.push_back(r);
    }
  }
  // Their tenants: leaves weighted by their guarantee in the quota classes of
  // edge pools (the telecom operators' AI-RAN projects); none: any tenant.
  std::set<std::string> edge_classes;
  for (const auto& pool : s.pools) {
    if (s.sites[static_cast<std::size_t>(pool.site_index)].edge)
      edge_classes.insert(
          s.accelerators[static_cast<std::size_t>(pool.accelerator_index)].quota_class);
  }
  std::vector<int> ai_ran_tenants;
  std::vector<double> ai_ran_tenant_weights;
  for (int t : leaves) {
    double g = 0;
    for (const auto& [cls, n] : s.tenants[static_cast<std::size_t>(t)].guarantee) {
      if (edge_classes.count(cls) != 0) g += static_cast<double>(n);
    }
    if (g <= 0) continue;
    ai_ran_tenants.push_back(t);
    ai_ran_tenant_weights.push_back(g);
  }
  std::vector<double> ai_ran_weights;
  for (const auto& r : ai_ran) ai_ran_weights.push_back(r.accelerators);
  std::discrete_distribution<std::size_t> pick_ai_ran_region(ai_ran_weights.begin(),
                                                             ai_ran_weights.end());
  std::discrete_distribution<std::size_t> pick_ai_ran_tenant(ai_ran_tenant_weights.begin(),
                                                             ai_ran_tenant_weights.end());
  // Drawn from a generator of their own: every other draw is that of a
  // workload without AI-RAN services.
  std::mt19937_64 edge_rng(o.seed ^ 0x5851f42d4c957f2dULL);

  // Digital-twin sessions: from the leaves that name a digital twin, in
  // proportion to their guarantees; on the catalogue's real-time rendering
  // models that some data-centre pool holds (none: any model).
  std::vector<int> twin_tenants;
  std::vector<double> twin_tenant_weights;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    if (weights[k] <= 0 || !NamesDigitalTwin(s.tenants[static_cast<std::size_t>(leaves[k])]))
      continue;
    twin_tenants.push_back(leaves[k]);
    twin_tenant_weights.push_back(weights[k]);
  }
  std::vector<std::string> rendering_models;
  for (const auto& pool : s.pools) {
    const auto& m = s.accelerators[static_cast<std::size_t>(pool.accelerator_index)];
    if (s.sites[static_cast<std::size_t>(pool.site_index)].edge || m.qpu() ||
        !RendersInRealTime(m.name))
      continue;
    if (std::find(rendering_models.begin(), rendering_models.end(), m.name) ==
        rendering_models.end())
      rendering_models.push_back(m.name);
  }
  std::sort(rendering_models.begin(), rendering_models.end());
  std::discrete_distribution<std::size_t> pick_twin_tenant(twin_tenant_weights.begin(),
                                                           twin_tenant_weights.end());
  auto size_distribution = [](const auto& sizes) {
    std::vector<double> w;
    for (const auto& b : sizes) w.push_back(b.weight);
    return std::discrete_distribution<std::size_t>(w.begin(), w.end());
  };
  auto pick_inference_size = size_distribution(kInferenceSizes);
  auto pick_twin_size = size_distribution(kDigitalTwinSizes);
  // The profiles of services other than AI-RAN ones are drawn from a
  // generator of their own too: every job that is not a service, and every
  // AI-RAN service, is that of a workload with one profile for all services.
  std::mt19937_64 service_rng(o.seed ^ 0x2545f4914f6cdd1dULL);
  std::size_t twin_sessions = 0;

  Workload w;
  w.jobs.reserve(o.jobs);
  const double capped = std::min(horizon_s, 30 * 86400.0);
  for (std::size_t i = 0; i < o.jobs; ++i) {
    TwinJob tj;
    model::Job& j = tj.job;
    j.id = "syn-" + std::to_string(i);
    const int tenant = leaves[pick_tenant(rng)];
    j.tenant = s.tenants[static_cast<std::size_t>(tenant)].id;
    const double day = std::floor(uniform(rng) * o.days);
    const double at = day * 86400.0 + pick_hour(rng) * 3600.0 + uniform(rng) * 3600.0;
    j.submit_time = s.epoch + static_cast<model::Time>(std::min(at, horizon_s - 1));
    const double r = uniform(rng);
    double runtime = std::min(duration(rng), capped);
    bool ai_ran_service = false;
    bool twin_session = false;
    if (r < 0.08 && !edge_regions.empty()) {
      // A service near users' region (one with edge sites). These draws of
      // the main stream are those of every service (a share of one
      // accelerator or one whole, 1-3 replicas within 10 ms of the region,
      // 2-24 h), so that the jobs after it are the same whatever its profile;
      // the profiles below then set their own shape.
      j.kind = model::JobKind::kService;
      if (uniform(rng) < 0.6)
        j.accelerator_milli = 100 * (1 + static_cast<model::Milli>(uniform(rng) * 9));
      j.replicas = 1 + static_cast<int>(uniform(rng) * 3);
      const auto& region = edge_regions[static_cast<std::size_t>(
          uniform(rng) * static_cast<double>(edge_regions.size()))];
      j.latency_slo_ms[region.first] = std::max(10.0, region.second * 2);
      runtime = std::min(capped, 3600.0 * (2 + uniform(rng) * 22));
      j.preemptible = false;
      j.priority_class = "high";
      j.checkpoint_interval_s = kServiceCheckpointS;
      // ASSUMPTION: a quarter of the services are AI-RAN edge services: one
      // replica within 1 ms of one region (only its base stations), a share of
      // one accelerator or one whole, from a tenant with an edge guarantee.
      if (uniform(edge_rng) < kAiRanServiceShare && !ai_ran.empty()) {
        const AiRanRegion& ar = ai_ran[pick_ai_ran_region(edge_rng)];
        j.latency_slo_ms.clear();
        j.latency_slo_ms[ar.region] = kAiRanLatencyMs;
        j.replicas = 1;
        j.accelerator_milli = uniform(edge_rng) < 0.6
                                  ? 100 * (1 + static_cast<model::Milli>(uniform(edge_rng) * 9))
                                  : model::kMilliPerAccelerator;
        if (!ai_ran_tenants.empty()) {
          j.tenant =
              s.tenants[static_cast<std::size_t>(ai_ran_tenants[pick_ai_ran_tenant(edge_rng)])].id;
        }
        j.stack = ar.stack;
        ai_ran_service = true;
      } else if (!twin_tenants.empty() && uniform(service_rng) < kDigitalTwinShare) {
        // ASSUMPTION: a digital-twin session (interactive simulation and
        // rendering, e.g. a fab or factory twin): one replica of whole
        // RTX-class accelerators, 1-8 h, within 20 ms of its users' region.
        j.tenant =
            s.tenants[static_cast<std::size_t>(twin_tenants[pick_twin_tenant(service_rng)])].id;
        j.replicas = 1;
        j.accelerators = kDigitalTwinSizes[pick_twin_size(service_rng)].accelerators;
        j.accelerator_milli = model::kMilliPerAccelerator;
        j.accepted_models = rendering_models;
        j.latency_slo_ms[region.first] = kDigitalTwinLatencyMs;
        runtime = std::min(capped, 3600.0 * (kDigitalTwinMinHours +
                                             uniform(service_rng) *
                                                 (kDigitalTwinMaxHours - kDigitalTwinMinHours)));
        twin_session = true;
        ++twin_sessions;
      } else {
        // ASSUMPTION: an inference deployment: 1-4 replicas, each a share of
        // one accelerator or whole accelerators on one node, for 4-48 h.
        j.replicas = 1 + static_cast<int>(uniform(service_rng) * kInferenceMaxReplicas);
        const int size = kInferenceSizes[pick_inference_size(service_rng)].accelerators;
        j.accelerators = std::max(1, size);
        j.accelerator_milli = size == 0
                                  ? 100 * (1 + static_cast<model::Milli>(uniform(service_rng) * 9))
                                  : model::kMilliPerAccelerator;
        runtime = std::min(
            capped, 3600.0 * (kInferenceMinHours +
                              uniform(service_rng) * (kInferenceMaxHours - kInferenceMinHours)));
      }
    } else {
      j.accelerators = kSizes[pick_size(rng)].accelerators;
      j.kind = j.accelerators >= 64
                   ? model::JobKind::kTrain
                   : (uniform(rng) < 0.5 ? model::JobKind::kFinetune : model::JobKind::kBatch);
      // Multi-node jobs take whole nodes of whatever pool they land on (the
      // scheduler picks the shape: 8 per HGX node, 4 per GB200 NVL72 tray).
      if (j.accelerators >= 16) j.accelerators_per_node = 0;
      // Bigger jobs run longer (LLM training), still within the horizon.
      runtime =
          std::min(capped, runtime * (1.0 + std::log2(static_cast<double>(j.accelerators)) / 3.0));
      const double p = uniform(rng);
      j.priority_class =
          p < 0.15 ? "low" : (p < 0.94 ? "normal" : (p < 0.99 ? "high" : "critical"));
      j.checkpoint_interval_s = j.kind == model::JobKind::kTrain || j.accelerators >= 8 ? 1800 : 0;
      const auto& allowed = datasets[static_cast<std::size_t>(tenant)];
      if (!allowed.empty() && uniform(rng) < 0.2) {
        j.datasets.push_back(
            allowed[static_cast<std::size_t>(uniform(rng) * static_cast<double>(allowed.size()))]);
      }
    }
    tj.runtime_s = std::max<model::Duration>(1, static_cast<model::Duration>(runtime));
    // Users overestimate: the estimate is the runtime times 1..3.
    j.runtime_estimate_s = static_cast<model::Duration>(static_cast<double>(tj.runtime_s) *
                                                        (1.0 + 2.0 * uniform(rng)));
    if (!s.PriorityValue(j.priority_class)) j.priority_class = s.priority_classes.front().name;
    // ASSUMPTION: 20% of inference services are built for a non-CUDA stack
    // (NPU SDKs or ROCm, equally likely), and 5% of training and batch jobs for
    // ROCm (the NPUs' SDKs are inference-first).
    const double stack_draw = uniform(stack_rng);
    if (j.kind == model::JobKind::kService) {
      // AI-RAN services keep the stack of their base stations (set above),
      // digital-twin sessions CUDA (their renderers).
      if (!other_stacks.empty() && stack_draw < kServiceOtherStackShare && !ai_ran_service &&
          !twin_session) {
        j.stack = other_stacks[std::min(
            other_stacks.size() - 1,
            static_cast<std::size_t>(stack_draw / kServiceOtherStackShare *
                                     static_cast<double>(other_stacks.size())))];
      }
    } else if (has_rocm && stack_draw < kTrainingRocmShare) {
      j.stack = "rocm";
    }
    w.jobs.push_back(std::move(tj));
  }

  // Foundation-model gangs: thousands of accelerators for days, from the
  // tenant with the largest guarantee among those whose id mentions "fm",
  // else the largest leaf.
  const int gangs =
      o.foundation_gangs >= 0 ? o.foundation_gangs : std::max(1, static_cast<int>(o.days / 2));
  int fm_tenant = -1;
  double best = -1;
  for (std::size_t k = 0; k < leaves.size(); ++k) {
    const bool fm =
        s.tenants[static_cast<std::size_t>(leaves[k])].id.find("fm") != std::string::npos;
    const double score = weights[k] + (fm ? 1e12 : 0);
    if (score > best) {
      best = score;
      fm_tenant = leaves[k];
    }
  }
  for (int g = 0; g < gangs; ++g) {
    TwinJob tj;
    model::Job& j = tj.job;
    j.id = "fm-" + std::to_string(g);
    j.tenant = s.tenants[static_cast<std::size_t>(fm_tenant)].id;
    j.kind = model::JobKind::kTrain;
    j.accelerators = 2048 << static_cast<int>(uniform(rng) * 3);
    j.accelerators_per_node = 0;  // whole nodes of the pool: NVL72 racks are 4 per node
    j.priority_class = s.PriorityValue("high") ? "high" : s.priority_classes.front().name;
    j.checkpoint_interval_s = 3600;
    j.submit_time = s.epoch + static_cast<model::Time>(uniform(rng) * horizon_s * 0.5);
    tj.runtime_s = static_cast<model::Duration>(std::min(capped, 86400.0 * (2 + uniform(rng) * 3)));
    j.runtime_estimate_s = tj.runtime_s + tj.runtime_s / 5;
    w.jobs.push_back(std::move(tj));
  }
  // Quantum-GPU hybrid jobs: a small stream from research tenants (leaves
  // whose path names "research"; else every leaf), each 1 QPU and one node of
  // 8 accelerators for 0.5-4 h, arriving uniformly. Drawn from a generator
  // of their own after every other draw, so that the rest of the workload is
  // that of a grid without QPUs.
  std::int64_t qpus_in_grid = 0;
  for (const auto& pool : s.pools) {
    if (pool.accelerator_index >= 0 &&
        s.accelerators[static_cast<std::size_t>(pool.accelerator_index)].qpu())
      qpus_in_grid += pool.accelerators();
  }
  std::size_t hybrid_jobs = 0;
  if (qpus_in_grid > 0) {
    std::vector<int> research;
    for (int t : leaves) {
      if (s.TenantPath(t).find("research") != std::string::npos) research.push_back(t);
    }
    if (research.empty()) research = leaves;
    std::mt19937_64 qrng(o.seed ^ 0x51a7c0ffee5eedULL);
    std::uniform_real_distribution<double> qu(0.0, 1.0);
    hybrid_jobs = static_cast<std::size_t>(
        std::llround(kHybridJobsPerQpuDay * static_cast<double>(qpus_in_grid) * o.days));
    for (std::size_t q = 0; q < hybrid_jobs; ++q) {
      TwinJob tj;
      model::Job& j = tj.job;
      j.id = "qh-" + std::to_string(q);
      const int tenant = research[std::min(
          research.size() - 1,
          static_cast<std::size_t>(qu(qrng) * static_cast<double>(research.size())))];
      j.tenant = s.tenants[static_cast<std::size_t>(tenant)].id;
      j.kind = model::JobKind::kBatch;
      j.accelerators = 8;
      j.qpus = 1;
      j.checkpoint_interval_s = 1800;
      j.submit_time = s.epoch + static_cast<model::Time>(qu(qrng) * (horizon_s - 1));
      tj.runtime_s = static_cast<model::Duration>(
          3600.0 * (kHybridMinHours + qu(qrng) * (kHybridMaxHours - kHybridMinHours)));
      j.runtime_estimate_s = tj.runtime_s + tj.runtime_s / 2;
      if (!s.PriorityValue(j.priority_class)) j.priority_class = s.priority_classes.front().name;
      w.jobs.push_back(std::move(tj));
    }
  }
  // The load cap: offered work of the scalable jobs (training and batch; not
  // services or foundation-model gangs) scaled so that all work together is at
  // most max_load of the grid's accelerator-time over the days.
  double scalable = 0;
  double fixed = 0;
  // The first o.jobs entries are the drawn jobs, the gangs follow (not yet sorted).
  auto scales = [&](std::size_t i) {
    return i < o.jobs && w.jobs[i].job.kind != model::JobKind::kService;
  };
  for (std::size_t i = 0; i < w.jobs.size(); ++i)
    (scales(i) ? scalable : fixed) += JobWork(w.jobs[i].job, w.jobs[i].runtime_s);
  const double capacity = static_cast<double>(s.TotalAccelerators()) * horizon_s;
  const double natural_load = capacity > 0 ? (scalable + fixed) / capacity : 0;
  double factor = 1;
  if (o.max_load > 0 && natural_load > o.max_load && scalable > 0) {
    factor = std::max(0.0, o.max_load * capacity - fixed) / scalable;
    for (std::size_t i = 0; i < w.jobs.size(); ++i) {
      if (!scales(i)) continue;
      TwinJob& tj = w.jobs[i];
      tj.runtime_s = std::max<model::Duration>(
          1, static_cast<model::Duration>(static_cast<double>(tj.runtime_s) * factor));
      tj.job.runtime_estimate_s = std::max(
          tj.runtime_s,
          static_cast<model::Duration>(static_cast<double>(tj.job.runtime_estimate_s) * factor));
    }
  }
  // By submit time, ties in the order drawn. Sorted as (time, index) pairs
  // and moved once: sorting the jobs themselves moved each a dozen times
  // (3 % of a 200,000-job run).
  {
    std::vector<std::pair<model::Time, std::size_t>> order(w.jobs.size());
    for (std::size_t i = 0; i < w.jobs.size(); ++i) order[i] = {w.jobs[i].job.submit_time, i};
    std::sort(order.begin(), order.end());
    std::vector<TwinJob> sorted;
    sorted.reserve(w.jobs.size());
    for (const auto& [time, i] : order) sorted.push_back(std::move(w.jobs[i]));
    w.jobs = std::move(sorted);
  }
  w.description =
      "synthetic: " + std::to_string(o.jobs) + " jobs" +
      (twin_sessions > 0 ? " (" + std::to_string(twin_sessions) + " of them digital-twin sessions)"
                         : std::string()) +
      " and " + std::to_string(gangs) + " foundation-model gangs" +
      (hybrid_jobs > 0 ? " and " + std::to_string(hybrid_jobs) + " quantum-GPU jobs"
                       : std::string()) +
      " over " + std::to_string(o.days).substr(0, 4) + " days, seed " + std::to_string(o.seed);
  // The offered load, so that a reader of the results knows how busy the grid was asked to be.
  char buf[200];
  if (factor < 1) {
    std::snprintf(buf, sizeof buf,
                  "; offered load %.0f%% of the grid (drawn %.0f%%, training and batch durations "
                  "x%.2f to stay within --max-load)",
                  std::min(natural_load, o.max_load) * 100, natural_load * 100, factor);
  } else {
    std::snprintf(buf, sizeof buf, "; offered load %.0f%% of the grid", natural_load * 100);
  }
  w.description += buf;
  w.lines_read = w.jobs.size();
  return w;
}

}  // namespace sovgrid::traces
