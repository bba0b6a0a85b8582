// Properties every attention policy must keep, checked on a real KV cache (book and rows) and the
// real kernels with random keys and queries (no model): selections are sorted, disjoint and inside
// the cache; the selected set stays within its budget; evictions name slots in use and keep sinks
// and the recent window; what leaves the cache is never read again.
#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "engine/attention/registry.h"
#include "engine/backend.h"
#include "engine/kv_book.h"
#include "kernels/common/kv_rows.h"
#include "kernels/cpu/attention.h"
#include "tests/host_cache.h"

using namespace longctx;

namespace {

// What a device backend does with the same policy (engine/cuda_backend.cpp, on the CPU): the
// policy sees the book's positions, host rows only when it says it reads keys, and the queries only
// when it says it reads them; the device's rows follow the book's moves, gathered then scattered
// as cuda::kv_move does. It must plan, evict and hold the same as the plain run, bit for bit.
struct DeviceMirror {
  std::unique_ptr<AttentionPolicy> policy;
  KvBook book;
  KvRows host;  // the layer's rows only when the policy reads keys
  int64_t n_kv, hd, cap, row;
  std::vector<uint8_t> k_rows, v_rows;  // [n_kv][cap] rows, as on a device
  std::vector<int32_t> pos;
  Selection sel;
  Eviction ev;
  std::vector<KvMove> log;

  DeviceMirror(const std::string& spec, int64_t n_kv_, int64_t hd_, int64_t cap_, KvType type)
      : policy(make_policy(parse_policy_spec(spec))),
        book(KvLayout(n_kv_, hd_, hd_, {cap_}, type)),
        host(book.layout(), {policy->reads_keys()}),
        n_kv(n_kv_),
        hd(hd_),
        cap(cap_),
        row(kernels::kv_row_bytes(type, hd_)),
        k_rows(size_t(n_kv * cap * row)),
        v_rows(k_rows.size()),
        pos(size_t(n_kv * cap)) {}

  void append(int64_t n, const float* k, const float* v, const int32_t* p) {
    const int64_t first = book.append(0, n, p);
    if (host.stores(0)) host.write(0, first, n, k, v);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t g = 0; g < n_kv; ++g) {
        const int64_t slot = g * cap + first + t;
        kernels::encode_kv_row(book.type(), k + (t * n_kv + g) * hd, &k_rows[size_t(slot * row)],
                               hd);
        kernels::encode_kv_row(book.type(), v + (t * n_kv + g) * hd, &v_rows[size_t(slot * row)],
                               hd);
        pos[size_t(slot)] = p[t];
      }
    }
  }

  void replay(const float* cos, const float* sin, int32_t shift) {
    std::vector<uint8_t> sk(log.size() * size_t(row)), sv(sk.size());
    std::vector<int32_t> sp(log.size());
    for (size_t i = 0; i < log.size(); ++i) {  // gather
      const int64_t src = log[i].head * cap + log[i].from;
      std::copy_n(&k_rows[size_t(src * row)], row, &sk[i * size_t(row)]);
      std::copy_n(&v_rows[size_t(src * row)], row, &sv[i * size_t(row)]);
      sp[i] = pos[size_t(src)];
    }
    for (size_t i = 0; i < log.size(); ++i) {  // scatter
      const int64_t dst = log[i].head * cap + log[i].to;
      if (cos) {
        kernels::rotate_kv_row(book.type(), &sk[i * size_t(row)], &k_rows[size_t(dst * row)], hd,
                               cos, sin, hd, false);
        pos[size_t(dst)] = sp[i] - shift;
      } else {
        std::copy_n(&sk[i * size_t(row)], row, &k_rows[size_t(dst * row)]);
        pos[size_t(dst)] = sp[i];
      }
      std::copy_n(&sv[i * size_t(row)], row, &v_rows[size_t(dst * row)]);
    }
    log.clear();
  }

  // The same cache as `ref`: slots in use, their positions, their rows.
  void require_same(const test::HostCache& ref) const {
    REQUIRE(book.used(0) == ref.book.used(0));
    for (int64_t g = 0; g < n_kv; ++g) {
      for (int64_t slot = 0; slot < ref.book.used(0); ++slot) {
        const int64_t i = g * cap + slot;
        REQUIRE(book.positions(0)[i] == ref.book.positions(0)[i]);
        REQUIRE(pos[size_t(i)] == ref.book.positions(0)[i]);
        REQUIRE(std::equal(&k_rows[size_t(i * row)], &k_rows[size_t((i + 1) * row)],
                           ref.rows.keys(0) + i * row));
        REQUIRE(std::equal(&v_rows[size_t(i * row)], &v_rows[size_t((i + 1) * row)],
                           ref.rows.values(0) + i * row));
        if (host.stores(0)) {  // the host's copy of the rows followed the same moves
          REQUIRE(std::equal(host.keys(0) + i * row, host.keys(0) + (i + 1) * row,
                             ref.rows.keys(0) + i * row));
        }
      }
    }
  }
};

