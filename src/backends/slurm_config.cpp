#include "backends/slurm_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <set>

#include "scenario/toml_limits.h"
#include "scenario/toml_reader.h"

namespace sovgrid::backends {

Result<backends::SlurmBackendOptions> ReadSlurmConfig(const std::string& path,
                                                      const model::Scenario& scenario,
                                                      const std::string& default_dir,
                                                      std::vector<scenario::Diagnostic>* problems) {
  toml::table doc;
  if (auto problem = scenario::ParseTomlFile(path, &doc)) {
    problems->push_back(std::move(*problem));
    return InvalidArgument(path + ": not a valid Slurm configuration");
  }
  scenario::DiagnosticSink sink(path);
  scenario::TableReader root(sink, doc, "");
  backends::SlurmBackendOptions o;
  o.dir = default_dir;
  root.String("dir", &o.dir);
  root.Double("poll_interval_s", &o.poll_interval_s, 0.05, 3600);
  root.Double("site_down_after_s", &o.site_down_after_s, 0, 86400);
  root.Double("command_timeout_s", &o.command_timeout_s, 1, 600);
  root.Int("submit_workers", &o.submit_workers, 1, 64);
  if (!root.Double("retry_max_interval_s", &o.retry_max_interval_s, 0.05, 3600)) {
    o.retry_max_interval_s = std::max(o.retry_max_interval_s, o.poll_interval_s);
  } else if (o.retry_max_interval_s < o.poll_interval_s) {
    root.Report("retry_max_interval_s", "must be at least poll_interval_s");
  }
  root.String("bin_dir", &o.bin_dir);
  if (root.String("instance", &o.instance) && !backends::IsValidSlurmInstance(o.instance))
    root.Report("instance", "expected 1-32 of A-Z a-z 0-9 . _ -, found '" + o.instance + "'");
  std::set<std::string> sites, pools;
  root.Tables("clusters", [&](scenario::TableReader& r, std::size_t) {
    backends::SlurmClusterConfig c;
    if (r.String("site", &c.site, scenario::Presence::kRequired)) {
      if (scenario.FindSite(c.site) < 0) {
        r.Report("site", "unknown site '" + c.site + "'");
      } else if (!sites.insert(c.site).second) {
        r.Report("site", "site '" + c.site + "' has a cluster already");
      }
    }
    r.String("slurm_conf", &c.slurm_conf, scenario::Presence::kRequired);
    r.String("account", &c.account);
    r.Tables("pools", [&](scenario::TableReader& p, std::size_t) {
      backends::SlurmPoolMapping m;
      std::string nodes;
      p.String("partition", &m.partition, scenario::Presence::kRequired);
      const bool named = p.String("pool", &m.pool, scenario::Presence::kRequired);
      const bool listed = p.String("nodes", &nodes, scenario::Presence::kRequired);
      const int index = named ? scenario.FindPool(m.pool) : -1;
      if (named && index < 0) {
        p.Report("pool", "unknown pool '" + m.pool + "'");
      } else if (named && scenario.pools[static_cast<std::size_t>(index)].site != c.site) {
        p.Report("pool", "pool '" + m.pool + "' is at site '" +
                             scenario.pools[static_cast<std::size_t>(index)].site + "', not '" +
                             c.site + "'");
      } else if (named && !pools.insert(m.pool).second) {
        p.Report("pool", "pool '" + m.pool + "' is mapped twice");
      }
      if (listed) {
        auto expanded = backends::ExpandSlurmHostList(nodes);
        if (!expanded.ok()) {
          p.Report("nodes", expanded.status().message());
        } else if (index >= 0 && static_cast<int>(expanded->size()) !=
                                     scenario.pools[static_cast<std::size_t>(index)].nodes) {
          p.Report("nodes",
                   "lists " + std::to_string(expanded->size()) + " nodes; pool '" + m.pool +
                       "' has " +
                       std::to_string(scenario.pools[static_cast<std::size_t>(index)].nodes));
        } else {
          m.nodes = std::move(expanded).value();
        }
      }
      p.Finish();
      c.pools.push_back(std::move(m));
    });
    r.Finish();
    o.clusters.push_back(std::move(c));
  });
  root.Finish();
  problems->insert(problems->end(), sink.diagnostics().begin(), sink.diagnostics().end());
  if (!sink.diagnostics().empty())
    return InvalidArgument(path + ": " + std::to_string(sink.diagnostics().size()) +
                           " problem(s) in the Slurm configuration");
  return o;
}

}  // namespace sovgrid::backends
