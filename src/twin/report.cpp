#include "twin/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

namespace sovgrid::twin {
namespace {

using Json = nlohmann::ordered_json;

// ===========================================================================
// Files
// ===========================================================================

std::string ErrnoMessage(int error) {
  return std::error_code(error, std::generic_category()).message();
}

Status WriteFile(const std::string& path, std::string_view content) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr)
    return IoError(fmt::format("cannot write {}: {}", path, ErrnoMessage(errno)));
  const bool written = std::fwrite(content.data(), 1, content.size(), file) == content.size();
  const int write_error = errno;
  const bool closed = std::fclose(file) == 0;
  if (!written || !closed) {
    return IoError(
        fmt::format("cannot write {}: {}", path, ErrnoMessage(written ? errno : write_error)));
  }
  return Status::Ok();
}

Status MakeDirectory(const std::string& dir) {
  if (dir.empty()) return IoError("cannot create directory \"\": empty path");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError(fmt::format("cannot create directory {}: {}", dir, ec.message()));
  if (!std::filesystem::is_directory(dir, ec)) {
    return IoError(fmt::format("cannot create directory {}: a file of that name exists", dir));
  }
  return Status::Ok();
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return (std::filesystem::path(dir) / name).string();
}

// ===========================================================================
// Text and numbers
// ===========================================================================

constexpr std::string_view kMissing = "\u2014";  // an em dash for "no value"

// Escapes text for HTML and SVG (content and attribute values alike).
std::string Esc(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters are not allowed in HTML text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\t') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

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

// Approximate width in pixels of SVG text at 12px in a sans-serif font.
double TextWidth(std::string_view text, double font_px = 12) {
  return static_cast<double>(DisplayWidth(text)) * font_px * 0.56;
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

// ===========================================================================
// The summary figures, shared by the terminal table and the HTML table
// ===========================================================================

enum class Better { kNone, kLower, kHigher };
enum class Unit { kCount, kDuration, kPercent, kGpuHours, kMwh, kIndex, kSeconds, kMegabytes };

struct Figure {
  std::string_view label;
  Unit unit;
  Better better;
  double (*value)(const PolicyResult&);
};

double D(std::size_t v) { return static_cast<double>(v); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// A JCT percentile means nothing when no job finished.
double IfFinished(const PolicyResult& p, double v) { return p.jobs_finished > 0 ? v : kNaN; }
double IfJobs(const PolicyResult& p, double v) { return p.jobs > 0 ? v : kNaN; }

constexpr Figure kFigures[] = {
    {"jobs", Unit::kCount, Better::kNone, [](const PolicyResult& p) { return D(p.jobs); }},
    {"finished", Unit::kCount, Better::kHigher,
     [](const PolicyResult& p) { return D(p.jobs_finished); }},
    {"unfinished", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.jobs_unfinished); }},
    {"rejected", Unit::kCount, Better::kNone,
     [](const PolicyResult& p) { return D(p.jobs_rejected); }},
    {"mean JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.mean_jct_s); }},
    {"p50 JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.p50_jct_s); }},
    {"p95 JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.p95_jct_s); }},
    {"p99 JCT", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfFinished(p, p.p99_jct_s); }},
    {"mean queue wait", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfJobs(p, p.mean_queue_s); }},
    {"p95 queue wait", Unit::kDuration, Better::kLower,
     [](const PolicyResult& p) { return IfJobs(p, p.p95_queue_s); }},
    {"utilization", Unit::kPercent, Better::kHigher,
     [](const PolicyResult& p) { return p.utilization; }},
    {"fragmentation", Unit::kPercent, Better::kLower,
     [](const PolicyResult& p) { return p.fragmentation; }},
    {"preemptions", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.preemptions); }},
    {"lost work", Unit::kGpuHours, Better::kLower,
     [](const PolicyResult& p) { return p.lost_gpu_hours; }},
    {"energy", Unit::kMwh, Better::kNone, [](const PolicyResult& p) { return p.energy_mwh; }},
    {"Jain index", Unit::kIndex, Better::kHigher,
     [](const PolicyResult& p) { return p.jain_index; }},
    {"residency violations", Unit::kCount, Better::kLower,
     [](const PolicyResult& p) { return D(p.residency_violations); }},
    {"scheduler CPU", Unit::kSeconds, Better::kLower,
     [](const PolicyResult& p) { return p.scheduler_cpu_s; }},
    {"decisions", Unit::kCount, Better::kNone,
     [](const PolicyResult& p) { return D(p.decisions); }},
    {"cycles", Unit::kCount, Better::kNone, [](const PolicyResult& p) { return D(p.cycles); }},
    {"wall time", Unit::kSeconds, Better::kLower, [](const PolicyResult& p) { return p.wall_s; }},
    {"peak RSS", Unit::kMegabytes, Better::kLower,
     [](const PolicyResult& p) { return p.peak_rss_mb; }},
};

std::string FormatFigure(Unit unit, double v) {
  if (!std::isfinite(v)) return std::string(kMissing);
  switch (unit) {
    case Unit::kCount:
      return WithThousands(std::llround(v));
    case Unit::kDuration:
      return HumanDuration(v);
    case Unit::kPercent:
      return fmt::format("{:.1f}%", 100 * v);
    case Unit::kGpuHours:
      return Magnitude(v) + " GPU-h";
    case Unit::kMwh:
      return Magnitude(v) + " MWh";
    case Unit::kIndex:
      return fmt::format("{:.3f}", v);
    case Unit::kSeconds:
      return Magnitude(v) + " s";
    case Unit::kMegabytes:
      return fmt::format("{:.0f} MB", v);
  }
  return std::string(kMissing);
}

// Which policies hold the best value of a figure; none when all are equal or
// fewer than two policies have a value.
std::vector<bool> BestOf(const std::vector<double>& values, Better better) {
  std::vector<bool> best(values.size(), false);
  if (better == Better::kNone) return best;
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  int finite = 0;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    ++finite;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (finite < 2 || lo == hi) return best;
  const double target = better == Better::kLower ? lo : hi;
  for (std::size_t i = 0; i < values.size(); ++i) best[i] = values[i] == target;
  return best;
}

// ===========================================================================
// JSON
// ===========================================================================

// Every scalar of a PolicyResult, under its own name. summary.csv uses the same keys.
Json PolicyScalars(const PolicyResult& p) {
  Json j;
  j["policy"] = p.policy;
  j["jobs"] = p.jobs;
  j["jobs_finished"] = p.jobs_finished;
  j["jobs_rejected"] = p.jobs_rejected;
  j["jobs_unfinished"] = p.jobs_unfinished;
  j["mean_jct_s"] = p.mean_jct_s;
  j["p50_jct_s"] = p.p50_jct_s;
  j["p95_jct_s"] = p.p95_jct_s;
  j["p99_jct_s"] = p.p99_jct_s;
  j["mean_queue_s"] = p.mean_queue_s;
  j["p50_queue_s"] = p.p50_queue_s;
  j["p95_queue_s"] = p.p95_queue_s;
  j["p99_queue_s"] = p.p99_queue_s;
  j["utilization"] = p.utilization;
  j["fragmentation"] = p.fragmentation;
  j["preemptions"] = p.preemptions;
  j["lost_gpu_hours"] = p.lost_gpu_hours;
  j["energy_mwh"] = p.energy_mwh;
  j["residency_violations"] = p.residency_violations;
  j["jain_index"] = p.jain_index;
  j["scheduler_cpu_s"] = p.scheduler_cpu_s;
  j["decisions"] = p.decisions;
  j["cycles"] = p.cycles;
  j["wall_s"] = p.wall_s;
  j["peak_rss_mb"] = p.peak_rss_mb;
  j["simulated_s"] = p.simulated_s;
  j["sample_interval_s"] = p.sample_interval_s;
  return j;
}

