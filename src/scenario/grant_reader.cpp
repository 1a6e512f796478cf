#include "scenario/grant_reader.h"

#include <set>
#include <string>


namespace sovgrid::scenario {
namespace {
constexpr double kMaxNumber = 1e12;
}  // namespace

bool ReadGrantTables(TableReader& r, std::vector<model::Grant>* grants) {
  bool present = false;
  std::set<std::string, std::less<>> ids;  // duplicates found in O(log n)
  r.Tables("grants", [&](TableReader& g, std::size_t) {
    present = true;
    model::Grant grant;
    g.String("id", &grant.id, Presence::kRequired);
    double units = -1;
    double hours = -1;
    const bool has_units = g.Double("units", &units, 1e-9, kMaxNumber);
    const bool has_hours = g.Double("accelerator_hours", &hours, 1e-9, kMaxNumber);
    if (has_units && has_hours) {
      g.Report("accelerator_hours", "give units or accelerator_hours (its older name), not both");
    } else if (has_units || has_hours) {
      grant.units = has_units ? units : hours;
    } else if (!g.Has("units") && !g.Has("accelerator_hours")) {
      g.Report("units", "required: the units granted (one unit = one hour of an accelerator "
                        "whose charge_rate is 1.0)");
    }
    const bool from_ok = g.Time("valid_from", &grant.valid_from, Presence::kRequired);
    const bool until_ok = g.Time("valid_until", &grant.valid_until, Presence::kRequired);
    if (from_ok && until_ok && grant.valid_until <= grant.valid_from) {
      g.Report("valid_until", "expected a time after valid_from");
    }
    g.String("quota_class", &grant.quota_class);
    if (!grant.id.empty() && !ids.insert(grant.id).second)
      g.Report("id", "duplicate grant id '" + grant.id + "'");
    grants->push_back(std::move(grant));
  });
  return present;
}

bool ParseOnGrantSpent(std::string_view word, model::Tenant::OnGrantSpent* out) {
  if (word == "wait") {
    *out = model::Tenant::OnGrantSpent::kWait;
  } else if (word == "guarantee") {
    *out = model::Tenant::OnGrantSpent::kGuarantee;
  } else {
    return false;
  }
  return true;
}

std::string_view OnGrantSpentName(model::Tenant::OnGrantSpent v) {
  return v == model::Tenant::OnGrantSpent::kGuarantee ? "guarantee" : "wait";
}

}  // namespace sovgrid::scenario
