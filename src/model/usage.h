// Usage records: who used which accelerators, where, when and against which
// grant. The accounting unit of the daemon's store and of the twin's report.
#pragma once

#include <cstdint>
#include <string>

#include "model/scenario.h"

namespace sovgrid::model {

constexpr Duration kSecondsPerDay = 86400;
// The UTC day of `t` (days since 1970-01-01), rounding down before 1970 too.
constexpr std::int64_t DayOf(Time t) {
  return t >= 0 ? t / kSecondsPerDay : (t - kSecondsPerDay + 1) / kSecondsPerDay;
}

// One piece of a run segment: one job part on one pool, inside one UTC day
// and one grant window. A run segment (from a start to the finish, failure,
// preemption, cancel or requeue that ends it) becomes one record per pool it
// ran on, per UTC day and per change of the grant it is charged to; a job
// preempted and resumed has a segment per run.
struct UsageRecord {
  std::string job;          // the job's id (the daemon's "TENANT/NAME", or the twin's id)
  std::string tenant;       // Tenant::id the job belongs to
  std::string grant_holder; // Tenant::id that holds the grant charged; "" = no grant
  std::string grant;        // Grant::id charged; "" = none applies (see accounting.h)
  std::string pool, site, operator_name, model;
  Milli milli = 0;  // accelerators held on this pool, in thousandths
  Time start = 0;   // [start, end), seconds since the Unix epoch, within one UTC day
  Time end = 0;
  double accelerator_seconds = 0;  // milli / 1000 x (end - start)
  double charged_units = 0;        // accelerator-hours x the model's charge_rate
  double energy_kwh = 0;           // the model's board power x accelerators x hours
  // Work lost when the segment ended by preemption, failure or requeue (on the
  // record that holds the segment's end; 0 elsewhere), in accelerator-seconds.
  double lost_accelerator_seconds = 0;
  std::string end_reason;  // "finished", "failed", "cancelled", "preempted", "requeued", "running"
  bool job_ended = false;  // the job ended with this record's segment (counts the job once)

  std::int64_t day() const { return DayOf(start); }
};

}  // namespace sovgrid::model
