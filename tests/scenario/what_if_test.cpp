// What-if files (scenario/what_if.h): every kind of change applied to
// small.toml, and every kind of mistake reported at file:line with its field.
#include "scenario/what_if.h"

#include <gtest/gtest.h>

#include <string>

#include "scenario/loader.h"

namespace sovgrid::scenario {
namespace {

model::Scenario Small() {
  auto s = LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : model::Scenario{};
}

std::string Error(std::string_view text) {
  auto w = ParseWhatIf(text, "w.toml");
  EXPECT_FALSE(w.ok());
  return w.ok() ? "" : w.status().message();
}

std::string ApplyError(std::string_view text) {
  auto w = ParseWhatIf(text, "w.toml");
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return "";
  auto s = ApplyWhatIf(Small(), *w);
  EXPECT_FALSE(s.ok());
  return s.ok() ? "" : s.status().message();
}

TEST(WhatIf, EveryKindOfChange) {
  const std::string text = R"(description = "more of everything"
demand = 1.5
remove_pools = ["south-l4"]
[[add_pools]]
id = "north-b200-2"
like = "north-b200"
nodes = 6
[[add_pools]]
id = "south-l4-new"
like = "south-l4"
nodes = 3
[[add_pools]]
id = "south-b200"
like = "north-b200"
site = "south"
nodes = 2
[[resize_pools]]
id = "north-b200"
nodes = 8
[[down]]
site = "north"
from = 2027-01-05T00:00:00Z
until = 2027-01-06T00:00:00Z
[[down]]
vendor = "nvidia"
from = 1798848000
until = 1798851600
[[tenants]]
id = "research"
guarantee = { blackwell = 32 }
[[tenants.grants]]
id = "research-big"
accelerator_hours = 1e6
valid_from = 2027-01-01T00:00:00Z
valid_until = 2028-01-01T00:00:00Z
)";
  auto w = ParseWhatIf(text, "/x/more-capacity.toml");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->name, "more-capacity");  // the stem
  EXPECT_DOUBLE_EQ(w->demand, 1.5);
  const model::Scenario base = Small();
  auto s = ApplyWhatIf(base, *w);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "small + more-capacity");
  EXPECT_LT(s->FindPool("south-l4"), 0);
  const auto& big = s->pools[static_cast<std::size_t>(s->FindPool("north-b200"))];
  EXPECT_EQ(big.nodes, 8);
  const auto& copy = s->pools[static_cast<std::size_t>(s->FindPool("north-b200-2"))];
  EXPECT_EQ(copy.site, "north");
  EXPECT_EQ(copy.accelerator, "B200");
  EXPECT_EQ(copy.accelerators_per_node, 8);
  EXPECT_EQ(copy.nodes, 6);
  const auto& moved = s->pools[static_cast<std::size_t>(s->FindPool("south-b200"))];
  EXPECT_EQ(moved.site, "south");
  EXPECT_GE(moved.site_index, 0);  // resolved
  const auto& research = s->tenants[static_cast<std::size_t>(s->FindTenant("research"))];
  EXPECT_EQ(research.guarantee.at("blackwell"), 32);
  ASSERT_EQ(research.grants.size(), 1u);
  EXPECT_EQ(research.grants[0].id, "research-big");
  // The base is untouched.
  EXPECT_GE(base.FindPool("south-l4"), 0);

  auto downs = ResolveDowns(*s, *w);
  ASSERT_TRUE(downs.ok()) << downs.status().ToString();
  ASSERT_EQ(downs->size(), 2u);
  EXPECT_EQ((*downs)[0].pools, (std::vector<std::string>{"north-b200", "north-b200-2"}));
  EXPECT_EQ((*downs)[0].from, 1799107200);
  EXPECT_EQ((*downs)[0].until, 1799107200 + 86400);
  EXPECT_NE((*downs)[0].why.find("site north down (/x/more-capacity.toml:20)"), std::string::npos)
      << (*downs)[0].why;
  EXPECT_EQ((*downs)[1].pools.size(), 4u);  // every pool is NVIDIA's, vendor case-insensitive
}

