#include "model/job_schema.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace sovgrid::model {
namespace {

using T = JobFieldType;
using Problems = std::vector<JobProblem>;

// The value of a field whose reader checked the type.
template <typename V>
const V& As(const JobFieldValue& v) {
  return std::get<V>(v);
}

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

Problems NonEmptyItems(std::string_view field, const std::vector<std::string>& items) {
  Problems out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty())
      out.push_back({std::string(field), "[" + std::to_string(i) + "]",
                     "expected a non-empty string, found \"\""});
  }
  return out;
}

std::vector<std::string_view> KindNames() {
  std::vector<std::string_view> out;
  for (JobKind k : {JobKind::kTrain, JobKind::kFinetune, JobKind::kBatch, JobKind::kService})
    out.push_back(JobKindName(k));
  return out;
}

std::vector<JobField> MakeFields() {
  std::vector<JobField> f;
  {
    JobField id{.name = "id", .type = T::kString, .required = true};
    id.pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$";
    id.default_doc = "required";
    id.rule_doc = "1–128 of `A–Z a–z 0–9 . _ -`, starting with a letter or digit";
    id.doc = "the job's name, unique within its tenant";
    id.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      if (Status s = CheckJobName(As<std::string>(v)); !s.ok()) return {{"id", "", s.message()}};
      job->id = As<std::string>(v);
      return {};
    };
    id.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.id; };
    f.push_back(std::move(id));
  }
  {
    JobField tenant{.name = "tenant", .type = T::kString, .required = true};
    tenant.default_doc = "required";
    tenant.rule_doc = "non-empty; a tenant of the scenario";
    tenant.doc = "the tenant that runs the job (usually a project)";
    tenant.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->tenant = As<std::string>(v);
      return {};
    };
    tenant.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.tenant; };
    f.push_back(std::move(tenant));
  }
  {
    JobField kind{.name = "kind", .type = T::kString};
    kind.choices = KindNames();
    kind.default_doc = "`batch`";
    kind.rule_doc = "`train`, `finetune`, `batch` or `service`";
    kind.doc =
        "workload class for throughput: train and finetune = LLM training, batch = vision "
        "training, service = inference";
    kind.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      const auto k = ParseJobKind(As<std::string>(v));
      if (!k)
        return {{"kind", "",
                 "expected one of train, finetune, batch, service, found " +
                     Quoted(As<std::string>(v))}};
      job->kind = *k;
      return {};
    };
    kind.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::string(JobKindName(job.kind));
    };
    f.push_back(std::move(kind));
  }
  {
    JobField acc{.name = "accelerators", .type = T::kInteger, .min_int = 1, .max_int = 1'000'000};
    acc.default_doc = "`1`";
    acc.doc = "whole accelerators";
    acc.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->accelerators = static_cast<int>(As<std::int64_t>(v));
      return {};
    };
    acc.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.accelerators};
    };
    f.push_back(std::move(acc));
  }
  {
    JobField fr{.name = "fraction", .type = T::kNumber, .min_number = 0.001, .max_number = 1.0};
    fr.default_doc = "`1`";
    fr.rule_doc = "only with `accelerators` = 1; kept in thousandths";
    fr.doc = "a share of one accelerator (an inference service on half a GPU: 0.5)";
    fr.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->accelerator_milli = static_cast<Milli>(std::lround(As<double>(v) * 1000.0));
      return {};
    };
    fr.get = [](const Job& job) -> std::optional<JobFieldValue> {
      if (!job.fractional()) return std::nullopt;
      return static_cast<double>(job.accelerator_milli) / 1000.0;
    };
    f.push_back(std::move(fr));
  }
  {
    JobField apn{
        .name = "accelerators_per_node", .type = T::kInteger, .min_int = 0, .max_int = 1024};
    apn.default_doc = "`0`";
    apn.rule_doc = "divides `accelerators` (checked by the scheduler)";
    apn.doc = "per-node shape; 0 = the scheduler chooses";
    apn.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->accelerators_per_node = static_cast<int>(As<std::int64_t>(v));
      return {};
    };
    apn.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.accelerators_per_node};
    };
    f.push_back(std::move(apn));
  }
  {
    JobField models{.name = "models", .type = T::kStringList};
    models.default_doc = "`[]` (any)";
    models.rule_doc = "non-empty strings";
    models.doc = "accepted accelerator models";
    models.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      const auto& items = As<std::vector<std::string>>(v);
      Problems p = NonEmptyItems("models", items);
      if (p.empty()) job->accepted_models = items;
      return p;
    };
    models.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.accepted_models; };
    f.push_back(std::move(models));
  }
  {
    JobField stack{.name = "stack", .type = T::kString};
    stack.pattern = "^[a-z0-9][a-z0-9._-]{0,31}$";
    stack.default_doc = "`cuda`";
    stack.rule_doc = "1–32 of `a–z 0–9 . _ -`, starting with a letter or digit";
    stack.doc =
        "software stack the job is built for (`cuda`, `rocm`, `rbln-sdk`, `furiosa-sdk`...): it "
        "runs only on accelerator models that declare it";
    stack.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      if (Status s = CheckStackName(As<std::string>(v)); !s.ok())
        return {{"stack", "", s.message() + ", found " + Quoted(As<std::string>(v))}};
      job->stack = As<std::string>(v);
      return {};
    };
    stack.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.stack; };
    f.push_back(std::move(stack));
  }
  {
    JobField qpus{.name = "qpus", .type = T::kInteger, .min_int = 0, .max_int = 1024};
    qpus.default_doc = "`0`";
    qpus.rule_doc = "not for a `service`";
    qpus.doc =
        "quantum-GPU hybrid: QPUs (catalogue `kind = \"qpu\"`) held at the site of its "
        "accelerators for its whole run, all or nothing with them";
    qpus.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->qpus = static_cast<int>(As<std::int64_t>(v));
      return {};
    };
    qpus.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.qpus};
    };
    f.push_back(std::move(qpus));
  }
  {
    JobField gang{.name = "gang", .type = T::kBoolean};
    gang.default_doc = "`true`";
    gang.doc = "all-or-nothing across nodes";
    gang.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->gang = As<bool>(v);
      return {};
    };
    gang.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.gang; };
    f.push_back(std::move(gang));
  }
  {
    JobField ds{.name = "datasets", .type = T::kStringList};
    ds.default_doc = "`[]`";
    ds.rule_doc = "non-empty strings; datasets of the scenario";
    ds.doc = "datasets touched: their residency rules apply and the tenant must be allowed them";
    ds.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      const auto& items = As<std::vector<std::string>>(v);
      Problems p = NonEmptyItems("datasets", items);
      if (p.empty()) job->datasets = items;
      return p;
    };
    ds.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.datasets; };
    f.push_back(std::move(ds));
  }
  {
    JobField pr{.name = "priority", .type = T::kString};
    pr.default_doc = "`normal`";
    pr.rule_doc = "a priority class of the scenario";
    pr.doc = "priority class";
    pr.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->priority_class = As<std::string>(v);
      return {};
    };
    pr.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.priority_class; };
    f.push_back(std::move(pr));
  }
  {
    JobField pe{.name = "preemptible", .type = T::kBoolean};
    pe.default_doc = "`true`";
    pe.doc = "may be preempted";
    pe.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->preemptible = As<bool>(v);
      return {};
    };
    pe.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.preemptible; };
    f.push_back(std::move(pe));
  }
  {
    JobField cp{
        .name = "checkpoint_s", .type = T::kInteger, .min_int = 0, .max_int = kMaxJobSeconds};
    cp.default_doc = "`0`";
    cp.rule_doc = "seconds, at most 10 years";
    cp.doc = "checkpoint interval; 0 = preemption loses all work";
    cp.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->checkpoint_interval_s = As<std::int64_t>(v);
      return {};
    };
    cp.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.checkpoint_interval_s};
    };
    f.push_back(std::move(cp));
  }
  {
    JobField rt{.name = "runtime_s", .type = T::kInteger, .min_int = 0, .max_int = kMaxJobSeconds};
    rt.default_doc = "`0` (unknown)";
    rt.rule_doc = "seconds, at most 10 years";
    rt.doc =
        "runtime estimate, used by sjf/srtf and backfill; how long the twin backend runs the job";
    rt.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->runtime_estimate_s = As<std::int64_t>(v);
      return {};
    };
    rt.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.runtime_estimate_s};
    };
    f.push_back(std::move(rt));
  }
  {
    JobField dl{.name = "deadline", .type = T::kTime, .min_int = kMinTime, .max_int = kMaxTime};
    dl.default_doc = "`0` (none)";
    dl.rule_doc = "1970-01-01 .. 2100-12-31";
    dl.doc = "for edf";
    dl.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->deadline = As<std::int64_t>(v);
      return {};
    };
    dl.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.deadline};
    };
    f.push_back(std::move(dl));
  }
  {
    // The API stamps a job with the time it accepted it; a client cannot
    // backdate its place in the queue, so JSON has no "submit".
    JobField sub{.name = "submit",
                 .type = T::kTime,
                 .formats = kJobToml,
                 .min_int = kMinTime,
                 .max_int = kMaxTime};
    sub.default_doc = "the cycle time";
    sub.rule_doc = "1970-01-01 .. 2100-12-31; job files only";
    sub.doc = "submission time (the API uses the time it accepts the job)";
    sub.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->submit_time = As<std::int64_t>(v);
      return {};
    };
    sub.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.submit_time};
    };
    f.push_back(std::move(sub));
  }
  {
    JobField rep{.name = "replicas", .type = T::kInteger, .min_int = 1, .max_int = 100'000};
    rep.default_doc = "`1`";
    rep.doc = "services: replicas";
    rep.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->replicas = static_cast<int>(As<std::int64_t>(v));
      return {};
    };
    rep.get = [](const Job& job) -> std::optional<JobFieldValue> {
      return std::int64_t{job.replicas};
    };
    f.push_back(std::move(rep));
  }
  {
    JobField lat{.name = "latency_ms", .type = T::kNumberMap};
    lat.default_doc = "none";
    lat.rule_doc = "values > 0";
    lat.doc = "services: latency objective in ms per region";
    lat.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      Problems p;
      for (const auto& [region, ms] : As<std::map<std::string, double>>(v)) {
        if (!(ms > 0)) {
          char shown[32];
          std::snprintf(shown, sizeof shown, "%g", ms);
          p.push_back({"latency_ms", "." + region,
                       std::string("expected a positive number, found ") + shown});
        }
      }
      if (p.empty()) job->latency_slo_ms = As<std::map<std::string, double>>(v);
      return p;
    };
    lat.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.latency_slo_ms; };
    f.push_back(std::move(lat));
  }
  {
    JobField cmd{.name = "command", .type = T::kString};
    cmd.default_doc = "`\"\"`";
    cmd.rule_doc = "required by the local and slurm backends";
    cmd.doc = "what the local and slurm backends run: a shell command line";
    cmd.apply = [](const JobFieldValue& v, Job* job) -> Problems {
      job->command = As<std::string>(v);
      return {};
    };
    cmd.get = [](const Job& job) -> std::optional<JobFieldValue> { return job.command; };
    f.push_back(std::move(cmd));
  }
  return f;
}

