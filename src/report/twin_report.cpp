#include "report/twin_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "report/html.h"
#include "sched/decision.h"

namespace sovgrid::report {

using twin::PolicyResult;
using twin::PoolUsage;
using twin::Series;
using twin::SiteUsage;
using twin::TenantUsage;
using twin::TwinReport;

using html::Axis;
using html::BarGroup;
using html::BarSeries;
using html::ChartOptions;
using html::DurationLogAxis;
using html::Esc;
using html::GroupedBarChart;
using html::JoinPath;
using html::kCss;
using html::kEntitlementColor;
using html::Line;
using html::LinearAxis;
using html::LineChart;
using html::MakeDirectory;
using html::NoDataSvg;
using html::PercentAxis;
using html::Point;
using html::PolicyColor;
using html::Section;
using html::Svg;
using html::TextWidth;
using html::TimeAxis;
using html::UtilColor;
using html::WriteFile;

namespace {

using Json = nlohmann::ordered_json;

// A policy's accounting rows grouped by `g` over the whole simulated period.
std::vector<accounting::ReportRow> AccountingRows(const PolicyResult& p, accounting::GroupBy g) {
  accounting::ReportBuilder b(g);
  for (const auto& d : p.usage_daily) b.Add(d);
  return b.Rows();
}

// ===========================================================================
// The summary figures, shared by the terminal table and the HTML table
// ===========================================================================

enum class Better { kNone, kLower, kHigher };
enum class Unit { kCount, kDuration, kPercent, kGpuHours, kMwh, kIndex, kSeconds, kMegabytes };

struct Figure {
  std::string_view label;
  Unit unit;
  Better better;
  double (*value)(const PolicyResult&);
};

double D(std::size_t v) { return static_cast<double>(v); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// A JCT percentile means nothing when no job finished.
double IfFinished(const PolicyResult& p, double v) { return p.jobs_finished > 0 ? v : kNaN; }
double IfJobs(const PolicyResult& p, double v) { return p.jobs > 0 ? v : kNaN; }

constexpr Figure kFigures[] = {
    {"jobs", Unit::kCount, Better::kNone, [](const PolicyResult& p) { return D(p.jobs); }},
    {"finished", Unit::kCount, Better::kHigher,
     [](const PolicyResult& p) { return D(p.jobs_finished); }},
    {"unfinished", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.jobs_unfinished); }},
    {"rejected", Unit::kCount, Better::kNone,
     [](const PolicyResult& p) { return D(p.jobs_rejected); }},
    {"mean JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.mean_jct_s); }},
    {"p50 JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.p50_jct_s); }},
    {"p95 JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.p95_jct_s); }},
    {"p99 JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.p99_jct_s); }},
    {"mean queue wait", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfJobs(p, p.mean_queue_s); }},
    {"p95 queue wait", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfJobs(p, p.p95_queue_s); }},
    {"utilization", Unit::kPercent, Better::kHigher,
     [](const PolicyResult& p) { return p.utilization; }},
    {"utilization (window)", Unit::kPercent, Better::kHigher,
     [](const PolicyResult& p) { return p.utilization_window; }},
    {"fragmentation", Unit::kPercent, Better::kLower,
     [](const PolicyResult& p) { return p.fragmentation; }},
    {"preemptions", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.preemptions); }},
    {"lost work", Unit::kGpuHours, Better::kLower,
     [](const PolicyResult& p) { return p.lost_gpu_hours; }},
    {"radio preemptions", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.radio_preemptions); }},
    {"edge services", Unit::kCount, Better::kNone,
     [](const PolicyResult& p) { return D(p.edge_services); }},
    {"edge latency met", Unit::kPercent, Better::kHigher,
     [](const PolicyResult& p) { return p.edge_latency_attainment; }},
    {"edge time served", Unit::kPercent, Better::kHigher,
     [](const PolicyResult& p) { return p.edge_served_share; }},
    {"energy", Unit::kMwh, Better::kNone, [](const PolicyResult& p) { return p.energy_mwh; }},
    {"Jain index", Unit::kIndex, Better::kHigher,
     [](const PolicyResult& p) { return p.jain_index; }},
    {"residency violations", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.residency_violations); }},
    {"scheduler CPU", Unit::kSeconds, Better::kLower,
     [](const PolicyResult& p) { return p.scheduler_cpu_s; }},
    {"decisions", Unit::kCount, Better::kNone,
     [](const PolicyResult& p) { return D(p.decisions); }},
    {"cycles", Unit::kCount, Better::kNone, [](const PolicyResult& p) { return D(p.cycles); }},
    {"wall time", Unit::kSeconds, Better::kLower, [](const PolicyResult& p) { return p.wall_s; }},
    {"peak RSS", Unit::kMegabytes, Better::kLower,
     [](const PolicyResult& p) { return p.peak_rss_mb; }},
};

std::string FormatFigure(Unit unit, double v) {
  if (!std::isfinite(v)) return std::string(kMissing);
  switch (unit) {
    case Unit::kCount:
      return WithThousands(std::llround(v));
    case Unit::kDuration:
      return HumanDuration(v);
    case Unit::kPercent:
      return fmt::format("{:.1f}%", 100 * v);
    case Unit::kGpuHours:
      return Magnitude(v) + " GPU-h";
    case Unit::kMwh:
      return Magnitude(v) + " MWh";
    case Unit::kIndex:
      return fmt::format("{:.3f}", v);
    case Unit::kSeconds:
      return Magnitude(v) + " s";
    case Unit::kMegabytes:
      return fmt::format("{:.0f} MB", v);
  }
  return std::string(kMissing);
}

// Which policies hold the best value of a figure; none when all are equal or
// fewer than two policies have a value.
std::vector<bool> BestOf(const std::vector<double>& values, Better better) {
  std::vector<bool> best(values.size(), false);
  if (better == Better::kNone) return best;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  int finite = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    ++finite;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (finite < 2 || lo == hi) return best;
  const double target = better == Better::kLower ? lo : hi;
  for (std::size_t i = 0; i < values.size(); ++i) best[i] = values[i] == target;
  return best;
}

// ===========================================================================
// JSON
// ===========================================================================

// Every scalar of a PolicyResult, under its own name. summary.csv uses the same keys.
Json PolicyScalars(const PolicyResult& p) {
  Json j;
  j["policy"] = p.policy;
  if (!p.variant.empty()) j["variant"] = p.variant;
  j["jobs"] = p.jobs;
  j["jobs_finished"] = p.jobs_finished;
  j["jobs_rejected"] = p.jobs_rejected;
  j["jobs_unfinished"] = p.jobs_unfinished;
  j["mean_jct_s"] = p.mean_jct_s;
  j["p50_jct_s"] = p.p50_jct_s;
  j["p95_jct_s"] = p.p95_jct_s;
  j["p99_jct_s"] = p.p99_jct_s;
  j["mean_queue_s"] = p.mean_queue_s;
  j["p50_queue_s"] = p.p50_queue_s;
  j["p95_queue_s"] = p.p95_queue_s;
  j["p99_queue_s"] = p.p99_queue_s;
  j["utilization"] = p.utilization;
  j["utilization_window"] = p.utilization_window;
  j["fragmentation"] = p.fragmentation;
  j["preemptions"] = p.preemptions;
  j["lost_gpu_hours"] = p.lost_gpu_hours;
  j["radio_preemptions"] = p.radio_preemptions;
  j["radio_lost_gpu_hours"] = p.radio_lost_gpu_hours;
  j["edge_services"] = p.edge_services;
  j["edge_services_placed"] = p.edge_services_placed;
  j["edge_latency_attainment"] = p.edge_latency_attainment;
  j["edge_served_share"] = p.edge_served_share;
  j["energy_mwh"] = p.energy_mwh;
  j["residency_violations"] = p.residency_violations;
  j["jain_index"] = p.jain_index;
  j["scheduler_cpu_s"] = p.scheduler_cpu_s;
  j["decisions"] = p.decisions;
  j["cycles"] = p.cycles;
  j["wall_s"] = p.wall_s;
  j["peak_rss_mb"] = p.peak_rss_mb;
  j["simulated_s"] = p.simulated_s;
  j["sample_interval_s"] = p.sample_interval_s;
  return j;
}

std::string DumpJson(const Json& j) {
  // Invalid UTF-8 in a name is replaced rather than thrown on.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string CsvValue(const Json& v) {
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_number_float()) return CsvNumber(v.get<double>());
  if (v.is_number() || v.is_boolean()) return v.dump();
  return "";
}

// ===========================================================================
// Colours
// ===========================================================================

// Points of a series sampled every `interval_h` hours from 0.
std::vector<Point> SeriesPoints(const Series& series, double interval_h) {
  std::vector<Point> points;
  points.reserve(series.values.size());
  for (std::size_t i = 0; i < series.values.size(); ++i) {
    points.push_back({static_cast<double>(i) * interval_h, series.values[i]});
  }
  return points;
}

struct HeatRow {
  std::string label;
  std::string group;  // rows of a group are adjacent; its name is shown once, on the left
  const std::vector<double>* values;
};

