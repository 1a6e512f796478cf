// Trace readers: every format on its real file (../shared/traces), the
// malformed samples in tests/traces/data (exact warnings with file:line),
// strict mode, missing files, and truncated, mutated and random input.
#include "traces/trace_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "scenario/loader.h"

namespace sovgrid::traces {
namespace {

namespace fs = std::filesystem;

const std::string kSource = SOVGRID_SOURCE_DIR;
const std::string kTraces = kSource + "/../shared/traces";
const std::string kData = kSource + "/tests/traces/data";
const std::string kPhilly = kTraces + "/philly-pollux/simulator/traces/philly.csv";
const std::string kGavelDir = kTraces + "/philly-gavel-msr/scheduler/traces/msr/seed=0";
const std::string kAlibabaDir = kTraces + "/alibaba-clusterdata/cluster-trace-gpu-v2023/csv";
const std::string kTiresias = kTraces + "/philly-tiresias/simulator/60_job.csv";
const std::string kElasticFlow =
    kTraces + "/philly-elasticflow/ElasticFlow/traces_for_ElasticFlow/philly_103959.csv";

// 2017-10-01T00:00:00Z, the epoch of scenarios/philly.toml.
constexpr model::Time kPhillyEpoch = 1506816000;

#define SKIP_WITHOUT_TRACES() \
  if (!fs::exists(kTraces)) GTEST_SKIP() << "no shared traces at " << kTraces

model::Scenario LoadPhilly() {
  auto s = scenario::LoadScenarioFile(kSource + "/scenarios/philly.toml");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? *s : model::Scenario{};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh scratch directory for one test.
std::string ScratchDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::path(::testing::TempDir()) / (std::string("sovgrid_trace_reader_") +
                                                   info->test_suite_name() + "_" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// The output contract of ReadTrace.
void ExpectContract(const Workload& w, model::Time epoch) {
  std::set<std::string> ids;
  for (std::size_t i = 0; i < w.jobs.size(); ++i) {
    const auto& tj = w.jobs[i];
    const auto& j = tj.job;
    if (i == 0) {
      EXPECT_EQ(j.submit_time, epoch);
    }
    if (i > 0) {
      ASSERT_LE(w.jobs[i - 1].job.submit_time, j.submit_time) << "not sorted at " << j.id;
    }
    ASSERT_TRUE(ids.insert(j.id).second) << "duplicate id " << j.id;
    ASSERT_GE(tj.runtime_s, 1) << j.id;
    ASSERT_EQ(j.runtime_estimate_s, tj.runtime_s) << j.id;
    ASSERT_GE(j.accelerators, 1) << j.id;
    ASSERT_GT(j.accelerator_milli, 0) << j.id;
    ASSERT_LE(j.accelerator_milli, model::kMilliPerAccelerator) << j.id;
    if (j.fractional()) {
      ASSERT_EQ(j.accelerators, 1) << j.id;
    }
    ASSERT_EQ(j.priority_class, "normal") << j.id;
    ASSERT_FALSE(j.tenant.empty()) << j.id;
    if (j.deadline != 0) {
      ASSERT_GE(j.deadline, j.submit_time) << j.id;
    }
  }
  EXPECT_LE(w.warnings.size(), 20U);
}

// One line of a csv file, split on commas.
std::vector<std::string> SplitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::stringstream ss(line);
  std::string field;
  while (std::getline(ss, field, ',')) {
    out.push_back(field);
  }
  return out;
}

// ------------------------------------------------------------ real traces

TEST(TraceReaderPhilly, ReadsEveryJobOfTheRealTrace) {
  SKIP_WITHOUT_TRACES();
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  o.epoch = scenario.epoch;
  auto w = ReadTrace("philly", kPhilly, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 82247U);
  EXPECT_EQ(w->lines_read, 82247U);
  EXPECT_EQ(w->lines_skipped, 0U);
  EXPECT_TRUE(w->warnings.empty());
  EXPECT_EQ(w->description, "philly trace philly.csv (82,247 jobs)");
  ExpectContract(*w, kPhillyEpoch);

  // Every job against its own line: runtime, GPUs, submit offset, tenant.
  std::vector<std::string> lines;
  {
    std::stringstream ss(ReadFile(kPhilly));
    for (std::string l; std::getline(ss, l);) {
      lines.push_back(l);
    }
  }
  // The trace's first submission: 2017-09-04 10:30:41 UTC.
  constexpr model::Time kFirst = 1504521041;
  double gpu_hours = 0;
  std::map<std::string, std::size_t> per_tenant;
  for (const auto& tj : w->jobs) {
    const auto& j = tj.job;
    ASSERT_EQ(j.id.rfind("philly-", 0), 0U);
    const std::size_t line = std::stoul(j.id.substr(7));
    ASSERT_GE(line, 2U);
    ASSERT_LE(line, lines.size());
    const auto f = SplitCsv(lines[line - 1]);
    ASSERT_EQ(f.size(), 5U);
    EXPECT_EQ(tj.runtime_s, static_cast<model::Duration>(std::stod(f[1]))) << j.id;
    EXPECT_EQ(j.accelerators, std::stoi(f[2])) << j.id;
    EXPECT_EQ(j.kind, model::JobKind::kTrain);
    EXPECT_EQ(j.accelerators_per_node, 0);
    const std::string vc = "vc-" + f[4];
    EXPECT_EQ(j.tenant, scenario.FindTenant(vc) >= 0 ? vc : "vc-6214e9") << j.id;
    gpu_hours += static_cast<double>(tj.runtime_s) * j.accelerators / 3600.0;
    ++per_tenant[j.tenant];
  }
  // The whole trace is 978,078 GPU-hours (traces/README.md).
  EXPECT_NEAR(gpu_hours, 978078.47, 0.01);
  // 6214e9's 41,226 jobs plus the 18 of the 4 VCs philly.toml leaves out (first tenant).
  EXPECT_EQ(per_tenant["vc-6214e9"], 41226U + 18U);
  EXPECT_EQ(per_tenant["vc-11cb48"], 16091U);
  EXPECT_EQ(per_tenant.size(), 11U);
  // Submit offsets are the trace's own: the latest job (2017-12-22 08:02:11) lands where it should.
  EXPECT_EQ(w->jobs.back().job.submit_time - kPhillyEpoch, 1513929731 - kFirst);
}

// Regression: the scenario's first tenant (vc-6214e9) is also the fallback
// for unknown VCs; --only-scenario-groups must keep its own jobs and drop only
// the 18 jobs of the 4 VCs philly.toml leaves out.
TEST(TraceReaderPhilly, OnlyScenarioGroupsKeepsTheFirstTenantsGroup) {
  SKIP_WITHOUT_TRACES();
  const auto scenario = LoadPhilly();
  ASSERT_EQ(scenario.tenants.front().id, "vc-6214e9");
  TraceOptions o;
  o.scenario = &scenario;
  o.epoch = scenario.epoch;
  o.drop_unknown_groups = true;
  auto w = ReadTrace("philly", kPhilly, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::map<std::string, std::size_t> per_tenant;
  for (const auto& tj : w->jobs) ++per_tenant[tj.job.tenant];
  EXPECT_EQ(w->jobs.size(), 82247U - 18U);
  EXPECT_EQ(per_tenant["vc-6214e9"], 41226U);
  EXPECT_EQ(per_tenant["vc-11cb48"], 16091U);
  EXPECT_EQ(per_tenant.size(), 11U);
}

TEST(TraceReaderPhilly, ReadsFast) {
  SKIP_WITHOUT_TRACES();
  TraceOptions o;
  auto warm = ReadTrace("philly", kPhilly, o);
  ASSERT_TRUE(warm.ok());
  const auto start = std::chrono::steady_clock::now();
  auto w = ReadTrace("philly", kPhilly, o);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(w.ok());
  RecordProperty("philly_read_ms", std::to_string(s * 1000));
#ifdef NDEBUG
  EXPECT_LT(s, 0.5) << "reading philly.csv took " << s << " s";
#endif
}

TEST(TraceReaderPhilly, DefaultTenantEpochAndMaxJobs) {
  SKIP_WITHOUT_TRACES();
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  o.default_tenant = "vc-0e4a51";
  o.epoch = 1'700'000'000;
  o.max_jobs = 100;
  auto w = ReadTrace("philly", kPhilly, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_EQ(w->jobs.size(), 100U);
  EXPECT_EQ(w->lines_read, 82247U);
  EXPECT_EQ(w->description, "philly trace philly.csv (first 100 of 82,247 jobs)");
  ExpectContract(*w, 1'700'000'000);

  o.max_jobs = 0;
  auto all = ReadTrace("philly", kPhilly, o);
  ASSERT_TRUE(all.ok());
  for (std::size_t i = 0; i < 100; ++i) {
    EXPECT_EQ(all->jobs[i].job.id, w->jobs[i].job.id);
  }
  const auto n = std::count_if(all->jobs.begin(), all->jobs.end(),
                               [](const TwinJob& tj) { return tj.job.tenant == "vc-0e4a51"; });
  EXPECT_EQ(n, 1435 + 18);

  o.default_tenant = "nobody";
  auto bad = ReadTrace("philly", kPhilly, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("'nobody'"), std::string::npos);
}

TEST(TraceReaderPhilly, WithoutScenarioTenantsAreVcs) {
  SKIP_WITHOUT_TRACES();
  auto w = ReadTrace("philly", kPhilly, TraceOptions{});
  ASSERT_TRUE(w.ok());
  std::set<std::string> tenants;
  for (const auto& tj : w->jobs) {
    tenants.insert(tj.job.tenant);
  }
  EXPECT_EQ(tenants.size(), 15U);
  EXPECT_TRUE(tenants.count("vc-795a4c"));
  ExpectContract(*w, 0);
}

TEST(TraceReaderGavel, ReadsTheDirectoryAndEachFile) {
  SKIP_WITHOUT_TRACES();
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  o.epoch = scenario.epoch;
  auto w = ReadTrace("gavel", kGavelDir, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 15264U);
  EXPECT_EQ(w->lines_read, 15264U);
  EXPECT_EQ(w->lines_skipped, 0U);
  EXPECT_EQ(w->description, "gavel trace seed=0/*.trace (15 files, 15,264 jobs)");
  ExpectContract(*w, kPhillyEpoch);
  std::map<std::string, std::size_t> per_tenant;
  for (const auto& tj : w->jobs) {
    ++per_tenant[tj.job.tenant];
  }
  EXPECT_EQ(per_tenant["vc-b436b2"], 2000U);
  EXPECT_EQ(per_tenant["vc-6214e9"], 2000U + 9 + 18 + 3 + 4);  // + the VCs philly.toml leaves out

  auto one = ReadTrace("gavel", kGavelDir + "/795a4c.trace", TraceOptions{});
  ASSERT_TRUE(one.ok()) << one.status().ToString();
  ASSERT_EQ(one->jobs.size(), 3U);
  // total_steps / steps-per-second gives back the Philly durations of these jobs
  // (philly.csv: 13,786 s, 1,771 s and 2,769 s, submitted 0, 1,511 and 3,362 s apart).
  EXPECT_EQ(one->jobs[0].runtime_s, 13786);
  EXPECT_EQ(one->jobs[1].runtime_s, 1771);
  EXPECT_EQ(one->jobs[2].runtime_s, 2769);
  EXPECT_EQ(one->jobs[1].job.submit_time, 1511);
  EXPECT_EQ(one->jobs[2].job.submit_time, 3362);
  EXPECT_EQ(one->jobs[0].job.tenant, "vc-795a4c");
  EXPECT_EQ(one->jobs[0].job.id, "gavel-795a4c-1");

  // The first job of VC 103959 is ElasticFlow's job 0 of the same VC: 976,570 s.
  auto vc = ReadTrace("gavel", kGavelDir + "/103959.trace", TraceOptions{});
  ASSERT_TRUE(vc.ok());
  EXPECT_EQ(vc->jobs[0].runtime_s, 976570);
}

TEST(TraceReaderAlibaba, ReadsTheDefaultPodList) {
  SKIP_WITHOUT_TRACES();
  auto nodes = ScenarioFromAlibabaNodes(kAlibabaDir + "/openb_node_list_gpu_node.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  TraceOptions o;
  o.scenario = &*nodes;
  auto w = ReadTrace("alibaba2023", kAlibabaDir + "/openb_pod_list_default.csv", o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 7064U);
  EXPECT_EQ(w->lines_read, 8152U);
  EXPECT_EQ(w->lines_skipped, 0U);
  EXPECT_EQ(w->description,
            "alibaba2023 trace openb_pod_list_default.csv (7,064 jobs; 1,088 CPU-only pods "
            "(num_gpu = 0) left out)");
  ExpectContract(*w, 0);
  std::size_t shared = 0, services = 0;
  double gpu_s = 0;
  for (const auto& tj : w->jobs) {
    const auto& j = tj.job;
    shared += j.fractional() ? 1 : 0;
    services += j.kind == model::JobKind::kService ? 1 : 0;
    EXPECT_EQ(j.tenant, "alibaba");
    EXPECT_EQ(j.accelerators_per_node, j.accelerators);
    EXPECT_TRUE(j.accepted_models.empty());
    gpu_s += static_cast<double>(tj.runtime_s) * j.accelerators;
  }
  EXPECT_EQ(shared, 3078U);
  EXPECT_EQ(services, 4017U);  // qos LS (4,011) and Guaranteed (6)
  EXPECT_DOUBLE_EQ(gpu_s, 214769258.0);
  EXPECT_EQ(w->jobs.front().job.id, "openb-pod-0000");
}

TEST(TraceReaderAlibaba, GpuSpecBecomesAcceptedModels) {
  SKIP_WITHOUT_TRACES();
  auto nodes = ScenarioFromAlibabaNodes(kAlibabaDir + "/openb_node_list_gpu_node.csv");
  ASSERT_TRUE(nodes.ok());
  TraceOptions o;
  o.scenario = &*nodes;
  auto w = ReadTrace("alibaba2023", kAlibabaDir + "/openb_pod_list_gpuspec33.csv", o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 7064U);
  EXPECT_EQ(w->lines_skipped, 0U);
  EXPECT_TRUE(w->warnings.empty());
  std::size_t with_spec = 0;
  for (const auto& tj : w->jobs) {
    if (tj.job.accepted_models.empty()) {
      continue;
    }
    ++with_spec;
    std::set<std::string> unique(tj.job.accepted_models.begin(), tj.job.accepted_models.end());
    EXPECT_EQ(unique.size(), tj.job.accepted_models.size()) << tj.job.id;
    for (const auto& m : tj.job.accepted_models) {
      EXPECT_GE(nodes->FindAccelerator(m), 0) << m;
    }
  }
  EXPECT_EQ(with_spec, 2388U);
}

TEST(TraceReaderAlibaba, PodListsWithoutTimesAreRefused) {
  SKIP_WITHOUT_TRACES();
  auto w = ReadTrace("alibaba2023", kAlibabaDir + "/openb_pod_list_multigpu50.csv", TraceOptions{});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(w.status().message().find("openb_pod_list_multigpu50.csv:1: "), std::string::npos);
  EXPECT_NE(w.status().message().find("creation_time"), std::string::npos);
}

TEST(TraceReaderAlibaba, ScenarioFromTheNodeList) {
  SKIP_WITHOUT_TRACES();
  auto s = ScenarioFromAlibabaNodes(kAlibabaDir + "/openb_node_list_gpu_node.csv");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->TotalNodes(), 1213);
  EXPECT_EQ(s->TotalAccelerators(), 6212);
  EXPECT_EQ(s->sites.size(), 1U);
  EXPECT_EQ(s->pools.size(), 12U);
  EXPECT_EQ(s->accelerators.size(), 7U);
  for (const char* m : {"A10", "G2", "G3", "P100", "T4", "V100M16", "V100M32"}) {
    EXPECT_GE(s->FindAccelerator(m), 0) << m;
  }
  ASSERT_EQ(s->tenants.size(), 1U);
  EXPECT_EQ(s->tenants[0].id, "alibaba");
  EXPECT_TRUE(s->tenants[0].guarantee.empty());
  EXPECT_TRUE(s->datasets.empty());
  EXPECT_TRUE(s->PriorityValue("normal").has_value());
  const int g2 = s->FindPool("G2-8gpu");
  ASSERT_GE(g2, 0);
  EXPECT_EQ(s->pools[g2].nodes, 549);
  EXPECT_EQ(s->pools[g2].accelerator_index, s->FindAccelerator("G2"));
  EXPECT_EQ(s->CapacityByClass().at("gpu"), 6212);

  // The list of all nodes gives the same grid: its 310 CPU-only nodes are left out.
  auto all = ScenarioFromAlibabaNodes(kAlibabaDir + "/openb_node_list_all_node.csv");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->TotalNodes(), 1213);
  EXPECT_EQ(all->TotalAccelerators(), 6212);
}

TEST(TraceReaderTiresias, ReadsTheSixtyJobs) {
  SKIP_WITHOUT_TRACES();
  TraceOptions o;
  o.default_tenant = "lab";
  o.epoch = 1000;
  auto w = ReadTrace("tiresias", kTiresias, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 60U);
  EXPECT_EQ(w->lines_skipped, 0U);
  ExpectContract(*w, 1000);
  EXPECT_EQ(w->jobs[0].job.id, "tiresias-0");
  EXPECT_EQ(w->jobs[0].runtime_s, 164);
  EXPECT_EQ(w->jobs[1].job.accelerators, 8);
  EXPECT_EQ(w->jobs[1].job.submit_time, 1030);
  EXPECT_EQ(w->jobs[1].job.tenant, "lab");
}

TEST(TraceReaderElasticFlow, ReadsDeadlines) {
  SKIP_WITHOUT_TRACES();
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  o.epoch = scenario.epoch;
  auto w = ReadTrace("elasticflow", kElasticFlow, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->jobs.size(), 876U);
  EXPECT_EQ(w->lines_skipped, 0U);
  ExpectContract(*w, kPhillyEpoch);
  for (const auto& tj : w->jobs) {
    EXPECT_EQ(tj.job.tenant, "vc-103959");
    EXPECT_GT(tj.job.deadline, tj.job.submit_time);
    // ElasticFlow drew deadlines as submit + U(0.5, 1.5) x duration.
    const double slack = static_cast<double>(tj.job.deadline - tj.job.submit_time) /
                         static_cast<double>(tj.runtime_s);
    EXPECT_GE(slack, 0.5) << tj.job.id;
    EXPECT_LE(slack, 1.5) << tj.job.id;
  }
  // Job 0: submit 0, ddl 771,220, duration 976,570.
  EXPECT_EQ(w->jobs[0].job.id, "elasticflow-0");
  EXPECT_EQ(w->jobs[0].job.deadline, kPhillyEpoch + 771220);
  EXPECT_EQ(w->jobs[0].runtime_s, 976570);
}

// ------------------------------------------------------------ malformed samples

TEST(TraceReaderSamples, PhillyBadLinesAreSkippedWithFileAndLine) {
  const std::string f = kData + "/philly_bad.csv";
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  o.epoch = scenario.epoch;
  auto w = ReadTrace("philly", f, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::vector<std::string> expected = {
      f + ":3: expected 5 comma-separated fields, found 4",
      f + ":4: expected a number of seconds, found 'abc' (column duration)",
      f + ":5: expected at least 1 GPU, found '0' (column num_gpus)",
      f + ":6: expected at least 1 GPU, found '-2' (column num_gpus)",
      f + ":7: negative duration '-5.0' (column duration)",
      f + ":8: unparsable timestamp '2017-13-09 06:15:00', expected YYYY-MM-DD HH:MM:SS (column "
          "timestamp)",
      f + ":9: unparsable timestamp '2017-02-30 06:15:00', expected YYYY-MM-DD HH:MM:SS (column "
          "timestamp)",
      f + ":11: binary data, not a text line",
      f + ":13: expected a whole number of GPUs, found '1.5' (column num_gpus)",
      f + ":14: empty value (column cluster)",
      f + ":16: expected 5 comma-separated fields, found 1",
  };
  EXPECT_EQ(w->warnings, expected);
  EXPECT_EQ(w->lines_read, 14U);
  EXPECT_EQ(w->lines_skipped, 11U);
  ASSERT_EQ(w->jobs.size(), 3U);
  ExpectContract(*w, kPhillyEpoch);
  EXPECT_EQ(w->jobs[0].job.id, "philly-15");
  EXPECT_EQ(w->jobs[0].job.tenant, "vc-6214e9");  // 795a4c is not in philly.toml: first tenant
  EXPECT_EQ(w->jobs[0].job.accelerators, 4);
  EXPECT_EQ(w->jobs[0].runtime_s, 3600);
  EXPECT_EQ(w->jobs[1].job.id, "philly-12");
  EXPECT_EQ(w->jobs[1].runtime_s, 1);  // 0.0 s raised to 1 s
  EXPECT_EQ(w->jobs[1].job.submit_time,
            kPhillyEpoch + model::Time{30} * 3600 + model::Time{16} * 60);
  EXPECT_EQ(w->jobs[2].job.id, "philly-2");
  EXPECT_EQ(w->jobs[2].job.tenant, "vc-11cb48");
  EXPECT_EQ(w->jobs[2].job.submit_time, kPhillyEpoch + model::Time{31} * 3600 + 60 + 55);
  EXPECT_EQ(w->description, "philly trace philly_bad.csv (3 jobs; 11 bad lines skipped)");

  // Fewer warnings kept, all lines still counted.
  o.max_warnings = 2;
  auto few = ReadTrace("philly", f, o);
  ASSERT_TRUE(few.ok());
  EXPECT_EQ(few->warnings, std::vector<std::string>(expected.begin(), expected.begin() + 2));
  EXPECT_EQ(few->lines_skipped, 11U);
}

TEST(TraceReaderSamples, StrictFailsAtTheFirstBadLine) {
  const std::string f = kData + "/philly_bad.csv";
  TraceOptions o;
  o.strict = true;
  auto w = ReadTrace("philly", f, o);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(w.status().message(), f + ":3: expected 5 comma-separated fields, found 4");

  auto g = ReadTrace("gavel", kData + "/gavel_dir", o);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message(), kData +
                                      "/gavel_dir/b436b2.trace:2: unknown job type 'Unknown Net' "
                                      "(no steps/s rate) (column job_type)");

  auto a = ReadTrace("alibaba2023", kData + "/alibaba_bad.csv", o);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().message(),
            kData + "/alibaba_bad.csv:5: expected 1..1000, found '0' (column gpu_milli)");

  // A good file reads the same in strict mode.
  auto good = ReadTrace("gavel", kData + "/gavel_dir/51b7ef.trace", o);
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->jobs.size(), 1U);

  // A header without the format's columns fails in either mode.
  auto header = ReadTrace("tiresias", f, TraceOptions{});
  ASSERT_FALSE(header.ok());
  EXPECT_EQ(header.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(header.status().message().find(f + ":1: not a tiresias header: no column 'num_gpu'"),
            std::string::npos)
      << header.status().message();
}

TEST(TraceReaderSamples, GavelDirectory) {
  const std::string dir = kData + "/gavel_dir";
  const std::string f = dir + "/b436b2.trace";
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  auto w = ReadTrace("gavel", dir, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::vector<std::string> expected = {
      f + ":2: unknown job type 'Unknown Net' (no steps/s rate) (column job_type)",
      f + ":3: expected 7 tab-separated fields, found 6",
      f + ":4: expected at least 1 GPU, found '0' (column scale_factor)",
      f + ":5: negative arrival time '-4.000000' (column arrival_time)",
      f + ":6: expected an integer, found 'ten' (column total_steps)",
  };
  EXPECT_EQ(w->warnings, expected);
  EXPECT_EQ(w->lines_read, 8U);
  EXPECT_EQ(w->lines_skipped, 5U);
  ASSERT_EQ(w->jobs.size(), 3U);
  ExpectContract(*w, 0);
  EXPECT_EQ(w->jobs[0].job.id, "gavel-b436b2-1");
  EXPECT_EQ(w->jobs[0].job.tenant, "vc-b436b2");
  EXPECT_EQ(w->jobs[1].job.id, "gavel-51b7ef-1");
  EXPECT_EQ(w->jobs[1].job.tenant, "vc-6214e9");
  EXPECT_EQ(w->jobs[1].job.accelerators, 2);
  EXPECT_EQ(w->jobs[1].job.submit_time, 5);
  EXPECT_EQ(w->jobs[2].job.id, "gavel-b436b2-7");
  EXPECT_EQ(w->jobs[2].job.accelerators, 8);
  for (const auto& tj : w->jobs) {
    EXPECT_EQ(tj.runtime_s, 1000) << tj.job.id;
    EXPECT_EQ(tj.job.kind, model::JobKind::kTrain);
  }
  EXPECT_EQ(w->description, "gavel trace gavel_dir/*.trace (2 files, 3 jobs; 5 bad lines skipped)");

  const std::string empty = ScratchDir();
  auto none = ReadTrace("gavel", empty, o);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("no .trace files"), std::string::npos);
}

TEST(TraceReaderSamples, AlibabaPods) {
  const std::string f = kData + "/alibaba_bad.csv";
  auto nodes = ScenarioFromAlibabaNodes(kData + "/nodes_small.csv");
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  TraceOptions o;
  o.scenario = &*nodes;
  auto w = ReadTrace("alibaba2023", f, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const std::vector<std::string> expected = {
      f + ":5: expected 1..1000, found '0' (column gpu_milli)",
      f + ":6: a share of a GPU ('500' < 1000) with num_gpu 2; shares are only for num_gpu = 1 "
          "(column gpu_milli)",
      f + ":7: negative duration: deletion_time '200' before the scheduled time (column "
          "deletion_time)",
      f + ":8: scheduled_time '250' before the creation time (column scheduled_time)",
      f + ":10: gpu_spec 'H100|X9' names no accelerator model of the scenario (column gpu_spec)",
      f + ":11: gpu_spec names models not in the scenario: 'H100'; the pod may use the others "
          "(column gpu_spec)",
      f + ":11: duplicate job id 'p-ok', renamed 'p-ok-L11'",
      f + ":12: empty value (column deletion_time)",
  };
  EXPECT_EQ(w->warnings, expected);
  EXPECT_EQ(w->lines_read, 11U);
  EXPECT_EQ(w->lines_skipped, 6U);  // the CPU-only pod is left out, not counted as bad
  ASSERT_EQ(w->jobs.size(), 4U);
  ExpectContract(*w, 0);
  const auto& share = w->jobs[0];
  EXPECT_EQ(share.job.id, "p-share");
  EXPECT_EQ(share.job.accelerator_milli, 250);
  EXPECT_EQ(share.job.kind, model::JobKind::kBatch);
  EXPECT_EQ(share.runtime_s, 100);  // never scheduled: its lifetime
  EXPECT_EQ(share.job.tenant, "alibaba");
  const auto& spec = w->jobs[1];
  EXPECT_EQ(spec.job.id, "p-spec");
  EXPECT_EQ(spec.job.kind, model::JobKind::kService);  // Guaranteed
  EXPECT_EQ(spec.job.accepted_models, (std::vector<std::string>{"V100M32", "V100M16"}));
  EXPECT_EQ(spec.job.accelerators, 8);
  EXPECT_EQ(spec.job.accelerators_per_node, 8);
  EXPECT_EQ(spec.job.submit_time, 20);
  const auto& renamed = w->jobs[2];  // created at 90, before the first p-ok (100)
  EXPECT_EQ(renamed.job.id, "p-ok-L11");
  EXPECT_EQ(renamed.job.accepted_models, std::vector<std::string>{"T4"});
  EXPECT_EQ(renamed.job.kind, model::JobKind::kBatch);  // Burstable
  const auto& ok = w->jobs[3];
  EXPECT_EQ(ok.job.id, "p-ok");
  EXPECT_EQ(ok.runtime_s, 990);                      // deletion - scheduled
  EXPECT_EQ(ok.job.kind, model::JobKind::kService);  // LS
  EXPECT_EQ(w->description,
            "alibaba2023 trace alibaba_bad.csv (4 jobs; 6 bad lines skipped; 1 CPU-only pod "
            "(num_gpu = 0) left out)");

  // Without a scenario the models are taken as written.
  auto loose = ReadTrace("alibaba2023", f, TraceOptions{});
  ASSERT_TRUE(loose.ok());
  EXPECT_EQ(loose->jobs.size(), 5U);
  EXPECT_EQ(loose->lines_skipped, 5U);
  const auto it = std::find_if(loose->jobs.begin(), loose->jobs.end(),
                               [](const TwinJob& tj) { return tj.job.id == "p-nospec"; });
  ASSERT_NE(it, loose->jobs.end());
  EXPECT_EQ(it->job.accepted_models, (std::vector<std::string>{"H100", "X9"}));
  EXPECT_EQ(it->job.tenant, "default");
}

TEST(TraceReaderSamples, ElasticFlowAndTiresias) {
  const std::string ef = kData + "/philly_7f04ca.csv";
  const auto scenario = LoadPhilly();
  TraceOptions o;
  o.scenario = &scenario;
  o.epoch = 500;
  auto w = ReadTrace("elasticflow", ef, o);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->warnings, (std::vector<std::string>{
                             ef + ":3: deadline '150' before the submit time (column ddl)",
                             ef + ":5: expected a whole number of GPUs, found 'x' (column num_gpu)",
                         }));
  ASSERT_EQ(w->jobs.size(), 2U);
  ExpectContract(*w, 500);
  EXPECT_EQ(w->jobs[0].job.deadline, 500 + 1000);
  EXPECT_EQ(w->jobs[0].job.tenant, "vc-7f04ca");  // the VC of the file name
  EXPECT_EQ(w->jobs[1].job.deadline, 0);
  EXPECT_EQ(w->jobs[1].job.submit_time, 700);
  EXPECT_EQ(w->jobs[1].job.accelerators, 4);

  const std::string ti = kData + "/tiresias_bad.csv";
  auto t = ReadTrace("tiresias", ti, o);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->warnings, (std::vector<std::string>{
                             ti + ":3: empty value (column num_gpu)",
                             ti + ":4: expected a number of seconds, found 'nan' (column duration)",
                             ti + ":5: duplicate job id 'tiresias-0', renamed 'tiresias-0-L5'",
                         }));
  EXPECT_EQ(t->lines_skipped, 2U);
  ASSERT_EQ(t->jobs.size(), 2U);
  EXPECT_EQ(t->jobs[0].job.tenant, scenario.tenants.front().id);
  EXPECT_EQ(t->jobs[1].job.id, "tiresias-0-L5");
  EXPECT_EQ(t->jobs[1].job.submit_time, 560);
}

TEST(TraceReaderSamples, NodeListErrors) {
  auto bad = ScenarioFromAlibabaNodes(kData + "/nodes_bad.csv");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            kData + "/nodes_bad.csv:3: expected an integer, found 'two' (column gpu)");

  auto small = ScenarioFromAlibabaNodes(kData + "/nodes_small.csv");
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->TotalNodes(), 5);
  EXPECT_EQ(small->TotalAccelerators(), 2 + 2 + 8 + 4 + 1);
  EXPECT_EQ(small->pools.size(), 4U);

