#include "report/fill_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "report/html.h"

namespace sovgrid::report {

using fill::FailedPods;
using fill::FillCluster;
using fill::FillRun;
using fill::FillSummary;
using fill::FillWorkload;
using fill::GpuSpecLabel;
using fill::kFillReportLoads;
using fill::PodRequestLabel;
using fill::SummarizeFill;
namespace {

using Json = nlohmann::ordered_json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Json Number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

// Mean over seeds of the curve of (workload, policy), per whole percent.
std::vector<html::Point> MeanCurve(const std::vector<FillRun>& runs, const std::string& workload,
                                   const std::string& policy) {
  std::vector<double> sum;
  std::vector<int> count;
  for (const auto& r : runs) {
    if (r.workload != workload || r.policy != policy) continue;
    for (const auto& [a, v] : r.curve) {
      const auto i = static_cast<std::size_t>(a);
      if (sum.size() <= i) sum.resize(i + 1, 0), count.resize(i + 1, 0);
      sum[i] += v;
      ++count[i];
    }
  }
  std::vector<html::Point> out;
  for (std::size_t i = 0; i < sum.size(); ++i) {
    // Only where every seed reached this load, so the mean is over the same runs.
    out.push_back({static_cast<double>(i), count[i] > 0 ? sum[i] / count[i] : kNaN});
  }
  return out;
}

const FillSummary* Find(const std::vector<FillSummary>& s, const std::string& w,
                        const std::string& p) {
  for (const auto& x : s) {
    if (x.workload == w && x.policy == p) return &x;
  }
  return nullptr;
}

// The run whose failures and per-model fragmentation the report details: sovgrid's when it ran.
std::string FocusPolicy(const FillReport& report) {
  for (const auto& p : report.policies) {
    if (p == "sovgrid") return p;
  }
  return report.policies.empty() ? std::string() : report.policies.front();
}

// Failed pods of (workload, policy) merged over seeds; counts are means over seeds.
std::vector<FailedPods> MergedFailures(const FillReport& report, const std::string& workload,
                                       const std::string& policy, std::size_t* runs) {
  std::vector<FailedPods> merged;
  *runs = 0;
  for (const auto& r : report.runs) {
    if (r.workload != workload || r.policy != policy) continue;
    ++*runs;
    for (const auto& f : r.failed) {
      auto it = std::find_if(merged.begin(), merged.end(), [&](const FailedPods& m) {
        return m.gpus == f.gpus && m.gpu_milli == f.gpu_milli && m.gpu_spec == f.gpu_spec &&
               m.reason == f.reason;
      });
      if (it == merged.end()) {
        merged.push_back(f);
      } else {
        it->count += f.count;
        it->gpu_demand_milli += f.gpu_demand_milli;
      }
    }
  }
  std::stable_sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) {
    return a.gpu_demand_milli > b.gpu_demand_milli;
  });
  return merged;
}

}  // namespace

std::vector<FillComparison> CompareWithBaselines(const std::vector<FillSummary>& summary) {
  std::vector<FillComparison> out;
  std::vector<std::string> workloads;
  for (const auto& s : summary) {
    if (std::find(workloads.begin(), workloads.end(), s.workload) == workloads.end())
      workloads.push_back(s.workload);
  }
  for (const auto& w : workloads) {
    const FillSummary* mine = Find(summary, w, "sovgrid");
    if (mine == nullptr) continue;
    for (int load : kFillReportLoads) {
      auto at = mine->alloc_mean.find(load);
      if (at == mine->alloc_mean.end()) continue;
      FillComparison c{w, load, at->second, -1, ""};
      for (const auto& s : summary) {
        if (s.workload != w || s.policy == "sovgrid") continue;
        auto other = s.alloc_mean.find(load);
        if (other != s.alloc_mean.end() && other->second > c.best_other) {
          c.best_other = other->second;
          c.best_other_policy = s.policy;
        }
      }
      if (!c.best_other_policy.empty()) out.push_back(c);
    }
  }
  return out;
}

