// The twin engine drives the real scheduler in virtual time.
#include "twin/engine.h"

#include <gtest/gtest.h>

#include <cmath>

#include "scenario/loader.h"
#include "traces/synthetic.h"

namespace sovgrid::twin {

using traces::GenerateSynthetic;
using traces::JobWork;
using traces::SyntheticOptions;

namespace {

model::Scenario Load(const std::string& name) {
  auto r = scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/" + name);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

TwinJob Job(const std::string& id, const std::string& tenant, int accelerators, model::Time submit,
            model::Duration runtime) {
  TwinJob tj;
  tj.job.id = id;
  tj.job.tenant = tenant;
  tj.job.accelerators = accelerators;
  tj.job.accepted_models = {"B200"};
  tj.job.submit_time = submit;
  tj.job.runtime_estimate_s = runtime;
  tj.runtime_s = runtime;
  return tj;
}

TwinOptions Fifo() {
  TwinOptions o;
  o.label = "fifo";
  o.config.queue_order = "fifo";
  o.config.backfill = false;
  o.config.preemption = false;
  o.sample_interval_s = 50;
  return o;
}

// Two jobs that each need all 32 B200 of small.toml's north pool, 100 s each,
// submitted together: FIFO runs them back to back. JCTs 100 and 200 -> mean
// 150; queueing 0 and 100 -> mean 50; the grid (40 accelerators) is 32/40 =
// 80% allocated for 200 s.
TEST(TwinEngine, HandComputedFifo) {
  const model::Scenario s = Load("small.toml");
  Workload w;
  w.jobs = {Job("a", "acme", 32, s.epoch, 100), Job("b", "acme", 32, s.epoch, 100)};
  auto r = Simulate(s, w, Fifo());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs, 2u);
  EXPECT_EQ(r->jobs_finished, 2u);
  EXPECT_DOUBLE_EQ(r->mean_jct_s, 150.0);
  EXPECT_DOUBLE_EQ(r->mean_queue_s, 50.0);
  EXPECT_DOUBLE_EQ(r->p99_jct_s, 199.0);  // linear interpolation between 100 and 200
  EXPECT_NEAR(r->utilization, 0.8, 1e-9);
  EXPECT_EQ(r->residency_violations, 0u);
  // Energy: 32 B200 x 1000 W x 200 s = 6.4e6 J = 0.00178 MWh.
  EXPECT_NEAR(r->energy_mwh, 6.4e6 / 3.6e9, 1e-9);
  // acme got every accelerator-hour: 32 x 200 s = 1.78 h.
  for (const auto& t : r->tenants) {
    if (t.id == "acme") {
      EXPECT_NEAR(t.gpu_hours, 32.0 * 200 / 3600, 1e-9);
      EXPECT_DOUBLE_EQ(t.share, 1.0);
    }
  }
  ASSERT_EQ(r->utilization_total.values.size(), 4u);  // samples at 50, 100, 150, 200
  EXPECT_NEAR(r->utilization_total.values[0], 0.8, 1e-9);
  // Stranded: while b waits for room (0..100 s), south's 8 L4 are free but
  // b takes only B200: 8 x 100 s. The north pool is full meanwhile, and
  // nothing waits after 100 s.
  ASSERT_EQ(r->pools.size(), 2u);
  for (const auto& p : r->pools) {
    if (p.id == "south-l4") {
      EXPECT_NEAR(p.stranded_accelerator_hours, 8.0 * 100 / 3600, 1e-9);
      EXPECT_DOUBLE_EQ(p.utilization, 0);
    } else {
      EXPECT_DOUBLE_EQ(p.stranded_accelerator_hours, 0);
      EXPECT_NEAR(p.utilization, 1.0, 1e-9);
      EXPECT_NEAR(p.utilization_window, 1.0, 1e-9);
    }
  }
}

// A job waiting for a grant strands nothing: free accelerators cannot start it.
TEST(TwinEngine, JobsWaitingForAGrantStrandNothing) {
  model::Scenario s = Load("small.toml");
  for (auto& t : s.tenants) {
    if (t.id == "research") {
      t.grants = {{"later", 100, s.epoch + 86400, s.epoch + 2 * 86400, ""}};
    }
  }
  ASSERT_TRUE(s.Resolve().ok());
  Workload w;
  w.jobs = {Job("early", "research", 8, s.epoch, 100)};
  TwinOptions o = Fifo();
  o.end = s.epoch + 3600;
  auto r = Simulate(s, w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs_finished, 0u);
  ASSERT_EQ(r->unfinished_by_reason.size(), 1u);
  EXPECT_EQ(r->unfinished_by_reason[0].first, "grant_inactive");
  for (const auto& p : r->pools) EXPECT_DOUBLE_EQ(p.stranded_accelerator_hours, 0) << p.id;
}

// A site outage requeues the job running there; it restarts after the repair
// and loses the work since its last checkpoint.
TEST(TwinEngine, SiteOutageRequeuesAndLosesWork) {
  const model::Scenario s = Load("small.toml");
  Workload w;
  TwinJob j = Job("a", "acme", 8, s.epoch, 1000);
  j.job.checkpoint_interval_s = 300;
  w.jobs = {j};
  TwinOptions o = Fifo();
  o.failures.outages = {{"north", s.epoch + 700, s.epoch + 800}};
  auto r = Simulate(s, w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs_finished, 1u);
  // Ran 700 s, kept 600 (two checkpoints), lost 100 s x 8 GPUs; restarted at
  // 800 with 400 s left -> finished at 1200.
  EXPECT_DOUBLE_EQ(r->mean_jct_s, 1200.0);
  EXPECT_NEAR(r->lost_gpu_hours, 100.0 * 8 / 3600, 1e-9);
  // The outage's own figures: north's 32 B200 down 700..800 s, one job
  // requeued with its 100 s x 8 GPUs lost; it waits (pinned by nothing, but
  // south has no B200) until north is back.
  ASSERT_EQ(r->outages.size(), 1u);
  const auto& outage = r->outages[0];
  EXPECT_EQ(outage.what, "site north");
  EXPECT_DOUBLE_EQ(outage.from_s, 700);
  EXPECT_DOUBLE_EQ(outage.until_s, 800);
  EXPECT_EQ(outage.accelerators, 32);
  EXPECT_EQ(outage.jobs_requeued, 1u);
  EXPECT_NEAR(outage.lost_gpu_hours, 100.0 * 8 / 3600, 1e-9);
  EXPECT_EQ(outage.jobs_pending_at_end, 1u);
}

// A pool outage (a what-if's down period) does the same to the pool's nodes.
TEST(TwinEngine, PoolOutageRequeuesAndLosesWork) {
  const model::Scenario s = Load("small.toml");
  Workload w;
  TwinJob j = Job("a", "acme", 8, s.epoch, 1000);
  j.job.checkpoint_interval_s = 300;
  w.jobs = {j};
  TwinOptions o = Fifo();
  o.failures.pool_outages = {{"north-b200", s.epoch + 700, s.epoch + 800}};
  auto r = Simulate(s, w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->mean_jct_s, 1200.0);
  ASSERT_EQ(r->outages.size(), 1u);
  EXPECT_EQ(r->outages[0].what, "pool north-b200");
  EXPECT_EQ(r->outages[0].accelerators, 32);
  EXPECT_EQ(r->outages[0].jobs_requeued, 1u);
  EXPECT_NEAR(r->outages[0].lost_gpu_hours, 100.0 * 8 / 3600, 1e-9);
}

TEST(TwinEngine, SameSeedSameResults) {
  const model::Scenario s = Load("small.toml");
  SyntheticOptions so;
  so.jobs = 400;
  so.days = 1;
  auto w = GenerateSynthetic(s, so);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  TwinOptions o;
  o.label = "drf";
  o.failures.default_node_mtbf_hours = 48;
  auto a = Simulate(s, *w, o);
  auto b = Simulate(s, *w, o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->mean_jct_s, b->mean_jct_s);
  EXPECT_EQ(a->preemptions, b->preemptions);
  EXPECT_EQ(a->decisions, b->decisions);
  EXPECT_EQ(a->lost_gpu_hours, b->lost_gpu_hours);
  EXPECT_EQ(a->residency_violations, 0u);
  EXPECT_GT(a->jobs_finished, 0u);
}

// TwinOptions::explain = false skips the explanations' bookkeeping and
// nothing else: the same decisions at the same instants and the same figures,
// with the explanations empty. On small.toml under load, with edge services,
// node failures and a site outage, so that every explanation has content.
TEST(TwinEngine, ExplanationsOffChangeNoDecision) {
  const model::Scenario s = Load("small.toml");
  SyntheticOptions so;
  so.jobs = 1500;
  so.days = 1;
  auto w = GenerateSynthetic(s, so);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  TwinOptions o;
  o.label = "drf";
  o.config = sched::SchedulerConfig::FromPolicies(s.policies);
  o.config.queue_order = "drf";
  o.cycle_interval_s = 60;
  o.failures.default_node_mtbf_hours = 24;
  o.failures.outages.push_back({s.sites[0].id, s.epoch + 6 * 3600, s.epoch + 9 * 3600});
  o.end = s.epoch + 20 * 3600;  // before the last arrival: jobs left unfinished
  auto run = [&](bool explain, std::vector<std::string>* log) {
    TwinOptions x = o;
    x.explain = explain;
    x.on_cycle = [log](model::Time t, const sched::CyclePlan& plan, const sched::Scheduler&) {
      for (const sched::Decision* d : plan.stops)
        log->push_back(std::to_string(t) + " stop " + d->job);
      for (const sched::Decision* d : plan.starts)
        log->push_back(std::to_string(t) + " start " + d->job);
    };
    return Simulate(s, *w, x);
  };
  std::vector<std::string> log_on, log_off;
  auto on = run(true, &log_on);
  auto off = run(false, &log_off);
  ASSERT_TRUE(on.ok() && off.ok());
  ASSERT_GT(log_on.size(), 300u);
  EXPECT_EQ(log_on, log_off);
  EXPECT_EQ(on->decisions, off->decisions);
  EXPECT_EQ(on->cycles, off->cycles);
  EXPECT_EQ(on->jobs, off->jobs);
  EXPECT_EQ(on->jobs_finished, off->jobs_finished);
  EXPECT_EQ(on->jobs_unfinished, off->jobs_unfinished);
  EXPECT_EQ(on->preemptions, off->preemptions);
  EXPECT_EQ(on->radio_preemptions, off->radio_preemptions);
  EXPECT_EQ(on->mean_jct_s, off->mean_jct_s);
  EXPECT_EQ(on->p99_queue_s, off->p99_queue_s);
  EXPECT_EQ(on->jct_quantiles_s, off->jct_quantiles_s);
  EXPECT_EQ(on->utilization, off->utilization);
  EXPECT_EQ(on->fragmentation, off->fragmentation);
  EXPECT_EQ(on->lost_gpu_hours, off->lost_gpu_hours);
  EXPECT_EQ(on->energy_mwh, off->energy_mwh);
  EXPECT_EQ(on->jain_index, off->jain_index);
  EXPECT_EQ(on->simulated_s, off->simulated_s);
  EXPECT_EQ(on->utilization_total.values, off->utilization_total.values);
  EXPECT_EQ(on->queue_length.values, off->queue_length.values);
  ASSERT_EQ(on->outages.size(), 1u);
  ASSERT_EQ(off->outages.size(), 1u);
  EXPECT_EQ(on->outages[0].jobs_requeued, off->outages[0].jobs_requeued);
  ASSERT_EQ(on->tenants.size(), off->tenants.size());
  for (std::size_t t = 0; t < on->tenants.size(); ++t) {
    EXPECT_EQ(on->tenants[t].gpu_hours, off->tenants[t].gpu_hours) << on->tenants[t].id;
  }
  ASSERT_EQ(on->pools.size(), off->pools.size());
  double stranded_on = 0;
  for (std::size_t p = 0; p < on->pools.size(); ++p) {
    EXPECT_EQ(on->pools[p].utilization, off->pools[p].utilization) << on->pools[p].id;
    EXPECT_EQ(on->pools[p].radio_accelerator_hours, off->pools[p].radio_accelerator_hours);
    EXPECT_EQ(off->pools[p].stranded_accelerator_hours, 0.0);
    EXPECT_TRUE(std::isnan(off->pools[p].utilization_window));
    stranded_on += on->pools[p].stranded_accelerator_hours;
  }
  // The explanations: there with explain on, empty with it off.
  EXPECT_GT(stranded_on, 0.0);
  EXPECT_FALSE(on->unfinished_by_reason.empty());
  EXPECT_TRUE(off->unfinished_by_reason.empty());
  EXPECT_GT(on->edge_services, 0u);
  EXPECT_EQ(off->edge_services, 0u);
  EXPECT_TRUE(std::isnan(off->edge_served_share));
  EXPECT_FALSE(std::isnan(on->utilization_window));
  EXPECT_TRUE(std::isnan(off->utilization_window));
  EXPECT_GT(on->tenants[0].jobs, 0u);
  EXPECT_EQ(off->tenants[0].jobs, 0u);
}

TEST(TwinEngine, SyntheticKoreaDayRuns) {
  const model::Scenario s = Load("korea-2027.toml");
  SyntheticOptions so;
  so.jobs = 3000;
  so.days = 1;
  auto w = GenerateSynthetic(s, so);
  ASSERT_TRUE(w.ok());
  // Plus one foundation-model gang and 12 quantum-GPU jobs (6 per QPU and day, 2 QPUs).
  EXPECT_EQ(w->jobs.size(), 3013u);
  const auto hybrid = std::count_if(w->jobs.begin(), w->jobs.end(),
                                    [](const auto& tj) { return tj.job.qpus == 1; });
  EXPECT_EQ(hybrid, 12);
  for (std::size_t i = 1; i < w->jobs.size(); ++i) {
    ASSERT_LE(w->jobs[i - 1].job.submit_time, w->jobs[i].job.submit_time);
  }
  TwinOptions o;
  o.label = "drf";
  o.config = sched::SchedulerConfig::FromPolicies(s.policies);
  o.cycle_interval_s = 30;
  auto r = Simulate(s, *w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->residency_violations, 0u);
  EXPECT_EQ(r->jobs + r->jobs_rejected, 3013u);
  EXPECT_GT(r->jobs_finished, 1000u);
  EXPECT_GT(r->utilization, 0.0);
  EXPECT_GT(r->jain_index, 0.0);
  EXPECT_LE(r->jain_index, 1.0);
}

}  // namespace
}  // namespace sovgrid::twin

