#include "traces/trace_reader.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "traces/alibaba.h"
#include "traces/csv.h"

namespace sovgrid::traces {
namespace {

using csv::Empty;
using csv::GetInt;
using csv::GetSeconds;
using csv::kMaxDuration;
using csv::kMaxTimeSeconds;
using csv::Problem;
using csv::Quote;
using csv::ReadWholeFile;
using csv::Row;
using csv::RowCheck;
using csv::ToInt;

using model::Duration;
using model::Time;

// Sane ranges (docs/traces.md, "Limits"): a value outside is a bad line with
// its file:line and column, never something to simulate. They also keep every
// sum below far from int64 overflow.
//  * dates: 1970-01-01 .. 2100-12-31 (a 9999-12-31 line once asked the engine
//    for 8,000 years of hourly samples);
//  * times given in seconds (from the trace's start, or Unix): below 2100-01-01
//    (csv::kMaxTimeSeconds, shared with the Alibaba pod-list parser);
//  * durations and runtimes: at most 10 years (csv::kMaxDuration);
//  * GPUs per job: at most the scenario's accelerators (with a scenario), else 1e6.
constexpr int kMinYear = 1970;
constexpr int kMaxYear = 2100;
constexpr double kMaxSeconds = kMaxDuration;  // gavel runtimes
constexpr std::int64_t kMaxGpus = 1'000'000;
// ReadTrace's epoch must leave room for the trace's span on either side.
constexpr Time kMaxEpoch = 1'000'000'000'000'000;  // 1e15 s

// ---------------------------------------------------------------- text helpers

std::string Thousands(std::size_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) {
      out += ',';
    }
    out += digits[i];
  }
  return out;
}

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

std::string Stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }

// A GPU count >= 1.
std::optional<Problem> GetGpus(std::string_view v, std::string_view column, std::int64_t max,
                               std::int64_t* out) {
  if (auto p = Empty(v, column)) {
    return p;
  }
  const auto n = ToInt(v);
  if (!n) {
    return Problem{"expected a whole number of GPUs, found " + Quote(v), std::string(column)};
  }
  if (*n <= 0) {
    return Problem{"expected at least 1 GPU, found " + Quote(v), std::string(column)};
  }
  if (*n > max) {
    return Problem{"GPU count " + Quote(v) + " above the limit of " + std::to_string(max) +
                       (max < kMaxGpus ? " (the scenario's accelerators)" : ""),
                   std::string(column)};
  }
  *out = *n;
  return std::nullopt;
}

Time Seconds(double d) { return static_cast<Time>(std::llround(d)); }

