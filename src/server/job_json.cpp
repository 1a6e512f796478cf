#include "server/job_json.h"

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <variant>

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
    problems_->Add(path_ + (field.empty() ? "" : "." + field), what);
  }

  // The value of `f` if present, of its type and within its bounds; anything
  // else is reported in JSON's words.
  std::optional<model::JobFieldValue> Read(const model::JobField& f) {
    using T = model::JobFieldType;
    const std::string field(f.name);
    seen_.insert(field);
    auto it = obj_.find(field);
    if (it == obj_.end() || it->is_null()) {
      if (f.required) Report(field, "missing (required)");
      return std::nullopt;
    }
    const json& v = *it;
    switch (f.type) {
      case T::kString:
        if (!v.is_string()) return Fail(field, "expected a string, found " + Shown(v));
        if (f.required && v.get_ref<const std::string&>().empty())
          return Fail(field, "expected a non-empty string");
        return v.get<std::string>();
      case T::kInteger:
        return Int(field, v, f.min_int, f.max_int);
      case T::kNumber:
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < f.min_number ||
            v.get<double>() > f.max_number) {
          return Fail(field, "expected a number in " + json(f.min_number).dump() + ".." +
                                 json(f.max_number).dump() + ", found " + Shown(v));
        }
        return v.get<double>();
      case T::kBoolean:
        if (!v.is_boolean()) return Fail(field, "expected true or false, found " + Shown(v));
        return v.get<bool>();
      case T::kStringList: {
        if (!v.is_array()) return Fail(field, "expected an array of strings, found " + Shown(v));
        std::vector<std::string> out;
        bool ok = true;
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_string()) {
            Report(field + "[" + std::to_string(i) + "]",
                   "expected a non-empty string, found " + Shown(v[i]));
            ok = false;
            continue;
          }
          out.push_back(v[i].get<std::string>());
        }
        if (!ok) return std::nullopt;
        return out;
      }
      case T::kTime:
        return Time(field, v, f.min_int, f.max_int);
      case T::kNumberMap: {
        if (!v.is_object()) return Fail(field, "expected an object of numbers, found " + Shown(v));
        std::map<std::string, double> out;
        bool ok = true;
        for (const auto& [key, item] : v.items()) {
          if (!item.is_number() || !std::isfinite(item.get<double>())) {
            Report(field + "." + key, "expected a positive number, found " + Shown(item));
            ok = false;
            continue;
          }
          out[key] = item.get<double>();
        }
        if (!ok) return std::nullopt;
        return out;
      }
    }
    return std::nullopt;
  }

  // Fields present but never asked for.
  void RejectUnknown() {
    for (const auto& [key, value] : obj_.items()) {
      if (seen_.count(key) == 0) Report(key, "unknown field");
    }
  }

 private:
  std::nullopt_t Fail(const std::string& field, const std::string& what) {
    Report(field, what);
    return std::nullopt;
  }

  std::optional<model::JobFieldValue> Int(const std::string& field, const json& v, std::int64_t lo,
                                          std::int64_t hi) {
    const std::string range = "expected an integer in " + std::to_string(lo) + ".." +
                              std::to_string(hi) + ", found " + Shown(v);
    std::int64_t n = 0;
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
        return Fail(field, range);
      n = v.get<std::int64_t>();
    } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
               std::trunc(v.get<double>()) == v.get<double>() &&
               std::fabs(v.get<double>()) < 9e15) {
      n = static_cast<std::int64_t>(v.get<double>());
    } else {
      return Fail(field, range);
    }
    if (n < lo || n > hi) return Fail(field, range);
    return n;
  }

  // Unix seconds (an integer) or an RFC 3339 date-time with offset (a string).
  std::optional<model::JobFieldValue> Time(const std::string& field, const json& v, std::int64_t lo,
                                           std::int64_t hi) {
    std::optional<std::int64_t> t;
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi)) {
      return Fail(field, model::TimeOutOfRangeMessage(Shown(v)));
    } else if (v.is_number_integer()) {
      t = v.get<std::int64_t>();
    } else if (v.is_number_float() && std::isfinite(v.get<double>()) &&
               std::trunc(v.get<double>()) == v.get<double>()) {
      if (std::fabs(v.get<double>()) >= 9e15)
        return Fail(field, model::TimeOutOfRangeMessage(Shown(v)));
      t = static_cast<std::int64_t>(v.get<double>());
    } else if (v.is_string()) {
      t = model::ParseRfc3339(v.get_ref<const std::string&>());
    }
    if (!t) {
      return Fail(field,
                  "expected Unix seconds or a date-time with offset such as "
                  "\"2027-01-04T00:00:00Z\", found " +
                      Shown(v));
    }
    if (*t < lo || *t > hi) return Fail(field, model::TimeOutOfRangeMessage(*t));
    return *t;
  }

  const json& obj_;
  std::string path_;
  JobProblems* problems_;
  std::set<std::string, std::less<>> seen_;
};

