#include "eval/intervals.h"

#include <algorithm>
#include <cmath>

#include "eval/rng.h"

namespace longctx::eval {

namespace {
constexpr double kZ95 = 1.959963984540054;  // the standard normal's 97.5% quantile
constexpr int kResamples = 2000;
}  // namespace

Interval wilson95(double successes, int64_t n) {
  if (n <= 0) return {0, 1};
  const double p = successes / double(n), z2 = kZ95 * kZ95, nn = double(n);
  const double center = (p + z2 / (2 * nn)) / (1 + z2 / nn);
  const double half = kZ95 / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  return {std::max(0.0, center - half), std::min(1.0, center + half)};
}

Interval bootstrap_mean95(const std::vector<double>& xs, uint64_t seed) {
  if (xs.empty()) return {0, 0};
  Rng rng(seed);
  std::vector<double> means(kResamples);
  for (double& m : means) {
    double sum = 0;
    for (size_t i = 0; i < xs.size(); ++i) sum += xs[size_t(rng.below(xs.size()))];
    m = sum / double(xs.size());
  }
  std::sort(means.begin(), means.end());
  return {means[size_t(0.025 * kResamples)], means[size_t(0.975 * kResamples) - 1]};
}

namespace {

// Newcombe (1998), method 10: the difference of two paired proportions from the Wilson intervals
// of each, corrected by the correlation of the pairs.
Interval newcombe_paired95(const std::vector<double>& mode, const std::vector<double>& dense) {
  double a = 0, b = 0, c = 0, d = 0;  // both right, mode only, dense only, neither
  for (size_t i = 0; i < mode.size(); ++i) {
    const bool m = mode[i] == 1.0, r = dense[i] == 1.0;
    a += m && r, b += m && !r, c += !m && r, d += !m && !r;
  }
  const int64_t n = int64_t(mode.size());
  const double p1 = (a + b) / double(n), p2 = (a + c) / double(n);
  const Interval w1 = wilson95(a + b, n), w2 = wilson95(a + c, n);
  const double den = std::sqrt((a + b) * (c + d) * (a + c) * (b + d));
  const double phi = den > 0 ? std::clamp((a * d - b * c) / den, -1.0, 1.0) : 0.0;
  const double dl =
      std::sqrt(std::max(0.0, (p1 - w1.lo) * (p1 - w1.lo) - 2 * phi * (p1 - w1.lo) * (w2.hi - p2) +
                                  (w2.hi - p2) * (w2.hi - p2)));
  const double du =
      std::sqrt(std::max(0.0, (w1.hi - p1) * (w1.hi - p1) - 2 * phi * (w1.hi - p1) * (p2 - w2.lo) +
                                  (p2 - w2.lo) * (p2 - w2.lo)));
  return {std::max(-1.0, p1 - p2 - dl), std::min(1.0, p1 - p2 + du)};
}

// Two-sided exact sign test: k of m untied pairs favour one side, against fair odds.
double sign_test_p(int64_t k, int64_t m) {
  if (m == 0) return 1;
  const int64_t tail = std::min(k, m - k);
  double p = 0, term = std::pow(0.5, double(m));  // C(m, 0) / 2^m
  for (int64_t i = 0; i <= tail; ++i) {
    p += term;
    term = term * double(m - i) / double(i + 1);
  }
  return std::min(1.0, 2 * p);
}

}  // namespace

PairedDifference paired_difference95(const std::vector<double>& mode,
                                     const std::vector<double>& dense, uint64_t seed,
                                     bool right_wrong) {
  PairedDifference out;
  if (mode.empty() || mode.size() != dense.size()) return out;
  std::vector<double> diffs(mode.size());
  bool binary = right_wrong;
  int64_t up = 0, down = 0;
  for (size_t i = 0; i < mode.size(); ++i) {
    diffs[i] = mode[i] - dense[i];
    out.mean += diffs[i];
    binary &= (mode[i] == 0.0 || mode[i] == 1.0) && (dense[i] == 0.0 || dense[i] == 1.0);
    up += diffs[i] > 0, down += diffs[i] < 0;
  }
  out.mean /= double(mode.size());
  out.ci = binary ? newcombe_paired95(mode, dense) : bootstrap_mean95(diffs, seed);
  out.sign_test_p = sign_test_p(up, up + down);
  out.resolved = out.ci.excludes_zero() && out.sign_test_p < 0.05;
  return out;
}

Interval score_interval95(const std::vector<double>& scores, uint64_t seed) {
  double right = 0;
  bool binary = true;
  for (double s : scores) {
    binary &= s == 0.0 || s == 1.0;
    right += s;
  }
  return binary ? wilson95(right, int64_t(scores.size())) : bootstrap_mean95(scores, seed);
}

Interval average_interval95(const std::vector<std::vector<std::vector<double>>>& groups,
                            uint64_t seed) {
  if (groups.size() == 1 && groups[0].size() == 1) return score_interval95(groups[0][0], seed);
  bool binary = true;
  for (const auto& g : groups)
    for (const auto& xs : g)
      for (double x : xs) binary = binary && (x == 0.0 || x == 1.0);
  if (binary && !groups.empty()) {
    // Right/wrong scores: a bootstrap gives a task all right or all wrong no spread at all, so a
    // stratified normal interval with Agresti and Coull's adjustment (two right and two wrong
    // added to each task) for the variance, around the plain average.
    double mean = 0, var = 0;
    for (const auto& g : groups) {
      for (const auto& xs : g) {
        const double w = 1.0 / double(groups.size() * g.size());
        double right = 0;
        for (double x : xs) right += x;
        const double n = double(xs.size()), p = (right + 2) / (n + 4);
        mean += w * (n > 0 ? right / n : 0);
        var += w * w * p * (1 - p) / (n + 4);
      }
    }
    const double half = 1.959964 * std::sqrt(var);
    return {std::max(0.0, mean - half), std::min(1.0, mean + half)};
  }
  auto average = [&](auto&& task_mean) {
    double sum = 0;
    for (size_t g = 0; g < groups.size(); ++g) {
      double s = 0;
      for (size_t t = 0; t < groups[g].size(); ++t) s += task_mean(g, t);
      sum += s / double(groups[g].size());
    }
    return groups.empty() ? 0.0 : sum / double(groups.size());
  };
  Rng rng(seed);
  std::vector<double> stats;
  stats.reserve(kResamples);
  for (int b = 0; b < kResamples; ++b) {
    stats.push_back(average([&](size_t g, size_t t) {
      const auto& xs = groups[g][t];
      double s = 0;
      for (size_t i = 0; i < xs.size(); ++i) s += xs[size_t(rng.below(xs.size()))];
      return xs.empty() ? 0.0 : s / double(xs.size());
    }));
  }
  std::sort(stats.begin(), stats.end());
  return {stats[size_t(0.025 * kResamples)], stats[size_t(0.975 * kResamples) - 1]};
}

}  // namespace longctx::eval