bool IsLeap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// "YYYY-MM-DD HH:MM:SS" (or with a 'T'), read as UTC.
std::optional<Time> ParseTimestamp(std::string_view s) {
  if (s.size() != 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') ||
      s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  auto num = [&](std::size_t pos, std::size_t len) -> std::int64_t {
    std::int64_t v = 0;
    for (std::size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') {
        return -1;
      }
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  const std::int64_t y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
                     sec = num(17, 2);
  static constexpr std::int64_t kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1900 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
      sec > 60) {
    return std::nullopt;
  }
  const std::int64_t month_days = kDays[mo - 1] + (mo == 2 && IsLeap(y) ? 1 : 0);
  if (d > month_days) {
    return std::nullopt;
  }
  return model::DaysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
}

// ---------------------------------------------------------------- gavel rates

// Steps per second of each Gavel job type. The msr traces were generated as
// total_steps = floor(philly_duration * rate), with one rate per job type whatever
// the scale factor; these rates were recovered by matching the traces' jobs with
// the same Philly jobs in Pollux's philly.csv (5,352 matched jobs; see
// docs/traces.md). Dividing total_steps by them gives back the Philly duration
// to within 1 s for rates >= 1 and within 2 s below (the floor loses that much).
struct GavelRate {
  std::string_view job_type;
  double steps_per_s;
};
constexpr GavelRate kGavelRates[] = {
    {"A3C", 8.233033132},
    {"CycleGAN", 4.91849473},
    {"LM (batch size 5)", 167.1228577},
    {"LM (batch size 10)", 143.3605131},
    {"LM (batch size 20)", 107.9508716},
    {"LM (batch size 40)", 71.72303677},
    {"LM (batch size 80)", 43.90361074},
    {"Recommendation (batch size 512)", 0.3314821312},
    {"Recommendation (batch size 1024)", 0.4799798343},
    {"Recommendation (batch size 2048)", 0.5675317838},
    {"Recommendation (batch size 4096)", 0.6244084015},
    {"Recommendation (batch size 8192)", 0.602354711},
    {"ResNet-18 (batch size 16)", 77.31737356},
    {"ResNet-18 (batch size 32)", 65.80540708},
    {"ResNet-18 (batch size 64)", 48.88418051},
    {"ResNet-18 (batch size 128)", 30.28750483},
    {"ResNet-18 (batch size 256)", 16.98737108},
    {"ResNet-50 (batch size 16)", 17.3743894},
    {"ResNet-50 (batch size 32)", 9.920583253},
    {"ResNet-50 (batch size 64)", 5.457599988},
    {"ResNet-50 (batch size 128)", 2.845981144},
    {"Transformer (batch size 16)", 12.84565245},
    {"Transformer (batch size 32)", 12.47527783},
    {"Transformer (batch size 64)", 9.568023722},
    {"Transformer (batch size 128)", 5.771210832},
    {"Transformer (batch size 256)", 1.707029897},
};

// ---------------------------------------------------------------- one read

struct RawJob {
  TwinJob tj;  // submit_time and deadline still in the trace's own time
  bool has_deadline = false;
};

// The state of one ReadTrace call: options, counters, warnings, tenant and
// model mapping, and the jobs read so far.
class TraceRun {
 public:
  TraceRun(std::string_view format, const TraceOptions& options) : format_(format), opt_(options) {}

  Status Init() {
    if (opt_.epoch > kMaxEpoch || opt_.epoch < -kMaxEpoch) {
      return InvalidArgument("trace epoch " + std::to_string(opt_.epoch) + " is out of range");
    }
    const model::Scenario* s = opt_.scenario;
    if (s != nullptr) max_gpus_ = std::clamp<std::int64_t>(s->TotalAccelerators(), 1, kMaxGpus);
    if (s == nullptr) {
      fallback_tenant_ = opt_.default_tenant;
      return Status::Ok();
    }
    if (!opt_.default_tenant.empty()) {
      if (s->FindTenant(opt_.default_tenant) < 0) {
        return InvalidArgument("default tenant '" + opt_.default_tenant +
                               "' is not a tenant of scenario '" + s->name + "'");
      }
      fallback_tenant_ = opt_.default_tenant;
    } else {
      if (s->tenants.empty()) {
        return InvalidArgument("scenario '" + s->name + "' has no tenants");
      }
      fallback_tenant_ = s->tenants.front().id;
    }
    return Status::Ok();
  }

  // A bad line (csv::BadLinePolicy): a warning (skipped) or, in strict mode,
  // the error that ends the read.
  Status Bad(std::string msg) {
    if (opt_.strict) {
      return InvalidArgument(std::move(msg));
    }
    ++w_.lines_skipped;
    Warn(std::move(msg));
    return Status::Ok();
  }

  void Warn(std::string msg) {
    if (w_.warnings.size() < opt_.max_warnings) {
      w_.warnings.push_back(std::move(msg));
    }
  }

  // The policy for ForEachRow: this run's Bad().
  csv::BadLinePolicy OnBad() {
    return [this](std::string msg) { return Bad(std::move(msg)); };
  }
  // Counts the data lines of a file read with ForEachRow.
  Status Counted(const Result<std::size_t>& data_lines) {
    if (!data_lines.ok()) {
      return data_lines.status();
    }
    w_.lines_read += *data_lines;
    return Status::Ok();
  }
  // The most GPUs one job may ask for: the scenario's accelerators, if any.
  std::int64_t max_gpus() const { return max_gpus_; }
  void CountIgnored() { ++ignored_; }

  // The tenant of a job of trace group `group` ("" when the trace has none).
  const std::string& TenantFor(std::string_view group) {
    auto it = tenant_cache_.find(std::string(group));
    if (it != tenant_cache_.end()) {
      last_group_known_ = known_.at(it->first);
      return it->second;
    }
    std::string tenant;
    // Known: the group names a tenant of the scenario. Decided by the match
    // itself, not by comparing with the fallback: the fallback is often the
    // scenario's first tenant, which a trace group may well name.
    bool matched = false;
    const model::Scenario* s = opt_.scenario;
    if (s != nullptr) {
      tenant = fallback_tenant_;
      if (!group.empty()) {
        const std::string vc = "vc-" + std::string(group);
        if (s->FindTenant(vc) >= 0) {
          tenant = vc;
          matched = true;
        } else if (s->FindTenant(group) >= 0) {
          tenant = std::string(group);
          matched = true;
        }
      }
    } else if (!fallback_tenant_.empty()) {
      tenant = fallback_tenant_;
    } else {
      tenant = group.empty() ? std::string("default") : "vc-" + std::string(group);
    }
    last_group_known_ = s == nullptr || matched || group.empty();
    known_[std::string(group)] = last_group_known_;
    return tenant_cache_.emplace(std::string(group), std::move(tenant)).first->second;
  }

  // The scenario's name for an accelerator model of the trace: exact, then
  // ignoring case, then ignoring case and punctuation ("V100-M16" = "v100m16").
  // Without a scenario, the trace's name. nullopt: the scenario has no such model.
  std::optional<std::string> ModelFor(std::string_view name) {
    if (opt_.scenario == nullptr) {
      return std::string(name);
    }
    auto it = model_cache_.find(std::string(name));
    if (it != model_cache_.end()) {
      return it->second;
    }
    const auto& accs = opt_.scenario->accelerators;
    auto norm = [](std::string_view s, bool punctuation) {
      std::string out;
      for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (!punctuation && !std::isalnum(u)) {
          continue;
        }
        out += static_cast<char>(std::tolower(u));
      }
      return out;
    };
    std::optional<std::string> found;
    for (int pass = 0; pass < 3 && !found; ++pass) {
      for (const auto& a : accs) {
        const bool match = pass == 0   ? a.name == name
                           : pass == 1 ? norm(a.name, true) == norm(name, true)
                                       : norm(a.name, false) == norm(name, false);
        if (match) {
          found = a.name;
          break;
        }
      }
    }
    model_cache_.emplace(std::string(name), found);
    return found;
  }

  // `id`, or when it is taken `id-L<line>` (then a counter): ids stay unique.
  // Ids made of the file's own line numbers are unique by construction and skip the check.
  std::string UniqueId(std::string id, const std::string& file, std::size_t line,
                       bool by_line = false) {
    if (by_line || ids_.insert(id).second) {
      return id;
    }
    std::string base = id + "-L" + std::to_string(line);
    std::string candidate = base;
    for (int n = 2; !ids_.insert(candidate).second; ++n) {
      candidate = base + "-" + std::to_string(n);
    }
    Warn(file + ":" + std::to_string(line) + ": duplicate job id " + Quote(id) + ", renamed '" +
         candidate + "'");
    return candidate;
  }

  // Keeps a job unless the options leave it out (window, unknown group). Call
  // after TenantFor() for the job.
  void Add(RawJob job) {
    const Time t = job.tj.job.submit_time;
    if ((opt_.window_from != 0 && t < opt_.window_from) ||
        (opt_.window_until != 0 && t >= opt_.window_until) ||
        (opt_.drop_unknown_groups && !last_group_known_)) {
      ++filtered_;
      return;
    }
    raw_.push_back(std::move(job));
  }
  void Reserve(std::string_view text) {
    raw_.reserve(raw_.size() +
                 static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  }

  // Sorts, shifts to the epoch, cuts at max_jobs and describes the workload.
  // `ignored_noun` names the lines left out on purpose ("CPU-only pod"), `ignored_why` says
  // why; `files`: how many files were read, when more than one.
  Workload Finish(const std::string& source, std::string_view ignored_noun = "",
                  std::string_view ignored_why = "", std::size_t files = 1) {
    std::vector<std::size_t> order(raw_.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return raw_[a].tj.job.submit_time < raw_[b].tj.job.submit_time;
    });
    const Time t0 = raw_.empty() ? 0 : raw_[order.front()].tj.job.submit_time;
    const std::size_t total = raw_.size();
    const std::size_t keep = opt_.max_jobs > 0 ? std::min(opt_.max_jobs, total) : total;
    w_.jobs.reserve(keep);
    for (std::size_t i = 0; i < keep; ++i) {
      RawJob& r = raw_[order[i]];
      model::Job& job = r.tj.job;
      job.submit_time = opt_.epoch + (job.submit_time - t0);
      job.deadline = r.has_deadline ? opt_.epoch + (job.deadline - t0) : 0;
      w_.jobs.push_back(std::move(r.tj));
    }
    std::string d = format_ + " trace " + source + " (";
    if (files > 1) {
      d += std::to_string(files) + " files, ";
    }
    d += keep < total ? "first " + Thousands(keep) + " of " + Thousands(total) : Thousands(total);
    d += total == 1 ? " job" : " jobs";
    if (w_.lines_skipped > 0) {
      d += "; " + Thousands(w_.lines_skipped) +
           (w_.lines_skipped == 1 ? " bad line" : " bad lines") + " skipped";
    }
    if (filtered_ > 0) {
      d += "; " + Thousands(filtered_) + " outside the window or the scenario's groups left out";
    }
    if (ignored_ > 0) {
      d += "; " + Thousands(ignored_) + " " + std::string(ignored_noun) +
           (ignored_ == 1 ? "" : "s") + " " + std::string(ignored_why) + " left out";
    }
    d += ")";
    w_.description = std::move(d);
    return std::move(w_);
  }

 private:
  std::string format_;
  const TraceOptions& opt_;
  Workload w_;
  std::vector<RawJob> raw_;
  std::size_t ignored_ = 0;
  std::string fallback_tenant_;
  std::unordered_map<std::string, std::string> tenant_cache_;
  std::unordered_map<std::string, bool> known_;  // group -> is a tenant of the scenario
  bool last_group_known_ = true;
  std::size_t filtered_ = 0;
  std::unordered_map<std::string, std::optional<std::string>> model_cache_;
  std::unordered_set<std::string> ids_;
  std::int64_t max_gpus_ = kMaxGpus;
};

