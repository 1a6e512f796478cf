#include "report/format.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace sovgrid::report {

// Characters as a terminal shows them (UTF-8 continuation bytes do not count).
std::size_t DisplayWidth(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// At most `max_chars` characters, with an ellipsis when cut (never inside a UTF-8 sequence).
std::string Truncate(std::string_view text, std::size_t max_chars) {
  if (DisplayWidth(text) <= max_chars) return std::string(text);
  std::string out;
  std::size_t chars = 0;
  for (char c : text) {
    const bool starts_char = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts_char && ++chars > max_chars - 1) break;
    out += c;
  }
  return out + "\u2026";
}

std::string WithThousands(long long value) {
  const std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

double Clamp01(double v) { return std::isfinite(v) ? std::clamp(v, 0.0, 1.0) : 0.0; }

// With one decimal, "2.0" shortened to "2".
std::string OneDecimal(double v) {
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s;
}

// 0 s, 2.5 s, 41 s, 41 min, 1 h, 23.9 h, 4.2 d.
std::string HumanDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return std::string(kMissing);
  if (seconds < 10) return OneDecimal(seconds) + " s";
  if (seconds < 60) return fmt::format("{:.0f} s", seconds);
  if (seconds < 3600 - 30) return fmt::format("{:.0f} min", seconds / 60);
  if (seconds < 72 * 3600) return OneDecimal(seconds / 3600) + " h";
  return OneDecimal(seconds / 86400) + " d";
}

// 2 significant decimals for small numbers, thousands separators for large ones.
std::string Magnitude(double v) {
  if (!std::isfinite(v)) return std::string(kMissing);
  const double a = std::fabs(v);
  if (a == 0) return "0";
  if (a < 10) return fmt::format("{:.2f}", v);
  if (a < 1000) return fmt::format("{:.1f}", v);
  return WithThousands(std::llround(v));
}

// Shortest exact form for CSV; empty for non-finite values.
std::string CsvNumber(double v) { return std::isfinite(v) ? fmt::format("{}", v) : std::string(); }

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace sovgrid::report
