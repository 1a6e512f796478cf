// What the twin's explanations cost (issue 16: at most 10 % of a run's wall
// time): the same korea-2027 synthetic week run with TwinOptions::explain on
// and off, alternated in one process (on, off, then off, on, ...), so that
// both see the same machine load.
//
//   ./build/release/twin_explain [--jobs 250000] [--days 7] [--policy drf]
//                                [--cycle-interval 60] [--rounds 2]
//                                [--scenario scenarios/korea-2027.toml]
//
// Prints each run's wall and CPU time (Simulate, the scheduler's creation
// included), the sums per setting and the ratios on / off. Exits 1 if the two settings
// took different decisions (decisions, cycles, preemptions, finished jobs,
// mean JCT or utilization differ): the switch must not change the schedule.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "scenario/loader.h"
#include "sched/scheduler.h"
#include "traces/synthetic.h"
#include "twin/engine.h"

namespace {

using namespace sovgrid;
using Clock = std::chrono::steady_clock;

// User + system CPU seconds of this process so far: on a shared machine the
// CPU a run takes varies less than its wall time.
double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t jobs = 250'000;
  double days = 7;
  std::string policy = "drf";
  long long cycle_interval = 60;
  int rounds = 2;
  std::string scenario_path = std::string(SOVGRID_SOURCE_DIR) + "/scenarios/korea-2027.toml";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* v = argv[i + 1];
    if (flag == "--jobs") {
      jobs = static_cast<std::size_t>(std::atoll(v));
    } else if (flag == "--days") {
      days = std::atof(v);
    } else if (flag == "--policy") {
      policy = v;
    } else if (flag == "--cycle-interval") {
      cycle_interval = std::atoll(v);
    } else if (flag == "--rounds") {
      rounds = std::atoi(v);
    } else if (flag == "--scenario") {
      scenario_path = v;
    } else {
      std::fprintf(stderr,
                   "usage: twin_explain [--jobs N] [--days D] [--policy P] [--cycle-interval S] "
                   "[--rounds R] [--scenario FILE]\n");
      return 2;
    }
  }
  auto sc = scenario::LoadScenarioFile(scenario_path);
  if (!sc.ok()) {
    std::fprintf(stderr, "error: %s\n", sc.status().ToString().c_str());
    return 1;
  }
  traces::SyntheticOptions so;
  so.jobs = jobs;
  so.days = days;
  auto w = traces::GenerateSynthetic(*sc, so);
  if (!w.ok()) {
    std::fprintf(stderr, "error: %s\n", w.status().ToString().c_str());
    return 1;
  }
  std::printf("%s\n%s, %d rounds, explanations on and off alternated\n", sc->name.c_str(),
              w->description.c_str(), rounds);
  twin::TwinOptions base;
  base.config = sched::SchedulerConfig::FromPolicies(sc->policies);
  base.config.queue_order = policy;
  base.label = policy;
  base.cycle_interval_s = cycle_interval;
  double wall[2] = {0, 0};  // [off, on]
  double cpu[2] = {0, 0};
  std::vector<twin::PolicyResult> first(2);
  bool have[2] = {false, false};
  int rc = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int k = 0; k < 2; ++k) {
      const bool explain = (round % 2 == 0) ? k == 0 : k == 1;  // on, off, off, on, ...
      twin::TwinOptions o = base;
      o.explain = explain;
      const auto t0 = Clock::now();
      const double c0 = CpuSeconds();
      auto r = twin::Simulate(*sc, *w, o);
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      const double c = CpuSeconds() - c0;
      if (!r.ok()) {
        std::fprintf(stderr, "error: %s\n", r.status().ToString().c_str());
        return 1;
      }
      wall[explain] += s;
      cpu[explain] += c;
      std::printf(
          "round %d, explanations %-3s: %8.2f s wall, %8.2f s CPU, scheduler CPU %7.2f s, "
          "%zu cycles, %zu decisions, peak RSS %.0f MB\n",
          round + 1, explain ? "on" : "off", s, c, r->scheduler_cpu_s, r->cycles, r->decisions,
          r->peak_rss_mb);
      std::fflush(stdout);
      if (!have[explain]) {
        first[explain] = std::move(r).value();
        have[explain] = true;
      }
    }
  }
  if (have[0] && have[1]) {
    const twin::PolicyResult& off = first[0];
    const twin::PolicyResult& on = first[1];
    const bool same = off.decisions == on.decisions && off.cycles == on.cycles &&
                      off.preemptions == on.preemptions && off.jobs_finished == on.jobs_finished &&
                      off.mean_jct_s == on.mean_jct_s && off.utilization == on.utilization;
    if (!same) {
      std::printf("DIFFERENT SCHEDULES: decisions %zu / %zu, finished %zu / %zu (on / off)\n",
                  on.decisions, off.decisions, on.jobs_finished, off.jobs_finished);
      rc = 1;
    }
    std::printf(
        "total: on %.2f s, off %.2f s; on / off = %.3f (explanations cost %.1f %% of a "
        "run with them)\n",
        wall[1], wall[0], wall[0] > 0 ? wall[1] / wall[0] : NAN,
        wall[1] > 0 ? 100.0 * (wall[1] - wall[0]) / wall[1] : NAN);
    std::printf("CPU: on %.2f s, off %.2f s; on / off = %.3f (%.1f %% of a run with them)\n",
                cpu[1], cpu[0], cpu[0] > 0 ? cpu[1] / cpu[0] : NAN,
                cpu[1] > 0 ? 100.0 * (cpu[1] - cpu[0]) / cpu[1] : NAN);
  }
  return rc;
}