// A job with the fields every reader sets the same way.
RawJob NewJob(std::string id, const std::string& tenant, model::JobKind kind, std::int64_t gpus,
              Time submit, Duration runtime) {
  RawJob r;
  model::Job& j = r.tj.job;
  j.id = std::move(id);
  j.tenant = tenant;
  j.kind = kind;
  j.accelerators = static_cast<int>(gpus);
  j.priority_class = "normal";
  j.submit_time = submit;
  r.tj.runtime_s = std::max<Duration>(1, runtime);
  j.runtime_estimate_s = r.tj.runtime_s;  // oracle: the true runtime
  return r;
}

// ---------------------------------------------------------------- philly (Pollux philly.csv)

Status ReadPhilly(TraceRun& run, const std::string& file, std::string_view text) {
  enum { kTimestamp, kDuration, kGpus, kCluster };
  run.Reserve(text);
  const csv::TableFormat format{
      "philly", {{"timestamp", true}, {"duration", true}, {"num_gpus", true}, {"cluster", true}}};
  return run.Counted(
      csv::ForEachRow(file, text, format, run.OnBad(), [&](const Row& row) -> RowCheck {
        const std::string_view ts = row[kTimestamp];
        const auto submit = ParseTimestamp(ts);
        if (!submit) {
          return Problem{"unparsable timestamp " + Quote(ts) + ", expected YYYY-MM-DD HH:MM:SS",
                         "timestamp"};
        }
        if (*submit < model::DaysFromCivil(kMinYear, 1, 1) * 86400 ||
            *submit >= model::DaysFromCivil(kMaxYear + 1, 1, 1) * 86400) {
          return Problem{"timestamp " + Quote(ts) + " outside " + std::to_string(kMinYear) + ".." +
                             std::to_string(kMaxYear),
                         "timestamp"};
        }
        double duration = 0;
        if (auto p = GetSeconds(row[kDuration], "duration", "duration", kMaxDuration, &duration)) {
          return p;
        }
        std::int64_t gpus = 0;
        if (auto p = GetGpus(row[kGpus], "num_gpus", run.max_gpus(), &gpus)) {
          return p;
        }
        const std::string_view vc = row[kCluster];
        if (auto p = Empty(vc, "cluster")) {
          return p;
        }
        std::string id =
            run.UniqueId("philly-" + std::to_string(row.line()), file, row.line(), true);
        run.Add(NewJob(std::move(id), run.TenantFor(vc), model::JobKind::kTrain, gpus, *submit,
                       Seconds(duration)));
        return std::nullopt;
      }));
}

