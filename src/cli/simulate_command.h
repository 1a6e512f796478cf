// `sovgrid simulate`: the digital twin.
#pragma once

#include <CLI/CLI.hpp>

namespace sovgrid::cli {

void AddSimulateCommand(CLI::App& app);

}  // namespace sovgrid::cli
