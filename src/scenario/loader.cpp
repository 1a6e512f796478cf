#include "scenario/loader.h"

#include <toml++/toml.h>

#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <string_view>
#include <unordered_set>

#include "model/job_schema.h"
#include "model/policy_names.h"
#include "scenario/grant_reader.h"
#include "scenario/toml_limits.h"
#include "scenario/toml_reader.h"

namespace sovgrid::scenario {
namespace {

using model::Scenario;
constexpr std::int64_t kMaxCount = 10'000'000;
constexpr double kMaxNumber = 1e12;

// Line numbers of each item, so that whole-scenario checks point at the file.
struct ItemLines {
  std::vector<int> accelerators, sites, pools, tenants, datasets;
};

void ReadAccelerator(TableReader& r, model::AcceleratorModel* a) {
  r.String("name", &a->name, Presence::kRequired);
  r.String("vendor", &a->vendor, Presence::kRequired);
  r.String("quota_class", &a->quota_class, Presence::kRequired);
  std::string kind;
  if (r.String("kind", &kind)) {
    if (auto parsed = model::ParseAcceleratorKind(kind)) {
      a->kind = *parsed;
    } else {
      r.Report("kind", "expected \"accelerator\" or \"qpu\", found \"" + kind + "\"");
    }
  }
  r.Double("memory_gib", &a->memory_gib, 0, kMaxNumber);
  r.Double("power_w", &a->power_w, 0, kMaxNumber);
  r.Double("charge_rate", &a->charge_rate, 0, 1e6);
  r.Table("throughput", [&](TableReader& t) {
    for (int c = 0; c < model::kWorkloadClassCount; ++c) {
      t.Double(model::WorkloadClassName(static_cast<model::WorkloadClass>(c)),
               &a->relative_throughput[c], 1e-6, 1e6);
    }
  });
  if (r.StringList("stacks", &a->stacks)) {
    for (std::size_t i = 0; i < a->stacks.size(); ++i) {
      if (Status st = model::CheckStackName(a->stacks[i]); !st.ok())
        r.Report("stacks", "[" + std::to_string(i) + "]",
                 st.message() + ", found \"" + a->stacks[i] + "\"");
    }
  }
}

void ReadSite(TableReader& r, model::Site* s) {
  r.String("id", &s->id, Presence::kRequired);
  r.String("name", &s->name);
  r.String("operator", &s->operator_name, Presence::kRequired);
  r.String("region", &s->region, Presence::kRequired);
  r.String("jurisdiction", &s->jurisdiction, Presence::kRequired);
  r.Int("tier", &s->tier, 1, 3, Presence::kRequired);
  r.Double("power_budget_kw", &s->power_budget_kw, 0, kMaxNumber);
  r.Bool("edge", &s->edge);
  std::string state;
  if (r.String("state", &state)) {
    if (auto parsed = model::ParseSiteState(state)) {
      s->state = *parsed;
    } else {
      r.Report("state", "expected one of up, draining, down, found '" + state + "'");
    }
  }
  r.DoubleMap("latency_ms", &s->latency_ms);
  if (s->name.empty()) s->name = s->id;
}

void ReadPool(TableReader& r, model::Pool* p) {
  r.String("id", &p->id, Presence::kRequired);
  r.String("site", &p->site, Presence::kRequired);
  r.String("accelerator", &p->accelerator, Presence::kRequired);
  const bool per_node_ok =
      r.Int("accelerators_per_node", &p->accelerators_per_node, 1, 1024, Presence::kRequired);
  const bool nodes_ok =
      r.Int("nodes", &p->nodes, 1, static_cast<int>(kMaxCount), Presence::kRequired);
  p->domain_size = p->accelerators_per_node;
  if (r.Int("domain_size", &p->domain_size, 1, 1 << 20) && per_node_ok &&
      p->domain_size % p->accelerators_per_node != 0) {
    r.Report("domain_size", "expected a multiple of accelerators_per_node (" +
                                std::to_string(p->accelerators_per_node) + "), found " +
                                std::to_string(p->domain_size));
  }
  r.Double("mtbf_hours", &p->mtbf_hours, 0, kMaxNumber);
  if (r.DoubleList("radio_load", &p->radio_load, 0, 1) &&
      p->radio_load.size() != model::kRadioLoadHours) {
    r.Report("radio_load", "expected exactly 24 hourly fractions (hour 0 first), found " +
                               std::to_string(p->radio_load.size()));
    p->radio_load.clear();
  }
  if (per_node_ok && nodes_ok && p->domain_size > p->accelerators_per_node * p->nodes) {
    r.Report("domain_size", "expected at most the pool's " +
                                std::to_string(p->accelerators_per_node * p->nodes) +
                                " accelerators, found " + std::to_string(p->domain_size));
  }
  if (r.Int("racks", &p->racks, 1, static_cast<int>(kMaxCount)) && nodes_ok &&
      p->racks > p->nodes) {
    r.Report("racks", "expected at most one rack per node (nodes = " + std::to_string(p->nodes) +
                          "), found " + std::to_string(p->racks));
  }
}

void ReadTenant(TableReader& r, model::Tenant* t) {
  r.String("id", &t->id, Presence::kRequired);
  r.String("name", &t->name);
  r.String("parent", &t->parent);
  r.Double("weight", &t->weight, 1e-6, 1e9);
  r.Double("demand", &t->demand, 0, 1e6);
  r.IntMap("guarantee", &t->guarantee);
  r.IntMap("borrow_limit", &t->borrow_limit);
  r.IntMap("lend_limit", &t->lend_limit);
  r.StringList("pools", &t->pools);
  ReadGrantTables(r, &t->grants);
  std::string on_spent;
  if (r.String("on_grant_spent", &on_spent) && !ParseOnGrantSpent(on_spent, &t->on_grant_spent)) {
    r.Report("on_grant_spent", "expected \"wait\" or \"guarantee\", found \"" + on_spent + "\"");
  }
  if (t->name.empty()) t->name = t->id;
}

void ReadDataset(TableReader& r, model::Dataset* d) {
  r.String("id", &d->id, Presence::kRequired);
  r.String("description", &d->description);
  r.StringList("jurisdictions", &d->jurisdictions);
  r.Int("min_tier", &d->min_tier, 1, 3);
  r.StringList("sites", &d->sites);
  r.StringList("tenants", &d->tenants);
}

void ReadPolicies(TableReader& r, model::Policies* p) {
  if (r.String("queue_order", &p->queue_order) && !model::IsKnownQueueOrder(p->queue_order)) {
    r.Report("queue_order", "expected one of " + model::KnownPolicyList(model::kQueueOrderNames) +
                                ", found '" + p->queue_order + "'");
  }
  if (r.StringList("scores", &p->scores)) {
    for (const auto& score : p->scores) {
      if (!model::IsKnownScore(score)) {
        r.Report("scores", "expected each of " + model::KnownPolicyList(model::kScoreNames) +
                               ", found '" + score + "'");
      }
    }
  }
  r.Bool("backfill", &p->backfill);
  r.Bool("preemption", &p->preemption);
  r.Int("preemption_grace_s", &p->preemption_grace_s, 0, std::numeric_limits<std::int32_t>::max());
}

std::vector<model::PriorityClass> DefaultPriorityClasses() {
  return {{"low", 0}, {"normal", 100}, {"high", 200}, {"critical", 300}};
}

template <typename T, typename Id>
void CheckUnique(const std::vector<T>& items, const std::vector<int>& lines,
                 const std::string& file, std::string_view kind, Id id,
                 std::vector<Diagnostic>* out) {
  std::set<std::string, std::less<>> seen;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& key = id(items[i]);
    if (key.empty()) continue;  // already reported as missing
    if (!seen.insert(key).second) {
      out->push_back({file, i < lines.size() ? lines[i] : 0, 0,
                      std::string(kind) + "[" + std::to_string(i) + "]",
                      "duplicate id '" + key + "'"});
    }
  }
}

void Validate(const Scenario& s, const std::string& file, const ItemLines& lines,
              std::vector<Diagnostic>* out) {
  auto at = [](const std::vector<int>& v, std::size_t i) { return i < v.size() ? v[i] : 0; };
  auto add = [&](int line, std::string field, std::string message) {
    out->push_back({file, line, 0, std::move(field), std::move(message)});
  };
  CheckUnique(
      s.accelerators, lines.accelerators, file, "accelerators",
      [](const auto& a) -> const std::string& { return a.name; }, out);
  CheckUnique(
      s.sites, lines.sites, file, "sites", [](const auto& a) -> const std::string& { return a.id; },
      out);
  CheckUnique(
      s.pools, lines.pools, file, "pools", [](const auto& a) -> const std::string& { return a.id; },
      out);
  CheckUnique(
      s.tenants, lines.tenants, file, "tenants",
      [](const auto& a) -> const std::string& { return a.id; }, out);
  CheckUnique(
      s.datasets, lines.datasets, file, "datasets",
      [](const auto& a) -> const std::string& { return a.id; }, out);

  std::set<std::string, std::less<>> classes;
  for (const auto& a : s.accelerators) classes.insert(a.quota_class);
  // A quota class is of one kind: QPUs and accelerators are never counted
  // against one guarantee (a hybrid job charges each to its own class).
  std::map<std::string, model::AcceleratorKind, std::less<>> class_kind;
  for (std::size_t i = 0; i < s.accelerators.size(); ++i) {
    const auto& a = s.accelerators[i];
    const auto [it, inserted] = class_kind.emplace(a.quota_class, a.kind);
    if (!inserted && it->second != a.kind) {
      add(at(lines.accelerators, i), "accelerators[" + std::to_string(i) + "].quota_class",
          "quota class '" + a.quota_class + "' mixes QPUs and accelerators; give the " +
              std::string(model::AcceleratorKindName(a.kind)) + " a class of its own");
    }
  }
  auto check_classes = [&](const model::ClassAmounts& amounts, int line, const std::string& field) {
    for (const auto& [cls, _] : amounts) {
      if (classes.count(cls) == 0) {
        std::string message = "unknown quota class '";
        message += cls;
        message += "' (no accelerator has it)";
        std::string where = field;
        where += '.';
        where += cls;
        add(line, std::move(where), std::move(message));
      }
    }
  };

  // Ids as hash sets: every reference check below is O(1), the whole
  // validation linear in the scenario's size (100,000 tenants included).
  std::unordered_set<std::string_view> tenant_ids, pool_ids, site_ids;
  for (const auto& t : s.tenants) tenant_ids.insert(t.id);
  for (const auto& p : s.pools) pool_ids.insert(p.id);
  for (const auto& site : s.sites) site_ids.insert(site.id);
  std::unordered_set<std::string_view> edge_site_ids;
  for (const auto& site : s.sites) {
    if (site.edge) edge_site_ids.insert(site.id);
  }
  for (std::size_t i = 0; i < s.pools.size(); ++i) {
    const auto& p = s.pools[i];
    const std::string f = "pools[" + std::to_string(i) + "]";
    if (!p.site.empty() && site_ids.count(p.site) == 0) {
      add(at(lines.pools, i), f + ".site", "unknown site '" + p.site + "'");
    }
    if (!p.accelerator.empty() && s.FindAccelerator(p.accelerator) < 0) {
      add(at(lines.pools, i), f + ".accelerator", "unknown accelerator '" + p.accelerator + "'");
    }
    if (!p.radio_load.empty()) {
      if (site_ids.count(p.site) != 0 && edge_site_ids.count(p.site) == 0) {
        add(at(lines.pools, i), f + ".radio_load",
            "radio load is for base-station GPUs: site '" + p.site + "' is not an edge site");
      }
    }
  }

  bool parents_ok = true;
  for (std::size_t i = 0; i < s.tenants.size(); ++i) {
    const auto& t = s.tenants[i];
    const std::string f = "tenants[" + std::to_string(i) + "]";
    if (!t.parent.empty() && tenant_ids.count(t.parent) == 0) {
      add(at(lines.tenants, i), f + ".parent", "unknown tenant '" + t.parent + "'");
      parents_ok = false;
    }
    if (!t.parent.empty() && t.parent == t.id) {
      add(at(lines.tenants, i), f + ".parent", "a tenant cannot be its own parent");
      parents_ok = false;
    }
    for (std::size_t k = 0; k < t.pools.size(); ++k) {
      if (pool_ids.count(t.pools[k]) == 0) {
        add(at(lines.tenants, i), f + ".pools[" + std::to_string(k) + "]",
            "unknown pool '" + t.pools[k] + "'");
      }
    }
    check_classes(t.guarantee, at(lines.tenants, i), f + ".guarantee");
    check_classes(t.borrow_limit, at(lines.tenants, i), f + ".borrow_limit");
    check_classes(t.lend_limit, at(lines.tenants, i), f + ".lend_limit");
    for (std::size_t g = 0; g < t.grants.size(); ++g) {
      const auto& cls = t.grants[g].quota_class;
      if (!cls.empty() && classes.count(cls) == 0) {
        add(at(lines.tenants, i), f + ".grants[" + std::to_string(g) + "].quota_class",
            "unknown quota class '" + cls + "'");
      }
    }
  }

  for (std::size_t i = 0; i < s.datasets.size(); ++i) {
    const auto& d = s.datasets[i];
    const std::string f = "datasets[" + std::to_string(i) + "]";
    for (std::size_t k = 0; k < d.sites.size(); ++k) {
      if (site_ids.count(d.sites[k]) == 0) {
        add(at(lines.datasets, i), f + ".sites[" + std::to_string(k) + "]",
            "unknown site '" + d.sites[k] + "'");
      }
    }
    for (std::size_t k = 0; k < d.tenants.size(); ++k) {
      if (tenant_ids.count(d.tenants[k]) == 0) {
        add(at(lines.datasets, i), f + ".tenants[" + std::to_string(k) + "]",
            "unknown tenant '" + d.tenants[k] + "'");
      }
    }
  }

  if (!parents_ok) return;  // the tree checks below need resolved parents
  Scenario resolved = s;
  Status st = resolved.Resolve();
  if (!st.ok()) {
    // Only cycles can remain here (Resolve filled every parent index before it
    // looked for them): name every tenant on one. Linear, like Resolve.
    for (const int i : resolved.TenantsOnCycles()) {
      const auto u = static_cast<std::size_t>(i);
      add(at(lines.tenants, u), "tenants[" + std::to_string(i) + "].parent",
          "tenant '" + resolved.tenants[u].id + "' is part of a cycle in the tenant tree");
    }
    return;
  }

  // Children's guarantees within the parent's; top-level within capacity.
  std::vector<model::ClassAmounts> child_sum(resolved.tenants.size());
  model::ClassAmounts top_sum;
  std::map<std::string, int> top_line;  // first top-level tenant guaranteeing the class
  for (std::size_t i = 0; i < resolved.tenants.size(); ++i) {
    const auto& t = resolved.tenants[i];
    auto& sum = t.parent_index >= 0 ? child_sum[t.parent_index] : top_sum;
    for (const auto& [cls, n] : t.guarantee) {
      sum[cls] += n;
      if (t.parent_index < 0) top_line.emplace(cls, at(lines.tenants, i));
    }
  }
  for (std::size_t i = 0; i < resolved.tenants.size(); ++i) {
    const auto& t = resolved.tenants[i];
    for (const auto& [cls, n] : child_sum[i]) {
      if (classes.count(cls) == 0) continue;  // reported above as an unknown class
      auto it = t.guarantee.find(cls);
      const std::int64_t own = it == t.guarantee.end() ? 0 : it->second;
      if (n > own) {
        add(at(lines.tenants, i), "tenants[" + std::to_string(i) + "].guarantee." + cls,
            "children of '" + t.id + "' are guaranteed " + std::to_string(n) + " " + cls +
                " in total, more than its own guarantee of " + std::to_string(own));
      }
    }
  }
  const model::ClassAmounts capacity = resolved.CapacityByClass();
  for (const auto& [cls, n] : top_sum) {
    if (classes.count(cls) == 0) continue;  // reported above as an unknown class
    auto it = capacity.find(cls);
    const std::int64_t cap = it == capacity.end() ? 0 : it->second;
    if (n > cap) {
      add(top_line[cls], "tenants",
          "top-level tenants are guaranteed " + std::to_string(n) + " " + cls +
              " in total, more than the grid's capacity of " + std::to_string(cap));
    }
  }
}

}  // namespace

