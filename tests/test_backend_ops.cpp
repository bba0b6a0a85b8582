// Every operation of engine/backend.h, on every backend this machine can run: the CPU backend
// against references written here in double precision, and every other backend (CUDA, where a GPU
// is present) against the CPU backend. The model is a random one built in memory (F32 weights), so
// the references are exact up to float rounding.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <random>

#include "engine/backend.h"
#include "kernels/common/fp16.h"

using namespace longctx;

namespace {

constexpr int64_t kTokens = 4;  // a device computes products of <= 8 tokens in float32 (gemv)
constexpr int64_t kCapacity = 16;

// Float rounding: the CPU backend's results differ from double by at most 1.4e-6 here (measured
// 2026-11-30, AVX2). 1e-4 leaves room for another ISA's or a device's summation order, while a
// wrong index, layout or factor moves values by O(0.1).
constexpr double kTolerance = 1e-4;

// The rotated dimensions' factor the rope operation is tested with (yarn's attention factor).
constexpr double kRopeAmplitude = 1.25;

// The routed experts of the tiny model: 6 of 32 wide (the CUDA products take rows of whole
// 32-element blocks), 2 per token.
constexpr int64_t kExperts = 6, kExpertsUsed = 2, kExpertFf = 32;

struct TinyModel {
  Model model;
  // `renormalize`: whether the routed experts' weights are renormalised over the chosen ones.
  TinyModel(RopeType rope, bool renormalize) {
    ModelConfig& c = model.config;
    c.arch = find_arch("llama");
    c.n_ctx_train = 64;
    c.n_embd = 64;
    c.n_layer = 1;
    c.n_head = 4;
    c.n_head_kv = 2;
    c.head_dim = c.value_dim = 16;
    c.n_rot = rope == RopeType::Neox ? 12 : 16;  // partial rotation (Phi-3/4's factor) on one
    c.n_ff = 96;
    c.n_vocab = 40;
    c.rope_type = rope;
    c.rms_eps = 1e-5;
    c.rope_base = 10000.0;
    c.attention_scale = float(1.0 / std::sqrt(16.0));
    c.layer_is_local = {false};
    c.experts = {kExperts, kExpertsUsed, kExpertFf, renormalize};
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.0f, 0.5f);
    auto matrix = [&](int64_t rows, int64_t cols) {
      std::vector<float>& w = model.owned.emplace_back(size_t(rows * cols));
      for (float& x : w) x = normal(rng);
      return MatrixView{kernels::BlockType::F32, reinterpret_cast<const uint8_t*>(w.data()), rows,
                        cols, cols * 4};
    };
    auto vector = [&](int64_t n) {
      std::vector<float>& v = model.owned.emplace_back(size_t(n));
      for (float& x : v) x = 1.0f + normal(rng);
      return v.data();
    };
    model.owned.reserve(64);  // views point into the vectors: no reallocation
    model.token_embd = matrix(c.n_vocab, c.n_embd);
    model.output = matrix(c.n_vocab, c.n_embd);
    model.output_norm = vector(c.n_embd);
    LayerWeights L;
    L.attn_norm = vector(c.n_embd);
    L.wq = matrix(c.n_head * c.head_dim, c.n_embd);
    L.wk = matrix(c.n_head_kv * c.head_dim, c.n_embd);
    L.wv = matrix(c.n_head_kv * c.head_dim, c.n_embd);
    L.wo = matrix(c.n_embd, c.n_head * c.head_dim);
    L.bq = vector(c.n_head * c.head_dim);
    L.ffn_norm = vector(c.n_embd);
    L.w_gate = matrix(c.n_ff, c.n_embd);
    L.w_up = matrix(c.n_ff, c.n_embd);
    L.w_down = matrix(c.n_embd, c.n_ff);
    L.router = matrix(kExperts, c.n_embd);
    for (int64_t e = 0; e < kExperts; ++e) {
      L.gate_exps.push_back(matrix(kExpertFf, c.n_embd));
      L.up_exps.push_back(matrix(kExpertFf, c.n_embd));
      L.down_exps.push_back(matrix(c.n_embd, kExpertFf));
    }
    model.layers.push_back(L);
  }
  const float* row(const MatrixView& m, int64_t r) const {
    return reinterpret_cast<const float*>(m.data) + r * m.cols;
  }
};

