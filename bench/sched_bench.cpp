// Scheduler benchmarks on korea-2027 (the scale targets):
//   * one full cycle with 100,000 pending mixed jobs (target <= 100 ms, one core);
//   * amortised time per placement decision (target <= 5 us);
//   * scheduler memory per pending job (target <= 1 KiB).
// Run: ./build/release/sched_bench [--benchmark_filter=...]
// Figures and the machine they came from are recorded in docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdio>
#include <random>
#include <string>

#include "scenario/loader.h"
#include "sched/scheduler.h"

namespace sovgrid {
namespace {

const model::Scenario& Korea() {
  static const model::Scenario* s = [] {
    auto r =
        scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/korea-2027.toml");
    if (!r.ok()) {
      std::fprintf(stderr, "%s\n", r.status().ToString().c_str());
      std::abort();
    }
    return new model::Scenario(std::move(r).value());
  }();
  return *s;
}

// Bytes currently allocated on the heap (glibc), exact unlike the resident set.
double HeapBytes() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<double>(m.uordblks + m.hblkhd);  // small chunks + mmapped blocks
}

// A national mix: many small jobs, some whole boards, a few large gangs,
// fractional inference, datasets with residency rules, several priorities.
std::vector<model::Job> MixedJobs(const model::Scenario& s, int n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<std::uint64_t>(k)); };
  std::vector<int> leaves;
  for (std::size_t t = 0; t < s.tenants.size(); ++t) {
    bool leaf = true;
    for (const auto& o : s.tenants) leaf = leaf && o.parent != s.tenants[t].id;
    if (leaf) leaves.push_back(static_cast<int>(t));
  }
  std::vector<model::Job> jobs;
  jobs.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    model::Job j;
    j.id = "job-" + std::to_string(i);
    const int t = leaves[static_cast<std::size_t>(pick(static_cast<int>(leaves.size())))];
    j.tenant = s.tenants[t].id;
    const int r = pick(100);
    if (r < 10) {
      j.kind = model::JobKind::kService;
      j.accelerator_milli = 100 * (1 + pick(9));
    } else if (r < 45) {
      j.accelerators = 1;
    } else if (r < 65) {
      j.accelerators = 2 << pick(2);
    } else if (r < 88) {
      j.accelerators = 8;
    } else if (r < 98) {
      j.accelerators = 16 << pick(3);
      j.accelerators_per_node = 8;
      j.kind = model::JobKind::kTrain;
    } else {
      j.accelerators = 256 << pick(3);
      j.accelerators_per_node = 8;
      j.kind = model::JobKind::kTrain;
    }
    if (pick(4) == 0) j.accepted_models = {pick(2) == 0 ? "B200" : "GB200"};
    if (pick(5) == 0) {
      for (const auto& d : s.datasets) {
        bool ok = d.tenants.empty();
        for (const auto& a : d.tenants) ok = ok || s.InSubtree(t, s.FindTenant(a));
        if (ok) {
          j.datasets.push_back(d.id);
          break;
        }
      }
    }
    static const char* kPriorities[] = {"low", "normal", "normal", "normal", "high"};
    j.priority_class = kPriorities[pick(5)];
    j.runtime_estimate_s = 600 + pick(48) * 1800;
    j.checkpoint_interval_s = 1800;
    j.submit_time = s.epoch + i / 10;
    jobs.push_back(std::move(j));
  }
  return jobs;
}

std::unique_ptr<sched::Scheduler> MakeScheduler(const std::string& order) {
  const model::Scenario& s = Korea();
  sched::SchedulerConfig config = sched::SchedulerConfig::FromPolicies(s.policies);
  config.queue_order = order;
  return std::move(sched::Scheduler::Create(s, config)).value();
}

