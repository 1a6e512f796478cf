#include "model/scenario.h"

#include <algorithm>
#include <cassert>
#include <unordered_map>

namespace sovgrid::model {

bool Dataset::AllowsSite(const Site& site) const {
  if (!jurisdictions.empty() && std::find(jurisdictions.begin(), jurisdictions.end(),
                                          site.jurisdiction) == jurisdictions.end())
    return false;
  if (site.tier < min_tier) return false;
  return sites.empty() || std::find(sites.begin(), sites.end(), site.id) != sites.end();
}

std::int64_t DaysFromCivil(std::int64_t y, std::int64_t m, std::int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t yoe = y - era * 400;
  const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

std::string_view WorkloadClassName(WorkloadClass c) {
  switch (c) {
    case WorkloadClass::kLlmTraining:
      return "llm_training";
    case WorkloadClass::kVisionTraining:
      return "vision_training";
    case WorkloadClass::kInference:
      return "inference";
  }
  return "?";
}

bool AcceleratorModel::RunsStack(std::string_view stack) const {
  return stacks.empty() || std::find(stacks.begin(), stacks.end(), stack) != stacks.end();
}

std::string_view AcceleratorKindName(AcceleratorKind k) {
  switch (k) {
    case AcceleratorKind::kAccelerator:
      return "accelerator";
    case AcceleratorKind::kQpu:
      return "qpu";
  }
  return "?";
}

std::optional<AcceleratorKind> ParseAcceleratorKind(std::string_view s) {
  if (s == "accelerator") return AcceleratorKind::kAccelerator;
  if (s == "qpu") return AcceleratorKind::kQpu;
  return std::nullopt;
}

std::string_view SiteStateName(SiteState s) {
  switch (s) {
    case SiteState::kUp:
      return "up";
    case SiteState::kDraining:
      return "draining";
    case SiteState::kDown:
      return "down";
  }
  return "?";
}

std::optional<SiteState> ParseSiteState(std::string_view s) {
  if (s == "up") return SiteState::kUp;
  if (s == "draining") return SiteState::kDraining;
  if (s == "down") return SiteState::kDown;
  return std::nullopt;
}

std::string_view JobKindName(JobKind k) {
  switch (k) {
    case JobKind::kTrain:
      return "train";
    case JobKind::kFinetune:
      return "finetune";
    case JobKind::kBatch:
      return "batch";
    case JobKind::kService:
      return "service";
  }
  return "?";
}

std::optional<JobKind> ParseJobKind(std::string_view s) {
  if (s == "train") return JobKind::kTrain;
  if (s == "finetune") return JobKind::kFinetune;
  if (s == "batch") return JobKind::kBatch;
  if (s == "service") return JobKind::kService;
  return std::nullopt;
}

WorkloadClass WorkloadClassOf(JobKind k) {
  switch (k) {
    case JobKind::kTrain:
    case JobKind::kFinetune:
      return WorkloadClass::kLlmTraining;
    case JobKind::kBatch:
      return WorkloadClass::kVisionTraining;
    case JobKind::kService:
      return WorkloadClass::kInference;
  }
  return WorkloadClass::kLlmTraining;
}

namespace {
template <typename T, typename Key>
int FindBy(const std::vector<T>& items, std::string_view wanted, Key key) {
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (key(items[i]) == wanted) return static_cast<int>(i);
  }
  return -1;
}
}  // namespace

int Scenario::FindAccelerator(std::string_view n) const {
  return FindBy(accelerators, n,
                [](const AcceleratorModel& a) -> const std::string& { return a.name; });
}
int Scenario::FindSite(std::string_view id) const {
  return FindBy(sites, id, [](const Site& s) -> const std::string& { return s.id; });
}
int Scenario::FindPool(std::string_view id) const {
  return FindBy(pools, id, [](const Pool& p) -> const std::string& { return p.id; });
}
int Scenario::FindTenant(std::string_view id) const {
  return FindBy(tenants, id, [](const Tenant& t) -> const std::string& { return t.id; });
}
int Scenario::FindDataset(std::string_view id) const {
  return FindBy(datasets, id, [](const Dataset& d) -> const std::string& { return d.id; });
}

bool Scenario::DataMayGoTo(const Job& job, const Site& site) const {
  for (const auto& d : job.datasets) {
    const int index = FindDataset(d);
    assert(index >= 0 && "DataMayGoTo needs a validated job");
    if (!datasets[static_cast<std::size_t>(index)].AllowsSite(site)) return false;
  }
  return true;
}

std::optional<int> Scenario::PriorityValue(std::string_view priority_class) const {
  for (const auto& pc : priority_classes) {
    if (pc.name == priority_class) return pc.value;
  }
  return std::nullopt;
}

Status Scenario::Resolve() {
  for (auto& pool : pools) {
    pool.site_index = FindSite(pool.site);
    if (pool.site_index < 0)
      return NotFound("pool '" + pool.id + "': unknown site '" + pool.site + "'");
    pool.accelerator_index = FindAccelerator(pool.accelerator);
    if (pool.accelerator_index < 0) {
      return NotFound("pool '" + pool.id + "': unknown accelerator '" + pool.accelerator + "'");
    }
  }
  // One hash lookup per tenant: linear in the tree's size (100,000 tenants load
  // in milliseconds). The first of duplicate ids wins, as FindTenant's does.
  std::unordered_map<std::string_view, int> tenant_index;
  tenant_index.reserve(tenants.size());
  for (std::size_t i = 0; i < tenants.size(); ++i)
    tenant_index.emplace(tenants[i].id, static_cast<int>(i));
  for (auto& tenant : tenants) {
    tenant.parent_index = -1;
    if (tenant.parent.empty()) continue;
    const auto it = tenant_index.find(tenant.parent);
    if (it == tenant_index.end()) {
      return NotFound("tenant '" + tenant.id + "': unknown parent '" + tenant.parent + "'");
    }
    tenant.parent_index = it->second;
  }
  if (const std::vector<int> cycle = TenantsOnCycles(); !cycle.empty()) {
    return InvalidArgument("tenant '" + tenants[cycle.front()].id +
                           "' is part of a cycle in the tenant tree");
  }
  return Status::Ok();
}

std::vector<int> Scenario::TenantsOnCycles() const {
  // Iterative walk with colours: 0 = unvisited, 1 = on the current walk,
  // 2 = done (leads to the root or into a cycle found before). Each tenant is
  // coloured once and walked over once: O(tenants), no recursion.
  const int n = static_cast<int>(tenants.size());
  std::vector<char> colour(tenants.size(), 0);
  std::vector<char> on_cycle(tenants.size(), 0);
  std::vector<int> walk;
  for (int start = 0; start < n; ++start) {
    walk.clear();
    int at = start;
    while (at >= 0 && at < n && colour[at] == 0) {
      colour[at] = 1;
      walk.push_back(at);
      at = tenants[at].parent_index;
    }
    if (at >= 0 && at < n && colour[at] == 1) {
      // Came back to this walk: the walk from `at` on is one cycle.
      for (auto it = walk.rbegin(); it != walk.rend(); ++it) {
        on_cycle[*it] = 1;
        if (*it == at) break;
      }
    }
    for (int w : walk) colour[w] = 2;
  }
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    if (on_cycle[i]) out.push_back(i);
  }
  return out;
}