bool same_selection(const Selection& a, const Selection& b) {
  if (a.q_block != b.q_block || a.offsets != b.offsets || a.spans.size() != b.spans.size())
    return false;
  for (size_t i = 0; i < a.spans.size(); ++i) {
    if (a.spans[i].begin != b.spans[i].begin || a.spans[i].end != b.spans[i].end) return false;
  }
  return true;
}

struct Harness {
  static constexpr int64_t n_kv = 2, group = 2, n_head = 4, hd = 32;
  test::HostCache cache;
  std::unique_ptr<AttentionPolicy> policy;
  std::mt19937 rng{17};
  std::normal_distribution<float> normal{0.0f, 1.0f};
  int64_t next_pos = 0;  // position of the next token inside the cache
  Selection sel;
  Eviction ev;
  std::vector<float> q, k, v, out, lse, mass;
  std::vector<int32_t> q_pos;
  std::set<int32_t> evicted;  // positions that left the cache (head 0)
  int64_t max_read = 0;       // the most keys one head read on a decode step
  // Optional structure: every query gets + query_bias; the key at a position in key_override
  // (every KV head) is replaced by the given vector.
  std::vector<float> query_bias;
  std::map<int64_t, std::vector<float>> key_override;

  // Called after each evict(), before the cache carries it out: the step (positions as they were),
  // the statistics observed (mass, when observed > 0) and the eviction named.
  std::function<void(const StepInfo&, int64_t observed)> after_evict;

  std::unique_ptr<DeviceMirror> mirror;   // the same run as a device backend would do it
  std::vector<float> turn_cos, turn_sin;  // re-positioned keys turn by these angles

  Harness(const std::string& spec, int64_t capacity, KvType type = KvType::F16,
          bool with_mirror = false)
      : cache(KvLayout(n_kv, hd, hd, {capacity}, type)),
        policy(make_policy(parse_policy_spec(spec))) {
    if (with_mirror) mirror = std::make_unique<DeviceMirror>(spec, n_kv, hd, capacity, type);
    for (int64_t i = 0; i < hd / 2; ++i) {
      turn_cos.push_back(std::cos(0.3f + 0.1f * float(i)));
      turn_sin.push_back(-std::sin(0.3f + 0.1f * float(i)));
    }
  }

