#include "twin/engine.h"

#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <queue>
#include <random>
#include <tuple>
#include <unordered_map>

#include "sched/cycle_context.h"

namespace sovgrid::twin {

using model::Duration;
using model::kMilliPerAccelerator;
using model::Milli;
using model::Time;

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Event kinds in the order they are applied at one instant.
enum class EventKind : std::uint8_t {
  kSiteDown,
  kSiteUp,
  kPoolDown,
  kPoolUp,
  kNodeDown,
  kNodeUp,
  kCompletion,
  // The radio's hourly share of base-station GPUs: after completions (the
  // nodes they free are idle for the radio to take), before arrivals.
  kRadio,
  kArrival,
  kCycle
};

struct Event {
  Time time;
  EventKind kind;
  std::uint64_t seq;
  std::uint32_t index;       // job, node or outage index
  std::uint32_t generation;  // completions: valid only if it matches the job's
  bool operator>(const Event& o) const {
    if (time != o.time) return time > o.time;
    if (kind != o.kind) return kind > o.kind;
    return seq > o.seq;
  }
};

struct JobRun {
  Time first_start = -1;
  Time run_start = -1;
  Duration progress_at_start = 0;
  // Work kept (checkpointed) from earlier runs, in seconds on the reference
  // accelerator, and the pace of the current run (reference seconds of work
  // per second: the slowest relative throughput among its pools).
  double work_kept_s = 0;
  double pace = 1;
  std::uint32_t generation = 0;
  bool running = false;
  bool done = false;
  bool submitted = false;               // accepted by the scheduler
  sched::Scheduler::Handle handle = 0;  // the scheduler's, while submitted and not done
  // Its tenant's index, set when it is submitted (Scenario::FindTenant is a
  // scan by name: per segment and stop it was ~1 % of a national run).
  std::int32_t tenant = -1;
  std::uint32_t waiting_pos = 0;                         // in Simulation::waiting_, while waiting
  Milli milli = 0;                                       // allocated while running
  std::vector<std::pair<std::uint32_t, Milli>> by_pool;  // allocation per pool while running
  // The radio took a node it runs on: its coming requeue is a radio preemption.
  bool radio_stop = false;
  // An edge service (a service whose latency objective only edge sites meet),
  // whether some placement missed its objective, and the seconds it ran within
  // [submit, submit + runtime_s).
  bool edge_service = false;
  bool latency_missed = false;
  double served_s = 0;
};

// Reasons a node is down in the twin. The scheduler only knows up or down: a
// node comes back when its last reason ends (a repair during a pool outage
// does not end the outage, nor the radio's hold, and the other way round).
constexpr std::uint8_t kDownFailure = 1;
constexpr std::uint8_t kDownRadio = 2;

// Nodes of `nodes` the radio takes for a load fraction (at least the fraction).
std::size_t RadioTarget(double fraction, int nodes) {
  const double want = std::ceil(fraction * static_cast<double>(nodes) - 1e-9);
  return static_cast<std::size_t>(std::clamp(want, 0.0, static_cast<double>(nodes)));
}

// Whole hours from `epoch` to `t`, rounded down (also before the epoch).
Time HoursSince(Time epoch, Time t) {
  const Time d = t - epoch;
  return d >= 0 ? d / 3600 : -((-d + 3599) / 3600);
}

double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(sorted.size() - 1, lo + 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] * (1 - frac) + sorted[hi] * frac;
}

class Simulation {
 public:
  Simulation(const model::Scenario& s, const Workload& w, const TwinOptions& o,
             sched::Scheduler& sched)
      : s_(s), w_(w), o_(o), sched_(sched), rng_(o.seed) {}

  Result<PolicyResult> Run();

 private:
  void Push(Time t, EventKind k, std::uint32_t index, std::uint32_t generation = 0) {
    if (k == EventKind::kSiteUp || k == EventKind::kPoolUp || k == EventKind::kNodeUp)
      ++pending_repairs_;
    events_.push({t, k, seq_++, index, generation});
  }
  void Accumulate(Time now);
  void ApplyDecisions(const sched::CycleResult& cycle, Time now);
  // Accounts job j's current run segment, ending at `now` (before StopRun).
  void RecordSegment(std::uint32_t j, Time now, const char* end_reason, double lost_accelerator_s,
                     bool final);
  void StopRun(std::uint32_t j, Time now, bool finished);
  // End-of-run figures: per tenant subtree (tenant_job_figures_), and why each
  // unfinished job did not finish (r_.unfinished_by_reason).
  void TenantJobFigures();
  void UnfinishedByReason();
  void Sample(Time t);
  bool ResidencyHolds(const model::Job& job,
                      const std::vector<sched::NodeAssignment>& assignment) const;
  void ScheduleNodeFailure(sched::NodeId n, Time after);
  // Reference seconds of work per second for `job` on the pools it holds: the
  // slowest pool's relative throughput for its workload class (1 without
  // throughput scaling).
  double Pace(const model::Job& job,
              const std::vector<std::pair<std::uint32_t, Milli>>& by_pool) const {
    // A service serves for its duration wherever it runs: its runtime is wall
    // time, not work (a slow accelerator serves fewer requests, not longer).
    if (!o_.throughput_scaling || by_pool.empty() || job.kind == model::JobKind::kService)
      return 1.0;
    const auto wc = static_cast<std::size_t>(model::WorkloadClassOf(job.kind));
    double pace = std::numeric_limits<double>::max();
    for (const auto& [p, _] : by_pool) {
      const model::AcceleratorModel& m = s_.accelerators[s_.pools[p].accelerator_index];
      if (m.qpu()) continue;  // a hybrid job's QPUs do not set its pace
      pace = std::min(pace, m.relative_throughput[wc]);
    }
    return pace == std::numeric_limits<double>::max() ? 1.0 : pace;
  }
  // Sets or clears one reason (kDown*) for node n to be down, or counts a pool
  // outage in or out (outage_delta); tells the scheduler when the node goes
  // from up to down or back.
  void SetDownReason(sched::NodeId n, std::uint8_t reason, bool on, int outage_delta, Time now) {
    const bool was = node_down_[n] != 0 || node_outages_[n] > 0;
    if (reason != 0) node_down_[n] = on ? (node_down_[n] | reason) : (node_down_[n] & ~reason);
    // Never below 0: an outage that ends before it starts (until < from) then
    // leaves the node down from its start on, as it always did.
    node_outages_[n] = static_cast<std::uint16_t>(
        std::clamp(static_cast<int>(node_outages_[n]) + outage_delta, 0, 0xffff));
    const bool is = node_down_[n] != 0 || node_outages_[n] > 0;
    if (was != is) {
      (void)sched_.SetNodeHealth(sched_.grid().NodeName(n),
                                 is ? sched::NodeHealth::kDown : sched::NodeHealth::kUp, now);
    }
  }
  // The radio's share at `now` for every pool with a curve; returns 0 when
  // nothing changed, 1 when nodes were taken or given back, 2 when jobs ran on
  // nodes it took (their requeues come with the next cycle).
  int ApplyRadio(Time now);
  // Whether some pool's radio holds more than the least it takes in a day
  // (a later hour may give nodes back to waiting work).
  bool RadioMayRelease() const {
    for (const RadioPool& rp : radio_) {
      if (rp.held.size() > rp.min_target) return true;
    }
    return false;
  }
  // A service whose latency objective some edge site meets and no other site does.
  bool IsEdgeService(const model::Job& job) const;
  bool MeetsLatency(const model::Job& job, const model::Site& site) const {
    for (const auto& [region, slo] : job.latency_slo_ms) {
      auto it = site.latency_ms.find(region);
      if (it != site.latency_ms.end() && it->second <= slo) return true;
    }
    return false;
  }
  // Adds to an edge service's served seconds its run from run_start to now,
  // within [submit, submit + runtime).
  void CountServed(std::uint32_t j, Time now) {
    JobRun& run = runs_[j];
    if (!run.edge_service || !run.running) return;
    const TwinJob& tj = w_.jobs[j];
    const Time from = std::max(run.run_start, tj.job.submit_time);
    const Time until = std::min(now, tj.job.submit_time + tj.runtime_s);
    if (until > from) run.served_s += static_cast<double>(until - from);
  }
  double Mtbf(std::size_t pool) const {
    const double m = s_.pools[pool].mtbf_hours;
    return m > 0 ? m : o_.failures.default_node_mtbf_hours;
  }