// Rows of utilization (0..1) over time as coloured cells, with a colour key.
std::string Heatmap(const std::vector<HeatRow>& rows, double interval_h, const ChartOptions& o) {
  std::size_t n = 0;
  for (const auto& r : rows) n = std::max(n, r.values->size());
  if (rows.empty() || n == 0) return NoDataSvg(o, "no data");
  const std::size_t columns = std::min<std::size_t>(n, 300);
  double label_w = 0, group_w = 0;
  for (const auto& r : rows) {
    label_w = std::max(label_w, TextWidth(Truncate(r.label, 28)));
    group_w = std::max(group_w, TextWidth(Truncate(r.group, 20)));
  }
  const double group_col = group_w > 0 ? group_w + 16 : 0;
  const double left = group_col + std::clamp(label_w + 12, 60.0, 240.0);
  const double right = 28, bottom = 80, row_h = 16;
  const double top = o.title.empty() ? 12 : 34;
  const double plot_w = o.width - left - right;
  const double plot_h = row_h * static_cast<double>(rows.size());
  const double height = top + plot_h + bottom;
  const Axis x = TimeAxis(static_cast<double>(n) * interval_h);
  auto px = [&](double hours) { return left + x.Fraction(hours) * plot_w; };

  Svg svg(o.width, height, o.title);
  if (!o.title.empty()) svg.Text(0, 16, o.title, "start", "title");
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const double y = top + row_h * static_cast<double>(r);
    const auto& values = *rows[r].values;
    if (r == 0 || rows[r].group != rows[r - 1].group) {
      if (r > 0) svg.Line(0, y, left + plot_w, y, "separator");
      svg.Text(0, y + 12, Truncate(rows[r].group, 20), "start", "axis-title", rows[r].group);
    }
    double sum = 0;
    std::size_t count = 0;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      sum += v;
      ++count;
    }
    const std::string mean = count > 0
                                 ? fmt::format("{:.1f}%", 100 * sum / static_cast<double>(count))
                                 : std::string("no data");
    svg.Text(left - 8, y + 12, Truncate(rows[r].label, 28), "end", {},
             fmt::format("{}: mean utilization {}", rows[r].label, mean));
    svg.Rect(left, y + 1, plot_w, row_h - 2, "#f3f4f6");
    // Buckets of samples, merged while their colour stays the same.
    std::string run_color;
    double run_start = 0;
    auto flush = [&](double end_hours) {
      if (!run_color.empty())
        svg.Rect(px(run_start), y + 1, px(end_hours) - px(run_start), row_h - 2, run_color);
    };
    for (std::size_t c = 0; c < columns; ++c) {
      const std::size_t begin = c * n / columns, end = (c + 1) * n / columns;
      double bucket_sum = 0;
      std::size_t bucket_count = 0;
      for (std::size_t i = begin; i < end && i < values.size(); ++i) {
        if (!std::isfinite(values[i])) continue;
        bucket_sum += values[i];
        ++bucket_count;
      }
      const std::string color = bucket_count > 0
                                    ? UtilColor(bucket_sum / static_cast<double>(bucket_count))
                                    : std::string();
      const double start_h = static_cast<double>(begin) * interval_h;
      if (color != run_color) {
        flush(start_h);
        run_color = color;
        run_start = start_h;
      }
    }
    flush(static_cast<double>(n) * interval_h);
  }
  for (const auto& t : x.ticks) {
    svg.Line(px(t.value), top + plot_h, px(t.value), top + plot_h + 4, "axis");
    svg.Text(px(t.value), top + plot_h + 18, t.label, "middle");
  }
  svg.Text(left + plot_w / 2, top + plot_h + 36, x.title, "middle", "axis-title");
  // Colour key.
  const double key_y = top + plot_h + 52, key_w = 24;
  svg.Text(left, key_y + 11, "utilization", "start", "muted");
  const double key_x = left + 70;
  for (int i = 0; i <= 10; ++i) {
    svg.Rect(key_x + key_w * i, key_y, key_w, 14, UtilColor(i / 10.0), fmt::format("{}%", i * 10));
  }
  svg.Text(key_x + key_w * 11 + 8, key_y + 11, "0% \u2192 100% (grey: no data)", "start", "muted");
  return svg.Finish();
}

// ===========================================================================
// HTML sections
// ===========================================================================

std::string PolicySwatch(std::size_t i, std::string_view name) {
  return fmt::format(
      R"(<span class="policy"><span class="swatch" style="background:{}"></span>{}</span>)",
      PolicyColor(i), Esc(name));
}

std::string PolicyLegendHtml(const TwinReport& report) {
  std::string out = R"(<p class="note">)";
  for (std::size_t i = 0; i < report.policies.size(); ++i)
    out += PolicySwatch(i, report.policies[i].Label());
  return out + "</p>\n";
}

double IntervalHours(const PolicyResult& p) {
  return std::isfinite(p.sample_interval_s) && p.sample_interval_s > 0 ? p.sample_interval_s / 3600
                                                                       : 1.0;
}

// The longest time any policy's series covers, in hours.
double SeriesSpanHours(const TwinReport& report, const Series PolicyResult::*series) {
  double span = 0;
  for (const auto& p : report.policies) {
    const auto& values = (p.*series).values;
    if (values.size() > 1)
      span = std::max(span, static_cast<double>(values.size() - 1) * IntervalHours(p));
  }
  return span;
}

std::string HeaderHtml(const TwinReport& report) {
  std::string out = "<header>\n<h1>sovgrid digital twin report</h1>\n<dl class=\"meta\">\n";
  out += fmt::format("<dt>Scenario</dt><dd>{}</dd>\n",
                     Esc(report.scenario.empty() ? "(unnamed)" : report.scenario));
  out += fmt::format("<dt>Workload</dt><dd>{}</dd>\n",
                     Esc(report.workload.empty() ? "(none)" : report.workload));
  out += "<dt>Policies compared</dt><dd>";
  if (report.policies.empty()) out += "none";
  for (std::size_t i = 0; i < report.policies.size(); ++i)
    out += PolicySwatch(i, report.policies[i].Label());
  out += "</dd>\n";
  if (!report.policies.empty()) {
    const PolicyResult& p = report.policies.front();
    out += fmt::format("<dt>Simulated time</dt><dd>{}, sampled every {}</dd>\n",
                       HumanDuration(p.simulated_s), HumanDuration(p.sample_interval_s));
  }
  out += fmt::format("<dt>Skipped input lines</dt><dd>{}</dd>\n",
                     WithThousands(static_cast<long long>(report.lines_skipped)));
  out += "</dl>\n";
  if (!report.warnings.empty()) {
    constexpr std::size_t kShown = 50;
    out += fmt::format("<div class=\"warnings\"><b>{} warning{}</b><ul>\n", report.warnings.size(),
                       report.warnings.size() == 1 ? "" : "s");
    for (std::size_t i = 0; i < report.warnings.size() && i < kShown; ++i) {
      out += fmt::format("<li>{}</li>\n", Esc(report.warnings[i]));
    }
    if (report.warnings.size() > kShown)
      out += fmt::format("<li>and {} more</li>\n", report.warnings.size() - kShown);
    out += "</ul></div>\n";
  }
  return out + "</header>\n";
}

std::string SummaryHtml(const TwinReport& report) {
  std::string out = "<section id=\"summary\">\n<h2>Summary</h2>\n";
  if (report.policies.empty())
    return out + "<p class=\"note\">No policies were run.</p>\n</section>\n";
  out +=
      "<p class=\"note\">The best value of each row is highlighted (when policies differ). "
      "JCT: job completion time, from submission to the end. Lost work: accelerator-hours "
      "thrown away by preemption and failures.</p>\n";
  out += "<table class=\"summary\">\n<thead><tr><th></th>";
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    out += "<th>" + PolicySwatch(i, report.policies[i].Label()) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const Figure& f : kFigures) {
    std::vector<double> values, comparable;
    for (const auto& p : report.policies) {
      values.push_back(f.value(p));
      // A policy that ran no job is not a contender for the best value.
      comparable.push_back(p.jobs > 0 ? values.back() : kNaN);
    }
    const std::vector<bool> best = BestOf(comparable, f.better);
    const bool group_start =
        f.label == "mean JCT" || f.label == "utilization" || f.label == "scheduler CPU";
    out += group_start ? "<tr class=\"group\">" : "<tr>";
    out += fmt::format("<td>{}</td>", Esc(f.label));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const bool bad = f.label == "residency violations" && values[i] > 0;
      out += fmt::format("<td{}>{}</td>",
                         bad       ? " class=\"bad\""
                         : best[i] ? " class=\"best\""
                                   : "",
                         Esc(FormatFigure(f.unit, values[i])));
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n</section>\n";
}

// A card with a title, a note (HTML: callers escape any text in it) and a body (HTML).
// One line per policy of a series every policy has (utilization, queue length...).
std::string PolicySeriesChart(const TwinReport& report, const Series PolicyResult::*series,
                              const Axis& y, const std::string& title) {
  std::vector<Line> lines;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    lines.push_back({p.Label(), PolicyColor(i), SeriesPoints(p.*series, IntervalHours(p)), false});
  }
  ChartOptions o;
  o.title = title;
  o.legend = report.policies.size() > 1;
  return LineChart(TimeAxis(SeriesSpanHours(report, series)), y, lines, o);
}

double MaxFinite(const TwinReport& report, const Series PolicyResult::*series) {
  double hi = 0;
  for (const auto& p : report.policies) {
    for (double v : (p.*series).values) {
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
  }
  return hi;
}

std::string UtilizationHtml(const TwinReport& report) {
  return Section(
      "Utilization over time",
      "Allocated accelerators as a share of the accelerators available, over the whole grid.",
      PolicySeriesChart(report, &PolicyResult::utilization_total,
                        PercentAxis("allocated accelerators (%)"), "Grid utilization"));
}

std::string QueueHtml(const TwinReport& report) {
  std::string body = PolicySeriesChart(
      report, &PolicyResult::queue_length,
      LinearAxis("pending jobs", 0, MaxFinite(report, &PolicyResult::queue_length)),
      "Queue length");
  body += PolicySeriesChart(
      report, &PolicyResult::running_jobs,
      LinearAxis("running jobs", 0, MaxFinite(report, &PolicyResult::running_jobs)),
      "Running jobs");
  return Section("Queue length over time",
                 "Jobs waiting in the queue, and jobs running, at each sample.", body);
}

std::string JctCdfHtml(const TwinReport& report) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  std::vector<Line> lines;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    Line line{p.Label(), PolicyColor(i), {}, false};
    const auto& q = p.jct_quantiles_s;
    if (p.jobs_finished > 0 && q.size() >= 2) {
      for (std::size_t k = 0; k < q.size(); ++k) {
        if (!std::isfinite(q[k])) continue;
        line.points.push_back({q[k], static_cast<double>(k) / static_cast<double>(q.size() - 1)});
        if (q[k] > 0) lo = std::min(lo, q[k]);
        hi = std::max(hi, q[k]);
      }
    }
    lines.push_back(std::move(line));
  }
  ChartOptions o;
  o.title = "Cumulative distribution of JCT";
  o.legend = report.policies.size() > 1;
  const Axis x = DurationLogAxis("job completion time (log scale)", lo, hi);
  Axis y = LinearAxis("fraction of finished jobs", 0, 1);
  const bool any =
      std::any_of(lines.begin(), lines.end(), [](const Line& l) { return !l.points.empty(); });
  return Section("Job completion time",
                 "Share of finished jobs that completed within a given time (submission to end). "
                 "Further left and higher is better.",
                 any ? LineChart(x, y, lines, o) : NoDataSvg(o, "no finished jobs"));
}

