#include "scenario/what_if.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>
#include <utility>

#include "scenario/grant_reader.h"
#include "scenario/loader.h"
#include "scenario/toml_limits.h"
#include "scenario/toml_reader.h"

namespace sovgrid::scenario {
namespace {

constexpr int kMaxNodes = 10'000'000;
constexpr double kMaxDemand = 1000;

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string Where(const WhatIf& w, int line) {
  return w.file + (line > 0 ? ":" + std::to_string(line) : "");
}

void ReadNewPool(TableReader& r, WhatIf::NewPool* np) {
  model::Pool& p = np->pool;
  np->line = r.line();
  r.String("id", &p.id, Presence::kRequired);
  r.String("like", &np->like, Presence::kRequired);
  r.Int("nodes", &p.nodes, 1, kMaxNodes, Presence::kRequired);
  np->has_site = r.String("site", &p.site);
  np->has_accelerator = r.String("accelerator", &p.accelerator);
  np->has_per_node = r.Int("accelerators_per_node", &p.accelerators_per_node, 1, 1024);
  np->has_domain = r.Int("domain_size", &p.domain_size, 1, 1 << 20);
  np->has_racks = r.Int("racks", &p.racks, 1, kMaxNodes);
  np->has_mtbf = r.Double("mtbf_hours", &p.mtbf_hours, 0, 1e9);
}

void ReadDown(TableReader& r, WhatIf::Down* d) {
  d->line = r.line();
  int given = 0;
  if (r.String("site", &d->target)) {
    d->kind = WhatIf::Down::Kind::kSite;
    ++given;
  }
  if (r.String("pool", &d->target)) {
    d->kind = WhatIf::Down::Kind::kPool;
    ++given;
  }
  if (r.String("vendor", &d->target)) {
    d->kind = WhatIf::Down::Kind::kVendor;
    ++given;
  }
  if (given != 1) {
    r.sink().ReportAtLine(
        r.line(), r.path(),
        "expected exactly one of site, pool or vendor, found " + std::to_string(given));
  }
  const bool from_ok = r.Time("from", &d->from, Presence::kRequired);
  const bool until_ok = r.Time("until", &d->until, Presence::kRequired);
  if (from_ok && until_ok && d->until <= d->from) r.Report("until", "expected a time after from");
}

void ReadTenantChange(TableReader& r, WhatIf::TenantChange* t) {
  t->line = r.line();
  r.String("id", &t->id, Presence::kRequired);
  model::ClassAmounts amounts;
  if (r.IntMap("guarantee", &amounts)) t->guarantee = amounts;
  amounts.clear();
  if (r.IntMap("borrow_limit", &amounts)) t->borrow_limit = amounts;
  amounts.clear();
  if (r.IntMap("lend_limit", &amounts)) t->lend_limit = amounts;
  std::vector<model::Grant> grants;
  const bool any_grant_table = ReadGrantTables(r, &grants);
  if (any_grant_table) t->grants = std::move(grants);
}

}  // namespace

Result<WhatIf> ParseWhatIf(std::string_view text, std::string_view source_name,
                           std::vector<Diagnostic>* diagnostics) {
  DiagnosticSink sink{std::string(source_name)};
  WhatIf w;
  w.file = std::string(source_name);
  w.name = std::filesystem::path(std::string(source_name)).stem().string();
  toml::table doc;
  if (auto problem = ParseTomlBounded(text, source_name, &doc)) {
    sink.diagnostics().push_back(std::move(*problem));
  }
  if (sink.diagnostics().empty()) {
    TableReader root(sink, doc, "");
    root.String("name", &w.name);
    root.String("description", &w.description);
    root.Double("demand", &w.demand, 1e-3, kMaxDemand);
    std::vector<std::string> removed;
    if (root.StringList("remove_pools", &removed)) {
      const toml::node* list = doc.get("remove_pools");
      const int line = list != nullptr ? static_cast<int>(list->source().begin.line) : 0;
      for (auto& id : removed) w.remove_pools.push_back({std::move(id), line});
    }
    root.Tables("add_pools",
                [&](TableReader& r, std::size_t) { ReadNewPool(r, &w.add_pools.emplace_back()); });
    root.Tables("resize_pools", [&](TableReader& r, std::size_t) {
      WhatIf::Resize& z = w.resize_pools.emplace_back();
      z.line = r.line();
      r.String("id", &z.id, Presence::kRequired);
      r.Int("nodes", &z.nodes, 1, kMaxNodes, Presence::kRequired);
    });
    root.Tables("down", [&](TableReader& r, std::size_t) { ReadDown(r, &w.down.emplace_back()); });
    root.Tables("tenants", [&](TableReader& r, std::size_t) {
      ReadTenantChange(r, &w.tenants.emplace_back());
    });
    root.Finish();
    if (w.name.empty()) sink.ReportAtLine(0, "name", "expected a non-empty name");
  }
  if (diagnostics != nullptr) *diagnostics = sink.diagnostics();
  if (!sink.diagnostics().empty()) return InvalidArgument(JoinDiagnostics(sink.diagnostics()));
  return w;
}

Result<WhatIf> LoadWhatIfFile(const std::string& path, std::vector<Diagnostic>* diagnostics) {
  std::string text;
  if (auto problem = ReadTomlFile(path, &text)) {
    const std::string message = problem->ToString();
    if (diagnostics != nullptr) *diagnostics = {std::move(*problem)};
    return IoError(message);
  }
  return ParseWhatIf(text, path, diagnostics);
}

Result<model::Scenario> ApplyWhatIf(const model::Scenario& base, const WhatIf& w) {
  model::Scenario s = base;
  std::vector<std::string> problems;
  auto problem = [&](int line, const std::string& what) {
    problems.push_back(Where(w, line) + ": " + what);
  };
  for (const auto& r : w.remove_pools) {
    const int p = s.FindPool(r.id);
    if (p < 0) {
      problem(r.line, "remove_pools: the scenario has no pool '" + r.id + "'");
      continue;
    }
    s.pools.erase(s.pools.begin() + p);
    // Tenants' dedicated pools may no longer name it.
    for (auto& t : s.tenants) std::erase(t.pools, r.id);
  }
  for (const auto& z : w.resize_pools) {
    const int p = s.FindPool(z.id);
    if (p < 0) {
      problem(z.line, "resize_pools: the scenario has no pool '" + z.id + "'");
      continue;
    }
    s.pools[static_cast<std::size_t>(p)].nodes = z.nodes;
  }
  for (const auto& np : w.add_pools) {
    const int like = base.FindPool(np.like);
    if (like < 0) {
      problem(np.line, "add_pools: 'like' names no pool of the scenario: '" + np.like + "'");
      continue;
    }
    if (s.FindPool(np.pool.id) >= 0) {
      problem(np.line, "add_pools: the scenario already has a pool '" + np.pool.id + "'");
      continue;
    }
    model::Pool p = base.pools[static_cast<std::size_t>(like)];
    p.id = np.pool.id;
    p.nodes = np.pool.nodes;
    if (np.has_site) p.site = np.pool.site;
    if (np.has_accelerator) p.accelerator = np.pool.accelerator;
    if (np.has_per_node) p.accelerators_per_node = np.pool.accelerators_per_node;
    p.domain_size = np.has_domain ? np.pool.domain_size
                                  : std::min(p.domain_size, p.accelerators_per_node * p.nodes);
    if (np.has_racks) p.racks = np.pool.racks;
    if (np.has_mtbf) p.mtbf_hours = np.pool.mtbf_hours;
    if (s.FindSite(p.site) < 0) {
      problem(np.line, "add_pools: the scenario has no site '" + p.site + "'");
      continue;
    }
    if (s.FindAccelerator(p.accelerator) < 0) {
      problem(np.line, "add_pools: the scenario has no accelerator model '" + p.accelerator + "'");
      continue;
    }
    p.site_index = -1;
    p.accelerator_index = -1;
    s.pools.push_back(std::move(p));
  }
  for (const auto& t : w.tenants) {
    const int i = s.FindTenant(t.id);
    if (i < 0) {
      problem(t.line, "tenants: the scenario has no tenant '" + t.id + "'");
      continue;
    }
    model::Tenant& tenant = s.tenants[static_cast<std::size_t>(i)];
    if (t.guarantee) tenant.guarantee = *t.guarantee;
    if (t.borrow_limit) tenant.borrow_limit = *t.borrow_limit;
    if (t.lend_limit) tenant.lend_limit = *t.lend_limit;
    if (t.grants) tenant.grants = *t.grants;
  }
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "\n") + p;
    return InvalidArgument(all);
  }
  // The result must be a scenario the loader would take (guarantees within
  // the remaining capacity, dedicated pools that exist, ...).
  std::vector<Diagnostic> invalid;
  ValidateScenario(s, w.file + " applied to scenario '" + base.name + "'", &invalid);
  if (!invalid.empty()) return InvalidArgument(JoinDiagnostics(invalid));
  if (Status st = s.Resolve(); !st.ok()) return InvalidArgument(w.file + ": " + st.message());
  if (!w.name.empty()) s.name = base.name + " + " + w.name;
  return s;
}

