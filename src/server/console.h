// The web console (web/, docs/console.md): its bundled files, compiled into
// the binary, answered at GET / and GET /assets/* outside /v1 with a strict
// Content-Security-Policy; and GET /v1/scenario, the scenario facts the
// console shows (sites with operator, region, jurisdiction and tier; pools;
// the tenant tree the token may see; the token's own role).
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

#include "model/scenario.h"
#include "server/api.h"

namespace sovgrid::server {

struct ConsoleAsset {
  const char* path;          // "/" or "/assets/app.js"
  const char* content_type;  // "text/javascript; charset=utf-8"
  const unsigned char* data;
  std::size_t size;
};

// Generated at build time by web/build.mjs from the bundled console.
std::span<const ConsoleAsset> ConsoleAssets();

// The Content-Security-Policy of every console response: nothing from another
// host, no inline script, no eval.
inline constexpr const char* kConsoleCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'";

// True for the requests the console answers (GET or HEAD of / and /assets/*).
bool IsConsoleRequest(const Request& r);

// The console's file for `r` (404 JSON for an unknown /assets/ name), or
// nullopt when `r` is not a console request.
std::optional<Response> ConsoleResponse(const Request& r);

// GET /v1/scenario for a token bound to `tenant` (-1: the whole tree) with
// `role`: sites, pools, the visible tenants with their quotas, priority
// classes, accelerator models and datasets.
nlohmann::json ScenarioJson(const model::Scenario& sc, int tenant, const std::string& token_id,
                            const std::string& role);

}  // namespace sovgrid::server
