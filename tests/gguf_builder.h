// Writes GGUF files in memory for tests and fuzzing, recording where each field starts so the
// fuzz corpus can truncate at every boundary and corrupt every count, length and type tag.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "models/gguf.h"

namespace longctx::test {

class GgufBuilder {
 public:
  using VT = gguf::ValueType;

  template <typename T>
  GgufBuilder& kv(const std::string& key, VT type, T value) {
    kvs_.push_back({key, [=](GgufBuilder& b) {
                      b.put_tag(int32_t(type));
                      b.put(value);
                    }});
    return *this;
  }
  GgufBuilder& kv_string(const std::string& key, const std::string& value) {
    kvs_.push_back({key, [=](GgufBuilder& b) {
                      b.put_tag(int32_t(VT::STRING));
                      b.put_string(value);
                    }});
    return *this;
  }
  template <typename T>
  GgufBuilder& kv_array(const std::string& key, VT elem_type, const std::vector<T>& values) {
    kvs_.push_back({key, [=](GgufBuilder& b) {
                      b.put_tag(int32_t(VT::ARRAY));
                      b.put_tag(int32_t(elem_type));
                      b.put_count(values.size());
                      for (const T& v : values) b.put(v);
                    }});
    return *this;
  }
  GgufBuilder& kv_string_array(const std::string& key, const std::vector<std::string>& values) {
    kvs_.push_back({key, [=](GgufBuilder& b) {
                      b.put_tag(int32_t(VT::ARRAY));
                      b.put_tag(int32_t(VT::STRING));
                      b.put_count(values.size());
                      for (const std::string& v : values) b.put_string(v);
                    }});
    return *this;
  }
  // Drops a key written before (to write it again with another value).
  GgufBuilder& erase(const std::string& key) {
    std::erase_if(kvs_, [&](const Kv& kv) { return kv.key == key; });
    return *this;
  }
  // A tensor with raw data bytes (already in its block format).
  GgufBuilder& tensor(const std::string& name, int32_t type, std::vector<int64_t> shape,
                      std::vector<uint8_t> data) {
    tensors_.push_back({name, type, std::move(shape), std::move(data)});
    return *this;
  }

  std::vector<uint8_t> build(uint32_t version = 3, uint64_t alignment = 32) {
    out_.clear();
    boundaries_.clear();
    counts_.clear();
    tags_.clear();
    mark();
    out_.insert(out_.end(), {'G', 'G', 'U', 'F'});
    mark();
    put(version);
    put_count(tensors_.size());
    put_count(kvs_.size());
    for (auto& [key, writer] : kvs_) {
      put_string(key);
      writer(*this);
    }
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const Tensor& t : tensors_) {
      put_string(t.name);
      mark();
      put(uint32_t(t.shape.size()));
      for (int64_t d : t.shape) {
        counts_.push_back(out_.size());
        mark();
        put(d);
      }
      put_tag(t.type);
      offsets.push_back(offset);
      mark();
      put(offset);
      offset += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    while (out_.size() % alignment) out_.push_back(0);
    mark();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      out_.insert(out_.end(), tensors_[i].data.begin(), tensors_[i].data.end());
      while (out_.size() % alignment) out_.push_back(0);
      mark();
    }
    return out_;
  }

  const std::vector<size_t>& boundaries() const { return boundaries_; }  // field starts
  const std::vector<size_t>& count_fields() const { return counts_; }    // u64/i64 sizes, counts
  const std::vector<size_t>& tag_fields() const { return tags_; }        // i32 type tags

 private:
  struct Tensor {
    std::string name;
    int32_t type;
    std::vector<int64_t> shape;
    std::vector<uint8_t> data;
  };
  struct Kv {
    std::string key;
    std::function<void(GgufBuilder&)> writer;
  };

  void mark() { boundaries_.push_back(out_.size()); }
  template <typename T>
  void put(const T& v) {
    mark();
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  void put_tag(int32_t tag) {
    tags_.push_back(out_.size());
    put(tag);
  }
  void put_count(uint64_t n) {
    counts_.push_back(out_.size());
    put(n);
  }
  void put_string(const std::string& s) {
    put_count(s.size());
    mark();
    out_.insert(out_.end(), s.begin(), s.end());
  }

  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
  std::vector<uint8_t> out_;
  std::vector<size_t> boundaries_, counts_, tags_;
};

// A file with every metadata value type, arrays of each, and tensors of several block types:
// the richest seed for tests and the fuzz corpus.
std::vector<uint8_t> rich_gguf(GgufBuilder* builder_out = nullptr);
// A gemma2 header with its soft-caps and sliding window (two layers, one F32 tensor each, so the
// counts add up), for config readers; `builder_out` as above.
std::vector<uint8_t> gemma2_gguf(float attn_softcap, float final_softcap,
                                 GgufBuilder* builder_out = nullptr);

}  // namespace longctx::test