  void step(int64_t n, bool prompt_end) {
    k.resize(size_t(n * n_kv * hd));
    v.resize(k.size());
    q.resize(size_t(n * n_head * hd));
    for (auto& x : k) x = normal(rng);
    for (auto& x : v) x = normal(rng);
    for (auto& x : q) x = normal(rng);
    if (!query_bias.empty()) {
      for (int64_t r = 0; r < n * n_head; ++r)
        for (int64_t d = 0; d < hd; ++d) q[size_t(r * hd + d)] += query_bias[size_t(d)];
    }
    for (int64_t t = 0; t < n; ++t) {
      auto it = key_override.find(next_pos + t);
      if (it == key_override.end()) continue;
      for (int64_t g = 0; g < n_kv; ++g)
        std::copy(it->second.begin(), it->second.end(), k.begin() + (t * n_kv + g) * hd);
    }
    q_pos.resize(size_t(n));
    for (int64_t t = 0; t < n; ++t) q_pos[size_t(t)] = int32_t(next_pos + t);
    cache.append(0, n, k.data(), v.data(), q_pos.data());
    if (mirror) mirror->append(n, k.data(), v.data(), q_pos.data());
    StepInfo s;
    s.n_kv_head = n_kv;
    s.n_cached = cache.book.used(0);
    s.first_q_pos = next_pos;
    s.prompt_end = prompt_end;
    s.q = q.data();
    s.n_q = n;
    s.n_head = n_head;
    s.head_dim = hd;
    s.scale = 0.17f;
    s.book = &cache.book;
    s.rows = &cache.rows;
    policy->plan(s, sel);
    StepInfo ms = s;  // the mirror's view: no rows, no queries unless the policy reads them
    if (mirror) {
      ms.book = &mirror->book;
      ms.rows = &mirror->host;
      ms.q = mirror->policy->reads_queries() ? q.data() : nullptr;
      mirror->policy->plan(ms, mirror->sel);
      REQUIRE(same_selection(sel, mirror->sel));
    }
    const int64_t blocks = sel.q_block > 0 ? (n + sel.q_block - 1) / sel.q_block : 1;
    const int64_t sel_heads = sel.per_query_head ? n_head : n_kv;
    REQUIRE(sel.offsets.size() == size_t(blocks * sel_heads + 1));
    for (int64_t h = 0; h < blocks * sel_heads; ++h) {
      int32_t last_end = -1;
      for (int32_t i = sel.offsets[size_t(h)]; i < sel.offsets[size_t(h) + 1]; ++i) {
        const auto& span = sel.spans[size_t(i)];
        REQUIRE(span.begin < span.end);
        REQUIRE(span.begin > last_end);  // sorted, disjoint, not even touching (merged)
        REQUIRE(span.end <= s.n_cached);
        last_end = span.end;
      }
      if (n == 1) max_read = std::max(max_read, sel.keys(h));
    }
    const int64_t observed = std::min(n, policy->observe_queries(s));
    out.resize(q.size());
    lse.resize(size_t(n * n_head));
    ModelConfig c;
    c.n_head = n_head;
    c.n_head_kv = n_kv;
    c.head_dim = hd;
    c.attention_scale = 0.17f;
    AttendStep step;
    step.n = n;
    step.selection = &sel;
    const kernels::AttentionArgs a =
        host_attention_args(step, cache.book, cache.rows, c, q.data(), q_pos.data(), out.data(),
                            observed > 0 ? lse.data() : nullptr);
    cpu::attention(a);
    if (observed > 0) {
      mass.assign(size_t(n_kv * a.capacity), 0.0f);
      cpu::attention_mass(a, n - observed, mass.data());
      policy->observe(s, mass.data());
    }
    if (mirror) {
      REQUIRE(std::min(n, mirror->policy->observe_queries(ms)) == observed);
      if (observed > 0) mirror->policy->observe(ms, mass.data());
    }
    ev.clear();
    policy->evict(s, ev);
    if (after_evict) after_evict(s, observed);
    if (mirror) {
      auto& m = *mirror;
      m.ev.clear();
      m.policy->evict(ms, m.ev);
      REQUIRE(m.ev.per_head == ev.per_head);
      REQUIRE(m.ev.drops == ev.drops);
      REQUIRE((m.ev.begin == ev.begin && m.ev.count == ev.count));
      REQUIRE(m.ev.reposition == ev.reposition);
      std::function<void(float*)> turn = [&](float* key) {
        kernels::rotate_pairs(key, hd, turn_cos.data(), turn_sin.data(), false);
      };
      if (ev.per_head > 0) {
        m.book.drop(0, ev.drops, ev.per_head, m.log);
        if (m.host.stores(0)) m.host.apply(0, m.log);
        m.policy->moved(ms, m.log);  // before replay, which empties the log
        m.replay(nullptr, nullptr, 0);
      }
      if (ev.count > 0) {
        const int32_t shift = ev.reposition ? int32_t(ev.count) : 0;
        m.book.evict_range(0, ev.begin, ev.count, shift, m.log);
        if (m.host.stores(0)) m.host.apply(0, m.log, ev.reposition ? turn : nullptr);
        m.policy->moved(ms, m.log);
        m.replay(ev.reposition ? turn_cos.data() : nullptr, turn_sin.data(), shift);
      }
    }
    const int32_t* pos = cache.book.positions(0);
    if (ev.per_head > 0) {
      REQUIRE(ev.drops.size() == size_t(ev.per_head * n_kv));
      for (int64_t i = 0; i < ev.per_head; ++i) evicted.insert(pos[ev.drops[size_t(i)]]);
      cache.drop(0, ev.drops, ev.per_head);
      policy->moved(s, cache.moves);
    }
    if (ev.count > 0) {
      if (!ev.reposition) {
        for (int64_t i = ev.begin; i < ev.begin + ev.count; ++i) evicted.insert(pos[i]);
      }
      std::function<void(float*)> turn = [&](float* key) {
        kernels::rotate_pairs(key, hd, turn_cos.data(), turn_sin.data(), false);
      };
      cache.evict_range(0, ev.begin, ev.count, ev.reposition ? turn : nullptr);
      policy->moved(s, cache.moves);
    }
    if (mirror) mirror->require_same(cache);
    next_pos = next_pos + n - (ev.reposition ? ev.count : 0);
    // Nothing evicted is still held (re-positioning policies are checked by position instead).
    for (int64_t i = 0; i < cache.book.used(0); ++i) REQUIRE(evicted.count(pos[i]) == 0);
  }

