// Loading a scenario (TOML) into a validated model::Scenario.
//
// Contract: on success the scenario is complete and consistent: ids unique,
// every reference resolved (Scenario::Resolve() done), counts positive, the
// tenant tree acyclic, children's guarantees within their parent's, top-level
// guarantees within the grid's capacity. On failure nothing is returned and
// every problem found is reported, each with file:line:column, the field path
// and what was expected; the Status message holds them one per line.
// Never throws; safe on truncated or binary input.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "model/scenario.h"
#include "scenario/diagnostic.h"

namespace sovgrid::scenario {

Result<model::Scenario> LoadScenarioFile(const std::string& path,
                                         std::vector<Diagnostic>* diagnostics = nullptr);

// `source_name` is what diagnostics call the file.
Result<model::Scenario> ParseScenario(std::string_view text, std::string_view source_name,
                                      std::vector<Diagnostic>* diagnostics = nullptr);

// The checks that need the whole scenario (ids, references, tree, guarantees).
// Appends to `out`; lines are unknown (0) unless `lines` maps the item.
void ValidateScenario(const model::Scenario& scenario, const std::string& file,
                      std::vector<Diagnostic>* out);

}  // namespace sovgrid::scenario
