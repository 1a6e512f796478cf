// korea-2027 adds up to the announced figures (Oct-Nov 2025):
// ~260,000 data-centre GPUs: government 50,000 (13,000 first at NAVER Cloud,
// NHN Cloud and Kakao), NAVER 60,000, Samsung 50,000, SK 50,000, Hyundai 50,000.
#include <gtest/gtest.h>

#include <map>

#include "scenario/loader.h"

namespace sovgrid::scenario {
namespace {

class Korea2027 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/korea-2027.toml");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    scenario_ = new model::Scenario(std::move(r).value());
  }
  static void TearDownTestSuite() { delete scenario_; }

  // Whether a site holds QPUs: the quantum-GPU research sites, outside the 260,000.
  static bool QuantumSite(int site) {
    for (const auto& p : scenario_->pools) {
      if (p.site_index == site && scenario_->accelerators[p.accelerator_index].qpu()) return true;
    }
    return false;
  }
  // Data-centre accelerators per operator name.
  static std::map<std::string, std::int64_t> ByOperator() {
    std::map<std::string, std::int64_t> out;
    for (const auto& p : scenario_->pools) {
      const auto& site = scenario_->sites[p.site_index];
      if (!site.edge && !QuantumSite(p.site_index)) out[site.operator_name] += p.accelerators();
    }
    return out;
  }
  // Sum of a top-level tenant's guarantees over all data-centre classes.
  static std::int64_t Guaranteed(const std::string& tenant) {
    const int t = scenario_->FindTenant(tenant);
    EXPECT_GE(t, 0) << tenant;
    std::int64_t sum = 0;
    for (const auto& [cls, n] : scenario_->tenants[t].guarantee) {
      if (cls != "edge") sum += n;
    }
    return sum;
  }

  static model::Scenario* scenario_;
};
model::Scenario* Korea2027::scenario_ = nullptr;

TEST_F(Korea2027, DataCentreTotalIs260000) {
  std::int64_t dc = 0;
  std::int64_t edge = 0;
  std::int64_t quantum_sites = 0;
  std::int64_t qpus = 0;
  for (const auto& p : scenario_->pools) {
    if (QuantumSite(p.site_index)) {
      quantum_sites += p.accelerators();
      if (scenario_->accelerators[p.accelerator_index].qpu()) qpus += p.accelerators();
      continue;
    }
    (scenario_->sites[p.site_index].edge ? edge : dc) += p.accelerators();
  }
  EXPECT_EQ(dc, 260'000);
  // Yonsei's IBM Quantum System One and a national QPU at KISTI, with 160
  // B200 next to them (estimates), outside the 260,000.
  EXPECT_EQ(qpus, 2);
  EXPECT_EQ(quantum_sites, 162);
  EXPECT_GT(edge, 0);  // base-station inference GPUs, outside the 260,000
  // ~32,000 nodes: HGX boards of 8 and NVL72 trays of 4 GPUs.
  EXPECT_GT(scenario_->TotalNodes(), 28'000);
  EXPECT_LT(scenario_->TotalNodes(), 40'000);
}

TEST_F(Korea2027, OperatorsMatchTheAnnouncedSplit) {
  auto ops = ByOperator();
  EXPECT_EQ(ops["Samsung Electronics"], 50'000);
  EXPECT_EQ(ops["Hyundai Motor Group"], 50'000);
  EXPECT_EQ(ops["SK Group"] + ops["SK Telecom"], 50'000);
  // NAVER's own 60,000 plus its share of the government's first 13,000.
  const std::int64_t first_tranche_naver = ops["NAVER Cloud"] - 60'000;
  EXPECT_GT(first_tranche_naver, 0);
  EXPECT_EQ(first_tranche_naver + ops["NHN Cloud"] + ops["Kakao"], 13'000);
  EXPECT_EQ(13'000 + ops["National AI Computing Centre SPC (Samsung SDS consortium)"], 50'000);
}

TEST_F(Korea2027, TenantGuaranteesFollowOwnership) {
  EXPECT_EQ(Guaranteed("msit"), 50'000);
  EXPECT_EQ(Guaranteed("naver"), 60'000);
  EXPECT_EQ(Guaranteed("samsung"), 50'000);
  EXPECT_EQ(Guaranteed("sk"), 50'000);
  EXPECT_EQ(Guaranteed("hyundai"), 50'000);
}

TEST_F(Korea2027, PublicSectorDataOnlyAtTheHighestTier) {
  int public_sets = 0;
  for (const auto& d : scenario_->datasets) {
    for (const auto& t : d.tenants) {
      if (t == "msit" && d.min_tier == 3) ++public_sets;
    }
  }
  EXPECT_GE(public_sets, 1);
  // A company's data stays on its own sites.
  const int samsung_data = scenario_->FindDataset("samsung-fab-telemetry");
  ASSERT_GE(samsung_data, 0);
  {
    for (const auto& s : scenario_->datasets[samsung_data].sites) {
      EXPECT_EQ(scenario_->sites[scenario_->FindSite(s)].operator_name, "Samsung Electronics");
    }
  }
}

}  // namespace
}  // namespace sovgrid::scenario