namespace sovgrid::twin {
namespace {

// On a big grid node failures never stop (one every ~15 min here); the run
// still ends when the jobs are done.
TEST(TwinEngine, EndsWhenJobsAreDoneDespiteEndlessFailures) {
  const model::Scenario s = Load("korea-2027.toml");
  SyntheticOptions so;
  so.jobs = 200;
  so.days = 0.5;
  so.foundation_gangs = 0;
  auto w = GenerateSynthetic(s, so);
  ASSERT_TRUE(w.ok());
  TwinOptions o;
  o.label = "drf";
  o.failures.default_node_mtbf_hours = 8760;
  auto r = Simulate(s, *w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs_finished + r->jobs_unfinished, r->jobs);
  EXPECT_LT(r->simulated_s, 40 * 86400.0);
}

}  // namespace
}  // namespace sovgrid::twin

namespace sovgrid::twin {
namespace {

double OfferedLoad(const model::Scenario& s, const Workload& w, double days) {
  double work = 0;
  for (const auto& tj : w.jobs) work += JobWork(tj.job, tj.runtime_s);
  return work / (static_cast<double>(s.TotalAccelerators()) * days * 86400);
}

// --jobs sets the count; the cap scales training and batch durations only, and
// only when the drawn jobs would offer more than it.
TEST(SyntheticWorkload, LoadCapScalesDurationsNotTheJobs) {
  const model::Scenario s = Load("small.toml");
  SyntheticOptions so;
  so.jobs = 400;
  so.days = 1;
  so.foundation_gangs = 0;  // 2,048 accelerators and more would not fit on 40
  so.max_load = 0;
  auto drawn = GenerateSynthetic(s, so);
  so.max_load = 0.85;
  auto capped = GenerateSynthetic(s, so);
  ASSERT_TRUE(drawn.ok() && capped.ok());
  ASSERT_GT(OfferedLoad(s, *drawn, 1), 1.0);  // 400 jobs a day overwhelm 40 accelerators
  EXPECT_NEAR(OfferedLoad(s, *capped, 1), 0.85, 0.01);
  ASSERT_EQ(drawn->jobs.size(), capped->jobs.size());
  for (std::size_t i = 0; i < drawn->jobs.size(); ++i) {
    const TwinJob& a = drawn->jobs[i];
    const TwinJob& b = capped->jobs[i];
    ASSERT_EQ(a.job.id, b.job.id);
    EXPECT_EQ(a.job.submit_time, b.job.submit_time);
    EXPECT_EQ(a.job.accelerators, b.job.accelerators);
    EXPECT_EQ(a.job.priority_class, b.job.priority_class);
    EXPECT_GE(b.job.runtime_estimate_s, b.runtime_s);
    EXPECT_GE(b.runtime_s, 1);
    if (a.job.kind == model::JobKind::kService || a.job.id.rfind("fm-", 0) == 0) {
      EXPECT_EQ(a.runtime_s, b.runtime_s) << a.job.id;
    } else {
      EXPECT_LE(b.runtime_s, a.runtime_s) << a.job.id;
    }
  }
  EXPECT_NE(capped->description.find("offered load 85% of the grid (drawn "), std::string::npos)
      << capped->description;

  // Below the cap nothing changes.
  so.jobs = 20;
  so.max_load = 0;
  auto light = GenerateSynthetic(s, so);
  so.max_load = 0.85;
  auto light_capped = GenerateSynthetic(s, so);
  ASSERT_TRUE(light.ok() && light_capped.ok());
  if (OfferedLoad(s, *light, 1) <= 0.85) {
    for (std::size_t i = 0; i < light->jobs.size(); ++i)
      EXPECT_EQ(light->jobs[i].runtime_s, light_capped->jobs[i].runtime_s);
  }
}

// A workload whose arrivals span more than the horizon is refused before the
// run allocates for it (issue 14: a far date once meant 8,000 years of samples).
TEST(TwinEngine, SpanBeyondTheHorizonIsRefused) {
  const model::Scenario s = Load("small.toml");
  Workload w;
  w.jobs = {Job("a", "acme", 1, s.epoch, 100),
            Job("b", "acme", 1, s.epoch + model::Time{401} * 86400, 100)};
  auto r = Simulate(s, w, Fifo());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(
      r.status().message().find("span 401 days, more than the simulation horizon of 400 days"),
      std::string::npos)
      << r.status().message();
  TwinOptions longer = Fifo();
  longer.horizon_s = model::Duration{500} * 86400;
  longer.sample_interval_s = 86400;
  auto ok = Simulate(s, w, longer);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->jobs_finished, 2u);
}

// Throughput scaling, hand-computed on small.toml: a job's runtime_s is work
// on the reference (B200 = 1.0); small.toml's L4 runs vision_training (kind
// batch) at 0.1, llm_training (train) at 0.05, inference (service) at 0.15.
TEST(TwinEngine, RuntimeIsWorkOverThroughput) {
  const model::Scenario s = Load("small.toml");
  Workload w;
  TwinJob batch = Job("batch", "acme", 2, s.epoch, 100);
  batch.job.accepted_models = {"L4"};  // 100 s of work / 0.1 = 1,000 s
  TwinJob train = Job("train", "acme", 2, s.epoch, 100);
  train.job.accepted_models = {"L4"};
  train.job.kind = model::JobKind::kTrain;            // 100 / 0.05 = 2,000 s
  TwinJob ref = Job("ref", "acme", 8, s.epoch, 100);  // on B200: 100 s
  w.jobs = {batch, train, ref};
  auto r = Simulate(s, w, Fifo());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->jobs_finished, 3u);
  // All start at once; JCTs 100, 1,000 and 2,000 s.
  EXPECT_DOUBLE_EQ(r->mean_jct_s, (100.0 + 1000 + 2000) / 3);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.front(), 100.0);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.back(), 2000.0);

  // Without scaling every accelerator runs at the reference's pace.
  TwinOptions flat = Fifo();
  flat.throughput_scaling = false;
  auto f = Simulate(s, w, flat);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_DOUBLE_EQ(f->mean_jct_s, 100.0);
}