  const model::Scenario& s_;
  const Workload& w_;
  const TwinOptions& o_;
  sched::Scheduler& sched_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  // Arrivals are known in advance: read in (time, job) order from a cursor
  // rather than kept in the heap, which then holds only the events that come
  // up as the run goes (completions, failures, cycles). Arrival j orders as
  // an event with sequence number j, as if all were pushed first.
  std::vector<std::uint32_t> arrivals_;
  std::size_t next_arrival_ = 0;
  bool HasEvent() const { return !events_.empty() || next_arrival_ < arrivals_.size(); }
  Event ArrivalEvent() const {
    const std::uint32_t j = arrivals_[next_arrival_];
    return {w_.jobs[j].job.submit_time, EventKind::kArrival, j, j, 0};
  }
  bool ArrivalFirst() const {
    if (next_arrival_ >= arrivals_.size()) return false;
    return events_.empty() || events_.top() > ArrivalEvent();
  }
  Event Top() const { return ArrivalFirst() ? ArrivalEvent() : events_.top(); }
  void PopTop() {
    if (ArrivalFirst()) {
      ++next_arrival_;
    } else {
      events_.pop();
    }
  }
  std::uint64_t seq_ = 0;
  std::vector<JobRun> runs_;
  // The workload index of the job holding each scheduler handle (a handle is
  // reused after its job left: RunOf checks the decision's id).
  std::vector<std::uint32_t> run_of_handle_;
  static constexpr std::uint32_t kNoRun = std::numeric_limits<std::uint32_t>::max();
  // The workload index of a decision's job, or kNoRun if it is not one of ours.
  std::uint32_t RunOf(const sched::Decision& d) const {
    if (d.handle >= run_of_handle_.size()) return kNoRun;
    const std::uint32_t j = run_of_handle_[d.handle];
    return j != kNoRun && w_.jobs[j].job.id == d.job ? j : kNoRun;
  }
  // Jobs submitted, neither done nor running (the scheduler's pending jobs),
  // for the stranded-capacity check: a scan of every job of the workload once
  // per sample interval cost more than the rest of the twin at 200,000 jobs.
  std::vector<std::uint32_t> waiting_;
  // What the stranded-capacity check reads of a waiting job, beside
  // waiting_ so that its pass reads one compact array (and the scheduler's
  // reason), not the jobs' records.
  struct WaitingRef {
    sched::Scheduler::Handle handle;
    std::uint32_t signature;
    bool hybrid;  // Job::qpus > 0
  };
  std::vector<WaitingRef> waiting_refs_;
  // The job's signature (SignatureOf) must be known.
  void SetWaiting(std::uint32_t j, bool waiting) {
    if (!o_.explain) return;  // only the stranded-capacity check reads it
    JobRun& run = runs_[j];
    if (waiting) {
      run.waiting_pos = static_cast<std::uint32_t>(waiting_.size());
      waiting_.push_back(j);
      waiting_refs_.push_back({run.handle, signature_of_job_[j], w_.jobs[j].job.qpus > 0});
    } else {
      const std::uint32_t moved = waiting_.back();
      waiting_[run.waiting_pos] = moved;
      waiting_refs_[run.waiting_pos] = waiting_refs_.back();
      runs_[moved].waiting_pos = run.waiting_pos;
      waiting_.pop_back();
      waiting_refs_.pop_back();
    }
  }
  PolicyResult r_;
  // Scheduler CPU: every cycle is timed; the event batches between cycles
  // (hundreds of thousands of calls of a few microseconds, where reading the
  // thread's CPU clock, a system call, would cost as much as the work) are
  // timed one in kBatchSample and the sampled time scaled to all of them.
  static constexpr std::uint64_t kBatchSample = 16;
  double cycle_cpu_ = 0;
  double batch_cpu_sampled_ = 0;
  std::uint64_t batches_ = 0, batches_sampled_ = 0;
  double SchedulerCpu() const {
    return cycle_cpu_ + (batches_sampled_ > 0 ? batch_cpu_sampled_ * static_cast<double>(batches_) /
                                                    static_cast<double>(batches_sampled_)
                                              : 0.0);
  }

  // Allocation now, and its integral over time.
  Time last_t_ = 0;
  Milli alloc_total_ = 0;
  std::vector<Milli> alloc_pool_;
  double alloc_integral_ = 0;  // milli-seconds
  std::vector<double> pool_integral_;
  std::vector<double> pool_integral_at_sample_;
  double total_integral_at_sample_ = 0;
  Time last_sample_ = 0;
  double fragmentation_sum_ = 0;
  std::size_t fragmentation_samples_ = 0;
  std::vector<double> tenant_gpu_s_;
  // Usage records summed per (day, tenant, grant holder, grant, pool), keyed
  // by indexes (named once per row: names per segment were ~8 % of a
  // 200,000-job run); sorted by the names at the end.
  struct DailyKey {
    std::int64_t day;
    int tenant, grant_holder, grant, pool;
    bool operator==(const DailyKey&) const = default;
  };
  struct DailyKeyHash {
    std::size_t operator()(const DailyKey& k) const {
      std::uint64_t h = static_cast<std::uint64_t>(k.day) * 0x9e3779b97f4a7c15ULL;
      for (int v : {k.tenant, k.grant_holder, k.grant, k.pool})
        h = (h ^ static_cast<std::uint32_t>(v)) * 0xff51afd7ed558ccdULL;
      return static_cast<std::size_t>(h ^ (h >> 32));
    }
  };
  std::unordered_map<DailyKey, accounting::DailyUsage, DailyKeyHash> usage_daily_;
  std::vector<bool> tenant_has_jobs_;
  std::vector<double> jct_, queue_;
  std::vector<std::uint32_t> finished_tenant_;  // per entry of jct_/queue_, before sorting
  std::vector<std::size_t> tenant_jobs_;        // submitted, per tenant (not subtree)
  struct TenantJobs {
    std::size_t jobs = 0, jobs_finished = 0;
    double mean_queue_s = 0, p95_queue_s = 0, mean_jct_s = 0;
  };
  std::vector<TenantJobs> tenant_job_figures_;  // per tenant, over its subtree
  std::vector<std::vector<std::pair<std::string, std::size_t>>>
      tenant_unfinished_;  // per tenant subtree: unfinished jobs by reason
  // Allocation integral and time at the last arrival: utilization_window.
  double window_integral_ = 0;
  Time window_end_ = 0;
  std::vector<double> pool_window_integral_;  // pool_integral_ at the last arrival
  // stranded_pool_ and stranded_by_reason_ at the last arrival.
  std::vector<double> stranded_window_pool_;
  std::vector<double> stranded_window_by_reason_;
  // Stranded capacity (docs/twin.md, "Stranded capacity"): free milli on up
  // nodes x s while jobs waited, per pool, and the same split by reason
  // (kStrandedReasonCount per pool, kStrandedReasons order).
  std::vector<double> stranded_pool_;
  std::vector<double> stranded_by_reason_;
  // Whether, after the last check (a cycle, at most once per sample
  // interval), some job waited for room (not for a grant or a quota limit,
  // which free accelerators cannot help, and not a job no pool can ever run).
  bool capacity_waiting_ = false;
  bool qpu_waiting_ = false;  // a hybrid job (Job::qpus > 0) is among those waiting for room
  // Per pool, the stranded reason found at the last check (index into
  // kStrandedReasons): the nearest miss among all waiting jobs that some pool
  // can run, those held by quota or grants included.
  std::vector<std::uint8_t> pool_stranded_reason_;
  // Requests alike for the static filters (tenant, stack, models, datasets,
  // latency objectives, shape) share a signature; per signature and pool, the
  // static filter that keeps them apart (a kStrandedReasons index) or kEligible.
  static constexpr std::uint8_t kEligible = 0xff;
  std::unordered_map<std::string, std::uint32_t> signature_by_key_;
  std::vector<std::vector<std::uint8_t>> signature_miss_;
  std::vector<std::uint32_t> signature_of_job_;
  std::vector<int> tenant_pool_holder_;  // nearest tenant up the tree naming pools, or -1
  std::uint32_t SignatureOf(const model::Job& job, int tenant);
  std::uint8_t StaticMiss(const model::Job& job, int tenant, std::size_t pool) const;
  // Whether the tenant's dedicated pools (if any up its tree) include `pool`.
  bool MayUsePool(int tenant, const model::Pool& pool) const;
  // The outage (index into r_.outages) whose requeues the next cycle makes; -1: none.
  int requeues_of_outage_ = -1;
  Time next_capacity_check_ = std::numeric_limits<Time>::min();
  void UpdateStrandedReasons();
  std::size_t done_ = 0;
  Time last_arrival_ = std::numeric_limits<Time>::min();
  // Why each node is down (kDown* bits) and how many pool outages cover it.
  std::vector<std::uint8_t> node_down_;
  std::vector<std::uint16_t> node_outages_;
  // Pools with a radio-load curve: the nodes the radio holds (in the order
  // taken) and the fewest it takes in any hour.
  struct RadioPool {
    std::uint32_t pool = 0;
    std::vector<sched::NodeId> held;
    std::size_t min_target = 0;
  };
  std::vector<RadioPool> radio_;
  std::vector<Milli> radio_milli_;      // per pool: accelerators the radio holds, in milli
  std::vector<double> radio_integral_;  // per pool: radio_milli_ x s
  double edge_requested_s_ = 0;         // sum of the edge services' runtime_s
  std::size_t pending_repairs_ = 0;     // site-up and node-up events still to come
};

