#include "sched/test_grids.h"

#include <cassert>

namespace sovgrid::sched::testing {

model::Scenario MidSizeGrid() {
  model::Scenario s;
  s.name = "mid";
  s.epoch = 1798934400;  // 2027-01-03
  s.accelerators = {
      {"B200", "NVIDIA", "blackwell", 180, 1000, {1.0, 1.0, 1.0}, {}},
      {"GB200", "NVIDIA", "blackwell", 186, 1200, {1.3, 1.2, 1.2}, {}},
      {"NPU1", "Domestic", "npu", 64, 400, {0.4, 0.5, 0.9}, {}},
      {"L4", "NVIDIA", "edge", 24, 72, {0.05, 0.1, 0.15}, {}},
  };
  auto site = [](std::string id, std::string op, std::string juris, int tier, bool edge,
                 double budget) {
    model::Site x;
    x.id = std::move(id);
    x.name = x.id;
    x.operator_name = std::move(op);
    x.region = "r-" + x.id;
    x.jurisdiction = std::move(juris);
    x.tier = tier;
    x.edge = edge;
    x.power_budget_kw = budget;
    x.latency_ms = {{"seoul", edge ? 2.0 : 6.0}, {"busan", edge ? 3.0 : 9.0}};
    return x;
  };
  s.sites = {site("gov", "State", "KR", 3, false, 0), site("corp", "Corp", "KR", 2, false, 120),
             site("edge", "Telco", "KR", 1, true, 0), site("abroad", "Foreign", "US", 2, false, 0)};
  auto pool = [](std::string id, std::string site_id, std::string accel, int per_node, int nodes,
                 int domain, int racks) {
    model::Pool p;
    p.id = std::move(id);
    p.site = std::move(site_id);
    p.accelerator = std::move(accel);
    p.accelerators_per_node = per_node;
    p.nodes = nodes;
    p.domain_size = domain;
    p.racks = racks;
    return p;
  };
  s.pools = {pool("gov-b200", "gov", "B200", 8, 24, 8, 6),
             pool("gov-nvl", "gov", "GB200", 4, 36, 72, 2),
             pool("corp-b200", "corp", "B200", 8, 20, 8, 5),
             pool("gov-npu", "gov", "NPU1", 4, 8, 4, 2),
             pool("edge-l4", "edge", "L4", 2, 16, 2, 4),
             pool("abroad-b200", "abroad", "B200", 8, 8, 8, 2)};
  auto tenant = [](std::string id, std::string parent, double weight, model::ClassAmounts g,
                   model::ClassAmounts borrow, model::ClassAmounts lend) {
    model::Tenant t;
    t.id = std::move(id);
    t.name = t.id;
    t.parent = std::move(parent);
    t.weight = weight;
    t.guarantee = std::move(g);
    t.borrow_limit = std::move(borrow);
    t.lend_limit = std::move(lend);
    return t;
  };
  // blackwell capacity: 24*8 + 36*4 + 20*8 + 8*8 = 560; npu 32; edge 32.
  s.tenants = {
      tenant("gov", "", 2.0, {{"blackwell", 300}, {"npu", 32}, {"edge", 16}}, {{"blackwell", 150}},
             {{"blackwell", 200}}),
      tenant("research", "gov", 1.0, {{"blackwell", 150}, {"npu", 16}}, {{"blackwell", 100}}, {}),
      tenant("univ", "gov", 1.0, {{"blackwell", 100}}, {}, {{"blackwell", 50}}),
      tenant("startups", "gov", 0.5, {{"blackwell", 40}}, {{"blackwell", 40}}, {}),
      tenant("corp", "", 1.0, {{"blackwell", 200}, {"edge", 8}}, {{"blackwell", 100}}, {}),
      tenant("corp-ai", "corp", 2.0, {{"blackwell", 150}}, {}, {}),
      tenant("corp-ops", "corp", 1.0, {{"blackwell", 50}, {"edge", 8}}, {{"blackwell", 20}}, {}),
      tenant("guest", "", 0.5, {}, {{"blackwell", 64}}, {}),
  };
  model::Grant grant;
  grant.id = "startup-grant";
  grant.units = 20000;
  grant.valid_from = s.epoch;
  grant.valid_until = s.epoch + 30 * 86400;
  s.tenants[3].grants.push_back(grant);
  s.datasets = {
      {"public-health", "", {"KR"}, 3, {}, {"gov"}},
      {"corp-secrets", "", {}, 1, {"corp"}, {"corp"}},
      {"open-corpus", "", {}, 1, {}, {}},
  };
  s.priority_classes = {{"low", 0}, {"normal", 100}, {"high", 200}, {"critical", 300}};
  Status st = s.Resolve();
  assert(st.ok());
  (void)st;
  return s;
}

model::Job RandomJob(const model::Scenario& s, std::mt19937_64& rng, const std::string& id,
                     model::Time now) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<std::uint64_t>(n)); };
  model::Job j;
  j.id = id;
  j.submit_time = now;
  const int t = pick(static_cast<int>(s.tenants.size()));
  j.tenant = s.tenants[t].id;
  const int shape = pick(10);
  if (shape < 2) {
    j.accelerator_milli = 100 * (1 + pick(9));
    j.kind = model::JobKind::kService;
  } else {
    static const int kSizes[] = {1, 1, 2, 4, 8, 8, 16, 32};
    j.accelerators = kSizes[pick(8)];
    j.kind = static_cast<model::JobKind>(pick(3));
    if (j.accelerators >= 8 && pick(2) == 0) j.accelerators_per_node = j.accelerators >= 16 ? 8 : 4;
  }
  if (shape == 9) {
    j.kind = model::JobKind::kService;
    j.accelerators = 1;
    j.accelerators_per_node = 0;
    j.replicas = 1 + pick(3);
    j.latency_slo_ms = {{"seoul", 5.0}};
  }
  if (pick(4) == 0)
    j.accepted_models = {
        s.accelerators[static_cast<std::size_t>(pick(static_cast<int>(s.accelerators.size())))]
            .name};
  for (std::size_t d = 0; d < s.datasets.size(); ++d) {
    if (pick(3) != 0) continue;
    const auto& allowed = s.datasets[d].tenants;
    bool ok = allowed.empty();
    for (const auto& a : allowed) ok = ok || s.InSubtree(t, s.FindTenant(a));
    if (ok) j.datasets.push_back(s.datasets[d].id);
  }
  static const char* kPriorities[] = {"low", "normal", "normal", "high", "critical"};
  j.priority_class = kPriorities[pick(5)];
  j.preemptible = pick(5) != 0;
  j.checkpoint_interval_s = pick(2) == 0 ? 0 : 300 * (1 + pick(4));
  j.runtime_estimate_s = pick(6) == 0 ? 0 : 60 * (1 + pick(120));
  if (pick(3) == 0) j.deadline = now + 600 * (1 + pick(48));
  return j;
}

}  // namespace sovgrid::sched::testing
