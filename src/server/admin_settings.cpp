#include "server/admin_settings.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/json_limits.h"

namespace sovgrid::server {
namespace {

nlohmann::json AmountsJson(const model::ClassAmounts& a) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : a) out[k] = v;
  return out;
}

nlohmann::json GrantsJson(const std::vector<model::Grant>& grants) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& g : grants) {
    out.push_back({{"id", g.id},
                   {"units", g.units},
                   {"valid_from", g.valid_from},
                   {"valid_until", g.valid_until},
                   {"quota_class", g.quota_class}});
  }
  return out;
}

}  // namespace

bool GrantsSetting::operator==(const GrantsSetting& o) const {
  auto same = [](const model::Grant& a, const model::Grant& b) {
    return a.id == b.id && a.units == b.units &&
           a.valid_from == b.valid_from && a.valid_until == b.valid_until &&
           a.quota_class == b.quota_class;
  };
  return tenant == o.tenant && grants.size() == o.grants.size() &&
         std::equal(grants.begin(), grants.end(), o.grants.begin(), same);
}

Result<model::ClassAmounts> ClassAmountsFromJson(const nlohmann::json& j,
                                                 const std::string& field) {
  model::ClassAmounts out;
  if (j.is_null()) return out;
  if (!j.is_object())
    return InvalidArgument(field + ": expected an object of class: accelerators").WithField(field);
  for (const auto& [k, v] : j.items()) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
        v.get<std::int64_t>() > 1'000'000'000)
      return InvalidArgument(field + "." + k + ": expected an integer in 0..1000000000")
          .WithField(field + "." + k);
    out[k] = v.get<std::int64_t>();
  }
  return out;
}

Result<std::vector<model::Grant>> GrantsFromJson(const nlohmann::json& j) {
  if (!j.is_array()) return InvalidArgument("$.grants: expected an array").WithField("$.grants");
  std::vector<model::Grant> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& g = j[i];
    const std::string at = "$.grants[" + std::to_string(i) + "]";
    if (!g.is_object()) return InvalidArgument(at + ": expected an object").WithField(at);
    for (const auto& [k, v] : g.items()) {
      if (k != "id" && k != "units" && k != "accelerator_hours" && k != "valid_from" &&
          k != "valid_until" &&
          k != "quota_class")
        return InvalidArgument(at + "." + k + ": unknown field").WithField(at + "." + k);
    }
    model::Grant grant;
    if (!g.contains("id") || !g["id"].is_string() || g["id"].get<std::string>().empty())
      return InvalidArgument(at + ".id: expected a non-empty string").WithField(at + ".id");
    grant.id = g["id"];
    // `accelerator_hours` is the older name of `units` (settings stored by an
    // older sovgrid use it).
    if (g.contains("units") && g.contains("accelerator_hours"))
      return InvalidArgument(at + ".accelerator_hours: give units or accelerator_hours, not both")
          .WithField(at + ".accelerator_hours");
    const std::string amount = g.contains("accelerator_hours") ? "accelerator_hours" : "units";
    if (!g.contains(amount) || !g[amount].is_number() || g[amount].get<double>() < 0 ||
        g[amount].get<double>() > 1e12)
      return InvalidArgument(at + "." + amount + ": expected a number in 0..1e12")
          .WithField(at + "." + amount);
    grant.units = g[amount];
    for (const char* f : {"valid_from", "valid_until"}) {
      if (!g.contains(f) || !g[f].is_number_integer() || g[f].get<std::int64_t>() < 0)
        return InvalidArgument(at + "." + f + ": expected seconds since the Unix epoch")
            .WithField(at + "." + f);
    }
    grant.valid_from = g["valid_from"];
    grant.valid_until = g["valid_until"];
    if (grant.valid_until <= grant.valid_from)
      return InvalidArgument(at + ".valid_until: expected a time after valid_from")
          .WithField(at + ".valid_until");
    if (g.contains("quota_class")) {
      if (!g["quota_class"].is_string())
        return InvalidArgument(at + ".quota_class: expected a string")
            .WithField(at + ".quota_class");
      grant.quota_class = g["quota_class"];
    }
    out.push_back(grant);
  }
  return out;
}

std::string SettingKey(const AdminSetting& setting) {
  if (const auto* h = std::get_if<HealthSetting>(&setting)) return HealthTargetKey(h->target);
  if (const auto* q = std::get_if<QuotaSetting>(&setting)) return "quota:" + q->tenant;
  return "grants:" + std::get<GrantsSetting>(setting).tenant;
}

std::string SettingValueJson(const AdminSetting& setting) {
  if (const auto* h = std::get_if<HealthSetting>(&setting))
    return nlohmann::json({{"state", HealthName(h->state)}}).dump();
  if (const auto* q = std::get_if<QuotaSetting>(&setting)) {
    return nlohmann::json({{"guarantee", AmountsJson(q->guarantee)},
                           {"borrow_limit", AmountsJson(q->borrow_limit)},
                           {"lend_limit", AmountsJson(q->lend_limit)}})
        .dump();
  }
  return nlohmann::json({{"grants", GrantsJson(std::get<GrantsSetting>(setting).grants)}}).dump();
}

Result<AdminSetting> SettingFromStored(const std::string& key, const std::string& value_json) {
  const auto colon = key.find(':');
  if (colon == std::string::npos) return InvalidArgument("setting '" + key + "': no kind");
  const std::string kind = key.substr(0, colon), name = key.substr(colon + 1);
  const nlohmann::json v = ParseJsonBounded(value_json).value_or(nlohmann::json());
  if (!v.is_object()) return InvalidArgument("setting '" + key + "': not an object");
  if (auto target = ParseHealthTargetKey(key)) {
    const nlohmann::json text = v.value("state", nlohmann::json());
    const std::optional<Health> state =
        text.is_string() ? ParseHealth(text.get<std::string>()) : std::nullopt;
    if (!state) {
      return InvalidArgument("state: expected up, draining or down, found " + text.dump())
          .WithField("$.state");
    }
    AdminSetting out = HealthSetting{std::move(*target), *state};
    return out;
  }
  if (kind == "quota") {
    QuotaSetting q{name, {}, {}, {}};
    const std::pair<const char*, model::ClassAmounts*> parts[] = {{"guarantee", &q.guarantee},
                                                                  {"borrow_limit", &q.borrow_limit},
                                                                  {"lend_limit", &q.lend_limit}};
    for (const auto& [field, out] : parts) {
      auto amounts =
          ClassAmountsFromJson(v.value(field, nlohmann::json()), std::string("$.") + field);
      if (!amounts.ok()) return amounts.status();
      *out = std::move(amounts).value();
    }
    AdminSetting out = std::move(q);
    return out;
  }
  if (kind == "grants") {
    auto grants = GrantsFromJson(v.value("grants", nlohmann::json()));
    if (!grants.ok()) return grants.status();
    AdminSetting out = GrantsSetting{name, std::move(grants).value()};
    return out;
  }
  return InvalidArgument("setting '" + key + "': unknown kind");
}

}  // namespace sovgrid::server