  std::set<int32_t> held(int64_t g) const {
    const int32_t* pos = cache.book.positions(0) + g * cache.book.capacity(0);
    return {pos, pos + cache.book.used(0)};
  }
};

}  // namespace

TEST_CASE("h2o holds its budget, its sinks and its recent window; scores follow the slots",
          "[attention]") {
  Harness h("h2o:budget=64,recent=16,sinks=4", 64 + 32);
  h.step(32, false);
  h.step(32, true);  // a prompt of 64
  for (int i = 0; i < 200; ++i) {
    h.step(1, false);
    REQUIRE(h.cache.book.used(0) <= 64);
    for (int64_t g = 0; g < Harness::n_kv; ++g) {
      auto held = h.held(g);
      REQUIRE(held.size() == size_t(h.cache.book.used(0)));       // distinct tokens
      for (int32_t p = 0; p < 4; ++p) CHECK(held.count(p) == 1);  // sinks
      for (int64_t p = h.next_pos - 16; p < h.next_pos; ++p) CHECK(held.count(int32_t(p)) == 1);
    }
  }
  CHECK(h.evicted.size() == 64 + 200 - 64);
}

TEST_CASE("h2o drops the lowest accumulated scores, the scores following their tokens",
          "[attention]") {
  // A reference keyed by position, not slot: every token's mass summed over the steps that saw it
  // (as H2O does, in float, in the same order). Each eviction must drop, per KV head, exactly the
  // candidates with the lowest such sums. A policy whose scores stayed in their slots while the
  // book moved the tokens fails on the first decode step after an eviction refilled a hole.
  Harness h("h2o:budget=48,recent=8,sinks=2", 48 + 32);
  std::vector<std::map<int32_t, float>> score(size_t(Harness::n_kv));
  int64_t evictions = 0;
  h.after_evict = [&](const StepInfo& s, int64_t observed) {
    REQUIRE(observed == s.n_q);
    const int64_t cap = s.capacity();
    const int64_t newest = s.first_q_pos + s.n_q - 1;
    for (int64_t g = 0; g < s.n_kv_head; ++g) {
      const int32_t* pos = s.positions(g);
      for (int64_t i = 0; i < s.n_cached; ++i)
        score[size_t(g)][pos[i]] += h.mass[size_t(g * cap + i)];
    }
    if (h.ev.per_head == 0) return;
    ++evictions;
    for (int64_t g = 0; g < s.n_kv_head; ++g) {
      std::vector<std::pair<float, int32_t>> candidates;  // (score, position)
      for (auto [p, sc] : score[size_t(g)])
        if (p >= 2 && newest - p >= 8) candidates.push_back({sc, p});
      std::sort(candidates.begin(), candidates.end());
      std::set<int32_t> expected, dropped;
      for (int64_t i = 0; i < h.ev.per_head; ++i) expected.insert(candidates[size_t(i)].second);
      for (int64_t i = 0; i < h.ev.per_head; ++i)
        dropped.insert(s.positions(g)[h.ev.drops[size_t(g * h.ev.per_head + i)]]);
      REQUIRE(dropped == expected);
      for (int32_t p : dropped) score[size_t(g)].erase(p);
    }
  };
  h.step(32, false);
  h.step(32, true);  // a prompt of 64: the first eviction keeps 48
  for (int i = 0; i < 120; ++i) h.step(1, false);
  CHECK(evictions == 121);
}