// ---------------------------------------------------------------- gavel (msr/seed=*/<vc>.trace)

Status ReadGavelFile(TraceRun& run, const std::string& file, std::string_view text) {
  // No header: job_type, command, working_directory, num_steps_arg, total_steps,
  // arrival_time, scale_factor, tab-separated.
  enum { kJobType, kTotalSteps = 4, kArrival, kScale };
  const std::string vc = Stem(file);
  const std::string& tenant = run.TenantFor(vc);
  run.Reserve(text);
  const csv::TableFormat format{"gavel", {}, '\t', 7};
  return run.Counted(
      csv::ForEachRow(file, text, format, run.OnBad(), [&](const Row& row) -> RowCheck {
        const std::string_view job_type = row[kJobType];
        if (auto p = Empty(job_type, "job_type")) {
          return p;
        }
        const double rate = GavelStepsPerSecond(job_type);
        if (rate <= 0) {
          return Problem{"unknown job type " + Quote(job_type) + " (no steps/s rate)", "job_type"};
        }
        std::int64_t steps = 0;
        if (auto p = GetInt(row[kTotalSteps], "total_steps", 0,
                            std::numeric_limits<std::int64_t>::max() / 2, &steps)) {
          return p;
        }
        const double runtime = (static_cast<double>(steps) + 0.5) / rate;
        if (runtime > kMaxSeconds) {
          return Problem{"total_steps " + Quote(row[kTotalSteps]) + " gives a runtime out of range",
                         "total_steps"};
        }
        double arrival = 0;
        if (auto p = GetSeconds(row[kArrival], "arrival_time", "arrival time", kMaxTimeSeconds,
                                &arrival)) {
          return p;
        }
        std::int64_t gpus = 0;
        if (auto p = GetGpus(row[kScale], "scale_factor", run.max_gpus(), &gpus)) {
          return p;
        }
        // Unique: the stems of a directory's files differ, and so do the lines of a file.
        std::string id =
            run.UniqueId("gavel-" + vc + "-" + std::to_string(row.line()), file, row.line(), true);
        run.Add(NewJob(std::move(id), tenant, model::JobKind::kTrain, gpus, Seconds(arrival),
                       Seconds(runtime)));
        return std::nullopt;
      }));
}

