// `sovgrid serve`: the control plane daemon (docs/api.md).
#pragma once

#include <CLI/CLI.hpp>

namespace sovgrid::cli {

void AddServeCommand(CLI::App& app);

}  // namespace sovgrid::cli