  auto missing = ScenarioFromAlibabaNodes(kData + "/no_such_nodes.csv");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
}

TEST(TraceReaderErrors, MissingFilesAndUnknownFormats) {
  for (const auto& format : TraceFormats()) {
    auto w = ReadTrace(format, kData + "/no_such_file.csv", TraceOptions{});
    ASSERT_FALSE(w.ok()) << format;
    EXPECT_EQ(w.status().code(), StatusCode::kIoError) << format;
    EXPECT_NE(w.status().message().find("no_such_file.csv"), std::string::npos) << format;
  }
  // A directory is not a file (but is a gavel trace set).
  auto dir = ReadTrace("philly", kData, TraceOptions{});
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kIoError);

  auto unknown = ReadTrace("slurm", kData + "/philly_bad.csv", TraceOptions{});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(
      unknown.status().message(),
      "unknown trace format 'slurm' (known: philly, gavel, alibaba2023, tiresias, elasticflow)");

  const std::string scratch = ScratchDir();
  WriteFile(scratch + "/empty.csv", "");
  auto empty = ReadTrace("philly", scratch + "/empty.csv", TraceOptions{});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(empty.status().message().find("empty file"), std::string::npos);
  // An empty gavel file (no header in that format) is an empty workload.
  auto gempty = ReadTrace("gavel", scratch + "/empty.csv", TraceOptions{});
  ASSERT_TRUE(gempty.ok());
  EXPECT_TRUE(gempty->jobs.empty());

