// Reading line-oriented CSV files of untrusted origin (traces, node and pod
// lists) with messages that say where a problem is: "FILE:LINE: what (column
// NAME)". Nothing here throws or crashes on truncated files or binary data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sovgrid::traces::csv {

std::string_view Trim(std::string_view s);  // without surrounding blanks and tabs
// A field without surrounding blanks and one pair of surrounding double quotes.
std::string_view CleanField(std::string_view s);
bool IsBlank(std::string_view s);
// Control bytes other than tab (NUL, escape, a lone carriage return...) mean the
// line is not text.
bool HasBinary(std::string_view s);
// A value as it may appear in a message: quoted, at most 40 characters, printable ASCII.
std::string Quote(std::string_view s);

// The whole file; IoError naming the path when it cannot be read.
Result<std::string> ReadWholeFile(const std::string& path);

// Lines of a text, numbered from 1; "\r\n" endings and a UTF-8 byte order mark
// are accepted.
class LineCursor {
 public:
  explicit LineCursor(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") {
      text_.remove_prefix(3);
    }
  }
  bool Next(std::string_view* line) {
    if (pos_ >= text_.size()) {
      return false;
    }
    const std::size_t end = text_.find('\n', pos_);
    const std::size_t stop = end == std::string_view::npos ? text_.size() : end;
    *line = text_.substr(pos_, stop - pos_);
    if (!line->empty() && line->back() == '\r') {
      line->remove_suffix(1);
    }
    pos_ = stop + 1;
    ++number_;
    return true;
  }
  std::size_t number() const { return number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t number_ = 0;
};

// Splits at every `sep` (no quoting rules: the traces have none).
void Split(std::string_view line, char sep, std::vector<std::string_view>* out);

std::optional<double> ToDouble(std::string_view s);  // finite numbers only
// An integer; "8.0" is accepted as 8, "8.5" is not.
std::optional<std::int64_t> ToInt(std::string_view s);

// What is wrong with one line, and in which column (empty: the line as a whole).
struct Problem {
  std::string what;
  std::string column;
};

std::optional<Problem> Empty(std::string_view v, std::string_view column);
// An integer in [lo, hi] into *out.
std::optional<Problem> GetInt(std::string_view v, std::string_view column, std::int64_t lo,
                              std::int64_t hi, std::int64_t* out);

struct ColumnSpec {
  std::string_view name;
  bool required;
};

// Where each wanted column sits in a csv file (-1: absent) and how many fields a line has.
struct CsvLayout {
  std::size_t fields = 0;
  std::vector<int> pos;
};

// "a philly", "an elasticflow".
std::string WithArticle(std::string_view word);
// Reads the header (the first non-blank line). Fails when a required column is
// missing; `format` names the kind of file in messages ("a philly header").
Result<CsvLayout> ReadHeader(LineCursor* lines, const std::string& file, std::string_view format,
                             const std::vector<ColumnSpec>& wanted);
// The field of wanted column `i` ("" when the file has no such column).
std::string_view Field(const std::vector<std::string_view>& fields, const CsvLayout& layout,
                       std::size_t i);

}  // namespace sovgrid::traces::csv