bool Simulation::ResidencyHolds(const model::Job& job,
                                const std::vector<sched::NodeAssignment>& assignment) const {
  for (const auto& a : assignment) {
    if (!s_.DataMayGoTo(job, s_.sites[s_.pools[sched_.grid().node(a.node).pool].site_index]))
      return false;
  }
  return true;
}

void Simulation::Accumulate(Time now) {
  if (now <= last_t_) return;
  const double dt = static_cast<double>(now - last_t_);
  alloc_integral_ += static_cast<double>(alloc_total_) * dt;
  for (std::size_t p = 0; p < alloc_pool_.size(); ++p)
    pool_integral_[p] += static_cast<double>(alloc_pool_[p]) * dt;
  for (const RadioPool& rp : radio_)
    radio_integral_[rp.pool] += static_cast<double>(radio_milli_[rp.pool]) * dt;
  if (capacity_waiting_) {
    for (std::size_t p = 0; p < stranded_pool_.size(); ++p) {
      // A QPU serves hybrid jobs only: idle while none of them waits is not stranded.
      if (!qpu_waiting_ && s_.accelerators[s_.pools[p].accelerator_index].qpu()) continue;
      const double free = static_cast<double>(sched_.grid().pool(p).available_free_milli) * dt;
      stranded_pool_[p] += free;
      stranded_by_reason_[p * kStrandedReasonCount + pool_stranded_reason_[p]] += free;
    }
  }
  last_t_ = now;
}

void Simulation::RecordSegment(std::uint32_t j, Time now, const char* end_reason,
                               double lost_accelerator_s, bool final) {
  const JobRun& run = runs_[j];
  if (!run.running || now <= run.run_start) return;
  accounting::RunSegment seg;  // no job id: the daily rows do not name jobs
  seg.tenant = run.tenant;
  for (const auto& [p, m] : run.by_pool) seg.parts.push_back({static_cast<int>(p), m});
  seg.start = run.run_start;
  seg.end = now;
  seg.end_reason = end_reason;
  seg.lost_accelerator_seconds = lost_accelerator_s;
  seg.final = final;
  const sched::QuotaLedger& quota = sched_.quota();
  for (const accounting::UsagePiece& r : accounting::SplitSegmentPieces(
           s_, [&](int t) -> const std::vector<model::Grant>& { return quota.Grants(t); }, seg)) {
    const int p = seg.parts[static_cast<std::size_t>(r.part)].pool;
    auto [it, fresh] = usage_daily_.try_emplace({r.day(), seg.tenant, r.grant_holder, r.grant, p});
    accounting::DailyUsage& d = it->second;
    if (fresh) {
      const model::Pool& pool = s_.pools[static_cast<std::size_t>(p)];
      const model::Site& site = s_.sites[static_cast<std::size_t>(pool.site_index)];
      d.day = r.day();
      d.tenant = s_.tenants[static_cast<std::size_t>(seg.tenant)].id;
      if (r.grant_holder >= 0) {
        d.grant_holder = s_.tenants[static_cast<std::size_t>(r.grant_holder)].id;
        d.grant = quota.Grants(r.grant_holder)[static_cast<std::size_t>(r.grant)].id;
      }
      d.pool = pool.id;
      d.site = site.id;
      d.operator_name = site.operator_name;
      d.model = s_.accelerators[static_cast<std::size_t>(pool.accelerator_index)].name;
    }
    d.sum.Add(r.Sum());
  }
}

void Simulation::StopRun(std::uint32_t j, Time now, bool finished) {
  JobRun& run = runs_[j];
  if (!run.running) return;
  CountServed(j, now);
  const double gpu_s = static_cast<double>(now - run.run_start) * static_cast<double>(run.milli) /
                       kMilliPerAccelerator;
  tenant_gpu_s_[static_cast<std::size_t>(run.tenant)] += gpu_s;
  alloc_total_ -= run.milli;
  for (const auto& [p, m] : run.by_pool) alloc_pool_[p] -= m;
  run.by_pool.clear();
  run.milli = 0;
  run.running = false;
  ++run.generation;
  if (!finished) SetWaiting(j, true);
  if (finished) {
    run.done = true;
    ++done_;
    const TwinJob& tj = w_.jobs[j];
    jct_.push_back(static_cast<double>(now - tj.job.submit_time));
    queue_.push_back(static_cast<double>(run.first_start - tj.job.submit_time));
    finished_tenant_.push_back(static_cast<std::uint32_t>(run.tenant));
  }
}

void Simulation::TenantJobFigures() {
  const std::size_t n = s_.tenants.size();
  // Each finished job counts for its tenant and every ancestor.
  std::vector<std::vector<double>> queue(n);
  std::vector<double> jct_sum(n, 0);
  for (std::size_t i = 0; i < finished_tenant_.size(); ++i) {
    for (int at = static_cast<int>(finished_tenant_[i]); at >= 0;
         at = s_.tenants[static_cast<std::size_t>(at)].parent_index) {
      queue[static_cast<std::size_t>(at)].push_back(queue_[i]);
      jct_sum[static_cast<std::size_t>(at)] += jct_[i];
    }
  }
  tenant_job_figures_.assign(n, {});
  for (std::size_t t = 0; t < n; ++t) {
    for (int at = static_cast<int>(t); at >= 0;
         at = s_.tenants[static_cast<std::size_t>(at)].parent_index) {
      tenant_job_figures_[static_cast<std::size_t>(at)].jobs += tenant_jobs_[t];
    }
  }
  for (std::size_t t = 0; t < n; ++t) {
    TenantJobs& f = tenant_job_figures_[t];
    std::vector<double>& q = queue[t];
    f.jobs_finished = q.size();
    if (q.empty()) continue;
    double sum = 0;
    for (double x : q) sum += x;
    f.mean_queue_s = sum / static_cast<double>(q.size());
    f.mean_jct_s = jct_sum[t] / static_cast<double>(q.size());
    std::sort(q.begin(), q.end());
    f.p95_queue_s = Quantile(q, 0.95);
  }
}