std::vector<float> random_floats(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = normal(rng);
  return v;
}

void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                  const std::string& what) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(got[i] - want[i]));
  INFO(what << ": largest difference " << worst);
  CHECK(worst < kTolerance);
}

std::vector<float> read(Backend& b, Act a, int64_t count) {
  const float* p = b.read(a, count);
  return {p, p + count};
}

// One operation of the table: runs it on a backend and returns what it wrote; `reference` is its
// double-precision result from the same inputs.
struct OpCase {
  std::string name;
  std::function<std::vector<float>(Backend&, KvBook&)> run;
  std::function<std::vector<double>()> reference;
};

std::vector<OpCase> op_table(const TinyModel& tm) {
  const Model* m = &tm.model;  // captured by address: a Model does not copy
  const TinyModel* tiny = &tm;
  const ModelConfig& c = m->config;
  const LayerWeights& L = m->layers[0];
  const int64_t n = kTokens, d = c.n_embd, hd = c.head_dim;
  const int64_t q_dim = c.n_head * hd, kv_dim = c.n_head_kv * hd;
  const std::vector<float> x = random_floats(n * d, 1), h = random_floats(n * d, 2);
  const std::vector<float> q = random_floats(n * q_dim, 3), k = random_floats(n * kv_dim, 4);
  const std::vector<float> v = random_floats(n * kv_dim, 5);
  const std::vector<float> gate = random_floats(n * c.n_ff, 6), up = random_floats(n * c.n_ff, 7);
  const std::vector<int32_t> tokens = {3, 0, 39, 17};
  const std::vector<int32_t> pos = {5, 6, 7, 30};
  auto rms = [](const float* in, const float* w, int64_t width, double eps, double* out) {
    double ss = 0;
    for (int64_t i = 0; i < width; ++i) ss += double(in[i]) * in[i];
    const double inv = 1.0 / std::sqrt(ss / double(width) + eps);
    for (int64_t i = 0; i < width; ++i) out[i] = in[i] * inv * w[i];
  };
  auto product = [=](const MatrixView& w, const std::vector<float>& in) {
    std::vector<double> out(size_t(n * w.rows));
    for (int64_t t = 0; t < n; ++t)
      for (int64_t r = 0; r < w.rows; ++r) {
        double s = 0;
        for (int64_t i = 0; i < w.cols; ++i)
          s += double(tiny->row(w, r)[i]) * in[size_t(t * w.cols + i)];
        out[size_t(t * w.rows + r)] = s;
      }
    return out;
  };
  std::vector<OpCase> ops;
  ops.push_back({"embed",
                 [=](Backend& b, KvBook&) {
                   b.embed(tokens.data(), n);
                   return read(b, Act::X, n * d);
                 },
                 [=] {
                   std::vector<double> out;
                   for (int32_t t : tokens)
                     for (int64_t i = 0; i < d; ++i) out.push_back(tiny->row(m->token_embd, t)[i]);
                   return out;
                 }});
  ops.push_back({"scale",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::X, x.data(), n * d);
                   b.scale(Act::X, 8.0f, n * d);
                   return read(b, Act::X, n * d);
                 },
                 [=] {
                   std::vector<double> out;
                   for (float e : x) out.push_back(8.0 * e);
                   return out;
                 }});
  ops.push_back({"rms_norm rows",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::X, x.data(), n * d);
                   b.rms_norm(Act::X, L.attn_norm, float(c.rms_eps), n, d, Act::H);
                   return read(b, Act::H, n * d);
                 },
                 [=] {
                   std::vector<double> out(size_t(n * d));
                   for (int64_t t = 0; t < n; ++t)
                     rms(x.data() + t * d, L.attn_norm, d, c.rms_eps, out.data() + t * d);
                   return out;
                 }});
  ops.push_back({"rms_norm per head, in place",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::Q, q.data(), n * q_dim);
                   b.rms_norm(Act::Q, L.attn_norm, float(c.rms_eps), n * c.n_head, hd, Act::Q);
                   return read(b, Act::Q, n * q_dim);
                 },
                 [=] {
                   std::vector<double> out(size_t(n * q_dim));
                   for (int64_t r = 0; r < n * c.n_head; ++r)
                     rms(q.data() + r * hd, L.attn_norm, hd, c.rms_eps, out.data() + r * hd);
                   return out;
                 }});
  ops.push_back({"matmul, three products sharing an input",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::H, h.data(), n * d);
                   const Product qkv[] = {{&L.wq, Act::Q}, {&L.wk, Act::K}, {&L.wv, Act::V}};
                   b.matmul(qkv, Act::H, n);
                   std::vector<float> out = read(b, Act::Q, n * q_dim);
                   for (Act a : {Act::K, Act::V}) {
                     std::vector<float> more = read(b, a, n * kv_dim);
                     out.insert(out.end(), more.begin(), more.end());
                   }
                   return out;
                 },
                 [=] {
                   std::vector<double> out = product(L.wq, h);
                   for (const MatrixView* w : {&L.wk, &L.wv}) {
                     std::vector<double> more = product(*w, h);
                     out.insert(out.end(), more.begin(), more.end());
                   }
                   return out;
                 }});
  ops.push_back({"add_bias",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::Q, q.data(), n * q_dim);
                   b.add_bias(Act::Q, L.bq, n, q_dim);
                   return read(b, Act::Q, n * q_dim);
                 },
                 [=] {
                   std::vector<double> out(size_t(n * q_dim));
                   for (int64_t i = 0; i < n * q_dim; ++i)
                     out[size_t(i)] = q[size_t(i)] + L.bq[i % q_dim];
                   return out;
                 }});
  ops.push_back({"rope",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::Q, q.data(), n * q_dim);
                   b.rope(Act::Q, 0, n, c.n_head, pos.data());
                   return read(b, Act::Q, n * q_dim);
                 },
                 [=] {
                   // Pair i of a head: (x[2i], x[2i+1]) for llama's "norm" layout, (x[i],
                   // x[i + n_rot/2]) for NeoX, turned by pos * base^(-2i / n_rot) and scaled by
                   // the amplitude; dimensions past n_rot untouched.
                   std::vector<double> out(q.begin(), q.end());
                   for (int64_t t = 0; t < n; ++t)
                     for (int64_t hh = 0; hh < c.n_head; ++hh)
                       for (int64_t i = 0; i < c.n_rot / 2; ++i) {
                         const double angle =
                             pos[size_t(t)] *
                             std::pow(c.rope_base, -2.0 * double(i) / double(c.n_rot));
                         const int64_t base = (t * c.n_head + hh) * hd;
                         const int64_t a = base + (c.rope_type == RopeType::Neox ? i : 2 * i);
                         const int64_t bb = c.rope_type == RopeType::Neox ? a + c.n_rot / 2 : a + 1;
                         const double x0 = q[size_t(a)], x1 = q[size_t(bb)];
                         const double amp = kRopeAmplitude;
                         out[size_t(a)] = amp * (x0 * std::cos(angle) - x1 * std::sin(angle));
                         out[size_t(bb)] = amp * (x0 * std::sin(angle) + x1 * std::cos(angle));
                       }
                   return out;
                 }});
  // Attention over the cache after kv_append, every key of the causal past (a dense selection),
  // and the attention mass of the last two queries: keys and values as the f16 cache holds them.
  // With `dropped`, that token left the cache (a drop: the last token's rows moved into its slot).
  auto f16 = [](float x) { return double(kernels::fp16_to_float(kernels::float_to_fp16(x))); };
  auto attention_ref = [=](bool want_mass, int64_t dropped = -1) {
    auto slot = [=](int64_t j) { return j == n - 1 && dropped >= 0 ? dropped : j; };
    std::vector<double> out(size_t(n * q_dim)), mass(size_t(c.n_head_kv * kCapacity), 0.0);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t hh = 0; hh < c.n_head; ++hh) {
        const int64_t g = hh / (c.n_head / c.n_head_kv);
        std::vector<double> p;
        double mx = -1e300;
        for (int64_t j = 0; j <= t; ++j) {  // positions ascend with the tokens: causal = j <= t
          if (j == dropped) {
            p.push_back(-1e300);  // no weight
            continue;
          }
          double s = 0;
          for (int64_t i = 0; i < hd; ++i)
            s += double(q[size_t((t * c.n_head + hh) * hd + i)]) *
                 f16(k[size_t((j * c.n_head_kv + g) * hd + i)]);
          p.push_back(s * c.attention_scale);
          mx = std::max(mx, p.back());
        }
        double z = 0;
        for (double& e : p) z += (e = std::exp(e - mx));
        for (int64_t i = 0; i < hd; ++i) {
          double acc = 0;
          for (int64_t j = 0; j <= t; ++j)
            acc += p[size_t(j)] / z * f16(v[size_t((j * c.n_head_kv + g) * hd + i)]);
          out[size_t((t * c.n_head + hh) * hd + i)] = acc;
        }
        if (t >= n - 2)
          for (int64_t j = 0; j <= t; ++j)
            if (j != dropped) mass[size_t(g * kCapacity + slot(j))] += p[size_t(j)] / z;
      }
    return want_mass ? mass : out;
  };
  auto attend = [=](Backend& b, KvBook& book, bool want_mass, int64_t dropped = -1) {
    b.write(Act::Q, q.data(), n * q_dim);
    b.write(Act::K, k.data(), n * kv_dim);
    b.write(Act::V, v.data(), n * kv_dim);
    b.kv_append(0, book.append(0, n, pos.data()), n, pos.data());
    if (dropped >= 0) {  // the book drops the slot in every KV head; the backend moves its rows
      std::vector<KvMove> moves;
      book.drop(0, std::vector<int32_t>(size_t(c.n_head_kv), int32_t(dropped)), 1, moves);
      REQUIRE(moves.size() == size_t(c.n_head_kv));
      b.replay(0, moves, nullptr);
    }
    Selection sel;
    sel.clear();
    for (int64_t g = 0; g < c.n_head_kv; ++g) {
      sel.add(0, int32_t(book.used(0)));
      sel.end_head();
    }
    AttendStep step;
    step.n = n;
    step.selection = &sel;
    step.lse = want_mass;
    b.attend(step, book);
    if (!want_mass) return read(b, Act::Attn, n * q_dim);
    std::vector<float> mass(size_t(c.n_head_kv * kCapacity), 0.0f);
    b.attention_mass(step, book, n - 2, mass.data());
    return mass;
  };
  ops.push_back({"kv_append + attend",
                 [=](Backend& b, KvBook& book) { return attend(b, book, false); },
                 [=] { return attention_ref(false); }});
  ops.push_back({"attention_mass", [=](Backend& b, KvBook& book) { return attend(b, book, true); },
                 [=] { return attention_ref(true); }});
  ops.push_back({"replay (a drop) + attend",
                 [=](Backend& b, KvBook& book) { return attend(b, book, false, 1); },
                 [=] { return attention_ref(false, 1); }});
  ops.push_back({"replay (a drop) + attention_mass",
                 [=](Backend& b, KvBook& book) { return attend(b, book, true, 1); },
                 [=] { return attention_ref(true, 1); }});
  for (Activation act : {Activation::Silu, Activation::GeluTanh}) {
    ops.push_back(
        {act == Activation::Silu ? "gated silu" : "gated gelu-tanh",
         [=](Backend& b, KvBook&) {
           b.write(Act::Gate, gate.data(), n * c.n_ff);
           b.write(Act::Up, up.data(), n * c.n_ff);
           b.gated_activation(act, n * c.n_ff);
           return read(b, Act::Gate, n * c.n_ff);
         },
         [=] {
           std::vector<double> out;
           for (size_t i = 0; i < gate.size(); ++i) {
             const double g = gate[i];
             const double a =
                 act == Activation::Silu
                     ? g / (1.0 + std::exp(-g))
                     : 0.5 * g * (1.0 + std::tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)));
             out.push_back(a * up[i]);
           }
           return out;
         }});
  }
  ops.push_back({"add (residual)",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::X, x.data(), n * d);
                   b.write(Act::O, h.data(), n * d);
                   b.add(Act::X, Act::O, n * d);
                   return read(b, Act::X, n * d);
                 },
                 [=] {
                   std::vector<double> out;
                   for (size_t i = 0; i < x.size(); ++i) out.push_back(double(x[i]) + h[i]);
                   return out;
                 }});
  // Routing: token 0's two largest logits tie (the lower id first), token 1 has all equal.
  std::vector<float> router = random_floats(n * kExperts, 8);
  router[1] = router[4] = 3.0f;
  for (int64_t x = 0; x < kExperts; ++x) router[size_t(kExperts + x)] = 0.5f;
  // The reference choice: ids by descending logit (ties: lower id), softmax over every expert in
  // double, renormalised over the chosen ones when the model says so.
  auto route_ref = [=](int64_t t, std::vector<int64_t>& ids, std::vector<double>& w) {
    const float* l = router.data() + t * kExperts;
    ids.resize(size_t(kExperts));
    for (int64_t x = 0; x < kExperts; ++x) ids[size_t(x)] = x;
    std::stable_sort(ids.begin(), ids.end(), [l](int64_t a, int64_t b) { return l[a] > l[b]; });
    ids.resize(size_t(kExpertsUsed));
    double z = 0, chosen = 0;
    for (int64_t x = 0; x < kExperts; ++x) z += std::exp(double(l[x]));
    w.clear();
    for (int64_t id : ids) chosen += w.emplace_back(std::exp(double(l[id])) / z);
    if (c.experts.renormalize)
      for (double& e : w) e /= chosen;
  };
  ops.push_back({"route (softmax top-k)",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::Router, router.data(), n * kExperts);
                   b.route(n);
                   const Routes r = b.routes(n);
                   std::vector<float> out(r.ids.begin(), r.ids.end());
                   out.insert(out.end(), r.weights.begin(), r.weights.end());
                   return out;
                 },
                 [=] {
                   std::vector<double> ids, weights;
                   for (int64_t t = 0; t < n; ++t) {
                     std::vector<int64_t> id;
                     std::vector<double> w;
                     route_ref(t, id, w);
                     ids.insert(ids.end(), id.begin(), id.end());
                     weights.insert(weights.end(), w.begin(), w.end());
                   }
                   ids.insert(ids.end(), weights.begin(), weights.end());
                   return ids;
                 }});
  ops.push_back({"route + experts",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::Router, router.data(), n * kExperts);
                   b.write(Act::H, h.data(), n * d);
                   b.route(n);
                   b.experts(L, Activation::Silu, n);
                   return read(b, Act::O, n * d);
                 },
                 [=] {
                   std::vector<double> out(size_t(n * d), 0.0);
                   for (int64_t t = 0; t < n; ++t) {
                     std::vector<int64_t> ids;
                     std::vector<double> w;
                     route_ref(t, ids, w);
                     const std::vector<float> in(h.begin() + t * d, h.begin() + (t + 1) * d);
                     for (size_t j = 0; j < ids.size(); ++j) {
                       const size_t x = size_t(ids[j]);
                       std::vector<double> act(static_cast<size_t>(kExpertFf));
                       for (int64_t r = 0; r < kExpertFf; ++r) {
                         double g = 0, u = 0;
                         for (int64_t i = 0; i < d; ++i) {
                           g += double(tiny->row(L.gate_exps[x], r)[i]) * in[size_t(i)];
                           u += double(tiny->row(L.up_exps[x], r)[i]) * in[size_t(i)];
                         }
                         act[size_t(r)] = g / (1.0 + std::exp(-g)) * u;
                       }
                       for (int64_t r = 0; r < d; ++r) {
                         double y = 0;
                         for (int64_t i = 0; i < kExpertFf; ++i)
                           y += double(tiny->row(L.down_exps[x], r)[i]) * act[size_t(i)];
                         out[size_t(t * d + r)] += w[j] * y;
                       }
                     }
                   }
                   return out;
                 }});
  ops.push_back({"output from row 1",
                 [=](Backend& b, KvBook&) {
                   b.write(Act::H, h.data(), n * d);
                   std::vector<float> out(size_t((n - 1) * c.n_vocab));
                   b.output(Act::H, 1, n, out.data());
                   return out;
                 },
                 [=] {
                   std::vector<double> all = product(m->output, h);
                   return std::vector<double>(all.begin() + c.n_vocab, all.end());
                 }});
  return ops;
}