// A service runs for its duration wherever it runs: it serves requests for
// that long, it does not work through a fixed amount (issue 16: services on
// L4 once held them for days). Replicas within 2 ms of busan (only south's L4,
// inference 0.15) and of seoul (only north's B200): 30 s of wall time, where
// work ÷ throughput would have taken 30 / 0.15 = 200 s.
TEST(TwinEngine, ServicesRunForWallTimeWhereverTheyRun) {
  const model::Scenario s = Load("small.toml");
  TwinJob svc = Job("svc", "acme", 1, s.epoch, 30);
  svc.job.accepted_models.clear();
  svc.job.kind = model::JobKind::kService;
  svc.job.replicas = 2;
  svc.job.latency_slo_ms = {{"busan", 2.0}, {"seoul", 2.0}};
  // The same work as a batch job on the L4 still goes at 0.1: 300 s.
  TwinJob batch = Job("batch", "acme", 2, s.epoch, 30);
  batch.job.accepted_models = {"L4"};
  Workload w;
  w.jobs = {svc, batch};
  auto r = Simulate(s, w, Fifo());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->jobs_finished, 2u);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.front(), 30.0);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.back(), 300.0);
  for (const auto& p : r->pools) EXPECT_GT(p.utilization, 0) << p.id;  // one replica on each
  // Neither replica's region is served by edge sites only: no edge service.
  EXPECT_EQ(r->edge_services, 0u);
  EXPECT_TRUE(std::isnan(r->edge_latency_attainment));
}

