// `sovgrid fill`: the fill experiment (fill/fill.h) from the command line,
// with a terminal table and --json, --csv and --report outputs (docs/fill.md).
#pragma once

#include <CLI/CLI.hpp>

namespace sovgrid::cli {

void AddFillCommand(CLI::App& app);

}  // namespace sovgrid::cli
