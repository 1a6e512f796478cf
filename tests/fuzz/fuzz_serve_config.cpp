// serve --config FILE: the TOML file applied to a fresh `serve` subcommand.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdlib>

#include "cli/serve_command.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = sovgrid::fuzz::WriteInput("serve.toml", data, size);
  CLI::App app;  // fresh each time: options remember what was applied
  sovgrid::cli::AddServeCommand(app);
  CLI::App* serve = app.get_subcommand("serve");
  if (serve == nullptr) std::abort();
  (void)sovgrid::cli::ApplyServeConfigFile(serve, path);
  return 0;
}
