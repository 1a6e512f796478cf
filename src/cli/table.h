// A plain-text table for terminal output: columns sized to their content,
// numbers right-aligned.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sovgrid::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header);
  // Cells that parse as numbers are right-aligned.
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// `text` safe to print on a terminal: control characters (C0, DEL and C1,
// which start escape sequences) become '?'. Text from the server is the
// tenants' and may try to rewrite the screen.
std::string Printable(std::string_view text);

// 260000 -> "260,000"
std::string WithThousands(long long value);

// "a,b,,c" -> {"a", "b", "c"}: a comma-separated option value, empty items dropped.
std::vector<std::string> SplitCommaList(const std::string& s);

}  // namespace sovgrid::cli