std::string DumpJson(const Json& j) {
  // Invalid UTF-8 in a name is replaced rather than thrown on.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string CsvValue(const Json& v) {
  if (v.is_string()) return CsvField(v.get<std::string>());
  if (v.is_number_float()) return CsvNumber(v.get<double>());
  if (v.is_number() || v.is_boolean()) return v.dump();
  return "";
}

// ===========================================================================
// Colours
// ===========================================================================

// One colour per policy, the same in every chart and table.
constexpr std::string_view kPolicyColors[] = {"#2563eb", "#ea580c", "#16a34a", "#9333ea",
                                              "#dc2626", "#0891b2", "#ca8a04", "#db2777",
                                              "#4b5563", "#65a30d"};
std::string PolicyColor(std::size_t i) {
  return std::string(kPolicyColors[i % std::size(kPolicyColors)]);
}
constexpr std::string_view kEntitlementColor = "#9ca3af";

// A sequential scale for utilization (0..1), quantised to 5% steps so that
// neighbouring heatmap cells of the same colour merge.
std::string UtilColor(double u) {
  struct Rgb {
    double r, g, b;
  };
  static constexpr Rgb kStops[] = {{0xf1, 0xf5, 0xf9},
                                   {0xbf, 0xdb, 0xfe},
                                   {0x60, 0xa5, 0xfa},
                                   {0x1d, 0x4e, 0xd8},
                                   {0x17, 0x25, 0x54}};
  const double q = std::round(Clamp01(u) * 20) / 20;
  const double pos = q * static_cast<double>(std::size(kStops) - 1);
  const auto i = std::min(static_cast<std::size_t>(pos), std::size(kStops) - 2);
  const double t = pos - static_cast<double>(i);
  auto mix = [&](double a, double b) { return static_cast<int>(std::lround(a + (b - a) * t)); };
  return fmt::format("#{:02x}{:02x}{:02x}", mix(kStops[i].r, kStops[i + 1].r),
                     mix(kStops[i].g, kStops[i + 1].g), mix(kStops[i].b, kStops[i + 1].b));
}

// ===========================================================================
// SVG primitives
// ===========================================================================

// A coordinate: one decimal, never NaN.
std::string Px(double v) {
  if (!std::isfinite(v)) return "0";
  std::string s = OneDecimal(v);
  return s == "-0" ? "0" : s;
}

class Svg {
 public:
  Svg(double width, double height, std::string_view label) {
    out_ = fmt::format(
        R"(<svg viewBox="0 0 {0} {1}" width="{0}" height="{1}" role="img" aria-label="{2}">)",
        Px(width), Px(height), Esc(label));
    out_ += '\n';
  }
  void Line(double x1, double y1, double x2, double y2, std::string_view cls) {
    out_ += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" class="{}"/>)", Px(x1), Px(y1),
                        Px(x2), Px(y2), cls);
    out_ += '\n';
  }
  void Rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view title = {}) {
    out_ += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}")", Px(x), Px(y),
                        Px(std::max(w, 0.0)), Px(std::max(h, 0.0)), fill);
    if (title.empty()) {
      out_ += "/>\n";
    } else {
      out_ += fmt::format("><title>{}</title></rect>\n", Esc(title));
    }
  }
  // `cls` is a CSS class of the page: "" (tick label), "title", "axis", "muted".
  void Text(double x, double y, std::string_view text, std::string_view anchor = "start",
            std::string_view cls = {}, std::string_view tooltip = {}) {
    out_ += fmt::format(R"(<text x="{}" y="{}")", Px(x), Px(y));
    if (anchor != "start") out_ += fmt::format(R"( text-anchor="{}")", anchor);
    if (!cls.empty()) out_ += fmt::format(R"( class="{}")", cls);
    out_ += '>';
    out_ += Esc(text);
    if (!tooltip.empty()) out_ += fmt::format("<title>{}</title>", Esc(tooltip));
    out_ += "</text>\n";
  }
  void VerticalText(double x, double y, std::string_view text, std::string_view cls) {
    out_ += fmt::format(
        R"svg(<text transform="translate({},{}) rotate(-90)" text-anchor="middle" class="{}">{}</text>)svg",
        Px(x), Px(y), cls, Esc(text));
    out_ += '\n';
  }
  void Path(std::string_view d, std::string_view color, std::string_view title,
            bool dashed = false) {
    out_ += fmt::format(R"(<path d="{}" stroke="{}" class="series{}"><title>{}</title></path>)", d,
                        color, dashed ? " dashed" : "", Esc(title));
    out_ += '\n';
  }
  std::string Finish() { return std::move(out_) + "</svg>\n"; }

 private:
  std::string out_;
};

// ===========================================================================
// Axes
// ===========================================================================

struct Tick {
  double value;
  std::string label;
};

struct Axis {
  std::string title;  // with its unit
  double lo = 0, hi = 1;
  bool log = false;
  std::vector<Tick> ticks;

  // Where v lies between lo (0) and hi (1); clamped.
  double Fraction(double v) const {
    double t = 0;
    if (log) {
      const double lv = std::log10(std::max(v, lo));
      t = (lv - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    } else {
      t = (v - lo) / (hi - lo);
    }
    return std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  }
};

// 1, 2 or 5 times a power of ten, giving about `target` steps over `span`.
double NiceStep(double span, double target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / magnitude;
  return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
}

// 0.5, 12, 12k, 1.5M.
std::string TickNumber(double v, double step) {
  if (v == 0) return "0";
  auto fixed = [](double x, double s) {
    int decimals = 0;  // as many as the step needs: 0.25 -> 2
    while (decimals < 6 && std::fabs(s * std::pow(10.0, decimals) -
                                     std::round(s * std::pow(10.0, decimals))) > 1e-6) {
      ++decimals;
    }
    return fmt::format("{:.{}f}", x, decimals);
  };
  const double a = std::fabs(v);
  if (a >= 1e6 && step >= 1e5) return fixed(v / 1e6, step / 1e6) + "M";
  if (a >= 1e4 && step >= 1e3) return fixed(v / 1e3, step / 1e3) + "k";
  if (step >= 1) return WithThousands(std::llround(v));  // 5,000
  return fixed(v, step);
}

// A linear axis from `lo` to `hi` widened to whole steps. `scale` multiplies
// values for their labels (100 for percent) and `suffix` follows them.
Axis LinearAxis(std::string title, double lo, double hi, double scale = 1,
                std::string_view suffix = {}, double target_ticks = 5) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi <= lo) hi = lo + (lo == 0 ? 1 : std::fabs(lo));
  const double step = NiceStep((hi - lo) * scale, target_ticks) / scale;
  Axis axis;
  axis.title = std::move(title);
  axis.lo = std::floor(lo / step + 1e-9) * step;
  axis.hi = std::ceil(hi / step - 1e-9) * step;
  const auto n = static_cast<long long>(std::llround((axis.hi - axis.lo) / step));
  for (long long i = 0; i <= n; ++i) {
    const double v = axis.lo + static_cast<double>(i) * step;
    axis.ticks.push_back({v, TickNumber(v * scale, step * scale) + std::string(suffix)});
  }
  return axis;
}

Axis PercentAxis(std::string title, double hi = 1) {
  return LinearAxis(std::move(title), 0, std::min(std::max(hi, 1e-3), 1.0), 100, "%");
}

