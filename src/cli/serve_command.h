// `sovgrid serve`: the control plane daemon (docs/api.md).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "common/status.h"

namespace sovgrid::cli {

void AddServeCommand(CLI::App& app);

// serve --config FILE: applies the TOML file's options to `serve` (the
// subcommand AddServeCommand made) where the command line gave none. Every
// problem is InvalidArgument naming FILE:LINE:COLUMN and the key. Exposed for
// the fuzz target (tests/fuzz/fuzz_serve_config.cpp).
Status ApplyServeConfigFile(CLI::App* serve, const std::string& path);

}  // namespace sovgrid::cli
