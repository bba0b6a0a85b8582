// The uncertainty of a score: 95% intervals for a task's mean score over its samples (Wilson's
// score interval where every sample is right or wrong, a percentile bootstrap otherwise) and for
// a mode's paired difference from dense over the same samples (a bootstrap over the samples).
#pragma once

#include <cstdint>
#include <vector>

namespace longctx::eval {

struct Interval {
  double lo = 0, hi = 0;
  bool excludes_zero() const { return lo > 0 || hi < 0; }
  double half_width() const { return (hi - lo) / 2; }
};

// 95% Wilson score interval of the proportion successes / n (Wilson 1927; z = 1.959964).
Interval wilson95(double successes, int64_t n);

// 95% percentile bootstrap interval of the mean of `xs` (2,000 resamples from a generator seeded
// by `seed`, so a run reproduces); xs empty: [0, 0].
Interval bootstrap_mean95(const std::vector<double>& xs, uint64_t seed);

// The interval of a task's mean score in [0, 1]: Wilson when every score is 0 or 1, else the
// bootstrap.
Interval score_interval95(const std::vector<double>& scores, uint64_t seed);

// The interval of an average over tasks grouped in categories (RULER: one task per group;
// LongBench: the mean of its categories' task means), scores in [0, 1]. One task: its
// score_interval95. Right/wrong scores: a stratified normal interval whose per-task variances are
// Agresti-Coull's (never zero width for a task all right). Otherwise a stratified percentile
// bootstrap, each task's samples resampled on their own (2,000 resamples).
Interval average_interval95(const std::vector<std::vector<std::vector<double>>>& groups,
                            uint64_t seed);

// A mode's paired difference from dense over the same samples (diffs[i] = mode - dense on sample
// i, scores in [0, 1]): the mean, a 95% interval (Newcombe's hybrid score interval for paired
// proportions when every score is 0 or 1, the bootstrap otherwise) and the two-sided p of an exact
// sign test over the untied pairs. `resolved` asks both: the interval excludes 0 and p < 0.05 (a
// bootstrap or score interval alone is overconfident with a handful of samples: two of two pairs
// lost is p = 0.5).
struct PairedDifference {
  double mean = 0;
  Interval ci;
  double sign_test_p = 1;
  bool resolved = false;
};
// `right_wrong` false: the values are not proportions (log-likelihoods), always the bootstrap.
PairedDifference paired_difference95(const std::vector<double>& mode,
                                     const std::vector<double>& dense, uint64_t seed,
                                     bool right_wrong = true);

}  // namespace longctx::eval
