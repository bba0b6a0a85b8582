// CPU kernels against plain reference arithmetic on the same inputs.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <random>

#include "kernels/common/attention_math.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/attention_tile.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/quant_dot.h"
#include "kernels/cpu/vec.h"
#include "models/quant.h"
#include "tests/fixtures.h"

using namespace longctx;

TEST_CASE("integer dots over 32-element blocks equal the float product", "[kernels]") {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const char* name : {"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q6_K"}) {
    INFO(name);
    auto blocks = test::read_fixture(std::string("quant/") + name + ".blocks");
    const quant::TypeInfo* t = nullptr;
    for (const auto& ti : quant::all_types()) {
      if (ti.name == name) t = &ti;
    }
    auto type = kernels::BlockType(t->id);
    if (!cpu::has_integer_dot(type)) continue;  // scalar machine: the float path serves it
    int64_t n = int64_t(blocks.size()) / t->block_bytes * t->block_elems;
    int64_t n_blocks = n / 32;  // activation blocks
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
  // 24 blocks of 256 as 6 rows of 1024 or 24 rows of 256 (whole tiles of 8: the 4 x 6 core);
  // 17 tokens = two blocks of 6, one of 4 and one alone.
  auto blocks = test::read_fixture("quant/Q4_K.blocks");
  const int64_t rows = GENERATE(6, 24), n_tok = GENERATE(3, 17), cols = 6 * 1024 / rows;
  INFO(rows << " rows, " << n_tok << " tokens");
  kernels::MatrixView w{kernels::BlockType::Q4_K, blocks.data(), rows, cols, cols / 256 * 144};
  std::vector<float> x(static_cast<size_t>(n_tok * cols)), y(static_cast<size_t>(n_tok * rows));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : x) v = u(rng);
  cpu::matmul(w, x.data(), n_tok, y.data());
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    quant::dequantize_row(w.type, blocks.data() + r * w.row_bytes, row.data(), cols);
    for (int64_t t = 0; t < n_tok; ++t) {
      double ref = 0, mag = 0;
      for (int64_t i = 0; i < cols; ++i) {
        ref += double(row[size_t(i)]) * x[size_t(t * cols + i)];
        mag += std::fabs(double(row[size_t(i)]) * x[size_t(t * cols + i)]);
      }
      CHECK(std::fabs(y[size_t(t * rows + r)] - ref) <= 1e-5 * mag + 1e-6);
    }
  }
}

namespace {

// A direct double-precision softmax of one (query, head) row over the visible selected keys.
struct Reference {
  std::vector<double> p;  // probabilities
  std::vector<int> idx;   // their slots
};

}  // namespace

