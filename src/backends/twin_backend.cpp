#include <algorithm>
#include <cmath>
#include <map>

#include "backends/execution_backend.h"

namespace sovgrid::backends {
namespace {

using model::Time;

class TwinBackend final : public ExecutionBackend {
 public:
  explicit TwinBackend(double speedup) : speedup_(speedup > 0 ? speedup : 1) {}
  std::string_view name() const override { return "twin"; }

  Status Accepts(const model::Job& /*job*/) const override { return Status::Ok(); }

  Result<std::string> Start(const model::Job& job, const std::vector<PlacedPart>& /*where*/,
                            Time now) override {
    running_[job.id] = EndOf(job, now);
    return std::string();
  }

  Status Adopt(const model::Job& job, const std::vector<PlacedPart>& /*where*/, Time started_at,
               const std::string& /*handle*/) override {
    // Nothing runs anywhere: the job's end follows from its start alone.
    running_[job.id] = EndOf(job, started_at);
    return Status::Ok();
  }

  void Stop(const std::string& job) override { running_.erase(job); }

  std::vector<Ended> Poll(Time now) override {
    std::vector<Ended> out;
    for (auto it = running_.begin(); it != running_.end();) {
      if (it->second >= 0 && it->second <= now) {
        out.push_back({it->first, false, false, "ran for its stated runtime (twin execution)"});
        it = running_.erase(it);
      } else {
        ++it;
      }
    }
    return out;
  }

  Result<std::string> Logs(const std::string& /*job*/, std::string_view /*stream*/,
                           std::size_t /*offset*/, std::size_t /*limit*/) override {
    return FailedPrecondition("twin execution runs no process and keeps no logs");
  }

 private:
  // -1: runs until stopped.
  Time EndOf(const model::Job& job, Time start) const {
    if (job.runtime_estimate_s <= 0) return -1;
    return start + std::max<Time>(1, static_cast<Time>(std::ceil(
                                         static_cast<double>(job.runtime_estimate_s) / speedup_)));
  }

  double speedup_;
  std::map<std::string, Time> running_;  // ordered: deterministic Poll order
};

}  // namespace

std::unique_ptr<ExecutionBackend> MakeTwinBackend(double speedup) {
  return std::make_unique<TwinBackend>(speedup);
}

}  // namespace sovgrid::backends
