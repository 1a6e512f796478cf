// The server's typed boundary: job states, health and administrators'
// settings have one spelling in text each, read back exactly; Status carries
// the field a failure is about.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "server/admin_settings.h"
#include "server/api.h"
#include "server/states.h"

namespace sovgrid::server {
namespace {

TEST(ServerBoundary, JobStatesRoundTrip) {
  std::set<std::string> names;
  for (const JobState s : kAllJobStates) {
    const std::string name(JobStateName(s));
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(ParseJobState(name), s) << name;
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"pending", "running", "finished", "failed", "cancelled"}));
  for (const char* other : {"", "Pending", "done", "pending "})
    EXPECT_FALSE(ParseJobState(other)) << other;
}

TEST(ServerBoundary, HealthRoundTrip) {
  std::set<std::string> names;
  for (const Health h : kAllHealths) {
    const std::string name(HealthName(h));
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(ParseHealth(name), h) << name;
    EXPECT_EQ(FromSiteState(ToSiteState(h)), h) << name;
    EXPECT_EQ(model::SiteStateName(ToSiteState(h)), name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"up", "draining", "down"}));
  EXPECT_FALSE(ParseHealth("sideways"));
  // Ordered best to worst: the scheduler gets the worse of two views (std::max).
  EXPECT_LT(Health::kUp, Health::kDraining);
  EXPECT_LT(Health::kDraining, Health::kDown);
}

TEST(ServerBoundary, HealthTargetKeysRoundTrip) {
  const HealthTarget node{HealthTarget::Kind::kNode, "pool-a/n00012"};
  const HealthTarget site{HealthTarget::Kind::kSite, "seoul"};
  EXPECT_EQ(HealthTargetKey(node), "node:pool-a/n00012");
  EXPECT_EQ(HealthTargetKey(site), "site:seoul");
  EXPECT_EQ(ParseHealthTargetKey(HealthTargetKey(node)), node);
  EXPECT_EQ(ParseHealthTargetKey(HealthTargetKey(site)), site);
  for (const char* other : {"node:", "quota:research", "nodes:x", "x"})
    EXPECT_FALSE(ParseHealthTargetKey(other)) << other;
}

TEST(ServerBoundary, SettingsRoundTripThroughTheirStoreRow) {
  const std::vector<AdminSetting> settings = {
      HealthSetting{{HealthTarget::Kind::kNode, "pool-a/n00001"}, Health::kDraining},
      HealthSetting{{HealthTarget::Kind::kSite, "busan"}, Health::kDown},
      QuotaSetting{"research", {{"blackwell", 64}}, {}, {{"hopper", 8}, {"blackwell", 0}}},
      GrantsSetting{"research",
                    {{"g1", 1000.5, 1700000000, 1800000000, ""}, {"g2", 0, 1, 2, "blackwell"}}},
      GrantsSetting{"startup", {}},
  };
  for (const AdminSetting& s : settings) {
    const std::string key = SettingKey(s), value = SettingValueJson(s);
    auto back = SettingFromStored(key, value);
    ASSERT_TRUE(back.ok()) << key << " " << value << ": " << back.status().ToString();
    EXPECT_TRUE(*back == s) << key << " " << value;
    EXPECT_EQ(SettingKey(*back), key);
    EXPECT_EQ(SettingValueJson(*back), value);
  }
  // The rows as every earlier daemon wrote them still read.
  auto quota = SettingFromStored("quota:research", R"({"guarantee": {"blackwell": 4}})");
  ASSERT_TRUE(quota.ok()) << quota.status().ToString();
  EXPECT_EQ(std::get<QuotaSetting>(*quota).guarantee, (model::ClassAmounts{{"blackwell", 4}}));
  auto node = SettingFromStored("node:p/n1", R"({"state": "down"})");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(std::get<HealthSetting>(*node).state, Health::kDown);
  // Rows that do not read.
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"node:p/n1", R"({"state": "sideways"})"},
           {"site:x", R"({"state": 3})"},
           {"quota:t", R"({"guarantee": {"blackwell": -1}})"},
           {"grants:t", R"({})"},
           {"colour:t", R"({})"},
           {"nokind", R"({})"},
           {"quota:t", "not json"}}) {
    EXPECT_FALSE(SettingFromStored(key, value).ok()) << key << " " << value;
  }
}

