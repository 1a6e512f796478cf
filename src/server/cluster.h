// Several daemons on one PostgreSQL store form one control plane
// (docs/deployment.md). The lease row names the leader; this file is the
// request side of it: ClusterFront is what the HTTP server of every daemon
// calls.
//
// Contract:
//  * The leader (a LeaderTerm: its fenced store, its ControlPlane opened from
//    the store as a restarted daemon does, its Api) answers everything itself.
//  * A follower forwards every /v1/* request except GET /v1/cluster to the
//    leader's address from the lease row: same method, path, query, body and
//    Authorization header, with kForwardedHeader added, over plain HTTP; it
//    returns the leader's answer (status, content type, body, Retry-After).
//    So a write is committed by the leader before anyone answers 201. With no
//    leader known, or the leader unreachable, or a forwarded request reaching
//    a daemon that is not the leader: 503 {"error": {"code": "no_leader"}}
//    with Retry-After.
//  * GET /v1/cluster (no token needed) answers {"self", "leader", "role",
//    "epoch"}; /healthz, /readyz (ready only while a leader is known) and
//    /metrics are answered locally.
//  * Thread-safe: the role is swapped under a mutex; a request holds the term
//    it started on (shared_ptr) until it is answered, so stepping down never
//    pulls a ControlPlane from under a request (its writes fail: fenced).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "server/api.h"
#include "server/control_plane.h"
#include "store/postgres_store.h"
#include "store/store.h"

namespace sovgrid::server {

// One leadership: destroyed in reverse order (Api, ControlPlane, store).
struct LeaderTerm {
  std::shared_ptr<store::LeaderFence> fence;  // null: single daemon (SQLite), always leader
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ControlPlane> cp;
  std::unique_ptr<Api> api;
  std::int64_t epoch = 1;
};

struct ClusterView {
  std::string self, leader;  // HOST:PORT; leader "" when none is known
  bool is_leader = false;
  std::int64_t epoch = 0;
};

class ClusterFront final : public RequestHandler {
 public:
  explicit ClusterFront(std::string self) : self_(std::move(self)) {}

  // This daemon leads with `term`.
  void Lead(std::shared_ptr<LeaderTerm> term);
  // This daemon follows `leader` (HOST:PORT, "" when none is known) at
  // `epoch`; a term it held is dropped (once its requests are answered).
  void Follow(const std::string& leader, std::int64_t epoch);
  // The term while leading, else null.
  std::shared_ptr<LeaderTerm> term();
  ClusterView view();
  void set_self(std::string self);

  std::optional<Response> Precheck(const Request& request) override;
  Response Handle(const Request& request) override;

 private:
  Response Forward(const Request& request, const std::string& leader);
  Response Local(const Request& request, const ClusterView& v);

  std::mutex mu_;
  std::string self_;
  std::string leader_;
  std::int64_t epoch_ = 0;
  std::shared_ptr<LeaderTerm> term_;
};

}  // namespace sovgrid::server
