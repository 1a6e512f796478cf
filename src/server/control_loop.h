// ControlLoop: the daemon's background work, beside the HTTP server. One
// thread ticks the leader's control plane; with a PostgreSQL store a second
// thread holds the lease that decides which daemon leads (docs/deployment.md).
//
// Contract:
//  * Threads: Start() starts the tick thread and, when a lease is given, the
//    lease thread; nothing runs before Start. The tick thread calls
//    ControlPlane::Tick(clock()) on the ClusterFront's term every
//    cycle_interval_s while this daemon leads, and with a lease only while
//    the lease is held by this daemon's own monotonic clock (the last
//    successful renewal's start + ttl) and its fence is not lost: no tick
//    after the lease may have passed to another daemon.
//  * The lease thread takes or renews the lease every ttl/3. On taking it,
//    it builds a LeaderFence (this daemon's holder id and the new epoch) and
//    calls `open_term` for a term on it (a fenced store, a ControlPlane opened
//    from it as a restart does, an Api), then leads with it (renewing at
//    once, since the restore took time). It steps down (the fence is marked
//    lost, so that requests in flight write nothing more) when the store
//    finds the term fenced, when another daemon holds the lease, or when a
//    renewal did not succeed within the ttl; a follower follows the lease
//    row's address.
//  * Errors never end the threads: a failing tick (the store) or lease round
//    (the database) or a term that cannot be opened is logged on stderr when
//    the failure begins and when it ends, and retried at the next round.
//  * Stop() wakes both threads and waits for them; with a lease it then
//    marks the term's fence lost and releases the lease, so another daemon
//    takes over at once. Idempotent; the destructor calls it. Start and Stop
//    are called by one thread (the daemon's main thread).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "model/scenario.h"
#include "server/cluster.h"
#include "store/postgres_store.h"

namespace sovgrid::server {

struct ControlLoopOptions {
  double cycle_interval_s = 1;  // between ticks
  std::int64_t lease_ttl_ms = 3000;
  std::string self;  // HOST:PORT the other daemons reach this one at (the lease row's address)
};

class ControlLoop {
 public:
  // A term of leadership on `fence`: its store, control plane and Api.
  using OpenTerm =
      std::function<Result<std::shared_ptr<LeaderTerm>>(std::shared_ptr<store::LeaderFence>)>;

  // `front` and `lease` (null: one daemon on SQLite, which always leads with
  // the term `front` already has) must outlive the loop. `clock` gives the
  // time ticks are run at (seconds since the Unix epoch).
  ControlLoop(ClusterFront* front, store::PostgresLease* lease, OpenTerm open_term,
              std::function<model::Time()> clock, ControlLoopOptions options);
  ~ControlLoop();
  ControlLoop(const ControlLoop&) = delete;
  ControlLoop& operator=(const ControlLoop&) = delete;

  void Start();
  void Stop();
  // Whether the lease thread finished its first round (this daemon knows its
  // role, a restore included when it leads); true at once without a lease.
  bool first_round_done() const { return lease_ == nullptr || first_round_; }

 private:
  void TickLoop();
  void LeaseLoop();
  // Stops leading (marks the term's fence lost) and follows `leader` at `epoch`.
  void StepDown(const std::string& why, const std::string& leader, std::int64_t epoch);
  // A term on a new fence at `epoch`, or why not.
  Result<std::shared_ptr<LeaderTerm>> Lead(std::int64_t epoch);

  ClusterFront* front_;
  store::PostgresLease* lease_;
  OpenTerm open_term_;
  std::function<model::Time()> clock_;
  ControlLoopOptions options_;
  std::string holder_;  // this daemon's id in the lease row

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::atomic<bool> first_round_{false};
  // While leading on PostgreSQL: the monotonic time (ns) until which the lease is ours.
  std::atomic<std::int64_t> valid_until_ns_{0};
  std::int64_t held_ = 0;  // the epoch this daemon leads at, 0 when following (lease thread)
  std::thread ticker_, leaser_;
};

}  // namespace sovgrid::server
