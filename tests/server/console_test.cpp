// The web console as `sovgrid serve` answers it: its files from the binary
// with a strict Content-Security-Policy, and GET /v1/scenario bounded by the
// token's subtree. The console in a real browser: web/e2e (label "browser").
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "testing/daemon.h"

namespace sovgrid {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(ConsoleTest, ServesItsFilesWithAStrictCspAndTheScenarioByToken) {
  const fs::path dir =
      fs::temp_directory_path() / ("sovgrid-console-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  testing::Daemon daemon(
      SOVGRID_BINARY,
      {"serve", "--scenario", std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml",
       "--data-dir", (dir / "data").string(), "--listen", "127.0.0.1:0"},
      (dir / "serve.log").string());
  const int port = daemon.WaitForPort();
  ASSERT_GT(port, 0) << daemon.Log();
  std::string admin;
  std::ifstream(dir / "data" / "admin.token") >> admin;
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(30, 0);

  auto index = client.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  const std::string csp = index->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("default-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_NE(index->body.find("/assets/app.js"), std::string::npos);
  EXPECT_EQ(index->body.find("<script>"), std::string::npos);  // no inline script
  auto app = client.Get("/assets/app.js");
  ASSERT_TRUE(app);
  EXPECT_EQ(app->status, 200);
  EXPECT_EQ(app->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_GT(app->body.size(), 1000U);
  EXPECT_FALSE(app->get_header_value("Content-Security-Policy").empty());
  auto css = client.Get("/assets/style.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  auto missing = client.Get("/assets/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(json::parse(missing->body)["error"]["code"], "not_found");
  auto post = client.Post("/", "", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);

  auto anonymous = client.Get("/v1/scenario");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  const httplib::Headers as_admin = {{"Authorization", "Bearer " + admin}};
  auto all = client.Get("/v1/scenario", as_admin);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->status, 200) << all->body;
  const json sc = json::parse(all->body);
  EXPECT_EQ(sc["token"]["role"], "admin");
  EXPECT_EQ(sc["tenants"].size(), 3U);
  ASSERT_EQ(sc["sites"].size(), 2U);
  EXPECT_EQ(sc["sites"][0]["operator"], "GridCo");
  EXPECT_EQ(sc["sites"][0]["region"], "seoul");
  EXPECT_EQ(sc["sites"][0]["jurisdiction"], "KR");
  EXPECT_EQ(sc["sites"][0]["tier"], 3);

  auto made = client.Post("/v1/tokens", as_admin, R"({"tenant": "acme", "role": "read-only"})",
                          "application/json");
  ASSERT_TRUE(made);
  ASSERT_EQ(made->status, 201) << made->body;
  const std::string acme = json::parse(made->body)["token"];
  auto mine = client.Get("/v1/scenario", {{"Authorization", "Bearer " + acme}});
  ASSERT_TRUE(mine);
  ASSERT_EQ(mine->status, 200) << mine->body;
  const json own = json::parse(mine->body);
  EXPECT_EQ(own["token"]["tenant"], "acme");
  EXPECT_EQ(own["token"]["role"], "read-only");
  ASSERT_EQ(own["tenants"].size(), 1U) << own.dump();  // its own subtree only
  EXPECT_EQ(own["tenants"][0]["id"], "acme");
  EXPECT_EQ(own["tenants"][0]["parent"], "");

  EXPECT_EQ(daemon.Stop(SIGTERM), 0) << daemon.Log();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sovgrid