// Time since the start, in hours as the axis' unit; labelled in days when the run is long.
Axis TimeAxis(double span_hours) {
  if (!std::isfinite(span_hours) || span_hours <= 0) span_hours = 1;
  Axis axis;
  axis.hi = span_hours;
  double unit = 1;  // hours per label unit
  double step = 1;
  if (span_hours > 72) {
    unit = 24;
    axis.title = "time since start (days)";
    step = std::max(1.0, NiceStep(span_hours / 24, 8));
  } else {
    axis.title = "time since start (hours)";
    static constexpr double kHourSteps[] = {0.25, 0.5, 1, 2, 3, 6, 12};
    step = 24;
    for (double s : kHourSteps) {
      if (span_hours / s <= 12) {
        step = s;
        break;
      }
    }
  }
  // End on a tick when the last one is near: 13.96 days shows as 0..14.
  const double last_tick = std::ceil(span_hours / (step * unit) - 1e-9) * step * unit;
  if (last_tick <= span_hours * 1.1) axis.hi = last_tick;
  for (long long i = 0;; ++i) {
    const double v = static_cast<double>(i) * step;
    if (v * unit > axis.hi * (1 + 1e-9)) break;
    axis.ticks.push_back({v * unit, TickNumber(v, step)});
  }
  return axis;
}

// A log axis for durations, ticked at 1 s, 10 s, 1 min, 10 min, 1 h, 6 h, 1 d...
Axis DurationLogAxis(std::string title, double min_s, double max_s) {
  static const std::pair<double, std::string_view> kTicks[] = {
      {0.1, "0.1 s"},      {1, "1 s"},           {10, "10 s"},         {60, "1 min"},
      {600, "10 min"},     {3600, "1 h"},        {6 * 3600, "6 h"},    {86400, "1 d"},
      {7 * 86400, "1 wk"}, {30 * 86400, "30 d"}, {365 * 86400, "1 y"}, {3650 * 86400.0, "10 y"}};
  if (!std::isfinite(min_s) || min_s <= 0) min_s = 1;
  if (!std::isfinite(max_s) || max_s < min_s) max_s = min_s;
  std::size_t first = 0, last = std::size(kTicks) - 1;
  for (std::size_t i = 0; i < std::size(kTicks); ++i) {
    if (kTicks[i].first <= min_s * (1 + 1e-9)) first = i;
  }
  for (std::size_t i = std::size(kTicks); i-- > 0;) {
    if (kTicks[i].first >= max_s * (1 - 1e-9)) last = i;
  }
  if (last <= first) {  // all values at one tick
    if (first > 0) --first;
    last = std::min(first + 2, std::size(kTicks) - 1);
  }
  Axis axis;
  axis.title = std::move(title);
  axis.log = true;
  axis.lo = std::min(kTicks[first].first, min_s);
  axis.hi = std::max(kTicks[last].first, max_s);
  for (std::size_t i = first; i <= last; ++i)
    axis.ticks.push_back({kTicks[i].first, std::string(kTicks[i].second)});
  return axis;
}

// ===========================================================================
// Charts
// ===========================================================================

struct Point {
  double x, y;
};

struct Line {
  std::string label;
  std::string color;
  std::vector<Point> points;  // non-finite y breaks the line
  bool dashed = false;
};

struct ChartOptions {
  std::string title;  // drawn at the top left; empty for none
  double width = 1100;
  double plot_height = 260;  // the plot area; legend and axes come on top
  bool legend = true;
};

constexpr std::size_t kMaxPoints = 2000;

// Keeps long series drawable: per bucket its minimum and maximum, in order, so
// that peaks survive.
std::vector<Point> Decimate(const std::vector<Point>& points, std::size_t max_points = kMaxPoints) {
  if (points.size() <= max_points) return points;
  const std::size_t buckets = max_points / 2;
  std::vector<Point> out;
  out.reserve(max_points);
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t begin = b * points.size() / buckets, end = (b + 1) * points.size() / buckets;
    std::size_t lo = end, hi = end;
    for (std::size_t i = begin; i < end; ++i) {
      if (!std::isfinite(points[i].y)) continue;
      if (lo == end || points[i].y < points[lo].y) lo = i;
      if (hi == end || points[i].y > points[hi].y) hi = i;
    }
    if (lo == end) {
      out.push_back({points[begin].x, kNaN});
    } else if (lo == hi) {
      out.push_back(points[lo]);
    } else {
      out.push_back(points[std::min(lo, hi)]);
      out.push_back(points[std::max(lo, hi)]);
    }
  }
  return out;
}

// Points of a series sampled every `interval_h` hours from 0.
std::vector<Point> SeriesPoints(const Series& series, double interval_h) {
  std::vector<Point> points;
  points.reserve(series.values.size());
  for (std::size_t i = 0; i < series.values.size(); ++i) {
    points.push_back({static_cast<double>(i) * interval_h, series.values[i]});
  }
  return points;
}

struct LegendItem {
  std::string label;
  std::string color;
  bool dashed = false;
};

// Lays legend entries out in rows within `width` and draws them into `svg`
// unless it is null; returns the number of rows.
int DrawLegend(Svg* svg, const std::vector<LegendItem>& items, double x0, double y0, double width) {
  if (items.empty()) return 0;
  double x = x0;
  int rows = 1;
  for (const auto& item : items) {
    const std::string label = Truncate(item.label, 48);
    const double w = 26 + TextWidth(label) + 18;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      ++rows;
    }
    const double y = y0 + (rows - 1) * 18.0;
    if (svg != nullptr) {
      svg->Rect(x, y - 5, 18, 3, item.color);
      if (item.dashed) svg->Rect(x + 6, y - 5, 4, 3, "#fff");
      svg->Text(x + 24, y, label, "start", "legend", item.label);
    }
    x += w;
  }
  return rows;
}

std::string NoDataSvg(const ChartOptions& o, std::string_view message) {
  Svg svg(o.width, 60, o.title);
  if (!o.title.empty()) svg.Text(0, 16, o.title, "start", "title");
  svg.Text(o.width / 2, 42, message, "middle", "muted");
  return svg.Finish();
}