  model::Scenario no_tenants;
  TraceOptions o;
  o.scenario = &no_tenants;
  auto nt = ReadTrace("philly", kData + "/philly_bad.csv", o);
  ASSERT_FALSE(nt.ok());
  EXPECT_EQ(nt.status().code(), StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------ hostile input

// Reads `path` in every format, strict and not; only the contract and the
// error codes are checked: the point is that nothing crashes.
void ReadAllWays(const std::string& path) {
  for (const auto& format : TraceFormats()) {
    for (bool strict : {false, true}) {
      TraceOptions o;
      o.strict = strict;
      auto w = ReadTrace(format, path, o);
      if (w.ok()) {
        ExpectContract(*w, 0);
        EXPECT_LE(w->jobs.size() + w->lines_skipped, w->lines_read);
        if (strict) {
          EXPECT_EQ(w->lines_skipped, 0U);
        }
      } else {
        EXPECT_EQ(w.status().code(), StatusCode::kInvalidArgument)
            << format << ": " << w.status().ToString();
      }
    }
  }
  auto s = ScenarioFromAlibabaNodes(path);
  if (!s.ok()) {
    EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << s.status().ToString();
  }
}

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds = {
      ReadFile(kData + "/philly_bad.csv"),         ReadFile(kData + "/alibaba_bad.csv"),
      ReadFile(kData + "/gavel_dir/b436b2.trace"), ReadFile(kData + "/tiresias_bad.csv"),
      ReadFile(kData + "/philly_7f04ca.csv"),      ReadFile(kData + "/nodes_small.csv")};
  if (fs::exists(kTraces)) {
    for (const std::string& real :
         {kPhilly, kAlibabaDir + "/openb_pod_list_default.csv", kGavelDir + "/6214e9.trace",
          kTiresias, kElasticFlow, kAlibabaDir + "/openb_node_list_gpu_node.csv"}) {
      seeds.push_back(ReadFile(real).substr(0, 8000));
    }
  }
  return seeds;
}

// ------------------------------------------------------------ limits (issue 14)

// Each format with a value outside its sane range (docs/traces.md, "Limits"):
// the line is skipped with file:line and the column, and strict mode stops at
// it. A 9999-12-31 date once made `simulate` run for 147 s in 5.5 GB.
struct LimitCase {
  std::string format, file, text, warning;
};

TEST(TraceReaderLimits, ValuesOutsideTheirRangesAreBadLines) {
  const std::string dir = ScratchDir();
  auto small = scenario::LoadScenarioFile(kSource + "/scenarios/small.toml");
  ASSERT_TRUE(small.ok());
  const std::vector<LimitCase> cases = {
      {"philly", "philly.csv",
       "timestamp,duration,num_gpus,gpu_time,cluster\n"
       "9999-12-31 00:00:00,60.0,1,60.0,11cb48\n"
       "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n",
       ":2: timestamp '9999-12-31 00:00:00' outside 1970..2100 (column timestamp)"},
      {"philly", "philly.csv",
       "timestamp,duration,num_gpus,gpu_time,cluster\n"
       "1969-12-31 23:59:59,60.0,1,60.0,11cb48\n"
       "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n",
       ":2: timestamp '1969-12-31 23:59:59' outside 1970..2100 (column timestamp)"},
      {"philly", "philly.csv",
       "timestamp,duration,num_gpus,gpu_time,cluster\n"
       "2017-10-09 07:01:55,400000000,1,66.0,11cb48\n"
       "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n",
       ":2: duration '400000000' out of range (at most 10 years, 315576000 s) (column duration)"},
      {"philly", "philly.csv",
       "timestamp,duration,num_gpus,gpu_time,cluster\n"
       "2017-10-09 07:01:55,60,41,66.0,11cb48\n"
       "2017-10-09 07:01:55,66.0,1,66.0,11cb48\n",
       ":2: GPU count '41' above the limit of 40 (the scenario's accelerators) (column num_gpus)"},
      {"tiresias", "60_job.csv",
       "job_id,num_gpu,submit_time,duration\n0,1,253402214400,60\n1,1,0,60\n",
       ":2: submit time '253402214400' out of range (at most 2100-01-01, 4102444800 s) (column "
       "submit_time)"},
      {"elasticflow", "philly_x.csv",
       "job_id,submit_time,num_gpu,duration,ddl\n0,100,1,500,253402214400\n1,100,1,500,\n",
       ":2: deadline '253402214400' out of range (at most 2100-01-01, 4102444800 s) (column ddl)"},
      {"gavel", "x.trace",
       "A3C\tcmd\t--steps\t1\t8233\t253402214400\t1\nA3C\tcmd\t--steps\t1\t8233\t5\t1\n",
       ":1: arrival time '253402214400' out of range (at most 2100-01-01, 4102444800 s) (column "
       "arrival_time)"},
      {"gavel", "x.trace",
       "A3C\tcmd\t--steps\t1\t99999999999999\t5\t1\nA3C\tcmd\t--steps\t1\t8233\t5\t1\n",
       ":1: total_steps '99999999999999' gives a runtime out of range (column total_steps)"},
      {"alibaba2023", "pods.csv",
       "name,num_gpu,creation_time,deletion_time\np1,1,100,400000100\np2,1,100,200\n",
       ":2: runtime from creation_time to deletion_time above the limit of 10 years (column "
       "deletion_time)"},
      {"alibaba2023", "pods.csv",
       "name,num_gpu,creation_time,deletion_time\np1,41,100,200\np2,1,100,200\n",
       ":2: expected 0..40, found '41' (column num_gpu)"},  // 0: a CPU-only pod
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.format + ": " + c.warning);
    const std::string f = dir + "/" + c.file;
    WriteFile(f, c.text);
    TraceOptions o;
    o.scenario = &*small;
    auto w = ReadTrace(c.format, f, o);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_EQ(w->warnings, std::vector<std::string>{f + c.warning});
    EXPECT_EQ(w->jobs.size(), 1U);
    o.strict = true;
    auto strict = ReadTrace(c.format, f, o);
    ASSERT_FALSE(strict.ok());
    EXPECT_EQ(strict.status().message(), f + c.warning);
  }
}