TEST_CASE("h2o keeps the token every query attends to and drops the one none does", "[attention]") {
  // Every query leans towards u; the key at position 5 is 4u (a heavy hitter), the one at 6 is
  // -40u (no query gives it any mass, so it is the first to go).
  Harness h("h2o:budget=32,recent=8", 64);
  std::vector<float> u(Harness::hd, 0.0f);
  std::fill(u.begin(), u.begin() + 8, 1.5f);  // q.u = 1.5 * (12 +- 2.8): positive for every query
  h.query_bias = u;
  std::vector<float> heavy(u), light(u);
  for (auto& x : heavy) x *= 4;
  for (auto& x : light) x *= -40;
  h.key_override[5] = heavy;
  h.key_override[6] = light;
  h.step(32, false);
  h.step(1, false);  // the first eviction
  for (int64_t g = 0; g < Harness::n_kv; ++g) CHECK(h.held(g).count(6) == 0);
  for (int i = 0; i < 100; ++i) h.step(1, false);
  for (int64_t g = 0; g < Harness::n_kv; ++g) CHECK(h.held(g).count(5) == 1);
}

TEST_CASE("snapkv keeps what the observation window attends to", "[attention]") {
  Harness h("snapkv:budget=24,window=8,kernel=1", 128);
  std::vector<float> u(Harness::hd, 0.0f);
  std::fill(u.begin(), u.begin() + 8, 1.5f);  // q.u = 1.5 * (12 +- 2.8): positive for every query
  h.query_bias = u;
  std::vector<float> heavy(u);
  for (auto& x : heavy) x *= 4;
  h.key_override[40] = heavy;
  h.step(80, true);
  for (int64_t g = 0; g < Harness::n_kv; ++g) CHECK(h.held(g).count(40) == 1);
}

TEST_CASE("snapkv compresses a prompt to its budget per head and keeps the window", "[attention]") {
  Harness h("snapkv:budget=48,window=8,sinks=2", 256);
  h.step(100, false);
  h.step(20, true);  // the prompt ends: 120 tokens, compressed to 48
  CHECK(h.cache.book.used(0) == 48);
  for (int64_t g = 0; g < Harness::n_kv; ++g) {
    auto held = h.held(g);
    CHECK(held.size() == 48);
    for (int32_t p = 112; p < 120; ++p) CHECK(held.count(p) == 1);  // the observation window
    CHECK(held.count(0) == 1);
    CHECK(held.count(1) == 1);
  }
  for (int i = 0; i < 10; ++i) h.step(1, false);  // decoding appends, never evicts
  CHECK(h.cache.book.used(0) == 58);
}

