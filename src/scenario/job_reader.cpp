#include "scenario/job_reader.h"

#include <cmath>
#include <limits>

namespace sovgrid::scenario {

void ReadJob(TableReader& r, model::Job* job) {
  // Durations and runtimes: at most 10 years (docs/scheduler.md, "Limits").
  constexpr std::int64_t kMaxSeconds = 315'576'000;  // 10 x 365.25 days
  r.String("id", &job->id, Presence::kRequired);
  r.String("tenant", &job->tenant, Presence::kRequired);
  std::string kind;
  if (r.String("kind", &kind)) {
    if (auto k = model::ParseJobKind(kind)) {
      job->kind = *k;
    } else {
      r.Report("kind", "expected one of train, finetune, batch, service, found '" + kind + "'");
    }
  }
  r.Int("accelerators", &job->accelerators, 1, 1'000'000);
  double fraction = 0;
  if (r.Double("fraction", &fraction, 0.001, 1.0)) {
    job->accelerator_milli = static_cast<model::Milli>(std::lround(fraction * 1000.0));
  }
  r.Int("accelerators_per_node", &job->accelerators_per_node, 0, 1024);
  r.StringList("models", &job->accepted_models);
  r.Bool("gang", &job->gang);
  r.StringList("datasets", &job->datasets);
  r.String("priority", &job->priority_class);
  r.Bool("preemptible", &job->preemptible);
  r.Int("checkpoint_s", &job->checkpoint_interval_s, 0, kMaxSeconds);
  r.Int("runtime_s", &job->runtime_estimate_s, 0, kMaxSeconds);
  r.Time("deadline", &job->deadline);
  r.Time("submit", &job->submit_time);
  r.Int("replicas", &job->replicas, 1, 100'000);
  r.DoubleMap("latency_ms", &job->latency_slo_ms);
  r.String("command", &job->command);
}

}  // namespace sovgrid::scenario
