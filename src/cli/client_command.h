// The CLI client of `sovgrid serve` (docs/api.md): submit, jobs, job, cancel,
// grid, admin. Tables by default, --json for scripts.
#pragma once

#include <CLI/CLI.hpp>

namespace sovgrid::cli {

void AddClientCommands(CLI::App& app);

}  // namespace sovgrid::cli
