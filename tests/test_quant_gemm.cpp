// The prefill tile kernels (kernels/cpu/quant_gemm.h): the decoded row groups against the reference
// dequantization, the products against the exact double product and against the decode path's
// integer dots on the same quantized activations, at odd row and token counts.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/quant_gemm.h"
#include "models/quant.h"
#include "tests/fixtures.h"

using namespace longctx;

namespace {

const char* const kTileTypes[] = {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K", "Q6_K"};

// A rows x cols matrix made of the fixture's blocks, repeated in order (the fixtures hold a few
// thousand elements of real-looking blocks written by the gguf package).
struct FixtureMatrix {
  std::vector<uint8_t> bytes;
  kernels::MatrixView view;
};

FixtureMatrix fixture_matrix(const char* name, int64_t rows, int64_t cols) {
  auto blocks = test::read_fixture(std::string("quant/") + name + ".blocks");
  const quant::TypeInfo* t = nullptr;
  for (const auto& ti : quant::all_types())
    if (ti.name == name) t = &ti;
  REQUIRE(t != nullptr);
  const int64_t row_bytes = cols / t->block_elems * t->block_bytes;
  FixtureMatrix m;
  m.bytes.resize(size_t(rows * row_bytes));
  for (size_t i = 0; i < m.bytes.size(); ++i) m.bytes[i] = blocks[i % blocks.size()];
  m.view = {kernels::BlockType(t->id), m.bytes.data(), rows, cols, row_bytes};
  return m;
}

}  // namespace

TEST_CASE("row groups decode to the reference dequantization bit for bit", "[kernels]") {
  const int lanes = cpu::gemm_lanes();
  if (lanes == 0) return;  // scalar machine: the float path serves every format
  const int64_t rows = 19, cols = 512, n_blocks = cols / 32;  // a whole group and a partial one
  for (const char* name : kTileTypes) {
    INFO(name << ", " << lanes << " lanes");
    auto m = fixture_matrix(name, rows, cols);
    const cpu::GemmLayout layout = cpu::gemm_layout(m.view.type);
    REQUIRE(layout.supported);
    const int n_s = layout.half_scales ? 2 : 1;
    std::vector<float> ref(static_cast<size_t>(cols));
    for (int64_t r0 = 0; r0 < rows; r0 += lanes) {
      std::vector<int32_t> codes(static_cast<size_t>(lanes * cols / 2));
      std::vector<float> scale(static_cast<size_t>(lanes * n_blocks * n_s)),
          offset(static_cast<size_t>(lanes * n_blocks));
      cpu::decode_row_group(m.view, r0, codes.data(), scale.data(), offset.data());
      for (int r = 0; r < lanes; ++r) {
        const bool real = r0 + r < rows;
        if (real)
          quant::dequantize_row(m.view.type, m.bytes.data() + (r0 + r) * m.view.row_bytes,
                                ref.data(), cols);
        int mismatches = 0;
        for (int64_t i = 0; i < cols; ++i) {
          const int64_t b = i / 32, p = (i % 32) / 2, h = (i % 32) / 16;
          int16_t pair[2];
          std::memcpy(pair, &codes[size_t((b * 16 + p) * lanes + r)], 4);
          const float s = scale[size_t((b * n_s + (n_s == 2 ? h : 0)) * lanes + r)];
          // The reference's operations: a product, then the minimum's addition where it has one.
          float w = s * float(pair[i % 2]);
          if (layout.offset) w += offset[size_t(b * lanes + r)];
          const float want = real ? ref[size_t(i)] : 0.0f;
          if (std::memcmp(&w, &want, 4) != 0) ++mismatches;
        }
        CHECK(mismatches == 0);
      }
    }
  }
}

TEST_CASE("tile products equal the exact product and the decode path's integer dots", "[kernels]") {
  if (cpu::gemm_lanes() == 0) return;
  const int64_t cols = 512, n_blocks = cols / 32;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const char* name : kTileTypes) {
    for (int64_t rows : {1, 17, 40}) {
      auto m = fixture_matrix(name, rows, cols);
      std::vector<float> wf(static_cast<size_t>(rows * cols));
      for (int64_t r = 0; r < rows; ++r)
        quant::dequantize_row(m.view.type, m.bytes.data() + r * m.view.row_bytes,
                              wf.data() + r * cols, cols);
      for (int64_t n_tok : {5, 8, 13, 21}) {  // past the decode path's 4; whole and partial passes
        INFO(name << ": " << rows << " rows, " << n_tok << " tokens");
        std::vector<float> x(static_cast<size_t>(n_tok * cols)),
            y(static_cast<size_t>(n_tok * rows));
        for (auto& v : x) v = normal(rng);
        x[7] = 40.0f;  // one outlier: its block's scale is coarse, the others keep theirs
        cpu::matmul(m.view, x.data(), n_tok, y.data());
        std::vector<int16_t> q(static_cast<size_t>(cols));
        std::vector<float> d(static_cast<size_t>(n_blocks));
        std::vector<int32_t> sum(static_cast<size_t>(n_blocks));
        int far_from_exact = 0, far_from_dots = 0;
        for (int64_t t = 0; t < n_tok; ++t) {
          const float* xt = x.data() + t * cols;
          cpu::quantize_q16(xt, cols, {q.data(), d.data(), sum.data()});
          for (int64_t r = 0; r < rows; ++r) {
            double exact = 0, magnitude = 0;
            for (int64_t i = 0; i < cols; ++i) {
              exact += double(wf[size_t(r * cols + i)]) * xt[i];
              magnitude += std::fabs(double(wf[size_t(r * cols + i)]) * xt[i]);
            }
            const float got = y[size_t(t * rows + r)];
            // 16-bit activations: each term is off by at most 2^-16 of its block's largest |x|.
            if (std::fabs(got - exact) > 1e-4 * magnitude) ++far_from_exact;
            if (cpu::has_integer_dot(m.view.type)) {
              // Same quantized activations, other summation order: float rounding apart.
              const float dots = cpu::dot_q16(m.view.type, m.bytes.data() + r * m.view.row_bytes,
                                              {q.data(), d.data(), sum.data()}, n_blocks);
              if (std::fabs(got - dots) > 2e-6 * magnitude) ++far_from_dots;
            }
          }
        }
        CHECK(far_from_exact == 0);
        CHECK(far_from_dots == 0);
      }
    }
  }
}