std::string TenantsHtml(const TwinReport& report) {
  // Tenants of every policy, by id, in order of first appearance.
  struct Row {
    std::string id;
    double entitlement = kNaN;
    std::vector<double> share;
  };
  std::vector<Row> rows;
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    for (const auto& t : report.policies[i].tenants) {
      auto [it, added] = index.emplace(t.id, rows.size());
      if (added)
        rows.push_back({t.id, t.entitlement, std::vector<double>(report.policies.size(), kNaN)});
      Row& row = rows[it->second];
      if (!std::isfinite(row.entitlement)) row.entitlement = t.entitlement;
      row.share[i] = t.share;
    }
  }
  auto weight = [](const Row& r) {
    double w = std::isfinite(r.entitlement) ? r.entitlement : 0;
    for (double s : r.share) {
      if (std::isfinite(s)) w = std::max(w, s);
    }
    return w;
  };
  constexpr std::size_t kTop = 25;
  std::string note =
      "Each tenant's share of the accelerator-hours delivered, per policy, next to its entitlement "
      "(its guarantee's share of the grid's capacity).";
  if (rows.size() > kTop) {
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const Row& a, const Row& b) { return weight(a) > weight(b); });
    note += fmt::format(
        " Showing the top {} of {} tenants, ranked by the larger of entitlement and share.", kTop,
        rows.size());
    rows.resize(kTop);
  }
  std::vector<BarSeries> series{{"entitlement", std::string(kEntitlementColor)}};
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    series.push_back({"share: " + report.policies[i].Label(), PolicyColor(i)});
  }
  std::vector<BarGroup> groups;
  double hi = 0;
  for (const Row& r : rows) {
    BarGroup g{r.id, {r.entitlement}};
    g.values.insert(g.values.end(), r.share.begin(), r.share.end());
    for (double v : g.values) {
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
    groups.push_back(std::move(g));
  }
  ChartOptions o;
  o.title = "Share vs entitlement per tenant";
  const Axis x = PercentAxis("share of accelerator-hours (%)", hi);
  return Section("Tenants", Esc(note), GroupedBarChart(series, groups, x, o, [](double v) {
                   return fmt::format("{:.2f}%", 100 * v);
                 }));
}

const SiteUsage* FindSite(const PolicyResult& p, std::string_view id) {
  for (const auto& s : p.sites) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

// Region of each site id, from the first policy that lists it.
std::map<std::string, std::string, std::less<>> SiteRegions(const TwinReport& report) {
  std::map<std::string, std::string, std::less<>> regions;
  for (const auto& p : report.policies) {
    for (const auto& s : p.sites) regions.emplace(s.id, s.region);
  }
  return regions;
}

std::string SitesAndModelsOverTimeHtml(const TwinReport& report) {
  if (report.policies.empty()) return {};
  const PolicyResult& first = report.policies.front();
  std::string body;

  // Sites: a heatmap of the first policy, grouped by region.
  const auto regions = SiteRegions(report);
  std::vector<std::string> region_order;
  for (const auto& s : first.utilization_by_site) {
    auto it = regions.find(s.name);
    const std::string region = it == regions.end() ? "" : it->second;
    if (std::find(region_order.begin(), region_order.end(), region) == region_order.end()) {
      region_order.push_back(region);
    }
  }
  std::vector<HeatRow> rows;
  for (const auto& region : region_order) {
    for (const auto& s : first.utilization_by_site) {
      auto it = regions.find(s.name);
      if ((it == regions.end() ? "" : it->second) == region)
        rows.push_back({s.name, region, &s.values});
    }
  }
  constexpr std::size_t kMaxRows = 80;
  std::string note = fmt::format(
      "Policy <b>{}</b>. Each row is a site (grouped by region); the colour is the share of its "
      "accelerators allocated.",
      Esc(first.Label()));
  if (rows.size() > kMaxRows) {
    note += fmt::format(" The first {} of {} sites are shown.", kMaxRows, rows.size());
    rows.resize(kMaxRows);
  }
  ChartOptions heat;
  heat.title = "Utilization by site: " + first.Label();
  body += fmt::format("<p class=\"note\">{}</p>\n", note);
  body += Heatmap(rows, IntervalHours(first), heat);

  // Models: one small chart per accelerator model, one line per policy.
  std::vector<std::string> models;
  for (const auto& p : report.policies) {
    for (const auto& s : p.utilization_by_model) {
      if (std::find(models.begin(), models.end(), s.name) == models.end()) models.push_back(s.name);
    }
  }
  constexpr std::size_t kMaxModels = 12;
  body += "<h3>Utilization by accelerator model</h3>\n";
  body += fmt::format("<p class=\"note\">One chart per model, one line per policy{}.</p>\n",
                      models.size() > kMaxModels
                          ? fmt::format(" (the first {} of {} models)", kMaxModels, models.size())
                          : "");
  if (models.empty()) body += "<p class=\"note\">No per-model series were recorded.</p>\n";
  if (models.size() > kMaxModels) models.resize(kMaxModels);
  body += PolicyLegendHtml(report);
  body += "<div class=\"multiples\">\n";
  for (const auto& model : models) {
    std::vector<Line> lines;
    double span = 0;
    for (std::size_t i = 0; i < report.policies.size(); ++i) {
      const PolicyResult& p = report.policies[i];
      for (const auto& s : p.utilization_by_model) {
        if (s.name != model) continue;
        lines.push_back({p.Label(), PolicyColor(i), SeriesPoints(s, IntervalHours(p)), false});
        if (s.values.size() > 1)
          span = std::max(span, static_cast<double>(s.values.size() - 1) * IntervalHours(p));
      }
    }
    ChartOptions o;
    o.title = model;
    o.width = 540;
    o.plot_height = 150;
    o.legend = false;
    body +=
        "<div>" + LineChart(TimeAxis(span), PercentAxis("allocated (%)"), lines, o) + "</div>\n";
  }
  body += "</div>\n";
  return Section("Utilization by site and by model",
                 "How the load spreads over the grid over time.", body);
}

// A bar of a utilization (0..1) in a policy's colour, then the percentage.
std::string UtilBarHtml(double utilization, std::size_t policy, std::string_view policy_name) {
  return fmt::format(
      "<span class=\"bar\" title=\"{0}\"><span "
      "style=\"width:{1:.1f}%;background:{2}\"></span></span>{3}",
      Esc(policy_name), 100 * Clamp01(utilization), PolicyColor(policy),
      std::isfinite(utilization) ? fmt::format("{:.1f}%", 100 * utilization)
                                 : std::string(kMissing));
}

std::string SitesHtml(const TwinReport& report) {
  if (report.policies.empty()) return {};
  // All sites in order of first appearance, grouped by region in order of first appearance.
  std::vector<const SiteUsage*> sites;
  std::set<std::string> seen;
  for (const auto& p : report.policies) {
    for (const auto& s : p.sites) {
      if (seen.insert(s.id).second) sites.push_back(&s);
    }
  }
  if (sites.empty()) return Section("Sites by region", "No per-site figures were recorded.", "");
  std::vector<std::string> regions;
  for (const SiteUsage* s : sites) {
    if (std::find(regions.begin(), regions.end(), s->region) == regions.end())
      regions.push_back(s->region);
  }
  const std::size_t n = report.policies.size();
  std::string body = PolicyLegendHtml(report);
  body += "<div class=\"regions\">\n";
  for (const auto& region : regions) {
    std::vector<const SiteUsage*> in_region;
    long long accelerators = 0;
    for (const SiteUsage* s : sites) {
      if (s->region != region) continue;
      in_region.push_back(s);
      accelerators += s->accelerators;
    }
    body += fmt::format(
        "<div class=\"region\"><h3>{}<span>{} site{} \u00b7 {} accelerators</span></h3>\n",
        Esc(region.empty() ? "(no region)" : region), in_region.size(),
        in_region.size() == 1 ? "" : "s", WithThousands(accelerators));
    // The region's utilization per policy, weighted by accelerators.
    body += "<p class=\"region-util\">";
    for (std::size_t i = 0; i < n; ++i) {
      double used = 0, total = 0;
      for (const SiteUsage* s : in_region) {
        const SiteUsage* u = FindSite(report.policies[i], s->id);
        if (u == nullptr || !std::isfinite(u->utilization)) continue;
        used += u->utilization * static_cast<double>(u->accelerators);
        total += static_cast<double>(u->accelerators);
      }
      body += "<span>" +
              UtilBarHtml(total > 0 ? used / total : kNaN, i, report.policies[i].Label()) +
              "</span>";
    }
    body += "</p>\n";
    body +=
        "<table class=\"sites\"><thead><tr><th>site</th><th class=\"num\">accelerators</th>"
        "<th>mean utilization</th><th class=\"num\">GPU-hours</th></tr></thead><tbody>\n";
    for (const SiteUsage* s : in_region) {
      for (std::size_t i = 0; i < n; ++i) {
        body += i == 0 ? "<tr class=\"first\">" : "<tr>";
        if (i == 0) {
          body += fmt::format(
              "<td rowspan=\"{0}\"><b>{1}</b>{2}<div class=\"sub\">{3} \u00b7 tier {4}</div></td>"
              "<td rowspan=\"{0}\" class=\"num\">{5}</td>",
              n, Esc(s->id), s->edge ? "<span class=\"badge\">edge</span>" : "",
              Esc(s->operator_name.empty() ? "(no operator)" : s->operator_name), s->tier,
              WithThousands(s->accelerators));
        }
        const std::string& policy = report.policies[i].Label();
        const SiteUsage* u = FindSite(report.policies[i], s->id);
        if (u == nullptr) {
          body +=
              fmt::format("<td class=\"util\" title=\"{}\">{}</td><td class=\"num\">{}</td></tr>\n",
                          Esc(policy), kMissing, kMissing);
          continue;
        }
        body += fmt::format("<td class=\"util\">{}</td><td class=\"num\">{}</td></tr>\n",
                            UtilBarHtml(u->utilization, i, policy), Magnitude(u->gpu_hours));
      }
    }
    body += "</tbody></table></div>\n";
  }
  body += "</div>\n";
  return Section(
      "Sites by region",
      "Every site by region with its operator, tier and accelerators and, per policy (one bar "
      "each, in the policy's colour), its mean utilization over the run and the accelerator-hours "
      "it delivered. Under each region's name: its utilization weighted by accelerators.",
      body);
}

// Why a pool's capacity was stranded over the arrival window: its reasons by
// share, largest first, those of at least 1% ("stack 72%, shape 28%"); empty
// when nothing was stranded.
std::string StrandedWhy(const PoolUsage& q) {
  if (q.stranded_window_accelerator_hours <= 0) return "";
  std::vector<std::pair<std::string, double>> parts = q.stranded_window_by_reason;
  std::stable_sort(parts.begin(), parts.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [reason, hours] : parts) {
    const double share = hours / q.stranded_window_accelerator_hours;
    if (share < 0.01) continue;
    out += fmt::format("{}{} {:.0f}%", out.empty() ? "" : ", ", reason, 100 * share);
  }
  return out;
}

// Pools by accelerator-hours left free while jobs waited, first policy's order.
std::string StrandedHtml(const TwinReport& report) {
  const PolicyResult& first = report.policies.front();
  std::vector<const PoolUsage*> pools;
  for (const auto& q : first.pools) pools.push_back(&q);
  if (pools.empty()) return "";
  std::stable_sort(pools.begin(), pools.end(), [](const PoolUsage* a, const PoolUsage* b) {
    return a->stranded_window_accelerator_hours > b->stranded_window_accelerator_hours;
  });
  constexpr std::size_t kTop = 15;
  if (pools.size() > kTop) pools.resize(kTop);
  std::string body =
      "<table class=\"sites\"><thead><tr><th>pool</th><th>model</th><th "
      "class=\"num\">accelerators</th>";
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    body += fmt::format(
        "<th class=\"num\">{}: stranded GPU-h</th><th>{}: why</th><th class=\"num\">{}: "
        "utilization (window)</th>",
        Esc(report.policies[i].Label()), Esc(report.policies[i].Label()),
        Esc(report.policies[i].Label()));
  }
  body += "</tr></thead><tbody>\n";
  for (const PoolUsage* q : pools) {
    body += fmt::format("<tr><td><b>{}</b>{}</td><td>{}</td><td class=\"num\">{}</td>", Esc(q->id),
                        q->edge ? "<span class=\"badge\">edge</span>" : "", Esc(q->accelerator),
                        WithThousands(q->accelerators));
    for (const auto& p : report.policies) {
      const auto it = std::find_if(p.pools.begin(), p.pools.end(),
                                   [&](const PoolUsage& x) { return x.id == q->id; });
      if (it == p.pools.end()) {
        body += fmt::format("<td class=\"num\">{}</td><td></td><td class=\"num\">{}</td>", kMissing,
                            kMissing);
        continue;
      }
      body += fmt::format("<td class=\"num\">{}</td><td>{}</td><td class=\"num\">{:.1f}%</td>",
                          Magnitude(it->stranded_window_accelerator_hours), Esc(StrandedWhy(*it)),
                          100 * it->utilization_window);
    }
    body += "</tr>\n";
  }
  body += "</tbody></table>\n";
  return Section("Stranded capacity",
                 "Pools by the accelerator-hours they had free on up nodes while at least one job "
                 "waited, up to the last arrival (the first policy's order; its top 15), next to "
                 "their utilization over the same window; the JSON and CSV outputs also give the "
                 "whole run's, drain tail included. Free capacity while work waits means the "
                 "waiting jobs could "
                 "not use it; \"why\" splits the hours by the nearest miss among the waiting jobs: "
                 "shape (a job could go there but the free accelerators did not form its shape or "
                 "model), reserved (held for a reservation or a tenant's dedicated pools), "
                 "quota_grant, latency, residency, stack (the accelerators do not run the jobs' "
                 "software stack). The unfinished-jobs table says which reasons dominate.",
                 body);
}