bool Digits(std::string_view s, std::size_t at, std::size_t n, int* out) {
  if (at + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

std::string FormatBound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

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

Status CheckStackName(std::string_view name) {
  if (name.empty()) return InvalidArgument("expected a non-empty stack name");
  if (name.size() > kMaxStackNameBytes)
    return InvalidArgument("longer than " + std::to_string(kMaxStackNameBytes) + " bytes");
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_alnum(name.front()))
    return InvalidArgument("must start with a lower-case letter or a digit");
  for (const char c : name) {
    if (!lower_alnum(c) && c != '.' && c != '_' && c != '-')
      return InvalidArgument("may hold only lower-case letters, digits, '.', '_' and '-'");
  }
  return Status::Ok();
}

std::string TimeOutOfRangeMessage(std::string_view found) {
  return "expected a time from 1970-01-01 to 2100-12-31 (Unix seconds 0.." +
         std::to_string(kMaxTime) + "), found " + std::string(found) + " s";
}

std::string TimeOutOfRangeMessage(std::int64_t t) {
  return TimeOutOfRangeMessage(std::to_string(t));
}

std::optional<Time> ParseRfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!Digits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' || !Digits(s, 5, 2, &month) ||
      s[7] != '-' || !Digits(s, 8, 2, &day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !Digits(s, 11, 2, &hour) || s[13] != ':' || !Digits(s, 14, 2, &minute) || s[16] != ':' ||
      !Digits(s, 17, 2, &second))
    return std::nullopt;
  std::size_t at = 19;
  if (at < s.size() && s[at] == '.') {
    ++at;
    const std::size_t digits_from = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') ++at;
    if (at == digits_from) return std::nullopt;
  }
  if (at >= s.size()) return std::nullopt;  // no offset: a local time
  int offset_minutes = 0;
  if (s[at] == 'Z' || s[at] == 'z') {
    ++at;
  } else if (s[at] == '+' || s[at] == '-') {
    int oh = 0, om = 0;
    if (!Digits(s, at + 1, 2, &oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !Digits(s, at + 4, 2, &om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_minutes = (oh * 60 + om) * (s[at] == '-' ? -1 : 1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  static constexpr int kDaysIn[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDaysIn[month - 1] ||
      (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  return DaysFromCivil(year, month, day) * 86400 + std::int64_t{hour} * 3600 +
         std::int64_t{minute} * 60 + second - std::int64_t{offset_minutes} * 60;
}

std::string_view JobFieldTypeName(JobFieldType t) {
  switch (t) {
    case T::kString:
      return "string";
    case T::kInteger:
      return "integer";
    case T::kNumber:
      return "number";
    case T::kBoolean:
      return "boolean";
    case T::kStringList:
      return "string list";
    case T::kTime:
      return "time";
    case T::kNumberMap:
      return "number map";
  }
  return "?";
}

std::span<const JobField> JobFields() {
  static const std::vector<JobField> fields = MakeFields();
  return fields;
}

const JobField* FindJobField(std::string_view name) {
  for (const JobField& f : JobFields()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<JobProblem> CheckJobRules(const Job& job) {
  std::vector<JobProblem> out;
  if (job.fractional() && job.accelerators != 1)
    out.push_back(
        {"fraction", "", "a fraction of an accelerator must be asked for one accelerator"});
  if (job.qpus > 0 && job.kind == JobKind::kService)
    out.push_back({"qpus", "", "a service cannot hold QPUs (a hybrid job is a batch of work)"});
  return out;
}

std::string JobFieldsMarkdown() {
  std::string out =
      "| key | type | required / default | valid | formats | meaning |\n"
      "|---|---|---|---|---|---|\n";
  for (const JobField& f : JobFields()) {
    std::string valid;
    if (f.type == T::kInteger)
      valid = "[" + std::to_string(f.min_int) + ", " + std::to_string(f.max_int) + "]";
    if (f.type == T::kNumber)
      valid = "[" + FormatBound(f.min_number) + ", " + FormatBound(f.max_number) + "]";
    if (!f.rule_doc.empty()) valid += (valid.empty() ? "" : "; ") + std::string(f.rule_doc);
    const std::string formats = f.formats == (kJobToml | kJobJson) ? "both"
                                : f.in(kJobToml)                   ? "TOML"
                                                                   : "JSON";
    out += "| `" + std::string(f.name) + "` | " + std::string(JobFieldTypeName(f.type)) + " | " +
           std::string(f.default_doc) + " | " + valid + " | " + formats + " | " +
           std::string(f.doc) + " |\n";
  }
  return out;
}

}  // namespace sovgrid::model
