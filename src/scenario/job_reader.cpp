#include "scenario/job_reader.h"

#include <optional>

#include "model/job_schema.h"

namespace sovgrid::scenario {
namespace {

// The value of `f` if present, of its type and within its bounds; the
// TableReader reports anything else in TOML's words.
std::optional<model::JobFieldValue> ReadValue(TableReader& r, const model::JobField& f) {
  using T = model::JobFieldType;
  const Presence p = f.required ? Presence::kRequired : Presence::kOptional;
  switch (f.type) {
    case T::kString: {
      std::string v;
      if (r.String(f.name, &v, p)) return v;
      break;
    }
    case T::kInteger: {
      std::int64_t v = 0;
      if (r.Int(f.name, &v, f.min_int, f.max_int, p)) return v;
      break;
    }
    case T::kNumber: {
      double v = 0;
      if (r.Double(f.name, &v, f.min_number, f.max_number, p)) return v;
      break;
    }
    case T::kBoolean: {
      bool v = false;
      if (r.Bool(f.name, &v, p)) return v;
      break;
    }
    case T::kStringList: {
      std::vector<std::string> v;
      if (r.StringList(f.name, &v, p)) return v;
      break;
    }
    case T::kTime: {
      // TableReader::Time's bounds are the schema's (model::kMinTime..kMaxTime).
      std::int64_t v = 0;
      if (r.Time(f.name, &v, p)) return v;
      break;
    }
    case T::kNumberMap: {
      std::map<std::string, double> v;
      if (r.DoubleMap(f.name, &v)) return v;
      break;
    }
  }
  return std::nullopt;
}

}  // namespace

void ReadJob(TableReader& r, model::Job* job) {
  const std::size_t before = r.sink().diagnostics().size();
  for (const model::JobField& f : model::JobFields()) {
    if (!f.in(model::kJobToml)) continue;
    if (auto v = ReadValue(r, f)) {
      for (auto& p : f.apply(*v, job)) r.Report(p.field, p.sub, std::move(p.message));
    }
  }
  r.Finish();
  if (r.sink().diagnostics().size() != before) return;
  for (auto& p : model::CheckJobRules(*job)) r.Report(p.field, p.sub, std::move(p.message));
}

}  // namespace sovgrid::scenario