// Base-station GPUs: the edge services' figures and what the radio took, per
// policy; then per edge pool its utilization and radio-held hours. Empty when
// no policy has edge services or radio-held hours.
std::string EdgeHtml(const TwinReport& report) {
  bool any = false;
  for (const auto& p : report.policies) {
    any = any || p.edge_services > 0 || p.radio_preemptions > 0;
    for (const auto& q : p.pools) any = any || q.radio_accelerator_hours > 0;
  }
  if (!any) return "";
  std::string body =
      "<table class=\"sites\"><thead><tr><th>policy</th><th class=\"num\">edge services</th><th "
      "class=\"num\">placed within their latency objective</th><th class=\"num\">requested time "
      "served</th><th class=\"num\">radio preemptions</th><th class=\"num\">work lost to the "
      "radio</th><th class=\"num\">radio-held accelerator-hours</th></tr></thead><tbody>\n";
  auto percent = [](double v) {
    return std::isfinite(v) ? fmt::format("{:.1f}%", 100 * v) : std::string(kMissing);
  };
  for (const auto& p : report.policies) {
    double radio_hours = 0;
    for (const auto& q : p.pools) radio_hours += q.radio_accelerator_hours;
    body += fmt::format(
        "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
        "class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{} GPU-h</td><td "
        "class=\"num\">{}</td></tr>\n",
        Esc(p.Label()), WithThousands(static_cast<long long>(p.edge_services)),
        percent(p.edge_latency_attainment), percent(p.edge_served_share),
        WithThousands(static_cast<long long>(p.radio_preemptions)),
        Magnitude(p.radio_lost_gpu_hours), Magnitude(radio_hours));
  }
  body += "</tbody></table>\n";
  // Edge pools; the radio's hours of the first policy's run (the curve is the same
  // for every policy; the hours differ only by how long each run lasted).
  const PolicyResult& first = report.policies.front();
  std::string pools;
  for (const auto& q : first.pools) {
    if (!q.edge) continue;
    std::string util;
    for (const auto& p : report.policies) {
      for (const auto& other : p.pools) {
        if (other.id == q.id)
          util += (util.empty() ? "" : " / ") + percent(other.utilization_window);
      }
    }
    pools += fmt::format(
        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
        "class=\"num\">{}</td></tr>\n",
        Esc(q.id), Esc(q.site), WithThousands(q.accelerators), util,
        Magnitude(q.radio_accelerator_hours));
  }
  if (!pools.empty()) {
    body += fmt::format(
        "<table class=\"sites\"><thead><tr><th>edge pool</th><th>site</th><th "
        "class=\"num\">accelerators</th><th class=\"num\">utilization over the arrivals (per "
        "policy)</th><th class=\"num\">radio-held accelerator-hours "
        "({})</th></tr></thead><tbody>\n",
        Esc(first.Label()));
    body += pools + "</tbody></table>\n";
  }
  return Section("Edge",
                 "Edge services are services whose latency objective only edge sites meet. "
                 "Placed: started, every placement within the objective. Served: of each "
                 "service's requested window (from its submission, for its duration), the share "
                 "it ran. The radio takes its hourly share of base-station GPUs first (idle nodes "
                 "first); jobs on nodes it takes are requeued (radio preemptions). Utilization "
                 "counts the grid's work only; the radio's hours are beside it.",
                 body);
}

// What each outage did, per policy.
std::string OutagesHtml(const TwinReport& report) {
  bool any = false;
  for (const auto& p : report.policies) any = any || !p.outages.empty();
  if (!any) return "";
  std::string body =
      "<table class=\"sites\"><thead><tr><th>outage</th><th>policy</th><th>when (h after "
      "start)</th><th class=\"num\">accelerators</th><th class=\"num\">jobs requeued</th><th "
      "class=\"num\">work lost</th><th class=\"num\">jobs waiting at its end</th></tr></thead>"
      "<tbody>\n";
  for (const auto& p : report.policies) {
    for (const auto& o : p.outages) {
      body += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{:.1f}\u2013{:.1f}</td><td class=\"num\">{}</td><td "
          "class=\"num\">{}</td><td class=\"num\">{} GPU-h</td><td class=\"num\">{}</td></tr>\n",
          Esc(o.what), Esc(p.Label()), o.from_s / 3600, o.until_s / 3600,
          WithThousands(o.accelerators), WithThousands(static_cast<long long>(o.jobs_requeued)),
          Magnitude(o.lost_gpu_hours),
          WithThousands(static_cast<long long>(o.jobs_pending_at_end)));
    }
  }
  body += "</tbody></table>\n";
  return Section("Outages",
                 "Each outage (--site-down, or a what-if's down period) per policy: the "
                 "accelerators it took down, the running jobs it requeued and the work they lost "
                 "since their last checkpoint, and the jobs waiting when it ended (work that may "
                 "run only there waits for it).",
                 body);
}

// Accounting per grant, per policy: what a simulated period charges each
// allocation (the daemon's GET /v1/accounting?group_by=grant, like for like).
std::string AccountingHtml(const TwinReport& report) {
  std::string body =
      "<table class=\"sites\"><thead><tr><th>grant</th><th>policy</th><th "
      "class=\"num\">accelerator-hours</th><th class=\"num\">units charged</th><th "
      "class=\"num\">energy</th><th class=\"num\">work lost</th><th class=\"num\">jobs "
      "ended</th></tr></thead><tbody>\n";
  bool any = false;
  for (const auto& p : report.policies) {
    for (const auto& r : AccountingRows(p, accounting::GroupBy::kGrant)) {
      any = true;
      body += fmt::format(
          "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
          "class=\"num\">{} MWh</td><td class=\"num\">{} GPU-h</td><td "
          "class=\"num\">{}</td></tr>\n",
          Esc(r.key.empty() ? "(no grant)" : r.key), Esc(p.Label()),
          Magnitude(r.sum.accelerator_seconds / 3600), Magnitude(r.sum.charged_units),
          Magnitude(r.sum.energy_kwh / 1000), Magnitude(r.sum.lost_accelerator_seconds / 3600),
          WithThousands(static_cast<long long>(r.sum.jobs)));
    }
  }
  if (!any) return "";
  body += "</tbody></table>\n";
  return Section("Accounting",
                 "Usage charged per grant and policy over the simulated period, jobs still "
                 "running counted up to its end: accelerator-hours, units (accelerator-hours "
                 "times each model's charge rate), board energy, work lost to preemption and "
                 "failures, and jobs that ended. The same records as the daemon's GET "
                 "/v1/accounting; per tenant, grant and model in --json and --csv.",
                 body);
}