TEST_CASE("tiled attention and its mass equal a direct softmax, in every KV precision",
          "[kernels]") {
  // Head sizes of the supported models (64, 256) and one with 16-wide tails; 40 queries cross
  // the kernel's 32-query blocks, and the causal mask cuts through the cache; one query over
  // 2000 keys is a decode step, split over the keys when there are fewer KV heads than threads.
  struct Shape {
    int64_t hd, n_head, n_kv;
  };
  const Shape shape = GENERATE(Shape{64, 4, 2}, Shape{96, 6, 2}, Shape{256, 8, 1});
  const int64_t n_q = GENERATE(40, 1), cap = n_q == 1 ? 2000 : 100;
  const int64_t n_head = shape.n_head, n_kv = shape.n_kv, hd = shape.hd, group = n_head / n_kv;
  const int64_t q_begin = n_q == 1 ? 0 : 2;  // of the statistics pass
  INFO("head_dim " << hd << ", " << n_head << " heads, " << n_kv << " KV heads, " << n_q
                   << " queries");
  std::mt19937 rng(9);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> q(static_cast<size_t>(n_q * n_head * hd));
  for (auto& v : q) v = normal(rng);
  std::vector<float> kf(static_cast<size_t>(n_kv * cap * hd)), vf(kf.size());
  for (auto& e : kf) e = normal(rng);
  for (auto& e : vf) e = normal(rng);
  // Per-head positions, shuffled in head 1 (eviction leaves slots out of order).
  std::vector<int32_t> key_pos(static_cast<size_t>(n_kv * cap)), q_pos(n_q);
  for (int64_t g = 0; g < n_kv; ++g)
    for (int i = 0; i < cap; ++i) key_pos[size_t(g * cap + i)] = i;
  if (n_kv > 1) std::shuffle(key_pos.begin() + cap, key_pos.begin() + 2 * cap, rng);
  for (int i = 0; i < n_q; ++i) q_pos[size_t(i)] = int32_t(cap - n_q + i);
  // Two spans per head with a hole: slots 10..19 are never read.
  const int32_t end = int32_t(cap - 5);
  std::vector<cpu::KeySpan> spans = {{0, 10}, {20, end}, {0, 10}, {20, end}};
  std::vector<int32_t> offsets = {0, 2, 4};
  for (auto type : {kernels::KvType::F16, kernels::KvType::Q8_0, kernels::KvType::Q4_0}) {
    const int64_t rb = kernels::kv_row_bytes(type, hd);
    std::vector<uint8_t> k(size_t(n_kv * cap * rb)), v(k.size());
    std::vector<float> kd(kf.size()), vd(vf.size());  // what the cache holds, decoded
    for (int64_t r = 0; r < n_kv * cap; ++r) {
      kernels::encode_kv_row(type, kf.data() + r * hd, k.data() + r * rb, hd);
      kernels::encode_kv_row(type, vf.data() + r * hd, v.data() + r * rb, hd);
      kernels::decode_kv_row(type, k.data() + r * rb, kd.data() + r * hd, hd);
      kernels::decode_kv_row(type, v.data() + r * rb, vd.data() + r * hd, hd);
    }
    for (int64_t window : {int64_t(0), int64_t(40)}) {
      std::vector<float> out(q.size()), lse(size_t(n_q * n_head));
      std::vector<float> mass(size_t(n_kv * cap), 0.0f);
      cpu::AttentionArgs a;
      a.q = q.data();
      a.n_q = n_q;
      a.n_head = n_head;
      a.n_kv_head = n_kv;
      a.head_dim = hd;
      a.kv_type = type;
      a.k = k.data();
      a.v = v.data();
      a.capacity = cap;
      a.key_pos = key_pos.data();
      a.q_pos = q_pos.data();
      a.window = window;
      a.scale = 0.125f;
      a.spans = spans.data();
      a.span_offsets = offsets.data();
      a.out = out.data();
      a.lse = lse.data();
      cpu::attention(a);
      cpu::attention_mass(a, q_begin, mass.data());
      std::vector<double> ref_mass(mass.size(), 0.0);
      std::vector<double> head_mass(size_t(n_head * cap), 0.0);  // per query head, over queries
      for (int64_t qi = 0; qi < n_q; ++qi) {
        for (int64_t h = 0; h < n_head; ++h) {
          int64_t g = h / group;
          Reference r;
          for (int j = 0; j < cap; ++j) {
            int32_t kp = key_pos[size_t(g * cap + j)];
            bool in_span = j < 10 || (j >= 20 && j < end);
            bool visible =
                kp <= q_pos[size_t(qi)] && (window == 0 || q_pos[size_t(qi)] - kp < window);
            if (!in_span || !visible) continue;
            double dot = 0;
            for (int e = 0; e < hd; ++e)
              dot += q[size_t((qi * n_head + h) * hd + e)] * kd[size_t((g * cap + j) * hd + e)];
            r.p.push_back(0.125 * dot);
            r.idx.push_back(j);
          }
          double mx = *std::max_element(r.p.begin(), r.p.end()), den = 0;
          for (double& e : r.p) den += e = std::exp(e - mx);
          for (double& e : r.p) e /= den;
          for (int e = 0; e < hd; ++e) {
            double ref = 0;
            for (size_t i = 0; i < r.p.size(); ++i)
              ref += r.p[i] * vd[size_t((g * cap + r.idx[i]) * hd + e)];
            CHECK(std::fabs(out[size_t((qi * n_head + h) * hd + e)] - ref) < 1e-4);
          }
          if (qi >= q_begin) {
            for (size_t i = 0; i < r.p.size(); ++i) {
              ref_mass[size_t(g * cap + r.idx[i])] += r.p[i];
              head_mass[size_t(h * cap + r.idx[i])] += r.p[i];
            }
          }
        }
      }
      double total = 0;
      for (size_t i = 0; i < mass.size(); ++i) {
        CHECK(std::fabs(mass[i] - ref_mass[i]) < 1e-5);
        total += mass[i];
      }
      CHECK(std::fabs(total - double(n_q - q_begin) * n_head) < 1e-2);  // rows sum to one
      // The group's heads combined by their largest mass (recycled attention's rule).
      std::vector<float> max_mass(mass.size(), 0.0f);
      a.mass_max = true;
      cpu::attention_mass(a, q_begin, max_mass.data());
      a.mass_max = false;
      size_t below_sum = 0;
      for (int64_t g = 0; g < n_kv; ++g) {
        for (int64_t j = 0; j < cap; ++j) {
          double ref = 0;
          for (int64_t hh = 0; hh < group; ++hh)
            ref = std::max(ref, head_mass[size_t((g * group + hh) * cap + j)]);
          CHECK(std::fabs(max_mass[size_t(g * cap + j)] - ref) < 1e-5);
          below_sum += ref < ref_mass[size_t(g * cap + j)] - 1e-3;
        }
      }
      CHECK(below_sum > 0);  // the two rules differ on this data
    }
  }
}