void Simulation::UnfinishedByReason() {
  std::map<std::string_view, std::size_t> count;
  // Per tenant subtree too (tenant_unfinished_), so that a tenant's report
  // says why its jobs did not finish.
  std::vector<std::map<std::string_view, std::size_t>> per_tenant(s_.tenants.size());
  for (const JobRun& run : runs_) {
    if (!run.submitted || run.done) continue;
    const std::string_view why = run.running
                                     ? std::string_view("running")
                                     : sched::WaitCodeName(sched_.ReasonAt(run.handle).code);
    ++count[why];
    for (int at = run.tenant; at >= 0; at = s_.tenants[static_cast<std::size_t>(at)].parent_index)
      ++per_tenant[static_cast<std::size_t>(at)][why];
  }
  auto most_first = [](auto& v) {
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
  };
  r_.unfinished_by_reason.assign(count.begin(), count.end());
  most_first(r_.unfinished_by_reason);
  tenant_unfinished_.assign(s_.tenants.size(), {});
  for (std::size_t t = 0; t < per_tenant.size(); ++t) {
    for (const auto& [why, n] : per_tenant[t]) tenant_unfinished_[t].emplace_back(why, n);
    most_first(tenant_unfinished_[t]);
  }
}

void Simulation::ApplyDecisions(const sched::CycleResult& cycle, Time now) {
  r_.decisions += cycle.decisions.size();
  // The daemon applies the same plan (server::ControlPlane::Tick): stops, then
  // starts; a start preempted within its own cycle never runs.
  const sched::CyclePlan plan = sched::PlanCycle(cycle);
  for (const sched::Decision* d : plan.stops) {
    const std::uint32_t j = RunOf(*d);
    if (j == kNoRun) continue;
    JobRun& run = runs_[j];
    if (d->kind == sched::Decision::Kind::kPreempt) ++r_.preemptions;
    const bool by_radio = run.radio_stop && d->kind == sched::Decision::Kind::kRequeue;
    run.radio_stop = false;
    const Milli milli = run.milli;
    const Time started = run.run_start;
    const Duration before = run.progress_at_start;
    const Duration kept = sched_.JobAt(run.handle).progress_s;
    // The scheduler keeps progress in seconds run; the work they did is at this run's pace.
    run.work_kept_s =
        kept > 0 ? run.work_kept_s + static_cast<double>(kept - before) * run.pace : 0.0;
    // Work done in this run that was not kept, plus earlier work thrown away.
    const double lost_s = static_cast<double>(now - started) - static_cast<double>(kept - before);
    RecordSegment(j, now, d->kind == sched::Decision::Kind::kPreempt ? "preempted" : "requeued",
                  std::max(0.0, lost_s) * static_cast<double>(milli) / kMilliPerAccelerator, false);
    StopRun(j, now, false);
    const double lost_gpu_h =
        std::max(0.0, lost_s) * static_cast<double>(milli) / kMilliPerAccelerator / 3600.0;
    r_.lost_gpu_hours += lost_gpu_h;
    if (by_radio) {
      ++r_.radio_preemptions;
      r_.radio_lost_gpu_hours += lost_gpu_h;
    } else if (d->kind == sched::Decision::Kind::kRequeue && requeues_of_outage_ >= 0) {
      OutageFigures& f = r_.outages[static_cast<std::size_t>(requeues_of_outage_)];
      ++f.jobs_requeued;
      f.lost_gpu_hours += lost_gpu_h;
    }
  }
  for (const sched::Decision* d : plan.starts) {
    const std::uint32_t j = RunOf(*d);
    if (j == kNoRun) continue;
    JobRun& run = runs_[j];
    const TwinJob& tj = w_.jobs[j];
    const sched::JobView view = sched_.JobAt(run.handle);
    if (!ResidencyHolds(tj.job, d->assignment)) ++r_.residency_violations;
    if (run.edge_service) {
      for (const auto& a : d->assignment) {
        const model::Pool& pool = s_.pools[sched_.grid().node(a.node).pool];
        if (!MeetsLatency(tj.job, s_.sites[static_cast<std::size_t>(pool.site_index)]))
          run.latency_missed = true;
      }
    }
    SetWaiting(j, false);
    run.running = true;
    run.run_start = now;
    if (run.first_start < 0) run.first_start = now;
    run.progress_at_start = view.progress_s;
    for (const auto& a : d->assignment) {
      const Milli m = a.milli_per_accelerator * static_cast<Milli>(a.accelerators.size());
      const std::uint32_t p = sched_.grid().node(a.node).pool;
      run.milli += m;
      alloc_pool_[p] += m;
      auto slot = std::find_if(run.by_pool.begin(), run.by_pool.end(),
                               [&](const auto& x) { return x.first == p; });
      if (slot == run.by_pool.end()) {
        run.by_pool.emplace_back(p, m);
      } else {
        slot->second += m;
      }
    }
    alloc_total_ += run.milli;
    run.pace = Pace(tj.job, run.by_pool);
    const double work_left = static_cast<double>(tj.runtime_s) - run.work_kept_s;
    const Duration left =
        std::max<Duration>(1, static_cast<Duration>(std::ceil(work_left / run.pace - 1e-9)));
    Push(now + left, EventKind::kCompletion, j, run.generation);
  }
  // An outage's requeues come with the cycle right after it (a failure runs
  // one at once).
  requeues_of_outage_ = -1;
  if (o_.on_cycle) o_.on_cycle(now, plan, sched_);
}

// kStrandedReasons indices, nearest miss first.
enum StrandedReason : std::uint8_t {
  kShape = 0,
  kReserved = 1,
  kQuotaGrant = 2,
  kLatency = 3,
  kModel = 4,
  kResidency = 5,
  kStack = 6
};

bool Simulation::MayUsePool(int tenant, const model::Pool& pool) const {
  const int holder = tenant_pool_holder_[static_cast<std::size_t>(tenant)];
  if (holder < 0) return true;
  const auto& allowed = s_.tenants[static_cast<std::size_t>(holder)].pools;
  return std::find(allowed.begin(), allowed.end(), pool.id) != allowed.end();
}

std::uint8_t Simulation::StaticMiss(const model::Job& job, int tenant, std::size_t p) const {
  const model::Pool& pool = s_.pools[p];
  const model::Site& site = s_.sites[static_cast<std::size_t>(pool.site_index)];
  const model::AcceleratorModel& accel =
      s_.accelerators[static_cast<std::size_t>(pool.accelerator_index)];
  // The farthest of the filters that exclude the pool: all must be lifted.
  if (accel.qpu()) {
    // A QPU takes only a hybrid job's QPUs: for any other job it is as far
    // as a pool can be. The job's stack and models are its accelerators'.
    if (job.qpus == 0) return kStack;
    if (!s_.DataMayGoTo(job, site)) return kResidency;
    if (static_cast<std::int64_t>(job.qpus) > pool.accelerators()) return kModel;
    if (!MayUsePool(tenant, pool)) return kReserved;
    return kEligible;
  }
  if (!accel.RunsStack(job.stack)) return kStack;
  if (!s_.DataMayGoTo(job, site)) return kResidency;
  if (!job.accepted_models.empty() &&
      std::find(job.accepted_models.begin(), job.accepted_models.end(), pool.accelerator) ==
          job.accepted_models.end())
    return kModel;
  // A hybrid job's accelerators go only where QPUs it may use are.
  if (job.qpus > 0) {
    bool qpu_here = false;
    for (const model::Pool& q : s_.pools) {
      qpu_here = qpu_here ||
                 (q.site_index == pool.site_index &&
                  s_.accelerators[static_cast<std::size_t>(q.accelerator_index)].qpu() &&
                  static_cast<std::int64_t>(job.qpus) <= q.accelerators() && MayUsePool(tenant, q));
    }
    if (!qpu_here) return kModel;
  }
  if (!job.latency_slo_ms.empty()) {
    bool serves_a_region = false;
    for (const auto& [region, slo] : job.latency_slo_ms) {
      auto it = site.latency_ms.find(region);
      serves_a_region = serves_a_region || (it != site.latency_ms.end() && it->second <= slo);
    }
    if (!serves_a_region) return kLatency;
  }
  if (!MayUsePool(tenant, pool)) return kReserved;
  const sched::PartShape shape = sched::ShapeFor(job, pool);
  if (shape.per_node > pool.accelerators_per_node || shape.nodes > pool.nodes) return kShape;
  return kEligible;
}

