#include "eval/plots.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "eval/results.h"
#include "eval/text.h"

namespace longctx::eval {
namespace {

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                         "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"};

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s)
    o += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return o;
}

}  // namespace

std::string plot_scores_svg(const nlohmann::json& scores, const std::string& title) {
  const auto& avg = scores["averages"];
  std::vector<std::string> modes = modes_in_order(avg, scores.value("modes", nlohmann::json()));
  std::set<int64_t> length_set;
  double max_speed = 1, min_lik = 0, max_lik = 0;
  bool likelihood = false;
  for (const auto& a : avg) {
    length_set.insert(a["length"].get<int64_t>());
    max_speed = std::max(max_speed, a.value("decode_tokens_per_s", 0.0));
    if (a.contains("logprob_diff_ci95")) {
      likelihood = true;
      min_lik = std::min(min_lik, a["logprob_diff_ci95"][0].get<double>());
      max_lik = std::max(max_lik, a["logprob_diff_ci95"][1].get<double>());
    }
  }
  // Panels: the score, decode speed and, where teacher forcing ran, the answer's log-likelihood
  // against dense's (0: dense itself), each against context length.
  struct Panel {
    const char* label;
    const char* field;
    const char* ci;
    double lo, hi;
  };
  std::vector<Panel> panels = {
      {"score (mean over tasks, 95% interval)", "score", "ci95", 0, 100},
      {"decode tokens/s", "decode_tokens_per_s", nullptr, 0, max_speed * 1.1}};
  if (likelihood)
    panels.push_back({"log P(answer) - dense, nats (95% interval)", "logprob_diff_vs_dense",
                      "logprob_diff_ci95", min_lik * 1.05 - 0.01, max_lik * 1.05 + 0.01});
  std::vector<int64_t> lengths(length_set.begin(), length_set.end());
  const double panel_w = 400, panel_h = 280, top = 60, gap = 90;
  const double W = 70 + double(panels.size()) * (panel_w + gap), H = 420;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='12'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n";
  s << "<text x='" << W / 2 << "' y='24' text-anchor='middle' font-size='15'>" << esc(title)
    << "</text>\n";
  auto x_of = [&](size_t i, double left) {
    return lengths.size() == 1 ? left + panel_w / 2
                               : left + panel_w * double(i) / double(lengths.size() - 1);
  };
  for (size_t p = 0; p < panels.size(); ++p) {
    const Panel& P = panels[p];
    const double left = 70 + double(p) * (panel_w + gap);
    auto y_of = [&](double v) {
      return top + panel_h - panel_h * (std::clamp(v, P.lo, P.hi) - P.lo) / (P.hi - P.lo);
    };
    s << "<rect x='" << left << "' y='" << top << "' width='" << panel_w << "' height='" << panel_h
      << "' fill='none' stroke='#888'/>\n";
    for (int t = 0; t <= 4; ++t) {
      const double v = P.lo + (P.hi - P.lo) * t / 4.0, y = y_of(v);
      s << "<line x1='" << left << "' x2='" << left + panel_w << "' y1='" << y << "' y2='" << y
        << "' stroke='#eee'/><text x='" << left - 6 << "' y='" << y + 4 << "' text-anchor='end'>"
        << format_double(P.hi - P.lo >= 10 ? "%.0f" : "%.1f", v) << "</text>\n";
    }
    if (P.lo < 0)  // dense's own level
      s << "<line x1='" << left << "' x2='" << left + panel_w << "' y1='" << y_of(0) << "' y2='"
        << y_of(0) << "' stroke='black' stroke-dasharray='5,4'/>\n";
    for (size_t i = 0; i < lengths.size(); ++i)
      s << "<text x='" << x_of(i, left) << "' y='" << top + panel_h + 18
        << "' text-anchor='middle'>" << lengths[i] << "</text>\n";
    s << "<text x='" << left + panel_w / 2 << "' y='" << top + panel_h + 38
      << "' text-anchor='middle'>context length (tokens)</text>\n";
    s << "<text x='" << left + panel_w / 2 << "' y='" << top - 8 << "' text-anchor='middle'>"
      << P.label << "</text>\n";
    for (size_t m = 0; m < modes.size(); ++m) {
      std::string pts;
      for (size_t i = 0; i < lengths.size(); ++i)
        for (const auto& a : avg)
          if (a["mode"] == modes[m] && a["length"] == lengths[i] && a.contains(P.field)) {
            const double x = x_of(i, left), y = y_of(a[P.field].get<double>());
            pts += format_double("%.1f,", x) + format_double("%.1f ", y);
            if (P.ci && a.contains(P.ci)) {  // the 95% interval as an error bar
              const double dx = 3.0 * (double(m) - double(modes.size() - 1) / 2);  // spread modes
              s << "<line x1='" << x + dx << "' x2='" << x + dx << "' y1='"
                << y_of(a[P.ci][0].get<double>()) << "' y2='" << y_of(a[P.ci][1].get<double>())
                << "' stroke='" << kColors[m % 10] << "' stroke-width='1.5' opacity='0.6'/>\n";
            }
            s << "<circle cx='" << x << "' cy='" << y << "' r='3.5' fill='" << kColors[m % 10]
              << "'/>\n";
          }
      if (!pts.empty())
        s << "<polyline points='" << pts << "' fill='none' stroke='" << kColors[m % 10]
          << "' stroke-width='2'/>\n";
    }
  }
  for (size_t m = 0; m < modes.size(); ++m) {
    double x = 70 + double(m % 4) * 230, y = top + panel_h + 62 + double(m / 4) * 18;
    s << "<rect x='" << x << "' y='" << y - 9 << "' width='14' height='4' fill='" << kColors[m % 10]
      << "'/><text x='" << x + 20 << "' y='" << y - 4 << "'>" << esc(modes[m]) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string plot_niah_svg(const std::vector<nlohmann::json>& predictions,
                          const std::string& title) {
  // (mode, length, depth) -> mean score
  std::map<std::string, std::map<std::pair<int64_t, double>, std::pair<double, int>>> cells;
  std::set<int64_t> lengths;
  std::set<double> depths;
  std::vector<std::string> modes;
  for (const auto& p : predictions) {
    if (p["benchmark"] != "niah" || !p.contains("extra") || !p["extra"].contains("depth")) continue;
    std::string mode = p["mode"];
    if (std::find(modes.begin(), modes.end(), mode) == modes.end()) modes.push_back(mode);
    int64_t len = p["length"];
    double depth = p["extra"]["depth"];
    lengths.insert(len);
    depths.insert(depth);
    auto& c = cells[mode][{len, depth}];
    c.first += p.value("score", 0.0);
    c.second += 1;
  }
  if (modes.empty()) return "";
  const double cell = 34, left = 60, top = 60, gap = 70;
  double panel_w = cell * double(lengths.size()), panel_h = cell * double(depths.size());
  double W = std::max(560.0, left + double(modes.size()) * (panel_w + gap) + 20),
         H = top + panel_h + 70;
  std::ostringstream s;
  s << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H
    << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' "
       "fill='white'/>\n";
  s << "<text x='" << W / 2 << "' y='22' text-anchor='middle' font-size='14'>" << esc(title)
    << " (green: found, red: missed)</text>\n";
  for (size_t m = 0; m < modes.size(); ++m) {
    double x0 = left + double(m) * (panel_w + gap);
    s << "<text x='" << x0 + panel_w / 2 << "' y='" << top - 10 << "' text-anchor='middle'>"
      << esc(modes[m]) << "</text>\n";
    size_t li = 0;
    for (int64_t len : lengths) {
      size_t di = 0;
      for (double d : depths) {
        auto it = cells[modes[m]].find({len, d});
        std::string fill = "#ddd";
        if (it != cells[modes[m]].end()) {
          double v = it->second.first / it->second.second;  // 0..1
          fill = "rgb(" + std::to_string(int(220 * (1 - v))) + "," +
                 std::to_string(int(60 + 150 * v)) + ",70)";
        }
        s << "<rect x='" << x0 + cell * double(li) << "' y='" << top + cell * double(di)
          << "' width='" << cell - 1 << "' height='" << cell - 1 << "' fill='" << fill << "'/>\n";
        if (m == 0 && li == 0)
          s << "<text x='" << left - 6 << "' y='" << top + cell * double(di) + cell / 2 + 4
            << "' text-anchor='end'>" << format_double("%.0f%%", d) << "</text>\n";
        ++di;
      }
      s << "<text x='" << x0 + cell * double(li) + cell / 2 << "' y='" << top + panel_h + 14
        << "' text-anchor='middle' font-size='9'>" << len << "</text>\n";
      ++li;
    }
  }
  s << "<text x='" << left - 50 << "' y='" << top - 30 << "'>depth</text>\n";
  s << "<text x='" << W / 2 << "' y='" << top + panel_h + 40
    << "' text-anchor='middle'>context length (tokens)</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace longctx::eval