void ValidateScenario(const model::Scenario& scenario, const std::string& file,
                      std::vector<Diagnostic>* out) {
  Validate(scenario, file, ItemLines{}, out);
}

Result<model::Scenario> ParseScenario(std::string_view text, std::string_view source_name,
                                      std::vector<Diagnostic>* diagnostics) {
  DiagnosticSink sink{std::string(source_name)};
  Scenario s;
  ItemLines lines;
  toml::table doc;
  if (auto problem = ParseTomlBounded(text, source_name, &doc)) {
    sink.diagnostics().push_back(std::move(*problem));
  }
  if (sink.diagnostics().empty()) {
    TableReader root(sink, doc, "");
    root.Table(
        "scenario",
        [&](TableReader& r) {
          r.String("name", &s.name, Presence::kRequired);
          r.String("description", &s.description);
          r.Time("epoch", &s.epoch);
        },
        Presence::kRequired);
    root.Table("policies", [&](TableReader& r) { ReadPolicies(r, &s.policies); });
    bool custom_priorities = false;
    root.Tables("priority_classes", [&](TableReader& r, std::size_t) {
      model::PriorityClass pc;
      r.String("name", &pc.name, Presence::kRequired);
      r.Int("value", &pc.value, -1'000'000, 1'000'000, Presence::kRequired);
      s.priority_classes.push_back(pc);
      custom_priorities = true;
    });
    if (!custom_priorities) {
      s.priority_classes = DefaultPriorityClasses();
    } else if (!s.PriorityValue("normal").has_value()) {
      sink.ReportAtLine(0, "priority_classes",
                        "expected a class named 'normal' (the default of jobs that name none)");
    }
    root.Tables("accelerators", [&](TableReader& r, std::size_t) {
      lines.accelerators.push_back(r.line());
      ReadAccelerator(r, &s.accelerators.emplace_back());
    });
    root.Tables("sites", [&](TableReader& r, std::size_t) {
      lines.sites.push_back(r.line());
      ReadSite(r, &s.sites.emplace_back());
    });
    root.Tables("pools", [&](TableReader& r, std::size_t) {
      lines.pools.push_back(r.line());
      ReadPool(r, &s.pools.emplace_back());
    });
    root.Tables("tenants", [&](TableReader& r, std::size_t) {
      lines.tenants.push_back(r.line());
      ReadTenant(r, &s.tenants.emplace_back());
    });
    root.Tables("datasets", [&](TableReader& r, std::size_t) {
      lines.datasets.push_back(r.line());
      ReadDataset(r, &s.datasets.emplace_back());
    });
    root.Finish();
    if (s.accelerators.empty())
      sink.ReportAtLine(0, "accelerators", "expected at least one [[accelerators]]");
    if (s.sites.empty()) sink.ReportAtLine(0, "sites", "expected at least one [[sites]]");
    if (s.pools.empty()) sink.ReportAtLine(0, "pools", "expected at least one [[pools]]");
    Validate(s, sink.file(), lines, &sink.diagnostics());
    std::map<std::string_view, int> class_count;  // not pairwise: thousands of classes stay fast
    for (std::size_t i = 0; i < s.priority_classes.size(); ++i) {
      if (++class_count[s.priority_classes[i].name] >= 2) {
        sink.ReportAtLine(0, "priority_classes[" + std::to_string(i) + "]",
                          "duplicate name '" + s.priority_classes[i].name + "'");
      }
    }
  }
  if (diagnostics != nullptr) *diagnostics = sink.diagnostics();
  if (!sink.diagnostics().empty()) {
    return InvalidArgument(JoinDiagnostics(sink.diagnostics()));
  }
  Status resolved = s.Resolve();
  if (!resolved.ok()) return resolved;  // unreachable after Validate; kept as a guard
  return s;
}

Result<model::Scenario> LoadScenarioFile(const std::string& path,
                                         std::vector<Diagnostic>* diagnostics) {
  std::string text;
  if (auto problem = ReadTomlFile(path, &text)) {
    const std::string message = problem->ToString();
    if (diagnostics != nullptr) *diagnostics = {std::move(*problem)};
    return IoError(message);
  }
  return ParseScenario(text, path, diagnostics);
}

}  // namespace sovgrid::scenario