// Why jobs did not finish: one row per reason, one column per policy.
std::string UnfinishedHtml(const TwinReport& report) {
  std::vector<std::string> reasons;
  for (const auto& p : report.policies) {
    for (const auto& [reason, n] : p.unfinished_by_reason) {
      if (std::find(reasons.begin(), reasons.end(), reason) == reasons.end())
        reasons.push_back(reason);
    }
  }
  if (reasons.empty()) {
    return Section("Unfinished jobs", "Every job submitted finished within the run.", "");
  }
  std::string body = "<table class=\"sites\"><thead><tr><th>reason</th>";
  for (const auto& p : report.policies)
    body += fmt::format("<th class=\"num\">{}</th>", Esc(p.Label()));
  body += "</tr></thead><tbody>\n";
  for (const auto& reason : reasons) {
    body += fmt::format("<tr><td>{}</td>", Esc(reason));
    for (const auto& p : report.policies) {
      std::size_t n = 0;
      for (const auto& [r, count] : p.unfinished_by_reason) {
        if (r == reason) n = count;
      }
      body += fmt::format("<td class=\"num\">{}</td>", WithThousands(static_cast<long long>(n)));
    }
    body += "</tr>\n";
  }
  body += "</tbody></table>\n";
  return Section("Unfinished jobs",
                 "Jobs still running or pending when the run ended, each counted once: running, or "
                 "the scheduler's reason for its wait (no_capacity: no pool that passes the "
                 "filters has room; no_candidate_pool: no pool passes them at all; "
                 "grant_inactive: no grant of the tenant is valid yet; borrow_limit, "
                 "lender_protected, grant_spent: quota and grants; see docs/twin.md).",
                 body);
}

// Jobs and waits per tenant: the tenants with the most jobs, per policy.
// A leaf of the tenant tree: no other tenant's path starts with its path and "/".
std::vector<bool> LeafTenants(const std::vector<TenantUsage>& tenants) {
  std::vector<bool> leaf(tenants.size(), true);
  std::set<std::string_view> parents;
  for (const auto& t : tenants) {
    for (std::size_t at = t.id.find('/'); at != std::string::npos; at = t.id.find('/', at + 1))
      parents.insert(std::string_view(t.id).substr(0, at));
  }
  for (std::size_t i = 0; i < tenants.size(); ++i) leaf[i] = parents.count(tenants[i].id) == 0;
  return leaf;
}

// Mean queue wait per leaf tenant, one bar per run: the 15 leaves whose
// longest mean wait (over the runs) is longest, so that policies that treat
// tenants differently show apart. "" when no leaf waited.
std::string WaitChart(const TwinReport& report) {
  const PolicyResult& first = report.policies.front();
  const std::vector<bool> leaf = LeafTenants(first.tenants);
  std::vector<BarGroup> groups;
  for (std::size_t t = 0; t < first.tenants.size(); ++t) {
    if (!leaf[t]) continue;
    BarGroup g{first.tenants[t].id, {}};
    for (const auto& p : report.policies) {
      auto it = std::find_if(p.tenants.begin(), p.tenants.end(),
                             [&](const TenantUsage& u) { return u.id == first.tenants[t].id; });
      g.values.push_back(it != p.tenants.end() && it->jobs_finished > 0 ? it->mean_queue_s / 3600
                                                                        : kNaN);
    }
    groups.push_back(std::move(g));
  }
  auto longest = [](const BarGroup& g) {
    double m = 0;
    for (double v : g.values) {
      if (std::isfinite(v)) m = std::max(m, v);
    }
    return m;
  };
  std::stable_sort(groups.begin(), groups.end(),
                   [&](const BarGroup& a, const BarGroup& b) { return longest(a) > longest(b); });
  constexpr std::size_t kTop = 15;
  if (groups.size() > kTop) groups.resize(kTop);
  if (groups.empty() || longest(groups.front()) <= 0) return "";
  std::vector<BarSeries> series;
  for (std::size_t i = 0; i < report.policies.size(); ++i)
    series.push_back({report.policies[i].Label(), PolicyColor(i)});
  ChartOptions o;
  o.title = "Mean queue wait per tenant (the 15 leaf tenants that wait longest)";
  const Axis x = LinearAxis("mean queue wait (h)", 0, longest(groups.front()));
  return GroupedBarChart(series, groups, x, o, [](double v) { return HumanDuration(v * 3600); });
}

std::string TenantWaitsHtml(const TwinReport& report) {
  struct Row {
    std::string id;
    std::size_t jobs = 0;
  };
  std::vector<Row> rows;
  std::set<std::string> seen;
  for (const auto& p : report.policies) {
    for (const auto& t : p.tenants) {
      if (t.jobs > 0 && seen.insert(t.id).second) rows.push_back({t.id, t.jobs});
    }
  }
  if (rows.empty()) return "";
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.jobs > b.jobs; });
  constexpr std::size_t kTop = 30;
  const std::size_t all = rows.size();
  if (rows.size() > kTop) rows.resize(kTop);
  std::string body =
      "<table class=\"sites\"><thead><tr><th>tenant</th><th>policy</th><th "
      "class=\"num\">jobs</th><th class=\"num\">finished</th><th class=\"num\">mean "
      "wait</th><th class=\"num\">p95 wait</th><th class=\"num\">mean "
      "JCT</th><th>unfinished, why</th></tr></thead><tbody>\n";
  for (const Row& r : rows) {
    for (std::size_t i = 0; i < report.policies.size(); ++i) {
      const auto& ts = report.policies[i].tenants;
      auto it =
          std::find_if(ts.begin(), ts.end(), [&](const TenantUsage& t) { return t.id == r.id; });
      if (it == ts.end()) continue;
      const bool any = it->jobs_finished > 0;
      std::string why;
      for (const auto& [reason, n] : it->unfinished_by_reason) {
        why += (why.empty() ? "" : ", ") + Esc(reason) + " " +
               WithThousands(static_cast<long long>(n));
      }
      body += fmt::format(
          "<tr{}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td "
          "class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>"
          "</tr>\n",
          i == 0 ? " class=\"first\"" : "", i == 0 ? "<b>" + Esc(r.id) + "</b>" : "",
          Esc(report.policies[i].Label()), WithThousands(static_cast<long long>(it->jobs)),
          WithThousands(static_cast<long long>(it->jobs_finished)),
          any ? HumanDuration(it->mean_queue_s) : std::string(kMissing),
          any ? HumanDuration(it->p95_queue_s) : std::string(kMissing),
          any ? HumanDuration(it->mean_jct_s) : std::string(kMissing), why);
    }
  }
  body += "</tbody></table>\n";
  std::string note =
      "Per tenant (its whole subtree): jobs submitted, finished, and the finished jobs' mean and "
      "95th-percentile queue wait and mean completion time, per policy; its jobs that did not "
      "finish, by why they waited last (as in Unfinished jobs).";
  if (all > kTop) note += fmt::format(" The {} tenants with the most jobs of {}.", kTop, all);
  return Section("Waits per tenant", Esc(note), WaitChart(report) + body);
}

// ---- The story: sentences from the figures (StoryLines) ----

// Why a job waits, in words: a sched::WaitCodeName, or "running".
std::string ReasonWords(std::string_view reason) {
  if (reason == "running") return "it was still running at the end";
  if (const auto code = sched::WaitCodeFromName(reason))
    return std::string(sched::WaitCodeSummary(*code));
  return std::string(reason);
}

// Why capacity sat idle while jobs waited, in words (a kStrandedReasons name).
std::string StrandedWords(std::string_view reason) {
  for (std::size_t r = 0; r < twin::kStrandedReasonCount; ++r) {
    if (reason == twin::kStrandedReasons[r]) return twin::kStrandedReasonWords[r];
  }
  return std::string(reason);
}

// "a, b and c".
std::string JoinWords(const std::vector<std::string>& items) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

std::string Percent(double v) {
  return std::isfinite(v) ? fmt::format("{:.1f} %", 100 * v) : std::string(kMissing);
}

}  // namespace

