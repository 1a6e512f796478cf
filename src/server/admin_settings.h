// Administrators' settings (docs/api.md, "Administration") as typed values:
// what the API reads from a request, what the control plane applies to the
// scheduler and keeps to undo a change, and, at the store boundary only, the
// key and JSON value of their row (Store::PutSetting / ListSettings).
//
// Contract:
//  * SettingFromStored(SettingKey(s), SettingValueJson(s)) gives back s, for
//    every setting (tests/server/server_boundary_test.cpp).
//  * The readers are strict and never throw: an error's message starts with
//    the JSON path it is about, which is also its Status::field().
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "server/states.h"

namespace sovgrid::server {

// A node's or a site's state as an administrator set it. Row: "node:NAME" or
// "site:ID" -> {"state": "up" | "draining" | "down"}.
struct HealthSetting {
  HealthTarget target;
  Health state = Health::kUp;
  bool operator==(const HealthSetting&) const = default;
};

// A tenant's quota. Row: "quota:TENANT" -> {"guarantee", "borrow_limit",
// "lend_limit"}, each {"class": whole accelerators}.
struct QuotaSetting {
  std::string tenant;
  model::ClassAmounts guarantee, borrow_limit, lend_limit;
  bool operator==(const QuotaSetting&) const = default;
};

// A tenant's grants. Row: "grants:TENANT" -> {"grants": [grant, ...]} as
// GrantsFromJson reads them.
struct GrantsSetting {
  std::string tenant;
  std::vector<model::Grant> grants;
  bool operator==(const GrantsSetting& o) const;
};

using AdminSetting = std::variant<HealthSetting, QuotaSetting, GrantsSetting>;

// The store row of a setting: its key and its value as JSON text.
std::string SettingKey(const AdminSetting& setting);
std::string SettingValueJson(const AdminSetting& setting);
// The setting a stored row holds; InvalidArgument for a key of no known kind
// or a value that does not read.
Result<AdminSetting> SettingFromStored(const std::string& key, const std::string& value_json);

// Grants as the admin API takes them: [{"id", "units" (or its older name
// "accelerator_hours"), "valid_from",
// "valid_until" (seconds since the Unix epoch), "quota_class"?}], strictly checked;
// an error's field() is its path in the request body ("$.grants[2].id").
Result<std::vector<model::Grant>> GrantsFromJson(const nlohmann::json& grants);
// Quota amounts as the admin API takes them: {"class": whole accelerators, ...}
// (null: none). Messages start with the path they are about, which is also
// their field(): `field` or below it ("$.guarantee.blackwell").
Result<model::ClassAmounts> ClassAmountsFromJson(const nlohmann::json& amounts,
                                                 const std::string& field);

}  // namespace sovgrid::server
