#include "server/job_json.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/json_limits.h"

namespace sovgrid::server {
namespace {

using nlohmann::json;

// How a value looks in a message: short, and never the whole document.
std::string Shown(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

class Reader {
 public:
  Reader(const json& obj, std::string path, JobProblems* problems)
      : obj_(obj), path_(std::move(path)), problems_(problems) {}

  void Report(const std::string& field, const std::string& what) {
    problems_->messages.push_back(path_ + (field.empty() ? "" : "." + field) + ": " + what);
  }

  const json* Get(const char* field, bool required = false) {
    seen_.insert(field);
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) {
      if (required) Report(field, "missing (required)");
      return nullptr;
    }
    return &*it;
  }

  void String(const char* field, std::string* out, bool required = false) {
    const json* v = Get(field, required);
    if (v == nullptr) return;
    if (!v->is_string()) return Report(field, "expected a string, found " + Shown(*v));
    *out = v->get<std::string>();
    if (required && out->empty()) Report(field, "expected a non-empty string");
  }

  template <typename T>
  void Int(const char* field, T* out, std::int64_t lo, std::int64_t hi) {
    const json* v = Get(field);
    if (v == nullptr) return;
    const std::string range = "expected an integer in " + std::to_string(lo) + ".." +
                              std::to_string(hi) + ", found " + Shown(*v);
    std::int64_t n = 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
        return Report(field, range);
      n = v->get<std::int64_t>();
    } else if (v->is_number_float() && std::isfinite(v->get<double>()) &&
               std::trunc(v->get<double>()) == v->get<double>() &&
               std::fabs(v->get<double>()) < 9e15) {
      n = static_cast<std::int64_t>(v->get<double>());
    } else {
      return Report(field, range);
    }
    if (n < lo || n > hi) return Report(field, range);
    *out = static_cast<T>(n);
  }

  void Double(const char* field, double* out, double lo, double hi) {
    const json* v = Get(field);
    if (v == nullptr) return;
    if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < lo ||
        v->get<double>() > hi) {
      return Report(field, "expected a number in " + json(lo).dump() + ".." + json(hi).dump() +
                               ", found " + Shown(*v));
    }
    *out = v->get<double>();
  }

  void Bool(const char* field, bool* out) {
    const json* v = Get(field);
    if (v == nullptr) return;
    if (!v->is_boolean()) return Report(field, "expected true or false, found " + Shown(*v));
    *out = v->get<bool>();
  }

  void StringList(const char* field, std::vector<std::string>* out) {
    const json* v = Get(field);
    if (v == nullptr) return;
    if (!v->is_array()) return Report(field, "expected an array of strings, found " + Shown(*v));
    out->clear();
    for (std::size_t i = 0; i < v->size(); ++i) {
      const json& item = (*v)[i];
      if (!item.is_string() || item.get<std::string>().empty()) {
        Report(std::string(field) + "[" + std::to_string(i) + "]",
               "expected a non-empty string, found " + Shown(item));
        continue;
      }
      out->push_back(item.get<std::string>());
    }
  }

  void DoubleMap(const char* field, std::map<std::string, double>* out) {
    const json* v = Get(field);
    if (v == nullptr) return;
    if (!v->is_object()) return Report(field, "expected an object of numbers, found " + Shown(*v));
    for (const auto& [key, item] : v->items()) {
      if (!item.is_number() || !std::isfinite(item.get<double>()) || item.get<double>() <= 0) {
        Report(std::string(field) + "." + key, "expected a positive number, found " + Shown(item));
        continue;
      }
      (*out)[key] = item.get<double>();
    }
  }

  // Fields present but never asked for.
  void RejectUnknown() {
    for (const auto& [key, value] : obj_.items()) {
      if (seen_.count(key) == 0) Report(key, "unknown field");
    }
  }

 private:
  const json& obj_;
  std::string path_;
  JobProblems* problems_;
  std::set<std::string, std::less<>> seen_;
};

}  // namespace

Status CheckJobName(std::string_view name) {
  if (name.empty()) return InvalidArgument("expected a non-empty string");
  if (name.size() > kMaxJobNameBytes)
    return InvalidArgument("longer than " + std::to_string(kMaxJobNameBytes) + " bytes");
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front())) return InvalidArgument("must start with a letter or a digit");
  for (const char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return InvalidArgument("may hold only letters, digits, '.', '_' and '-'");
  }
  return Status::Ok();
}

