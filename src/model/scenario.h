// The grid domain as plain value types: accelerators, sites, pools, tenants,
// datasets, jobs and the scenario that holds them all.
//
// These types carry no behaviour beyond lookups and totals. Cross references
// are stored twice on purpose: by id (what a person wrote in the scenario file)
// and by index into the Scenario's vectors (what the scheduler uses). The
// scenario loader fills both and guarantees they agree; code that builds a
// Scenario by hand must call Scenario::Resolve().
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace sovgrid::model {

// Seconds since the Unix epoch. The scheduler's `now` and every window use it.
using Time = std::int64_t;
// Durations in seconds.
using Duration = std::int64_t;

// Accelerator amounts in thousandths of one accelerator, so that fractional
// requests (an inference service on 0.25 of a GPU) are exact integers.
using Milli = std::int64_t;
constexpr Milli kMilliPerAccelerator = 1000;

// Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31),
// by Howard Hinnant's algorithm. Times in sovgrid are Unix seconds in UTC.
std::int64_t DaysFromCivil(std::int64_t year, std::int64_t month, std::int64_t day);

enum class WorkloadClass : std::uint8_t { kLlmTraining = 0, kVisionTraining = 1, kInference = 2 };
constexpr int kWorkloadClassCount = 3;
// Hours of a radio-load curve (Pool::radio_load): one day.
constexpr std::size_t kRadioLoadHours = 24;
std::string_view WorkloadClassName(WorkloadClass c);

// What a catalogue entry is. kAccelerator: a GPU or NPU, which runs a job's
// work (every entry before QPUs existed). kQpu: a quantum processing unit,
// which a quantum-GPU hybrid job holds at the site of its accelerators for its
// whole run (Job::qpus); ordinary jobs never run on it, and it does not set a
// job's pace.
enum class AcceleratorKind : std::uint8_t { kAccelerator, kQpu };
std::string_view AcceleratorKindName(AcceleratorKind k);
std::optional<AcceleratorKind> ParseAcceleratorKind(std::string_view s);

// A catalogue entry. No vendor is special: B200, GB200, RTX PRO 6000 and a
// domestic NPU are all just entries.
struct AcceleratorModel {
  std::string name;         // unique, e.g. "B200"
  std::string vendor;       // e.g. "NVIDIA", "Rebellions"
  std::string quota_class;  // quotas and guarantees are per class, e.g. "blackwell"
  double memory_gib = 0;
  double power_w = 0;  // board power at full load
  // Throughput relative to the catalogue's reference accelerator (1.0) per
  // workload class. A job's work is measured in seconds on the reference; on
  // this model it runs work / relative_throughput[class] seconds (the twin;
  // docs/twin.md, "Heterogeneous accelerators").
  std::array<double, kWorkloadClassCount> relative_throughput{1.0, 1.0, 1.0};
  // Software stacks it runs ("cuda", "rocm", "rbln-sdk", "furiosa-sdk"...): a
  // job runs only on models whose list holds its Job::stack. Empty: the
  // catalogue says nothing, and the model takes a job of any stack.
  std::vector<std::string> stacks;

  bool RunsStack(std::string_view stack) const;
  bool qpu() const { return kind == AcceleratorKind::kQpu; }
  // Charge factor: accounting units charged per accelerator-hour on this
  // model (a whole accelerator; a share is charged pro rata), as HPC centres
  // weigh a hopper hour above an older card's. Grants are spent in these units.
  double charge_rate = 1.0;
  // Last, so that positional initialisers of the fields above stay valid.
  AcceleratorKind kind = AcceleratorKind::kAccelerator;
};

enum class SiteState : std::uint8_t { kUp, kDraining, kDown };
std::string_view SiteStateName(SiteState s);
std::optional<SiteState> ParseSiteState(std::string_view s);

struct Site {
  std::string id;  // unique
  std::string name;
  std::string operator_name;   // "NAVER Cloud"
  std::string region;          // "gyeonggi"
  std::string jurisdiction;    // "KR"
  int tier = 1;                // certification tier, 1 (lowest) .. 3 (highest)
  double power_budget_kw = 0;  // 0 = not limited
  bool edge = false;           // telecom edge / base-station site
  SiteState state = SiteState::kUp;
  std::map<std::string, double> latency_ms;  // region -> round-trip latency
};

// Homogeneous nodes in one site.
struct Pool {
  std::string id;           // unique
  std::string site;         // Site::id
  std::string accelerator;  // AcceleratorModel::name
  int accelerators_per_node = 8;
  int nodes = 0;
  // Accelerators in one interconnect domain (8 = one HGX board, 72 = one NVL72 rack).
  // A multiple of accelerators_per_node.
  int domain_size = 8;
  int racks = 1;          // nodes are spread evenly over racks
  double mtbf_hours = 0;  // mean time between failures of one node (twin); 0 = none
  // Base-station GPUs put radio load first: 24 hourly fractions (hour 0 first,
  // hours counted from the scenario's epoch) of the pool's nodes that the radio
  // takes; the twin takes them at each hour boundary, idle nodes first, and
  // requeues what ran on the others. Empty: no radio. Only for edge sites.
  std::vector<double> radio_load;
  // Resolved by Scenario::Resolve().
  int site_index = -1;
  int accelerator_index = -1;

  std::int64_t accelerators() const {
    return static_cast<std::int64_t>(accelerators_per_node) * nodes;
  }
  int nodes_per_domain() const { return domain_size / accelerators_per_node; }
};

// Units a tenant may consume in a window, as national programmes hand out
// GPU-hours. One unit is one hour of one accelerator whose charge_rate is 1.0.
struct Grant {
  std::string id;
  double units = 0;
  Time valid_from = 0;
  Time valid_until = 0;
  std::string quota_class;  // empty: any class
};

// Per quota class amounts in whole accelerators.
using ClassAmounts = std::map<std::string, std::int64_t>;

// A node of the tenant tree: root -> programme -> organisation -> project.
// Tenants with an empty parent hang below the implicit root.
struct Tenant {
  std::string id;  // unique
  std::string name;
  std::string parent;   // Tenant::id, or empty for a top-level tenant
  double weight = 1.0;  // fair-share weight among siblings
  // Synthetic workloads only: how much work the subtree asks for, relative to
  // its guarantee (multiplied down the tree; 1 = in proportion to it). The
  // scheduler never reads it.
  double demand = 1.0;
  ClassAmounts guarantee;     // guaranteed accelerators per quota class
  ClassAmounts borrow_limit;  // at most this much above the guarantee; absent = unlimited
  ClassAmounts lend_limit;    // at most this much of the unused guarantee lent; absent = all
  std::vector<Grant> grants;
  // What the subtree's jobs may do once every grant that applies is spent
  // (decided by the grant holder): wait for a new grant, or keep running
  // within the guarantee (never borrowing).
  enum class OnGrantSpent : std::uint8_t { kWait, kGuarantee };
  OnGrantSpent on_grant_spent = OnGrantSpent::kWait;
  // Dedicated capacity: the subtree's jobs run only on these pools (Pool::id);
  // empty = anywhere the filters allow. The nearest tenant up the tree that
  // names pools decides.
  std::vector<std::string> pools;
  int parent_index = -1;  // resolved; -1 = implicit root
};

// A named data asset and where the law lets it be processed.
struct Dataset {
  std::string id;  // unique
  std::string description;
  std::vector<std::string> jurisdictions;  // allowed jurisdictions; empty = any
  int min_tier = 1;                        // minimum site certification tier
  std::vector<std::string> sites;          // explicit allow-list; empty = any site passing the rest
  std::vector<std::string> tenants;        // tenant subtrees that may use it; empty = every tenant

  // The residency rule: whether the law lets this data be processed at `site`
  // (its jurisdiction, certification tier and, if listed, the site itself).
  bool AllowsSite(const Site& site) const;
};

struct PriorityClass {
  std::string name;
  int value = 0;  // higher runs first and may preempt lower
};

// Scheduling policies chosen in the scenario; the command line may override.
struct Policies {
  std::string queue_order = "drf";
  std::vector<std::string> scores = {"topology", "binpack"};
  bool backfill = true;
  bool preemption = true;
  Duration preemption_grace_s = 1800;
};

enum class JobKind : std::uint8_t { kTrain, kFinetune, kBatch, kService };
std::string_view JobKindName(JobKind k);
std::optional<JobKind> ParseJobKind(std::string_view s);
WorkloadClass WorkloadClassOf(JobKind k);

// A request for accelerators. Either `accelerators` whole devices, or a
// fraction of one (`accelerator_milli` < 1000 with accelerators == 1).
struct Job {
  std::string id;
  std::string tenant;  // Tenant::id (a project, usually)
  JobKind kind = JobKind::kBatch;
  int accelerators = 1;
  Milli accelerator_milli =
      kMilliPerAccelerator;                  // per accelerator; < 1000 only when accelerators == 1
  int accelerators_per_node = 0;             // 0: the scheduler chooses the shape
  std::vector<std::string> accepted_models;  // empty: any model
  std::string stack = "cuda";                // software stack; see AcceleratorModel::stacks
  bool gang = true;                          // all-or-nothing across nodes
  std::vector<std::string> datasets;
  std::string priority_class = "normal";
  bool preemptible = true;
  Duration checkpoint_interval_s = 0;  // 0: no checkpoints, preemption loses all work
  Duration runtime_estimate_s = 0;     // 0: unknown
  Time deadline = 0;                   // 0: none
  Time submit_time = 0;
  int replicas = 1;                              // services only
  std::map<std::string, double> latency_slo_ms;  // services: region -> objective
  std::string command;                           // what the local/slurm backends run
  // Quantum-GPU hybrid: QPUs (catalogue kind "qpu") held at the site of its
  // accelerators for the job's whole run, allocated and released with them,
  // all or nothing. 0: an ordinary job. Not for services.
  int qpus = 0;

  bool fractional() const { return accelerator_milli < kMilliPerAccelerator; }
  Milli total_milli() const { return accelerator_milli * accelerators; }
};

struct Scenario {
  std::string name;
  std::string description;
  Time epoch = 0;  // the start of the scenario's virtual time
  std::vector<AcceleratorModel> accelerators;
  std::vector<Site> sites;
  std::vector<Pool> pools;
  std::vector<Tenant> tenants;
  std::vector<Dataset> datasets;
  std::vector<PriorityClass> priority_classes;
  Policies policies;

  // Fills the *_index fields from the ids. Fails on a dangling reference or a
  // cycle in the tenant tree. Linear in the number of tenants.
  Status Resolve();
  // The tenants on a cycle of the tenant tree (walking up from each comes back
  // to it), in index order; empty for a tree. Needs the parent indices filled
  // (Resolve fills them before it checks for cycles). Linear, iterative.
  std::vector<int> TenantsOnCycles() const;

  int FindAccelerator(std::string_view name) const;
  int FindSite(std::string_view id) const;
  int FindPool(std::string_view id) const;
  int FindTenant(std::string_view id) const;
  int FindDataset(std::string_view id) const;
  std::optional<int> PriorityValue(std::string_view priority_class) const;
  // Whether every dataset of `job` may be processed at `site`
  // (Dataset::AllowsSite); its datasets must exist (a validated job).
  bool DataMayGoTo(const Job& job, const Site& site) const;

  // "msit/research/kisti": the ids from the top-level tenant down.
  std::string TenantPath(int tenant_index) const;
  // Whether `tenant_index` is `ancestor_index` or lies below it.
  bool InSubtree(int tenant_index, int ancestor_index) const;

  std::int64_t TotalAccelerators() const;
  std::int64_t TotalNodes() const;
  // Accelerators per quota class over all pools.
  ClassAmounts CapacityByClass() const;
};

}  // namespace sovgrid::model
