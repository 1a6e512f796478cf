// Bounded TOML input: the one way sovgrid reads a TOML file (scenarios, job
// files, serve --config, the Slurm configuration).
//
// toml++ bounds the nesting of arrays and inline tables (256) but not the
// parts of a dotted key or table header: `[a.a.a....]` with 50,000 parts makes
// a chain of 50,000 tables that is walked and destroyed recursively, and the
// process dies of a stack overflow. ParseTomlBounded scans the text once,
// linearly, before toml++ sees it (strings, literal strings, their multi-line
// forms and comments skipped) and refuses:
//   * a key or table header with more than `max_key_parts` dotted parts;
//   * arrays and inline tables nested deeper than `max_nesting`;
//   * text longer than `max_bytes` (ReadTomlFile checks the file's size first).
// Each refusal is one Diagnostic at file:line:column saying what and the limit.
//
// Contract: never throws; a document that passes parses exactly as toml::parse
// would parse it (the scan only refuses, it never changes the text).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "scenario/diagnostic.h"

namespace toml {
inline namespace v3 {
class table;
}  // namespace v3
}  // namespace toml

namespace sovgrid::scenario {

struct TomlLimits {
  int max_key_parts = 32;  // [a.b.c] has 3; sovgrid's formats use at most 2
  int max_nesting = 32;    // [[1, 2], [3]] is 2 deep
  std::size_t max_bytes = std::size_t{64} << 20;
};

// The scan alone: the first limit `text` breaks, or nullopt.
std::optional<Diagnostic> CheckTomlText(std::string_view text, std::string_view source_name,
                                        const TomlLimits& limits = {});

// Checks then parses `text` into `*out`. On failure returns the one problem (a
// limit or a TOML syntax error, with its line and column) and leaves `*out`
// empty.
std::optional<Diagnostic> ParseTomlBounded(std::string_view text, std::string_view source_name,
                                           toml::table* out, const TomlLimits& limits = {});

// Reads the file at `path` (at most limits.max_bytes; a larger file is refused
// before it is read) into `*text`. On failure the Diagnostic says why
// ("cannot open file", "file of N bytes, more than the limit of M").
std::optional<Diagnostic> ReadTomlFile(const std::string& path, std::string* text,
                                       const TomlLimits& limits = {});

// ReadTomlFile then ParseTomlBounded, the file named by its path.
std::optional<Diagnostic> ParseTomlFile(const std::string& path, toml::table* out,
                                        const TomlLimits& limits = {});

}  // namespace sovgrid::scenario
