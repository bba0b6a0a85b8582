// The attention-policy seam. Per layer and step (a prefill chunk or one decoded token) the layer
// loop asks the layer's policy three things, in this order:
//   plan()    which key spans each KV head attends to (the one span-sparse kernel executes it);
//   observe() what the step's attention looked like, only when observe_queries() asks for it;
//   evict()   which slots leave the cache (the KvBook carries it out, the backend moves its rows).
// Eviction policies (streaming, H2O, SnapKV) save memory and lose tokens for good; selection
// policies (recycled, DHSA, Quest) keep every token and save time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/kv_book.h"
#include "engine/kv_rows.h"
#include "kernels/common/attention_args.h"

namespace longctx {

// The key spans per KV head for one step: spans of head g are spans[offsets[g] .. offsets[g+1]).
// With q_block > 0 each block of q_block queries has its own: block b, head g at
// offsets[b * n_kv_head + g] (q_block a multiple of the kernel's query block, 8).
// With per_query_head the spans are per query head instead (offsets[b * n_head + h]): each head of
// a GQA group reads its own keys (Quest as its reference ranks pages); no statistics then.
struct Selection {
  std::vector<kernels::KeySpan> spans;
  std::vector<int32_t> offsets;
  int64_t q_block = 0;
  bool per_query_head = false;
  void clear() {
    spans.clear();
    offsets.assign(1, 0);
    q_block = 0;
    per_query_head = false;
  }
  // Appends [begin, end) to the current head, merged with its last span when they touch.
  void add(int32_t begin, int32_t end);
  void end_head() { offsets.push_back(int32_t(spans.size())); }
  // Appends head `head`'s spans again as the next head.
  void copy_head(size_t head);
  int64_t keys(int64_t head) const;  // keys head `head` reads
};

struct StepInfo {
  int64_t layer = 0;
  int64_t n_kv_head = 0;
  int64_t n_cached = 0;     // slots in use, this step's keys included
  int64_t first_q_pos = 0;  // position of the step's first query
  int64_t window = 0;       // the layer's own sliding window (0 = none)
  bool prompt_end = false;  // the last chunk of an eval() of several tokens: a prompt just ended
  // What query-aware policies read: the step's queries (rotated, unscaled)
  // [n_q][n_head][head_dim], the scale of q.k, the cache's book (positions) and the rows the host
  // holds (every layer on the CPU; on a device, the layers of policies that read keys).
  const float* q = nullptr;
  int64_t n_q = 0, n_head = 0, head_dim = 0;
  float scale = 1.0f;
  const KvBook* book = nullptr;
  const KvRows* rows = nullptr;
  int64_t capacity() const { return book->capacity(layer); }
  const int32_t* positions(int64_t g) const { return book->positions(layer) + g * capacity(); }
};

// What leaves the cache after a step: either a range of slots [begin, begin + count) in every head
// (later slots move down; with reposition their positions drop by count and their keys are
// re-rotated to match: StreamingLLM's positions inside the cache, llama.cpp's context shift), or
// per_head slots of every KV head, drops[g * per_head ...] ascending (moved() reports the moves).
struct Eviction {
  int64_t begin = 0, count = 0;
  bool reposition = false;
  std::vector<int32_t> drops;
  int64_t per_head = 0;
  void clear() {
    begin = count = per_head = 0;
    reposition = false;
    drops.clear();
  }
};

// How a policy ranks what a step reads, when a backend can rank that way itself, next to the keys
// (so the host needs neither the layer's keys nor its queries). A backend kind lists the methods it
// runs (BackendKind::ranks); a policy names the one it can hand over.
enum class RankMethod {
  None,
  // Blocks of `block` slots summarised by their element-wise key bounds, scored against the
  // query's upper bound, the best within `budget` tokens read with the newest block (Quest;
  // kernels/common/page_selection.h).
  BlockBounds,
};

// One step's ranking, handed to the backend instead of a Selection.
struct DeviceRanking {
  RankMethod method = RankMethod::None;
  int64_t block = 0, budget = 0;
};

class AttentionPolicy {
 public:
  virtual ~AttentionPolicy() = default;
  virtual std::string name() const = 0;
  virtual void plan(const StepInfo& step, Selection& out) = 0;
  // What the policy reads besides positions and statistics: the step's queries (StepInfo::q is
  // null otherwise) and the cache's keys (on a device the host keeps rows only for such layers).
  virtual bool reads_queries() const { return false; }
  virtual bool reads_keys() const { return false; }
  // The ranking this policy can hand to a backend that runs its method (None: it plans on the
  // host). On such a backend every step device_ranking() fills is ranked there, and neither plan()
  // nor observe() is called for it; plan() then never reads keys or queries.
  virtual RankMethod rank_method() const { return RankMethod::None; }
  // This step's ranking, or false for a step the policy plans itself (dense steps).
  virtual bool device_ranking(const StepInfo&, DeviceRanking&) const { return false; }
  // How many of the step's last queries' attention mass observe() wants (0: none, the default:
  // statistics cost nothing unless asked for).
  virtual int64_t observe_queries(const StepInfo&) { return 0; }
  // mass[g * capacity + slot]: attention probability of each selected key, summed over the
  // observed queries and then over the query heads of KV head g (or, when mass_group_max(), the
  // largest among those heads).
  virtual void observe(const StepInfo&, const float* /*mass*/) {}
  virtual bool mass_group_max() const { return false; }
  virtual void evict(const StepInfo&, Eviction&) {}
  // The book carried out the step's eviction: each move (head, from, to), in order, took the token
  // in slot `from` of that KV head to slot `to`. A policy keeping per-slot state (H2O's scores)
  // moves it the same way; it is called once per book edit, after evict().
  virtual void moved(const StepInfo&, const std::vector<KvMove>&) {}
  // Tokens the layer ever holds after a step (-1: no bound); bounded layers get a smaller cache.
  virtual int64_t max_held() const { return -1; }
  // The fewest tokens the last chunk of a prompt must hold (SnapKV's observation window).
  virtual int64_t min_last_chunk() const { return 1; }
  // A prompt's last chunk to be exactly its last N tokens (0: no wish): DHSA's dense tail. The
  // session grants it when no policy needs a longer last chunk.
  virtual int64_t exact_last_chunk() const { return 0; }
  // The session forgot its tokens (clear) or some of them (a chat rewinding to a shared prefix).
  virtual void reset() {}
  // Whether, before the chunk that ends a prompt, the policy steers attention exactly as dense
  // attention does (reads every key, observes nothing, evicts nothing) and rebuilds whatever it
  // keeps from those steps out of the cache: then a session may take that part of a prompt from
  // another session's cache (Session::adopt_prefix) and its results do not change.
  virtual bool shares_prefill() const { return false; }
  // Whether a session running this policy may take a prompt's prefix from a session whose policy
  // in the same layer is `base` (Session::adopt_prefix): both steer that part as dense attention
  // does, and this one can rebuild or take over whatever it keeps from it. By default both must
  // share_prefill(); H2O also takes a prefix from a dense layer that recorded its attention mass.
  virtual bool can_adopt_from(const AttentionPolicy& base) const {
    return shares_prefill() && base.shares_prefill();
  }
  // After a prefix was adopted (and reset()): take what `base` accumulated over it.
  virtual void adopt_state(const AttentionPolicy& /*base*/) {}
};

// One key span per KV head covering the cache: the dense selection, used by every policy for steps
// it leaves dense (prefill, short contexts).
void select_all(const StepInfo& step, Selection& out);

// The k largest scores' indices among n (ties to the lower index), ascending.
void top_k(const float* scores, int64_t n, int64_t k, std::vector<int32_t>& out);

std::unique_ptr<AttentionPolicy> make_dense_policy();
// Dense attention that also accumulates, per KV head, the attention mass every query puts on each
// key (H2O's score, summed over the group's query heads): `dense:observe=mass`. Its outputs are
// dense's; a session running it is a shared prefill that H2O sessions of any budget can take
// over, score and all (eval's shared prefill).
std::unique_ptr<AttentionPolicy> make_mass_recording_policy();
// A model's own sliding-window layer (Gemma 3's local layers), whatever policy the others run.
std::unique_ptr<AttentionPolicy> make_sliding_window_policy(int64_t window);

}  // namespace longctx