std::string Scenario::TenantPath(int tenant_index) const {
  std::vector<const std::string*> parts;
  for (int at = tenant_index; at >= 0 && parts.size() <= tenants.size();
       at = tenants[at].parent_index) {
    parts.push_back(&tenants[at].id);
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    if (!path.empty()) path += '/';
    path += **it;
  }
  return path;
}

bool Scenario::InSubtree(int tenant_index, int ancestor_index) const {
  std::size_t steps = 0;
  for (int at = tenant_index; at >= 0 && steps <= tenants.size();
       at = tenants[at].parent_index, ++steps) {
    if (at == ancestor_index) return true;
  }
  return false;
}

std::int64_t Scenario::TotalAccelerators() const {
  std::int64_t total = 0;
  for (const auto& p : pools) total += p.accelerators();
  return total;
}

std::int64_t Scenario::TotalNodes() const {
  std::int64_t total = 0;
  for (const auto& p : pools) total += p.nodes;
  return total;
}

ClassAmounts Scenario::CapacityByClass() const {
  ClassAmounts out;
  for (const auto& p : pools) {
    const int a = p.accelerator_index >= 0 ? p.accelerator_index : FindAccelerator(p.accelerator);
    if (a < 0) continue;
    out[accelerators[a].quota_class] += p.accelerators();
  }
  return out;
}

}  // namespace sovgrid::model
