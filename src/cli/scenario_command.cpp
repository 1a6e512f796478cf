#include "cli/scenario_command.h"

#include <fmt/format.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/table.h"
#include "scenario/loader.h"

namespace sovgrid::cli {
namespace {

using model::Scenario;

struct OperatorTotals {
  std::int64_t datacentre = 0;
  std::int64_t edge = 0;
  std::int64_t nodes = 0;
  int sites = 0;
};

struct Totals {
  std::int64_t datacentre = 0;
  std::int64_t edge = 0;
  std::int64_t nodes = 0;
  std::map<std::string, OperatorTotals> by_operator;
  std::map<std::string, std::int64_t> by_model;
  std::vector<std::int64_t> site_accelerators;
  std::vector<std::int64_t> site_nodes;
  std::vector<double> site_power_kw;  // accelerator board power at full load
};

Totals ComputeTotals(const Scenario& s) {
  Totals t;
  t.site_accelerators.assign(s.sites.size(), 0);
  t.site_nodes.assign(s.sites.size(), 0);
  t.site_power_kw.assign(s.sites.size(), 0.0);
  for (const auto& site : s.sites) t.by_operator[site.operator_name].sites++;
  for (const auto& p : s.pools) {
    const auto& site = s.sites[p.site_index];
    const auto& acc = s.accelerators[p.accelerator_index];
    const std::int64_t n = p.accelerators();
    auto& op = t.by_operator[site.operator_name];
    (site.edge ? op.edge : op.datacentre) += n;
    (site.edge ? t.edge : t.datacentre) += n;
    op.nodes += p.nodes;
    t.nodes += p.nodes;
    t.by_model[acc.name] += n;
    t.site_accelerators[p.site_index] += n;
    t.site_nodes[p.site_index] += p.nodes;
    t.site_power_kw[p.site_index] += static_cast<double>(n) * acc.power_w / 1000.0;
  }
  return t;
}

std::string Amounts(const model::ClassAmounts& a) {
  std::string out;
  for (const auto& [cls, n] : a) {
    if (!out.empty()) out += ", ";
    out += cls + " " + WithThousands(n);
  }
  return out.empty() ? "-" : out;
}

void PrintText(const Scenario& s, const Totals& t, std::ostream& out) {
  out << "scenario " << s.name << "\n";
  if (!s.description.empty()) out << s.description << "\n";
  out << "\nSites\n";
  TextTable sites({"site", "operator", "region", "juris.", "tier", "edge", "state", "nodes",
                   "accelerators", "power kW", "budget kW"});
  for (std::size_t i = 0; i < s.sites.size(); ++i) {
    const auto& site = s.sites[i];
    sites.AddRow(
        {site.id, site.operator_name, site.region, site.jurisdiction, std::to_string(site.tier),
         site.edge ? "yes" : "no", std::string(model::SiteStateName(site.state)),
         WithThousands(t.site_nodes[i]), WithThousands(t.site_accelerators[i]),
         WithThousands(static_cast<long long>(t.site_power_kw[i])),
         site.power_budget_kw > 0 ? WithThousands(static_cast<long long>(site.power_budget_kw))
                                  : "-"});
  }
  sites.Print(out);

  out << "\nPools\n";
  TextTable pools(
      {"pool", "site", "model", "per node", "nodes", "domain", "racks", "accelerators"});
  for (const auto& p : s.pools) {
    pools.AddRow({p.id, p.site, p.accelerator, std::to_string(p.accelerators_per_node),
                  WithThousands(p.nodes), std::to_string(p.domain_size), WithThousands(p.racks),
                  WithThousands(p.accelerators())});
  }
  pools.Print(out);

  out << "\nAccelerators by model\n";
  TextTable models({"model", "vendor", "class", "memory GiB", "power W", "count"});
  for (const auto& a : s.accelerators) {
    auto it = t.by_model.find(a.name);
    models.AddRow({a.name, a.vendor, a.quota_class, fmt::format("{:.0f}", a.memory_gib),
                   fmt::format("{:.0f}", a.power_w),
                   WithThousands(it == t.by_model.end() ? 0 : it->second)});
  }
  models.Print(out);

  out << "\nAccelerators by operator\n";
  TextTable ops({"operator", "sites", "nodes", "data-centre", "edge"});
  for (const auto& [name, op] : t.by_operator) {
    ops.AddRow({name, std::to_string(op.sites), WithThousands(op.nodes),
                WithThousands(op.datacentre), WithThousands(op.edge)});
  }
  ops.Print(out);

  out << "\nTenants\n";
  TextTable tenants({"tenant", "weight", "guarantee", "borrow limit", "lend limit", "grants"});
  for (std::size_t i = 0; i < s.tenants.size(); ++i) {
    const auto& tn = s.tenants[i];
    double grant_hours = 0;
    for (const auto& g : tn.grants) grant_hours += g.units;
    tenants.AddRow({s.TenantPath(static_cast<int>(i)), fmt::format("{:g}", tn.weight),
                    Amounts(tn.guarantee), Amounts(tn.borrow_limit), Amounts(tn.lend_limit),
                    tn.grants.empty()
                        ? "-"
                        : fmt::format("{} ({} units)", tn.grants.size(),
                                      WithThousands(static_cast<long long>(grant_hours)))});
  }
  tenants.Print(out);

  out << "\nDatasets\n";
  TextTable datasets({"dataset", "jurisdictions", "min tier", "sites", "tenants"});
  auto join = [](const std::vector<std::string>& v) {
    std::string o;
    for (const auto& x : v) o += (o.empty() ? "" : ",") + x;
    return o.empty() ? std::string("any") : o;
  };
  for (const auto& d : s.datasets) {
    datasets.AddRow(
        {d.id, join(d.jurisdictions), std::to_string(d.min_tier), join(d.sites), join(d.tenants)});
  }
  datasets.Print(out);

  out << "\nTotals\n";
  out << "  data-centre accelerators  " << WithThousands(t.datacentre) << "\n";
  out << "  edge accelerators         " << WithThousands(t.edge) << "\n";
  out << "  all accelerators          " << WithThousands(t.datacentre + t.edge) << "\n";
  out << "  nodes                     " << WithThousands(t.nodes) << "\n";
  out << "  sites                     " << s.sites.size() << "\n";
  out << "  tenants                   " << s.tenants.size() << "\n";
  for (const auto& [cls, n] : s.CapacityByClass()) {
    out << fmt::format("  capacity {:<16} {}\n", cls, WithThousands(n));
  }
}

nlohmann::json ToJson(const Scenario& s, const Totals& t) {
  using nlohmann::json;
  json j;
  j["name"] = s.name;
  j["description"] = s.description;
  j["epoch"] = s.epoch;
  j["policies"] = {{"queue_order", s.policies.queue_order},
                   {"scores", s.policies.scores},
                   {"backfill", s.policies.backfill},
                   {"preemption", s.policies.preemption},
                   {"preemption_grace_s", s.policies.preemption_grace_s}};
  j["accelerators"] = json::array();
  for (const auto& a : s.accelerators) {
    auto it = t.by_model.find(a.name);
    j["accelerators"].push_back({{"name", a.name},
                                 {"vendor", a.vendor},
                                 {"quota_class", a.quota_class},
                                 {"memory_gib", a.memory_gib},
                                 {"power_w", a.power_w},
                                 {"throughput",
                                  {{"llm_training", a.relative_throughput[0]},
                                   {"vision_training", a.relative_throughput[1]},
                                   {"inference", a.relative_throughput[2]}}},
                                 {"count", it == t.by_model.end() ? 0 : it->second}});
  }
  j["sites"] = json::array();
  for (std::size_t i = 0; i < s.sites.size(); ++i) {
    const auto& site = s.sites[i];
    j["sites"].push_back({{"id", site.id},
                          {"name", site.name},
                          {"operator", site.operator_name},
                          {"region", site.region},
                          {"jurisdiction", site.jurisdiction},
                          {"tier", site.tier},
                          {"edge", site.edge},
                          {"state", model::SiteStateName(site.state)},
                          {"power_budget_kw", site.power_budget_kw},
                          {"latency_ms", site.latency_ms},
                          {"nodes", t.site_nodes[i]},
                          {"accelerators", t.site_accelerators[i]}});
  }
  j["pools"] = json::array();
  for (const auto& p : s.pools) {
    j["pools"].push_back({{"id", p.id},
                          {"site", p.site},
                          {"accelerator", p.accelerator},
                          {"accelerators_per_node", p.accelerators_per_node},
                          {"nodes", p.nodes},
                          {"domain_size", p.domain_size},
                          {"racks", p.racks},
                          {"accelerators", p.accelerators()}});
  }
  j["tenants"] = json::array();
  for (std::size_t i = 0; i < s.tenants.size(); ++i) {
    const auto& tn = s.tenants[i];
    json grants = json::array();
    for (const auto& g : tn.grants) {
      grants.push_back({{"id", g.id},
                        {"units", g.units},
                        {"valid_from", g.valid_from},
                        {"valid_until", g.valid_until},
                        {"quota_class", g.quota_class}});
    }
    j["tenants"].push_back({{"id", tn.id},
                            {"path", s.TenantPath(static_cast<int>(i))},
                            {"parent", tn.parent},
                            {"weight", tn.weight},
                            {"guarantee", tn.guarantee},
                            {"borrow_limit", tn.borrow_limit},
                            {"lend_limit", tn.lend_limit},
                            {"grants", grants}});
  }
  j["datasets"] = json::array();
  for (const auto& d : s.datasets) {
    j["datasets"].push_back({{"id", d.id},
                             {"jurisdictions", d.jurisdictions},
                             {"min_tier", d.min_tier},
                             {"sites", d.sites},
                             {"tenants", d.tenants}});
  }
  json ops = json::object();
  for (const auto& [name, op] : t.by_operator) {
    ops[name] = {{"sites", op.sites},
                 {"nodes", op.nodes},
                 {"datacentre_accelerators", op.datacentre},
                 {"edge_accelerators", op.edge}};
  }
  j["totals"] = {{"datacentre_accelerators", t.datacentre},
                 {"edge_accelerators", t.edge},
                 {"accelerators", t.datacentre + t.edge},
                 {"nodes", t.nodes},
                 {"by_operator", ops},
                 {"by_model", t.by_model},
                 {"by_quota_class", s.CapacityByClass()}};
  return j;
}

// Loads or prints every problem; returns the exit code on failure.
int LoadOrReport(const std::string& file, Scenario* out) {
  std::vector<scenario::Diagnostic> diagnostics;
  auto loaded = scenario::LoadScenarioFile(file, &diagnostics);
  if (!loaded.ok()) {
    for (const auto& d : diagnostics) std::cerr << "error: " << d.ToString() << "\n";
    std::cerr << file << ": " << diagnostics.size() << " problem(s); scenario rejected\n";
    return 1;
  }
  *out = std::move(loaded).value();
  return 0;
}

}  // namespace

void AddScenarioCommands(CLI::App& app) {
  CLI::App* scenario = app.add_subcommand("scenario", "Validate and inspect scenario files");
  scenario->require_subcommand(1);

  auto validate_file = std::make_shared<std::string>();
  CLI::App* validate = scenario->add_subcommand(
      "validate", "Check a scenario file; exit 0 if valid, else list every problem and exit 1");
  validate->add_option("FILE", *validate_file, "Scenario TOML file")->required();
  validate->callback([validate_file] {
    Scenario s;
    if (int rc = LoadOrReport(*validate_file, &s); rc != 0) throw CLI::RuntimeError(rc);
    std::cout << *validate_file << ": ok (" << s.sites.size() << " sites, " << s.pools.size()
              << " pools, " << WithThousands(s.TotalNodes()) << " nodes, "
              << WithThousands(s.TotalAccelerators()) << " accelerators, " << s.tenants.size()
              << " tenants, " << s.datasets.size() << " datasets)\n";
  });

  auto show_file = std::make_shared<std::string>();
  auto show_json = std::make_shared<bool>(false);
  CLI::App* show = scenario->add_subcommand(
      "show", "Print a scenario's sites, pools, accelerators, tenants and totals");
  show->add_option("FILE", *show_file, "Scenario TOML file")->required();
  show->add_flag("--json", *show_json, "Print JSON instead of tables");
  show->callback([show_file, show_json] {
    Scenario s;
    if (int rc = LoadOrReport(*show_file, &s); rc != 0) throw CLI::RuntimeError(rc);
    const Totals totals = ComputeTotals(s);
    if (*show_json) {
      std::cout << ToJson(s, totals).dump(2) << "\n";
    } else {
      PrintText(s, totals, std::cout);
    }
  });
}

}  // namespace sovgrid::cli