std::uint32_t Simulation::SignatureOf(const model::Job& job, int tenant) {
  std::string key = std::to_string(tenant) + "|" + job.stack + "|";
  for (const auto& m : job.accepted_models) key += m + ",";
  key += "|";
  for (const auto& d : job.datasets) key += d + ",";
  key += "|";
  for (const auto& [region, slo] : job.latency_slo_ms)
    key += region + ":" + std::to_string(slo) + ",";
  key += "|" + std::to_string(job.accelerators) + "/" + std::to_string(job.accelerators_per_node) +
         "/" + std::to_string(job.fractional()) + "/q" + std::to_string(job.qpus);
  auto [it, added] =
      signature_by_key_.emplace(std::move(key), static_cast<std::uint32_t>(signature_miss_.size()));
  if (added) {
    std::vector<std::uint8_t> miss(s_.pools.size());
    for (std::size_t p = 0; p < s_.pools.size(); ++p) miss[p] = StaticMiss(job, tenant, p);
    signature_miss_.push_back(std::move(miss));
  }
  return it->second;
}

void Simulation::UpdateStrandedReasons() {
  capacity_waiting_ = false;
  qpu_waiting_ = false;
  std::fill(pool_stranded_reason_.begin(), pool_stranded_reason_.end(), kStack);
  // Each (signature, reason of a job that may go to a pool) pair is looked at once.
  std::vector<bool> seen(signature_miss_.size() * 3, false);
  // The order of the jobs does not matter (a minimum per pool and flags).
  for (const WaitingRef& w : waiting_refs_) {
    const sched::WaitReason& reason = sched_.ReasonAt(w.handle);
    // Where the static filters let it go: waited for room in a shape it could
    // use (also when not yet tried since it arrived or was stopped), for a
    // reservation, or on its quota or grant.
    std::uint8_t where_eligible = kShape;
    switch (reason.code) {
      case sched::WaitCode::kNoCandidatePool:
        continue;  // no pool of the grid can ever run it: it strands nothing
      case sched::WaitCode::kBorrowLimit:
      case sched::WaitCode::kLenderProtected:
      case sched::WaitCode::kGrantSpent:
      case sched::WaitCode::kGrantInactive:
      case sched::WaitCode::kGrantSpentBeyondGuarantee:
        where_eligible = kQuotaGrant;
        break;
      case sched::WaitCode::kReservedFor:
      case sched::WaitCode::kBlockedBehind:
        where_eligible = kReserved;
        capacity_waiting_ = true;
        break;
      case sched::WaitCode::kNotTried:
      case sched::WaitCode::kNoCapacity:
      case sched::WaitCode::kPreempted:
      case sched::WaitCode::kRequeued:
      case sched::WaitCode::kNoQpu:
        capacity_waiting_ = true;
        qpu_waiting_ = qpu_waiting_ || w.hybrid;
        break;
    }
    const std::uint32_t sig = w.signature;
    const std::size_t pair = static_cast<std::size_t>(sig) * 3 + where_eligible;
    if (seen[pair]) continue;
    seen[pair] = true;
    const std::vector<std::uint8_t>& miss = signature_miss_[sig];
    for (std::size_t p = 0; p < miss.size(); ++p) {
      const std::uint8_t why = miss[p] == kEligible ? where_eligible : miss[p];
      pool_stranded_reason_[p] = std::min(pool_stranded_reason_[p], why);
    }
  }
}

void Simulation::Sample(Time t) {
  Accumulate(t);
  const double span = static_cast<double>(t - last_sample_);
  const double capacity = static_cast<double>(s_.TotalAccelerators()) * kMilliPerAccelerator;
  auto mean_since = [&](double now_integral, double then_integral, double cap) {
    return span > 0 && cap > 0 ? (now_integral - then_integral) / span / cap : 0.0;
  };
  r_.utilization_total.values.push_back(
      mean_since(alloc_integral_, total_integral_at_sample_, capacity));
  total_integral_at_sample_ = alloc_integral_;
  // Per site and per model, from the pools.
  std::vector<double> site_num(s_.sites.size(), 0), site_cap(s_.sites.size(), 0);
  std::vector<double> model_num(s_.accelerators.size(), 0), model_cap(s_.accelerators.size(), 0);
  for (std::size_t p = 0; p < s_.pools.size(); ++p) {
    const double used = pool_integral_[p] - pool_integral_at_sample_[p];
    const double cap = static_cast<double>(s_.pools[p].accelerators()) * kMilliPerAccelerator;
    site_num[s_.pools[p].site_index] += used;
    site_cap[s_.pools[p].site_index] += cap;
    model_num[s_.pools[p].accelerator_index] += used;
    model_cap[s_.pools[p].accelerator_index] += cap;
    pool_integral_at_sample_[p] = pool_integral_[p];
  }
  for (std::size_t i = 0; i < s_.sites.size(); ++i) {
    r_.utilization_by_site[i].values.push_back(
        span > 0 && site_cap[i] > 0 ? site_num[i] / span / site_cap[i] : 0);
  }
  for (std::size_t i = 0; i < s_.accelerators.size(); ++i) {
    r_.utilization_by_model[i].values.push_back(
        span > 0 && model_cap[i] > 0 ? model_num[i] / span / model_cap[i] : 0);
  }
  r_.queue_length.values.push_back(static_cast<double>(sched_.pending_count()));
  r_.running_jobs.values.push_back(static_cast<double>(sched_.running_count()));
  // Fragmentation: the share of free accelerators on nodes that are partly used
  // (stranded for whole-node requests).
  // From the pools' indexes of available nodes (a scan of every node was ~4 %
  // of a national run): what is free on them, less what is free on nodes
  // entirely free (those in the top bucket of free whole accelerators).
  const auto& grid = sched_.grid();
  Milli free_all = 0;
  Milli free_partial = 0;
  for (std::size_t p = 0; p < grid.pool_count(); ++p) {
    const sched::PoolIndex& pool = grid.pool(p);
    const int per_node = s_.pools[p].accelerators_per_node;
    const Milli free_nodes = static_cast<Milli>(pool.nodes_by_free.Bucket(per_node).size());
    free_all += pool.available_free_milli;
    free_partial += pool.available_free_milli - free_nodes * per_node * kMilliPerAccelerator;
  }
  if (free_all > 0) {
    fragmentation_sum_ += static_cast<double>(free_partial) / static_cast<double>(free_all);
    ++fragmentation_samples_;
  }
  last_sample_ = t;
}

bool Simulation::IsEdgeService(const model::Job& job) const {
  if (job.kind != model::JobKind::kService || job.latency_slo_ms.empty()) return false;
  bool edge = false;
  for (const model::Site& site : s_.sites) {
    if (!MeetsLatency(job, site)) continue;
    if (!site.edge) return false;
    edge = true;
  }
  return edge;
}

int Simulation::ApplyRadio(Time now) {
  const Time hour_index = HoursSince(s_.epoch, now);
  const auto hour = static_cast<std::size_t>(((hour_index % 24) + 24) % 24);
  int result = 0;
  const sched::GridState& grid = sched_.grid();
  for (RadioPool& rp : radio_) {
    const model::Pool& pool = s_.pools[rp.pool];
    const sched::PoolIndex& index = grid.pool(rp.pool);
    const std::size_t target = RadioTarget(pool.radio_load[hour], pool.nodes);
    if (rp.held.size() < target) {
      // Idle nodes first, then nodes running work (the least allocated first:
      // the fewest jobs disturbed), then nodes already down for another reason;
      // ties by index.
      std::vector<std::tuple<int, Milli, sched::NodeId>> candidates;
      for (sched::NodeId n = index.first_node; n < index.first_node + index.node_count; ++n) {
        if ((node_down_[n] & kDownRadio) != 0) continue;
        const Milli full = static_cast<Milli>(grid.node(n).accel_count) * kMilliPerAccelerator;
        const Milli used = full - grid.NodeFreeMilli(n);
        const bool down = node_down_[n] != 0 || node_outages_[n] > 0;
        candidates.emplace_back(down ? 2 : (used == 0 ? 0 : 1), down ? 0 : used, n);
      }
      const std::size_t take = std::min(target - rp.held.size(), candidates.size());
      std::partial_sort(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(take),
                        candidates.end());
      for (std::size_t k = 0; k < take; ++k) {
        const auto [kind, used, n] = candidates[k];
        if (kind == 1) {
          // The scheduler requeues them when the node goes down; mark them
          // first so that those requeues count as radio preemptions.
          for (const sched::Scheduler::Handle h : sched_.HandlesOnNode(n)) {
            if (h < run_of_handle_.size() && run_of_handle_[h] != kNoRun)
              runs_[run_of_handle_[h]].radio_stop = true;
          }
          result = 2;
        }
        SetDownReason(n, kDownRadio, true, 0, now);
        rp.held.push_back(n);
        radio_milli_[rp.pool] +=
            static_cast<Milli>(grid.node(n).accel_count) * kMilliPerAccelerator;
        result = std::max(result, 1);
      }
    } else if (rp.held.size() > target) {
      // Give back the nodes held longest last: first those with no other
      // reason to be down (they come back to work at once), newest first.
      std::size_t give = rp.held.size() - target;
      for (const bool only_radio : {true, false}) {
        for (std::size_t k = rp.held.size(); k-- > 0 && give > 0;) {
          const sched::NodeId n = rp.held[k];
          if (only_radio && (node_down_[n] != kDownRadio || node_outages_[n] > 0)) continue;
          SetDownReason(n, kDownRadio, false, 0, now);
          radio_milli_[rp.pool] -=
              static_cast<Milli>(grid.node(n).accel_count) * kMilliPerAccelerator;
          rp.held.erase(rp.held.begin() + static_cast<std::ptrdiff_t>(k));
          --give;
        }
      }
      result = std::max(result, 1);
    }
  }
  return result;
}

