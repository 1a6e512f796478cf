#include "traces/csv.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace sovgrid::traces::csv {

namespace {
bool IsSpace(char c) { return c == ' ' || c == '\t'; }
}  // namespace

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsSpace(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// A field without surrounding blanks and one pair of surrounding double quotes.
std::string_view CleanField(std::string_view s) {
  s = Trim(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    s = Trim(s.substr(1, s.size() - 2));
  }
  return s;
}

bool IsBlank(std::string_view s) { return Trim(s).empty(); }

// Control bytes other than tab (NUL, escape, a lone carriage return...) mean the
// line is not text.
bool HasBinary(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// A value as it may appear in a message: at most 40 characters, printable ASCII.
std::string Quote(std::string_view s) {
  std::string out = "'";
  const std::size_t n = std::min<std::size_t>(s.size(), 40);
  for (std::size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    out += (u >= 0x20 && u < 0x7f) ? s[i] : '?';
  }
  if (s.size() > n) {
    out += "...";
  }
  out += "'";
  return out;
}

// The whole file; IoError naming the path when it cannot be read.
Result<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return IoError(path + ": is a directory, expected a file");
  }
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    return IoError(path + ": cannot open file: " + std::strerror(err));
  }
  std::string text;
  char buf[1 << 16];
  while (true) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, f);
    text.append(buf, n);
    if (n < sizeof buf) {
      break;
    }
  }
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) {
    return IoError(path + ": read error");
  }
  return text;
}

void Split(std::string_view line, char sep, std::vector<std::string_view>* out) {
  out->clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t at = line.find(sep, start);
    if (at == std::string_view::npos) {
      out->push_back(line.substr(start));
      return;
    }
    out->push_back(line.substr(start, at - start));
    start = at + 1;
  }
}

std::optional<double> ToDouble(std::string_view s) {
  double v = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v, std::chars_format::general);
  if (ec != std::errc() || p != end || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

// An integer; "8.0" is accepted as 8, "8.5" is not.
std::optional<std::int64_t> ToInt(std::string_view s) {
  std::int64_t v = 0;
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec == std::errc() && p == end) {
    return v;
  }
  const auto d = ToDouble(s);
  if (!d || std::trunc(*d) != *d || std::fabs(*d) > 9e15) {
    return std::nullopt;
  }
  return static_cast<std::int64_t>(*d);
}

std::optional<Problem> Empty(std::string_view v, std::string_view column) {
  if (!v.empty()) {
    return std::nullopt;
  }
  return Problem{"empty value", std::string(column)};
}

// An integer in [lo, hi].
std::optional<Problem> GetInt(std::string_view v, std::string_view column, std::int64_t lo,
                              std::int64_t hi, std::int64_t* out) {
  if (auto p = Empty(v, column)) {
    return p;
  }
  const auto n = ToInt(v);
  if (!n) {
    return Problem{"expected an integer, found " + Quote(v), std::string(column)};
  }
  if (*n < lo || *n > hi) {
    return Problem{
        "expected " + std::to_string(lo) + ".." + std::to_string(hi) + ", found " + Quote(v),
        std::string(column)};
  }
  *out = *n;
  return std::nullopt;
}

// Seconds (a time or a duration) in [0, max]; `what` names it in messages.
std::optional<Problem> GetSeconds(std::string_view v, std::string_view column,
                                  std::string_view what, double max, double* out) {
  if (auto p = Empty(v, column)) {
    return p;
  }
  const auto d = ToDouble(v);
  if (!d) {
    return Problem{"expected a number of seconds, found " + Quote(v), std::string(column)};
  }
  if (*d < 0) {
    return Problem{"negative " + std::string(what) + " " + Quote(v), std::string(column)};
  }
  if (!(*d <= max)) {  // NaN too
    return Problem{std::string(what) + " " + Quote(v) + " out of range (at most " +
                       (max == kMaxDuration ? "10 years, " : "2100-01-01, ") +
                       std::to_string(static_cast<std::int64_t>(max)) + " s)",
                   std::string(column)};
  }
  *out = *d;
  return std::nullopt;
}

