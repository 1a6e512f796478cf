// A strict reader over a parsed TOML document that records every problem as a
// Diagnostic (file:line:column, field path, what was expected) instead of
// stopping at the first one.
//
// Usage: wrap each table in a TableReader, ask for every key the format knows,
// then call Finish(), which reports every key nobody asked for as unknown.
// Getters leave the output untouched when the key is absent or wrong, so
// defaults set before the call survive.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "scenario/diagnostic.h"

namespace toml {
inline namespace v3 {
class node;
class table;
}  // namespace v3
}  // namespace toml

namespace sovgrid::scenario {

class DiagnosticSink {
 public:
  explicit DiagnosticSink(std::string file) : file_(std::move(file)) {}
  void Report(const toml::node* at, std::string field, std::string message);
  void ReportAtLine(int line, std::string field, std::string message);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  std::vector<Diagnostic>& diagnostics() { return diagnostics_; }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<Diagnostic> diagnostics_;
};

enum class Presence { kOptional, kRequired };

class TableReader {
 public:
  TableReader(DiagnosticSink& sink, const toml::table& table, std::string path);

  // Each returns true when the key was present and valid.
  bool String(std::string_view key, std::string* out, Presence p = Presence::kOptional);
  bool Int(std::string_view key, std::int64_t* out, std::int64_t min, std::int64_t max,
           Presence p = Presence::kOptional);
  bool Int(std::string_view key, int* out, int min, int max, Presence p = Presence::kOptional);
  bool Double(std::string_view key, double* out, double min, double max,
              Presence p = Presence::kOptional);
  bool Bool(std::string_view key, bool* out, Presence p = Presence::kOptional);
  bool StringList(std::string_view key, std::vector<std::string>* out,
                  Presence p = Presence::kOptional);
  // An array of numbers, each in [min, max]; a bad element is reported at its
  // own position (`field[i]`).
  bool DoubleList(std::string_view key, std::vector<double>* out, double min, double max,
                  Presence p = Presence::kOptional);
  // An offset date-time (1979-05-27T07:32:00Z) or integer Unix seconds.
  bool Time(std::string_view key, std::int64_t* out, Presence p = Presence::kOptional);
  // An inline table of non-negative integers: { blackwell = 512, edge = 8 }.
  bool IntMap(std::string_view key, std::map<std::string, std::int64_t>* out);
  // An inline table of non-negative numbers: { seoul = 3.5 }.
  bool DoubleMap(std::string_view key, std::map<std::string, double>* out);
  // Calls `fn` for the sub-table under `key` if present.
  bool Table(std::string_view key, const std::function<void(TableReader&)>& fn,
             Presence p = Presence::kOptional);
  // Calls `fn` for each table of the array of tables under `key`.
  void Tables(std::string_view key, const std::function<void(TableReader&, std::size_t)>& fn);

  // Whether `key` is present (of any type); does not mark it as read.
  bool Has(std::string_view key) const;

  // Reports keys that no getter asked for, after all getters. Later calls do nothing.
  void Finish();

  // Reports a problem with `key` of this table (at the key's line if present).
  void Report(std::string_view key, std::string message);
  // The same for a part of `key`'s value (`sub` is "[1]" or ".seoul"), at the key's line.
  void Report(std::string_view key, std::string_view sub, std::string message);
  int line() const;
  const std::string& path() const { return path_; }
  DiagnosticSink& sink() { return sink_; }

 private:
  const toml::node* Get(std::string_view key, Presence p);
  std::string Field(std::string_view key) const;

  DiagnosticSink& sink_;
  const toml::table& table_;
  std::string path_;
  std::set<std::string, std::less<>> seen_;
  bool finished_ = false;
};

}  // namespace sovgrid::scenario
