// What-if files: a small change to a scenario, and to the run, that the twin
// compares with the base (`sovgrid simulate --what-if FILE`, docs/twin.md
// "Capacity planning"). A what-if names what it changes and nothing else:
//
//   name = "no-new-nvidia"                   # default: the file's stem
//   description = "..."
//   demand = 1.5                             # the workload's arrival rate x 1.5
//   remove_pools = ["kisti-6-b200"]
//   [[add_pools]]                            # like = an existing pool to copy
//   id = "nipa-b200-phase3"  like = "nipa-b200"  nodes = 4625   # site, accelerator, ... optional
//   [[resize_pools]]
//   id = "naver-chuncheon-h100"  nodes = 400
//   [[down]]                                 # exactly one of site, pool, vendor
//   site = "naver-chuncheon"  from = 2027-01-05T00:00:00+09:00  until = 2027-01-06T00:00:00+09:00
//   [[tenants]]                              # replaces what it names of a tenant
//   id = "msit/universities"  guarantee = { hopper = 2000 }
//   [[tenants.grants]]  id = "..."  units = 1e5  valid_from = ...  valid_until = ...
//
// Contract: LoadWhatIfFile reports every problem of the file's own form at
// file:line:column with its field path, like the scenario loader, and never
// throws. ApplyWhatIf checks the what-if against a scenario (pools, sites,
// vendors and tenants it names exist, the result is a valid scenario) and
// returns the changed copy; its errors name the what-if's file and line.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "scenario/diagnostic.h"

namespace sovgrid::scenario {

struct WhatIf {
  std::string file;  // as given, for messages
  std::string name;
  std::string description;
  double demand = 1.0;  // multiplies the workload's arrival rate

  struct NamedAt {
    std::string id;
    int line = 0;
  };
  std::vector<NamedAt> remove_pools;

  struct NewPool {
    model::Pool pool;  // `like`'s fields where the file gives none
    std::string like;
    int line = 0;
    // Which fields the file gave (the rest come from `like`).
    bool has_site = false, has_accelerator = false, has_per_node = false, has_domain = false,
         has_racks = false, has_mtbf = false;
  };
  std::vector<NewPool> add_pools;

  struct Resize {
    std::string id;
    int nodes = 0;
    int line = 0;
  };
  std::vector<Resize> resize_pools;

  struct Down {
    enum class Kind { kSite, kPool, kVendor };
    Kind kind = Kind::kSite;
    std::string target;  // site id, pool id or vendor name (vendors case-insensitively)
    model::Time from = 0, until = 0;
    int line = 0;
  };
  std::vector<Down> down;

  struct TenantChange {
    std::string id;
    std::optional<model::ClassAmounts> guarantee, borrow_limit, lend_limit;
    std::optional<std::vector<model::Grant>> grants;
    int line = 0;
  };
  std::vector<TenantChange> tenants;
};

Result<WhatIf> LoadWhatIfFile(const std::string& path,
                              std::vector<Diagnostic>* diagnostics = nullptr);
// `source_name` is what diagnostics call the file; the name defaults to its stem.
Result<WhatIf> ParseWhatIf(std::string_view text, std::string_view source_name,
                           std::vector<Diagnostic>* diagnostics = nullptr);

// The scenario with the what-if's pool and tenant changes (not the outages or
// the demand, which concern the run: see PoolsDown). InvalidArgument naming
// the what-if's file:line for a pool, site, accelerator model or tenant the
// scenario does not have, or a result the scenario loader would refuse.
Result<model::Scenario> ApplyWhatIf(const model::Scenario& base, const WhatIf& what_if);

// One period in which pools are down, resolved against `scenario` (the
// changed one): a site's pools, one pool, or every pool of a vendor's
// accelerator models.
struct PoolsDown {
  std::vector<std::string> pools;
  model::Time from = 0, until = 0;
  std::string why;  // "site naver-chuncheon down (what-if.toml:12)"
};
Result<std::vector<PoolsDown>> ResolveDowns(const model::Scenario& scenario, const WhatIf& what_if);

}  // namespace sovgrid::scenario