TEST_CASE("matrices of different formats sharing a prompt's input give what each gives alone",
          "[kernels]") {
  // Gemma 3's Q4_K_M attention: q and k in Q5_0, v in Q8_0; and a K-quant with minimums.
  const int64_t cols = 256;
  auto q = fixture_matrix("Q5_0", 33, cols);
  auto k = fixture_matrix("Q8_0", 16, cols);
  auto v = fixture_matrix("Q4_K", 9, cols);
  std::mt19937 rng(13);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n_tok : {6, 19}) {
    std::vector<float> x(static_cast<size_t>(n_tok * cols));
    for (auto& e : x) e = normal(rng);
    std::vector<float> yq(static_cast<size_t>(n_tok * 33)), yk(static_cast<size_t>(n_tok * 16)),
        yv(static_cast<size_t>(n_tok * 9));
    const cpu::MatmulOut outs[] = {
        {&q.view, yq.data()}, {&k.view, yk.data()}, {&v.view, yv.data()}};
    cpu::matmul_shared_input(outs, x.data(), n_tok);
    for (const auto& [w, y] :
         {std::pair{&q.view, &yq}, std::pair{&k.view, &yk}, std::pair{&v.view, &yv}}) {
      std::vector<float> alone(y->size());
      cpu::matmul(*w, x.data(), n_tok, alone.data());
      CHECK(*y == alone);
    }
  }
}