TEST(TraceReaderFuzz, TruncatedFilesNeverCrash) {
  const std::string dir = ScratchDir();
  std::mt19937 rng(7);
  int n = 0;
  for (const auto& seed : Seeds()) {
    for (int i = 0; i < 25; ++i) {
      std::uniform_int_distribution<std::size_t> cut(0, seed.size());
      const std::string path = dir + "/t" + std::to_string(n++) + ".csv";
      WriteFile(path, seed.substr(0, cut(rng)));
      ReadAllWays(path);
    }
  }
}

TEST(TraceReaderFuzz, MutatedFilesNeverCrash) {
  const std::string dir = ScratchDir();
  std::mt19937 rng(11);
  const std::string alphabet = std::string("0123456789-.,:|\t\n\r e+x\"") + '\0' + '\x7f' + '\xff';
  int n = 0;
  for (const auto& seed : Seeds()) {
    for (int i = 0; i < 25; ++i) {
      std::string text = seed;
      std::uniform_int_distribution<std::size_t> pos(0, text.empty() ? 0 : text.size() - 1);
      std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
      for (int k = 0; k < 8 && !text.empty(); ++k) {
        text[pos(rng)] = alphabet[pick(rng)];
      }
      const std::string path = dir + "/m" + std::to_string(n++) + ".csv";
      WriteFile(path, text);
      ReadAllWays(path);
    }
  }
}