TEST_CASE("per-query-block selections: each block reads only its own spans", "[kernels]") {
  // Two blocks of 8 queries; block 0 reads keys 0..7 only, block 1 keys 8..15 only. With values
  // equal to one-hot slot markers, the output shows which keys each block read.
  const int64_t n_q = 16, hd = 32, cap = 16;
  std::vector<float> q(size_t(n_q * hd), 0.0f);
  std::vector<uint16_t> k(size_t(cap * hd), kernels::float_to_fp16(0.0f)), v(k);
  for (int s = 0; s < cap; ++s) v[size_t(s * hd + s)] = kernels::float_to_fp16(1.0f);
  std::vector<int32_t> key_pos(cap), q_pos(n_q);
  for (int i = 0; i < cap; ++i) key_pos[size_t(i)] = i;
  for (int i = 0; i < n_q; ++i) q_pos[size_t(i)] = 100 + i;
  std::vector<cpu::KeySpan> spans = {{0, 8}, {8, 16}};
  std::vector<int32_t> offsets = {0, 1, 2};
  std::vector<float> out(q.size());
  cpu::AttentionArgs a;
  a.q = q.data();
  a.n_q = n_q;
  a.n_head = a.n_kv_head = 1;
  a.head_dim = hd;
  a.k = reinterpret_cast<const uint8_t*>(k.data());
  a.v = reinterpret_cast<const uint8_t*>(v.data());
  a.capacity = cap;
  a.key_pos = key_pos.data();
  a.q_pos = q_pos.data();
  a.spans = spans.data();
  a.span_offsets = offsets.data();
  a.span_q_block = 8;
  a.out = out.data();
  cpu::attention(a);
  for (int64_t qi = 0; qi < n_q; ++qi) {
    for (int s = 0; s < cap; ++s) {
      bool read = (qi < 8) == (s < 8);
      CHECK(out[size_t(qi * hd + s)] == Approx(read ? 0.125 : 0.0));
    }
  }
}