TEST_CASE("streaming holds sinks and window, positions inside the cache", "[attention]") {
  for (int64_t every : {1, 8}) {
    Harness h("streaming:sinks=4,window=32,evict_every=" + std::to_string(every), 36 + every + 16);
    h.step(16, false);
    for (int i = 0; i < 100; ++i) {
      h.step(1, false);
      REQUIRE(h.cache.book.used(0) <= 36 + every - 1);  // evicted in batches of `every`
      const int32_t* pos = h.cache.book.positions(0);
      for (int64_t s = 0; s < h.cache.book.used(0); ++s) CHECK(pos[s] == s);  // re-positioned
    }
    // Reads sinks + window + itself: the reference trims its cache to start + recent after each
    // step, and the next token attends to them and to itself.
    CHECK(h.max_read == 37);
  }
}

TEST_CASE("selection policies read within their budgets and keep every token", "[attention]") {
  struct Case {
    std::string spec;
    int64_t limit;  // keys one head may read on a decode step
  };
  for (const Case& c : {Case{"quest:budget=64,page=8,dense_layers=0", 64},
                        Case{"dhsa:budget=96,local=16,chunk_min=4,chunk_max=16,decode=sparse", 96},
                        // recycled's full steps read everything; its other steps are tested below
                        Case{"recycled:k=40,stride=5", 240}}) {
    INFO(c.spec);
    Harness h(c.spec, 512);
    h.step(64, false);
    h.step(64, false);
    h.step(72, true);  // a 200-token prompt, in chunks
    for (int i = 0; i < 40; ++i) h.step(1, false);
    CHECK(h.cache.book.used(0) == 240);  // nothing leaves the cache
    CHECK(h.evicted.empty());
    CHECK(h.max_read <= c.limit);
    CHECK(h.max_read >= c.limit / 2);  // and the budget is used
  }
}

TEST_CASE("recycled attention refreshes on schedule, or when the query drifts", "[attention]") {
  // refresh=query with similarity 1.0: random queries always drift, so every step is full.
  Harness drift("recycled:k=16,refresh=query,similarity=1.0", 256);
  drift.step(64, true);
  for (int i = 0; i < 5; ++i) {
    drift.step(1, false);
    CHECK(drift.sel.keys(0) == drift.cache.book.used(0));
  }
  // fixed, stride 3: full, recycled, recycled, full, ...: recycled steps read k + tokens since.
  Harness fixed("recycled:k=16,stride=3", 256);
  fixed.step(64, true);  // the prompt's last token records the first set
  std::vector<int64_t> read;
  for (int i = 0; i < 6; ++i) {
    fixed.step(1, false);
    read.push_back(fixed.sel.keys(0));
  }
  CHECK(read == std::vector<int64_t>{16 + 1, 16 + 2, 67, 16 + 1, 16 + 2, 70});
}

TEST_CASE("policies run over q8_0 and q4_0 caches", "[attention]") {
  for (KvType type : {KvType::Q8_0, KvType::Q4_0}) {
    for (std::string spec :
         {"h2o:budget=40", "snapkv:budget=40,window=8", "dhsa:budget=48,local=8,decode=sparse",
          "quest:budget=32,page=8,dense_layers=0", "recycled:k=16,stride=4",
          "streaming:sinks=4,window=24"}) {
      INFO(spec);
      Harness h(spec, 200, type);
      h.step(64, true);
      for (int i = 0; i < 20; ++i) h.step(1, false);
      for (float x : h.out) REQUIRE(std::isfinite(x));
    }
  }
}

