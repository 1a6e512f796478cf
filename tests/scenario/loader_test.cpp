// Scenario loader: every malformed file gets precise diagnostics, never a crash.
#include "scenario/loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace sovgrid::scenario {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = SOVGRID_SOURCE_DIR;

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Each file in tests/scenario/bad starts with "# expect: <diagnostic without the file name>"
// lines: exactly those diagnostics must come out, in that order.
TEST(ScenarioLoader, EveryBadFileGetsExactlyItsExpectedDiagnostics) {
  int files = 0;
  for (const auto& entry : fs::directory_iterator(kSource / "tests/scenario/bad")) {
    const std::string text = ReadAll(entry.path());
    std::vector<std::string> expected;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("# expect: ", 0) == 0) expected.push_back(line.substr(10));
    }
    const std::string name = entry.path().filename().string();
    ASSERT_FALSE(expected.empty()) << name << " has no '# expect:' line";
    std::vector<Diagnostic> diagnostics;
    auto result = ParseScenario(text, name, &diagnostics);
    ASSERT_FALSE(result.ok()) << name << " was accepted";
    EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
    std::vector<std::string> got;
    for (const auto& d : diagnostics) got.push_back(d.ToString().substr(name.size()));
    EXPECT_EQ(got, expected) << name;
    ++files;
  }
  EXPECT_GE(files, 15);
}

TEST(ScenarioLoader, MissingFileIsAnIoError) {
  auto result = LoadScenarioFile("/nonexistent/grid.toml");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kIoError);
  EXPECT_NE(result.status().message().find("/nonexistent/grid.toml"), std::string::npos);
}

TEST(ScenarioLoader, SmallScenarioLoadsWithResolvedReferences) {
  auto result = LoadScenarioFile((kSource / "scenarios/small.toml").string());
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  const model::Scenario& s = *result;
  EXPECT_EQ(s.name, "small");
  ASSERT_EQ(s.pools.size(), 2u);
  EXPECT_EQ(s.pools[0].site_index, s.FindSite("north"));
  EXPECT_EQ(s.pools[1].accelerator_index, s.FindAccelerator("L4"));
  EXPECT_EQ(s.TotalAccelerators(), 40);  // 4 x 8 B200 + 4 x 2 L4
  EXPECT_EQ(s.CapacityByClass().at("blackwell"), 32);
  EXPECT_EQ(s.policies.preemption_grace_s, 600);
  // Default priority classes apply when the file defines none.
  EXPECT_EQ(s.PriorityValue("critical"), 300);
  ASSERT_EQ(s.tenants[0].grants.size(), 1u);
  EXPECT_EQ(s.tenants[0].grants[0].valid_from, 1798761600);  // 2027-01-01T00:00:00Z
}

// Whatever prefix of a valid file is read, the loader answers without crashing,
// and a rejected prefix always names the file.
TEST(ScenarioLoader, TruncatedFilesNeverCrash) {
  for (const char* name : {"scenarios/small.toml", "scenarios/philly.toml"}) {
    const std::string text = ReadAll(kSource / name);
    ASSERT_FALSE(text.empty()) << name;
    const std::size_t step = std::max<std::size_t>(1, text.size() / 400);
    for (std::size_t cut = 0; cut < text.size(); cut += step) {
      std::vector<Diagnostic> diagnostics;
      auto result = ParseScenario(std::string_view(text).substr(0, cut), "cut.toml", &diagnostics);
      if (!result.ok()) {
        ASSERT_FALSE(diagnostics.empty()) << name << " cut at " << cut;
        for (const auto& d : diagnostics) EXPECT_EQ(d.file, "cut.toml");
      }
    }
  }
}

TEST(ScenarioLoader, BinaryGarbageIsRejectedWithADiagnostic) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 300; ++round) {
    std::string blob(static_cast<std::size_t>(1 + round * 7), '\0');
    for (char& c : blob) c = static_cast<char>(byte(rng));
    std::vector<Diagnostic> diagnostics;
    auto result = ParseScenario(blob, "garbage.bin", &diagnostics);
    EXPECT_FALSE(result.ok());
    EXPECT_FALSE(diagnostics.empty());
  }
}

// Random byte flips in a valid file: accepted or rejected, never a crash.
TEST(ScenarioLoader, MutatedFilesNeverCrash) {
  const std::string text = ReadAll(kSource / "scenarios/small.toml");
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::size_t> pos(0, text.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 500; ++round) {
    std::string mutated = text;
    for (int k = 0; k < 1 + round % 4; ++k) mutated[pos(rng)] = static_cast<char>(byte(rng));
    std::vector<Diagnostic> diagnostics;
    auto result = ParseScenario(mutated, "mutated.toml", &diagnostics);
    EXPECT_EQ(result.ok(), diagnostics.empty());
  }
}

}  // namespace
}  // namespace sovgrid::scenario
