#include "scenario/toml_reader.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <cmath>

#include "model/job_schema.h"
#include "model/scenario.h"

namespace sovgrid::scenario {

std::string Diagnostic::ToString() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line);
    if (column > 0) out += ':' + std::to_string(column);
  }
  out += ": ";
  if (!field.empty()) out += field + ": ";
  out += message;
  return out;
}

std::string JoinDiagnostics(const std::vector<Diagnostic>& diagnostics) {
  std::string out;
  for (const auto& d : diagnostics) {
    if (!out.empty()) out += '\n';
    out += d.ToString();
  }
  return out;
}

void DiagnosticSink::Report(const toml::node* at, std::string field, std::string message) {
  Diagnostic d{file_, 0, 0, std::move(field), std::move(message)};
  if (at != nullptr) {
    d.line = static_cast<int>(at->source().begin.line);
    d.column = static_cast<int>(at->source().begin.column);
  }
  diagnostics_.push_back(std::move(d));
}

void DiagnosticSink::ReportAtLine(int line, std::string field, std::string message) {
  diagnostics_.push_back(Diagnostic{file_, line, 0, std::move(field), std::move(message)});
}

namespace {
std::string_view TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}
}  // namespace

TableReader::TableReader(DiagnosticSink& sink, const toml::table& table, std::string path)
    : sink_(sink), table_(table), path_(std::move(path)) {}

int TableReader::line() const { return static_cast<int>(table_.source().begin.line); }

std::string TableReader::Field(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

void TableReader::Report(std::string_view key, std::string message) {
  const toml::node* n = table_.get(key);
  if (n != nullptr) {
    sink_.Report(n, Field(key), std::move(message));
  } else {
    sink_.ReportAtLine(line(), Field(key), std::move(message));
  }
}

void TableReader::Report(std::string_view key, std::string_view sub, std::string message) {
  const toml::node* n = table_.get(key);
  if (n != nullptr) {
    sink_.Report(n, Field(key) + std::string(sub), std::move(message));
  } else {
    sink_.ReportAtLine(line(), Field(key) + std::string(sub), std::move(message));
  }
}

bool TableReader::Has(std::string_view key) const { return table_.get(key) != nullptr; }

const toml::node* TableReader::Get(std::string_view key, Presence p) {
  seen_.emplace(key);
  const toml::node* n = table_.get(key);
  if (n == nullptr && p == Presence::kRequired) {
    sink_.ReportAtLine(line(), Field(key), "missing required field");
  }
  return n;
}

bool TableReader::String(std::string_view key, std::string* out, Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  if (const auto* s = n->as_string()) {
    if (p == Presence::kRequired && s->get().empty()) {
      sink_.Report(n, Field(key), "expected a non-empty string");
      return false;
    }
    *out = s->get();
    return true;
  }
  sink_.Report(n, Field(key), "expected a string, found " + std::string(TypeName(*n)));
  return false;
}

bool TableReader::Int(std::string_view key, std::int64_t* out, std::int64_t min, std::int64_t max,
                      Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  const auto* i = n->as_integer();
  if (i == nullptr) {
    sink_.Report(n, Field(key), "expected an integer, found " + std::string(TypeName(*n)));
    return false;
  }
  const std::int64_t v = i->get();
  if (v < min || v > max) {
    sink_.Report(n, Field(key),
                 "expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                     "], found " + std::to_string(v));
    return false;
  }
  *out = v;
  return true;
}

bool TableReader::Int(std::string_view key, int* out, int min, int max, Presence p) {
  std::int64_t v = 0;
  if (!Int(key, &v, min, max, p)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool TableReader::Double(std::string_view key, double* out, double min, double max, Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  double v = 0;
  if (const auto* f = n->as_floating_point()) {
    v = f->get();
  } else if (const auto* i = n->as_integer()) {
    v = static_cast<double>(i->get());
  } else {
    sink_.Report(n, Field(key), "expected a number, found " + std::string(TypeName(*n)));
    return false;
  }
  if (!std::isfinite(v) || v < min || v > max) {
    sink_.Report(n, Field(key),
                 fmt::format("expected a number in [{:g}, {:g}], found {:g}", min, max, v));
    return false;
  }
  *out = v;
  return true;
}

bool TableReader::Bool(std::string_view key, bool* out, Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  if (const auto* b = n->as_boolean()) {
    *out = b->get();
    return true;
  }
  sink_.Report(n, Field(key), "expected true or false, found " + std::string(TypeName(*n)));
  return false;
}

bool TableReader::StringList(std::string_view key, std::vector<std::string>* out, Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    sink_.Report(n, Field(key), "expected an array of strings, found " + std::string(TypeName(*n)));
    return false;
  }
  std::vector<std::string> values;
  bool ok = true;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    if (const auto* s = e.as_string()) {
      values.push_back(s->get());
    } else {
      sink_.Report(&e, Field(key) + "[" + std::to_string(i) + "]",
                   "expected a string, found " + std::string(TypeName(e)));
      ok = false;
    }
  }
  if (ok) *out = std::move(values);
  return ok;
}

bool TableReader::DoubleList(std::string_view key, std::vector<double>* out, double min, double max,
                             Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    sink_.Report(n, Field(key), "expected an array of numbers, found " + std::string(TypeName(*n)));
    return false;
  }
  std::vector<double> values;
  bool ok = true;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    const std::string field = Field(key) + "[" + std::to_string(i) + "]";
    double v = 0;
    if (const auto* f = e.as_floating_point()) {
      v = f->get();
    } else if (const auto* k = e.as_integer()) {
      v = static_cast<double>(k->get());
    } else {
      sink_.Report(&e, field, "expected a number, found " + std::string(TypeName(e)));
      ok = false;
      continue;
    }
    if (!std::isfinite(v) || v < min || v > max) {
      sink_.Report(&e, field,
                   fmt::format("expected a number in [{:g}, {:g}], found {:g}", min, max, v));
      ok = false;
      continue;
    }
    values.push_back(v);
  }
  if (ok) *out = std::move(values);
  return ok;
}

