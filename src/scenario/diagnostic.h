// One problem found in an input file: where it is and what was expected.
#pragma once

#include <string>
#include <vector>

namespace sovgrid::scenario {

struct Diagnostic {
  std::string file;
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based; 0 when unknown
  std::string field;    // e.g. "pools[3].nodes"; empty for syntax errors
  std::string message;  // what is wrong and what was expected

  // "file:line:column: field: message"
  std::string ToString() const;
};

// All diagnostics, one per line.
std::string JoinDiagnostics(const std::vector<Diagnostic>& diagnostics);

}  // namespace sovgrid::scenario