std::string FillJson(const FillReport& report) {
  Json j;
  const FillCluster& c = *report.cluster;
  Json cluster;
  cluster["path"] = c.path;
  cluster["nodes"] = c.nodes.size();
  cluster["gpus"] = c.gpu_capacity_milli / 1000;
  Json models = Json::object();
  for (std::size_t m = 0; m < c.models.size(); ++m)
    models[c.models[m]] = c.model_capacity_milli[m] / 1000;
  cluster["gpus_by_model"] = models;
  j["cluster"] = cluster;
  j["target_load"] = report.target_load;
  j["runs"] = Json::array();
  for (const auto& r : report.runs) {
    Json run;
    run["workload"] = r.workload;
    run["policy"] = r.policy;
    run["seed"] = r.seed;
    run["pods"] = r.pods;
    run["failed_pods"] = r.failed_pods;
    run["wall_s"] = r.wall_s;
    run["arrived_pct"] = r.arrived_pct;
    run["allocated_pct"] = r.allocated_pct;
    run["frag_pct_at_100"] = r.frag_pct_at_100 >= 0 ? Number(r.frag_pct_at_100) : Json(nullptr);
    run["frag_ratio_at_100"] =
        r.frag_ratio_at_100 >= 0 ? Number(r.frag_ratio_at_100) : Json(nullptr);
    Json by_model = Json::object();
    for (std::size_t m = 0; m < r.model_frag_pct_at_100.size(); ++m)
      by_model[c.models[m]] = Number(r.model_frag_pct_at_100[m]);
    run["frag_pct_at_100_by_model"] = by_model;
    Json failed = Json::array();
    for (const auto& f : r.failed) {
      failed.push_back({{"num_gpu", f.gpus},
                        {"gpu_milli", f.gpu_milli},
                        {"gpu_spec", f.gpu_spec},
                        {"reason", f.reason},
                        {"count", f.count}});
    }
    run["failed"] = failed;
    Json curve = Json::array();
    for (const auto& [a, v] : r.curve) curve.push_back(Json::array({a, Number(v)}));
    run["curve"] = curve;
    j["runs"].push_back(run);
  }
  const auto summary = SummarizeFill(report.runs);
  j["summary"] = Json::array();
  for (const auto& s : summary) {
    Json o;
    o["workload"] = s.workload;
    o["policy"] = s.policy;
    o["runs"] = s.runs;
    Json at = Json::object(), lo = Json::object(), hi = Json::object();
    for (const auto& [load, v] : s.alloc_mean) at[std::to_string(load)] = Number(v);
    for (const auto& [load, v] : s.alloc_min) lo[std::to_string(load)] = Number(v);
    for (const auto& [load, v] : s.alloc_max) hi[std::to_string(load)] = Number(v);
    o["alloc_pct_at"] = at;
    o["alloc_pct_min_at"] = lo;
    o["alloc_pct_max_at"] = hi;
    o["failed_pods_mean"] = s.failed_pods_mean;
    o["frag_pct_at_100_mean"] =
        s.frag_pct_at_100_mean >= 0 ? Number(s.frag_pct_at_100_mean) : Json(nullptr);
    o["wall_s_mean"] = s.wall_s_mean;
    j["summary"].push_back(o);
  }
  j["comparison"] = Json::array();
  for (const auto& c2 : CompareWithBaselines(summary)) {
    j["comparison"].push_back({{"workload", c2.workload},
                               {"load_pct", c2.load},
                               {"sovgrid_alloc_pct", c2.sovgrid},
                               {"best_other_alloc_pct", c2.best_other},
                               {"best_other_policy", c2.best_other_policy}});
  }
  return j.dump(2) + "\n";
}

Status WriteFillJson(const FillReport& report, const std::string& path) {
  return html::WriteFile(path, FillJson(report));
}

