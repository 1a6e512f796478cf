#include "scenario/toml_limits.h"

#include <toml++/toml.h>

#include <filesystem>
#include <fstream>
#include <system_error>

namespace sovgrid::scenario {

namespace {

// Where the scan is: 1-based line and column of byte `i`.
struct Cursor {
  int line = 1;
  std::size_t line_start = 0;
  int Column(std::size_t i) const { return static_cast<int>(i - line_start) + 1; }
};

}  // namespace

std::optional<Diagnostic> CheckTomlText(std::string_view text, std::string_view source_name,
                                        const TomlLimits& limits) {
  auto problem = [&](int line, int column, std::string message) {
    return Diagnostic{std::string(source_name), line, column, "", std::move(message)};
  };
  if (text.size() > limits.max_bytes) {
    return problem(0, 0,
                   "document of " + std::to_string(text.size()) +
                       " bytes, more than the limit of " + std::to_string(limits.max_bytes));
  }
  Cursor at;
  // Dots since the last character that ends a key (=, newline, brackets, braces,
  // comma): a dotted key or header has dots + 1 parts. A value such as 1.5 or a
  // date-time with fractional seconds has at most one dot and counts the same:
  // harmless within any limit >= 2.
  int dots = 0;
  int nesting = 0;  // arrays and inline tables open here (headers included)
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char ch = text[i];
    switch (ch) {
      case '\n':
        ++at.line;
        at.line_start = i + 1;
        dots = 0;
        break;
      case '#':  // a comment runs to the end of the line
        while (i + 1 < n && text[i + 1] != '\n') ++i;
        break;
      case '"':
      case '\'': {
        // Basic ("...", escapes) or literal ('...') string; tripled, multi-line.
        const bool basic = ch == '"';
        const bool multi = i + 2 < n && text[i + 1] == ch && text[i + 2] == ch;
        i += multi ? 3 : 1;
        for (; i < n; ++i) {
          const char c = text[i];
          if (c == '\n') {
            ++at.line;
            at.line_start = i + 1;
            if (!multi) break;  // an unterminated string: toml++ reports it
          } else if (basic && c == '\\') {
            if (i + 1 < n && text[i + 1] == '\n') {
              ++at.line;
              at.line_start = i + 2;
            }
            ++i;
          } else if (c == ch && (!multi || (i + 2 < n && text[i + 1] == ch && text[i + 2] == ch))) {
            if (multi) {
              i += 2;
              // Up to two more quotes may close a multi-line string ("""a"""").
              while (i + 1 < n && text[i + 1] == ch) ++i;
            }
            break;
          }
        }
        if (i < n && text[i] == '\n') {
          dots = 0;  // the line ended inside an unterminated one-line string
        }
        break;
      }
      case '.':
        if (++dots + 1 > limits.max_key_parts) {
          return problem(
              at.line, at.Column(i),
              "key with more than " + std::to_string(limits.max_key_parts) + " dotted parts");
        }
        break;
      case '[':
      case '{':
        dots = 0;
        if (++nesting > limits.max_nesting) {
          return problem(
              at.line, at.Column(i),
              "arrays or inline tables nested deeper than " + std::to_string(limits.max_nesting));
        }
        break;
      case ']':
      case '}':
        dots = 0;
        if (nesting > 0) --nesting;  // an unbalanced closer is toml++'s to report
        break;
      case '=':
      case ',':
        dots = 0;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

std::optional<Diagnostic> ParseTomlBounded(std::string_view text, std::string_view source_name,
                                           toml::table* out, const TomlLimits& limits) {
  *out = toml::table();
  if (auto p = CheckTomlText(text, source_name, limits)) return p;
  try {
    *out = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    return Diagnostic{std::string(source_name), static_cast<int>(src.begin.line),
                      static_cast<int>(src.begin.column), "",
                      "TOML syntax error: " + std::string(e.description())};
  }
  return std::nullopt;
}

std::optional<Diagnostic> ReadTomlFile(const std::string& path, std::string* text,
                                       const TomlLimits& limits) {
  text->clear();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Diagnostic{path, 0, 0, "", "cannot open file"};
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > limits.max_bytes) {
    return Diagnostic{path, 0, 0, "",
                      "file of " + std::to_string(size) + " bytes, more than the limit of " +
                          std::to_string(limits.max_bytes)};
  }
  // Read in 64 KiB chunks, stopping past max_bytes, so that a file without a
  // size (a pipe) is bounded too.
  std::string buf(std::size_t{64} << 10, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    text->append(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (text->size() > limits.max_bytes) {
      text->clear();
      return Diagnostic{
          path, 0, 0, "",
          "file of more than the limit of " + std::to_string(limits.max_bytes) + " bytes"};
    }
  }
  if (in.bad()) return Diagnostic{path, 0, 0, "", "cannot read file"};
  return std::nullopt;
}

std::optional<Diagnostic> ParseTomlFile(const std::string& path, toml::table* out,
                                        const TomlLimits& limits) {
  *out = toml::table();
  std::string text;
  if (auto p = ReadTomlFile(path, &text, limits)) return p;
  return ParseTomlBounded(text, path, out, limits);
}

}  // namespace sovgrid::scenario
