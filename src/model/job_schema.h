// The one job schema: every field a job file (TOML) or the API (JSON) may
// give a job, with its name, type, bounds, rules, documentation and where it
// goes in a model::Job.
//
// The TOML reader (scenario/job_reader.cpp) and the JSON reader and writer
// (server/job_json.cpp) are loops over JobFields(): they check a value's type
// and bounds in their format's words, then hand it to JobField::apply, which
// applies the field's own rules and stores it. Rules between fields
// (CheckJobRules) run after the fields. The OpenAPI JobSpec
// (src/server/openapi.json) and the tables in docs/scenario.md and docs/api.md
// are checked against this table by tests/model/job_schema_test.cpp; on a
// difference the test prints the expected JobSpec (server::JobSpecOpenApi())
// and Markdown table (JobFieldsMarkdown()) to paste.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"

namespace sovgrid::model {

// Job names: the "id" a tenant gives a job, unique within its tenant only.
// 1..kMaxJobNameBytes of [A-Za-z0-9._-], starting with a letter or digit:
// safe in a URL path segment, a file name and a terminal.
inline constexpr std::size_t kMaxJobNameBytes = 128;
// OK, or InvalidArgument saying what is wrong (without a field path).
Status CheckJobName(std::string_view name);

// Software stack names (Job::stack, AcceleratorModel::stacks): 1..kMaxStackNameBytes
// of [a-z0-9._-], starting with a letter or digit ("cuda", "rocm", "rbln-sdk").
inline constexpr std::size_t kMaxStackNameBytes = 32;
// OK, or InvalidArgument saying what is wrong (without a field path).
Status CheckStackName(std::string_view name);

// Times a file or request may give: 1970-01-01 .. 2100-12-31T23:59:59Z. A
// farther date is a typo or an attack (a job at 9999-12-31 once made the twin
// plan 8,000 years).
inline constexpr Time kMinTime = 0;
inline constexpr Time kMaxTime = 4'133'980'799;
// "expected a time from 1970-01-01 to 2100-12-31 (Unix seconds 0..4133980799), found T s"
std::string TimeOutOfRangeMessage(std::int64_t t);
std::string TimeOutOfRangeMessage(std::string_view found);  // "found FOUND s"
// An RFC 3339 date-time with offset ("2027-01-04T09:00:00+09:00", "...Z"; 't' or
// ' ' for 'T' and 'z' for 'Z' too) as Unix seconds; fractional seconds are
// dropped. nullopt for anything else (no offset, a bad date, trailing text).
std::optional<Time> ParseRfc3339(std::string_view text);

// Durations (runtime_s, checkpoint_s): at most 10 years (10 x 365.25 days).
inline constexpr Duration kMaxJobSeconds = 315'576'000;

enum class JobFieldType : std::uint8_t {
  kString,
  kInteger,
  kNumber,  // integer or floating point, finite
  kBoolean,
  kStringList,  // array of strings
  kTime,        // Unix seconds, or an RFC 3339 date-time with offset
  kNumberMap,   // name -> number
};
// As the docs write it: "string", "integer", "number", "boolean", "string list", "time", "number
// map".
std::string_view JobFieldTypeName(JobFieldType t);

// The formats a field exists in.
enum JobFormat : unsigned { kJobToml = 1U, kJobJson = 2U };

// A value of the field's type, as a format reader hands it over: kString ->
// string, kInteger and kTime -> int64, kNumber -> double, kBoolean -> bool,
// kStringList -> vector, kNumberMap -> map.
using JobFieldValue = std::variant<std::string, std::int64_t, double, bool,
                                   std::vector<std::string>, std::map<std::string, double>>;

// A problem with a field. `field` is a field name of the table; `sub` is empty
// or locates a part of it ("[1]" in a list, ".seoul" in a map).
struct JobProblem {
  std::string field;
  std::string sub;
  std::string message;
};

struct JobField {
  std::string_view name{};
  JobFieldType type = JobFieldType::kString;
  bool required = false;
  unsigned formats = kJobToml | kJobJson;
  // Inclusive bounds of kInteger and kTime values, and of kNumber values.
  std::int64_t min_int = 0;
  std::int64_t max_int = 0;
  double min_number = 0;
  double max_number = 0;
  // The only values a kString may take (kind); empty: any.
  std::vector<std::string_view> choices{};
  // For the OpenAPI document: a regular expression the string matches (id).
  std::string_view pattern{};
  // Documentation: the default when absent, the rule beyond type and bounds,
  // what the field means.
  std::string_view default_doc{};
  std::string_view rule_doc{};
  std::string_view doc{};
  // Applies the field's own rules to a value the reader found of the right
  // type and within the bounds, and stores it in `job` when it passes.
  std::vector<JobProblem> (*apply)(const JobFieldValue& value, Job* job) = nullptr;
  // The job's value as written (JSON); nullopt: not written (fraction of a
  // whole-accelerator job).
  std::optional<JobFieldValue> (*get)(const Job& job) = nullptr;

  bool in(JobFormat f) const { return (formats & f) != 0U; }
};

// Every job field, in the order readers read them and problems are reported.
std::span<const JobField> JobFields();
const JobField* FindJobField(std::string_view name);

// Rules between fields, for a job whose fields all passed: a fraction of an
// accelerator is asked for one accelerator; a service holds no QPUs.
std::vector<JobProblem> CheckJobRules(const Job& job);

// The Markdown table of the job fields (docs/scenario.md holds it verbatim
// between "<!-- job-fields -->" markers; a test checks).
std::string JobFieldsMarkdown();

}  // namespace sovgrid::model