void Simulation::ScheduleNodeFailure(sched::NodeId n, Time after) {
  const double mtbf = Mtbf(sched_.grid().node(n).pool);
  if (mtbf <= 0) return;
  std::exponential_distribution<double> dist(1.0 / (mtbf * 3600.0));
  Push(after + 1 + static_cast<Time>(dist(rng_)), EventKind::kNodeDown, n);
}

Result<PolicyResult> Simulation::Run() {
  const auto wall_start = std::chrono::steady_clock::now();
  r_.policy = o_.label;
  r_.sample_interval_s = static_cast<double>(o_.sample_interval_s);
  runs_.resize(w_.jobs.size());
  alloc_pool_.assign(s_.pools.size(), 0);
  pool_integral_.assign(s_.pools.size(), 0);
  pool_integral_at_sample_.assign(s_.pools.size(), 0);
  pool_window_integral_.assign(s_.pools.size(), 0);
  stranded_pool_.assign(s_.pools.size(), 0);
  stranded_by_reason_.assign(s_.pools.size() * kStrandedReasonCount, 0);
  pool_stranded_reason_.assign(s_.pools.size(), kStack);
  signature_of_job_.assign(w_.jobs.size(), 0);
  tenant_pool_holder_.assign(s_.tenants.size(), -1);
  for (std::size_t t = 0; t < s_.tenants.size(); ++t) {
    for (int at = static_cast<int>(t); at >= 0;
         at = s_.tenants[static_cast<std::size_t>(at)].parent_index) {
      if (!s_.tenants[static_cast<std::size_t>(at)].pools.empty()) {
        tenant_pool_holder_[t] = at;
        break;
      }
    }
  }
  tenant_gpu_s_.assign(s_.tenants.size(), 0);
  tenant_has_jobs_.assign(s_.tenants.size(), false);
  tenant_jobs_.assign(s_.tenants.size(), 0);
  for (const auto& site : s_.sites) r_.utilization_by_site.push_back({site.id, {}});
  for (const auto& a : s_.accelerators) r_.utilization_by_model.push_back({a.name, {}});
  r_.utilization_total.name = "utilization";
  r_.queue_length.name = "queue_length";
  r_.running_jobs.name = "running_jobs";

  const Time start =
      w_.jobs.empty() ? s_.epoch : std::min(s_.epoch, w_.jobs.front().job.submit_time);
  last_t_ = start;
  last_sample_ = start;
  arrivals_.resize(w_.jobs.size());
  for (std::uint32_t j = 0; j < w_.jobs.size(); ++j) arrivals_[j] = j;
  std::stable_sort(arrivals_.begin(), arrivals_.end(), [&](std::uint32_t a, std::uint32_t b) {
    return w_.jobs[a].job.submit_time < w_.jobs[b].job.submit_time;
  });
  seq_ = w_.jobs.size();  // arrivals hold sequence numbers 0..jobs-1
  for (std::uint32_t i = 0; i < o_.failures.outages.size(); ++i) {
    const SiteOutage& out = o_.failures.outages[i];
    if (s_.FindSite(out.site) < 0) return NotFound("--site-down: unknown site '" + out.site + "'");
    Push(out.from, EventKind::kSiteDown, i);
    Push(out.until, EventKind::kSiteUp, i);
    OutageFigures f;
    f.what = "site " + out.site;
    f.from_s = static_cast<double>(out.from - start);
    f.until_s = static_cast<double>(out.until - start);
    for (const auto& pool : s_.pools) {
      if (pool.site == out.site) f.accelerators += pool.accelerators();
    }
    r_.outages.push_back(std::move(f));
  }
  for (std::uint32_t i = 0; i < o_.failures.pool_outages.size(); ++i) {
    const PoolOutage& out = o_.failures.pool_outages[i];
    if (s_.FindPool(out.pool) < 0) return NotFound("pool outage: unknown pool '" + out.pool + "'");
    Push(out.from, EventKind::kPoolDown, i);
    Push(out.until, EventKind::kPoolUp, i);
    OutageFigures f;
    f.what = "pool " + out.pool;
    f.from_s = static_cast<double>(out.from - start);
    f.until_s = static_cast<double>(out.until - start);
    f.accelerators = s_.pools[static_cast<std::size_t>(s_.FindPool(out.pool))].accelerators();
    r_.outages.push_back(std::move(f));
  }
  for (sched::NodeId n = 0; n < sched_.grid().node_count(); ++n) ScheduleNodeFailure(n, start);
  node_down_.assign(sched_.grid().node_count(), 0);
  node_outages_.assign(sched_.grid().node_count(), 0);
  radio_milli_.assign(s_.pools.size(), 0);
  radio_integral_.assign(s_.pools.size(), 0);
  if (o_.radio_load) {
    for (std::size_t p = 0; p < s_.pools.size(); ++p) {
      const model::Pool& pool = s_.pools[p];
      if (pool.radio_load.size() != model::kRadioLoadHours) continue;
      RadioPool rp;
      rp.pool = static_cast<std::uint32_t>(p);
      rp.min_target = static_cast<std::size_t>(pool.nodes);
      for (double f : pool.radio_load)
        rp.min_target = std::min(rp.min_target, RadioTarget(f, pool.nodes));
      radio_.push_back(std::move(rp));
    }
    // The radio holds its share from the start; then it changes every hour.
    if (!radio_.empty()) Push(start, EventKind::kRadio, 0);
  }

  Time next_sample = start + o_.sample_interval_s;
  Time last_cycle = std::numeric_limits<Time>::min();
  bool cycle_queued = false;
  std::size_t arrived = 0;
  std::size_t last_progress = 0;
  const std::size_t total = w_.jobs.size();

  while (HasEvent()) {
    const Time now = Top().time;
    if (o_.end > 0 && now > o_.end) break;
    // Done when every job is; or when nothing runs and everything has arrived:
    // then only a repair could still help what waits, and node failures keep
    // coming for ever, so wait for repairs at most 30 days after the last arrival.
    const bool idle =
        arrived == total && sched_.running_count() == 0 && last_cycle >= last_arrival_;
    if (done_ == total || (idle && ((pending_repairs_ == 0 && !RadioMayRelease()) ||
                                    now > last_arrival_ + Time{30} * 86400)))
      break;
    while (next_sample <= now) {
      Sample(next_sample);
      next_sample += o_.sample_interval_s;
    }
    Accumulate(now);
    bool changed = false;
    bool cycle_due = false;
    bool failed = false;  // a failure requeued jobs: account for them now, not at a later cycle
    const bool timed = batches_++ % kBatchSample == 0;
    const double cpu0 = timed ? ThreadCpuSeconds() : 0;
    while (HasEvent() && Top().time == now) {
      const Event e = Top();
      PopTop();
      if (e.kind == EventKind::kSiteUp || e.kind == EventKind::kPoolUp ||
          e.kind == EventKind::kNodeUp)
        --pending_repairs_;
      switch (e.kind) {
        case EventKind::kSiteDown:
          (void)sched_.SetSiteState(o_.failures.outages[e.index].site, model::SiteState::kDown,
                                    now);
          requeues_of_outage_ = static_cast<int>(e.index);
          changed = true;
          failed = true;
          break;
        case EventKind::kSiteUp:
          r_.outages[e.index].jobs_pending_at_end = sched_.pending_count();
          (void)sched_.SetSiteState(o_.failures.outages[e.index].site, model::SiteState::kUp, now);
          changed = true;
          break;
        case EventKind::kPoolDown:
        case EventKind::kPoolUp: {
          const bool down = e.kind == EventKind::kPoolDown;
          const std::size_t figures = o_.failures.outages.size() + e.index;
          if (down) {
            requeues_of_outage_ = static_cast<int>(figures);
          } else {
            r_.outages[figures].jobs_pending_at_end = sched_.pending_count();
          }
          const auto& pool = sched_.grid().pool(
              static_cast<std::size_t>(s_.FindPool(o_.failures.pool_outages[e.index].pool)));
          // Counted per node: a node failed or held by the radio stays down
          // after the outage, and a repair during it does not bring it back.
          for (sched::NodeId n = pool.first_node; n < pool.first_node + pool.node_count; ++n)
            SetDownReason(n, 0, false, down ? 1 : -1, now);
          changed = true;
          failed = failed || down;
          break;
        }
        case EventKind::kNodeDown:
          SetDownReason(e.index, kDownFailure, true, 0, now);
          Push(now + o_.failures.node_repair_s, EventKind::kNodeUp, e.index);
          changed = true;
          failed = true;
          break;
        case EventKind::kNodeUp:
          SetDownReason(e.index, kDownFailure, false, 0, now);
          ScheduleNodeFailure(e.index, now);
          changed = true;
          break;
        case EventKind::kCompletion: {
          JobRun& run = runs_[e.index];
          if (!run.running || run.generation != e.generation) break;
          // A failure at this instant already requeued it (its stop comes with the cycle).
          if (sched_.JobAt(run.handle).state != sched::JobState::kRunning) break;
          Status st = sched_.FinishAt(run.handle, now);
          if (!st.ok()) return Internal("twin: " + st.ToString());
          RecordSegment(e.index, now, "finished", 0, true);
          StopRun(e.index, now, true);
          changed = true;
          break;
        }
        case EventKind::kArrival: {
          ++arrived;
          last_arrival_ = now;
          // The arrival window ends at the last arrival (accepted or not).
          if (o_.explain) {
            window_integral_ = alloc_integral_;
            window_end_ = now;
            if (arrived == total) {
              pool_window_integral_ = pool_integral_;
              stranded_window_pool_ = stranded_pool_;
              stranded_window_by_reason_ = stranded_by_reason_;
            }
          }
          const TwinJob& tj = w_.jobs[e.index];
          const int t = s_.FindTenant(tj.job.tenant);
          if (t >= 0) tenant_has_jobs_[static_cast<std::size_t>(t)] = true;
          sched::Scheduler::Handle handle = 0;
          Status st = sched_.Submit(tj.job, &handle);
          if (st.ok()) {
            if (handle >= run_of_handle_.size()) run_of_handle_.resize(handle + 1, kNoRun);
            run_of_handle_[handle] = e.index;
            runs_[e.index].submitted = true;
            runs_[e.index].handle = handle;
            runs_[e.index].tenant = t;  // the scheduler accepted it: its tenant exists
            if (o_.explain) signature_of_job_[e.index] = SignatureOf(tj.job, t);
            SetWaiting(e.index, true);
            if (o_.explain && IsEdgeService(tj.job)) {
              runs_[e.index].edge_service = true;
              ++r_.edge_services;
              edge_requested_s_ += static_cast<double>(tj.runtime_s);
            }
            ++r_.jobs;
            if (t >= 0) ++tenant_jobs_[static_cast<std::size_t>(t)];
            changed = true;
          } else {
            ++r_.jobs_rejected;
            runs_[e.index].done = true;
            ++done_;
          }
          break;
        }
        case EventKind::kRadio: {
          const int radio = ApplyRadio(now);
          changed = changed || radio > 0;
          failed = failed || radio == 2;  // account for its requeues now
          Push(s_.epoch + (HoursSince(s_.epoch, now) + 1) * 3600, EventKind::kRadio, 0);
          break;
        }
        case EventKind::kCycle:
          cycle_queued = false;
          cycle_due = true;
          break;
      }
    }
    if (timed) {
      batch_cpu_sampled_ += ThreadCpuSeconds() - cpu0;
      ++batches_sampled_;
    }
    if (changed || cycle_due) {
      if (!failed && o_.cycle_interval_s > 0 && last_cycle != std::numeric_limits<Time>::min() &&
          now - last_cycle < o_.cycle_interval_s) {
        if (!cycle_queued) {
          Push(last_cycle + o_.cycle_interval_s, EventKind::kCycle, 0);
          cycle_queued = true;
        }
      } else {
        const double c0 = ThreadCpuSeconds();
        const sched::CycleResult cycle = sched_.RunCycle(now);
        cycle_cpu_ += ThreadCpuSeconds() - c0;
        ++r_.cycles;
        last_cycle = now;
        ApplyDecisions(cycle, now);
        // Whether jobs wait for room, asked at most once per sample interval.
        if (o_.explain && now >= next_capacity_check_) {
          UpdateStrandedReasons();
          next_capacity_check_ = now + o_.sample_interval_s;
        }
      }
    }
    if (o_.progress && total > 0 && done_ - last_progress >= total / 200 + 1) {
      last_progress = done_;
      o_.progress(static_cast<double>(done_) / static_cast<double>(total));
    }
  }
  // A last, shorter sample up to the final event.
  if (last_t_ > last_sample_) Sample(last_t_);

  // Figures.
  r_.jobs_finished = jct_.size();
  r_.jobs_unfinished = r_.jobs - r_.jobs_finished;
  if (o_.explain) {
    TenantJobFigures();
    UnfinishedByReason();
  } else {
    tenant_job_figures_.assign(s_.tenants.size(), {});
  }
  std::sort(jct_.begin(), jct_.end());
  std::sort(queue_.begin(), queue_.end());
  auto mean = [](const std::vector<double>& v) {
    double sum = 0;
    for (double x : v) sum += x;
    return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
  };
  r_.mean_jct_s = mean(jct_);
  r_.p50_jct_s = Quantile(jct_, 0.5);
  r_.p95_jct_s = Quantile(jct_, 0.95);
  r_.p99_jct_s = Quantile(jct_, 0.99);
  r_.mean_queue_s = mean(queue_);
  r_.p50_queue_s = Quantile(queue_, 0.5);
  r_.p95_queue_s = Quantile(queue_, 0.95);
  r_.p99_queue_s = Quantile(queue_, 0.99);
  for (int q = 0; q <= 100; ++q) r_.jct_quantiles_s.push_back(Quantile(jct_, q / 100.0));
  const double span = static_cast<double>(last_t_ - start);
  r_.simulated_s = span;
  const double capacity = static_cast<double>(s_.TotalAccelerators()) * kMilliPerAccelerator;
  r_.utilization = span > 0 ? alloc_integral_ / span / capacity : 0;
  const double window = static_cast<double>(window_end_ - start);
  r_.arrival_window_s = o_.explain && window > 0 ? window : span;
  const double none = std::numeric_limits<double>::quiet_NaN();
  r_.utilization_window = !o_.explain  ? none
                          : window > 0 ? window_integral_ / window / capacity
                                       : r_.utilization;
  r_.fragmentation = fragmentation_samples_ > 0
                         ? fragmentation_sum_ / static_cast<double>(fragmentation_samples_)
                         : 0;
  double energy_j = 0;
  for (std::size_t p = 0; p < s_.pools.size(); ++p) {
    energy_j += pool_integral_[p] / kMilliPerAccelerator *
                s_.accelerators[s_.pools[p].accelerator_index].power_w;
  }
  r_.energy_mwh = energy_j / 3.6e9;

  // Tenants: accelerator-hours, share of what was delivered, entitlement.
  // Jobs still running at the end count up to the end.
  for (std::uint32_t j = 0; j < runs_.size(); ++j) {
    if (runs_[j].running) {
      CountServed(j, last_t_);
      RecordSegment(j, last_t_, "running", 0, false);
      tenant_gpu_s_[static_cast<std::size_t>(runs_[j].tenant)] +=
          static_cast<double>(last_t_ - runs_[j].run_start) * static_cast<double>(runs_[j].milli) /
          kMilliPerAccelerator;
    }
  }
  std::vector<double> subtree(s_.tenants.size(), 0);
  std::vector<bool> demand(s_.tenants.size(), false);
  for (std::size_t t = 0; t < s_.tenants.size(); ++t) {
    for (int at = static_cast<int>(t); at >= 0; at = s_.tenants[at].parent_index) {
      subtree[at] += tenant_gpu_s_[t];
      demand[at] = demand[at] || tenant_has_jobs_[t];
    }
  }
  double delivered = 0;
  for (std::size_t t = 0; t < s_.tenants.size(); ++t) {
    if (s_.tenants[t].parent_index < 0) delivered += subtree[t];
  }
  const double total_capacity = static_cast<double>(s_.TotalAccelerators());
  double sum_x = 0, sum_x2 = 0;
  int n_x = 0;
  for (std::size_t t = 0; t < s_.tenants.size(); ++t) {
    TenantUsage u;
    u.id = s_.TenantPath(static_cast<int>(t));
    u.gpu_hours = subtree[t] / 3600.0;
    u.share = delivered > 0 ? subtree[t] / delivered : 0;
    double guaranteed = 0;
    for (const auto& [cls, n] : s_.tenants[t].guarantee) guaranteed += static_cast<double>(n);
    u.entitlement = total_capacity > 0 ? guaranteed / total_capacity : 0;
    const TenantJobs& tj = tenant_job_figures_[t];
    u.jobs = tj.jobs;
    u.jobs_finished = tj.jobs_finished;
    u.mean_queue_s = tj.mean_queue_s;
    u.p95_queue_s = tj.p95_queue_s;
    u.mean_jct_s = tj.mean_jct_s;
    if (t < tenant_unfinished_.size()) u.unfinished_by_reason = tenant_unfinished_[t];
    r_.tenants.push_back(u);
    // Jain's index over top-level tenants with demand and an entitlement.
    if (s_.tenants[t].parent_index < 0 && demand[t] && u.entitlement > 0) {
      const double x = u.share / u.entitlement;
      sum_x += x;
      sum_x2 += x * x;
      ++n_x;
    }
  }
  r_.jain_index = n_x > 0 && sum_x2 > 0 ? sum_x * sum_x / (n_x * sum_x2) : 1.0;
  double served = 0;
  for (const JobRun& run : runs_) {
    if (!run.edge_service) continue;
    served += run.served_s;
    if (run.first_start >= 0 && !run.latency_missed) ++r_.edge_services_placed;
  }
  r_.edge_latency_attainment = r_.edge_services > 0 ? static_cast<double>(r_.edge_services_placed) /
                                                          static_cast<double>(r_.edge_services)
                                                    : none;
  r_.edge_served_share = edge_requested_s_ > 0 ? served / edge_requested_s_ : none;
  for (std::size_t i = 0; i < s_.sites.size(); ++i) {
    SiteUsage u;
    const model::Site& site = s_.sites[i];
    u.id = site.id;
    u.operator_name = site.operator_name;
    u.region = site.region;
    u.tier = site.tier;
    u.edge = site.edge;
    double used = 0;
    for (std::size_t p = 0; p < s_.pools.size(); ++p) {
      if (s_.pools[p].site_index != static_cast<int>(i)) continue;
      u.accelerators += s_.pools[p].accelerators();
      used += pool_integral_[p];
    }
    u.gpu_hours = used / kMilliPerAccelerator / 3600.0;
    u.utilization = span > 0 && u.accelerators > 0
                        ? used / span / (static_cast<double>(u.accelerators) * kMilliPerAccelerator)
                        : 0;
    r_.sites.push_back(u);
  }
  for (std::size_t p = 0; p < s_.pools.size(); ++p) {
    const model::Pool& pool = s_.pools[p];
    PoolUsage u;
    u.id = pool.id;
    u.site = pool.site;
    u.accelerator = pool.accelerator;
    u.accelerators = pool.accelerators();
    u.edge = s_.sites[static_cast<std::size_t>(pool.site_index)].edge;
    const double cap = static_cast<double>(u.accelerators) * kMilliPerAccelerator;
    u.utilization = span > 0 && cap > 0 ? pool_integral_[p] / span / cap : 0;
    u.utilization_window = !o_.explain             ? none
                           : window > 0 && cap > 0 ? pool_window_integral_[p] / window / cap
                                                   : u.utilization;
    u.stranded_accelerator_hours = stranded_pool_[p] / kMilliPerAccelerator / 3600.0;
    for (std::size_t r = 0; r < kStrandedReasonCount; ++r) {
      u.stranded_by_reason.emplace_back(
          kStrandedReasons[r],
          stranded_by_reason_[p * kStrandedReasonCount + r] / kMilliPerAccelerator / 3600.0);
    }
    // No window (nothing arrived, or everything at the start): as utilization_window.
    if (stranded_window_pool_.empty() || !(r_.arrival_window_s < span)) {
      u.stranded_window_accelerator_hours = u.stranded_accelerator_hours;
      u.stranded_window_by_reason = u.stranded_by_reason;
    } else {
      u.stranded_window_accelerator_hours =
          stranded_window_pool_[p] / kMilliPerAccelerator / 3600.0;
      for (std::size_t r = 0; r < kStrandedReasonCount; ++r) {
        u.stranded_window_by_reason.emplace_back(
            kStrandedReasons[r], stranded_window_by_reason_[p * kStrandedReasonCount + r] /
                                     kMilliPerAccelerator / 3600.0);
      }
    }
    u.radio_accelerator_hours = radio_integral_[p] / kMilliPerAccelerator / 3600.0;
    r_.pools.push_back(std::move(u));
  }
  r_.scheduler_cpu_s = SchedulerCpu();
  r_.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  r_.peak_rss_mb = PeakRssMb();
  if (o_.progress) o_.progress(1.0);
  r_.usage_daily.reserve(usage_daily_.size());
  for (auto& [key, d] : usage_daily_) r_.usage_daily.push_back(std::move(d));
  std::sort(r_.usage_daily.begin(), r_.usage_daily.end(), [](const auto& a, const auto& b) {
    return std::tie(a.day, a.tenant, a.grant_holder, a.grant, a.pool) <
           std::tie(b.day, b.tenant, b.grant_holder, b.grant, b.pool);
  });
  return r_;
}

}  // namespace