// The first cycle over 100,000 pending jobs on an empty grid: it fills the
// grid and leaves the rest pending with reasons.
void BM_FirstCycle100kPending(benchmark::State& state, const std::string& order) {
  const auto jobs = MixedJobs(Korea(), 100'000, 42);
  std::size_t decisions = 0;
  std::size_t started = 0;
  std::size_t hits = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto s = MakeScheduler(order);
    for (const auto& j : jobs) {
      if (!s->Submit(j).ok()) std::abort();
    }
    state.ResumeTiming();
    auto result = s->RunCycle(Korea().epoch + 10'000);
    decisions = result.stats.considered;
    started = result.stats.started;
    hits = result.stats.equivalence_hits;
    benchmark::DoNotOptimize(result);
    state.PauseTiming();
    s.reset();
    state.ResumeTiming();
  }
  state.counters["jobs_considered"] = static_cast<double>(decisions);
  state.counters["started"] = static_cast<double>(started);
  state.counters["equivalence_hits"] = static_cast<double>(hits);
  state.counters["us_per_decision"] =
      benchmark::Counter(static_cast<double>(decisions) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Steady state: the grid is full, 100,000 jobs pending; 1% of the running
// jobs finish between cycles and the cycle refills the gap.
void BM_SteadyCycle100kPending(benchmark::State& state, const std::string& order) {
  const model::Scenario& k = Korea();
  auto s = MakeScheduler(order);
  auto jobs = MixedJobs(k, 200'000, 7);
  for (const auto& j : jobs) {
    if (!s->Submit(j).ok()) std::abort();
  }
  model::Time now = k.epoch + 10'000;
  s->RunCycle(now);
  // Cancel the newest pending jobs down to exactly 100,000 pending.
  std::vector<std::string> running;
  for (auto it = jobs.rbegin(); it != jobs.rend(); ++it) {
    auto v = s->Job(it->id);
    if (v.ok() && v->state == sched::JobState::kRunning) {
      running.push_back(it->id);
    } else if (s->pending_count() > 100'000) {
      if (!s->Cancel(it->id, now).ok()) std::abort();
    }
  }
  std::mt19937_64 rng(3);
  std::size_t decisions = 0;
  std::size_t pending = 0;
  for (auto _ : state) {
    state.PauseTiming();
    now += 60;
    const std::size_t finish = running.size() / 100;
    for (std::size_t f = 0; f < finish && !running.empty(); ++f) {
      const std::size_t at = rng() % running.size();
      if (s->Finish(running[at], now).ok()) {
        running[at] = running.back();
        running.pop_back();
      }
    }
    pending = s->pending_count();
    state.ResumeTiming();
    auto result = s->RunCycle(now);
    state.PauseTiming();
    decisions += result.stats.considered;
    for (const auto& d : result.decisions) {
      if (d.kind == sched::Decision::Kind::kStart) running.push_back(d.job);
    }
    state.ResumeTiming();
  }
  state.counters["pending"] = static_cast<double>(pending);
  state.counters["us_per_decision"] = benchmark::Counter(
      static_cast<double>(decisions), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Memory: resident growth per pending job, and the scheduler's own estimate.
void BM_MemoryPerPendingJob(benchmark::State& state) {
  const model::Scenario& k = Korea();
  for (auto _ : state) {
    auto s = MakeScheduler("drf");
    const double before = HeapBytes();
    {
      auto jobs = MixedJobs(k, 100'000, 11);
      for (auto& j : jobs) {
        if (!s->Submit(std::move(j)).ok()) std::abort();
      }
    }
    // Heap the scheduler holds for the 100,000 pending jobs (specs, indexes, id map).
    state.counters["heap_bytes_per_job"] = (HeapBytes() - before) / 100'000.0;
    state.counters["owned_bytes_per_job"] = static_cast<double>(s->ApproxBytesPerPendingJob());
  }
}

BENCHMARK_CAPTURE(BM_FirstCycle100kPending, drf, std::string("drf"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_FirstCycle100kPending, fifo, std::string("fifo"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);
BENCHMARK_CAPTURE(BM_SteadyCycle100kPending, drf, std::string("drf"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);
BENCHMARK_CAPTURE(BM_SteadyCycle100kPending, fifo, std::string("fifo"))
    ->Unit(benchmark::kMillisecond)
    ->Iterations(10);
BENCHMARK(BM_MemoryPerPendingJob)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace sovgrid

BENCHMARK_MAIN();
