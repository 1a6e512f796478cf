#include "server/control_loop.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <random>
#include <utility>

namespace sovgrid::server {
namespace {

std::int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ControlLoop::ControlLoop(ClusterFront* front, store::PostgresLease* lease, OpenTerm open_term,
                         std::function<model::Time()> clock, ControlLoopOptions options)
    : front_(front),
      lease_(lease),
      open_term_(std::move(open_term)),
      clock_(std::move(clock)),
      options_(std::move(options)) {
  std::random_device rd;
  holder_ = options_.self + "/" + std::to_string(::getpid()) + "/" +
            std::to_string(std::uniform_int_distribution<std::uint64_t>()(rd));
}

ControlLoop::~ControlLoop() { Stop(); }

void ControlLoop::Start() {
  ticker_ = std::thread([this] { TickLoop(); });
  if (lease_ != nullptr) leaser_ = std::thread([this] { LeaseLoop(); });
}

void ControlLoop::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  if (leaser_.joinable()) leaser_.join();
}

void ControlLoop::TickLoop() {
  const auto interval = std::chrono::duration<double>(options_.cycle_interval_s);
  std::unique_lock lock(mu_);
  std::string last_error;  // logged when it changes, not at every tick
  while (!stopping_) {
    lock.unlock();
    std::shared_ptr<LeaderTerm> term = front_->term();
    const bool leading =
        term != nullptr &&
        (term->fence == nullptr || (!term->fence->lost && MonotonicNs() < valid_until_ns_));
    if (leading) {
      const Status s = term->cp->Tick(clock_());
      if (!s.ok() && s.message() != last_error) {
        std::cerr << "sovgrid serve: cycle: " << s.message()
                  << " (no job starts until commits succeed again)" << std::endl;
      } else if (s.ok() && !last_error.empty()) {
        std::cerr << "sovgrid serve: cycle: commits succeed again; scheduling resumed" << std::endl;
      }
      last_error = s.ok() ? std::string() : s.message();
      // The queue summary, counted here (at most once a second, while
      // someone reads it) so that its readers never wait for the count.
      term->cp->RefreshPendingSummary(clock_());
    }
    term.reset();
    lock.lock();
    cv_.wait_for(lock, interval, [&] { return stopping_; });
  }
}

void ControlLoop::StepDown(const std::string& why, const std::string& leader, std::int64_t epoch) {
  if (auto t = front_->term()) {
    t->fence->lost = true;  // its store writes nothing more, even from requests in flight
    std::cout << "sovgrid serve: stepping down from epoch " << t->epoch << ": " << why << std::endl;
  }
  front_->Follow(leader, epoch);
  held_ = 0;
}

Result<std::shared_ptr<LeaderTerm>> ControlLoop::Lead(std::int64_t epoch) {
  auto fence = std::make_shared<store::LeaderFence>();
  fence->holder = holder_;
  fence->epoch = epoch;
  fence->idle_transaction_timeout_ms = options_.lease_ttl_ms;
  auto term = open_term_(fence);
  if (!term.ok()) return term.status();
  (*term)->epoch = epoch;
  (*term)->fence = std::move(fence);
  return term;
}

void ControlLoop::LeaseLoop() {
  const std::int64_t ttl_ms = options_.lease_ttl_ms;
  const std::string& self = options_.self;
  std::string last_error;
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    const std::int64_t t0 = MonotonicNs();
    bool renew_now = false;  // just started leading: renew at once (the restore took time)
    if (auto t = front_->term(); t != nullptr && t->fence->lost)
      StepDown("fenced: another daemon leads", "", t->epoch);
    auto r = lease_->TakeOrRenew(holder_, self, held_, ttl_ms);
    if (!r.ok()) {
      if (r.status().message() != last_error)
        std::cerr << "sovgrid serve: lease: " << r.status().message() << std::endl;
      last_error = r.status().message();
      // Not renewed within the ttl by this daemon's own clock: another may lead by now.
      if (auto t = front_->term(); t != nullptr && t0 >= valid_until_ns_)
        StepDown("the lease was not renewed within its ttl", "", t->epoch);
    } else {
      if (!last_error.empty()) std::cerr << "sovgrid serve: lease: answering again" << std::endl;
      last_error.clear();
      if (r->taken) {
        valid_until_ns_ = t0 + ttl_ms * 1000000;
        if (held_ != r->epoch || front_->term() == nullptr) {
          if (held_ != r->epoch && front_->term() != nullptr)
            StepDown("a new epoch", self, r->epoch);
          held_ = r->epoch;
          std::cout << "sovgrid serve: took the lease at epoch " << held_
                    << "; opening the control plane from the store" << std::endl;
          // Lead: a fenced store and a ControlPlane opened from it, as a restart does.
          auto term = Lead(held_);
          if (term.ok()) {
            front_->Lead(std::move(term).value());
            std::cout << "sovgrid serve: leader at epoch " << held_ << std::endl;
            renew_now = true;
          } else {
            // Still holding the lease: the next round tries again.
            std::cerr << "sovgrid serve: cannot lead at epoch " << held_ << ": "
                      << term.status().message() << std::endl;
          }
        }
      } else {
        if (front_->term() != nullptr) StepDown("another daemon holds the lease", "", 0);
        held_ = 0;
        front_->Follow(r->live ? r->address : "", r->epoch);
      }
    }
    first_round_ = true;
    lock.lock();
    if (!renew_now) {
      cv_.wait_for(lock, std::chrono::milliseconds(std::max<std::int64_t>(ttl_ms / 3, 50)),
                   [&] { return stopping_; });
    }
  }
  lock.unlock();
  // A clean stop hands the lease on at once.
  if (auto t = front_->term()) {
    t->fence->lost = true;
    (void)lease_->Release(holder_, t->epoch);
  }
}

}  // namespace sovgrid::server