TEST_CASE("matrices sharing an input give what each gives alone", "[kernels]") {
  for (const char* name : {"Q4_1", "Q8_0", "Q4_K"}) {
    INFO(name);
    auto blocks = test::read_fixture(std::string("quant/") + name + ".blocks");
    const quant::TypeInfo* t = nullptr;
    for (const auto& ti : quant::all_types())
      if (ti.name == name) t = &ti;
    auto type = kernels::BlockType(t->id);
    const int64_t cols = 256, row_bytes = cols / t->block_elems * t->block_bytes;
    const int64_t rows = int64_t(blocks.size()) / row_bytes;
    REQUIRE(rows >= 6);
    kernels::MatrixView a{type, blocks.data(), rows, cols, row_bytes};
    kernels::MatrixView b{type, blocks.data() + row_bytes, rows - 1, cols,
                          row_bytes};  // overlapping rows
    kernels::MatrixView c{type, blocks.data() + 2 * row_bytes, 5, cols, row_bytes};
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t n_tokens : {1, 3, 7}) {
      std::vector<float> x(static_cast<size_t>(n_tokens * cols));
      for (auto& v : x) v = normal(rng);
      std::vector<float> ya(size_t(n_tokens * a.rows)), yb(size_t(n_tokens * b.rows)),
          yc(size_t(n_tokens * 5));
      const cpu::MatmulOut outs[] = {{&a, ya.data()}, {&b, yb.data()}, {&c, yc.data()}};
      cpu::matmul_shared_input(outs, x.data(), n_tokens);
      for (const auto& [w, y] : {std::pair{&a, &ya}, std::pair{&b, &yb}, std::pair{&c, &yc}}) {
        std::vector<float> alone(y->size());
        cpu::matmul(*w, x.data(), n_tokens, alone.data());
        CHECK(*y == alone);
      }
    }
  }
}

TEST_CASE("the shared attention arithmetic: masks, split shares, the merge", "[kernels]") {
  using namespace longctx::kernels;
  CHECK(key_visible(5, 5, 0));
  CHECK_FALSE(key_visible(6, 5, 0));
  CHECK(key_visible(0, 100000, 0));
  CHECK(key_visible(2, 5, 4));        // 3 back, window 4
  CHECK_FALSE(key_visible(1, 5, 4));  // 4 back: outside
  // The shares of every split cover the selection once, in order, for any split count.
  for (int64_t total : {0, 1, 31, 32, 1000, 1001}) {
    for (int64_t n_splits : {1, 2, 3, 7, 64}) {
      int64_t next = 0;
      for (int64_t s = 0; s < n_splits; ++s) {
        const KeyShare share = split_share(total, n_splits, s);
        if (share.lo >= total) continue;  // more splits than keys: the rest read nothing
        REQUIRE(share.lo == next);
        REQUIRE(share.hi > share.lo);
        next = share.hi;
      }
      REQUIRE(next == total);
    }
  }
  // Two splits of one row (head_dim 2): the merge equals the softmax over both at once.
  const float s1[] = {1.0f, 2.0f}, s2[] = {0.5f, -1.0f};  // scores of each split's keys
  const float v[2][2][2] = {{{1, 0}, {0, 1}}, {{2, 2}, {-1, 3}}};
  float partial[2][4] = {};
  const float* scores[] = {s1, s2};
  for (int s = 0; s < 2; ++s) {
    const float m = std::max(scores[s][0], scores[s][1]);
    for (int j = 0; j < 2; ++j) {
      const float p = std::exp(scores[s][j] - m);
      partial[s][0] += p * v[s][j][0];
      partial[s][1] += p * v[s][j][1];
      partial[s][3] += p;
    }
    partial[s][2] = m;
  }
  const float mx = merge_max(&partial[0][0], 2, 2);
  float denom = 0, out[2] = {0, 0};
  for (int s = 0; s < 2; ++s) {
    const float w = merge_weight(&partial[0][0], s, 2, mx);
    denom += partial[s][3] * w;
    out[0] += partial[s][0] * w;
    out[1] += partial[s][1] * w;
  }
  double ref[2] = {0, 0}, z = 0;
  for (int s = 0; s < 2; ++s) {
    for (int j = 0; j < 2; ++j) {
      const double p = std::exp(double(scores[s][j]));
      z += p;
      ref[0] += p * v[s][j][0];
      ref[1] += p * v[s][j][1];
    }
  }
  CHECK(out[0] / denom == Approx(ref[0] / z).epsilon(1e-6));
  CHECK(out[1] / denom == Approx(ref[1] / z).epsilon(1e-6));
  CHECK(merged_lse(mx, denom) == Approx(std::log(z)).epsilon(1e-6));
  // A split that saw no visible key weighs nothing; a row without any has lse +inf.
  float empty[4] = {0, 0, -INFINITY, 0};
  CHECK(merge_weight(empty, 0, 2, 1.0f) == 0.0f);
  CHECK(std::isinf(merged_lse(-INFINITY, 0.0f)));
}