TEST_CASE("a device backend's view plans, evicts and holds what the CPU run does", "[attention]") {
  // Every policy, over f16 and q4_0 caches: the policy sees positions only (rows when it reads
  // keys, queries when it reads them) and the rows follow the logged moves.
  for (KvType type : {KvType::F16, KvType::Q4_0}) {
    for (std::string spec :
         {"dense", "h2o:budget=40", "snapkv:budget=40,window=8",
          "dhsa:budget=48,local=8,decode=sparse", "quest:budget=32,page=8,dense_layers=0",
          "recycled:k=16,stride=4", "streaming:sinks=4,window=24"}) {
      INFO(spec << " " << kv_type_name(type));
      Harness h(spec, 200, type, /*with_mirror=*/true);
      h.step(40, false);
      h.step(24, true);
      for (int i = 0; i < 30; ++i) h.step(1, false);
      h.step(9, false);  // a chunk after decoding (a chat turn)
      for (int i = 0; i < 5; ++i) h.step(1, false);
    }
  }
}

namespace {

// Whether head `h` (query block 0) of the last plan read slot `slot`.
bool reads_slot(const Selection& sel, int64_t h, int32_t slot) {
  for (int32_t i = sel.offsets[size_t(h)]; i < sel.offsets[size_t(h) + 1]; ++i)
    if (sel.spans[size_t(i)].begin <= slot && slot < sel.spans[size_t(i)].end) return true;
  return false;
}

// Every query leans towards u; the planted keys are 6u: every query attends to them far more than
// to any random key (q.u = 1.5 * (12 +- 2.8) per unit of u), and a page of them bounds every query
// head's q.k above a page of random keys (Quest ranks per query head).
void plant(Harness& h, const std::vector<int64_t>& positions) {
  std::vector<float> u(Harness::hd, 0.0f);
  std::fill(u.begin(), u.begin() + 8, 1.5f);
  h.query_bias = u;
  for (auto& x : u) x *= 6;
  for (int64_t p : positions) h.key_override[p] = u;
}

}  // namespace

TEST_CASE("selection policies rank: a planted key (and page, chunk) is read on every decode step",
          "[attention]") {
  // The ranking path runs: 256 cached keys against budgets of 16-96, the planted keys far from the
  // recent window and the first page. A policy that took its worst candidates, or the first k
  // slots, would not read them. (DHSA's budget leaves room for whole chunks of up to 16 beside
  // its sink chunk and local tokens; recycled's full steps read everything, its others k.)
  struct Case {
    std::string spec;
    std::vector<int64_t> planted;
  };
  const std::vector<Case> cases = {
      {"quest:budget=32,page=8,dense_layers=0", {100}},  // one key
      {"quest:budget=32,page=8,dense_layers=0",
       {96, 97, 98, 99, 100, 101, 102, 103}},  // one whole page
      {"dhsa:budget=96,local=8,chunk_min=4,chunk_max=16,decode=sparse", {100}},
      {"dhsa:budget=96,local=8,chunk_min=4,chunk_max=16,decode=sparse",
       {120, 121, 122, 123, 124, 125}},
      {"recycled:k=16,stride=4", {100}},
      {"recycled:k=16,stride=4", {60, 61, 62, 150}},
  };
  for (const Case& c : cases) {
    INFO(c.spec << ", planted at " << c.planted.front() << " (" << c.planted.size() << " keys)");
    Harness h(c.spec, 512);
    plant(h, c.planted);
    h.step(128, false);
    h.step(128, true);  // a 256-token prompt
    for (int i = 0; i < 12; ++i) {
      h.step(1, false);
      const int64_t read = h.sel.keys(0);
      const bool full_step = c.spec.starts_with("recycled") && read == h.cache.book.used(0);
      if (!full_step) REQUIRE(read <= 96);  // a real choice, not everything
      const int64_t sel_heads = h.sel.per_query_head ? Harness::n_head : Harness::n_kv;
      for (int64_t g = 0; g < sel_heads; ++g)
        for (int64_t p : c.planted) CHECK(reads_slot(h.sel, g, int32_t(p)));
    }
  }
}