// ---------------------------------------------------------------- tiresias (60_job.csv)

Status ReadTiresias(TraceRun& run, const std::string& file, std::string_view text) {
  enum { kJobId, kGpus, kSubmit, kDuration };
  const csv::TableFormat format{
      "tiresias",
      {{"job_id", false}, {"num_gpu", true}, {"submit_time", true}, {"duration", true}}};
  return run.Counted(
      csv::ForEachRow(file, text, format, run.OnBad(), [&](const Row& row) -> RowCheck {
        std::int64_t gpus = 0;
        if (auto p = GetGpus(row[kGpus], "num_gpu", run.max_gpus(), &gpus)) {
          return p;
        }
        double submit = 0;
        if (auto p =
                GetSeconds(row[kSubmit], "submit_time", "submit time", kMaxTimeSeconds, &submit)) {
          return p;
        }
        double duration = 0;
        if (auto p = GetSeconds(row[kDuration], "duration", "duration", kMaxDuration, &duration)) {
          return p;
        }
        const std::string_view own = row[kJobId];
        std::string id =
            "tiresias-" + (own.empty() ? "L" + std::to_string(row.line()) : std::string(own));
        id = run.UniqueId(std::move(id), file, row.line());
        run.Add(NewJob(std::move(id), run.TenantFor(""), model::JobKind::kTrain, gpus,
                       Seconds(submit), Seconds(duration)));
        return std::nullopt;
      }));
}