// Checkpointed work survives a stop at the pace it was done: a batch job of
// 100 s of work on L4 (0.1) checkpoints every 300 s run. The south site fails
// at 700 s: 600 s run kept = 60 s of work, 100 s run lost. Back at 800 s, the
// 40 s of work left take 400 s: done at 1,200 s.
TEST(TwinEngine, KeptWorkIsCountedAtThePaceItWasDone) {
  const model::Scenario s = Load("small.toml");
  TwinJob j = Job("a", "acme", 2, s.epoch, 100);
  j.job.accepted_models = {"L4"};
  j.job.checkpoint_interval_s = 300;
  Workload w;
  w.jobs = {j};
  TwinOptions o = Fifo();
  o.failures.outages = {{"south", s.epoch + 700, s.epoch + 800}};
  auto r = Simulate(s, w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->jobs_finished, 1u);
  EXPECT_DOUBLE_EQ(r->mean_jct_s, 1200.0);
  EXPECT_NEAR(r->lost_gpu_hours, 100.0 * 2 / 3600, 1e-9);
}

// An 8-accelerator job of `tenant` on software stack `stack`, any model.
TwinJob OnStack(const std::string& id, const std::string& tenant, const std::string& stack,
                model::Time submit, model::Duration runtime) {
  TwinJob tj = Job(id, tenant, 8, submit, runtime);
  tj.job.accepted_models.clear();
  tj.job.stack = stack;
  return tj;
}

