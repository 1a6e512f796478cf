#include "server/cluster.h"

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "server/console.h"

namespace sovgrid::server {
namespace {

using json = nlohmann::json;

Response JsonResponse(int status, const json& body) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response NoLeader(const std::string& why) {
  Response r = JsonResponse(503, {{"error", {{"code", "no_leader"}, {"message", why}}}});
  r.headers.emplace_back("Retry-After", "1");
  return r;
}

bool IsClusterPath(const Request& r) { return r.method == "GET" && r.path == "/v1/cluster"; }
bool IsLocalPath(const Request& r) {
  return r.method == "GET" && (r.path == "/healthz" || r.path == "/readyz" || r.path == "/metrics");
}
bool IsApiPath(const Request& r) { return r.path.rfind("/v1/", 0) == 0; }

}  // namespace

void ClusterFront::Lead(std::shared_ptr<LeaderTerm> term) {
  std::lock_guard lock(mu_);
  leader_ = self_;
  epoch_ = term->epoch;
  term_ = std::move(term);
}

void ClusterFront::Follow(const std::string& leader, std::int64_t epoch) {
  std::shared_ptr<LeaderTerm> old;
  {
    std::lock_guard lock(mu_);
    leader_ = leader == self_ ? std::string() : leader;
    epoch_ = epoch;
    old = std::move(term_);
  }
  // `old` is destroyed here, or by the last request that still holds it.
}

std::shared_ptr<LeaderTerm> ClusterFront::term() {
  std::lock_guard lock(mu_);
  return term_;
}

ClusterView ClusterFront::view() {
  std::lock_guard lock(mu_);
  return {self_, leader_, term_ != nullptr, epoch_};
}

void ClusterFront::set_self(std::string self) {
  std::lock_guard lock(mu_);
  self_ = std::move(self);
  if (term_ != nullptr) leader_ = self_;
}

std::optional<Response> ClusterFront::Precheck(const Request& request) {
  if (IsClusterPath(request)) return std::nullopt;
  if (auto t = term()) return t->api->Precheck(request);
  // A follower reads the body and forwards it: the leader checks the token.
  // The web console's files are the same on every daemon and served here.
  if (IsLocalPath(request) || IsApiPath(request) || IsConsoleRequest(request)) return std::nullopt;
  return JsonResponse(404, {{"error", {{"code", "not_found"}, {"message", "no such path"}}}});
}

Response ClusterFront::Handle(const Request& request) {
  std::shared_ptr<LeaderTerm> t;
  ClusterView v;
  {
    std::lock_guard lock(mu_);
    t = term_;
    v = {self_, leader_, term_ != nullptr, epoch_};
  }
  if (IsClusterPath(request)) {
    return JsonResponse(200, {{"self", v.self},
                              {"leader", v.leader},
                              {"role", v.is_leader ? "leader" : "follower"},
                              {"epoch", v.epoch}});
  }
  if (t != nullptr) {
    Response r = t->api->Handle(request);
    if (request.method == "GET" && request.path == "/metrics" && r.status == 200) {
      r.body +=
          "# HELP sovgrid_leader 1 on the leader, 0 on a follower.\n"
          "# TYPE sovgrid_leader gauge\nsovgrid_leader 1\n"
          "# HELP sovgrid_lease_epoch The leader's epoch.\n"
          "# TYPE sovgrid_lease_epoch gauge\nsovgrid_lease_epoch " +
          std::to_string(v.epoch) + "\n";
    }
    return r;
  }
  if (IsLocalPath(request)) return Local(request, v);
  if (auto page = ConsoleResponse(request)) return *page;
  if (!IsApiPath(request))
    return JsonResponse(404, {{"error", {{"code", "not_found"}, {"message", "no such path"}}}});
  if (request.forwarded) return NoLeader("this daemon is not the leader (forwarded to it)");
  if (v.leader.empty()) return NoLeader("no leader is known; try again shortly");
  return Forward(request, v.leader);
}

Response ClusterFront::Local(const Request& request, const ClusterView& v) {
  if (request.path == "/healthz") return JsonResponse(200, {{"status", "ok"}});
  if (request.path == "/readyz") {
    if (v.leader.empty()) return JsonResponse(503, {{"status", "no_leader"}, {"role", "follower"}});
    return JsonResponse(200, {{"status", "ready"}, {"role", "follower"}, {"leader", v.leader}});
  }
  Response r;
  r.content_type = "text/plain; version=0.0.4";
  r.body =
      "# HELP sovgrid_leader 1 on the leader, 0 on a follower.\n"
      "# TYPE sovgrid_leader gauge\nsovgrid_leader 0\n"
      "# HELP sovgrid_lease_epoch The leader's epoch.\n"
      "# TYPE sovgrid_lease_epoch gauge\nsovgrid_lease_epoch " +
      std::to_string(v.epoch) + "\n";
  return r;
}

Response ClusterFront::Forward(const Request& request, const std::string& leader) {
  httplib::Client client("http://" + leader);
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(65, 0);  // a log follow may wait on the leader
  client.set_write_timeout(30, 0);
  client.set_tcp_nodelay(true);
  client.set_keep_alive(false);
  httplib::Request out;
  out.method = request.method;
  std::string path = request.path;
  char sep = '?';
  for (const auto& [k, v] : request.query) {
    path +=
        sep + httplib::detail::encode_query_param(k) + "=" + httplib::detail::encode_query_param(v);
    sep = '&';
  }
  out.path = path;
  out.body = request.body;
  if (!request.authorization.empty()) out.headers.emplace("Authorization", request.authorization);
  out.headers.emplace(kForwardedHeader, "1");
  if (!request.body.empty() || request.method == "POST")
    out.headers.emplace("Content-Type", "application/json");
  httplib::Result res = client.send(out);
  if (!res) {
    return NoLeader("the leader " + leader + " does not answer (" +
                    httplib::to_string(res.error()) + "); try again shortly");
  }
  Response r;
  r.status = res->status;
  r.body = res->body;
  r.content_type = res->get_header_value("Content-Type");
  if (r.content_type.empty()) r.content_type = "application/json";
  if (res->has_header("Retry-After"))
    r.headers.emplace_back("Retry-After", res->get_header_value("Retry-After"));
  return r;
}

}  // namespace sovgrid::server