Result<PolicyResult> Simulate(const model::Scenario& scenario, const Workload& workload,
                              const TwinOptions& options) {
  if (options.sample_interval_s <= 0) return InvalidArgument("sample interval must be > 0");
  if (!workload.jobs.empty()) {
    // Jobs are sorted by submit time (Workload's contract), but a caller's
    // hand-made workload may not be: take the extremes.
    model::Time first = workload.jobs.front().job.submit_time, last = first;
    for (const auto& j : workload.jobs) {
      first = std::min(first, j.job.submit_time);
      last = std::max(last, j.job.submit_time);
    }
    // Compared in double: hostile times must not overflow the subtraction.
    const double span = static_cast<double>(last) - static_cast<double>(first);
    if (span > static_cast<double>(options.horizon_s)) {
      return InvalidArgument("the workload's arrivals span " +
                             std::to_string(static_cast<std::int64_t>(span / 86400)) +
                             " days, more than the simulation horizon of " +
                             std::to_string(options.horizon_s / 86400) +
                             " days (simulate --horizon-days; docs/twin.md, \"Horizon\")");
    }
  }
  auto created = sched::Scheduler::Create(scenario, options.config);
  if (!created.ok()) return created.status();
  Simulation sim(scenario, workload, options, **created);
  return sim.Run();
}

}  // namespace sovgrid::twin
