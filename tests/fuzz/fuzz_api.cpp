// The HTTP API as a whole: server::Api::Handle with a real ControlPlane on
// scenarios/small.toml, the twin execution backend and a SQLite store in a
// directory under /dev/shm. (An in-memory store may come later; this target
// should then use it and drop the directory.)
//
// Input layout, so that the fuzzer reaches deep rather than dying at routing:
//   byte 0   endpoint: an index into kEndpoints (method + path template)
//   byte 1   authorization: admin token, a tenant user token (research),
//            none, or garbage; bit 7 set: tick the control plane afterwards
//   byte 2   minutes of virtual time that pass before the request
//   then     ARG '\n' QUERY '\n' BODY
// ARG replaces "{}" in the path (or is the whole path for the raw endpoint;
// capped at 8192 bytes like cpp-httplib's request line), QUERY is "k=v&k=v".
// The world (store, control plane) is rebuilt every kRunsPerWorld inputs so
// that state, and the store's size, stay bounded over long runs.
//
// Checks: Handle never throws and never crashes, every response is JSON (or
// the /metrics text) with a status in 200..599.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <system_error>

#include "backends/execution_backend.h"
#include "common/json_limits.h"
#include "fuzz_util.h"
#include "server/api.h"
#include "server/control_plane.h"
#include "store/store.h"

namespace {

using sovgrid::model::Time;

struct Endpoint {
  const char* method;
  const char* path;  // "{}" is replaced by ARG (or by `fallback` when ARG is empty)
  const char* fallback;
};

constexpr Endpoint kEndpoints[] = {
    {"POST", "/v1/jobs", ""},
    {"POST", "/v1/jobs:batch", ""},
    {"GET", "/v1/jobs", ""},
    {"GET", "/v1/jobs/{}", "j1"},
    {"DELETE", "/v1/jobs/{}", "j1"},
    {"POST", "/v1/jobs/{}/cancel", "j1"},
    {"GET", "/v1/jobs/{}/logs", "j1"},
    {"GET", "/v1/grid", ""},
    {"POST", "/v1/tokens", ""},
    {"GET", "/v1/tokens", ""},
    {"DELETE", "/v1/tokens/{}", "tok-x"},
    {"GET", "/v1/tenants/{}/usage", "research"},
    {"POST", "/v1/admin/nodes/{}/state", "north-b200/0"},
    {"POST", "/v1/admin/sites/{}/state", "north"},
    {"POST", "/v1/admin/tenants/{}/quota", "research"},
    {"POST", "/v1/admin/tenants/{}/grants", "startup"},
    {"GET", "/v1/audit", ""},
    {"GET", "/healthz", ""},
    {"GET", "/readyz", ""},
    {"GET", "/metrics", ""},
    {"GET", "/v1/openapi.json", ""},
    {"GET", "{}", "/v1/grid"},        // raw path, GET
    {"POST", "{}", "/v1/jobs"},       // raw path, POST
    {"DELETE", "{}", "/v1/jobs/j1"},  // raw path, DELETE
};
constexpr std::size_t kEndpointCount = sizeof(kEndpoints) / sizeof(kEndpoints[0]);
constexpr int kRunsPerWorld = 2000;
constexpr std::size_t kMaxPath = 8192;

class World {
 public:
  World() : dir_(sovgrid::fuzz::MakeTempDir("api")) {
    auto store = sovgrid::store::OpenSqliteStore(dir_);
    if (!store.ok()) std::abort();
    store_ = std::move(store).value();
    auto cp = sovgrid::server::ControlPlane::Open(sovgrid::fuzz::SmallScenario(), store_.get(),
                                                  sovgrid::backends::MakeTwinBackend(1.0), now_);
    if (!cp.ok()) std::abort();
    cp_ = std::move(cp).value();
    api_ = std::make_unique<sovgrid::server::Api>(cp_.get(), store_.get(), [this] { return now_; });
    auto admin = api_->BootstrapAdminToken();
    if (!admin.ok() || admin->empty()) std::abort();
    admin_ = "Bearer " + *admin;
    // A tenant user's token, made through the API like a client would.
    sovgrid::server::Request r{
        "POST", "/v1/tokens", {}, R"({"tenant":"research","role":"user"})", admin_};
    const auto created = api_->Handle(r);
    auto body = sovgrid::ParseJsonBounded(created.body);
    if (created.status != 201 || !body.ok()) std::abort();
    user_ = "Bearer " + (*body)["token"].get<std::string>();
    if (!cp_->Tick(now_).ok()) std::abort();
  }
  ~World() {
    api_.reset();
    cp_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  sovgrid::server::Api& api() { return *api_; }
  sovgrid::server::ControlPlane& cp() { return *cp_; }
  const std::string& admin() const { return admin_; }
  const std::string& user() const { return user_; }
  Time now() const { return now_; }
  void Advance(Time seconds) { now_ += seconds; }

 private:
  std::string dir_;
  Time now_ = sovgrid::fuzz::SmallScenario().epoch;
  std::unique_ptr<sovgrid::store::Store> store_;
  std::unique_ptr<sovgrid::server::ControlPlane> cp_;
  std::unique_ptr<sovgrid::server::Api> api_;
  std::string admin_, user_;
};

std::unique_ptr<World>& TheWorld() {
  static std::unique_ptr<World> world;
  return world;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Destroyed before the scratch directories' atexit handlers run.
  std::atexit([] { TheWorld().reset(); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static int runs = 0;
  auto& world = TheWorld();
  if (!world || ++runs % kRunsPerWorld == 0) {
    world.reset();
    world = std::make_unique<World>();
  }
  if (size < 3) return 0;
  const Endpoint& e = kEndpoints[data[0] % kEndpointCount];
  const int auth = data[1] & 3;
  const bool tick = (data[1] & 0x80) != 0;
  world->Advance(Time{data[2]} * 60);
  std::string_view rest = sovgrid::fuzz::AsText(data + 3, size - 3);
  auto line = [&rest] {
    const auto nl = rest.find('\n');
    const std::string_view l = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return l;
  };
  const std::string_view arg = line();
  const std::string_view query = line();

  sovgrid::server::Request r;
  r.method = e.method;
  r.path = e.path;
  if (const auto at = r.path.find("{}"); at != std::string::npos)
    r.path.replace(at, 2, arg.empty() ? std::string_view(e.fallback) : arg);
  if (r.path.size() > kMaxPath) r.path.resize(kMaxPath);
  for (std::string_view q = query; !q.empty();) {
    const auto amp = q.find('&');
    const std::string_view kv = q.substr(0, amp);
    const auto eq = kv.find('=');
    r.query[std::string(kv.substr(0, eq))] =
        eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
  }
  r.body = std::string(rest);
  switch (auth) {
    case 0:
      r.authorization = world->admin();
      break;
    case 1:
      r.authorization = world->user();
      break;
    case 2:
      break;
    default:
      r.authorization = "Bearer " + std::string(arg);
      break;
  }

  (void)world->api().Precheck(r);
  const sovgrid::server::Response resp = world->api().Handle(r);
  Check(resp.status >= 200 && resp.status <= 599);
  if (resp.content_type == "application/json") {
    Check(sovgrid::ParseJsonBounded(resp.body).ok());  // every JSON answer is JSON
  }
  if (tick) (void)world->cp().Tick(world->now());
  return 0;
}