std::string Message(const std::string& file, std::size_t line, const Problem& p) {
  std::string msg = file + ":" + std::to_string(line) + ": " + p.what;
  if (!p.column.empty()) {
    msg += " (column " + p.column + ")";
  }
  return msg;
}

// "a philly", "an elasticflow".
std::string WithArticle(std::string_view word) {
  const bool vowel =
      !word.empty() && std::string_view("aeiou").find(word.front()) != std::string_view::npos;
  return (vowel ? "an " : "a ") + std::string(word);
}

// Reads the header (the first non-blank line). Fails when a required column is missing.
Result<CsvLayout> ReadHeader(LineCursor* lines, const std::string& file, std::string_view format,
                             const std::vector<ColumnSpec>& wanted) {
  std::string_view line;
  bool found = false;
  while (lines->Next(&line)) {
    if (!IsBlank(line)) {
      found = true;
      break;
    }
  }
  auto expected = [&] {
    std::string names;
    for (const auto& c : wanted) {
      if (!c.required) {
        continue;
      }
      if (!names.empty()) {
        names += ',';
      }
      names += c.name;
    }
    return names;
  };
  const std::string a_format = WithArticle(format);
  if (!found) {
    return InvalidArgument(file + ": empty file, expected " + a_format + " header with columns " +
                           expected());
  }
  const std::string where = file + ":" + std::to_string(lines->number()) + ": ";
  if (HasBinary(line)) {
    return InvalidArgument(where + "binary data where " + a_format +
                           " header was expected (columns " + expected() + ")");
  }
  std::vector<std::string_view> names;
  Split(line, ',', &names);
  CsvLayout layout;
  layout.fields = names.size();
  for (const auto& c : wanted) {
    int at = -1;
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (CleanField(names[i]) == c.name) {
        at = static_cast<int>(i);
        break;
      }
    }
    if (at < 0 && c.required) {
      std::string msg = where;
      msg += "not " + a_format + " header: no column '";
      msg += c.name;
      msg += "' (expected columns " + expected() + ", found " + Quote(line) + ")";
      if (!c.hint.empty()) {
        msg += "; ";
        msg += c.hint;
      }
      return InvalidArgument(std::move(msg));
    }
    layout.pos.push_back(at);
  }
  return layout;
}

// The field of wanted column `i` ("" when the file has no such column).
std::string_view Field(const std::vector<std::string_view>& fields, const CsvLayout& layout,
                       std::size_t i) {
  const int at = layout.pos[i];
  return at < 0 ? std::string_view() : fields[static_cast<std::size_t>(at)];
}

Status FailOnBadLine(std::string message) { return InvalidArgument(std::move(message)); }

Result<std::size_t> ForEachRow(const std::string& file, std::string_view text,
                               const TableFormat& format, const BadLinePolicy& on_bad,
                               const RowFn& row) {
  LineCursor lines(text);
  CsvLayout layout;
  if (format.fixed_fields > 0) {
    layout.fields = format.fixed_fields;
    for (std::size_t i = 0; i < format.fixed_fields; ++i) {
      layout.pos.push_back(static_cast<int>(i));
    }
  } else {
    auto header = ReadHeader(&lines, file, format.name, format.columns);
    if (!header.ok()) {
      return header.status();
    }
    layout = std::move(header).value();
  }
  const char* kind = format.sep == '\t' ? "tab-separated" : "comma-separated";
  std::size_t data_lines = 0;
  std::vector<std::string_view> fields;
  std::string_view line;
  while (lines.Next(&line)) {
    if (IsBlank(line)) {
      continue;
    }
    ++data_lines;
    std::optional<Problem> problem;
    if (HasBinary(line)) {
      problem = Problem{"binary data, not a text line", ""};
    } else {
      Split(line, format.sep, &fields);
      if (fields.size() != layout.fields) {
        problem = Problem{"expected " + std::to_string(layout.fields) + " " + kind +
                              " fields, found " + std::to_string(fields.size()),
                          ""};
      } else {
        for (auto& f : fields) {
          f = CleanField(f);
        }
        problem = row(Row(lines.number(), fields, layout));
      }
    }
    if (problem) {
      if (Status st = on_bad(Message(file, lines.number(), *problem)); !st.ok()) {
        return st;
      }
    }
  }
  return data_lines;
}

}  // namespace sovgrid::traces::csv
