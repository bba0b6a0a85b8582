// CUDA kernels against the CPU reference on the same inputs, then whole models
// (test_cuda_models.cpp): logits of the CUDA backend against the CPU session's. Exits 77 (CTest:
// skipped) when no CUDA device is present, as on CI machines.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <cmath>
#include <random>

#include "engine/attention/policy.h"
#include "engine/attention/registry.h"
#include "engine/kv_book.h"
#include "kernels/common/page_selection.h"
#include "kernels/common/rope.h"
#include "kernels/common/routing.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/matmul.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/dequant.h"
#include "kernels/cuda/kernels.h"
#include "models/gguf.h"
#include "models/model.h"
#include "models/quant.h"
#include "tests/cuda_check.h"
#include "tests/fixtures.h"
#include "tests/host_cache.h"

using namespace longctx;

namespace {

using test::cuda_failures;
using test::random_vector;
using test::rel_diff;
using test::report;
using test::to_device;
using test::to_host;

void compare(const std::string& what, kernels::BlockType type, const uint8_t* src, size_t bytes,
             int64_t rows, int64_t row_elems) {
  std::vector<float> cpu(size_t(rows * row_elems)), gpu(cpu.size());
  int64_t row_bytes = int64_t(bytes) / rows;
  for (int64_t r = 0; r < rows; ++r) {
    quant::dequantize_row(type, src + r * row_bytes, cpu.data() + r * row_elems, row_elems);
  }
  cuda::dequantize_rows_host(type, src, bytes, gpu.data(), rows, row_elems);
  size_t diff = 0;
  for (size_t i = 0; i < cpu.size(); ++i) diff += std::memcmp(&cpu[i], &gpu[i], 4) != 0;
  std::printf("%-8s %-40s %zu values, %zu differ\n", diff ? "FAIL" : "ok", what.c_str(), cpu.size(),
              diff);
  cuda_failures += diff != 0;
}

// Matrix products: every fixture block type, as decode (gemv) and as prefill (cuBLAS).
void test_matmul(std::mt19937& rng) {
  cuda::MatmulWorkspace ws;
  for (const quant::TypeInfo& t : quant::all_types()) {
    if (!t.decodable) continue;
    auto blocks = test::read_fixture("quant/" + std::string(t.name) + ".blocks");
    const int64_t n_blocks = int64_t(blocks.size()) / t.block_bytes;
    // The BF16 fixture reaches 3e38 (it tests decoding at the ends of the range): dot products
    // of such rows overflow float in one summation order and not in another, so CPU and device
    // both "differ" by infinity. Here those elements become 1.0 (bfloat16 0x3f80).
    if (kernels::BlockType(t.id) == kernels::BlockType::BF16) {
      for (size_t i = 0; i + 1 < blocks.size(); i += 2) {
        const int exponent = ((blocks[i + 1] & 0x7f) << 1) | (blocks[i] >> 7);  // little-endian
        if (exponent > 127 + 16) {
          blocks[i] = 0x80;
          blocks[i + 1] = 0x3f;
        }
      }
    }
    // As many rows of 256 elements as the fixture gives (or one row of whole blocks); unblocked
    // types (F32, F16, BF16) are read in chunks of 32, so their rows are cut to multiples of 256.
    int64_t elems = n_blocks * t.block_elems;
    if (t.block_elems == 1) elems = elems / 256 * 256;
    if (elems == 0) continue;
    const int64_t cols = elems % 256 == 0 ? 256 : elems, rows = elems / cols;
    kernels::MatrixView w{kernels::BlockType(t.id), blocks.data(), rows, cols,
                          cols / t.block_elems * t.block_bytes};
    cuda::Buffer<uint8_t> dw = to_device(blocks);
    kernels::MatrixView dwv = w;
    dwv.data = dw.get();
    // The CPU meets quantized rows with int16 activations (relative error ~1e-5 per element);
    // bfloat16 keeps 8 bits of mantissa in both operands.
    for (auto precision : {cuda::GemmPrecision::F32, cuda::GemmPrecision::BF16}) {
      ws.precision = precision;
      const bool bf16 = precision == cuda::GemmPrecision::BF16;
      for (int64_t n_tok : {int64_t(1), int64_t(5), int64_t(20)}) {
        if (bf16 && n_tok <= cuda::kGemvMaxTokens) continue;  // the same gemv
        auto x = random_vector(size_t(n_tok * cols), rng);
        std::vector<float> ref(size_t(n_tok * rows));
        cpu::matmul(w, x.data(), n_tok, ref.data());
        auto dx = to_device(x);
        cuda::Buffer<float> dy(ref.size());
        cuda::matmul(dwv, dx.get(), n_tok, dy.get(), ws);
        report("matmul " + std::string(t.name) + " x " + std::to_string(n_tok) + " tokens" +
                   (bf16 ? " bf16" : ""),
               rel_diff(to_host(dy, ref.size()), ref), bf16 ? 1.5e-2 : 5e-4);
      }
    }
  }
}

void test_ops(std::mt19937& rng) {
  const int64_t rows = 7, dim = 640;
  auto x = random_vector(size_t(rows * dim), rng), w = random_vector(size_t(dim), rng);
  std::vector<float> ref(x.size());
  for (int64_t r = 0; r < rows; ++r)
    cpu::rms_norm(x.data() + r * dim, w.data(), 1e-6f, dim, ref.data() + r * dim);
  auto dx = to_device(x), dw = to_device(w);
  cuda::Buffer<float> dy(x.size());
  cuda::rms_norm(dx.get(), dw.get(), 1e-6f, rows, dim, dy.get());
  report("rms_norm", rel_diff(to_host(dy, x.size()), ref), 1e-6);

  for (bool halves : {false, true}) {
    const int64_t n_tok = 5, heads = 3, hd = 64, n_rot = 64;
    auto q = random_vector(size_t(n_tok * heads * hd), rng);
    std::vector<float> inv(n_rot / 2);
    for (int64_t i = 0; i < n_rot / 2; ++i)
      inv[size_t(i)] = float(std::pow(10000.0, -2.0 * i / n_rot));
    std::vector<int32_t> pos = {0, 1, 77, 4095, 30000};
    std::vector<float> cref = q;
    const float amplitude = halves ? 1.25f : 1.0f;  // yarn's attention factor on one of them
    for (int64_t t = 0; t < n_tok; ++t)
      cpu::rope(cref.data() + t * heads * hd, heads, hd, n_rot, inv.data(), amplitude,
                pos[size_t(t)], halves ? cpu::RopeLayout::Halves : cpu::RopeLayout::Pairs);
    auto dq = to_device(q);
    auto dinv = to_device(inv);
    auto dpos = to_device(pos);
    cuda::rope(dq.get(), n_tok, heads, hd, n_rot, dinv.get(), amplitude, dpos.get(), halves);
    report(std::string("rope ") + (halves ? "halves" : "pairs"),
           rel_diff(to_host(dq, q.size()), cref), 1e-6);
  }
  for (bool gelu : {false, true}) {
    auto g = random_vector(4099, rng, 3.0f), u = random_vector(4099, rng);
    std::vector<float> cref = g;
    if (gelu) {
      cpu::geglu_tanh(cref.data(), u.data(), int64_t(g.size()));
    } else {
      cpu::swiglu(cref.data(), u.data(), int64_t(g.size()));
    }
    auto dg = to_device(g), du = to_device(u);
    cuda::gated(dg.get(), du.get(), int64_t(g.size()), gelu);
    report(gelu ? "geglu_tanh" : "swiglu", rel_diff(to_host(dg, g.size()), cref), 1e-5);
  }
  // Routed experts: each of 37 tokens' 4 of 64 experts (one token with tied logits), renormalised
  // and not, against the shared routing function on the host; then one expert's rows gathered and
  // its outputs added back, weighted, to the tokens routed to it.
  const int64_t n_tok = 37, count = 64, used = 4, width = 96;
  auto logits = random_vector(size_t(n_tok * count), rng, 2.0f);
  logits[3] = logits[9] = logits[40] = 9.0f;  // token 0: a three-way tie for its first choices
  for (bool renormalize : {true, false}) {
    std::vector<int32_t> ids(size_t(n_tok * used));
    std::vector<float> weights(ids.size());
    for (int64_t t = 0; t < n_tok; ++t)
      kernels::route_token(logits.data() + t * count, int32_t(count), int32_t(used), renormalize,
                           ids.data() + t * used, weights.data() + t * used);
    auto dl = to_device(logits);
    cuda::Buffer<int32_t> did(ids.size());
    cuda::Buffer<float> dwt(ids.size());
    cuda::route(dl.get(), n_tok, count, used, renormalize, did.get(), dwt.get());
    std::vector<int32_t> got(ids.size());
    did.download(got.data(), got.size());
    const bool same_ids = got == ids;
    std::printf("%-8s %-40s %s\n", same_ids ? "ok" : "FAIL",
                renormalize ? "route ids (renormalised)" : "route ids",
                same_ids ? "equal" : "differ");
    cuda_failures += !same_ids;
    report(renormalize ? "route weights (renormalised)" : "route weights",
           rel_diff(to_host(dwt, weights.size()), weights), 1e-6);
    if (!renormalize) continue;
    // The choices of expert ids[0]'s tokens (slot t * used + j), as the backends group them.
    const int32_t expert = ids[0];
    std::vector<int32_t> slots;
    for (int64_t s = 0; s < n_tok * used; ++s)
      if (ids[size_t(s)] == expert) slots.push_back(int32_t(s));
    const int64_t m = int64_t(slots.size());
    auto h = random_vector(size_t(n_tok * width), rng), out = random_vector(size_t(m * width), rng);
    auto y = random_vector(size_t(n_tok * width), rng);
    std::vector<float> gathered(size_t(m * width)), added = y;
    for (int64_t i = 0; i < m; ++i) {
      const int64_t t = slots[size_t(i)] / used;
      for (int64_t c = 0; c < width; ++c) {
        gathered[size_t(i * width + c)] = h[size_t(t * width + c)];
        added[size_t(t * width + c)] +=
            weights[size_t(slots[size_t(i)])] * out[size_t(i * width + c)];
      }
    }
    auto dh = to_device(h), dout = to_device(out), dy = to_device(y);
    auto dslots = to_device(slots);
    cuda::Buffer<float> dg(gathered.size());
    cuda::gather_rows(dh.get(), dslots.get(), m, used, width, dg.get());
    report("gather_rows (one expert's tokens)", rel_diff(to_host(dg, gathered.size()), gathered),
           0.0);
    cuda::add_weighted_rows(dout.get(), dslots.get(), dwt.get(), m, used, width, dy.get());
    report("add_weighted_rows", rel_diff(to_host(dy, y.size()), added), 1e-6);
  }
}

// The span-sparse kernel against the CPU's on the same cache, in every KV precision, for prefill
// (40 queries, per-8-query selections) and decode (one query, split over the keys), with a sliding
// window, a hole in the spans and shuffled positions; then the statistics pass and top-k.
void test_attention(std::mt19937& rng) {
  struct Shape {
    int64_t hd, n_head, n_kv;
  };
  for (Shape sh : {Shape{64, 9, 3}, Shape{256, 4, 1}, Shape{128, 14, 2}}) {
    for (auto type : {kernels::KvType::F16, kernels::KvType::Q8_0, kernels::KvType::Q4_0}) {
      for (int64_t n_q : {int64_t(1), int64_t(40)}) {
        for (int64_t window : {int64_t(0), int64_t(300)}) {
          // LONGCTX_CUDA_TEST_SMALL=1 (the sanitized CPU executions): 700 keys, not 3000.
          const char* small = std::getenv("LONGCTX_CUDA_TEST_SMALL");
          const int64_t cap = small && std::string(small) == "1" ? 700 : 3000;
          const int64_t hd = sh.hd, rb = kernels::kv_row_bytes(type, hd);
          auto kf = random_vector(size_t(sh.n_kv * cap * hd), rng);
          auto vf = random_vector(size_t(sh.n_kv * cap * hd), rng);
          std::vector<uint8_t> k(size_t(sh.n_kv * cap * rb)), v(k.size());
          for (int64_t r = 0; r < sh.n_kv * cap; ++r) {
            kernels::encode_kv_row(type, kf.data() + r * hd, k.data() + r * rb, hd);
            kernels::encode_kv_row(type, vf.data() + r * hd, v.data() + r * rb, hd);
          }
          std::vector<int32_t> key_pos(size_t(sh.n_kv * cap)), q_pos(static_cast<size_t>(n_q));
          for (int64_t g = 0; g < sh.n_kv; ++g)
            for (int64_t i = 0; i < cap; ++i) key_pos[size_t(g * cap + i)] = int32_t(i);
          if (sh.n_kv > 1) std::shuffle(key_pos.begin() + cap, key_pos.begin() + 2 * cap, rng);
          for (int64_t i = 0; i < n_q; ++i) q_pos[size_t(i)] = int32_t(cap - n_q + i);
          auto q = random_vector(size_t(n_q * sh.n_head * hd), rng, 0.3f);
          // Selections: per block of 8 queries when prefilling, two spans with a hole per head.
          const int64_t blocks = n_q > 1 ? (n_q + 7) / 8 : 1;
          std::vector<cpu::KeySpan> spans;
          std::vector<int32_t> offsets = {0};
          for (int64_t b = 0; b < blocks; ++b) {
            for (int64_t g = 0; g < sh.n_kv; ++g) {
              spans.push_back({0, int32_t(100 + 10 * b)});
              spans.push_back({int32_t(400 + 7 * g), int32_t(cap)});
              offsets.push_back(int32_t(spans.size()));
            }
          }
          std::vector<float> out(q.size()), lse(size_t(n_q * sh.n_head));
          cpu::AttentionArgs a;
          a.q = q.data();
          a.n_q = n_q;
          a.n_head = sh.n_head;
          a.n_kv_head = sh.n_kv;
          a.head_dim = hd;
          a.kv_type = type;
          a.k = k.data();
          a.v = v.data();
          a.capacity = cap;
          a.key_pos = key_pos.data();
          a.q_pos = q_pos.data();
          a.window = window;
          a.scale = 1.0f / std::sqrt(float(hd));
          a.spans = spans.data();
          a.span_offsets = offsets.data();
          a.span_q_block = n_q > 1 ? 8 : 0;
          a.out = out.data();
          a.lse = lse.data();
          cpu::attention(a);

          auto dq = to_device(q);
          auto dk = to_device(k), dv = to_device(v);
          auto dkp = to_device(key_pos), dqp = to_device(q_pos);
          std::vector<cuda::KeySpan> cspans;
          for (auto s : spans) cspans.push_back({s.begin, s.end});
          auto dspans = to_device(cspans);
          auto doff = to_device(offsets);
          cuda::Buffer<float> dout(out.size()), dlse(lse.size());
          cuda::AttentionArgs da;
          da.q = dq.get();
          da.n_q = n_q;
          da.n_head = sh.n_head;
          da.n_kv_head = sh.n_kv;
          da.head_dim = hd;
          da.kv_type = type;
          da.k = dk.get();
          da.v = dv.get();
          da.capacity = cap;
          da.key_pos = dkp.get();
          da.q_pos = dqp.get();
          da.window = window;
          da.scale = a.scale;
          da.spans = dspans.get();
          da.span_offsets = doff.get();
          da.span_q_block = a.span_q_block;
          da.max_selected = cap;
          da.out = dout.get();
          da.lse = dlse.get();
          cuda::AttentionWorkspace ws;
          cuda::attention(da, ws);
          const std::string what = "attention hd " + std::to_string(hd) + " " +
                                   std::to_string(sh.n_head) + "/" + std::to_string(sh.n_kv) +
                                   " kv" + std::to_string(int(type)) + " q" + std::to_string(n_q) +
                                   " w" + std::to_string(window);
          report(what, rel_diff(to_host(dout, out.size()), out), 1e-4);
          auto glse = to_host(dlse, lse.size());
          double lse_diff = 0;
          for (size_t i = 0; i < lse.size(); ++i)
            lse_diff = std::max(lse_diff, double(std::fabs(glse[i] - lse[i])));
          report(what + " lse", lse_diff, 1e-4);
          if (n_q == 1) {
            // Statistics pass (one selection for all queries) and top-k of the mass.
            a.span_q_block = 0;
            std::vector<float> mass(size_t(sh.n_kv * cap), 0.0f);
            cpu::attention_mass(a, 0, mass.data());
            cuda::Buffer<float> dmass(mass.size());
            dmass.zero();
            cuda::attention_mass(da, 0, dmass.get());
            auto gm = to_host(dmass, mass.size());
            report(what + " mass", rel_diff(gm, mass), 1e-4);
            cuda::Buffer<int32_t> dtop(64);
            cuda::top_k(dmass.get(), cap, 64, dtop.get());
            auto gtop = to_host(dtop, 64);
            // Same set up to near-ties: compare with the CPU's top-k of the GPU's own mass.
            std::vector<int32_t> own_top;
            top_k(gm.data(), cap, 64, own_top);
            report(what + " top_k", gtop == own_top ? 0.0 : 1.0, 0.0);
          }
        }
      }
    }
  }
}

// kv_move against the host's edits: a range eviction turning keys back (moves overlap) and a
// per-head drop, the book's moves carried out on host rows and on the device's rows; bit-exact.
void test_kv_move(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto type : {kernels::KvType::F16, kernels::KvType::Q8_0, kernels::KvType::Q4_0}) {
    const int64_t n_kv = 3, hd = 128, cap = 96, used = 90, n_rot = 64;
    test::HostCache cache(KvLayout(n_kv, hd, hd, {cap}, type));
    std::vector<float> k(size_t(used * n_kv * hd)), v(k.size());
    for (auto& x : k) x = normal(rng);
    for (auto& x : v) x = normal(rng);
    std::vector<int32_t> pos(static_cast<size_t>(used));
    for (int64_t t = 0; t < used; ++t) pos[size_t(t)] = int32_t(t);
    cache.append(0, used, k.data(), v.data(), pos.data());
    const int64_t row = cache.book.layout().key_row_bytes(), bytes = n_kv * cap * row;
    cuda::Buffer<uint8_t> dk, dv;
    cuda::Buffer<int32_t> dpos;
    dk.upload(cache.rows.keys(0), size_t(bytes));
    dv.upload(cache.rows.values(0), size_t(bytes));
    dpos.upload(cache.book.positions(0), size_t(n_kv * cap));
    cuda::KvMoveWorkspace ws;
    std::vector<float> cs(size_t(n_rot / 2)), sn(cs.size());
    for (size_t i = 0; i < cs.size(); ++i) {
      cs[i] = std::cos(-7.0f * std::pow(10000.0f, -2.0f * float(i) / float(n_rot)));
      sn[i] = std::sin(-7.0f * std::pow(10000.0f, -2.0f * float(i) / float(n_rot)));
    }
    cuda::Buffer<float> dcos, dsin;
    dcos.upload(cs.data(), cs.size());
    dsin.upload(sn.data(), sn.size());
    auto replay = [&](const std::vector<KvMove>& log, bool turn) {
      cuda::Buffer<int32_t> dm;
      dm.upload(reinterpret_cast<const int32_t*>(log.data()), 3 * log.size());
      cuda::kv_move(type, dk.get(), dv.get(), dpos.get(), cap, hd, hd, dm.get(),
                    int64_t(log.size()), turn ? dcos.get() : nullptr, turn ? dsin.get() : nullptr,
                    n_rot, false, 7, ws);
    };
    cache.evict_range(0, 4, 7, [&](float* key) {
      kernels::rotate_pairs(key, n_rot, cs.data(), sn.data(), false);
    });
    replay(cache.moves, true);
    std::vector<int32_t> drops;
    for (int64_t g = 0; g < n_kv; ++g)
      for (int32_t s : {int32_t(2 + g), int32_t(40), int32_t(81 - g)}) drops.push_back(s);
    cache.drop(0, drops, 3);
    replay(cache.moves, false);
    std::vector<uint8_t> gk(static_cast<size_t>(bytes)), gv(gk.size());
    std::vector<int32_t> gp(static_cast<size_t>(n_kv * cap));
    dk.download(gk.data(), gk.size());
    dv.download(gv.data(), gv.size());
    dpos.download(gp.data(), gp.size());
    size_t diff = 0;
    for (int64_t g = 0; g < n_kv; ++g) {
      for (int64_t slot = 0; slot < cache.book.used(0); ++slot) {
        const int64_t i = g * cap + slot;
        diff += std::memcmp(&gk[size_t(i * row)], cache.rows.keys(0) + i * row, size_t(row)) != 0;
        diff += std::memcmp(&gv[size_t(i * row)], cache.rows.values(0) + i * row, size_t(row)) != 0;
        diff += gp[size_t(i)] != cache.book.positions(0)[i];
      }
    }
    std::printf("%-8s kv_move %-39s %zu rows or positions differ\n", diff ? "FAIL" : "ok",
                kv_type_name(type), diff);
    cuda_failures += diff != 0;
  }
}

