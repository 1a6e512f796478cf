// The residency rule, Dataset::AllowsSite: jurisdiction, tier and allow-list
// must all let a site in.
#include <gtest/gtest.h>

#include "model/scenario.h"

namespace sovgrid::model {
namespace {

Site SiteAt(const std::string& id, const std::string& jurisdiction, int tier) {
  Site s;
  s.id = id;
  s.jurisdiction = jurisdiction;
  s.tier = tier;
  return s;
}

TEST(DatasetAllowsSite, EveryRuleMustLetTheSiteIn) {
  Dataset any;
  EXPECT_TRUE(any.AllowsSite(SiteAt("edge", "KR", 1)));

  Dataset health;
  health.jurisdictions = {"KR"};
  health.min_tier = 3;
  EXPECT_TRUE(health.AllowsSite(SiteAt("nacc", "KR", 3)));
  EXPECT_FALSE(health.AllowsSite(SiteAt("factory", "KR", 2)));  // tier too low
  EXPECT_FALSE(health.AllowsSite(SiteAt("abroad", "JP", 3)));   // jurisdiction

  Dataset fab;
  fab.sites = {"sk-ulsan", "sk-icheon"};
  fab.min_tier = 2;
  EXPECT_TRUE(fab.AllowsSite(SiteAt("sk-icheon", "KR", 2)));
  EXPECT_FALSE(fab.AllowsSite(SiteAt("nacc", "KR", 3)));  // not on the list
  EXPECT_FALSE(fab.AllowsSite(SiteAt("sk-ulsan", "KR", 1)));
}

}  // namespace
}  // namespace sovgrid::model
