// sovgrid: control plane and digital twin of a sovereign national AI compute grid.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli/client_command.h"
#include "cli/fill_command.h"
#include "cli/scenario_command.h"
#include "cli/schedule_command.h"
#include "cli/serve_command.h"
#include "cli/simulate_command.h"

namespace {

int Run(int argc, char** argv) {
  CLI::App app{
      "sovgrid: control plane and digital twin of a sovereign national AI compute grid.\n"
      "Decides who runs where and when across operators, under quotas, grants and data-residency "
      "law."};
  app.set_version_flag("--version", "sovgrid 0.1.0");
  app.require_subcommand(1);
  sovgrid::cli::AddScenarioCommands(app);
  sovgrid::cli::AddScheduleCommand(app);
  sovgrid::cli::AddSimulateCommand(app);
  sovgrid::cli::AddFillCommand(app);
  sovgrid::cli::AddServeCommand(app);
  sovgrid::cli::AddClientCommands(app);
  CLI11_PARSE(app, argc, argv);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {  // a bug or resource exhaustion: say so, do not abort
    std::fprintf(stderr, "sovgrid: internal error: %s\n", e.what());
    return 70;
  } catch (...) {
    std::fprintf(stderr, "sovgrid: internal error\n");
    return 70;
  }
}