double StrandedBy(const PoolUsage& p, const std::string& reason) {
  for (const auto& [name, hours] : p.stranded_by_reason) {
    if (name == reason) return hours;
  }
  ADD_FAILURE() << "no reason " << reason;
  return -1;
}

// Every stranded reason is listed once and the reasons add up to `total`.
::testing::AssertionResult ReasonsAddUp(
    const std::vector<std::pair<std::string, double>>& by_reason, double total) {
  if (by_reason.size() != kStrandedReasonCount) {
    return ::testing::AssertionFailure()
           << by_reason.size() << " reasons, not " << kStrandedReasonCount;
  }
  double sum = 0;
  for (const auto& [name, hours] : by_reason) sum += hours;
  if (std::abs(sum - total) > 1e-12) {
    return ::testing::AssertionFailure() << "the reasons add up to " << sum << ", not " << total;
  }
  return ::testing::AssertionSuccess();
}

// Stranded capacity by reason on a hand-built grid (tests/sched/cases/grids/
// stacks.toml: dc-b200 cuda, dc-mi325x rocm, dc-rngd furiosa-sdk, 8 each):
//   a  (lab, cuda, 8, 100 s)          runs on dc-b200 0..100 s;
//   b  (lab, cuda, 8, B200 only)      waits for room 0..100 s, then runs;
//   g  (late, furiosa-sdk, 8)         waits for late's grant (opens a day later);
//   n  (lab, rocm, 8, 100 s of work) runs on dc-mi325x, where batch work goes
//      at 0.6: ceil(100 / 0.6) = 167 s.
// All are submitted at 0.
// While b waits (0..100 s, the only room-waiting job; checks at cycles, every
// 50 s at most): dc-b200 is full; dc-mi325x is full (n); dc-rngd has 8 free:
// b misses it on stack, g is eligible but held by its grant -> nearest miss
// quota_grant: 8 x 100 s. After 100 s only g waits (on a grant): nothing more.
// Then the same without n: dc-mi325x's 8 free for 100 s; b misses it on stack
// (cuda), g on stack (furiosa-sdk) -> stack: 8 x 100 s.
TEST(TwinEngine, StrandedCapacityByReason) {
  const model::Scenario s = Load("../tests/sched/cases/grids/stacks.toml");
  auto job = [&](const std::string& id, const std::string& tenant, const std::string& stack,
                 model::Duration runtime) { return OnStack(id, tenant, stack, s.epoch, runtime); };
  TwinJob b = job("b", "lab", "cuda", 100);
  b.job.accepted_models = {"B200"};
  const double eight_for_100_s = 8.0 * 100 / 3600;
  for (const bool with_rocm_job : {true, false}) {
    Workload w;
    w.jobs = {job("a", "lab", "cuda", 100), b, job("g", "late", "furiosa-sdk", 100)};
    if (with_rocm_job) w.jobs.push_back(job("n", "lab", "rocm", 100));
    TwinOptions o = Fifo();
    auto r = Simulate(s, w, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->jobs_finished, with_rocm_job ? 3u : 2u);
    if (with_rocm_job) {
      // a 100 s, n ceil(100 / 0.6) = 167 s, b 100 + 100 s.
      EXPECT_DOUBLE_EQ(r->mean_jct_s, (100.0 + 167 + 200) / 3);
    }
    ASSERT_EQ(r->pools.size(), 3u);
    for (const auto& p : r->pools) {
      ASSERT_TRUE(ReasonsAddUp(p.stranded_by_reason, p.stranded_accelerator_hours)) << p.id;
      if (p.id == "dc-rngd") {
        EXPECT_NEAR(StrandedBy(p, "quota_grant"), eight_for_100_s, 1e-9);
        EXPECT_NEAR(p.stranded_accelerator_hours, eight_for_100_s, 1e-9);
      } else if (p.id == "dc-mi325x" && !with_rocm_job) {
        EXPECT_NEAR(StrandedBy(p, "stack"), eight_for_100_s, 1e-9);
        EXPECT_NEAR(p.stranded_accelerator_hours, eight_for_100_s, 1e-9);
      } else {
        EXPECT_DOUBLE_EQ(p.stranded_accelerator_hours, 0) << p.id;
      }
      // Everything arrived at the start: no window, the whole run's figures.
      EXPECT_EQ(p.stranded_window_accelerator_hours, p.stranded_accelerator_hours) << p.id;
    }
  }
}

