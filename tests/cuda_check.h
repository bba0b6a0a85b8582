// What the CUDA tests share: the failure count and how a comparison with the CPU is reported.
// Kernel tests live in test_cuda.cpp, whole-model tests in test_cuda_models.cpp; one binary.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/device.h"

namespace longctx::test {

inline int cuda_failures = 0;

// Largest |a - b| relative to the largest |b| (and 1e-6).
inline double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, mag = 1e-6;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - b[i]));
    mag = std::max(mag, std::fabs(double(b[i])));
  }
  return diff / mag;
}

inline void report(const std::string& what, double diff, double tolerance) {
  bool ok = diff <= tolerance && std::isfinite(diff);
  std::printf("%-8s %-48s rel diff %.3g (tolerance %.3g)\n", ok ? "ok" : "FAIL", what.c_str(), diff,
              tolerance);
  cuda_failures += !ok;
}

template <typename T>
cuda::Buffer<T> to_device(const std::vector<T>& v) {
  cuda::Buffer<T> b;
  b.upload(v.data(), v.size());
  return b;
}

template <typename T>
std::vector<T> to_host(const cuda::Buffer<T>& b, size_t n) {
  std::vector<T> v(n);
  cuda::check(cudaDeviceSynchronize(), "sync");
  b.download(v.data(), n);
  return v;
}

inline std::vector<float> random_vector(size_t n, std::mt19937& rng, float sd = 1.0f) {
  std::normal_distribution<float> normal(0.0f, sd);
  std::vector<float> v(n);
  for (auto& e : v) e = normal(rng);
  return v;
}

// Whole models CUDA vs CPU under every policy (test_cuda_models.cpp).
void test_models();

}  // namespace longctx::test