// Quest's pages ranked on the device against the CPU policy on the same cache and query: the page
// bounds bit for bit, the chosen slots the same (one page may swap on a near-tie, as the device
// sums a bound in another order).
void test_pages(std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto type : {kernels::KvType::F16, kernels::KvType::Q8_0}) {
    const int64_t n_kv = 2, n_head = 6, hd = 64, cap = 1100, used = 1000, page = 16, budget = 256;
    test::HostCache cache(KvLayout(n_kv, hd, hd, {cap}, type));
    std::vector<float> k(size_t(used * n_kv * hd)), v(k.size()), q(size_t(n_head * hd));
    for (auto& x : k) x = normal(rng);
    for (auto& x : v) x = normal(rng);
    for (auto& x : q) x = normal(rng);
    std::vector<int32_t> pos(static_cast<size_t>(used));
    for (int64_t t = 0; t < used; ++t) pos[size_t(t)] = int32_t(t);
    cache.append(0, used, k.data(), v.data(), pos.data());
    auto policy =
        make_policy(parse_policy_spec("quest:budget=256,page=16,dense_layers=0,heads=group"));
    StepInfo step;
    step.n_kv_head = n_kv;
    step.n_cached = used;
    step.first_q_pos = int32_t(used - 1);
    step.q = q.data();
    step.n_q = 1;
    step.n_head = n_head;
    step.head_dim = hd;
    step.book = &cache.book;
    step.rows = &cache.rows;
    Selection cpu_sel;
    policy->plan(step, cpu_sel);

    const kernels::PageChoice ch = kernels::choose_pages(used, page, budget);
    const int64_t max_pages = cap / page + 1;
    cuda::Buffer<uint8_t> dk;
    dk.upload(cache.rows.keys(0), size_t(n_kv * cap * cache.book.layout().key_row_bytes()));
    cuda::Buffer<float> mins(size_t(n_kv * max_pages * hd)), maxs(mins.size()), dq;
    dq.upload(q.data(), q.size());
    cuda::page_bounds(type, dk.get(), cap, n_kv, hd, page, 0, ch.complete, max_pages, mins.get(),
                      maxs.get());
    cuda::Buffer<cuda::KeySpan> spans(size_t(n_kv * (ch.pick + 1)));
    cuda::PageWorkspace ws;
    cuda::select_pages(dq.get(), n_head, n_kv, hd, mins.get(), maxs.get(), max_pages, ch.candidates,
                       ch.pick, page, ch.recent_begin, used, spans.get(), ws);
    auto gmins = to_host(mins, mins.size()), gmaxs = to_host(maxs, maxs.size());
    auto gspans = to_host(spans, spans.size());
    size_t bound_diff = 0, slot_diff = 0;
    std::vector<float> key(static_cast<size_t>(hd));
    for (int64_t g = 0; g < n_kv; ++g) {
      for (int64_t p = 0; p < ch.complete; ++p) {
        for (int64_t d = 0; d < hd; ++d) {
          float lo = INFINITY, hi = -INFINITY;
          for (int64_t s = p * page; s < (p + 1) * page; ++s) {
            cache.rows.key(0, g, s, key.data());
            lo = std::min(lo, key[size_t(d)]);
            hi = std::max(hi, key[size_t(d)]);
          }
          const size_t i = size_t((g * max_pages + p) * hd + d);
          bound_diff += gmins[i] != lo || gmaxs[i] != hi;
        }
      }
      std::vector<bool> a(static_cast<size_t>(used)), b(static_cast<size_t>(used));
      for (int32_t s = cpu_sel.offsets[size_t(g)]; s < cpu_sel.offsets[size_t(g) + 1]; ++s)
        for (int32_t t = cpu_sel.spans[size_t(s)].begin; t < cpu_sel.spans[size_t(s)].end; ++t)
          a[size_t(t)] = true;
      for (int64_t s = 0; s <= ch.pick; ++s) {
        const cuda::KeySpan sp = gspans[size_t(g * (ch.pick + 1) + s)];
        for (int32_t t = sp.begin; t < sp.end && t < used; ++t) b[size_t(t)] = true;
      }
      size_t diff = 0;
      for (int64_t t = 0; t < used; ++t) diff += a[size_t(t)] != b[size_t(t)];
      slot_diff = std::max(slot_diff, diff);
    }
    const bool ok = bound_diff == 0 && slot_diff <= size_t(2 * page);
    std::printf("%-8s quest pages %-35s %zu bounds differ, at most %zu slots differ per head\n",
                ok ? "ok" : "FAIL", kv_type_name(type), bound_diff, slot_diff);
    cuda_failures += !ok;
  }
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines reach a pipe even if the run is cut short
  std::string why;
  if (!cuda::device_available(&why)) {
    std::printf("skipping CUDA tests: %s\n", why.c_str());
    return 77;
  }
  for (const quant::TypeInfo& t : quant::all_types()) {
    if (!t.decodable) continue;
    auto blocks = test::read_fixture("quant/" + std::string(t.name) + ".blocks");
    int64_t n_blocks = int64_t(blocks.size()) / t.block_bytes;
    compare("fixture " + std::string(t.name), kernels::BlockType(t.id), blocks.data(),
            blocks.size(), 1, n_blocks * t.block_elems);
  }
  // LONGCTX_CUDA_TEST_MODELS=0: kernels only (gpu-check's run under compute-sanitizer, and the
  // sanitized CPU executions), with the real models' tensors cut to their first 64 rows.
  const char* models_env = std::getenv("LONGCTX_CUDA_TEST_MODELS");
  const bool kernels_only = models_env && std::string(models_env) == "0";
  for (const char* model : {test::kSmolLM2, test::kGemma3}) {
    std::string path = test::model_path(model);
    if (!std::filesystem::exists(path)) continue;  // test_model reports it
    auto f = gguf::File::open(path);
    std::vector<std::string> seen;
    for (const auto& t : f.tensors()) {
      std::string type(t.type.name);
      if (std::find(seen.begin(), seen.end(), type) != seen.end()) continue;
      seen.push_back(type);
      const int64_t rows = kernels_only ? std::min<int64_t>(t.rows(), 64) : t.rows();
      compare(std::string(model).substr(0, 12) + " " + t.name, kernels::BlockType(t.type.id),
              t.data, size_t(t.n_bytes) / size_t(t.rows()) * size_t(rows), rows, t.row_elems());
    }
  }
  std::mt19937 rng(11);
  try {
    test_matmul(rng);
    test_ops(rng);
    test_attention(rng);
    // The real models (GGUF, quantized) in two KV precisions, and the tiny Hugging Face folders
    // (F32/F16 safetensors, head_dim 8: f16 KV only).
    test_kv_move(rng);
    test_pages(rng);
    if (kernels_only) {
      std::printf("%d failures (kernels only)\n", cuda_failures);
      return cuda_failures == 0 ? 0 : 1;
    }
    test::test_models();
  } catch (const std::exception& e) {
    std::printf("FAIL     %s\n", e.what());
    ++cuda_failures;
  }
  std::printf("%d failures\n", cuda_failures);
  return cuda_failures == 0 ? 0 : 1;
}