TEST_CASE("eviction policies that score by attention keep a planted key; streaming does not",
          "[attention]") {
  {
    Harness h("h2o:budget=48,recent=16", 128);
    plant(h, {100});
    h.step(64, false);
    h.step(64, true);
    for (int i = 0; i < 60; ++i) h.step(1, false);
    REQUIRE(h.evicted.size() >= 100);  // it evicted, and by score
    for (int64_t g = 0; g < Harness::n_kv; ++g) CHECK(h.held(g).count(100) == 1);
  }
  {
    Harness h("snapkv:budget=32,window=8,kernel=5", 256);
    plant(h, {100});
    h.step(200, true);
    REQUIRE(h.cache.book.used(0) == 32);
    for (int64_t g = 0; g < Harness::n_kv; ++g) CHECK(h.held(g).count(100) == 1);
  }
  {
    // StreamingLLM has no scoring: the planted key leaves with its neighbours (positions are
    // renumbered as it evicts, so the key itself is looked for).
    Harness h("streaming:sinks=4,window=32,evict_every=1", 64);
    plant(h, {20});
    const std::vector<float> planted = h.key_override[20];
    auto holds_planted = [&] {
      std::vector<float> key(Harness::hd);
      for (int64_t g = 0; g < Harness::n_kv; ++g)
        for (int64_t s = 0; s < h.cache.book.used(0); ++s) {
          h.cache.rows.key(0, g, s, key.data());
          if (key == planted) return true;
        }
      return false;
    };
    h.step(16, false);
    for (int i = 0; i < 8; ++i) h.step(1, false);
    REQUIRE(holds_planted());
    for (int i = 0; i < 60; ++i) h.step(1, false);
    CHECK(!holds_planted());
  }
}

TEST_CASE("policies act when their reference code does: on the whole prompt, dense where it is",
          "[attention]") {
  // H2O scores the whole prompt before anything leaves (prefill=chunked: after every chunk).
  for (bool chunked : {false, true}) {
    Harness h(std::string("h2o:budget=40,recent=8") + (chunked ? ",prefill=chunked" : ""), 256);
    h.step(64, false);
    CHECK(h.cache.book.used(0) == (chunked ? 40 : 64));
    h.step(64, true);
    CHECK(h.cache.book.used(0) == 40);
  }
  // StreamingLLM prefills densely and then cuts to sinks + window (prefill=windowed: windows each
  // chunk and evicts as it goes).
  for (bool windowed : {false, true}) {
    Harness h(std::string("streaming:sinks=4,window=24") + (windowed ? ",prefill=windowed" : ""),
              256);
    h.step(64, false);
    CHECK(h.cache.book.used(0) == (windowed ? 28 : 64));
    h.step(64, true);
    CHECK((h.sel.keys(0) == 128) == !windowed);  // the second chunk read the whole prompt
    CHECK(h.cache.book.used(0) == 28);
    h.step(1, false);  // decoding rolls one token per step by default
    CHECK(h.cache.book.used(0) == 28);
    CHECK(h.sel.keys(0) == 4 + 24 + 1);  // sinks, the window before the token, and itself
  }
  // DHSA: a sparse prompt whose last dense_tail queries read everything, and dense decoding
  // (decode=sparse: sparse decoding).
  for (bool sparse_decode : {false, true}) {
    Harness h(std::string("dhsa:budget=48,local=8,chunk_min=4,chunk_max=16,q_block=8") +
                  (sparse_decode ? ",decode=sparse" : ""),
              512);
    h.step(128, false);
    const Selection& s = h.sel;
    REQUIRE(s.q_block == 8);
    const int64_t heads = s.per_query_head ? Harness::n_head : Harness::n_kv;
    CHECK(s.keys(15 * heads) < 120);  // the last block of a chunk that is not the prompt's end
    h.step(128, true);
    CHECK(h.sel.keys(15 * heads) == 256);  // the prompt's last 64 queries: blocks 8..15
    CHECK(h.sel.keys(8 * heads) == 256 - 56);
    CHECK(h.sel.keys(7 * heads) < 200);  // before the tail: sparse
    h.step(1, false);
    CHECK((h.sel.keys(0) == 257) == !sparse_decode);
  }
}
