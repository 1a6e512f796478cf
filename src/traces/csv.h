// Reading line-oriented CSV files of untrusted origin (traces, node and pod
// lists) with messages that say where a problem is: "FILE:LINE: what (column
// NAME)". Nothing here throws or crashes on truncated files or binary data.
// Every reader of such a file uses ForEachRow (below): the trace readers, the
// Alibaba node and pod lists (alibaba.h) and through them the fill experiment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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

// Sane ranges of times and durations (docs/traces.md, "Limits").
inline constexpr double kMaxTimeSeconds = 4'102'444'800;     // 2100-01-01T00:00:00Z
inline constexpr double kMaxDuration = 10 * 365.25 * 86400;  // 10 years
// Seconds (a time or a duration) in [0, max] into *out; `what` names it in messages.
std::optional<Problem> GetSeconds(std::string_view v, std::string_view column,
                                  std::string_view what, double max, double* out);

// "FILE:LINE: what (column NAME)", or without the column when the problem is the whole line.
std::string Message(const std::string& file, std::size_t line, const Problem& p);

struct ColumnSpec {
  std::string_view name;
  bool required;
  // Appended ("; " + hint) to the message when a required column is missing.
  std::string_view hint = {};
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

// ---- Reading a table: ForEachRow -------------------------------------------
//
// The one way sovgrid reads a CSV-like file: ForEachRow finds the header,
// splits and cleans every data line, and hands each to a row function that
// says, explicitly, whether the row is fine (nullopt) or what is wrong with it
// (a Problem, with the column). What happens to a bad line is the caller's
// BadLinePolicy: strict readers fail on it, lenient ones count and skip it.

// How the lines of a file are laid out.
struct TableFormat {
  std::string_view name;  // the kind of file in messages ("philly", "alibaba2023 pod list")
  std::vector<ColumnSpec> columns;  // looked up in the header (the first non-blank line)
  char sep = ',';
  // No header: every data line has exactly this many fields, column i at position i (gavel).
  std::size_t fixed_fields = 0;
};

// One data line, split and cleaned (no surrounding blanks, no surrounding quotes).
class Row {
 public:
  Row(std::size_t line, const std::vector<std::string_view>& fields, const CsvLayout& layout)
      : line_(line), fields_(fields), layout_(layout) {}
  std::size_t line() const { return line_; }  // its number in the file, from 1
  // The field of wanted column `i` ("" when the file has no such column).
  std::string_view operator[](std::size_t i) const { return Field(fields_, layout_, i); }
  bool Has(std::size_t i) const { return layout_.pos[i] >= 0; }  // the file has wanted column i

 private:
  std::size_t line_;
  const std::vector<std::string_view>& fields_;
  const CsvLayout& layout_;
};

// What a row function returns: nullopt when the row is taken (or left out on
// purpose), else the Problem that makes it a bad line.
using RowCheck = std::optional<Problem>;
using RowFn = std::function<RowCheck(const Row&)>;

// Given a bad line's message ("FILE:LINE: what (column NAME)"): an error ends
// the read with it; Ok skips the line.
using BadLinePolicy = std::function<Status(std::string message)>;
// The strict policy: every bad line is an InvalidArgument.
Status FailOnBadLine(std::string message);

// Reads `text`, the contents of `file`: the header (when `format` has columns;
// a missing required column or an empty file is InvalidArgument), then every
// non-blank line. Binary data and a wrong number of fields make a bad line;
// other lines go to `row`, whose Problems make bad lines too. Returns the
// number of non-blank data lines, or the error that stopped the read.
Result<std::size_t> ForEachRow(const std::string& file, std::string_view text,
                               const TableFormat& format, const BadLinePolicy& on_bad,
                               const RowFn& row);

}  // namespace sovgrid::traces::csv
