// `sovgrid scenario validate|show`.
#pragma once

#include <CLI/CLI.hpp>

namespace sovgrid::cli {

// Adds the `scenario` subcommand tree to `app`.
void AddScenarioCommands(CLI::App& app);

}  // namespace sovgrid::cli