// Hybrid jobs on grids/qpu.toml (yonsei 8 B200 + 1 QPU, kriss 2 x 8 B200 +
// 2 QPUs, dc 8 B200, no QPU). q1 and q2 each ask 8 B200 + 2 QPUs for 100 s:
// only kriss has 2 QPUs, so q1 runs there and q2 waits for its QPUs (0..100
// s). Meanwhile kriss's other 8 B200 are free and q2 could use them but for
// the QPUs: `shape`, as any room that does not form a waiting job's request.
// dc's and yonsei's 8 B200 and yonsei's one QPU are free too, and no waiting
// job may use them (no QPU at dc, too few at yonsei): `model`, never `shape`.
TEST(TwinEngine, StrandedCapacityBesideHybridJobsWaitingForQpus) {
  const model::Scenario s = Load("../tests/sched/cases/grids/qpu.toml");
  Workload w;
  for (const char* id : {"q1", "q2"}) {
    w.jobs.push_back(Job(id, "lab", 8, s.epoch, 100));
    w.jobs.back().job.qpus = 2;
  }
  auto r = Simulate(s, w, Fifo());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs_finished, 2u);
  EXPECT_DOUBLE_EQ(r->mean_jct_s, (100.0 + 200) / 2);
  const double per_accelerator = 100.0 / 3600;
  for (const auto& p : r->pools) {
    double want = 0;
    std::string why;
    if (p.id == "kriss-b200") {
      want = 8 * per_accelerator, why = "shape";
    } else if (p.id == "dc-b200" || p.id == "yonsei-b200") {
      want = 8 * per_accelerator, why = "model";
    } else if (p.id == "yonsei-qpu") {
      want = per_accelerator, why = "model";
    }
    EXPECT_NEAR(p.stranded_accelerator_hours, want, 1e-9) << p.id;
    ASSERT_TRUE(ReasonsAddUp(p.stranded_by_reason, p.stranded_accelerator_hours)) << p.id;
    for (const auto& [name, hours] : p.stranded_by_reason)
      EXPECT_NEAR(hours, name == why ? want : 0.0, 1e-9) << p.id << " " << name;
  }
}