Status WriteFillCsv(const FillReport& report, const std::string& dir) {
  if (Status s = html::MakeDirectory(dir); !s.ok()) return s;
  std::string curves = "workload,policy,seed,arrived_pct,allocated_pct\n";
  std::string failed = "workload,policy,seed,num_gpu,gpu_milli,gpu_spec,reason,count\n";
  std::string frag = "workload,policy,seed,model,frag_pct_at_100\n";
  for (const auto& r : report.runs) {
    const std::string key =
        fmt::format("{},{},{}", CsvField(r.workload), CsvField(r.policy), r.seed);
    for (const auto& [a, v] : r.curve) curves += fmt::format("{},{},{}\n", key, a, CsvNumber(v));
    for (const auto& f : r.failed) {
      failed += fmt::format("{},{},{},{},{},{}\n", key, f.gpus, f.gpu_milli, CsvField(f.gpu_spec),
                            f.reason, f.count);
    }
    for (std::size_t m = 0; m < r.model_frag_pct_at_100.size(); ++m) {
      frag += fmt::format("{},{},{}\n", key, CsvField(report.cluster->models[m]),
                          CsvNumber(r.model_frag_pct_at_100[m]));
    }
  }
  std::string summary = "workload,policy,runs";
  for (int load : kFillReportLoads)
    summary += fmt::format(",alloc_pct_at_{0},alloc_pct_min_at_{0},alloc_pct_max_at_{0}", load);
  summary += ",failed_pods_mean,frag_pct_at_100_mean,wall_s_mean\n";
  for (const auto& s : SummarizeFill(report.runs)) {
    summary += fmt::format("{},{},{}", CsvField(s.workload), CsvField(s.policy), s.runs);
    for (int load : kFillReportLoads) {
      auto get = [&](const std::map<int, double>& m) {
        auto it = m.find(load);
        return it == m.end() ? std::string() : CsvNumber(it->second);
      };
      summary += fmt::format(",{},{},{}", get(s.alloc_mean), get(s.alloc_min), get(s.alloc_max));
    }
    summary += fmt::format(",{},{},{}\n", CsvNumber(s.failed_pods_mean),
                           s.frag_pct_at_100_mean >= 0 ? CsvNumber(s.frag_pct_at_100_mean) : "",
                           CsvNumber(s.wall_s_mean));
  }
  for (const auto& [name, text] : {std::pair<std::string, const std::string&>{"curves.csv", curves},
                                   {"summary.csv", summary},
                                   {"failed_pods.csv", failed},
                                   {"frag_by_model.csv", frag}}) {
    if (Status s = html::WriteFile(html::JoinPath(dir, name), text); !s.ok()) return s;
  }
  return Status::Ok();
}