TEST_CASE("activations quantize to the same int16 codes on every instruction set", "[kernels]") {
  // Reference: d = max|x| / 32767, q = nearbyint(x / d) computed as x * (1 / d), per block of 32.
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  const int64_t n = 32 * 9;
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = normal(rng);
  for (int i = 32; i < 64; ++i) x[size_t(i)] = 0.0f;                  // an empty block
  for (int i = 64; i < 96; ++i) x[size_t(i)] = float(i - 80) * 0.5f;  // ties at .5 steps
  x[100] = -1e4f;                                                     // an outlier
  std::vector<int16_t> q(static_cast<size_t>(n));
  std::vector<float> d(static_cast<size_t>(n / 32));
  std::vector<int32_t> sum(static_cast<size_t>(n / 32));
  cpu::quantize_q16(x.data(), n, {q.data(), d.data(), sum.data()});
  for (int64_t b = 0; b < n / 32; ++b) {
    INFO("block " << b);
    float amax = 0;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[size_t(32 * b + i)]));
    const float want_d = amax / 32767.0f, id = want_d > 0 ? 1.0f / want_d : 0.0f;
    int32_t want_sum = 0;
    int wrong = 0;
    for (int i = 0; i < 32; ++i) {
      const int want = int(std::nearbyint(x[size_t(32 * b + i)] * id));
      want_sum += want;
      if (q[size_t(32 * b + i)] != want) ++wrong;
    }
    CHECK(wrong == 0);
    CHECK(d[size_t(b)] == want_d);
    CHECK(sum[size_t(b)] == want_sum);
  }
}

TEST_CASE("decode dots over groups of rows equal each row alone and the exact product",
          "[kernels]") {
  const int64_t cols = 512, n_blocks = cols / 32;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(4 * cols));
  for (auto& v : x) v = normal(rng);
  x[40] = -25.0f;  // an outlier in one block
  for (const char* name : kTileTypes) {
    auto m = fixture_matrix(name, 19, cols);  // groups of four and a remainder of three
    if (!cpu::has_integer_dot(m.view.type)) continue;
    INFO(name);
    std::vector<float> wf(static_cast<size_t>(19 * cols));
    for (int64_t r = 0; r < 19; ++r)
      quant::dequantize_row(m.view.type, m.bytes.data() + r * m.view.row_bytes,
                            wf.data() + r * cols, cols);
    std::vector<int16_t> q(static_cast<size_t>(cols));
    std::vector<float> d(static_cast<size_t>(n_blocks));
    std::vector<int32_t> sum(static_cast<size_t>(n_blocks));
    for (int64_t n_tok = 1; n_tok <= 4; ++n_tok) {  // every token count the decode path serves
      std::vector<float> y(static_cast<size_t>(n_tok * 19));
      cpu::matmul(m.view, x.data(), n_tok, y.data());
      int differs_from_alone = 0, far_from_exact = 0;
      for (int64_t t = 0; t < n_tok; ++t) {
        const float* xt = x.data() + t * cols;
        const cpu::Q16Activations xa{q.data(), d.data(), sum.data()};
        cpu::quantize_q16(xt, cols, xa);
        std::vector<float> grouped(19);
        cpu::dot_q16_rows(m.view.type, m.bytes.data(), m.view.row_bytes, 19, xa, n_blocks,
                          grouped.data());
        for (int64_t r = 0; r < 19; ++r) {
          const float alone =
              cpu::dot_q16(m.view.type, m.bytes.data() + r * m.view.row_bytes, xa, n_blocks);
          if (std::memcmp(&alone, &grouped[size_t(r)], 4) != 0) ++differs_from_alone;
          if (std::memcmp(&alone, &y[size_t(t * 19 + r)], 4) != 0) ++differs_from_alone;
          double exact = 0, magnitude = 0;
          for (int64_t i = 0; i < cols; ++i) {
            exact += double(wf[size_t(r * cols + i)]) * xt[i];
            magnitude += std::fabs(double(wf[size_t(r * cols + i)]) * xt[i]);
          }
          if (std::fabs(alone - exact) > 1e-4 * magnitude) ++far_from_exact;
        }
      }
      CHECK(differs_from_alone == 0);
      CHECK(far_from_exact == 0);
    }
  }
}
