// Helpers shared by the libFuzzer targets (docs/fuzzing.md).
//
// Inputs that sovgrid reads from a path (traces, the Slurm configuration,
// serve --config) are written to a private directory under /dev/shm (memory,
// not disk: millions of writes per run), removed when the process exits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "model/scenario.h"
#include "scenario/loader.h"

namespace sovgrid::fuzz {

// A fresh directory /dev/shm/sovgrid-fuzz-<tag>-XXXXXX (the temporary
// directory when /dev/shm is missing). Not removed: callers that own it do.
inline std::string MakeTempDir(const std::string& tag) {
  std::error_code ec;
  std::string base = std::filesystem::is_directory("/dev/shm", ec)
                         ? std::string("/dev/shm")
                         : std::filesystem::temp_directory_path(ec).string();
  std::string templ = base + "/sovgrid-fuzz-" + tag + "-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) std::abort();
  return templ;
}

// The process's scratch directory, removed at exit.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    std::string d = MakeTempDir("scratch");
    static std::string to_remove;
    to_remove = d;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(to_remove, ec);
    });
    return d;
  }();
  return dir;
}

// Writes `data` to ScratchDir()/name and returns the path.
inline std::string WriteInput(const std::string& name, const std::uint8_t* data, std::size_t size) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();
  return path;
}

inline std::string_view AsText(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// scenarios/small.toml (2 sites, 8 nodes, 40 GPUs, 3 tenants), loaded once.
inline const model::Scenario& SmallScenario() {
  static const model::Scenario s = [] {
    auto loaded =
        scenario::LoadScenarioFile(std::string(SOVGRID_SOURCE_DIR) + "/scenarios/small.toml");
    if (!loaded.ok()) std::abort();
    return std::move(loaded).value();
  }();
  return s;
}

}  // namespace sovgrid::fuzz
