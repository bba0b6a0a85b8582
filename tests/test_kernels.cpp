// CPU kernels against plain reference arithmetic on the same inputs.
#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/vec.h"
#include "models/quant.h"
#include "tests/fixtures.h"

using namespace longctx;

TEST_CASE("integer dots over 32-element blocks equal the float product", "[kernels]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"}) {
    INFO(name);
    auto blocks = test::read_fixture(std::string("quant/") + name + ".blocks");
    const quant::TypeInfo* t = nullptr;
    for (const auto& ti : quant::all_types()) {
      if (ti.name == name) t = &ti;
    }
    auto type = kernels::BlockType(t->id);
    if (!cpu::has_integer_dot(type)) continue;  // scalar machine: the float path serves it
    int64_t n_blocks = int64_t(blocks.size()) / t->block_bytes;
    int64_t n = n_blocks * 32;
    std::vector<float> w(static_cast<size_t>(n)), x(static_cast<size_t>(n));
    quant::dequantize_row(type, blocks.data(), w.data(), n);
    for (auto& v : x) v = normal(rng);
    double exact = 0, magnitude = 0;
    for (int64_t i = 0; i < n; ++i) {
      exact += double(w[size_t(i)]) * x[size_t(i)];
      magnitude += std::fabs(double(w[size_t(i)]) * x[size_t(i)]);
    }
    std::vector<int16_t> q(static_cast<size_t>(n));
    std::vector<float> d(static_cast<size_t>(n_blocks));
    std::vector<int32_t> sum(static_cast<size_t>(n_blocks));
    cpu::Q16Activations xa{q.data(), d.data(), sum.data()};
    cpu::quantize_q16(x.data(), n, xa);
    float got = cpu::dot_q16(type, blocks.data(), xa, n_blocks);
    // 16-bit activations: each term is off by at most 2^-16 of its block's largest |x|.
    CHECK(std::fabs(got - exact) <= 1e-4 * magnitude);
  }
}

TEST_CASE("matmul over quantized rows equals dequantize-then-multiply", "[kernels]") {
  auto blocks = test::read_fixture("quant/Q4_K.blocks");  // 24 blocks of 256: 6 rows of 1024
  cpu::QMatrix w{kernels::BlockType::Q4_K, blocks.data(), 6, 1024, 4 * 144};
  std::vector<float> x(3 * 1024), y(3 * 6);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : x) v = u(rng);
  cpu::matmul(w, x.data(), 3, y.data());
  std::vector<float> row(1024);
  for (int r = 0; r < 6; ++r) {
    quant::dequantize_row(w.type, blocks.data() + r * w.row_bytes, row.data(), 1024);
    for (int t = 0; t < 3; ++t) {
      double ref = 0, mag = 0;
      for (int i = 0; i < 1024; ++i) {
        ref += double(row[size_t(i)]) * x[size_t(t * 1024 + i)];
        mag += std::fabs(double(row[size_t(i)]) * x[size_t(t * 1024 + i)]);
      }
      CHECK(std::fabs(y[size_t(t * 6 + r)] - ref) <= 1e-5 * mag + 1e-6);
    }
  }
}

TEST_CASE("tiled attention equals a direct softmax over the visible keys", "[kernels]") {
  const int64_t n_q = 5, n_head = 4, n_kv = 2, hd = 64, cap = 100;
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(n_q * n_head * hd));
  for (auto& v : q) v = normal(rng);
  std::vector<uint16_t> k(static_cast<size_t>(n_kv * cap * hd)), v(size_t(n_kv * cap * hd));
  for (auto& e : k) e = kernels::float_to_fp16(normal(rng));
  for (auto& e : v) e = kernels::float_to_fp16(normal(rng));
  std::vector<int32_t> key_pos(cap), q_pos(n_q);
  for (int i = 0; i < cap; ++i) key_pos[size_t(i)] = i;
  for (int i = 0; i < n_q; ++i) q_pos[size_t(i)] = 90 + i;
  // Two spans per head with a hole: keys 10..19 are never read.
  std::vector<cpu::KeySpan> spans = {{0, 10}, {20, 95}, {0, 10}, {20, 95}};
  std::vector<int32_t> offsets = {0, 2, 4};
  for (int64_t window : {int64_t(0), int64_t(40)}) {
    std::vector<float> out(q.size());
    cpu::AttentionArgs a{q.data(), n_q,      n_head,       n_kv,           hd,
                         k.data(), v.data(), cap,          key_pos.data(), q_pos.data(),
                         window,   0.125f,   spans.data(), offsets.data(), out.data()};
    cpu::attention(a);
    for (int64_t qi = 0; qi < n_q; ++qi) {
      for (int64_t h = 0; h < n_head; ++h) {
        int64_t g = h / (n_head / n_kv);
        std::vector<double> s;
        std::vector<int> idx;
        for (int j = 0; j < cap; ++j) {
          bool in_span = j < 10 || (j >= 20 && j < 95);
          bool visible = j <= q_pos[size_t(qi)] && (window == 0 || q_pos[size_t(qi)] - j < window);
          if (!in_span || !visible) continue;
          double dot = 0;
          for (int e = 0; e < hd; ++e) {
            dot += q[size_t((qi * n_head + h) * hd + e)] *
                   kernels::fp16_to_float(k[size_t((g * cap + j) * hd + e)]);
          }
          s.push_back(0.125 * dot);
          idx.push_back(j);
        }
        double mx = *std::max_element(s.begin(), s.end()), den = 0;
        for (double& e : s) den += e = std::exp(e - mx);
        for (int e = 0; e < hd; ++e) {
          double ref = 0;
          for (size_t i = 0; i < s.size(); ++i) {
            ref += s[i] / den * kernels::fp16_to_float(v[size_t((g * cap + idx[i]) * hd + e)]);
          }
          CHECK(std::fabs(out[size_t((qi * n_head + h) * hd + e)] - ref) < 1e-4);
        }
      }
    }
  }
}
