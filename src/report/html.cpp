#include "report/html.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <limits>
#include <system_error>
#include <utility>

namespace sovgrid::report::html {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

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

// Approximate width in pixels of SVG text at 12px in a sans-serif font.
double TextWidth(std::string_view text, double font_px) {
  return static_cast<double>(DisplayWidth(text)) * font_px * 0.56;
}

// One colour per policy, the same in every chart and table.
constexpr std::string_view kPolicyColors[] = {"#2563eb", "#ea580c", "#16a34a", "#9333ea",
                                              "#dc2626", "#0891b2", "#ca8a04", "#db2777",
                                              "#4b5563", "#65a30d"};
std::string PolicyColor(std::size_t i) {
  return std::string(kPolicyColors[i % std::size(kPolicyColors)]);
}

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

Svg::Svg(double width, double height, std::string_view label) {
  out_ = fmt::format(
      R"(<svg viewBox="0 0 {0} {1}" width="{0}" height="{1}" role="img" aria-label="{2}">)",
      Px(width), Px(height), Esc(label));
  out_ += '\n';
}
void Svg::Line(double x1, double y1, double x2, double y2, std::string_view cls) {
  out_ += fmt::format(R"(<line x1="{}" y1="{}" x2="{}" y2="{}" class="{}"/>)", Px(x1), Px(y1),
                      Px(x2), Px(y2), cls);
  out_ += '\n';
}
void Svg::Rect(double x, double y, double w, double h, std::string_view fill,
               std::string_view title) {
  out_ += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}" fill="{}")", Px(x), Px(y),
                      Px(std::max(w, 0.0)), Px(std::max(h, 0.0)), fill);
  if (title.empty()) {
    out_ += "/>\n";
  } else {
    out_ += fmt::format("><title>{}</title></rect>\n", Esc(title));
  }
}
// `cls` is a CSS class of the page: "" (tick label), "title", "axis", "muted".
void Svg::Text(double x, double y, std::string_view text, std::string_view anchor,
               std::string_view cls, std::string_view tooltip) {
  out_ += fmt::format(R"(<text x="{}" y="{}")", Px(x), Px(y));
  if (anchor != "start") out_ += fmt::format(R"( text-anchor="{}")", anchor);
  if (!cls.empty()) out_ += fmt::format(R"( class="{}")", cls);
  out_ += '>';
  out_ += Esc(text);
  if (!tooltip.empty()) out_ += fmt::format("<title>{}</title>", Esc(tooltip));
  out_ += "</text>\n";
}
void Svg::VerticalText(double x, double y, std::string_view text, std::string_view cls) {
  out_ += fmt::format(
      R"svg(<text transform="translate({},{}) rotate(-90)" text-anchor="middle" class="{}">{}</text>)svg",
      Px(x), Px(y), cls, Esc(text));
  out_ += '\n';
}
void Svg::Path(std::string_view d, std::string_view color, std::string_view title, bool dashed) {
  out_ += fmt::format(R"(<path d="{}" stroke="{}" class="series{}"><title>{}</title></path>)", d,
                      color, dashed ? " dashed" : "", Esc(title));
  out_ += '\n';
}
std::string Svg::Finish() { return std::move(out_) + "</svg>\n"; }

// ===========================================================================
// Axes
// ===========================================================================

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
Axis LinearAxis(std::string title, double lo, double hi, double scale, std::string_view suffix,
                double target_ticks) {
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

Axis PercentAxis(std::string title, double hi) {
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

// Keeps long series drawable: per bucket its minimum and maximum, in order, so
// that peaks survive.
std::vector<Point> Decimate(const std::vector<Point>& points, std::size_t max_points) {
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

const std::string_view kCss = R"css(
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
std::string Page(std::string_view title, std::string_view body, std::string_view footer) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n", Esc(title),
                     kCss);
  out += body;
  out += fmt::format(
      "</main>\n<footer>{} This file is self-contained: it loads nothing and runs no "
      "scripts.</footer>\n</body>\n</html>\n",
      Esc(footer));
  return out;
}

std::string Section(std::string_view title, std::string_view note, std::string_view body) {
  std::string out = fmt::format("<section>\n<h2>{}</h2>\n", Esc(title));
  if (!note.empty()) out += fmt::format("<p class=\"note\">{}</p>\n", note);
  return out + std::string(body) + "</section>\n";
}

}  // namespace sovgrid::report::html
