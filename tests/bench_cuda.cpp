// The CUDA micro-benchmarks of scripts/gpu-check: the device's copy bandwidth, decode attention
// GB/s per policy-shaped selection at 8k/32k/128k context, prefill attention TFLOP/s, the
// quantized matrix-vector kernel's GB/s and the prefill GEMM in float and bfloat16. Synthetic
// tensors of a Llama-3-8B layer's shape (32 query heads, 8 KV heads, head_dim 128); the selections
// are what each policy hands the kernel at a 1024 budget. Exits 77 without a device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/page_selection.h"
#include "kernels/cuda/dequant.h"
#include "kernels/cuda/kernels.h"

using namespace longctx;

namespace {

// Mean milliseconds of fn over reps runs after one warm-up, timed with events.
double time_ms(const std::function<void()>& fn, int reps) {
  fn();
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  cudaEventRecord(a);
  for (int i = 0; i < reps; ++i) fn();
  cudaEventRecord(b);
  cudaEventSynchronize(b);
  float ms = 0;
  cudaEventElapsedTime(&ms, a, b);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cuda::check(cudaGetLastError(), "benchmark");
  return double(ms) / reps;
}

void fill_random(cuda::Buffer<uint8_t>& buf, std::mt19937& rng) {
  std::vector<uint8_t> host(buf.size());
  for (auto& b : host) b = uint8_t(rng());
  buf.upload(host.data(), host.size());
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines reach a pipe even if the run is cut short
  std::string why;
  if (!cuda::device_available(&why)) {
    std::printf("skipping CUDA benchmarks: %s\n", why.c_str());
    return 77;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  std::mt19937 rng(1);

  // Copy bandwidth: read + write of 2 GiB.
  const size_t copy_bytes = size_t(1) << 30;
  cuda::Buffer<uint8_t> src(copy_bytes), dst(copy_bytes);
  src.zero();
  double copy_ms =
      time_ms([&] { cudaMemcpy(dst.get(), src.get(), copy_bytes, cudaMemcpyDeviceToDevice); }, 10);
  const double copy_gbs = 2.0 * double(copy_bytes) / (copy_ms * 1e6);
  std::printf("device: %s, %d SMs; copy bandwidth %.0f GB/s (read + write)\n\n", prop.name,
              prop.multiProcessorCount, copy_gbs);

  // Decode attention: one query, each policy's selection.
  const int64_t n_head = 32, n_kv = 8, hd = 128, budget = 1024;
  std::printf("| decode attention | KV | context | keys read | ms | GB/s | of copy |\n");
  std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
  for (auto kv : {kernels::KvType::F16, kernels::KvType::Q8_0}) {
    for (int64_t ctx : {int64_t(8192), int64_t(32768), int64_t(131072)}) {
      const int64_t rb = kernels::kv_row_bytes(kv, hd);
      cuda::Buffer<uint8_t> k(size_t(n_kv * ctx * rb)), v(k.size());
      // Random bytes would be NaN halves: 4096 encoded random rows, repeated.
      {
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::vector<float> row(static_cast<size_t>(hd));
        std::vector<uint8_t> distinct(size_t(4096 * rb)), host(k.size());
        for (int64_t r = 0; r < 4096; ++r) {
          for (auto& e : row) e = normal(rng);
          kernels::encode_kv_row(kv, row.data(), distinct.data() + r * rb, hd);
        }
        for (size_t off = 0; off < host.size(); off += distinct.size())
          std::copy_n(distinct.begin(), std::min(distinct.size(), host.size() - off),
                      host.begin() + off);
        k.upload(host.data(), host.size());
        v.upload(host.data(), host.size());
      }
      std::vector<int32_t> key_pos(size_t(n_kv * ctx)), q_pos = {int32_t(ctx - 1)};
      for (int64_t g = 0; g < n_kv; ++g)
        for (int64_t i = 0; i < ctx; ++i) key_pos[size_t(g * ctx + i)] = int32_t(i);
      cuda::Buffer<int32_t> dkp, dqp;
      dkp.upload(key_pos.data(), key_pos.size());
      dqp.upload(q_pos.data(), 1);
      std::vector<float> q(static_cast<size_t>(n_head * hd), 0.1f);
      cuda::Buffer<float> dq, out(size_t(n_head * hd));
      dq.upload(q.data(), q.size());
      struct Mode {
        const char* name;
        std::vector<cuda::KeySpan> per_head;  // spans of one KV head
      };
      std::vector<Mode> modes = {
          {"dense", {{0, int32_t(ctx)}}},
          {"streaming (4 sinks + 1020)", {{0, 4}, {int32_t(ctx - 1020), int32_t(ctx)}}},
          {"quest/dhsa/recycled (64 pages of 16)", {}},
          {"h2o/snapkv (1024 held)", {{0, int32_t(budget)}}},
      };
      for (int64_t p = 0; p < 64; ++p) {
        int32_t b = int32_t((ctx / 64) * p);
        modes[2].per_head.push_back({b, b + 16});
      }
      for (const Mode& m : modes) {
        std::vector<cuda::KeySpan> spans;
        std::vector<int32_t> offsets = {0};
        int64_t keys = 0;
        for (int64_t g = 0; g < n_kv; ++g) {
          for (auto s : m.per_head) spans.push_back(s);
          offsets.push_back(int32_t(spans.size()));
        }
        for (auto s : m.per_head) keys += s.end - s.begin;
        cuda::Buffer<cuda::KeySpan> ds;
        cuda::Buffer<int32_t> doff;
        ds.upload(spans.data(), spans.size());
        doff.upload(offsets.data(), offsets.size());
        cuda::AttentionArgs a;
        a.q = dq.get();
        a.n_q = 1;
        a.n_head = n_head;
        a.n_kv_head = n_kv;
        a.head_dim = hd;
        a.kv_type = kv;
        a.k = k.get();
        a.v = v.get();
        a.capacity = ctx;
        a.key_pos = dkp.get();
        a.q_pos = dqp.get();
        a.scale = 0.088f;
        a.spans = ds.get();
        a.span_offsets = doff.get();
        a.max_selected = keys;
        a.out = out.get();
        cuda::AttentionWorkspace ws;
        double ms = time_ms([&] { cuda::attention(a, ws); }, 20);
        double bytes = 2.0 * double(n_kv * keys * rb);
        double gbs = bytes / (ms * 1e6);
        std::printf("| %s | %s | %lld | %lld | %.4f | %.0f | %.0f%% |\n", m.name,
                    kv == kernels::KvType::F16 ? "f16" : "q8_0", (long long)ctx, (long long)keys,
                    ms, gbs, 100.0 * gbs / copy_gbs);
      }
    }
  }

  // Quest's ranking on the device per decode step and layer: scores of every page's kept bounds,
  // the segmented top-k and the spans (the bounds of a newly complete page are one small launch).
  std::printf("\n| Quest page ranking (page 16, budget 1024) | context | pages per head | ms |\n");
  std::printf("| --- | ---: | ---: | ---: |\n");
  for (int64_t ctx : {int64_t(8192), int64_t(32768), int64_t(131072)}) {
    const int64_t page = 16, max_pages = ctx / page + 1;
    const kernels::PageChoice ch = kernels::choose_pages(ctx, page, budget);
    cuda::Buffer<float> mins(size_t(n_kv * max_pages * hd)), maxs(mins.size());
    cuda::Buffer<float> q(size_t(n_head * hd));
    mins.zero();
    maxs.zero();
    q.zero();
    cuda::Buffer<cuda::KeySpan> spans(size_t(n_kv * (ch.pick + 1)));
    cuda::PageWorkspace ws;
    const double ms = time_ms(
        [&] {
          cuda::select_pages(q.get(), n_head, n_kv, hd, mins.get(), maxs.get(), max_pages,
                             ch.candidates, ch.pick, page, ch.recent_begin, ctx, spans.get(), ws);
        },
        20);
    std::printf("| 32/8 heads, d 128 | %lld | %lld | %.4f |\n", (long long)ctx,
                (long long)ch.candidates, ms);
  }

  // Prefill attention: causal, n queries over n keys.
  std::printf("\n| prefill attention | tokens | ms | TFLOP/s |\n| --- | ---: | ---: | ---: |\n");
  for (int64_t n : {int64_t(4096), int64_t(16384)}) {
    const int64_t rb = kernels::kv_row_bytes(kernels::KvType::F16, hd);
    cuda::Buffer<uint8_t> k(size_t(n_kv * n * rb)), v(k.size());
    k.zero();
    v.zero();
    std::vector<int32_t> pos(static_cast<size_t>(n)), key_pos(static_cast<size_t>(n_kv * n));
    for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = int32_t(i);
    for (int64_t g = 0; g < n_kv; ++g)
      for (int64_t i = 0; i < n; ++i) key_pos[size_t(g * n + i)] = int32_t(i);
    cuda::Buffer<int32_t> dpos, dkp;
    dpos.upload(pos.data(), pos.size());
    dkp.upload(key_pos.data(), key_pos.size());
    cuda::Buffer<float> q(size_t(n * n_head * hd)), out(q.size());
    q.zero();
    std::vector<cuda::KeySpan> spans(static_cast<size_t>(n_kv), cuda::KeySpan{0, int32_t(n)});
    std::vector<int32_t> offsets(static_cast<size_t>(n_kv + 1));
    for (int64_t g = 0; g <= n_kv; ++g) offsets[size_t(g)] = int32_t(g);
    cuda::Buffer<cuda::KeySpan> ds;
    cuda::Buffer<int32_t> doff;
    ds.upload(spans.data(), spans.size());
    doff.upload(offsets.data(), offsets.size());
    cuda::AttentionArgs a;
    a.q = q.get();
    a.n_q = n;
    a.n_head = n_head;
    a.n_kv_head = n_kv;
    a.head_dim = hd;
    a.k = k.get();
    a.v = v.get();
    a.capacity = n;
    a.key_pos = dkp.get();
    a.q_pos = dpos.get();
    a.scale = 0.088f;
    a.spans = ds.get();
    a.span_offsets = doff.get();
    a.max_selected = n;
    a.out = out.get();
    cuda::AttentionWorkspace ws;
    double ms = time_ms([&] { cuda::attention(a, ws); }, 3);
    // Causal: half the n x n scores, two matrix products of head_dim each.
    double flops = 4.0 * double(n) * double(n) / 2.0 * double(hd) * double(n_head);
    std::printf("| f16 KV, 32/8 heads, d 128 | %lld | %.2f | %.2f |\n", (long long)n, ms,
                flops / (ms * 1e9));
  }

  // Quantized matrix-vector products: one token, 4096 x 4096 and 14336 x 4096.
  std::printf("\n| GEMV | matrix | ms | GB/s | of copy |\n| --- | --- | ---: | ---: | ---: |\n");
  for (auto type : {kernels::BlockType::Q4_0, kernels::BlockType::Q4_1, kernels::BlockType::Q8_0,
                    kernels::BlockType::Q4_K, kernels::BlockType::Q6_K, kernels::BlockType::F16}) {
    for (int64_t rows : {int64_t(4096), int64_t(14336)}) {
      const int64_t cols = 4096;
      auto shape = kernels::block_shape(type);
      const int64_t row_bytes = cols / shape.elems * shape.bytes;
      cuda::Buffer<uint8_t> w(size_t(rows * row_bytes));
      fill_random(w, rng);
      if (type == kernels::BlockType::F16) w.zero();  // random halves include NaNs
      kernels::MatrixView m{type, w.get(), rows, cols, row_bytes};
      cuda::Buffer<float> x(static_cast<size_t>(cols)), y(static_cast<size_t>(rows));
      x.zero();
      double ms = time_ms([&] { cuda::gemv(m, x.get(), 1, y.get()); }, 20);
      double gbs = double(rows * row_bytes) / (ms * 1e6);
      static const char* names[] = {"F32",  "F16", "Q4_0", "Q4_1", "",     "",     "Q5_0", "Q5_1",
                                    "Q8_0", "",    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"};
      std::printf("| %s | %lld x %lld | %.4f | %.0f | %.0f%% |\n", names[int(type)],
                  (long long)rows, (long long)cols, ms, gbs, 100.0 * gbs / copy_gbs);
    }
  }

  // Prefill products: 512 tokens through dequantize + cuBLAS, float SGEMM against bfloat16 tiles
  // on the tensor cores (LONGCTX_CUDA_GEMM picks one for a session; bf16 is the default).
  std::printf(
      "\n| prefill GEMM | matrix | tokens | f32 ms | f32 TFLOP/s | bf16 ms | bf16 TFLOP/s | "
      "bf16 / f32 |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  cuda::MatmulWorkspace mws;
  for (auto type : {kernels::BlockType::Q4_0, kernels::BlockType::Q4_K}) {
    for (int64_t rows : {int64_t(4096), int64_t(14336)}) {
      const int64_t cols = 4096, n_tok = 512;
      auto shape = kernels::block_shape(type);
      const int64_t row_bytes = cols / shape.elems * shape.bytes;
      cuda::Buffer<uint8_t> w(size_t(rows * row_bytes));
      fill_random(w, rng);
      kernels::MatrixView m{type, w.get(), rows, cols, row_bytes};
      cuda::Buffer<float> x(static_cast<size_t>(n_tok * cols)),
          y(static_cast<size_t>(n_tok * rows));
      x.zero();
      double ms[2];
      for (int p = 0; p < 2; ++p) {
        mws.precision = p == 0 ? cuda::GemmPrecision::F32 : cuda::GemmPrecision::BF16;
        ms[p] = time_ms([&] { cuda::matmul(m, x.get(), n_tok, y.get(), mws); }, 5);
      }
      const double flops = 2.0 * double(rows) * double(cols) * double(n_tok);
      std::printf("| %s | %lld x %lld | %lld | %.3f | %.1f | %.3f | %.1f | %.2fx |\n",
                  type == kernels::BlockType::Q4_0 ? "Q4_0" : "Q4_K", (long long)rows,
                  (long long)cols, (long long)n_tok, ms[0], flops / (ms[0] * 1e9), ms[1],
                  flops / (ms[1] * 1e9), ms[0] / ms[1]);
    }
  }
  return 0;
}