// ---------------------------------------------------------------- elasticflow (philly_<vc>.csv)

Status ReadElasticFlow(TraceRun& run, const std::string& file, std::string_view text) {
  enum { kJobId, kSubmit, kGpus, kDuration, kDeadline };
  // The file name says the Philly VC: philly_103959.csv.
  const std::string stem = Stem(file);
  const std::string vc = stem.rfind("philly_", 0) == 0 ? stem.substr(7) : std::string();
  const std::string& tenant = run.TenantFor(vc);
  const csv::TableFormat format{"elasticflow",
                                {{"job_id", false},
                                 {"submit_time", true},
                                 {"num_gpu", true},
                                 {"duration", true},
                                 {"ddl", false}}};
  return run.Counted(
      csv::ForEachRow(file, text, format, run.OnBad(), [&](const Row& row) -> RowCheck {
        double submit = 0;
        if (auto p =
                GetSeconds(row[kSubmit], "submit_time", "submit time", kMaxTimeSeconds, &submit)) {
          return p;
        }
        std::int64_t gpus = 0;
        if (auto p = GetGpus(row[kGpus], "num_gpu", run.max_gpus(), &gpus)) {
          return p;
        }
        double duration = 0;
        if (auto p = GetSeconds(row[kDuration], "duration", "duration", kMaxDuration, &duration)) {
          return p;
        }
        const std::string_view ddl_text = row[kDeadline];
        double ddl = 0;
        if (!ddl_text.empty()) {
          if (auto p = GetSeconds(ddl_text, "ddl", "deadline", kMaxTimeSeconds, &ddl)) {
            return p;
          }
          if (Seconds(ddl) < Seconds(submit)) {
            return Problem{"deadline " + Quote(ddl_text) + " before the submit time", "ddl"};
          }
        }
        const std::string_view own = row[kJobId];
        std::string id =
            "elasticflow-" + (own.empty() ? "L" + std::to_string(row.line()) : std::string(own));
        id = run.UniqueId(std::move(id), file, row.line());
        RawJob job = NewJob(std::move(id), tenant, model::JobKind::kTrain, gpus, Seconds(submit),
                            Seconds(duration));
        if (!ddl_text.empty()) {
          job.tj.job.deadline = Seconds(ddl);
          job.has_deadline = true;
        }
        run.Add(std::move(job));
        return std::nullopt;
      }));
}

// ---------------------------------------------------------------- alibaba 2023
// (openb_pod_list_*.csv, read by alibaba::ForEachPod)

// Kubernetes-style QoS of the pod list -> job kind: latency-sensitive and
// guaranteed pods are services, best-effort and burstable ones batch work.
model::JobKind KindOfQos(std::string_view qos) {
  if (qos == "LS" || qos == "Guaranteed") {
    return model::JobKind::kService;
  }
  return model::JobKind::kBatch;
}