std::string FillHtml(const FillReport& report) {
  using html::Esc;
  const FillCluster& c = *report.cluster;
  const auto summary = SummarizeFill(report.runs);
  std::string body = "<header>\n<h1>sovgrid fill experiment</h1>\n<dl class=\"meta\">\n";
  body += fmt::format("<dt>Cluster</dt><dd>{} \u2014 {} nodes, {} GPUs</dd>\n", Esc(c.path),
                      WithThousands(static_cast<long long>(c.nodes.size())),
                      WithThousands(c.gpu_capacity_milli / 1000));
  std::string models;
  for (std::size_t m = 0; m < c.models.size(); ++m) {
    models += fmt::format("{}{} {}", m == 0 ? "" : ", ", Esc(c.models[m]),
                          WithThousands(c.model_capacity_milli[m] / 1000));
  }
  body += fmt::format("<dt>GPUs by model</dt><dd>{}</dd>\n", models);
  std::string workloads;
  for (const auto& w : report.workloads) workloads += (workloads.empty() ? "" : ", ") + Esc(w);
  body += fmt::format("<dt>Pod lists</dt><dd>{}</dd>\n", workloads);
  std::string policies;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    policies += fmt::format(
        R"(<span class="policy"><span class="swatch" style="background:{}"></span>{}</span>)",
        html::PolicyColor(i), Esc(report.policies[i]));
  }
  body += fmt::format("<dt>Policies</dt><dd>{}</dd>\n", policies);
  std::string seeds;
  for (auto s : report.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(s);
  body += fmt::format("<dt>Seeds</dt><dd>{}</dd>\n", seeds);
  body += fmt::format("<dt>Target load</dt><dd>{:.0f} % of GPU capacity</dd>\n",
                      report.target_load * 100);
  body += "</dl>\n</header>\n";

  // Summary table.
  std::string table = "<table class=\"summary\">\n<thead><tr><th>pod list / policy</th>";
  for (int load : kFillReportLoads) table += fmt::format("<th>alloc. @ {} %</th>", load);
  table += "<th>failed pods</th><th>frag. @ 100 %</th><th>wall</th></tr></thead>\n<tbody>\n";
  for (const auto& w : report.workloads) {
    std::map<int, double> best;
    for (const auto& s : summary) {
      if (s.workload != w) continue;
      for (const auto& [load, v] : s.alloc_mean) best[load] = std::max(best[load], v);
    }
    for (std::size_t i = 0; i < report.policies.size(); ++i) {
      const FillSummary* s = Find(summary, w, report.policies[i]);
      if (s == nullptr) continue;
      table += fmt::format(
          "<tr><td>{} / <span class=\"policy\"><span class=\"swatch\" "
          "style=\"background:{}\"></span>{}</span></td>",
          Esc(w), html::PolicyColor(i), Esc(s->policy));
      for (int load : kFillReportLoads) {
        auto it = s->alloc_mean.find(load);
        if (it == s->alloc_mean.end()) {
          table += fmt::format("<td>{}</td>", kMissing);
          continue;
        }
        const bool is_best = it->second >= best[load] - 1e-9;
        table += fmt::format("<td{}>{:.2f} %{}</td>", is_best ? " class=\"best\"" : "", it->second,
                             s->runs > 1
                                 ? fmt::format(" <span class=\"sub\">({:.2f}\u2013{:.2f})</span>",
                                               s->alloc_min.at(load), s->alloc_max.at(load))
                                 : "");
      }
      table += fmt::format(
          "<td>{:.1f}</td><td>{}</td><td>{:.2f} s</td></tr>\n", s->failed_pods_mean,
          s->frag_pct_at_100_mean >= 0 ? fmt::format("{:.2f} %", s->frag_pct_at_100_mean)
                                       : std::string(kMissing),
          s->wall_s_mean);
    }
  }
  table += "</tbody></table>\n";
  body += html::Section(
      "Allocated GPU when the arrived demand reaches 90\u2013130 % of capacity",
      "Mean over seeds (min\u2013max in brackets); green: the best policy at that load. "
      "Fragmentation: GPU share no typical pod can use, in % of capacity (FGD's measure).",
      table);

  // Curves per workload.
  for (const auto& w : report.workloads) {
    std::vector<html::Line> lines, zoom;
    double zoom_lo = 100;
    for (std::size_t i = 0; i < report.policies.size(); ++i) {
      auto points = MeanCurve(report.runs, w, report.policies[i]);
      if (points.empty()) continue;
      std::vector<html::Point> tail;
      for (const auto& p : points) {
        if (p.x >= 80) {
          tail.push_back(p);
          if (std::isfinite(p.y)) zoom_lo = std::min(zoom_lo, p.y);
        }
      }
      lines.push_back({report.policies[i], html::PolicyColor(i), std::move(points), false});
      zoom.push_back({report.policies[i], html::PolicyColor(i), std::move(tail), false});
    }
    std::vector<html::Point> ideal;
    for (int a = 0; a <= static_cast<int>(report.target_load * 100); ++a)
      ideal.push_back({static_cast<double>(a), std::min(a, 100) * 1.0});
    lines.push_back({"demand (ideal)", std::string(html::kEntitlementColor), ideal, true});
    const double max_x = std::max(100.0, report.target_load * 100);
    html::ChartOptions o;
    o.title = "Allocated vs arrived GPU \u2014 " + w;
    std::string charts =
        html::LineChart(html::LinearAxis("arrived GPU demand (% of capacity)", 0, max_x),
                        html::LinearAxis("allocated GPU (% of capacity)", 0, 100), lines, o);
    o.title = "The same from 80 % arrived, zoomed";
    o.plot_height = 220;
    charts += html::LineChart(html::LinearAxis("arrived GPU demand (% of capacity)", 80, max_x),
                              html::LinearAxis("allocated GPU (% of capacity)",
                                               std::max(0.0, std::floor(zoom_lo) - 1), 100),
                              zoom, o);
    body += html::Section("Pod list " + w,
                          "Every pod arrives once and stays; a pod that fits nowhere fails. "
                          "Mean over seeds.",
                          charts);
  }

  // Per-model fragmentation and failed pods of the focus policy.
  const std::string focus = FocusPolicy(report);
  for (const auto& w : report.workloads) {
    std::vector<html::BarSeries> series;
    std::vector<html::BarGroup> groups(c.models.size());
    for (std::size_t m = 0; m < c.models.size(); ++m) groups[m].label = c.models[m];
    double hi = 1;
    for (std::size_t i = 0; i < report.policies.size(); ++i) {
      series.push_back({report.policies[i], html::PolicyColor(i)});
      std::vector<double> sum(c.models.size(), 0);
      int n = 0;
      for (const auto& r : report.runs) {
        if (r.workload != w || r.policy != report.policies[i] || r.model_frag_pct_at_100.empty())
          continue;
        ++n;
        for (std::size_t m = 0; m < sum.size(); ++m) sum[m] += r.model_frag_pct_at_100[m];
      }
      for (std::size_t m = 0; m < sum.size(); ++m) {
        const double v = n > 0 ? sum[m] / n : kNaN;
        groups[m].values.push_back(v);
        if (std::isfinite(v)) hi = std::max(hi, v);
      }
    }
    html::ChartOptions o;
    o.title = "Fragmentation per GPU model at 100 % arrived \u2014 " + w;
    std::string part = html::GroupedBarChart(
        series, groups, html::LinearAxis("fragmented GPU (% of the model's capacity)", 0, hi), o,
        [](double v) { return fmt::format("{:.2f} %", v); });
    std::size_t runs = 0;
    const auto failed = MergedFailures(report, w, focus, &runs);
    part += fmt::format("<h3>Pods that failed under {} (mean per seed)</h3>\n", Esc(focus));
    if (failed.empty()) {
      part += "<p class=\"note\">None.</p>\n";
    } else {
      part +=
          "<table class=\"summary\"><thead><tr><th>request</th><th>accepted models</th>"
          "<th>short of</th><th>pods</th><th>GPUs asked</th></tr></thead><tbody>\n";
      const double n = static_cast<double>(std::max<std::size_t>(runs, 1));
      for (std::size_t i = 0; i < failed.size() && i < 25; ++i) {
        const auto& f = failed[i];
        part += fmt::format(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1f}</td><td>{:.1f}</td></tr>\n",
            PodRequestLabel(f.gpus, f.gpu_milli), Esc(GpuSpecLabel(f.gpu_spec)), f.reason,
            static_cast<double>(f.count) / n, static_cast<double>(f.gpu_demand_milli) / 1000 / n);
      }
      part += "</tbody></table>\n";
    }
    body += html::Section("What is stranded and what is missing \u2014 " + w,
                          "Fragmentation of each GPU model when the arrived demand reached 100 % "
                          "(mean over seeds), and the classes of pods that found no node: what to "
                          "buy more of.",
                          part);
  }
  return html::Page("sovgrid fill experiment", body, "Generated by sovgrid fill.");
}

Status WriteFillHtml(const FillReport& report, const std::string& dir) {
  if (Status s = html::MakeDirectory(dir); !s.ok()) return s;
  return html::WriteFile(html::JoinPath(dir, "index.html"), FillHtml(report));
}

}  // namespace sovgrid::report