// A value of the schema as JSON.
json ToJson(const model::JobFieldValue& value) {
  return std::visit([](const auto& v) { return json(v); }, value);
}

}  // namespace

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

void JobProblems::Add(const std::string& field, const std::string& what) {
  messages.push_back(field + ": " + what);
  fields.push_back(field);
}

std::string JobProblems::ToString() const {
  std::string out;
  for (const auto& m : messages) out += m + "\n";
  return out;
}

JobProblems JobFromJson(const json& value, const std::string& path, model::Job* job) {
  JobProblems problems;
  if (!value.is_object()) {
    problems.Add(path, "expected a job object, found " + Shown(value));
    return problems;
  }
  Reader r(value, path, &problems);
  for (const model::JobField& f : model::JobFields()) {
    if (!f.in(model::kJobJson)) continue;
    if (auto v = r.Read(f)) {
      for (const auto& p : f.apply(*v, job)) r.Report(p.field + p.sub, p.message);
    }
  }
  r.RejectUnknown();
  if (!problems.ok()) return problems;
  for (const auto& p : model::CheckJobRules(*job)) r.Report(p.field + p.sub, p.message);
  return problems;
}

JobProblems JobFromJsonText(std::string_view text, model::Job* job) {
  auto value = ParseJsonBounded(text);
  if (!value.ok()) {
    JobProblems p;
    p.messages.push_back(value.status().message());  // "$: malformed JSON at byte ..."
    p.fields.emplace_back("$");
    return p;
  }
  return JobFromJson(*value, "$", job);
}

std::string JobToJson(const model::Job& job) {
  json j = json::object();
  for (const model::JobField& f : model::JobFields()) {
    if (!f.in(model::kJobJson)) continue;
    if (auto v = f.get(job)) j[std::string(f.name)] = ToJson(*v);
  }
  return j.dump();
}

json JobSpecOpenApi() {
  using T = model::JobFieldType;
  json properties = json::object();
  json required = json::array();
  for (const model::JobField& f : model::JobFields()) {
    if (!f.in(model::kJobJson)) continue;
    json p;
    switch (f.type) {
      case T::kString:
        p["type"] = "string";
        if (f.required) p["minLength"] = 1;
        if (!f.pattern.empty()) p["pattern"] = f.pattern;
        if (!f.choices.empty()) p["enum"] = f.choices;
        break;
      case T::kInteger:
        p = {{"type", "integer"}, {"minimum", f.min_int}, {"maximum", f.max_int}};
        break;
      case T::kNumber:
        p = {{"type", "number"}, {"minimum", f.min_number}, {"maximum", f.max_number}};
        break;
      case T::kBoolean:
        p["type"] = "boolean";
        break;
      case T::kStringList:
        p = {{"type", "array"}, {"items", {{"type", "string"}, {"minLength", 1}}}};
        break;
      case T::kTime:
        p["oneOf"] =
            json::array({{{"type", "integer"}, {"minimum", f.min_int}, {"maximum", f.max_int}},
                         {{"type", "string"}, {"format", "date-time"}}});
        break;
      case T::kNumberMap:
        p = {{"type", "object"},
             {"additionalProperties",
              {{"type", "number"}, {"minimum", 0}, {"exclusiveMinimum", true}}}};
        break;
    }
    p["description"] = f.doc;
    properties[std::string(f.name)] = std::move(p);
    if (f.required) required.push_back(f.name);
  }
  return {{"type", "object"},
          {"additionalProperties", false},
          {"required", required},
          {"properties", properties}};
}

}  // namespace sovgrid::server