Status ReadAlibaba(TraceRun& run, const std::string& file, std::string_view text) {
  alibaba::PodListOptions options;
  options.format = "alibaba2023";
  options.times = true;
  options.max_gpus = run.max_gpus();
  options.skip_cpu_only = true;
  return run.Counted(alibaba::ForEachPod(
      file, text, options, run.OnBad(), [&](const alibaba::Pod& pod) -> RowCheck {
        if (pod.gpus == 0) {  // a CPU-only pod: not a GPU job, left out without a warning
          run.CountIgnored();
          return std::nullopt;
        }
        if (pod.gpu_milli != model::kMilliPerAccelerator && pod.gpus != 1) {
          return Problem{"a share of a GPU (" + Quote(pod.gpu_milli_text) +
                             " < 1000) with num_gpu " + std::to_string(pod.gpus) +
                             "; shares are only for num_gpu = 1",
                         "gpu_milli"};
        }
        // Runtime: from scheduling (the pod got its GPU) to deletion; a pod never
        // scheduled (Pending) keeps its lifetime from creation.
        const double start = pod.has_scheduled ? pod.scheduled : pod.creation;
        if (start < pod.creation) {
          return Problem{
              "scheduled_time " + Quote(pod.scheduled_text) + " before the creation time",
              "scheduled_time"};
        }
        if (pod.deletion < start) {
          return Problem{
              "negative duration: deletion_time " + Quote(pod.deletion_text) +
                  (pod.has_scheduled ? " before the scheduled time" : " before the creation time"),
              "deletion_time"};
        }
        if (pod.deletion - start > kMaxDuration) {
          return Problem{"runtime from " +
                             std::string(pod.has_scheduled ? "scheduled_time" : "creation_time") +
                             " to deletion_time above the limit of 10 years",
                         "deletion_time"};
        }
        // Accepted models: "A|B", names mapped to the scenario's accelerators.
        std::vector<std::string> accepted;
        std::string dropped;
        for (std::string_view m : pod.models) {
          auto mapped = run.ModelFor(m);
          if (!mapped) {
            if (!dropped.empty()) {
              dropped += ", ";
            }
            dropped += Quote(m);
            continue;
          }
          if (std::find(accepted.begin(), accepted.end(), *mapped) == accepted.end()) {
            accepted.push_back(std::move(*mapped));
          }
        }
        if (accepted.empty() && !dropped.empty()) {
          return Problem{
              "gpu_spec " + Quote(pod.gpu_spec) + " names no accelerator model of the scenario",
              "gpu_spec"};
        }
        std::string id =
            pod.name.empty() ? "alibaba-L" + std::to_string(pod.line) : std::string(pod.name);
        if (!dropped.empty()) {
          run.Warn(csv::Message(file, pod.line,
                                {"gpu_spec names models not in the scenario: " + dropped +
                                     "; the pod may use the others",
                                 "gpu_spec"}));
        }
        id = run.UniqueId(std::move(id), file, pod.line);
        RawJob job = NewJob(std::move(id), run.TenantFor(""), KindOfQos(pod.qos), pod.gpus,
                            Seconds(pod.creation), Seconds(pod.deletion) - Seconds(start));
        job.tj.job.accelerator_milli = pod.gpu_milli;
        job.tj.job.accelerators_per_node = static_cast<int>(pod.gpus);  // a pod runs on one node
        job.tj.job.accepted_models = std::move(accepted);
        run.Add(std::move(job));
        return std::nullopt;
      }));
}

// The .trace files of a Gavel directory, sorted by name.
Result<std::vector<std::string>> GavelFiles(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> files;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) {
    return IoError(dir + ": cannot list directory: " + ec.message());
  }
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return IoError(dir + ": cannot list directory: " + ec.message());
    }
    std::error_code type_ec;
    if (it->path().extension() == ".trace" && it->is_regular_file(type_ec)) {
      files.push_back(it->path().string());
    }
  }
  if (ec) {
    return IoError(dir + ": cannot list directory: " + ec.message());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    return InvalidArgument(dir + ": no .trace files in this directory");
  }
  return files;
}

}  // namespace

double GavelStepsPerSecond(std::string_view job_type) {
  for (const auto& r : kGavelRates) {
    if (r.job_type == job_type) {
      return r.steps_per_s;
    }
  }
  return 0;
}

const std::vector<std::string>& TraceFormats() {
  static const std::vector<std::string> kFormats = {"philly", "gavel", "alibaba2023", "tiresias",
                                                    "elasticflow"};
  return kFormats;
}