TEST(TraceReaderFuzz, RandomBytesNeverCrash) {
  const std::string dir = ScratchDir();
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> len(0, 4096);
  for (int i = 0; i < 40; ++i) {
    std::string text(len(rng), '\0');
    for (auto& c : text) {
      c = static_cast<char>(byte(rng));
    }
    const std::string path = dir + "/r" + std::to_string(i) + ".bin";
    WriteFile(path, text);
    ReadAllWays(path);
  }
  // Huge numbers, signs and exponents in every numeric column.
  const std::string path = dir + "/numbers.csv";
  WriteFile(path,
            "timestamp,duration,num_gpus,gpu_time,cluster\n"
            "9999-12-31 23:59:59,1e308,1,1,x\n"
            "1900-01-01 00:00:00,1e10,1,1,x\n"
            "2017-01-01 00:00:00,-0,1,1,x\n"
            "2017-01-01 00:00:00,inf,1,1,x\n"
            "2017-01-01 00:00:00,0x10,1,1,x\n"
            "2017-01-01 00:00:00,5,99999999999999999999,1,x\n"
            "9999-12-31 23:59:59,5,1,1,x\n");
  ReadAllWays(path);
  auto w = ReadTrace("philly", path, TraceOptions{});
  ASSERT_TRUE(w.ok());
  // Only -0 s (raised to 1 s) is kept: 1e10 s is beyond 10 years, 1900 and 9999 outside
  // 1970..2100 (issue 14), the rest are out of range or not numbers.
  ASSERT_EQ(w->jobs.size(), 1U);
  EXPECT_EQ(w->lines_skipped, 6U);
  EXPECT_EQ(w->jobs[0].runtime_s, 1);
}

}  // namespace
}  // namespace sovgrid::traces
