#include "traces/alibaba.h"

#include <set>
#include <utility>

namespace sovgrid::traces::alibaba {

using csv::Problem;

Status ForEachNode(const std::string& path, const NodeListOptions& options,
                   const std::function<csv::RowCheck(const Node&)>& fn) {
  auto text = csv::ReadWholeFile(path);
  if (!text.ok()) {
    return text.status();
  }
  enum { kSn, kCpu, kMemory, kGpu, kModel };
  const bool r = options.resources;
  const csv::TableFormat format{
      "alibaba2023 node list",
      {{"sn", r}, {"cpu_milli", r}, {"memory_mib", r}, {"gpu", true}, {"model", true}}};
  std::set<std::string, std::less<>> serials;
  bool any_gpu = false;
  auto read = csv::ForEachRow(
      path, *text, format, csv::FailOnBadLine, [&](const csv::Row& row) -> csv::RowCheck {
        Node n;
        n.line = row.line();
        n.sn = row[kSn];
        if (r) {
          if (auto p = csv::Empty(n.sn, "sn")) {
            return p;
          }
        }
        if (!n.sn.empty() && !serials.insert(std::string(n.sn)).second) {
          return Problem{"duplicate node " + csv::Quote(n.sn), "sn"};
        }
        if (r) {
          if (auto p = csv::GetInt(row[kCpu], "cpu_milli", 1, kMaxCpuMilli, &n.cpu_milli)) {
            return p;
          }
          if (auto p = csv::GetInt(row[kMemory], "memory_mib", 0, kMaxMemoryMib, &n.memory_mib)) {
            return p;
          }
        }
        std::int64_t gpus = 0;
        if (auto p = csv::GetInt(row[kGpu], "gpu", 0, options.max_gpus, &gpus)) {
          return p;
        }
        n.gpus = static_cast<int>(gpus);
        n.model = row[kModel];
        if (n.gpus > 0 && n.model.empty()) {
          return Problem{"empty value: a node with GPUs needs a model", "model"};
        }
        any_gpu = any_gpu || n.gpus > 0;
        return fn(n);
      });
  if (!read.ok()) {
    return read.status();
  }
  if (!any_gpu) {
    return InvalidArgument(path + ": no node with GPUs");
  }
  return Status::Ok();
}

Result<std::size_t> ForEachPod(const std::string& path, std::string_view text,
                               const PodListOptions& options, const csv::BadLinePolicy& on_bad,
                               const std::function<csv::RowCheck(const Pod&)>& fn) {
  enum { kName, kCpu, kMemory, kGpus, kMilli, kSpec, kQos, kCreation, kDeletion, kScheduled };
  constexpr std::string_view kNoTimes =
      "the multigpu*.csv pod lists carry no times, so no runtime can be derived from them";
  const bool r = options.resources;
  const bool t = options.times;
  const csv::TableFormat format{options.format,
                                {{"name", r},
                                 {"cpu_milli", r},
                                 {"memory_mib", r},
                                 {"num_gpu", true},
                                 {"gpu_milli", r},
                                 {"gpu_spec", false},
                                 {"qos", false},
                                 {"creation_time", t, kNoTimes},
                                 {"deletion_time", t, kNoTimes},
                                 {"scheduled_time", false}}};
  Pod pod;
  return csv::ForEachRow(path, text, format, on_bad, [&](const csv::Row& row) -> csv::RowCheck {
    pod = Pod{};
    pod.line = row.line();
    pod.name = row[kName];
    pod.qos = row[kQos];
    if (r) {
      if (auto p = csv::Empty(pod.name, "name")) {
        return p;
      }
      if (auto p = csv::GetInt(row[kCpu], "cpu_milli", 0, kMaxCpuMilli, &pod.cpu_milli)) {
        return p;
      }
      if (auto p = csv::GetInt(row[kMemory], "memory_mib", 0, kMaxMemoryMib, &pod.memory_mib)) {
        return p;
      }
    }
    if (auto p = csv::GetInt(row[kGpus], "num_gpu", 0, options.max_gpus, &pod.gpus)) {
      return p;
    }
    if (pod.gpus == 0 && options.skip_cpu_only) {
      return fn(pod);
    }
    pod.gpu_milli = 1000;
    pod.gpu_milli_text = row[kMilli];
    if (row.Has(kMilli)) {
      const std::int64_t lo = options.skip_cpu_only ? 1 : 0;
      if (auto p = csv::GetInt(pod.gpu_milli_text, "gpu_milli", lo, 1000, &pod.gpu_milli)) {
        return p;
      }
    }
    if (t) {
      if (auto p = csv::GetSeconds(row[kCreation], "creation_time", "creation time",
                                   csv::kMaxTimeSeconds, &pod.creation)) {
        return p;
      }
      pod.deletion_text = row[kDeletion];
      if (auto p = csv::GetSeconds(pod.deletion_text, "deletion_time", "deletion time",
                                   csv::kMaxTimeSeconds, &pod.deletion)) {
        return p;
      }
      pod.scheduled_text = row[kScheduled];
      if (!pod.scheduled_text.empty()) {
        if (auto p = csv::GetSeconds(pod.scheduled_text, "scheduled_time", "scheduled time",
                                     csv::kMaxTimeSeconds, &pod.scheduled)) {
          return p;
        }
        pod.has_scheduled = true;
      }
    }
    pod.gpu_spec = row[kSpec];
    if (!pod.gpu_spec.empty()) {
      csv::Split(pod.gpu_spec, '|', &pod.models);
      std::erase_if(pod.models, [](std::string_view& m) {
        m = csv::Trim(m);
        return m.empty();
      });
    }
    return fn(pod);
  });
}

}  // namespace sovgrid::traces::alibaba