// The same grid without n, and one more job z (lab, cuda, 8, B200 only)
// arriving at 50 s, the last arrival: up to it dc-mi325x's 8 free were
// stranded on stack and dc-rngd's 8 on quota_grant (g), 8 x 50 s each. After
// it z waits behind b, so both pools stay stranded into the drain: the whole
// run's figures are larger, the window's stop at 50 s.
TEST(TwinEngine, StrandedCapacityUpToTheLastArrival) {
  const model::Scenario s = Load("../tests/sched/cases/grids/stacks.toml");
  TwinJob b = OnStack("b", "lab", "cuda", s.epoch, 100);
  b.job.accepted_models = {"B200"};
  TwinJob z = OnStack("z", "lab", "cuda", s.epoch + 50, 10);
  z.job.accepted_models = {"B200"};
  Workload w;
  w.jobs = {OnStack("a", "lab", "cuda", s.epoch, 100), b,
            OnStack("g", "late", "furiosa-sdk", s.epoch, 100), z};
  auto r = Simulate(s, w, Fifo());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_DOUBLE_EQ(r->arrival_window_s, 50);
  const double eight_for_50_s = 8.0 * 50 / 3600;
  ASSERT_EQ(r->pools.size(), 3u);
  for (const auto& p : r->pools) {
    ASSERT_TRUE(ReasonsAddUp(p.stranded_window_by_reason, p.stranded_window_accelerator_hours))
        << p.id;
    if (p.id == "dc-b200") {
      EXPECT_DOUBLE_EQ(p.stranded_window_accelerator_hours, 0);
      continue;
    }
    EXPECT_NEAR(p.stranded_window_accelerator_hours, eight_for_50_s, 1e-9) << p.id;
    EXPECT_GT(p.stranded_accelerator_hours, p.stranded_window_accelerator_hours + 1e-9) << p.id;
    const std::string why = p.id == "dc-rngd" ? "quota_grant" : "stack";
    for (const auto& [name, hours] : p.stranded_window_by_reason) {
      EXPECT_NEAR(hours, name == why ? eight_for_50_s : 0.0, 1e-9) << p.id << " " << name;
    }
  }
}

}  // namespace
}  // namespace sovgrid::twin

namespace sovgrid::twin {
namespace {

// small.toml with a radio-load curve on south's 4 L4 nodes (2 L4 each):
// `hours` gives the first hours' fractions, every later hour 0.
model::Scenario WithRadio(std::vector<double> hours) {
  model::Scenario s = Load("small.toml");
  hours.resize(model::kRadioLoadHours, 0.0);
  for (auto& p : s.pools) {
    if (p.id == "south-l4") p.radio_load = hours;
  }
  EXPECT_TRUE(s.Resolve().ok());
  return s;
}

// An AI-RAN edge service: 2 L4 (one node) within 1 ms of busan, which only
// the south edge site meets; a checkpoint every `checkpoint` s.
TwinJob EdgeService(const std::string& id, model::Time submit, model::Duration runtime,
                    model::Duration checkpoint) {
  TwinJob tj = Job(id, "acme", 2, submit, runtime);
  tj.job.accepted_models.clear();
  tj.job.kind = model::JobKind::kService;
  tj.job.preemptible = false;
  tj.job.latency_slo_ms = {{"busan", 1.0}};
  tj.job.checkpoint_interval_s = checkpoint;
  return tj;
}

double PoolRadioHours(const PolicyResult& r, const std::string& pool) {
  for (const auto& p : r.pools) {
    if (p.id == pool) return p.radio_accelerator_hours;
  }
  ADD_FAILURE() << "no pool " << pool;
  return -1;
}

// Radio first, by hand. The curve takes 0.25 of the 4 nodes in hour 0 (1
// node), 0.75 in hour 1 (3 nodes), nothing from hour 2.
//   t = 0: the radio takes an idle node; a, b, c (2 h each, checkpoints every
//          1,000 s) take the other three.
//   t = 3,600: the radio wants 2 more; no node is idle, so it takes two busy
//          ones: two services requeued (not preemptible by other work, but the
//          radio comes first), each keeping 3,000 s and losing 600 s x 2 L4.
//   t = 7,200: the third service finishes (before the radio moves: its node
//          is free), the radio gives all back; the two restart with 4,200 s
//          left and finish at 11,400.
// JCTs 7,200, 11,400, 11,400: mean 10,000. Radio preemptions 2, lost work
// 2 x 600 x 2 / 3,600 = 0.667 GPU-h. Radio-held: 1 node x 2 L4 x 1 h + 3 x 2 x
// 1 h = 8 accelerator-hours. Edge services 3, all placed within 1 ms
// (attainment 1); of their requested windows [0, 7,200) they ran 7,200 +
// 3,600 + 3,600 of 21,600 s: served share 2/3.
TEST(TwinEngine, RadioTakesItsShareFirstIdleNodesThenBusyOnes) {
  const model::Scenario s = WithRadio({0.25, 0.75});
  Workload w;
  for (const char* id : {"a", "b", "c"}) w.jobs.push_back(EdgeService(id, s.epoch, 7200, 1000));
  auto r = Simulate(s, w, Fifo());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->jobs_finished, 3u);
  EXPECT_DOUBLE_EQ(r->mean_jct_s, 10000.0);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.front(), 7200.0);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.back(), 11400.0);
  EXPECT_EQ(r->radio_preemptions, 2u);
  EXPECT_EQ(r->preemptions, 0u);  // the scheduler preempted nothing
  EXPECT_NEAR(r->radio_lost_gpu_hours, 2 * 600.0 * 2 / 3600, 1e-9);
  EXPECT_NEAR(r->lost_gpu_hours, r->radio_lost_gpu_hours, 1e-9);
  EXPECT_NEAR(PoolRadioHours(*r, "south-l4"), 8.0, 1e-9);
  EXPECT_DOUBLE_EQ(PoolRadioHours(*r, "north-b200"), 0.0);
  EXPECT_EQ(r->edge_services, 3u);
  EXPECT_EQ(r->edge_services_placed, 3u);
  EXPECT_DOUBLE_EQ(r->edge_latency_attainment, 1.0);
  EXPECT_NEAR(r->edge_served_share, 2.0 / 3, 1e-12);

  // Without the radio: all three run 0..7,200 undisturbed.
  TwinOptions no_radio = Fifo();
  no_radio.radio_load = false;
  auto n = Simulate(s, w, no_radio);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_DOUBLE_EQ(n->mean_jct_s, 7200.0);
  EXPECT_EQ(n->radio_preemptions, 0u);
  EXPECT_DOUBLE_EQ(PoolRadioHours(*n, "south-l4"), 0.0);
  EXPECT_DOUBLE_EQ(n->edge_served_share, 1.0);
}

