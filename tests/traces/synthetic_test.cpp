// The synthetic national workload's service profiles (docs/twin.md, "Service
// profiles"): AI-RAN edge services, digital-twin sessions and inference
// deployments, each with its shape, and the rest of the workload unchanged by them.
#include "traces/synthetic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>

#include "scenario/loader.h"

namespace sovgrid::traces {
namespace {

model::Scenario Load(const std::string& name) {
  auto r = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/" + name);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

Workload Generate(const model::Scenario& s, std::size_t jobs, double days) {
  SyntheticOptions so;
  so.jobs = jobs;
  so.days = days;
  auto w = GenerateSynthetic(s, so);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : Workload{};
}

bool IsAiRan(const model::Job& j) {
  return j.latency_slo_ms.size() == 1 && j.latency_slo_ms.begin()->second <= 1.0;
}
bool IsTwin(const model::Job& j) { return !j.accepted_models.empty(); }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// On korea-2027: of the services, a quarter AI-RAN, a fifth of the rest (15 %)
// digital-twin sessions from the three tenants that name a twin, on RTX PRO
// 6000s only, and the rest inference deployments of their own shape.
TEST(SyntheticServices, KoreaProfilesHaveTheirShares) {
  const model::Scenario s = Load("korea-2027.toml");
  const Workload w = Generate(s, 60000, 3);
  std::size_t services = 0, ai_ran = 0, twin = 0, inference = 0, fractional = 0, eight = 0;
  std::map<std::string, std::size_t> twin_tenants;
  for (const TwinJob& tj : w.jobs) {
    const model::Job& j = tj.job;
    if (j.kind != model::JobKind::kService) {
      EXPECT_TRUE(j.accepted_models.empty()) << j.id;
      continue;
    }
    ++services;
    EXPECT_FALSE(j.preemptible) << j.id;
    if (IsAiRan(j)) {
      ++ai_ran;
      continue;
    }
    ASSERT_EQ(j.latency_slo_ms.size(), 1u) << j.id;
    const double slo = j.latency_slo_ms.begin()->second;
    if (IsTwin(j)) {
      ++twin;
      ++twin_tenants[j.tenant];
      EXPECT_EQ(j.accepted_models, std::vector<std::string>{"RTX-PRO-6000"}) << j.id;
      EXPECT_EQ(j.replicas, 1) << j.id;
      EXPECT_EQ(j.accelerator_milli, model::kMilliPerAccelerator) << j.id;
      EXPECT_TRUE(j.accelerators == 1 || j.accelerators == 2 || j.accelerators == 4 ||
                  j.accelerators == 8)
          << j.id << " " << j.accelerators;
      EXPECT_GE(tj.runtime_s, 3600) << j.id;
      EXPECT_LE(tj.runtime_s, 8 * 3600) << j.id;
      EXPECT_DOUBLE_EQ(slo, 20.0) << j.id;
      EXPECT_EQ(j.stack, "cuda") << j.id;
      const model::Tenant& t = s.tenants[static_cast<std::size_t>(s.FindTenant(j.tenant))];
      EXPECT_NE(Lower(t.id + " " + t.name).find("twin"), std::string::npos) << j.tenant;
      continue;
    }
    ++inference;
    EXPECT_GE(j.replicas, 1) << j.id;
    EXPECT_LE(j.replicas, 4) << j.id;
    EXPECT_GE(tj.runtime_s, 4 * 3600) << j.id;
    EXPECT_LE(tj.runtime_s, 48 * 3600) << j.id;
    EXPECT_GE(slo, 10.0) << j.id;
    if (j.fractional()) {
      ++fractional;
      EXPECT_EQ(j.accelerators, 1) << j.id;
    }
    if (j.accelerators == 8) ++eight;
  }
  ASSERT_GT(services, 4000u);
  const double n = static_cast<double>(services);
  EXPECT_NEAR(static_cast<double>(ai_ran) / n, 0.25, 0.02);
  EXPECT_NEAR(static_cast<double>(twin) / n, 0.75 * 0.2, 0.02);
  EXPECT_NEAR(static_cast<double>(inference) / n, 0.75 * 0.8, 0.02);
  EXPECT_NEAR(static_cast<double>(fractional) / static_cast<double>(inference), 0.45, 0.03);
  EXPECT_NEAR(static_cast<double>(eight) / static_cast<double>(inference), 0.04, 0.015);
  // Every tenant that names a twin submits, and only those.
  EXPECT_EQ(twin_tenants.size(), 3u);
  EXPECT_GT(twin_tenants.count("samsung-fab-twin"), 0u);
  EXPECT_GT(twin_tenants.count("sk-hynix"), 0u);
  EXPECT_GT(twin_tenants.count("hyundai-smart-factory"), 0u);
}

// The profiles come from streams of their own: with no tenant naming a twin
// (so no digital-twin sessions), every job that is not a service, and every
// AI-RAN service, is the same; only the other services' profiles differ.
TEST(SyntheticServices, ProfilesLeaveTheOtherJobsAlone) {
  const model::Scenario s = Load("korea-2027.toml");
  model::Scenario no_twins = s;
  for (auto& t : no_twins.tenants) {
    if (Lower(t.name).find("twin") != std::string::npos) t.name = "renamed";
  }
  const auto twin_id = no_twins.FindTenant("samsung-fab-twin");
  ASSERT_GE(twin_id, 0);
  // The id names a twin too: a leaf renamed in both places (its jobs keep the
  // new id, so compare tenants through the index).
  no_twins.tenants[static_cast<std::size_t>(twin_id)].id = "samsung-fab-sim";
  ASSERT_TRUE(no_twins.Resolve().ok());
  const Workload a = Generate(s, 20000, 2);
  const Workload b = Generate(no_twins, 20000, 2);
  ASSERT_EQ(a.jobs.size(), b.jobs.size());
  std::size_t twins_in_a = 0, twins_in_b = 0, compared = 0;
  for (std::size_t i = 0; i < a.jobs.size(); ++i) {
    const model::Job& x = a.jobs[i].job;
    const model::Job& y = b.jobs[i].job;
    ASSERT_EQ(x.id, y.id) << i;
    ASSERT_EQ(x.submit_time, y.submit_time) << x.id;
    ASSERT_EQ(x.kind, y.kind) << x.id;
    twins_in_a += IsTwin(x) ? 1 : 0;
    twins_in_b += IsTwin(y) ? 1 : 0;
    if (x.kind == model::JobKind::kService && !IsAiRan(x)) continue;
    ++compared;
    const std::string tenant_y = y.tenant == "samsung-fab-sim" ? "samsung-fab-twin" : y.tenant;
    EXPECT_EQ(x.tenant, tenant_y) << x.id;
    EXPECT_EQ(x.accelerators, y.accelerators) << x.id;
    EXPECT_EQ(x.accelerator_milli, y.accelerator_milli) << x.id;
    EXPECT_EQ(x.replicas, y.replicas) << x.id;
    EXPECT_EQ(x.stack, y.stack) << x.id;
    EXPECT_EQ(x.datasets, y.datasets) << x.id;
    EXPECT_EQ(x.latency_slo_ms, y.latency_slo_ms) << x.id;
    EXPECT_EQ(a.jobs[i].runtime_s, b.jobs[i].runtime_s) << x.id;
  }
  EXPECT_GT(twins_in_a, 100u);
  EXPECT_EQ(twins_in_b, 0u);
  EXPECT_GT(compared, 18000u);  // all but the ~6 % of jobs that are other services
}

// Without a rendering model in the data centres, digital-twin sessions may
// run on any model (they keep their shape and tenants).
TEST(SyntheticServices, TwinSessionsWithoutRenderingModelsTakeAnyModel) {
  model::Scenario s = Load("korea-2027.toml");
  for (auto& a : s.accelerators) {
    if (a.name == "RTX-PRO-6000") a.name = "GPU-X";
  }
  for (auto& p : s.pools) {
    if (p.accelerator == "RTX-PRO-6000") p.accelerator = "GPU-X";
  }
  ASSERT_TRUE(s.Resolve().ok());
  const Workload w = Generate(s, 20000, 2);
  std::size_t twin_tenant_services = 0;
  for (const TwinJob& tj : w.jobs) {
    EXPECT_TRUE(tj.job.accepted_models.empty()) << tj.job.id;
    if (tj.job.kind == model::JobKind::kService && tj.job.replicas == 1 &&
        tj.job.latency_slo_ms.begin()->second == 20.0)
      ++twin_tenant_services;
  }
  EXPECT_GT(twin_tenant_services, 100u);
}

// Tenant::demand scales a subtree's share of the ordinary jobs (multiplied
// down the tree); 0 takes it out of them.
TEST(SyntheticDemand, ScalesASubtreesJobs) {
  model::Scenario s = Load("korea-2027.toml");
  const int research = s.FindTenant("research");
  ASSERT_GE(research, 0);
  auto research_jobs = [&](const model::Scenario& sc) {
    std::size_t n = 0;
    for (const TwinJob& tj : Generate(sc, 20000, 2).jobs) {
      const model::Job& j = tj.job;
      // Ordinary jobs only (services may be AI-RAN or digital-twin ones, qh- are hybrid).
      if (j.id.rfind("syn-", 0) != 0 || j.kind == model::JobKind::kService) continue;
      if (sc.InSubtree(sc.FindTenant(j.tenant), research)) ++n;
    }
    return n;
  };
  s.tenants[static_cast<std::size_t>(research)].demand = 1;
  const std::size_t one = research_jobs(s);
  s.tenants[static_cast<std::size_t>(research)].demand = 3;
  const std::size_t three = research_jobs(s);
  s.tenants[static_cast<std::size_t>(research)].demand = 0;
  const std::size_t none = research_jobs(s);
  EXPECT_GT(one, 200u);
  // Research holds ~4 % of the guarantees: 3x demand gives about 2.8x its jobs.
  EXPECT_GT(static_cast<double>(three), 2.5 * static_cast<double>(one));
  EXPECT_LT(static_cast<double>(three), 3.0 * static_cast<double>(one));
  EXPECT_EQ(none, 0u);
  for (auto& t : s.tenants) t.demand = 0;
  SyntheticOptions so;
  EXPECT_FALSE(GenerateSynthetic(s, so).ok());
}

}  // namespace
}  // namespace sovgrid::traces