KvLayout layout_of(const ModelConfig& c) {
  return KvLayout(c.n_head_kv, c.head_dim, c.value_dim,
                  std::vector<int64_t>(size_t(c.n_layer), kCapacity));
}

}  // namespace

TEST_CASE("every backend operation equals its reference, on every backend present", "[backend]") {
  for (RopeType rope : {RopeType::Norm, RopeType::Neox}) {
    // The two models cover both routings: weights renormalised over the chosen experts or not.
    TinyModel tm(rope, rope == RopeType::Neox);
    const ModelConfig& c = tm.model.config;
    // The CPU backend against double precision; every other registered backend this machine can
    // run against the CPU.
    std::vector<std::shared_ptr<const DeviceModel>> devices;
    for (const BackendKind& kind : backend_kinds()) {
      std::string why;
      // LONGCTX_REQUIRE_BACKEND=cuda: the CUDA rows must run (the CPU execution of the CUDA
      // code), not be skipped.
      const char* required = std::getenv("LONGCTX_REQUIRE_BACKEND");
      if (kind.usable(&why))
        devices.push_back(kind.load(tm.model));
      else if (required && kind.name == required)
        FAIL("backend " << kind.name << " is required but not usable: " << why);
      else
        WARN("backend " << kind.name << " is skipped: " << why);
    }
    REQUIRE(backend_kinds()[0].name == "cpu");
    for (const OpCase& op : op_table(tm)) {
      INFO("operation " << op.name << ", rope " << (rope == RopeType::Neox ? "neox" : "norm"));
      const KvLayout layout = layout_of(c);
      KvBook book(layout);
      RopeTable rope = {c.layer_rope(0, c.n_ctx_train)};
      rope[0].amplitude = float(kRopeAmplitude);  // as a yarn scaling's attention factor
      const std::vector<bool> no_host_rows(size_t(c.n_layer), false);
      auto cpu = devices[0]->open(kTokens, layout, no_host_rows, rope);
      const std::vector<float> on_cpu = op.run(*cpu, book);
      expect_close(on_cpu, op.reference(), "CPU against double");
      for (size_t d = 1; d < devices.size(); ++d) {
        KvBook device_book(layout);
        auto other = devices[d]->open(kTokens, layout, no_host_rows, rope);
        const std::vector<float> on_other = op.run(*other, device_book);
        expect_close(on_other, std::vector<double>(on_cpu.begin(), on_cpu.end()),
                     devices[d]->name() + " against CPU");
      }
    }
  }
}
