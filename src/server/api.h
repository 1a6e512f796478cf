// The REST API of `sovgrid serve` (docs/api.md): JSON over HTTP under /v1,
// bearer tokens bound to a tenant subtree and a role, every mutating call in
// the audit log. Transport-independent: a Request in, a Response out, so that
// tests call it directly and the HTTP server (http_server.h) only adapts.
//
// Contract:
//  * Never throws and never crashes on any input; malformed JSON, wrong types,
//    unknown fields, unknown ids and invalid state changes are 4xx with
//    {"error": {"code", "message", "field"?, "problems"?}}.
//  * A tenant never sees another tenant's jobs: ids outside the token's
//    subtree answer 404 exactly as ids that do not exist.
//  * Thread-safe (the control plane and the store serialise inside).
//  * Tokens: a valid token's record is kept in memory for at most
//    kTokenCacheTtl after it was read from the store (so that a request does
//    not read the store for its token). A revocation through this Api takes
//    effect at once (its entries are dropped, and a read that raced with the
//    revocation is not kept); one made elsewhere (another daemon's Api while
//    it led, or SQL on the database) within kTokenCacheTtl.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "server/control_plane.h"
#include "store/store.h"

namespace sovgrid::server {

struct Request {
  std::string method;  // "GET", "POST", "DELETE"
  std::string path;    // "/v1/jobs/abc"
  std::map<std::string, std::string> query;
  std::string body;
  std::string authorization;  // the Authorization header ("Bearer ...")
  bool forwarded = false;     // sent on by another daemon (header kForwardedHeader)
};

// The header a follower adds to a request it forwards to the leader: a
// daemon that is not the leader answers such a request 503 instead of
// forwarding it again.
inline constexpr const char* kForwardedHeader = "X-Sovgrid-Forwarded";

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // Further response headers (the console's Content-Security-Policy).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// What the HTTP transport calls (http_server.h): the Api itself, or the
// cluster front (cluster.h) that hands requests to the leader's Api.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // See Api::Precheck and Api::Handle.
  virtual std::optional<Response> Precheck(const Request& request) = 0;
  virtual Response Handle(const Request& request) = 0;
};

// The roles a token may have, most powerful first.
inline constexpr const char* kRoles[] = {"admin", "tenant-admin", "user", "read-only"};

// One route of the API as Api dispatches it (the table is in api.cpp;
// tests/server/server_boundary_test.cpp checks it against docs/api.md and
// openapi.json). A path no route matches, or a known path with another
// method, is 404.
struct ApiRoute {
  std::string method;   // "GET", "POST", "DELETE"
  std::string pattern;  // "/v1/jobs/{id}"; a "{name+}" capture spans one or more segments
  std::string role;     // the least role the token needs, checked first; "": any token
  bool token = true;    // false: answered without a token (/healthz, /readyz, /metrics, OpenAPI)
};
std::vector<ApiRoute> ApiRoutes();

// The OpenAPI 3 document of this API (src/server/openapi.json), served at /v1/openapi.json.
const char* OpenApiJson();

// How long a valid token is taken from the Api's memory without reading the store.
inline constexpr std::chrono::milliseconds kTokenCacheTtl{1000};

// SHA-256 of `secret` in hex: what the store keeps instead of the token.
std::string TokenHash(const std::string& secret);
// A new random secret (256 bits, hex).
std::string NewTokenSecret();

class Api final : public RequestHandler {
 public:
  // `clock` gives the current time (seconds since the Unix epoch).
  Api(ControlPlane* cp, store::Store* store, std::function<model::Time()> clock);

  Response Handle(const Request& request) override;

  // What the transport asks once the request line and headers have arrived,
  // before it reads the body: a Response to send instead (401 for a /v1 call
  // without a valid token, 404 for an unknown path outside /v1), or nullopt
  // when the body should be read and Handle called. `request.body` is ignored.
  // Handle repeats every check, so a transport that skips this stays correct.
  std::optional<Response> Precheck(const Request& request) override;

  // Creates the first admin token when the store has none. Returns its secret,
  // or "" when tokens exist already (also when another daemon sharing the
  // store created it first: only the one that initialised the store has it).
  Result<std::string> BootstrapAdminToken();

  // Drops token `id` from the Api's token cache (after its revocation was
  // committed, or may have been). Thread-safe.
  void ForgetToken(const std::string& id);

 private:
  struct Caller;
  // The caller of a /v1 request, or the response that refuses it.
  std::optional<Response> Authenticate(const Request& r, Caller* c);
  Response Route(const Request& r, const Caller& c);
  // The unrevoked token whose secret hashes to `hash`: from the cache while
  // fresh, else from the store (and then cached). NotFound when there is none.
  Result<store::TokenRecord> FindToken(const std::string& hash);

  ControlPlane* cp_;
  store::Store* store_;
  std::function<model::Time()> clock_;

  struct CachedToken {
    store::TokenRecord token;
    std::chrono::steady_clock::time_point expires;
  };
  std::mutex token_mu_;
  std::unordered_map<std::string, CachedToken> tokens_;  // by hash
  std::uint64_t revocations_ = 0;  // under token_mu_: a read older than one is not cached
};

}  // namespace sovgrid::server