Result<std::vector<PoolsDown>> ResolveDowns(const model::Scenario& s, const WhatIf& w) {
  std::vector<PoolsDown> out;
  for (const auto& d : w.down) {
    PoolsDown pd{{}, d.from, d.until, ""};
    const std::string at = " (" + Where(w, d.line) + ")";
    switch (d.kind) {
      case WhatIf::Down::Kind::kSite:
        if (s.FindSite(d.target) < 0)
          return InvalidArgument(Where(w, d.line) + ": down: no site '" + d.target + "'");
        for (const auto& p : s.pools) {
          if (p.site == d.target) pd.pools.push_back(p.id);
        }
        pd.why = "site " + d.target + " down" + at;
        break;
      case WhatIf::Down::Kind::kPool:
        if (s.FindPool(d.target) < 0)
          return InvalidArgument(Where(w, d.line) + ": down: no pool '" + d.target + "'");
        pd.pools.push_back(d.target);
        pd.why = "pool " + d.target + " down" + at;
        break;
      case WhatIf::Down::Kind::kVendor: {
        const std::string vendor = Lower(d.target);
        for (const auto& p : s.pools) {
          const int a = s.FindAccelerator(p.accelerator);
          if (a >= 0 && Lower(s.accelerators[static_cast<std::size_t>(a)].vendor) == vendor)
            pd.pools.push_back(p.id);
        }
        if (pd.pools.empty())
          return InvalidArgument(Where(w, d.line) +
                                 ": down: no pool has an accelerator of vendor '" + d.target + "'");
        pd.why = "vendor " + d.target + "'s pools down" + at;
        break;
      }
    }
    out.push_back(std::move(pd));
  }
  return out;
}

}  // namespace sovgrid::scenario