std::vector<std::string> StoryLines(const TwinReport& report) {
  std::vector<const PolicyResult*> runs;
  for (const auto& p : report.policies) {
    if (p.variant.empty() || p.variant == twin::kBaseVariant) runs.push_back(&p);
  }
  std::vector<std::string> lines;
  if (runs.empty()) return lines;
  auto names = [&](auto figure) {
    std::vector<std::string> v;
    for (const PolicyResult* p : runs) v.push_back(figure(*p));
    return v;
  };
  const PolicyResult& first = *runs.front();
  // 1. The policies side by side.
  if (runs.size() > 1) {
    double lo = std::numeric_limits<double>::max(), hi = 0;
    const PolicyResult *best = runs.front(), *worst = runs.front();
    for (const PolicyResult* p : runs) {
      if (p->mean_queue_s < lo) {
        lo = p->mean_queue_s;
        best = p;
      }
      if (p->mean_queue_s > hi) {
        hi = p->mean_queue_s;
        worst = p;
      }
    }
    std::string s = fmt::format(
        "Mean queue wait {} ({}); p95 wait {}; unfinished jobs {}; Jain's fairness index {}.",
        JoinWords(names([](const PolicyResult& p) { return HumanDuration(p.mean_queue_s); })),
        JoinWords(names([](const PolicyResult& p) { return p.Label(); })),
        JoinWords(names([](const PolicyResult& p) { return HumanDuration(p.p95_queue_s); })),
        JoinWords(names([](const PolicyResult& p) {
          return WithThousands(static_cast<long long>(p.jobs_unfinished));
        })),
        JoinWords(
            names([](const PolicyResult& p) { return fmt::format("{:.3f}", p.jain_index); })));
    if (hi <= 0 || (hi - lo) <= 0.05 * hi) {
      s += " The policies give nearly the same waits (within 5 %): at this load the order in "
           "which jobs are taken rarely matters.";
    } else {
      s += fmt::format(" {} keeps the mean wait shortest, {} longest ({:.1f}\u00d7).",
                       best->Label(), worst->Label(), lo > 0 ? hi / lo : 0.0);
    }
    // A mean far above the 95th percentile: a few jobs wait very long.
    bool tail = true;
    for (const PolicyResult* p : runs) tail = tail && p->mean_queue_s > 10 * p->p95_queue_s;
    if (tail && hi > 0) {
      s += fmt::format(
          " Most jobs start at once (95 % within {}); the means come from the few that wait "
          "far longer (p99 {}): see who waits and why below.",
          HumanDuration(first.p95_queue_s),
          JoinWords(names([](const PolicyResult& p) { return HumanDuration(p.p99_queue_s); })));
    }
    lines.push_back(std::move(s));
  } else {
    lines.push_back(fmt::format("{}: mean queue wait {}, p95 {}; {} of {} jobs finished.",
                                first.Label(), HumanDuration(first.mean_queue_s),
                                HumanDuration(first.p95_queue_s),
                                WithThousands(static_cast<long long>(first.jobs_finished)),
                                WithThousands(static_cast<long long>(first.jobs))));
  }
  // 2. Which policy serves which tenants better: per leaf tenant with finished
  // jobs under every policy, the policy with the shortest mean wait (a
  // difference under 10 % or 5 min is a tie).
  const std::vector<bool> leaf = LeafTenants(first.tenants);
  if (runs.size() > 1) {
    struct Spread {
      std::string id;
      double lo, hi;
      std::string best, worst;
    };
    std::vector<Spread> spreads;
    std::map<std::string, int> wins;
    int compared = 0;
    for (std::size_t t = 0; t < first.tenants.size(); ++t) {
      if (!leaf[t]) continue;
      const std::string& id = first.tenants[t].id;
      Spread sp{id, std::numeric_limits<double>::max(), -1, "", ""};
      bool all = true;
      for (const PolicyResult* p : runs) {
        auto it = std::find_if(p->tenants.begin(), p->tenants.end(),
                               [&](const TenantUsage& u) { return u.id == id; });
        if (it == p->tenants.end() || it->jobs_finished == 0) {
          all = false;
          break;
        }
        if (it->mean_queue_s < sp.lo) {
          sp.lo = it->mean_queue_s;
          sp.best = p->Label();
        }
        if (it->mean_queue_s > sp.hi) {
          sp.hi = it->mean_queue_s;
          sp.worst = p->Label();
        }
      }
      if (!all) continue;
      ++compared;
      if (sp.hi - sp.lo >= std::max(300.0, 0.1 * sp.hi)) {
        ++wins[sp.best];
        spreads.push_back(std::move(sp));
      }
    }
    if (compared > 0) {
      std::string s;
      if (spreads.empty()) {
        s = fmt::format(
            "No tenant's mean wait differs by more than 10 % (or 5 min) between the policies "
            "({} tenants with finished jobs compared).",
            compared);
      } else {
        std::vector<std::string> counts;
        for (const PolicyResult* p : runs) {
          const int n = wins.count(p->Label()) != 0 ? wins[p->Label()] : 0;
          counts.push_back(fmt::format("{} for {}", p->Label(), n));
        }
        std::stable_sort(spreads.begin(), spreads.end(), [](const Spread& a, const Spread& b) {
          return a.hi - a.lo > b.hi - b.lo;
        });
        std::vector<std::string> top;
        for (std::size_t i = 0; i < spreads.size() && i < 3; ++i) {
          const Spread& sp = spreads[i];
          top.push_back(fmt::format("{} waits {} on average under {} and {} under {}", sp.id,
                                    HumanDuration(sp.hi), sp.worst, HumanDuration(sp.lo), sp.best));
        }
        s = fmt::format(
            "Of {} tenants with finished jobs, {} wait clearly less under one policy than under "
            "another; the shortest mean wait is {}. The largest differences: {}.",
            compared, spreads.size(), JoinWords(counts), JoinWords(top));
      }
      lines.push_back(std::move(s));
    }
  }
  // 3. Who waits longest, and who did not finish and why (the first run).
  {
    std::vector<std::size_t> order;
    for (std::size_t t = 0; t < first.tenants.size(); ++t) {
      if (leaf[t] && first.tenants[t].jobs_finished >= 10) order.push_back(t);
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return first.tenants[a].mean_queue_s > first.tenants[b].mean_queue_s;
    });
    std::vector<std::string> waits;
    for (std::size_t i = 0; i < order.size() && i < 3; ++i) {
      const TenantUsage& u = first.tenants[order[i]];
      if (u.mean_queue_s < 60) break;
      waits.push_back(fmt::format("{} (mean {}, p95 {})", u.id, HumanDuration(u.mean_queue_s),
                                  HumanDuration(u.p95_queue_s)));
    }
    if (!waits.empty()) {
      lines.push_back(
          fmt::format("Under {}, the longest mean waits: {}.", first.Label(), JoinWords(waits)));
    }
    std::vector<std::pair<std::size_t, std::size_t>> unfinished;  // (jobs, tenant)
    for (std::size_t t = 0; t < first.tenants.size(); ++t) {
      if (!leaf[t]) continue;
      std::size_t n = 0;
      for (const auto& [reason, k] : first.tenants[t].unfinished_by_reason) n += k;
      if (n > 0) unfinished.emplace_back(n, t);
    }
    std::stable_sort(unfinished.begin(), unfinished.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::string> who;
    for (std::size_t i = 0; i < unfinished.size() && i < 3; ++i) {
      const TenantUsage& u = first.tenants[unfinished[i].second];
      const auto& [reason, k] = u.unfinished_by_reason.front();  // most frequent first
      who.push_back(fmt::format("{} {} ({} of them because {})", u.id,
                                WithThousands(static_cast<long long>(unfinished[i].first)),
                                WithThousands(static_cast<long long>(k)), ReasonWords(reason)));
    }
    if (!who.empty()) {
      std::size_t total = 0;
      for (const auto& [n, t] : unfinished) total += n;
      lines.push_back(fmt::format("Under {}, {} jobs did not finish; most of them: {}.",
                                  first.Label(), WithThousands(static_cast<long long>(total)),
                                  JoinWords(who)));
    }
  }
  // 4. Stranded capacity (the first run, over the arrival window): idle while
  // jobs waited, and why.
  {
    double stranded = 0, accelerators = 0;
    std::vector<const PoolUsage*> pools;
    for (const auto& q : first.pools) {
      stranded += q.stranded_window_accelerator_hours;
      accelerators += static_cast<double>(q.accelerators);
      if (q.stranded_window_accelerator_hours > 0) pools.push_back(&q);
    }
    std::stable_sort(pools.begin(), pools.end(), [](const PoolUsage* a, const PoolUsage* b) {
      return a->stranded_window_accelerator_hours > b->stranded_window_accelerator_hours;
    });
    if (stranded > 0) {
      std::vector<std::string> top;
      for (std::size_t i = 0; i < pools.size() && i < 3; ++i) {
        const PoolUsage& q = *pools[i];
        std::pair<std::string, double> main{"", -1};
        for (const auto& r : q.stranded_window_by_reason) {
          if (r.second > main.second) main = r;
        }
        top.push_back(fmt::format("{} ({} {}, {} GPU-h, {:.0f} % of them because {})", q.id,
                                  WithThousands(q.accelerators), q.accelerator,
                                  Magnitude(q.stranded_window_accelerator_hours),
                                  100 * main.second / q.stranded_window_accelerator_hours,
                                  StrandedWords(main.first)));
      }
      const double hours = first.arrival_window_s / 3600;
      lines.push_back(fmt::format(
          "Under {}, up to the last arrival, {} accelerator-hours sat idle while jobs waited ({} "
          "of the grid's accelerator-hours in that window); the most in {}.",
          first.Label(), Magnitude(stranded),
          Percent(hours > 0 && accelerators > 0 ? stranded / (accelerators * hours) : kNaN),
          JoinWords(top)));
    } else if (!first.pools.empty()) {
      lines.push_back(
          fmt::format("Under {}, no capacity sat idle while jobs waited, up to the last arrival.",
                      first.Label()));
    }
  }
  // 5. Utilization, and the edge.
  lines.push_back(fmt::format(
      "Utilization over the arrival window {} ({}); over the whole run, drain tail included, {}.",
      JoinWords(names([](const PolicyResult& p) { return Percent(p.utilization_window); })),
      JoinWords(names([](const PolicyResult& p) { return p.Label(); })),
      JoinWords(names([](const PolicyResult& p) { return Percent(p.utilization); }))));
  if (first.edge_services > 0) {
    lines.push_back(fmt::format(
        "Edge services (objectives only base stations meet): {}; placed within their objective "
        "{}, their requested time served {}; the radio preempted {} jobs.",
        JoinWords(names([](const PolicyResult& p) {
          return WithThousands(static_cast<long long>(p.edge_services));
        })),
        JoinWords(names([](const PolicyResult& p) { return Percent(p.edge_latency_attainment); })),
        JoinWords(names([](const PolicyResult& p) { return Percent(p.edge_served_share); })),
        JoinWords(names([](const PolicyResult& p) {
          return WithThousands(static_cast<long long>(p.radio_preemptions));
        }))));
  }
  return lines;
}

