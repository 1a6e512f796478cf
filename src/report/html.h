// Building blocks of sovgrid's self-contained HTML reports (the twin's and the
// fill experiment's): file writing, text and number formatting for people,
// and inline SVG charts (axes, line charts, grouped bar charts) styled by one
// stylesheet. Pages made with Page() load nothing and run no scripts.
//
// Every function is pure except WriteFile and MakeDirectory; none throws on
// bad numbers (NaN and infinities are drawn as gaps or shown as a dash).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "report/format.h"

namespace sovgrid::report::html {

// ---- Files ----------------------------------------------------------------

// Writes `content` to `path` (replacing it). IoError naming the path on failure.
Status WriteFile(const std::string& path, std::string_view content);
// Creates `dir` and its parents if needed. IoError when it cannot, or when a file has that name.
Status MakeDirectory(const std::string& dir);
std::string JoinPath(const std::string& dir, const std::string& name);
std::string ErrnoMessage(int error);

// ---- Text (numbers for people: format.h) ---------------------------------

// Escapes text for HTML and SVG (content and attribute values alike).
std::string Esc(std::string_view text);
// Approximate width in pixels of SVG text at `font_px` in a sans-serif font.
double TextWidth(std::string_view text, double font_px = 12);

// ---- Colours ----------------------------------------------------------------

// One colour per policy (cycling after ten), the same in every chart and table.
std::string PolicyColor(std::size_t i);
inline constexpr std::string_view kEntitlementColor = "#9ca3af";
// A sequential scale for utilization (0..1), quantised to 5 % steps.
std::string UtilColor(double u);

// ---- SVG --------------------------------------------------------------------

// A coordinate: one decimal, never NaN.
std::string Px(double v);

// An SVG document under construction. Text is escaped; numbers go through Px.
class Svg {
 public:
  Svg(double width, double height, std::string_view label);
  void Line(double x1, double y1, double x2, double y2, std::string_view cls);
  void Rect(double x, double y, double w, double h, std::string_view fill,
            std::string_view title = {});
  // `cls` is a CSS class of the page: "" (tick label), "title", "axis", "muted".
  void Text(double x, double y, std::string_view text, std::string_view anchor = "start",
            std::string_view cls = {}, std::string_view tooltip = {});
  void VerticalText(double x, double y, std::string_view text, std::string_view cls);
  void Path(std::string_view d, std::string_view color, std::string_view title,
            bool dashed = false);
  // The finished document; the object is spent afterwards.
  std::string Finish();

 private:
  std::string out_;
};

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

struct LegendItem {
  std::string label;
  std::string color;
  bool dashed = false;
};

struct BarSeries {
  std::string label;
  std::string color;
};

struct BarGroup {
  std::string label;
  std::vector<double> values;  // one per series; non-finite for none
};

// 1, 2 or 5 times a power of ten, giving about `target` steps over `span`.
double NiceStep(double span, double target);
// A linear axis from `lo` to `hi` widened to whole steps. `scale` multiplies
// values for their labels (100 for percent) and `suffix` follows them.
Axis LinearAxis(std::string title, double lo, double hi, double scale = 1,
                std::string_view suffix = {}, double target_ticks = 5);
// 0..hi (at most 1) labelled in percent.
Axis PercentAxis(std::string title, double hi = 1);
// Time since the start, in hours as the axis' unit; labelled in days when long.
Axis TimeAxis(double span_hours);
// A log axis for durations, ticked at 1 s, 10 s, 1 min, 10 min, 1 h, 6 h, 1 d...
Axis DurationLogAxis(std::string title, double min_s, double max_s);

inline constexpr std::size_t kMaxPoints = 2000;
// Keeps long series drawable: per bucket its minimum and maximum, in order.
std::vector<Point> Decimate(const std::vector<Point>& points, std::size_t max_points = kMaxPoints);
// Lays legend entries out in rows within `width` and draws them into `svg`
// unless it is null; returns the number of rows.
int DrawLegend(Svg* svg, const std::vector<LegendItem>& items, double x0, double y0, double width);
// A chart-sized box saying `message` (for empty data).
std::string NoDataSvg(const ChartOptions& o, std::string_view message);
// A line chart with light grid lines, ticks, axis titles and a legend on top.
std::string LineChart(const Axis& x, const Axis& y, const std::vector<Line>& lines,
                      const ChartOptions& o);
// Horizontal grouped bars: one band per group, one bar per series; `format_value`
// formats a value for the bar's tooltip.
std::string GroupedBarChart(const std::vector<BarSeries>& series,
                            const std::vector<BarGroup>& groups, const Axis& x,
                            const ChartOptions& o, std::string (*format_value)(double));

// ---- Pages ------------------------------------------------------------------

// The stylesheet every page embeds (header, section, table.summary, svg classes...).
extern const std::string_view kCss;
// A whole HTML document: <head> with `title` and kCss, `body` inside <main>, and a footer
// sentence `footer` followed by the self-containment notice.
std::string Page(std::string_view title, std::string_view body, std::string_view footer);
// <section> with an <h2> title (text), an optional note (HTML) and `body` (HTML).
std::string Section(std::string_view title, std::string_view note, std::string_view body);

}  // namespace sovgrid::report::html