// The radio and a pool outage do not release each other's nodes. The radio
// holds one node in hour 0 and none after; the pool is down over
// [1,800, 5,400). Four one-node services of 3,000 s arrive at 0: three start,
// the fourth waits for the radio's node. At 1,800 the outage requeues the
// three (each keeps 1,800 s: checkpoints every 60 s); at 3,600 the radio lets
// its node go, but the outage still holds it (and every other node): nothing
// starts until 5,400, when all four do. The three finish at 6,600, the fourth
// at 8,400.
TEST(TwinEngine, RadioAndPoolOutageDoNotReleaseEachOther) {
  const model::Scenario s = WithRadio({0.25});
  Workload w;
  for (const char* id : {"a", "b", "c", "d"}) w.jobs.push_back(EdgeService(id, s.epoch, 3000, 60));
  TwinOptions o = Fifo();
  o.failures.pool_outages = {{"south-l4", s.epoch + 1800, s.epoch + 5400}};
  auto r = Simulate(s, w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->jobs_finished, 4u);
  EXPECT_DOUBLE_EQ(r->mean_queue_s, 5400.0 / 4);  // waits 0, 0, 0 and 5,400
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.front(), 6600.0);
  EXPECT_DOUBLE_EQ(r->jct_quantiles_s.back(), 8400.0);
  EXPECT_EQ(r->radio_preemptions, 0u);
  ASSERT_EQ(r->outages.size(), 1u);
  EXPECT_EQ(r->outages[0].jobs_requeued, 3u);
  EXPECT_NEAR(PoolRadioHours(*r, "south-l4"), 2.0, 1e-9);  // 1 node x 2 L4 x 1 h
}

// A repair during a pool outage does not bring the node back (issue 16: it
// once did). Nodes fail every 180 s on average and are repaired after 60 s,
// so every south node fails and is repaired during the outage [0, 3,600);
// the only job (south's L4 only) may not start before the outage ends.
TEST(TwinEngine, RepairDuringAPoolOutageDoesNotEndIt) {
  const model::Scenario s = Load("small.toml");
  Workload w;
  w.jobs = {EdgeService("a", s.epoch, 100, 60)};
  TwinOptions o = Fifo();
  o.failures.pool_outages = {{"south-l4", s.epoch, s.epoch + 3600}};
  o.failures.default_node_mtbf_hours = 0.05;
  o.failures.node_repair_s = 60;
  auto r = Simulate(s, w, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->jobs_finished, 1u);
  EXPECT_GE(r->mean_queue_s, 3600.0);
}

// AI-RAN services in the synthetic workload of korea-2027: a quarter of the
// services, each one replica within 1 ms of one region, which only that
// region's edge sites meet, from a tenant with an edge guarantee, CUDA (L4).
TEST(SyntheticWorkload, AiRanServicesAreMetOnlyAtTheEdge) {
  const model::Scenario s = Load("korea-2027.toml");
  SyntheticOptions so;
  so.jobs = 20000;
  so.days = 2;
  auto w = GenerateSynthetic(s, so);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::size_t services = 0, ai_ran = 0;
  for (const auto& tj : w->jobs) {
    const model::Job& j = tj.job;
    if (j.kind != model::JobKind::kService) continue;
    ++services;
    EXPECT_EQ(j.checkpoint_interval_s, 60);
    ASSERT_EQ(j.latency_slo_ms.size(), 1u);
    const auto& [region, slo] = *j.latency_slo_ms.begin();
    if (slo > 1.0) continue;
    ++ai_ran;
    EXPECT_EQ(j.replicas, 1);
    EXPECT_EQ(j.stack, "cuda");
    EXPECT_FALSE(j.preemptible);
    bool edge = false;
    for (const auto& site : s.sites) {
      auto it = site.latency_ms.find(region);
      if (it == site.latency_ms.end() || it->second > slo) continue;
      EXPECT_TRUE(site.edge) << site.id << " meets " << region;
      edge = true;
    }
    EXPECT_TRUE(edge) << region;
    const model::Tenant& t = s.tenants[static_cast<std::size_t>(s.FindTenant(j.tenant))];
    EXPECT_GT(t.guarantee.count("edge"), 0u) << j.tenant;
  }
  ASSERT_GT(services, 1000u);
  EXPECT_NEAR(static_cast<double>(ai_ran) / static_cast<double>(services), 0.25, 0.03);
}

}  // namespace
}  // namespace sovgrid::twin