bool TableReader::Time(std::string_view key, std::int64_t* out, Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  // Times within 1970-01-01 .. 2100-12-31 (model/job_schema.h).
  auto in_range = [&](std::int64_t v) {
    if (v >= model::kMinTime && v <= model::kMaxTime) return true;
    sink_.Report(n, Field(key), model::TimeOutOfRangeMessage(v));
    return false;
  };
  if (const auto* i = n->as_integer()) {
    if (!in_range(i->get())) return false;
    *out = i->get();
    return true;
  }
  const auto* dt = n->as_date_time();
  if (dt == nullptr || !dt->get().offset.has_value()) {
    sink_.Report(n, Field(key),
                 "expected a date-time with offset such as 2027-01-04T00:00:00Z, found " +
                     std::string(TypeName(*n)));
    return false;
  }
  const toml::date_time& v = dt->get();
  const std::int64_t days = model::DaysFromCivil(v.date.year, v.date.month, v.date.day);
  const std::int64_t t = days * 86400 + std::int64_t{v.time.hour} * 3600 +
                         std::int64_t{v.time.minute} * 60 + v.time.second -
                         static_cast<std::int64_t>(v.offset->minutes) * 60;
  if (!in_range(t)) return false;
  *out = t;
  return true;
}

bool TableReader::IntMap(std::string_view key, std::map<std::string, std::int64_t>* out) {
  const toml::node* n = Get(key, Presence::kOptional);
  if (n == nullptr) return false;
  const auto* t = n->as_table();
  if (t == nullptr) {
    sink_.Report(
        n, Field(key),
        "expected a table such as { blackwell = 512 }, found " + std::string(TypeName(*n)));
    return false;
  }
  bool ok = true;
  std::map<std::string, std::int64_t> values;
  for (const auto& [k, v] : *t) {
    const auto* i = v.as_integer();
    // The cap keeps sums of guarantees far from overflow.
    constexpr std::int64_t kMaxAmount = 1'000'000'000;
    if (i == nullptr || i->get() < 0 || i->get() > kMaxAmount) {
      sink_.Report(&v, Field(key) + "." + std::string(k.str()),
                   "expected an integer in [0, 1000000000], found " +
                       (i == nullptr ? std::string(TypeName(v)) : std::to_string(i->get())));
      ok = false;
      continue;
    }
    values[std::string(k.str())] = i->get();
  }
  if (ok) *out = std::move(values);
  return ok;
}

bool TableReader::DoubleMap(std::string_view key, std::map<std::string, double>* out) {
  const toml::node* n = Get(key, Presence::kOptional);
  if (n == nullptr) return false;
  const auto* t = n->as_table();
  if (t == nullptr) {
    sink_.Report(n, Field(key),
                 "expected a table such as { seoul = 3.5 }, found " + std::string(TypeName(*n)));
    return false;
  }
  bool ok = true;
  std::map<std::string, double> values;
  for (const auto& [k, v] : *t) {
    std::optional<double> d = v.value<double>();
    if (!d.has_value() || !std::isfinite(*d) || *d < 0) {
      sink_.Report(&v, Field(key) + "." + std::string(k.str()),
                   "expected a non-negative number, found " +
                       (d.has_value() ? fmt::format("{:g}", *d) : std::string(TypeName(v))));
      ok = false;
      continue;
    }
    values[std::string(k.str())] = *d;
  }
  if (ok) *out = std::move(values);
  return ok;
}

bool TableReader::Table(std::string_view key, const std::function<void(TableReader&)>& fn,
                        Presence p) {
  const toml::node* n = Get(key, p);
  if (n == nullptr) return false;
  const auto* t = n->as_table();
  if (t == nullptr) {
    sink_.Report(n, Field(key), "expected a table, found " + std::string(TypeName(*n)));
    return false;
  }
  TableReader sub(sink_, *t, Field(key));
  fn(sub);
  sub.Finish();
  return true;
}

void TableReader::Tables(std::string_view key,
                         const std::function<void(TableReader&, std::size_t)>& fn) {
  const toml::node* n = Get(key, Presence::kOptional);
  if (n == nullptr) return;
  const auto* arr = n->as_array();
  if (arr == nullptr) {
    sink_.Report(n, Field(key),
                 "expected an array of tables ([[" + std::string(key) + "]]), found " +
                     std::string(TypeName(*n)));
    return;
  }
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = *arr->get(i);
    const std::string field = Field(key) + "[" + std::to_string(i) + "]";
    const auto* t = e.as_table();
    if (t == nullptr) {
      sink_.Report(&e, field, "expected a table, found " + std::string(TypeName(e)));
      continue;
    }
    TableReader sub(sink_, *t, field);
    fn(sub, i);
    sub.Finish();
  }
}

void TableReader::Finish() {
  if (finished_) return;
  finished_ = true;
  for (const auto& [k, v] : table_) {
    if (seen_.find(k.str()) == seen_.end()) {
      // Point at the key itself, not at its value.
      sink_.diagnostics().push_back({sink_.file(), static_cast<int>(k.source().begin.line),
                                     static_cast<int>(k.source().begin.column), Field(k.str()),
                                     "unknown key"});
    }
  }
}

}  // namespace sovgrid::scenario