// A line chart with light grid lines, ticks, axis titles and a legend on top.
std::string LineChart(const Axis& x, const Axis& y, const std::vector<Line>& lines,
                      const ChartOptions& o) {
  const bool any = std::any_of(lines.begin(), lines.end(), [](const Line& l) {
    return std::any_of(l.points.begin(), l.points.end(),
                       [](Point p) { return std::isfinite(p.y); });
  });
  if (!any) return NoDataSvg(o, "no data");

  const double left = 64, right = 28, bottom = 44;
  const double plot_w = o.width - left - right;
  double top = o.title.empty() ? 12 : 34;
  std::vector<LegendItem> legend;
  if (o.legend) {
    for (const auto& l : lines) legend.push_back({l.label, l.color, l.dashed});
  }
  const int legend_rows = DrawLegend(nullptr, legend, left, top, plot_w);
  const double legend_y = top + 4;
  top += legend_rows * 18.0 + (legend_rows > 0 ? 8 : 0);
  const double height = top + o.plot_height + bottom;

  Svg svg(o.width, height, o.title);
  if (!o.title.empty()) svg.Text(0, 16, o.title, "start", "title");
  DrawLegend(&svg, legend, left, legend_y, plot_w);

  auto px = [&](double v) { return left + x.Fraction(v) * plot_w; };
  auto py = [&](double v) { return top + (1 - y.Fraction(v)) * o.plot_height; };
  for (const auto& t : y.ticks) {
    svg.Line(left, py(t.value), left + plot_w, py(t.value), "grid");
    svg.Text(left - 8, py(t.value) + 4, t.label, "end");
  }
  for (const auto& t : x.ticks) {
    svg.Line(px(t.value), top, px(t.value), top + o.plot_height, "grid");
    svg.Text(px(t.value), top + o.plot_height + 18, t.label, "middle");
  }
  svg.Line(left, top + o.plot_height, left + plot_w, top + o.plot_height, "axis");
  svg.Line(left, top, left, top + o.plot_height, "axis");
  svg.Text(left + plot_w / 2, height - 6, x.title, "middle", "axis-title");
  svg.VerticalText(14, top + o.plot_height / 2, y.title, "axis-title");

  for (const auto& line : lines) {
    std::string d;
    bool pen_down = false;
    std::size_t run = 0;
    for (const Point& p : Decimate(line.points)) {
      if (!std::isfinite(p.y) || !std::isfinite(p.x)) {
        if (run == 1) d += " h0.1";  // a lone point still shows as a dot
        pen_down = false;
        run = 0;
        continue;
      }
      d += fmt::format("{}{} {}", pen_down ? " L" : (d.empty() ? "M" : " M"), Px(px(p.x)),
                       Px(py(p.y)));
      pen_down = true;
      ++run;
    }
    if (run == 1) d += " h0.1";
    if (!d.empty()) svg.Path(d, line.color, line.label, line.dashed);
  }
  return svg.Finish();
}

struct BarSeries {
  std::string label;
  std::string color;
};

struct BarGroup {
  std::string label;
  std::vector<double> values;  // one per series; non-finite for none
};

// Horizontal grouped bars: one band per group, one bar per series.
std::string GroupedBarChart(const std::vector<BarSeries>& series,
                            const std::vector<BarGroup>& groups, const Axis& x,
                            const ChartOptions& o, std::string (*format_value)(double)) {
  if (groups.empty() || series.empty()) return NoDataSvg(o, "no data");
  double label_w = 0;
  for (const auto& g : groups) label_w = std::max(label_w, TextWidth(Truncate(g.label, 36)));
  const double left = std::clamp(label_w + 16, 80.0, 300.0), right = 28, bottom = 44;
  const double plot_w = o.width - left - right;
  double top = o.title.empty() ? 12 : 34;
  std::vector<LegendItem> legend;
  legend.reserve(series.size());
  for (const auto& s : series) legend.push_back({s.label, s.color, false});
  const int legend_rows = DrawLegend(nullptr, legend, left, top, plot_w);
  const double legend_y = top + 4;
  top += legend_rows * 18.0 + 8;

  const double bar_h = std::clamp(24.0 / static_cast<double>(series.size()), 3.0, 9.0);
  const double band = static_cast<double>(series.size()) * bar_h + 10;
  const double plot_h = band * static_cast<double>(groups.size());
  const double height = top + plot_h + bottom;

  Svg svg(o.width, height, o.title);
  if (!o.title.empty()) svg.Text(0, 16, o.title, "start", "title");
  DrawLegend(&svg, legend, left, legend_y, plot_w);
  auto px = [&](double v) { return left + x.Fraction(v) * plot_w; };
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (g % 2 == 1) svg.Rect(left, top + band * static_cast<double>(g), plot_w, band, "#f9fafb");
  }
  for (const auto& t : x.ticks) {
    svg.Line(px(t.value), top, px(t.value), top + plot_h, "grid");
    svg.Text(px(t.value), top + plot_h + 18, t.label, "middle");
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double y0 = top + band * static_cast<double>(g) + 5;
    svg.Text(left - 8, y0 + (band - 10) / 2 + 4, Truncate(groups[g].label, 36), "end", {},
             groups[g].label);
    for (std::size_t s = 0; s < series.size() && s < groups[g].values.size(); ++s) {
      const double v = groups[g].values[s];
      if (!std::isfinite(v)) continue;
      svg.Rect(left, y0 + bar_h * static_cast<double>(s), px(v) - left, bar_h - 1, series[s].color,
               fmt::format("{} \u2014 {}: {}", groups[g].label, series[s].label, format_value(v)));
    }
  }
  svg.Line(left, top, left, top + plot_h, "axis");
  svg.Line(left, top + plot_h, left + plot_w, top + plot_h, "axis");
  svg.Text(left + plot_w / 2, height - 6, x.title, "middle", "axis-title");
  return svg.Finish();
}

struct HeatRow {
  std::string label;
  std::string group;  // rows of a group are adjacent; its name is shown once, on the left
  const std::vector<double>* values;
};

// Rows of utilization (0..1) over time as coloured cells, with a colour key.
std::string Heatmap(const std::vector<HeatRow>& rows, double interval_h, const ChartOptions& o) {
  std::size_t n = 0;
  for (const auto& r : rows) n = std::max(n, r.values->size());
  if (rows.empty() || n == 0) return NoDataSvg(o, "no data");
  const std::size_t columns = std::min<std::size_t>(n, 300);
  double label_w = 0, group_w = 0;
  for (const auto& r : rows) {
    label_w = std::max(label_w, TextWidth(Truncate(r.label, 28)));
    group_w = std::max(group_w, TextWidth(Truncate(r.group, 20)));
  }
  const double group_col = group_w > 0 ? group_w + 16 : 0;
  const double left = group_col + std::clamp(label_w + 12, 60.0, 240.0);
  const double right = 28, bottom = 80, row_h = 16;
  const double top = o.title.empty() ? 12 : 34;
  const double plot_w = o.width - left - right;
  const double plot_h = row_h * static_cast<double>(rows.size());
  const double height = top + plot_h + bottom;
  const Axis x = TimeAxis(static_cast<double>(n) * interval_h);
  auto px = [&](double hours) { return left + x.Fraction(hours) * plot_w; };

  Svg svg(o.width, height, o.title);
  if (!o.title.empty()) svg.Text(0, 16, o.title, "start", "title");
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const double y = top + row_h * static_cast<double>(r);
    const auto& values = *rows[r].values;
    if (r == 0 || rows[r].group != rows[r - 1].group) {
      if (r > 0) svg.Line(0, y, left + plot_w, y, "separator");
      svg.Text(0, y + 12, Truncate(rows[r].group, 20), "start", "axis-title", rows[r].group);
    }
    double sum = 0;
    std::size_t count = 0;
    for (double v : values) {
      if (!std::isfinite(v)) continue;
      sum += v;
      ++count;
    }
    const std::string mean = count > 0
                                 ? fmt::format("{:.1f}%", 100 * sum / static_cast<double>(count))
                                 : std::string("no data");
    svg.Text(left - 8, y + 12, Truncate(rows[r].label, 28), "end", {},
             fmt::format("{}: mean utilization {}", rows[r].label, mean));
    svg.Rect(left, y + 1, plot_w, row_h - 2, "#f3f4f6");
    // Buckets of samples, merged while their colour stays the same.
    std::string run_color;
    double run_start = 0;
    auto flush = [&](double end_hours) {
      if (!run_color.empty())
        svg.Rect(px(run_start), y + 1, px(end_hours) - px(run_start), row_h - 2, run_color);
    };
    for (std::size_t c = 0; c < columns; ++c) {
      const std::size_t begin = c * n / columns, end = (c + 1) * n / columns;
      double bucket_sum = 0;
      std::size_t bucket_count = 0;
      for (std::size_t i = begin; i < end && i < values.size(); ++i) {
        if (!std::isfinite(values[i])) continue;
        bucket_sum += values[i];
        ++bucket_count;
      }
      const std::string color = bucket_count > 0
                                    ? UtilColor(bucket_sum / static_cast<double>(bucket_count))
                                    : std::string();
      const double start_h = static_cast<double>(begin) * interval_h;
      if (color != run_color) {
        flush(start_h);
        run_color = color;
        run_start = start_h;
      }
    }
    flush(static_cast<double>(n) * interval_h);
  }
  for (const auto& t : x.ticks) {
    svg.Line(px(t.value), top + plot_h, px(t.value), top + plot_h + 4, "axis");
    svg.Text(px(t.value), top + plot_h + 18, t.label, "middle");
  }
  svg.Text(left + plot_w / 2, top + plot_h + 36, x.title, "middle", "axis-title");
  // Colour key.
  const double key_y = top + plot_h + 52, key_w = 24;
  svg.Text(left, key_y + 11, "utilization", "start", "muted");
  const double key_x = left + 70;
  for (int i = 0; i <= 10; ++i) {
    svg.Rect(key_x + key_w * i, key_y, key_w, 14, UtilColor(i / 10.0), fmt::format("{}%", i * 10));
  }
  svg.Text(key_x + key_w * 11 + 8, key_y + 11, "0% \u2192 100% (grey: no data)", "start", "muted");
  return svg.Finish();
}