std::string JobKey(std::string_view tenant, std::string_view name) {
  std::string key;
  key.reserve(tenant.size() + 1 + name.size());
  key.append(tenant).append("/").append(name);
  return key;
}

std::string_view JobNameOfKey(std::string_view key) {
  const auto slash = key.rfind('/');
  return slash == std::string_view::npos ? key : key.substr(slash + 1);
}

std::string JobProblems::ToString() const {
  std::string out;
  for (const auto& m : messages) out += m + "\n";
  return out;
}

JobProblems JobFromJson(const json& value, const std::string& path, model::Job* job) {
  JobProblems problems;
  if (!value.is_object()) {
    problems.messages.push_back(path + ": expected a job object, found " + Shown(value));
    return problems;
  }
  // Durations and runtimes: at most 10 years (docs/scheduler.md, "Limits").
  constexpr std::int64_t kMaxSeconds = 315'576'000;  // 10 x 365.25 days
  Reader r(value, path, &problems);
  r.String("id", &job->id, true);
  if (!job->id.empty()) {
    if (Status s = CheckJobName(job->id); !s.ok()) r.Report("id", s.message());
  }
  r.String("tenant", &job->tenant, true);
  std::string kind;
  r.String("kind", &kind);
  if (!kind.empty()) {
    if (auto k = model::ParseJobKind(kind)) {
      job->kind = *k;
    } else {
      r.Report("kind", "expected one of train, finetune, batch, service, found \"" + kind + "\"");
    }
  }
  r.Int("accelerators", &job->accelerators, 1, 1'000'000);
  double fraction = 0;
  r.Double("fraction", &fraction, 0.001, 1.0);
  if (fraction > 0)
    job->accelerator_milli = static_cast<model::Milli>(std::lround(fraction * 1000));
  r.Int("accelerators_per_node", &job->accelerators_per_node, 0, 1024);
  r.StringList("models", &job->accepted_models);
  r.Bool("gang", &job->gang);
  r.StringList("datasets", &job->datasets);
  r.String("priority", &job->priority_class);
  r.Bool("preemptible", &job->preemptible);
  r.Int("checkpoint_s", &job->checkpoint_interval_s, 0, kMaxSeconds);
  r.Int("runtime_s", &job->runtime_estimate_s, 0, kMaxSeconds);
  r.Int("deadline", &job->deadline, 0, 4'133'980'799);  // up to 2100-12-31T23:59:59Z
  r.Int("replicas", &job->replicas, 1, 100'000);
  r.DoubleMap("latency_ms", &job->latency_slo_ms);
  r.String("command", &job->command);
  r.RejectUnknown();
  if (problems.ok() && job->fractional() && job->accelerators != 1)
    r.Report("fraction", "a fraction of an accelerator must be asked for one accelerator");
  return problems;
}

JobProblems JobFromJsonText(std::string_view text, model::Job* job) {
  auto value = ParseJsonBounded(text);
  if (!value.ok()) {
    JobProblems p;
    p.messages.push_back(value.status().message());
    return p;
  }
  return JobFromJson(*value, "$", job);
}

std::string JobToJson(const model::Job& job) {
  json j;
  j["id"] = job.id;
  j["tenant"] = job.tenant;
  j["kind"] = std::string(model::JobKindName(job.kind));
  j["accelerators"] = job.accelerators;
  if (job.fractional()) j["fraction"] = static_cast<double>(job.accelerator_milli) / 1000.0;
  j["accelerators_per_node"] = job.accelerators_per_node;
  j["models"] = job.accepted_models;
  j["gang"] = job.gang;
  j["datasets"] = job.datasets;
  j["priority"] = job.priority_class;
  j["preemptible"] = job.preemptible;
  j["checkpoint_s"] = job.checkpoint_interval_s;
  j["runtime_s"] = job.runtime_estimate_s;
  j["deadline"] = job.deadline;
  j["replicas"] = job.replicas;
  j["latency_ms"] = job.latency_slo_ms;
  j["command"] = job.command;
  return j.dump();
}

}  // namespace sovgrid::server