TEST_CASE("a page's bound against a group of query rows is the largest single-row bound",
          "[kernels]") {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t n : {16, 64, 100, 256}) {
    for (int64_t rows : {1, 3, 8, 12}) {
      std::vector<float> q(static_cast<size_t>(rows * n)), lo(static_cast<size_t>(n)),
          hi(static_cast<size_t>(n));
      for (auto& x : q) x = normal(rng);
      for (int64_t i = 0; i < n; ++i) {
        const float a = normal(rng), b = normal(rng);
        lo[size_t(i)] = std::min(a, b);
        hi[size_t(i)] = std::max(a, b);
      }
      double best = -1e30;
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0;
        for (int64_t i = 0; i < n; ++i) {
          const double qv = q[size_t(r * n + i)];
          s += std::max(qv * lo[size_t(i)], qv * hi[size_t(i)]);
        }
        best = std::max(best, s);
      }
      INFO("n " << n << " rows " << rows);
      CHECK(cpu::bound_dot_max(q.data(), rows, lo.data(), hi.data(), n) ==
            Approx(best).epsilon(1e-5).margin(1e-4));
    }
  }
}

TEST_CASE("attention tiles over groups of query rows equal each row alone, bit for bit",
          "[kernels]") {
  namespace tile = cpu::tile;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int64_t dim : {64, 80, 256}) {
    for (int n : {32, 7}) {  // a full tile and a partial one
      INFO("dim " << dim << ", " << n << " keys");
      std::vector<float> rows(size_t(n * dim)), kt(size_t(tile::kKeys * dim)), v(size_t(n * dim)),
          q(size_t(tile::kRows * dim));
      for (auto* buf : {&rows, &v, &q})
        for (auto& e : *buf) e = normal(rng);
      tile::transpose(rows.data(), n, dim, kt.data());
      for (int n_rows = 1; n_rows <= tile::kRows; ++n_rows) {
        const float* qs[tile::kRows];
        for (int r = 0; r < n_rows; ++r) qs[r] = q.data() + r * dim;
        std::vector<float> grouped(size_t(tile::kRows * tile::kKeys)), alone(tile::kKeys);
        tile::scores_rows(qs, n_rows, kt.data(), dim, 0.125f, grouped.data());
        int differs = 0;
        for (int r = 0; r < n_rows; ++r) {
          tile::scores(qs[r], kt.data(), dim, 0.125f, alone.data());
          differs += std::memcmp(alone.data(), grouped.data() + r * tile::kKeys, 4 * size_t(n));
          // ... and both are the scaled dot products
          for (int j = 0; j < n; ++j) {
            double dot = 0;
            for (int64_t d = 0; d < dim; ++d) dot += double(qs[r][d]) * rows[size_t(j * dim + d)];
            CHECK(std::fabs(alone[size_t(j)] - 0.125 * dot) < 1e-4);
          }
        }
        CHECK(differs == 0);
        // Accumulation: each row its own probabilities, correction and running output.
        std::vector<float> p(size_t(tile::kRows * tile::kKeys)), c(tile::kRows);
        for (auto& e : p) e = std::fabs(normal(rng));
        for (auto& e : c) e = 0.5f + 0.1f * std::fabs(normal(rng));
        std::vector<float> out(size_t(tile::kRows * dim)), ref;
        for (auto& e : out) e = normal(rng);
        ref = out;
        float* outs[tile::kRows];
        for (int r = 0; r < n_rows; ++r) outs[r] = out.data() + r * dim;
        tile::accumulate_rows(p.data(), n_rows, v.data(), n, dim, c.data(), outs);
        for (int r = 0; r < n_rows; ++r)
          tile::accumulate(p.data() + r * tile::kKeys, v.data(), n, dim, c[size_t(r)],
                           ref.data() + r * dim);
        CHECK(std::memcmp(out.data(), ref.data(), 4 * size_t(tile::kRows * dim)) == 0);
      }
    }
  }
}
