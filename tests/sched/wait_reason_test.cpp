// Wait codes' stable names and report clauses come from one table.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "sched/decision.h"

namespace sovgrid::sched {
namespace {

TEST(WaitCodeText, EveryCodeHasAUniqueNameThatReadsBackAndASummary) {
  std::set<std::string> names;
  for (int c = 0; c <= static_cast<int>(WaitCode::kNoQpu); ++c) {
    const auto code = static_cast<WaitCode>(c);
    const std::string_view name = WaitCodeName(code);
    EXPECT_NE(name, "unknown") << c;
    EXPECT_TRUE(names.insert(std::string(name)).second) << name;
    ASSERT_TRUE(WaitCodeFromName(name).has_value()) << name;
    EXPECT_EQ(*WaitCodeFromName(name), code) << name;
    EXPECT_FALSE(WaitCodeSummary(code).empty()) << name;
  }
  EXPECT_EQ(WaitCodeName(WaitCode::kGrantInactive), "grant_inactive");
  EXPECT_EQ(WaitCodeSummary(WaitCode::kGrantSpent), "its grant was spent");
  EXPECT_FALSE(WaitCodeFromName("running").has_value());
  EXPECT_FALSE(WaitCodeFromName("").has_value());
}

}  // namespace
}  // namespace sovgrid::sched