namespace {

std::string StoryHtml(const TwinReport& report) {
  const std::vector<std::string> lines = StoryLines(report);
  if (lines.empty()) return "";
  std::string body = "<ul class=\"story\">\n";
  for (const auto& line : lines) body += "<li>" + Esc(line) + "</li>\n";
  body += "</ul>\n";
  return Section("What the runs say",
                 "Generated from the figures below: the policies compared, who waits and why, "
                 "and where capacity sat idle while jobs waited.",
                 body);
}

// The base run of `p`'s policy, if what-ifs ran; nullptr otherwise.
const PolicyResult* BaseOf(const TwinReport& report, const PolicyResult& p) {
  if (p.variant.empty() || p.variant == twin::kBaseVariant) return nullptr;
  for (const auto& b : report.policies) {
    if (b.variant == twin::kBaseVariant && b.policy == p.policy) return &b;
  }
  return nullptr;
}

// Signed differences in people's units: "+1.2 h", "-3.4 pp", "+0".
// Differences too small to print count as none: no "-0 s" or "+0.0 pp".
std::string SignedDuration(double d) {
  if (!std::isfinite(d)) return std::string(kMissing);
  if (std::fabs(d) < 0.5) return "0 s";
  return (d > 0 ? "+" : "-") + HumanDuration(std::fabs(d));
}
std::string SignedCount(double d) {
  if (std::llround(d) == 0) return "0";
  return (d > 0 ? "+" : "-") + WithThousands(std::llround(std::fabs(d)));
}
std::string SignedPoints(double d) {
  if (std::fabs(d) < 0.0005) return "0.0 pp";
  return fmt::format("{:+.1f} pp", 100 * d);
}
std::string SignedMwh(double d) { return (d >= 0 ? "+" : "-") + Magnitude(std::fabs(d)) + " MWh"; }

struct TenantWaitDelta {
  std::string tenant;
  double base_s = 0, variant_s = 0;
};

// The tenants (with finished jobs in both runs) whose mean wait changed most.
std::vector<TenantWaitDelta> TenantWaitDeltas(const PolicyResult& base, const PolicyResult& v,
                                              std::size_t top) {
  std::vector<TenantWaitDelta> out;
  for (const auto& t : v.tenants) {
    for (const auto& b : base.tenants) {
      if (b.id == t.id && b.jobs_finished > 0 && t.jobs_finished > 0)
        out.push_back({t.id, b.mean_queue_s, t.mean_queue_s});
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::fabs(a.variant_s - a.base_s) > std::fabs(b.variant_s - b.base_s);
  });
  if (out.size() > top) out.resize(top);
  return out;
}

std::vector<std::vector<std::string>> WhatIfRows(const TwinReport& report) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"what-if", "policy", "unfinished", "mean wait", "p95 wait",
                  "utilization (window)", "energy", "tenant waits that changed most"});
  for (const auto& p : report.policies) {
    const PolicyResult* b = BaseOf(report, p);
    if (b == nullptr) continue;
    std::string tenants;
    for (const auto& d : TenantWaitDeltas(*b, p, 3)) {
      tenants += (tenants.empty() ? "" : "; ") + d.tenant + " " + HumanDuration(d.base_s) +
                 " \u2192 " + HumanDuration(d.variant_s);
    }
    rows.push_back({p.variant, p.policy,
                    SignedCount(static_cast<double>(p.jobs_unfinished) -
                                static_cast<double>(b->jobs_unfinished)),
                    SignedDuration(p.mean_queue_s - b->mean_queue_s),
                    SignedDuration(p.p95_queue_s - b->p95_queue_s),
                    SignedPoints(p.utilization_window - b->utilization_window),
                    SignedMwh(p.energy_mwh - b->energy_mwh), tenants.empty() ? "-" : tenants});
  }
  return rows;
}

std::string WhatIfHtml(const TwinReport& report) {
  const auto rows = WhatIfRows(report);
  if (rows.size() < 2) return "";
  std::string body = "<table class=\"sites\"><thead><tr>";
  for (const auto& h : rows[0]) body += "<th>" + Esc(h) + "</th>";
  body += "</tr></thead><tbody>\n";
  for (std::size_t r = 1; r < rows.size(); ++r) {
    body += "<tr>";
    for (const auto& c : rows[r]) body += "<td>" + Esc(c) + "</td>";
    body += "</tr>\n";
  }
  body += "</tbody></table>\n";
  return Section("What-if comparison",
                 "Each what-if against the base run of the same policy, on the same workload: "
                 "change in jobs left unfinished, mean and 95th-percentile queue wait, "
                 "utilization over the arrival window (percentage points) and energy; and the "
                 "three tenants whose mean wait changed most (base \u2192 what-if). Every figure "
                 "of every run is in the summary above.",
                 body);
}

}  // namespace

// ===========================================================================
// Public functions
// ===========================================================================

std::string SummaryTable(const TwinReport& report) {
  if (report.policies.empty()) return "(no policies were run)\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"policy"};
  for (const auto& p : report.policies) header.push_back(p.Label());
  rows.push_back(header);
  for (const Figure& f : kFigures) {
    std::vector<std::string> row{std::string(f.label)};
    for (const auto& p : report.policies) row.push_back(FormatFigure(f.unit, f.value(p)));
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - DisplayWidth(row[c]), ' ');
      if (c == 0) {
        out += row[c] + pad;
      } else {
        out += "  " + pad + row[c];
      }
    }
    out += '\n';
  };
  emit(rows[0]);
  std::vector<std::string> rule;
  rule.reserve(width.size());
  for (std::size_t w : width) rule.emplace_back(w, '-');
  emit(rule);
  for (std::size_t r = 1; r < rows.size(); ++r) emit(rows[r]);
  return out;
}

std::string ExplanationsText(const TwinReport& report) {
  std::string out;
  for (const auto& p : report.policies) {
    if (!p.unfinished_by_reason.empty()) {
      out += fmt::format("{}: jobs not finished:", p.Label());
      for (std::size_t i = 0; i < p.unfinished_by_reason.size(); ++i) {
        out += fmt::format("{} {} {}", i == 0 ? "" : ";", p.unfinished_by_reason[i].first,
                           WithThousands(static_cast<long long>(p.unfinished_by_reason[i].second)));
      }
      out += '\n';
    }
    std::vector<const PoolUsage*> pools;
    for (const auto& q : p.pools) {
      if (q.stranded_window_accelerator_hours >= 0.5) pools.push_back(&q);
    }
    std::stable_sort(pools.begin(), pools.end(), [](const PoolUsage* a, const PoolUsage* b) {
      return a->stranded_window_accelerator_hours > b->stranded_window_accelerator_hours;
    });
    if (!pools.empty()) {
      out += fmt::format("{}: most stranded up to the last arrival (free while jobs waited):",
                         p.Label());
      for (std::size_t i = 0; i < pools.size() && i < 3; ++i) {
        out += fmt::format("{} {} {} GPU-h ({}; utilization {:.1f}% over the arrivals)",
                           i == 0 ? "" : ";", pools[i]->id,
                           Magnitude(pools[i]->stranded_window_accelerator_hours),
                           StrandedWhy(*pools[i]), 100 * pools[i]->utilization_window);
      }
      out += '\n';
    }
    double radio_hours = 0;
    for (const auto& q : p.pools) radio_hours += q.radio_accelerator_hours;
    if (p.edge_services > 0 || radio_hours > 0) {
      out += fmt::format("{}: edge: {} services", p.Label(),
                         WithThousands(static_cast<long long>(p.edge_services)));
      if (p.edge_services > 0) {
        out += fmt::format(
            ", {:.1f}% placed within their latency objective, {:.1f}% of their "
            "requested time served",
            100 * p.edge_latency_attainment, 100 * p.edge_served_share);
      }
      out += fmt::format(
          "; the radio held {} accelerator-hours and preempted {} jobs ({} GPU-h "
          "lost)\n",
          Magnitude(radio_hours), WithThousands(static_cast<long long>(p.radio_preemptions)),
          Magnitude(p.radio_lost_gpu_hours));
    }
    for (const auto& o : p.outages) {
      out += fmt::format(
          "{}: outage {} ({} accelerators, {:.1f}-{:.1f} h): {} jobs requeued, {} GPU-h lost, {} "
          "jobs waiting at its end\n",
          p.Label(), o.what, WithThousands(o.accelerators), o.from_s / 3600, o.until_s / 3600,
          WithThousands(static_cast<long long>(o.jobs_requeued)), Magnitude(o.lost_gpu_hours),
          WithThousands(static_cast<long long>(o.jobs_pending_at_end)));
    }
  }
  return out;
}

std::string WhatIfTable(const TwinReport& report) {
  const auto rows = WhatIfRows(report);
  if (rows.size() < 2) return "";
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const std::string pad(width[c] - DisplayWidth(rows[r][c]), ' ');
      out += (c == 0 ? "" : "  ") + rows[r][c] + (c + 1 < rows[r].size() ? pad : "");
    }
    out += '\n';
    if (r == 0) {
      for (std::size_t c = 0; c < width.size(); ++c)
        out += (c == 0 ? "" : "  ") + std::string(width[c], '-');
      out += '\n';
    }
  }
  return out;
}