TEST(WhatIf, MistakesOfFormAreReportedAtFileLineAndField) {
  EXPECT_NE(Error("demand = 0\n").find("w.toml:1:"), std::string::npos);
  EXPECT_NE(Error("demand = 0\n").find("demand"), std::string::npos);
  EXPECT_NE(Error("colour = \"red\"\n").find("colour"), std::string::npos);
  EXPECT_NE(Error("[[add_pools]]\nid = \"x\"\nnodes = 2\n").find("add_pools[0].like"),
            std::string::npos);
  EXPECT_NE(Error("[[resize_pools]]\nid = \"x\"\nnodes = 0\n").find("resize_pools[0].nodes"),
            std::string::npos);
  const std::string two = Error("[[down]]\nsite = \"a\"\npool = \"b\"\nfrom = 1\nuntil = 2\n");
  EXPECT_NE(two.find("w.toml:1:"), std::string::npos) << two;
  EXPECT_NE(two.find("exactly one of site, pool or vendor"), std::string::npos) << two;
  const std::string backwards = Error("[[down]]\nsite = \"a\"\nfrom = 5\nuntil = 2\n");
  EXPECT_NE(backwards.find("w.toml:4:"), std::string::npos) << backwards;
  EXPECT_NE(backwards.find("down[0].until"), std::string::npos) << backwards;
  EXPECT_NE(Error("[[down]]\nsite = \"a\"\nfrom = \"tuesday\"\nuntil = 2\n").find("down[0].from"),
            std::string::npos);
  EXPECT_NE(Error("[[tenants]]\nguarantee = { a = -1 }\n").find("tenants[0]"), std::string::npos);
  EXPECT_NE(Error("[[tenants]]\nid = \"research\"\n[[tenants.grants]]\nid = \"g\"\n")
                .find("tenants[0].grants[0].units"),
            std::string::npos);
  EXPECT_NE(Error("remove_pools = [1]\n").find("remove_pools"), std::string::npos);
  EXPECT_NE(Error("name = \"\"\n").find("name"), std::string::npos);
  EXPECT_NE(Error("[[down]\n").find("w.toml:1:"), std::string::npos);  // TOML syntax
  auto missing = LoadWhatIfFile("/nonexistent/what-if.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
}

TEST(WhatIf, MistakesAgainstTheScenarioNameTheWhatIfsLine) {
  EXPECT_NE(ApplyError("\n\nremove_pools = [\"nope\"]\n").find("w.toml:3: remove_pools"),
            std::string::npos);
  EXPECT_NE(ApplyError("[[resize_pools]]\nid = \"nope\"\nnodes = 2\n")
                .find("w.toml:1: resize_pools: the scenario has no pool 'nope'"),
            std::string::npos);
  EXPECT_NE(ApplyError("[[add_pools]]\nid = \"x\"\nlike = \"nope\"\nnodes = 2\n")
                .find("'like' names no pool"),
            std::string::npos);
  EXPECT_NE(ApplyError("[[add_pools]]\nid = \"south-l4\"\nlike = \"north-b200\"\nnodes = 2\n")
                .find("already has a pool 'south-l4'"),
            std::string::npos);
  EXPECT_NE(ApplyError("[[add_pools]]\nid = \"x\"\nlike = \"north-b200\"\nsite = \"mars\"\n"
                       "nodes = 2\n")
                .find("no site 'mars'"),
            std::string::npos);
  EXPECT_NE(ApplyError("[[add_pools]]\nid = \"x\"\nlike = \"north-b200\"\n"
                       "accelerator = \"TPU\"\nnodes = 2\n")
                .find("no accelerator model 'TPU'"),
            std::string::npos);
  EXPECT_NE(ApplyError("[[tenants]]\nid = \"nobody\"\n").find("no tenant 'nobody'"),
            std::string::npos);
  // Guarantees beyond what is left: the loader's own check, naming the what-if.
  const std::string over = ApplyError("remove_pools = [\"north-b200\"]\n");
  EXPECT_NE(over.find("w.toml applied to scenario 'small'"), std::string::npos) << over;
  // Downs resolve against the changed scenario.
  auto w = ParseWhatIf("[[down]]\nvendor = \"AMD\"\nfrom = 1\nuntil = 2\n", "w.toml");
  ASSERT_TRUE(w.ok());
  auto downs = ResolveDowns(Small(), *w);
  ASSERT_FALSE(downs.ok());
  EXPECT_NE(downs.status().message().find("w.toml:1: down: no pool has an accelerator of vendor"),
            std::string::npos);
}

}  // namespace
}  // namespace sovgrid::scenario
