// Text and numbers for people and for CSV files, shared by every report
// writer (the twin's, the fill experiment's) and the HTML building blocks
// (html.h). Pure functions; none throws on NaN or infinities.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sovgrid::report {

inline constexpr std::string_view kMissing = "\u2014";  // an em dash for "no value"

// Characters as a terminal shows them (UTF-8 continuation bytes do not count).
std::size_t DisplayWidth(std::string_view text);
// At most `max_chars` characters, with an ellipsis when cut (never inside a UTF-8 sequence).
std::string Truncate(std::string_view text, std::size_t max_chars);
std::string WithThousands(long long value);  // 1,234,567
double Clamp01(double v);                    // NaN -> 0
std::string OneDecimal(double v);            // "2.5", "2" (not "2.0")
std::string HumanDuration(
    double seconds);              // 0 s, 2.5 s, 41 min, 23.9 h, 4.2 d; kMissing if invalid
std::string Magnitude(double v);  // 0.25, 12.5, 1,234
std::string CsvNumber(double v);  // shortest exact form; empty for NaN/inf
std::string CsvField(std::string_view text);  // quoted when it holds , " or a line break

}  // namespace sovgrid::report