// ===========================================================================
// HTML sections
// ===========================================================================

constexpr std::string_view kCss = R"css(
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#1f2937;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1200px;margin:0 auto;padding:24px}
header,section{background:#fff;border:1px solid #e5e7eb;border-radius:10px;padding:20px 24px;margin-bottom:20px}
h1{font-size:22px;margin:0 0 12px}
h2{font-size:17px;margin:0 0 4px}
h3{font-size:14px;margin:0 0 8px}
p.note{color:#6b7280;margin:0 0 14px;font-size:13px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}
dl.meta dt{color:#6b7280}
dl.meta dd{margin:0}
.warnings{margin-top:14px;background:#fffbeb;border:1px solid #fde68a;border-radius:8px;padding:10px 14px}
.warnings ul{margin:6px 0 0;padding-left:20px;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.policy{display:inline-flex;align-items:center;margin-right:16px;white-space:nowrap}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;margin-right:6px;flex:none}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
table.summary{width:100%}
table.summary th,table.summary td{padding:5px 12px;border-bottom:1px solid #f1f5f9;text-align:right;white-space:nowrap}
table.summary th{border-bottom:2px solid #e5e7eb;font-weight:600}
table.summary th:first-child,table.summary td:first-child{text-align:left;color:#374151}
table.summary tr.group td{border-top:1px solid #e5e7eb}
td.best{background:#dcfce7;color:#166534;font-weight:600}
td.bad{background:#fee2e2;color:#991b1b;font-weight:600}
svg{display:block;max-width:100%;height:auto;margin:4px 0 8px}
svg text{font-size:12px;fill:#4b5563}
svg text.title{font-size:13px;font-weight:600;fill:#1f2937}
svg text.axis-title{fill:#374151;font-weight:500}
svg text.muted{fill:#9ca3af}
svg text.legend{fill:#374151}
svg line.grid{stroke:#eceff3;stroke-width:1}
svg line.axis{stroke:#9ca3af;stroke-width:1}
svg line.separator{stroke:#d1d5db;stroke-width:1}
svg path.series{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
svg path.dashed{stroke-dasharray:6 4}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px 24px}
.regions{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:16px}
.region{border:1px solid #e5e7eb;border-radius:8px;padding:12px 14px;background:#fcfcfd}
.region h3 span{font-weight:400;color:#6b7280;margin-left:8px}
table.sites{width:100%;font-size:13px}
table.sites th{font-weight:600;color:#6b7280;font-size:12px;text-align:left;padding:3px 6px;border-bottom:1px solid #e5e7eb}
table.sites td{padding:3px 6px;vertical-align:middle}
table.sites tr.first td{border-top:1px solid #f1f5f9}
table.sites .num{text-align:right;white-space:nowrap}
table.sites td.util{white-space:nowrap}
table.sites td b{white-space:nowrap}
.sub{color:#6b7280;font-size:12px}
p.region-util{margin:0 0 8px;font-size:12px;color:#374151}
p.region-util>span{margin-right:14px;white-space:nowrap}
.badge{display:inline-block;font-size:11px;padding:0 6px;border-radius:9px;background:#e0f2fe;color:#075985;margin-left:6px}
.bar{display:inline-block;width:90px;height:10px;border-radius:3px;background:#eef2f7;vertical-align:middle;overflow:hidden;margin-right:8px}
.bar>span{display:block;height:100%}
footer{color:#9ca3af;font-size:12px;text-align:center;margin:8px 0 24px}
)css";

std::string PolicySwatch(std::size_t i, std::string_view name) {
  return fmt::format(
      R"(<span class="policy"><span class="swatch" style="background:{}"></span>{}</span>)",
      PolicyColor(i), Esc(name));
}

std::string PolicyLegendHtml(const TwinReport& report) {
  std::string out = R"(<p class="note">)";
  for (std::size_t i = 0; i < report.policies.size(); ++i)
    out += PolicySwatch(i, report.policies[i].policy);
  return out + "</p>\n";
}

double IntervalHours(const PolicyResult& p) {
  return std::isfinite(p.sample_interval_s) && p.sample_interval_s > 0 ? p.sample_interval_s / 3600
                                                                       : 1.0;
}

// The longest time any policy's series covers, in hours.
double SeriesSpanHours(const TwinReport& report, const Series PolicyResult::*series) {
  double span = 0;
  for (const auto& p : report.policies) {
    const auto& values = (p.*series).values;
    if (values.size() > 1)
      span = std::max(span, static_cast<double>(values.size() - 1) * IntervalHours(p));
  }
  return span;
}

std::string HeaderHtml(const TwinReport& report) {
  std::string out = "<header>\n<h1>sovgrid digital twin report</h1>\n<dl class=\"meta\">\n";
  out += fmt::format("<dt>Scenario</dt><dd>{}</dd>\n",
                     Esc(report.scenario.empty() ? "(unnamed)" : report.scenario));
  out += fmt::format("<dt>Workload</dt><dd>{}</dd>\n",
                     Esc(report.workload.empty() ? "(none)" : report.workload));
  out += "<dt>Policies compared</dt><dd>";
  if (report.policies.empty()) out += "none";
  for (std::size_t i = 0; i < report.policies.size(); ++i)
    out += PolicySwatch(i, report.policies[i].policy);
  out += "</dd>\n";
  if (!report.policies.empty()) {
    const PolicyResult& p = report.policies.front();
    out += fmt::format("<dt>Simulated time</dt><dd>{}, sampled every {}</dd>\n",
                       HumanDuration(p.simulated_s), HumanDuration(p.sample_interval_s));
  }
  out += fmt::format("<dt>Skipped input lines</dt><dd>{}</dd>\n",
                     WithThousands(static_cast<long long>(report.lines_skipped)));
  out += "</dl>\n";
  if (!report.warnings.empty()) {
    constexpr std::size_t kShown = 50;
    out += fmt::format("<div class=\"warnings\"><b>{} warning{}</b><ul>\n", report.warnings.size(),
                       report.warnings.size() == 1 ? "" : "s");
    for (std::size_t i = 0; i < report.warnings.size() && i < kShown; ++i) {
      out += fmt::format("<li>{}</li>\n", Esc(report.warnings[i]));
    }
    if (report.warnings.size() > kShown)
      out += fmt::format("<li>and {} more</li>\n", report.warnings.size() - kShown);
    out += "</ul></div>\n";
  }
  return out + "</header>\n";
}

std::string SummaryHtml(const TwinReport& report) {
  std::string out = "<section id=\"summary\">\n<h2>Summary</h2>\n";
  if (report.policies.empty())
    return out + "<p class=\"note\">No policies were run.</p>\n</section>\n";
  out +=
      "<p class=\"note\">The best value of each row is highlighted (when policies differ). "
      "JCT: job completion time, from submission to the end. Lost work: accelerator-hours "
      "thrown away by preemption and failures.</p>\n";
  out += "<table class=\"summary\">\n<thead><tr><th></th>";
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    out += "<th>" + PolicySwatch(i, report.policies[i].policy) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const Figure& f : kFigures) {
    std::vector<double> values, comparable;
    for (const auto& p : report.policies) {
      values.push_back(f.value(p));
      // A policy that ran no job is not a contender for the best value.
      comparable.push_back(p.jobs > 0 ? values.back() : kNaN);
    }
    const std::vector<bool> best = BestOf(comparable, f.better);
    const bool group_start =
        f.label == "mean JCT" || f.label == "utilization" || f.label == "scheduler CPU";
    out += group_start ? "<tr class=\"group\">" : "<tr>";
    out += fmt::format("<td>{}</td>", Esc(f.label));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const bool bad = f.label == "residency violations" && values[i] > 0;
      out += fmt::format("<td{}>{}</td>",
                         bad       ? " class=\"bad\""
                         : best[i] ? " class=\"best\""
                                   : "",
                         Esc(FormatFigure(f.unit, values[i])));
    }
    out += "</tr>\n";
  }
  return out + "</tbody></table>\n</section>\n";
}

// A card with a title, a note (HTML: callers escape any text in it) and a body (HTML).
std::string Section(std::string_view title, std::string_view note, std::string_view body) {
  return fmt::format("<section>\n<h2>{}</h2>\n<p class=\"note\">{}</p>\n{}</section>\n", Esc(title),
                     note, body);
}

// One line per policy of a series every policy has (utilization, queue length...).
std::string PolicySeriesChart(const TwinReport& report, const Series PolicyResult::*series,
                              const Axis& y, const std::string& title) {
  std::vector<Line> lines;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    lines.push_back({p.policy, PolicyColor(i), SeriesPoints(p.*series, IntervalHours(p)), false});
  }
  ChartOptions o;
  o.title = title;
  o.legend = report.policies.size() > 1;
  return LineChart(TimeAxis(SeriesSpanHours(report, series)), y, lines, o);
}

double MaxFinite(const TwinReport& report, const Series PolicyResult::*series) {
  double hi = 0;
  for (const auto& p : report.policies) {
    for (double v : (p.*series).values) {
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
  }
  return hi;
}

std::string UtilizationHtml(const TwinReport& report) {
  return Section(
      "Utilization over time",
      "Allocated accelerators as a share of the accelerators available, over the whole grid.",
      PolicySeriesChart(report, &PolicyResult::utilization_total,
                        PercentAxis("allocated accelerators (%)"), "Grid utilization"));
}

std::string QueueHtml(const TwinReport& report) {
  std::string body = PolicySeriesChart(
      report, &PolicyResult::queue_length,
      LinearAxis("pending jobs", 0, MaxFinite(report, &PolicyResult::queue_length)),
      "Queue length");
  body += PolicySeriesChart(
      report, &PolicyResult::running_jobs,
      LinearAxis("running jobs", 0, MaxFinite(report, &PolicyResult::running_jobs)),
      "Running jobs");
  return Section("Queue length over time",
                 "Jobs waiting in the queue, and jobs running, at each sample.", body);
}

std::string JctCdfHtml(const TwinReport& report) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  std::vector<Line> lines;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    Line line{p.policy, PolicyColor(i), {}, false};
    const auto& q = p.jct_quantiles_s;
    if (p.jobs_finished > 0 && q.size() >= 2) {
      for (std::size_t k = 0; k < q.size(); ++k) {
        if (!std::isfinite(q[k])) continue;
        line.points.push_back({q[k], static_cast<double>(k) / static_cast<double>(q.size() - 1)});
        if (q[k] > 0) lo = std::min(lo, q[k]);
        hi = std::max(hi, q[k]);
      }
    }
    lines.push_back(std::move(line));
  }
  ChartOptions o;
  o.title = "Cumulative distribution of JCT";
  o.legend = report.policies.size() > 1;
  const Axis x = DurationLogAxis("job completion time (log scale)", lo, hi);
  Axis y = LinearAxis("fraction of finished jobs", 0, 1);
  const bool any =
      std::any_of(lines.begin(), lines.end(), [](const Line& l) { return !l.points.empty(); });
  return Section("Job completion time",
                 "Share of finished jobs that completed within a given time (submission to end). "
                 "Further left and higher is better.",
                 any ? LineChart(x, y, lines, o) : NoDataSvg(o, "no finished jobs"));
}

std::string TenantsHtml(const TwinReport& report) {
  // Tenants of every policy, by id, in order of first appearance.
  struct Row {
    std::string id;
    double entitlement = kNaN;
    std::vector<double> share;
  };
  std::vector<Row> rows;
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    for (const auto& t : report.policies[i].tenants) {
      auto [it, added] = index.emplace(t.id, rows.size());
      if (added)
        rows.push_back({t.id, t.entitlement, std::vector<double>(report.policies.size(), kNaN)});
      Row& row = rows[it->second];
      if (!std::isfinite(row.entitlement)) row.entitlement = t.entitlement;
      row.share[i] = t.share;
    }
  }
  auto weight = [](const Row& r) {
    double w = std::isfinite(r.entitlement) ? r.entitlement : 0;
    for (double s : r.share) {
      if (std::isfinite(s)) w = std::max(w, s);
    }
    return w;
  };
  constexpr std::size_t kTop = 25;
  std::string note =
      "Each tenant's share of the accelerator-hours delivered, per policy, next to its entitlement "
      "(its guarantee's share of the grid's capacity).";
  if (rows.size() > kTop) {
    std::stable_sort(rows.begin(), rows.end(),
                     [&](const Row& a, const Row& b) { return weight(a) > weight(b); });
    note += fmt::format(
        " Showing the top {} of {} tenants, ranked by the larger of entitlement and share.", kTop,
        rows.size());
    rows.resize(kTop);
  }
  std::vector<BarSeries> series{{"entitlement", std::string(kEntitlementColor)}};
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    series.push_back({"share: " + report.policies[i].policy, PolicyColor(i)});
  }
  std::vector<BarGroup> groups;
  double hi = 0;
  for (const Row& r : rows) {
    BarGroup g{r.id, {r.entitlement}};
    g.values.insert(g.values.end(), r.share.begin(), r.share.end());
    for (double v : g.values) {
      if (std::isfinite(v)) hi = std::max(hi, v);
    }
    groups.push_back(std::move(g));
  }
  ChartOptions o;
  o.title = "Share vs entitlement per tenant";
  const Axis x = PercentAxis("share of accelerator-hours (%)", hi);
  return Section("Tenants", Esc(note), GroupedBarChart(series, groups, x, o, [](double v) {
                   return fmt::format("{:.2f}%", 100 * v);
                 }));
}

const SiteUsage* FindSite(const PolicyResult& p, std::string_view id) {
  for (const auto& s : p.sites) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

// Region of each site id, from the first policy that lists it.
std::map<std::string, std::string, std::less<>> SiteRegions(const TwinReport& report) {
  std::map<std::string, std::string, std::less<>> regions;
  for (const auto& p : report.policies) {
    for (const auto& s : p.sites) regions.emplace(s.id, s.region);
  }
  return regions;
}

std::string SitesAndModelsOverTimeHtml(const TwinReport& report) {
  if (report.policies.empty()) return {};
  const PolicyResult& first = report.policies.front();
  std::string body;

  // Sites: a heatmap of the first policy, grouped by region.
  const auto regions = SiteRegions(report);
  std::vector<std::string> region_order;
  for (const auto& s : first.utilization_by_site) {
    auto it = regions.find(s.name);
    const std::string region = it == regions.end() ? "" : it->second;
    if (std::find(region_order.begin(), region_order.end(), region) == region_order.end()) {
      region_order.push_back(region);
    }
  }
  std::vector<HeatRow> rows;
  for (const auto& region : region_order) {
    for (const auto& s : first.utilization_by_site) {
      auto it = regions.find(s.name);
      if ((it == regions.end() ? "" : it->second) == region)
        rows.push_back({s.name, region, &s.values});
    }
  }
  constexpr std::size_t kMaxRows = 80;
  std::string note = fmt::format(
      "Policy <b>{}</b>. Each row is a site (grouped by region); the colour is the share of its "
      "accelerators allocated.",
      Esc(first.policy));
  if (rows.size() > kMaxRows) {
    note += fmt::format(" The first {} of {} sites are shown.", kMaxRows, rows.size());
    rows.resize(kMaxRows);
  }
  ChartOptions heat;
  heat.title = "Utilization by site: " + first.policy;
  body += fmt::format("<p class=\"note\">{}</p>\n", note);
  body += Heatmap(rows, IntervalHours(first), heat);

  // Models: one small chart per accelerator model, one line per policy.
  std::vector<std::string> models;
  for (const auto& p : report.policies) {
    for (const auto& s : p.utilization_by_model) {
      if (std::find(models.begin(), models.end(), s.name) == models.end()) models.push_back(s.name);
    }
  }
  constexpr std::size_t kMaxModels = 12;
  body += "<h3>Utilization by accelerator model</h3>\n";
  body += fmt::format("<p class=\"note\">One chart per model, one line per policy{}.</p>\n",
                      models.size() > kMaxModels
                          ? fmt::format(" (the first {} of {} models)", kMaxModels, models.size())
                          : "");
  if (models.empty()) body += "<p class=\"note\">No per-model series were recorded.</p>\n";
  if (models.size() > kMaxModels) models.resize(kMaxModels);
  body += PolicyLegendHtml(report);
  body += "<div class=\"multiples\">\n";
  for (const auto& model : models) {
    std::vector<Line> lines;
    double span = 0;
    for (std::size_t i = 0; i < report.policies.size(); ++i) {
      const PolicyResult& p = report.policies[i];
      for (const auto& s : p.utilization_by_model) {
        if (s.name != model) continue;
        lines.push_back({p.policy, PolicyColor(i), SeriesPoints(s, IntervalHours(p)), false});
        if (s.values.size() > 1)
          span = std::max(span, static_cast<double>(s.values.size() - 1) * IntervalHours(p));
      }
    }
    ChartOptions o;
    o.title = model;
    o.width = 540;
    o.plot_height = 150;
    o.legend = false;
    body +=
        "<div>" + LineChart(TimeAxis(span), PercentAxis("allocated (%)"), lines, o) + "</div>\n";
  }
  body += "</div>\n";
  return Section("Utilization by site and by model",
                 "How the load spreads over the grid over time.", body);
}

// A bar of a utilization (0..1) in a policy's colour, then the percentage.
std::string UtilBarHtml(double utilization, std::size_t policy, std::string_view policy_name) {
  return fmt::format(
      "<span class=\"bar\" title=\"{0}\"><span "
      "style=\"width:{1:.1f}%;background:{2}\"></span></span>{3}",
      Esc(policy_name), 100 * Clamp01(utilization), PolicyColor(policy),
      std::isfinite(utilization) ? fmt::format("{:.1f}%", 100 * utilization)
                                 : std::string(kMissing));
}

std::string SitesHtml(const TwinReport& report) {
  if (report.policies.empty()) return {};
  // All sites in order of first appearance, grouped by region in order of first appearance.
  std::vector<const SiteUsage*> sites;
  std::set<std::string> seen;
  for (const auto& p : report.policies) {
    for (const auto& s : p.sites) {
      if (seen.insert(s.id).second) sites.push_back(&s);
    }
  }
  if (sites.empty()) return Section("Sites by region", "No per-site figures were recorded.", "");
  std::vector<std::string> regions;
  for (const SiteUsage* s : sites) {
    if (std::find(regions.begin(), regions.end(), s->region) == regions.end())
      regions.push_back(s->region);
  }
  const std::size_t n = report.policies.size();
  std::string body = PolicyLegendHtml(report);
  body += "<div class=\"regions\">\n";
  for (const auto& region : regions) {
    std::vector<const SiteUsage*> in_region;
    long long accelerators = 0;
    for (const SiteUsage* s : sites) {
      if (s->region != region) continue;
      in_region.push_back(s);
      accelerators += s->accelerators;
    }
    body += fmt::format(
        "<div class=\"region\"><h3>{}<span>{} site{} \u00b7 {} accelerators</span></h3>\n",
        Esc(region.empty() ? "(no region)" : region), in_region.size(),
        in_region.size() == 1 ? "" : "s", WithThousands(accelerators));
    // The region's utilization per policy, weighted by accelerators.
    body += "<p class=\"region-util\">";
    for (std::size_t i = 0; i < n; ++i) {
      double used = 0, total = 0;
      for (const SiteUsage* s : in_region) {
        const SiteUsage* u = FindSite(report.policies[i], s->id);
        if (u == nullptr || !std::isfinite(u->utilization)) continue;
        used += u->utilization * static_cast<double>(u->accelerators);
        total += static_cast<double>(u->accelerators);
      }
      body += "<span>" +
              UtilBarHtml(total > 0 ? used / total : kNaN, i, report.policies[i].policy) +
              "</span>";
    }
    body += "</p>\n";
    body +=
        "<table class=\"sites\"><thead><tr><th>site</th><th class=\"num\">accelerators</th>"
        "<th>mean utilization</th><th class=\"num\">GPU-hours</th></tr></thead><tbody>\n";
    for (const SiteUsage* s : in_region) {
      for (std::size_t i = 0; i < n; ++i) {
        body += i == 0 ? "<tr class=\"first\">" : "<tr>";
        if (i == 0) {
          body += fmt::format(
              "<td rowspan=\"{0}\"><b>{1}</b>{2}<div class=\"sub\">{3} \u00b7 tier {4}</div></td>"
              "<td rowspan=\"{0}\" class=\"num\">{5}</td>",
              n, Esc(s->id), s->edge ? "<span class=\"badge\">edge</span>" : "",
              Esc(s->operator_name.empty() ? "(no operator)" : s->operator_name), s->tier,
              WithThousands(s->accelerators));
        }
        const std::string& policy = report.policies[i].policy;
        const SiteUsage* u = FindSite(report.policies[i], s->id);
        if (u == nullptr) {
          body +=
              fmt::format("<td class=\"util\" title=\"{}\">{}</td><td class=\"num\">{}</td></tr>\n",
                          Esc(policy), kMissing, kMissing);
          continue;
        }
        body += fmt::format("<td class=\"util\">{}</td><td class=\"num\">{}</td></tr>\n",
                            UtilBarHtml(u->utilization, i, policy), Magnitude(u->gpu_hours));
      }
    }
    body += "</tbody></table></div>\n";
  }
  body += "</div>\n";
  return Section(
      "Sites by region",
      "Every site by region with its operator, tier and accelerators and, per policy (one bar "
      "each, in the policy's colour), its mean utilization over the run and the accelerator-hours "
      "it delivered. Under each region's name: its utilization weighted by accelerators.",
      body);
}

}  // namespace

// ===========================================================================
// Public functions
// ===========================================================================

std::string SummaryTable(const TwinReport& report) {
  if (report.policies.empty()) return "(no policies were run)\n";
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header{"policy"};
  for (const auto& p : report.policies) header.push_back(p.policy);
  rows.push_back(header);
  for (const Figure& f : kFigures) {
    std::vector<std::string> row{std::string(f.label)};
    for (const auto& p : report.policies) row.push_back(FormatFigure(f.unit, f.value(p)));
    rows.push_back(std::move(row));
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  std::string out;
  auto emit = [&](const std::vector<std::string>& row) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - DisplayWidth(row[c]), ' ');
      if (c == 0) {
        out += row[c] + pad;
      } else {
        out += "  " + pad + row[c];
      }
    }
    out += '\n';
  };
  emit(rows[0]);
  std::vector<std::string> rule;
  rule.reserve(width.size());
  for (std::size_t w : width) rule.emplace_back(w, '-');
  emit(rule);
  for (std::size_t r = 1; r < rows.size(); ++r) emit(rows[r]);
  return out;
}

std::string ReportJson(const TwinReport& report) {
  Json j;
  j["scenario"] = report.scenario;
  j["workload"] = report.workload;
  j["lines_skipped"] = report.lines_skipped;
  j["warnings"] = report.warnings;
  Json policies = Json::array();
  for (const auto& p : report.policies) {
    Json pj = PolicyScalars(p);
    pj["jct_quantiles_s"] = p.jct_quantiles_s;
    Json tenants = Json::array();
    for (const auto& t : p.tenants) {
      tenants.push_back({{"id", t.id},
                         {"gpu_hours", t.gpu_hours},
                         {"share", t.share},
                         {"entitlement", t.entitlement}});
    }
    pj["tenants"] = std::move(tenants);
    Json sites = Json::array();
    for (const auto& s : p.sites) {
      sites.push_back({{"id", s.id},
                       {"operator", s.operator_name},
                       {"region", s.region},
                       {"tier", s.tier},
                       {"edge", s.edge},
                       {"accelerators", s.accelerators},
                       {"utilization", s.utilization},
                       {"gpu_hours", s.gpu_hours}});
    }
    pj["sites"] = std::move(sites);
    policies.push_back(std::move(pj));
  }
  j["policies"] = std::move(policies);
  return DumpJson(j);
}

Status WriteJson(const TwinReport& report, const std::string& path) {
  return WriteFile(path, ReportJson(report));
}

std::vector<std::string> PolicyFileStems(const TwinReport& report) {
  std::vector<std::string> stems;
  std::set<std::string> used;  // lower case: some file systems ignore case
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& p : report.policies) {
    std::string stem;
    for (char c : p.policy.substr(0, 100)) {
      const bool safe = std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
                        c == '+' || c == '-';
      stem += safe ? c : '_';
    }
    if (stem.empty()) stem = "policy";
    if (stem.front() == '.' || stem.front() == '-') stem.front() = '_';
    std::string unique = stem;
    for (int k = 2; used.count(lower(unique)) > 0; ++k) unique = fmt::format("{}-{}", stem, k);
    used.insert(lower(unique));
    stems.push_back(std::move(unique));
  }
  return stems;
}

Status WriteCsv(const TwinReport& report, const std::string& dir) {
  if (Status s = MakeDirectory(dir); !s.ok()) return s;
  const std::vector<std::string> stems = PolicyFileStems(report);
  for (std::size_t i = 0; i < report.policies.size(); ++i) {
    const PolicyResult& p = report.policies[i];
    // Time series: one row per sample.
    std::vector<std::pair<std::string, const std::vector<double>*>> columns{
        {"utilization", &p.utilization_total.values},
        {"queue_length", &p.queue_length.values},
        {"running_jobs", &p.running_jobs.values}};
    for (const auto& s : p.utilization_by_site)
      columns.emplace_back("util_site_" + s.name, &s.values);
    for (const auto& s : p.utilization_by_model)
      columns.emplace_back("util_model_" + s.name, &s.values);
    std::size_t rows = 0;
    std::string csv = "t_hours";
    for (const auto& [name, values] : columns) {
      csv += "," + CsvField(name);
      rows = std::max(rows, values->size());
    }
    csv += '\n';
    const double interval_s = std::isfinite(p.sample_interval_s) ? p.sample_interval_s : 0;
    for (std::size_t r = 0; r < rows; ++r) {
      csv += CsvNumber(static_cast<double>(r) * interval_s / 3600);
      for (const auto& [name, values] : columns) {
        csv += ',';
        if (r < values->size()) csv += CsvNumber((*values)[r]);
      }
      csv += '\n';
    }
    if (Status s = WriteFile(JoinPath(dir, stems[i] + "-timeseries.csv"), csv); !s.ok()) return s;

    std::string tenants = "tenant,gpu_hours,share,entitlement\n";
    for (const auto& t : p.tenants) {
      tenants += fmt::format("{},{},{},{}\n", CsvField(t.id), CsvNumber(t.gpu_hours),
                             CsvNumber(t.share), CsvNumber(t.entitlement));
    }
    if (Status s = WriteFile(JoinPath(dir, stems[i] + "-tenants.csv"), tenants); !s.ok()) return s;
  }
  // The summary: the JSON's scalar keys as columns.
  std::string summary;
  const Json keys = PolicyScalars(PolicyResult{});
  for (auto it = keys.begin(); it != keys.end(); ++it)
    summary += (it == keys.begin() ? "" : ",") + it.key();
  summary += '\n';
  for (const auto& p : report.policies) {
    const Json scalars = PolicyScalars(p);
    bool first = true;
    for (const auto& value : scalars) {
      summary += (first ? "" : ",") + CsvValue(value);
      first = false;
    }
    summary += '\n';
  }
  return WriteFile(JoinPath(dir, "summary.csv"), summary);
}

std::string ReportHtml(const TwinReport& report) {
  std::string title = "sovgrid twin";
  if (!report.scenario.empty()) title += " \u2014 " + report.scenario;
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n", Esc(title),
                     kCss);
  out += HeaderHtml(report);
  out += SummaryHtml(report);
  if (!report.policies.empty()) {
    out += UtilizationHtml(report);
    out += QueueHtml(report);
    out += JctCdfHtml(report);
    out += TenantsHtml(report);
    out += SitesAndModelsOverTimeHtml(report);
    out += SitesHtml(report);
  }
  out +=
      "</main>\n<footer>Generated by sovgrid twin. This file is self-contained: it loads nothing "
      "and runs no scripts.</footer>\n</body>\n</html>\n";
  return out;
}

Status WriteHtmlReport(const TwinReport& report, const std::string& dir) {
  if (Status s = MakeDirectory(dir); !s.ok()) return s;
  return WriteFile(JoinPath(dir, "index.html"), ReportHtml(report));
}

}  // namespace sovgrid::twin
