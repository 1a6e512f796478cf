// The twin's outputs: JSON keys and values, the HTML report (self-contained,
// escaped, no NaN in SVG), CSV files and their shapes, the terminal table,
// degenerate reports and unwritable paths.
#include "report/twin_report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "report/format.h"

namespace sovgrid::report {

using twin::PolicyResult;
using twin::Series;
using twin::SiteUsage;
using twin::TenantUsage;
using twin::TwinReport;

namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Series MakeSeries(std::string name, std::size_t n, double base) {
  Series s{std::move(name), {}};
  for (std::size_t i = 0; i < n; ++i)
    s.values.push_back(base + 0.1 * std::sin(static_cast<double>(i)));
  return s;
}

PolicyResult MakePolicy(std::string name, double jct_scale) {
  PolicyResult p;
  p.policy = std::move(name);
  p.jobs = 1000;
  p.jobs_finished = 950;
  p.jobs_rejected = 10;
  p.jobs_unfinished = 40;
  p.mean_jct_s = 86040 * jct_scale;  // 23.9 h
  p.p50_jct_s = 2460 * jct_scale;    // 41 min
  p.p95_jct_s = 300000 * jct_scale;
  p.p99_jct_s = 900000 * jct_scale;
  p.mean_queue_s = 3600 * jct_scale;
  p.p50_queue_s = 60;
  p.p95_queue_s = 7200;
  p.p99_queue_s = 20000;
  for (int k = 0; k <= 100; ++k) p.jct_quantiles_s.push_back(10 * std::pow(1.1, k) * jct_scale);
  p.utilization = 0.75;
  p.fragmentation = 0.05;
  p.preemptions = 12;
  p.lost_gpu_hours = 34.5;
  p.energy_mwh = 120.25;
  p.residency_violations = 0;
  p.jain_index = 0.9;
  p.tenants = {{"msit/research/kisti", 1200, 0.6, 0.5, 600, 590, 120, 900, 7200},
               {"<b>&", 500, 0.25, 0.3},
               {"startups,\"quoted\"", 300, 0.15, 0.2}};
  p.utilization_window = 0.8;
  p.unfinished_by_reason = {{"no_capacity", 30}, {"running", 20}};
  p.tenants[0].unfinished_by_reason = {{"no_capacity", 8}, {"running", 2}};
  p.tenants[2].unfinished_by_reason = {{"grant_inactive", 22}};
  p.sites = {{"kisti-1", "KISTI", "Chungcheong", 3, false, 4096, 0.8, 5000},
             {"edge-busan", "KT", "Yeongnam", 1, true, 64, 0.3, 100},
             {"skt-seoul", "SKT", "Capital", 2, false, 2048, 0.7, 3000}};
  p.scheduler_cpu_s = 1.5;
  p.decisions = 5000;
  p.cycles = 336;
  p.wall_s = 2.5;
  p.peak_rss_mb = 210;
  p.simulated_s = 48 * 3600;
  p.sample_interval_s = 3600;
  p.utilization_total = MakeSeries("total", 48, 0.7);
  p.queue_length = MakeSeries("queue", 48, 100);
  p.running_jobs = MakeSeries("running", 48, 50);
  p.utilization_by_site = {MakeSeries("kisti-1", 48, 0.8), MakeSeries("edge-busan", 48, 0.3),
                           MakeSeries("skt-seoul", 48, 0.7)};
  p.utilization_by_model = {MakeSeries("B200", 48, 0.8), MakeSeries("L4", 48, 0.3)};
  return p;
}

TwinReport MakeReport() {
  TwinReport r;
  r.scenario = "small";
  r.workload = "synthetic (1,000 jobs)";
  r.lines_skipped = 2;
  r.warnings = {"jobs.csv:3: bad <gpus>", "jobs.csv:9: bad runtime"};
  r.policies.push_back(MakePolicy("fifo", 1.0));
  r.policies.push_back(MakePolicy("drf+topology,binpack", 0.5));
  return r;
}

// A fresh, empty folder per test.
fs::path TempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::temp_directory_path() /
                 (std::string("sovgrid-report-") + info->name() + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  return dir;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// "nan" or "inf" as a word (how printf-style formatting writes them).
bool HasNonFiniteNumber(const std::string& text) {
  static const std::regex kWord(R"((^|[^A-Za-z])(nan|inf)([^A-Za-z]|$))", std::regex::icase);
  return std::regex_search(text, kWord);
}

TEST(ReportJson, HasEveryKeyWithItsValue) {
  const TwinReport r = MakeReport();
  const nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["scenario"], "small");
  EXPECT_EQ(j["workload"], "synthetic (1,000 jobs)");
  EXPECT_EQ(j["lines_skipped"], 2);
  ASSERT_EQ(j["warnings"].size(), 2u);
  EXPECT_EQ(j["warnings"][0], "jobs.csv:3: bad <gpus>");
  ASSERT_EQ(j["policies"].size(), 2u);
  const auto& p = j["policies"][1];
  for (const char* key : {"policy",
                          "jobs",
                          "jobs_finished",
                          "jobs_rejected",
                          "jobs_unfinished",
                          "mean_jct_s",
                          "p50_jct_s",
                          "p95_jct_s",
                          "p99_jct_s",
                          "mean_queue_s",
                          "p50_queue_s",
                          "p95_queue_s",
                          "p99_queue_s",
                          "utilization",
                          "fragmentation",
                          "preemptions",
                          "lost_gpu_hours",
                          "energy_mwh",
                          "residency_violations",
                          "jain_index",
                          "scheduler_cpu_s",
                          "decisions",
                          "cycles",
                          "wall_s",
                          "peak_rss_mb",
                          "simulated_s",
                          "sample_interval_s",
                          "jct_quantiles_s",
                          "tenants",
                          "sites",
                          "utilization_window",
                          "unfinished_by_reason"}) {
    EXPECT_TRUE(p.contains(key)) << key;
  }
  EXPECT_EQ(p["policy"], "drf+topology,binpack");
  EXPECT_EQ(p["jobs"], 1000);
  EXPECT_EQ(p["jobs_finished"], 950);
  EXPECT_DOUBLE_EQ(p["mean_jct_s"].get<double>(), 43020);
  EXPECT_DOUBLE_EQ(p["p99_jct_s"].get<double>(), 450000);
  EXPECT_DOUBLE_EQ(p["utilization"].get<double>(), 0.75);
  EXPECT_EQ(p["preemptions"], 12);
  EXPECT_EQ(p["decisions"], 5000);
  EXPECT_DOUBLE_EQ(p["peak_rss_mb"].get<double>(), 210);
  EXPECT_EQ(p["jct_quantiles_s"].size(), 101u);
  ASSERT_EQ(p["tenants"].size(), 3u);
  EXPECT_EQ(p["tenants"][1]["id"], "<b>&");
  EXPECT_DOUBLE_EQ(p["tenants"][1]["share"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(p["tenants"][1]["entitlement"].get<double>(), 0.3);
  EXPECT_EQ(p["tenants"][0]["jobs"], 600);
  EXPECT_EQ(p["tenants"][0]["jobs_finished"], 590);
  EXPECT_DOUBLE_EQ(p["tenants"][0]["p95_queue_s"].get<double>(), 900);
  EXPECT_DOUBLE_EQ(p["utilization_window"].get<double>(), 0.8);
  EXPECT_EQ(p["unfinished_by_reason"], nlohmann::json({{"no_capacity", 30}, {"running", 20}}));
  ASSERT_EQ(p["sites"].size(), 3u);
  EXPECT_EQ(p["sites"][1]["operator"], "KT");
  EXPECT_EQ(p["sites"][1]["edge"], true);
  EXPECT_EQ(p["sites"][0]["tier"], 3);
  EXPECT_EQ(p["sites"][0]["accelerators"], 4096);
  // Time series go to CSV, not JSON.
  EXPECT_FALSE(p.contains("utilization_total"));
  EXPECT_FALSE(p.contains("queue_length"));
}

TEST(ReportJson, NonFiniteNumbersBecomeNull) {
  TwinReport r = MakeReport();
  r.policies[0].mean_jct_s = kNaN;
  r.policies[0].wall_s = kInf;
  const nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_TRUE(j["policies"][0]["mean_jct_s"].is_null());
  EXPECT_TRUE(j["policies"][0]["wall_s"].is_null());
}

TEST(ReportJson, WriteJsonWritesTheSameText) {
  const fs::path dir = TempDir();
  fs::create_directories(dir);
  const TwinReport r = MakeReport();
  ASSERT_TRUE(WriteJson(r, (dir / "r.json").string()).ok());
  EXPECT_EQ(ReadAll(dir / "r.json"), ReportJson(r));
  fs::remove_all(dir);
}

TEST(ReportHtml, IsSelfContainedAndEscaped) {
  const fs::path dir = TempDir() / "nested" / "report";
  TwinReport r = MakeReport();
  r.policies[0].utilization_total.values[5] = kNaN;
  r.policies[0].queue_length.values[7] = kInf;
  r.policies[1].jct_quantiles_s[3] = kNaN;
  r.policies[1].sites[0].utilization = kNaN;
  const Status s = WriteHtmlReport(r, dir.string());
  ASSERT_TRUE(s.ok()) << s.ToString();
  const std::string html = ReadAll(dir / "index.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Nothing fetched from anywhere.
  for (const char* bad :
       {"http://", "https://", "<script", "src=", "href=", "url(", "@import", "<link"}) {
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  }
  // The tenant "<b>&" is escaped wherever it appears.
  EXPECT_NE(html.find("&lt;b&gt;&amp;"), std::string::npos);
  EXPECT_EQ(html.find("<b>&"), std::string::npos);
  EXPECT_EQ(html.find("bad <gpus>"), std::string::npos);
  EXPECT_NE(html.find("bad &lt;gpus&gt;"), std::string::npos);
  EXPECT_FALSE(HasNonFiniteNumber(html));
  // Every section is there.
  for (const char* title :
       {"Summary", "Utilization over time", "Queue length over time", "Job completion time",
        "Share vs entitlement per tenant", "Utilization by site", "Sites by region"}) {
    EXPECT_NE(html.find(title), std::string::npos) << title;
  }
  EXPECT_NE(html.find("drf+topology,binpack"), std::string::npos);
  EXPECT_EQ(html, ReportHtml(r));
  fs::remove_all(TempDir());
}

TEST(ReportHtml, ManyTenantsShowTheTop25) {
  TwinReport r = MakeReport();
  for (auto& p : r.policies) {
    for (int i = 0; i < 40; ++i)
      p.tenants.push_back({"t" + std::to_string(i), 1, 0.001 * i, 0.002});
  }
  const std::string html = ReportHtml(r);
  EXPECT_NE(html.find("top 25 of 43 tenants"), std::string::npos);
}

TEST(ReportHtml, LongSeriesAreDownsampled) {
  TwinReport r = MakeReport();
  for (auto& p : r.policies) {
    p.sample_interval_s = 60;
    p.utilization_total = MakeSeries("total", 200000, 0.5);
    p.queue_length = MakeSeries("queue", 200000, 10);
    p.running_jobs = MakeSeries("running", 200000, 10);
    for (auto& s : p.utilization_by_site) s = MakeSeries(s.name, 200000, 0.5);
    for (auto& s : p.utilization_by_model) s = MakeSeries(s.name, 200000, 0.5);
  }
  const std::string html = ReportHtml(r);
  EXPECT_LT(html.size(), 3'000'000u);
  EXPECT_FALSE(HasNonFiniteNumber(html));
}

TEST(ReportHtml, EmptyReportAndEmptySeriesDoNotCrash) {
  TwinReport empty;
  const std::string html = ReportHtml(empty);
  EXPECT_NE(html.find("No policies were run"), std::string::npos);
  EXPECT_EQ(SummaryTable(empty), "(no policies were run)\n");
  const nlohmann::json j = nlohmann::json::parse(ReportJson(empty));
  EXPECT_TRUE(j["policies"].is_array());
  EXPECT_TRUE(j["policies"].empty());

  TwinReport r;
  PolicyResult p;
  p.policy = "fifo";
  r.policies.push_back(p);  // zero jobs, no series, no tenants, no sites
  p.policy = "odd";
  p.sample_interval_s = kNaN;
  p.simulated_s = kInf;
  p.utilization_total.values = {kNaN, kNaN};
  p.queue_length.values = {5};
  p.jct_quantiles_s = {kNaN};
  p.jobs_finished = 1;
  r.policies.push_back(p);
  const std::string one = ReportHtml(r);
  EXPECT_NE(one.find("no data"), std::string::npos);
  EXPECT_NE(one.find("no finished jobs"), std::string::npos);
  EXPECT_FALSE(HasNonFiniteNumber(one));
  EXPECT_FALSE(SummaryTable(r).empty());

  const fs::path dir = TempDir();
  ASSERT_TRUE(WriteCsv(empty, dir.string()).ok());
  EXPECT_EQ(Lines(ReadAll(dir / "summary.csv")).size(), 1u);
  ASSERT_TRUE(WriteCsv(r, dir.string()).ok());
  EXPECT_EQ(Lines(ReadAll(dir / "fifo-timeseries.csv")).size(), 1u);
  EXPECT_EQ(Lines(ReadAll(dir / "odd-timeseries.csv")).size(), 3u);
  ASSERT_TRUE(WriteHtmlReport(r, dir.string()).ok());
  fs::remove_all(dir);
}

TEST(ReportHtml, SinglePolicyHasNoHighlight) {
  TwinReport r = MakeReport();
  r.policies.resize(1);
  const std::string html = ReportHtml(r);
  EXPECT_EQ(html.find("class=\"best\""), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
}

TEST(ReportHtml, HighlightsTheBestAndFlagsResidencyViolations) {
  TwinReport r = MakeReport();
  r.policies[0].residency_violations = 3;
  const std::string html = ReportHtml(r);
  EXPECT_NE(html.find("class=\"best\""), std::string::npos);
  EXPECT_NE(html.find("<td class=\"bad\">3</td>"), std::string::npos);
}

TEST(ReportCsv, WritesEveryFileWithItsShape) {
  const fs::path dir = TempDir();
  const TwinReport r = MakeReport();
  const Status s = WriteCsv(r, dir.string());
  ASSERT_TRUE(s.ok()) << s.ToString();
  const std::vector<std::string> stems = PolicyFileStems(r);
  ASSERT_EQ(stems.size(), 2u);
  EXPECT_EQ(stems[0], "fifo");
  EXPECT_EQ(stems[1], "drf+topology_binpack");

  const auto series = Lines(ReadAll(dir / "drf+topology_binpack-timeseries.csv"));
  ASSERT_EQ(series.size(), 49u);
  EXPECT_EQ(series[0],
            "t_hours,utilization,queue_length,running_jobs,util_site_kisti-1,util_site_edge-busan,"
            "util_site_skt-seoul,util_model_B200,util_model_L4");
  EXPECT_EQ(series[1].substr(0, 6), "0,0.7,");
  EXPECT_EQ(series[48].substr(0, 3), "47,");

  const auto tenants = Lines(ReadAll(dir / "fifo-tenants.csv"));
  ASSERT_EQ(tenants.size(), 4u);
  EXPECT_EQ(tenants[0],
            "tenant,gpu_hours,share,entitlement,jobs,jobs_finished,mean_queue_s,p95_queue_s,"
            "mean_jct_s");
  EXPECT_EQ(tenants[1], "msit/research/kisti,1200,0.6,0.5,600,590,120,900,7200");
  EXPECT_EQ(tenants[3], "\"startups,\"\"quoted\"\"\",300,0.15,0.2,0,0,0,0,0");
  const auto unfinished = Lines(ReadAll(dir / "fifo-unfinished.csv"));
  ASSERT_EQ(unfinished.size(), 3u);
  EXPECT_EQ(unfinished[0], "reason,jobs");
  EXPECT_EQ(unfinished[1], "no_capacity,30");
  const auto tenants_unfinished = Lines(ReadAll(dir / "fifo-tenants-unfinished.csv"));
  ASSERT_EQ(tenants_unfinished.size(), 4u);
  EXPECT_EQ(tenants_unfinished[0], "tenant,reason,jobs");
  EXPECT_EQ(tenants_unfinished[1], "msit/research/kisti,no_capacity,8");
  EXPECT_EQ(tenants_unfinished[2], "msit/research/kisti,running,2");
  EXPECT_EQ(tenants_unfinished[3], "\"startups,\"\"quoted\"\"\",grant_inactive,22");

  const auto summary = Lines(ReadAll(dir / "summary.csv"));
  ASSERT_EQ(summary.size(), 3u);
  EXPECT_EQ(summary[0].rfind("policy,jobs,jobs_finished,", 0), 0u);
  for (const char* key : {"mean_jct_s", "p50_jct_s", "p99_jct_s", "mean_queue_s", "utilization",
                          "residency_violations", "preemptions", "scheduler_cpu_s", "decisions",
                          "wall_s", "peak_rss_mb"}) {
    EXPECT_NE(summary[0].find(key), std::string::npos) << key;
  }
  EXPECT_EQ(summary[0].find("tenants"), std::string::npos);
  EXPECT_EQ(summary[2].rfind("\"drf+topology,binpack\",1000,950,", 0), 0u);
  // Same number of columns in every row (the quoted comma does not count).
  EXPECT_EQ(std::count(summary[0].begin(), summary[0].end(), ','),
            std::count(summary[1].begin(), summary[1].end(), ','));
  fs::remove_all(dir);
}

TEST(ReportCsv, FileStemsAreSafeAndUnique) {
  TwinReport r;
  for (const char* name :
       {"a,b", "a;b", "FIFO", "fifo", "", "../etc/passwd", "las+fragmentation"}) {
    PolicyResult p;
    p.policy = name;
    r.policies.push_back(p);
  }
  const std::vector<std::string> stems = PolicyFileStems(r);
  EXPECT_EQ(stems, (std::vector<std::string>{"a_b", "a_b-2", "FIFO", "fifo-2", "policy",
                                             "_._etc_passwd", "las+fragmentation"}));
}

TEST(ReportSummaryTable, HumanUnitsAndAlignedColumns) {
  const TwinReport r = MakeReport();
  const std::string table = SummaryTable(r);
  EXPECT_NE(table.find("23.9 h"), std::string::npos);
  EXPECT_NE(table.find("41 min"), std::string::npos);
  EXPECT_NE(table.find("75.0%"), std::string::npos);
  EXPECT_NE(table.find("drf+topology,binpack"), std::string::npos);
  for (const char* row :
       {"jobs", "finished", "mean JCT", "p50 JCT", "p95 JCT", "p99 JCT", "mean queue wait",
        "utilization", "fragmentation", "preemptions", "lost work", "energy", "Jain index",
        "residency violations", "scheduler CPU", "decisions", "cycles", "wall time", "peak RSS"}) {
    EXPECT_NE(table.find(row), std::string::npos) << row;
  }
  const auto lines = Lines(table);
  ASSERT_GT(lines.size(), 3u);
  for (const auto& line : lines) EXPECT_EQ(line.size(), lines[0].size()) << line;
}

TEST(ReportErrors, UnwritablePathIsAnIoErrorNamingIt) {
  const TwinReport r = MakeReport();
  const Status html = WriteHtmlReport(r, "/proc/x");
  EXPECT_EQ(html.code(), StatusCode::kIoError);
  EXPECT_NE(html.message().find("/proc/x"), std::string::npos) << html.message();
  const Status csv = WriteCsv(r, "/proc/x");
  EXPECT_EQ(csv.code(), StatusCode::kIoError);
  EXPECT_NE(csv.message().find("/proc/x"), std::string::npos) << csv.message();
  const Status json = WriteJson(r, "/proc/x/report.json");
  EXPECT_EQ(json.code(), StatusCode::kIoError);
  EXPECT_NE(json.message().find("/proc/x/report.json"), std::string::npos) << json.message();
}

}  // namespace
}  // namespace sovgrid::report

namespace sovgrid::report {
namespace {

// The edge figures reach every output: the JSON (null without edge
// services), the summary CSV, the pools CSV, the terminal table and its
// explanations, and the HTML report's Edge section.
TEST(ReportEdge, EdgeFiguresInEveryOutput) {
  TwinReport r = MakeReport();
  PolicyResult& edge = r.policies[0];
  edge.edge_services = 200;
  edge.edge_services_placed = 190;
  edge.edge_latency_attainment = 0.95;
  edge.edge_served_share = 0.875;
  edge.radio_preemptions = 7;
  edge.radio_lost_gpu_hours = 1.5;
  twin::PoolUsage pool;
  pool.id = "edge-busan-l4";
  pool.site = "edge-busan";
  pool.accelerator = "L4";
  pool.accelerators = 64;
  pool.edge = true;
  pool.radio_accelerator_hours = 600;
  edge.pools = {pool};
  PolicyResult& none = r.policies[1];
  none.edge_latency_attainment = std::numeric_limits<double>::quiet_NaN();
  none.edge_served_share = std::numeric_limits<double>::quiet_NaN();

  const nlohmann::json j = nlohmann::json::parse(ReportJson(r));
  EXPECT_EQ(j["policies"][0]["edge_services"], 200);
  EXPECT_EQ(j["policies"][0]["edge_services_placed"], 190);
  EXPECT_DOUBLE_EQ(j["policies"][0]["edge_latency_attainment"].get<double>(), 0.95);
  EXPECT_DOUBLE_EQ(j["policies"][0]["edge_served_share"].get<double>(), 0.875);
  EXPECT_EQ(j["policies"][0]["radio_preemptions"], 7);
  EXPECT_DOUBLE_EQ(j["policies"][0]["radio_lost_gpu_hours"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(j["policies"][0]["pools"][0]["radio_accelerator_hours"].get<double>(), 600);
  EXPECT_TRUE(j["policies"][1]["edge_latency_attainment"].is_null());

  const std::string table = SummaryTable(r);
  for (const char* row :
       {"radio preemptions", "edge services", "edge latency met", "edge time served"}) {
    EXPECT_NE(table.find(row), std::string::npos) << row;
  }
  EXPECT_NE(table.find("95.0%"), std::string::npos);
  EXPECT_NE(table.find("87.5%"), std::string::npos);
  const std::string why = ExplanationsText(r);
  EXPECT_NE(why.find("fifo: edge: 200 services, 95.0% placed within their latency objective, "
                     "87.5% of their requested time served; the radio held 600.0 accelerator-hours "
                     "and preempted 7 jobs (1.50 GPU-h lost)"),
            std::string::npos)
      << why;
  EXPECT_EQ(why.find("drf+topology,binpack: edge"), std::string::npos) << why;

  const std::string html = ReportHtml(r);
  EXPECT_NE(html.find("<h2>Edge</h2>"), std::string::npos);
  EXPECT_NE(html.find("edge-busan-l4"), std::string::npos);
  EXPECT_FALSE(HasNonFiniteNumber(html));

  const fs::path dir = TempDir();
  ASSERT_TRUE(WriteCsv(r, dir.string()).ok());
  const auto summary = Lines(ReadAll(dir / "summary.csv"));
  for (const char* key : {"radio_preemptions", "radio_lost_gpu_hours", "edge_services",
                          "edge_latency_attainment", "edge_served_share"}) {
    EXPECT_NE(summary[0].find(key), std::string::npos) << key;
  }
  const auto pools = Lines(ReadAll(dir / "fifo-pools.csv"));
  ASSERT_EQ(pools.size(), 2u);
  EXPECT_EQ(pools[0].substr(pools[0].rfind(',') + 1), "radio_accelerator_hours");
  EXPECT_EQ(pools[1].substr(pools[1].rfind(',') + 1), "600");
  fs::remove_all(dir);
}

// The story at the top of the HTML report comes from the figures: which
// policy serves which tenant better (leaves only), who did not finish and
// why, where capacity sat idle and why; and it says so when policies tie.
TEST(ReportStory, SaysWhoWaitsAndWhyFromTheFigures) {
  auto tenant = [](std::string id, double fifo_wait, double drf_wait, bool drf) {
    TenantUsage u;
    u.id = std::move(id);
    u.jobs = 100;
    u.jobs_finished = 90;
    u.mean_queue_s = drf ? drf_wait : fifo_wait;
    u.p95_queue_s = 2 * u.mean_queue_s;
    return u;
  };
  TwinReport r;
  for (const char* name : {"fifo", "drf"}) {
    PolicyResult p;
    p.policy = name;
    const bool drf = p.policy == "drf";
    p.jobs = 300;
    p.jobs_finished = 270;
    p.jobs_unfinished = 30;
    p.mean_queue_s = drf ? 3600 : 4 * 3600;
    p.simulated_s = 100 * 3600;
    p.tenants = {tenant("a", 5 * 3600, 3600, drf), tenant("a/x", 10 * 3600, 3600, drf),
                 tenant("a/y", 3600, 3600, drf), tenant("b", 1800, 7200, drf)};
    p.tenants[1].unfinished_by_reason = {{"grant_spent", 25}, {"no_capacity", 5}};
    twin::PoolUsage q;
    q.id = "npu-pool";
    q.accelerator = "RNGD";
    q.accelerators = 100;
    // The story speaks of the arrival window; the whole run's (drain tail
    // included) are larger and must not be the ones it quotes.
    q.stranded_accelerator_hours = 5000;
    q.stranded_by_reason = {{"quota_grant", 4000}, {"shape", 100}, {"stack", 900}};
    q.stranded_window_accelerator_hours = 1000;
    q.stranded_window_by_reason = {{"quota_grant", 0}, {"shape", 100}, {"stack", 900}};
    p.arrival_window_s = 50 * 3600;
    p.pools = {q};
    r.policies.push_back(std::move(p));
  }
  std::string all;
  for (const auto& line : StoryLines(r)) all += line + "\n";
  EXPECT_NE(all.find("drf keeps the mean wait shortest, fifo longest (4.0\u00d7)"),
            std::string::npos)
      << all;
  // Leaves a/x, a/y and b; a/y ties; a (a parent) is not counted.
  EXPECT_NE(all.find("Of 3 tenants with finished jobs, 2 wait clearly less under one policy"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("fifo for 1 and drf for 1"), std::string::npos) << all;
  EXPECT_NE(all.find("a/x waits " + HumanDuration(10 * 3600) + " on average under fifo and " +
                     HumanDuration(3600) + " under drf"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("a/x 30 (25 of them because its grant was spent)"), std::string::npos) << all;
  EXPECT_NE(all.find("npu-pool (100 RNGD, 1,000 GPU-h, 90 % of them because it does not run "
                     "the waiting jobs' software stack)"),
            std::string::npos)
      << all;
  // 1,000 of the 100 accelerators' 50 hours up to the last arrival.
  EXPECT_NE(all.find("up to the last arrival, 1,000 accelerator-hours sat idle while jobs waited "
                     "(20"),
            std::string::npos)
      << all;
  EXPECT_NE(ReportHtml(r).find("<h2>What the runs say</h2>"), std::string::npos);

  // Equal waits: the story says the order rarely matters.
  r.policies[1].mean_queue_s = r.policies[0].mean_queue_s;
  for (auto& p : r.policies) {
    for (auto& t : p.tenants) t.mean_queue_s = 1800;
  }
  all.clear();
  for (const auto& line : StoryLines(r)) all += line + "\n";
  EXPECT_NE(all.find("nearly the same waits"), std::string::npos) << all;
  EXPECT_NE(all.find("No tenant's mean wait differs"), std::string::npos) << all;
  EXPECT_TRUE(StoryLines(TwinReport{}).empty());
}

}  // namespace
}  // namespace sovgrid::report