Result<Workload> ReadTrace(std::string_view format, const std::string& path,
                           const TraceOptions& options) {
  const auto& formats = TraceFormats();
  if (std::find(formats.begin(), formats.end(), format) == formats.end()) {
    std::string known;
    for (const auto& f : formats) {
      known += (known.empty() ? "" : ", ") + f;
    }
    return InvalidArgument("unknown trace format '" + std::string(format) + "' (known: " + known +
                           ")");
  }
  TraceRun run(format, options);
  if (Status st = run.Init(); !st.ok()) {
    return st;
  }

  std::error_code ec;
  if (format == "gavel" && std::filesystem::is_directory(path, ec)) {
    auto files = GavelFiles(path);
    if (!files.ok()) {
      return files.status();
    }
    for (const auto& file : *files) {
      auto text = ReadWholeFile(file);
      if (!text.ok()) {
        return text.status();
      }
      if (Status st = ReadGavelFile(run, file, *text); !st.ok()) {
        return st;
      }
    }
    std::string dir = path;
    while (dir.size() > 1 && dir.back() == '/') {
      dir.pop_back();
    }
    return run.Finish(FileName(dir) + "/*.trace", "", "", files->size());
  }

  auto text = ReadWholeFile(path);
  if (!text.ok()) {
    return text.status();
  }
  Status st;
  std::string_view ignored_noun, ignored_why;
  if (format == "philly") {
    st = ReadPhilly(run, path, *text);
  } else if (format == "gavel") {
    st = ReadGavelFile(run, path, *text);
  } else if (format == "tiresias") {
    st = ReadTiresias(run, path, *text);
  } else if (format == "elasticflow") {
    st = ReadElasticFlow(run, path, *text);
  } else {
    st = ReadAlibaba(run, path, *text);
    ignored_noun = "CPU-only pod";
    ignored_why = "(num_gpu = 0)";
  }
  if (!st.ok()) {
    return st;
  }
  return run.Finish(FileName(path), ignored_noun, ignored_why);
}

Result<model::Scenario> ScenarioFromAlibabaNodes(const std::string& path) {
  std::map<std::pair<std::string, int>, int> nodes;  // (model, GPUs per node) -> nodes
  std::size_t cpu_nodes = 0;
  Status read = alibaba::ForEachNode(path, {}, [&](const alibaba::Node& n) -> RowCheck {
    if (n.gpus == 0) {
      ++cpu_nodes;
      return std::nullopt;
    }
    int& count = nodes[{std::string(n.model), n.gpus}];
    if (count == std::numeric_limits<int>::max()) {
      return Problem{"too many nodes", ""};
    }
    ++count;
    return std::nullopt;
  });
  if (!read.ok()) {
    return read;
  }

  model::Scenario s;
  s.name = "alibaba2023-" + Stem(path);
  s.epoch = 0;
  model::Site site;
  site.id = "openb";
  site.name = "Alibaba PAI GPU cluster (cluster-trace-gpu-v2023 openb)";
  site.operator_name = "Alibaba";
  site.region = "cn";
  site.jurisdiction = "CN";
  site.tier = 1;
  site.latency_ms["cn"] = 1.0;
  s.sites.push_back(site);
  std::int64_t total_gpus = 0;
  std::int64_t total_nodes = 0;
  for (const auto& [key, count] : nodes) {
    const auto& [model_name, per_node] = key;
    if (s.FindAccelerator(model_name) < 0) {
      model::AcceleratorModel a;
      a.name = model_name;
      a.vendor = "unknown";
      a.quota_class = "gpu";
      s.accelerators.push_back(a);
    }
    model::Pool p;
    p.id = model_name + "-" + std::to_string(per_node) + "gpu";
    p.site = site.id;
    p.accelerator = model_name;
    p.accelerators_per_node = per_node;
    p.nodes = count;
    p.domain_size = per_node;  // one node is one interconnect domain
    p.racks = 1;
    s.pools.push_back(p);
    total_gpus += static_cast<std::int64_t>(per_node) * count;
    total_nodes += count;
  }
  model::Tenant t;
  t.id = "alibaba";
  t.name = "Alibaba PAI";
  s.tenants.push_back(t);
  s.priority_classes = {{"low", 0}, {"normal", 100}, {"high", 200}, {"critical", 300}};
  s.description = "Alibaba GPU cluster from " + FileName(path) + ": " +
                  Thousands(static_cast<std::size_t>(total_nodes)) + " GPU nodes, " +
                  Thousands(static_cast<std::size_t>(total_gpus)) + " GPUs in " +
                  std::to_string(s.pools.size()) + " pools" +
                  (cpu_nodes > 0 ? "; " + Thousands(cpu_nodes) + " CPU-only nodes left out" : "");
  if (Status st = s.Resolve(); !st.ok()) {
    return st;
  }
  return s;
}

}  // namespace sovgrid::traces
