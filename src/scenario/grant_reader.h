// Reading `[[tenants.grants]]` tables, shared by the scenario loader and the
// what-if reader so that a grant means the same in both.
#pragma once

#include <vector>

#include "model/scenario.h"
#include "scenario/toml_reader.h"

namespace sovgrid::scenario {

// Reads every table of the array `grants` under `r` into `grants` (appending)
// and reports each mistake at its key: a missing id or window, a window that
// ends before it starts, a duplicate id, an amount given both as `units` and
// as `accelerator_hours` (the older name of `units`) or as neither. Returns
// whether the key was present at all.
bool ReadGrantTables(TableReader& r, std::vector<model::Grant>* grants);

// The scenario's `on_grant_spent` words: "wait" or "guarantee".
bool ParseOnGrantSpent(std::string_view word, model::Tenant::OnGrantSpent* out);
std::string_view OnGrantSpentName(model::Tenant::OnGrantSpent v);

}  // namespace sovgrid::scenario
