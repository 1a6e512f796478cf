// The node and pod lists of Alibaba's cluster-trace-gpu-v2023
// (openb_node_list_*.csv, openb_pod_list_*.csv), each parsed here and only
// here: the alibaba2023 trace format and ScenarioFromAlibabaNodes
// (trace_reader.h) and the fill experiment (fill/fill.h) all read them through
// ForEachNode and ForEachPod. docs/traces.md and docs/fill.md state the rules.
//
// The parsers check what the file itself must satisfy (columns, integers,
// ranges, unique node names); a caller's own rules (a scenario's models, how
// shares are taken) come back from its row function as a csv::Problem and are
// reported at the line like any other.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "traces/csv.h"

namespace sovgrid::traces::alibaba {

inline constexpr std::int64_t kMaxCpuMilli = 100'000'000;     // 100,000 cores on one node
inline constexpr std::int64_t kMaxMemoryMib = 1'000'000'000;  // ~950 TiB

// ---- Node lists: sn, cpu_milli, memory_mib, gpu, model ----------------------

struct NodeListOptions {
  // The fill experiment places pods by CPU and memory too: sn, cpu_milli and
  // memory_mib are then required columns and sn may not be empty.
  bool resources = false;
  std::int64_t max_gpus = 1024;  // GPUs per node at most
};

struct Node {
  std::size_t line = 0;
  std::string_view sn;                         // "" when the list has none
  std::int64_t cpu_milli = 0, memory_mib = 0;  // 0 when not read (options.resources off)
  int gpus = 0;
  std::string_view model;  // not empty when gpus > 0
};

// Each node of the list at `path`, in file order, to `fn`. Strict: the first
// malformed line fails the read ("FILE:LINE: what (column NAME)"), as does a
// list without a node with GPUs ("FILE: no node with GPUs"); a missing file is
// IoError. Checked: sn unique (when given), cpu_milli in 1..kMaxCpuMilli,
// memory_mib in 0..kMaxMemoryMib, gpu in 0..max_gpus, a model when gpu > 0.
Status ForEachNode(const std::string& path, const NodeListOptions& options,
                   const std::function<csv::RowCheck(const Node&)>& fn);

// ---- Pod lists: name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos,
// creation_time, deletion_time, scheduled_time (others ignored) ----------------

struct PodListOptions {
  std::string_view format = "alibaba2023 pod list";  // names the file in header messages
  // name (not empty), cpu_milli, memory_mib and gpu_milli are required (the fill experiment).
  bool resources = false;
  // creation_time and deletion_time are required, scheduled_time read when present (the trace).
  bool times = false;
  std::int64_t max_gpus = 1024;  // num_gpu at most
  // CPU-only pods (num_gpu 0) go to `fn` with no other column checked, and a
  // GPU pod's gpu_milli must be 1..1000 (the trace, which leaves them out).
  bool skip_cpu_only = false;
};

struct Pod {
  std::size_t line = 0;
  std::string_view name, qos;                  // "" when absent
  std::int64_t cpu_milli = 0, memory_mib = 0;  // 0 when absent
  std::int64_t gpus = 0;
  std::int64_t gpu_milli = 0;  // 0..1000; 1000 when the list has no gpu_milli column
  std::string_view gpu_milli_text;
  std::string_view gpu_spec;             // as written; "" = any model
  std::vector<std::string_view> models;  // gpu_spec split at '|', trimmed, empty parts left out
  double creation = 0, deletion = 0;     // seconds (options.times)
  double scheduled = 0;                  // seconds, when has_scheduled
  bool has_scheduled = false;
  std::string_view deletion_text, scheduled_text;
};

// Each data line of the pod list text `text` (the contents of `path`) to `fn`,
// after the checks above: cpu_milli in 0..kMaxCpuMilli, memory_mib in
// 0..kMaxMemoryMib, num_gpu in 0..max_gpus, gpu_milli in 0..1000, times in
// seconds up to 2100. A bad line goes to `on_bad` (csv::FailOnBadLine: the
// read stops). Returns the number of data lines.
Result<std::size_t> ForEachPod(const std::string& path, std::string_view text,
                               const PodListOptions& options, const csv::BadLinePolicy& on_bad,
                               const std::function<csv::RowCheck(const Pod&)>& fn);

}  // namespace sovgrid::traces::alibaba