TEST(ServerBoundary, ReadersNameTheFieldInTheStatus) {
  auto amounts =
      ClassAmountsFromJson(nlohmann::json::parse(R"({"blackwell": "many"})"), "$.guarantee");
  ASSERT_FALSE(amounts.ok());
  EXPECT_EQ(amounts.status().field(), "$.guarantee.blackwell");
  EXPECT_EQ(amounts.status().message().rfind("$.guarantee.blackwell: ", 0), 0U);
  auto grants = GrantsFromJson(nlohmann::json::parse(
      R"([{"id": "g", "accelerator_hours": 1, "valid_from": 5, "valid_until": 2}])"));
  ASSERT_FALSE(grants.ok());
  EXPECT_EQ(grants.status().field(), "$.grants[0].valid_until");
}

TEST(ServerBoundary, StatusFieldPaths) {
  EXPECT_EQ(JoinFieldPath("jobs[3]", "tenant"), "jobs[3].tenant");
  EXPECT_EQ(JoinFieldPath("$.jobs", "[3].tenant"), "$.jobs[3].tenant");
  EXPECT_EQ(JoinFieldPath("$", ""), "$");
  EXPECT_EQ(JoinFieldPath("", "tenant"), "tenant");
  const Status s = InvalidArgument("job.tenant: unknown").WithField("tenant");
  EXPECT_EQ(s.field(), "tenant");
  EXPECT_EQ(Status(s).WithFieldPrefix("jobs[2]").field(), "jobs[2].tenant");
  EXPECT_EQ(InvalidArgument("x").WithFieldPrefix("jobs[2]").field(), "jobs[2]");
  EXPECT_EQ(Status::Ok().WithFieldPrefix("jobs[2]").field(), "");
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: job.tenant: unknown");  // the message is unchanged
}

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(SOVGRID_SOURCE_DIR) + "/" + relative);
  EXPECT_TRUE(in.good()) << relative;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// "METHOD /path/{capture}", with a {capture+} written as {capture}.
std::set<std::string> TableRoutes(bool token) {
  std::set<std::string> out;
  for (const ApiRoute& r : ApiRoutes()) {
    if (r.token != token) continue;
    const std::string pattern = std::regex_replace(r.pattern, std::regex(R"(\+\})"), "}");
    EXPECT_TRUE(out.insert(r.method + " " + pattern).second) << "twice: " << r.pattern;
  }
  return out;
}

// Served beside the Api's table: the web console (console.h) and the cluster
// front's own answer (cluster.h).
const std::set<std::string> kOutsideTheTable = {"GET /", "GET /assets/*", "GET /v1/cluster"};

TEST(ServerBoundary, EveryRouteIsDocumentedAndEveryDocumentedRouteIsRouted) {
  std::set<std::string> routes = TableRoutes(true);
  for (const auto& r : TableRoutes(false)) routes.insert(r);
  // docs/api.md: the rows of the "Endpoints" table, each naming `METHOD /path?query`.
  std::set<std::string> documented;
  std::istringstream doc(ReadSource("docs/api.md"));
  const std::regex kRoute(R"(`(GET|POST|DELETE|PUT|PATCH) (/[^`?]*)(\?[^`]*)?`)");
  for (std::string line; std::getline(doc, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const std::string first_cell = line.substr(0, line.find(" | ", 2));
    for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), kRoute), end; it != end;
         ++it) {
      documented.insert((*it)[1].str() + " " + (*it)[2].str());
    }
  }
  std::set<std::string> expected_doc = routes;
  expected_doc.insert(kOutsideTheTable.begin(), kOutsideTheTable.end());
  EXPECT_EQ(documented, expected_doc) << "docs/api.md's endpoint table and the route table differ";
  // openapi.json: every path and method.
  const auto openapi = nlohmann::json::parse(ReadSource("src/server/openapi.json"));
  std::set<std::string> specified;
  for (const auto& [path, methods] : openapi.at("paths").items()) {
    for (const auto& [method, op] : methods.items()) {
      std::string m = method;
      for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (m == "GET" || m == "POST" || m == "DELETE" || m == "PUT" || m == "PATCH")
        specified.insert(m + " " + path);
    }
  }
  std::set<std::string> expected_spec = routes;
  expected_spec.insert("GET /v1/cluster");
  EXPECT_EQ(specified, expected_spec) << "openapi.json's paths and the route table differ";
  // The roles are the API's.
  for (const ApiRoute& r : ApiRoutes()) {
    if (r.role.empty()) continue;
    EXPECT_NE(std::find(std::begin(kRoles), std::end(kRoles), r.role), std::end(kRoles)) << r.role;
    EXPECT_TRUE(r.token) << r.pattern;
  }
}

}  // namespace
}  // namespace sovgrid::server