std::string ReportJson(const TwinReport& report) {
  Json j;
  j["scenario"] = report.scenario;
  j["workload"] = report.workload;
  j["lines_skipped"] = report.lines_skipped;
  j["warnings"] = report.warnings;
  Json policies = Json::array();
  for (const auto& p : report.policies) {
    Json pj = PolicyScalars(p);
    pj["jct_quantiles_s"] = p.jct_quantiles_s;
    Json tenants = Json::array();
    for (const auto& t : p.tenants) {
      Json why = Json::object();
      for (const auto& [reason, n] : t.unfinished_by_reason) why[reason] = n;
      tenants.push_back({{"id", t.id},
                         {"gpu_hours", t.gpu_hours},
                         {"share", t.share},
                         {"entitlement", t.entitlement},
                         {"jobs", t.jobs},
                         {"jobs_finished", t.jobs_finished},
                         {"mean_queue_s", t.mean_queue_s},
                         {"p95_queue_s", t.p95_queue_s},
                         {"mean_jct_s", t.mean_jct_s},
                         {"unfinished_by_reason", std::move(why)}});
    }
    pj["tenants"] = std::move(tenants);
    Json unfinished = Json::object();
    for (const auto& [reason, n] : p.unfinished_by_reason) unfinished[reason] = n;
    pj["unfinished_by_reason"] = std::move(unfinished);
    Json sites = Json::array();
    for (const auto& s : p.sites) {
      sites.push_back({{"id", s.id},
                       {"operator", s.operator_name},
                       {"region", s.region},
                       {"tier", s.tier},
                       {"edge", s.edge},
                       {"accelerators", s.accelerators},
                       {"utilization", s.utilization},
                       {"gpu_hours", s.gpu_hours}});
    }
    pj["sites"] = std::move(sites);
    Json pools = Json::array();
    for (const auto& q : p.pools) {
      pools.push_back({{"id", q.id},
                       {"site", q.site},
                       {"accelerator", q.accelerator},
                       {"accelerators", q.accelerators},
                       {"edge", q.edge},
                       {"utilization", q.utilization},
                       {"utilization_window", q.utilization_window},
                       {"stranded_accelerator_hours", q.stranded_accelerator_hours}});
      Json by_reason = Json::object();
      for (const auto& [reason, hours] : q.stranded_by_reason) by_reason[reason] = hours;
      pools.back()["stranded_by_reason"] = std::move(by_reason);
      pools.back()["stranded_accelerator_hours_window"] = q.stranded_window_accelerator_hours;
      Json by_reason_window = Json::object();
      for (const auto& [reason, hours] : q.stranded_window_by_reason)
        by_reason_window[reason] = hours;
      pools.back()["stranded_by_reason_window"] = std::move(by_reason_window);
      pools.back()["radio_accelerator_hours"] = q.radio_accelerator_hours;
    }
    pj["pools"] = std::move(pools);
    Json outages = Json::array();
    for (const auto& o : p.outages) {
      outages.push_back({{"what", o.what},
                         {"from_s", o.from_s},
                         {"until_s", o.until_s},
                         {"accelerators", o.accelerators},
                         {"jobs_requeued", o.jobs_requeued},
                         {"lost_gpu_hours", o.lost_gpu_hours},
                         {"jobs_pending_at_end", o.jobs_pending_at_end}});
    }
    pj["outages"] = std::move(outages);
    // Accounting of the simulated period, the daemon's report's rows.
    Json acct = Json::object();
    for (accounting::GroupBy g : {accounting::GroupBy::kTenant, accounting::GroupBy::kGrant,
                                  accounting::GroupBy::kModel, accounting::GroupBy::kDay}) {
      acct[std::string(accounting::GroupByName(g))] =
          Json::parse(accounting::ReportJson(g, 0, 0, AccountingRows(p, g)))["rows"];
    }
    pj["accounting"] = std::move(acct);
    policies.push_back(std::move(pj));
  }
  j["policies"] = std::move(policies);
  return DumpJson(j);
}

Status WriteJson(const TwinReport& report, const std::string& path) {
  return WriteFile(path, ReportJson(report));
}

std::vector<std::string> PolicyFileStems(const TwinReport& report) {
  std::vector<std::string> stems;
  std::set<std::string> used;  // lower case: some file systems ignore case
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& p : report.policies) {
    std::string stem;
    for (char c : p.Label().substr(0, 100)) {
      const bool safe = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
                        c == '+' || c == '-';
      stem += safe ? c : '_';
    }
    if (stem.empty()) stem = "policy";
    if (stem.front() == '.' || stem.front() == '-') stem.front() = '_';
    std::string unique = stem;
    for (int k = 2; used.count(lower(unique)) > 0; ++k) unique = fmt::format("{}-{}", stem, k);
    used.insert(lower(unique));
    stems.push_back(std::move(unique));
  }
  return stems;
}

Status WriteCsv(const TwinReport& report, const std::string& dir) {
  if (Status s = MakeDirectory(dir); !s.ok()) return s;
  const std::vector<std::string> stems = PolicyFileStems(report);
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    // Time series: one row per sample.
    std::vector<std::pair<std::string, const std::vector<double>*>> columns{
        {"utilization", &p.utilization_total.values},
        {"queue_length", &p.queue_length.values},
        {"running_jobs", &p.running_jobs.values}};
    for (const auto& s : p.utilization_by_site)
      columns.emplace_back("util_site_" + s.name, &s.values);
    for (const auto& s : p.utilization_by_model)
      columns.emplace_back("util_model_" + s.name, &s.values);
    std::size_t rows = 0;
    std::string csv = "t_hours";
    for (const auto& [name, values] : columns) {
      csv += "," + CsvField(name);
      rows = std::max(rows, values->size());
    }
    csv += '\n';
    const double interval_s = std::isfinite(p.sample_interval_s) ? p.sample_interval_s : 0;
    for (std::size_t r = 0; r < rows; ++r) {
      csv += CsvNumber(static_cast<double>(r) * interval_s / 3600);
      for (const auto& [name, values] : columns) {
        csv += ',';
        if (r < values->size()) csv += CsvNumber((*values)[r]);
      }
      csv += '\n';
    }
    if (Status s = WriteFile(JoinPath(dir, stems[i] + "-timeseries.csv"), csv); !s.ok()) return s;

    std::string tenants =
        "tenant,gpu_hours,share,entitlement,jobs,jobs_finished,mean_queue_s,p95_queue_s,"
        "mean_jct_s\n";
    for (const auto& t : p.tenants) {
      tenants +=
          fmt::format("{},{},{},{},{},{},{},{},{}\n", CsvField(t.id), CsvNumber(t.gpu_hours),
                      CsvNumber(t.share), CsvNumber(t.entitlement), t.jobs, t.jobs_finished,
                      CsvNumber(t.mean_queue_s), CsvNumber(t.p95_queue_s), CsvNumber(t.mean_jct_s));
    }
    if (Status s = WriteFile(JoinPath(dir, stems[i] + "-tenants.csv"), tenants); !s.ok()) return s;
    std::string pools =
        "pool,site,accelerator,accelerators,edge,utilization,utilization_window,"
        "stranded_accelerator_hours";
    for (const char* reason : twin::kStrandedReasons)
      pools += fmt::format(",stranded_{}_hours", reason);
    pools += ",stranded_accelerator_hours_window,radio_accelerator_hours\n";
    for (const auto& q : p.pools) {
      pools += fmt::format("{},{},{},{},{},{},{},{}", CsvField(q.id), CsvField(q.site),
                           CsvField(q.accelerator), q.accelerators, q.edge ? 1 : 0,
                           CsvNumber(q.utilization), CsvNumber(q.utilization_window),
                           CsvNumber(q.stranded_accelerator_hours));
      for (std::size_t r = 0; r < twin::kStrandedReasonCount; ++r) {
        pools +=
            "," + CsvNumber(r < q.stranded_by_reason.size() ? q.stranded_by_reason[r].second : 0.0);
      }
      pools += "," + CsvNumber(q.stranded_window_accelerator_hours) + "," +
               CsvNumber(q.radio_accelerator_hours) + '\n';
    }
    if (Status s = WriteFile(JoinPath(dir, stems[i] + "-pools.csv"), pools); !s.ok()) return s;
    std::string unfinished = "reason,jobs\n";
    for (const auto& [reason, n] : p.unfinished_by_reason) {
      unfinished += fmt::format("{},{}\n", CsvField(reason), n);
    }
    if (Status s = WriteFile(JoinPath(dir, stems[i] + "-unfinished.csv"), unfinished); !s.ok())
      return s;
    std::string tenants_unfinished = "tenant,reason,jobs\n";
    for (const auto& t : p.tenants) {
      for (const auto& [reason, n] : t.unfinished_by_reason)
        tenants_unfinished += fmt::format("{},{},{}\n", CsvField(t.id), CsvField(reason), n);
    }
    if (Status s =
            WriteFile(JoinPath(dir, stems[i] + "-tenants-unfinished.csv"), tenants_unfinished);
        !s.ok())
      return s;
    // Accounting, as the daemon's GET /v1/accounting?format=csv writes it.
    for (accounting::GroupBy g :
         {accounting::GroupBy::kTenant, accounting::GroupBy::kGrant, accounting::GroupBy::kModel}) {
      const std::string file =
          stems[i] + "-accounting-" + std::string(accounting::GroupByName(g)) + ".csv";
      if (Status s = WriteFile(JoinPath(dir, file), accounting::ReportCsv(g, AccountingRows(p, g)));
          !s.ok())
        return s;
    }
  }
  // The summary: the JSON's scalar keys as columns.
  std::string summary;
  PolicyResult shape;  // the columns: a variant column when any run has one
  for (const auto& p : report.policies) {
    if (!p.variant.empty()) shape.variant = p.variant;
  }
  const Json keys = PolicyScalars(shape);
  for (auto it = keys.begin(); it != keys.end(); ++it)
    summary += (it == keys.begin() ? "" : ",") + it.key();
  summary += '\n';
  for (const auto& p : report.policies) {
    const Json scalars = PolicyScalars(p);
    bool first = true;
    for (auto it = keys.begin(); it != keys.end(); ++it) {
      const auto value = scalars.find(it.key());
      summary += (first ? "" : ",") + (value != scalars.end() ? CsvValue(*value) : std::string());
      first = false;
    }
    summary += '\n';
  }
  return WriteFile(JoinPath(dir, "summary.csv"), summary);
}

std::string ReportHtml(const TwinReport& report) {
  std::string title = "sovgrid twin";
  if (!report.scenario.empty()) title += " \u2014 " + report.scenario;
  std::string body = HeaderHtml(report);
  body += StoryHtml(report);
  body += SummaryHtml(report);
  if (!report.policies.empty()) {
    body += UtilizationHtml(report);
    body += QueueHtml(report);
    body += JctCdfHtml(report);
    body += TenantsHtml(report);
    body += TenantWaitsHtml(report);
    body += StrandedHtml(report);
    body += OutagesHtml(report);
    body += EdgeHtml(report);
    body += AccountingHtml(report);
    body += UnfinishedHtml(report);
    body += WhatIfHtml(report);
    body += SitesAndModelsOverTimeHtml(report);
    body += SitesHtml(report);
  }
  return html::Page(title, body, "Generated by sovgrid twin.");
}

Status WriteHtmlReport(const TwinReport& report, const std::string& dir) {
  if (Status s = MakeDirectory(dir); !s.ok()) return s;
  return WriteFile(JoinPath(dir, "index.html"), ReportHtml(report));
}

}  // namespace sovgrid::report
