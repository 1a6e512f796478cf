// `sovgrid schedule`: one scheduling cycle over a job file, for planning and
// for asking "why would this job wait?".
#pragma once

#include <CLI/CLI.hpp>

namespace sovgrid::cli {

void AddScheduleCommand(CLI::App& app);

}  // namespace sovgrid::cli
