// CUB's radix sorts as the project calls them, executed on the host in stream order: the
// temporary-storage protocol (a call with no storage only sizes it; a call with less than that
// fails), stable order, CUB's key order for floats (-0.0 equal to +0.0, NaNs by their bits), and
// items outside every segment left as they were.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tests/cuda_cpu/runtime.h"

namespace cuda_cpu {

// The unsigned key that orders as CUB orders T (ascending).
template <typename T>
uint64_t radix_key(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8);
    using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
    U u;
    std::memcpy(&u, &v, sizeof(T));
    const U sign = U(1) << (8 * sizeof(T) - 1);
    if (u == sign) u = 0;  // -0.0 is +0.0
    return uint64_t((u & sign) ? U(~u) : U(u ^ sign));
  } else if constexpr (std::is_signed_v<T>) {
    return uint64_t(std::make_unsigned_t<T>(v) ^
                    (std::make_unsigned_t<T>(1) << (8 * sizeof(T) - 1)));
  } else {
    return uint64_t(v);
  }
}

// The scratch asked for is room for a copy of the keys and one of the values, and the sort writes
// every byte of it: a caller that allocates less than it was told is an out-of-bounds write.
inline size_t keys_part(size_t n_items, size_t key_bytes) {
  return (n_items * key_bytes + 15) / 16 * 16;
}
// Sorts items [begin, end) of each segment; `order` gets the permutation. Runs on the host.
void stable_order(const uint64_t* keys, int begin, int end, bool descending, int* order);
cudaError_t check_temp(void* temp, size_t have, size_t need);

template <typename K, typename V>
cudaError_t sort_pairs(void* temp, size_t& temp_bytes, const K* keys_in, K* keys_out,
                       const V* values_in, V* values_out, int n_items, int n_segments,
                       const int* begins, const int* ends, bool descending, bool with_values,
                       cudaStream_t stream) {
  const size_t n = size_t(n_items < 0 ? 0 : n_items);
  const size_t need = keys_part(n, sizeof(K)) + n * sizeof(V);
  if (temp == nullptr) {
    temp_bytes = need;
    return cudaSuccess;
  }
  if (cudaError_t e = check_temp(temp, temp_bytes, need); e != cudaSuccess) return e;
  if (n_items < 0 || n_segments < 0) return cudaErrorInvalidValue;
  return enqueue(stream, [=] {
    // Offsets are device memory written earlier in the stream: read now, in stream order.
    K* scratch_keys = static_cast<K*>(temp);
    V* scratch_values = reinterpret_cast<V*>(static_cast<char*>(temp) + keys_part(n, sizeof(K)));
    std::vector<uint64_t> keys(n);
    std::vector<int> order(n);
    for (int i = 0; i < n_items; ++i) {
      scratch_keys[i] = keys_in[i];
      keys[size_t(i)] = radix_key(keys_in[i]);
    }
    for (int i = 0; i < n_items; ++i) scratch_values[i] = with_values ? values_in[i] : V{};
    for (int s = 0; s < (begins ? n_segments : 1); ++s) {
      const int b = begins ? begins[s] : 0, e = begins ? ends[s] : n_items;
      if (e <= b) continue;
      stable_order(keys.data(), b, e, descending, order.data());
      for (int i = b; i < e; ++i) {
        keys_out[i] = scratch_keys[order[size_t(i)]];
        if (with_values) values_out[i] = scratch_values[order[size_t(i)]];
      }
    }
  });
}

}  // namespace cuda_cpu

namespace cub {

struct DeviceRadixSort {
  template <typename K, typename V>
  static cudaError_t SortPairsDescending(void* temp, size_t& temp_bytes, const K* keys_in,
                                         K* keys_out, const V* values_in, V* values_out,
                                         int n_items, int begin_bit = 0,
                                         int end_bit = int(sizeof(K) * 8),
                                         cudaStream_t stream = nullptr) {
    if (begin_bit != 0 || end_bit != int(sizeof(K) * 8)) return cudaErrorInvalidValue;
    return cuda_cpu::sort_pairs(temp, temp_bytes, keys_in, keys_out, values_in, values_out, n_items,
                                1, nullptr, nullptr, true, true, stream);
  }
  template <typename K, typename V>
  static cudaError_t SortPairs(void* temp, size_t& temp_bytes, const K* keys_in, K* keys_out,
                               const V* values_in, V* values_out, int n_items, int begin_bit = 0,
                               int end_bit = int(sizeof(K) * 8), cudaStream_t stream = nullptr) {
    if (begin_bit != 0 || end_bit != int(sizeof(K) * 8)) return cudaErrorInvalidValue;
    return cuda_cpu::sort_pairs(temp, temp_bytes, keys_in, keys_out, values_in, values_out, n_items,
                                1, nullptr, nullptr, false, true, stream);
  }
  template <typename K>
  static cudaError_t SortKeys(void* temp, size_t& temp_bytes, const K* keys_in, K* keys_out,
                              int n_items, int begin_bit = 0, int end_bit = int(sizeof(K) * 8),
                              cudaStream_t stream = nullptr) {
    if (begin_bit != 0 || end_bit != int(sizeof(K) * 8)) return cudaErrorInvalidValue;
    return cuda_cpu::sort_pairs<K, char>(temp, temp_bytes, keys_in, keys_out, nullptr, nullptr,
                                         n_items, 1, nullptr, nullptr, false, false, stream);
  }
};

struct DeviceSegmentedRadixSort {
  template <typename K, typename V>
  static cudaError_t SortPairsDescending(void* temp, size_t& temp_bytes, const K* keys_in,
                                         K* keys_out, const V* values_in, V* values_out,
                                         int n_items, int n_segments, const int* begin_offsets,
                                         const int* end_offsets, int begin_bit = 0,
                                         int end_bit = int(sizeof(K) * 8),
                                         cudaStream_t stream = nullptr) {
    if (begin_bit != 0 || end_bit != int(sizeof(K) * 8)) return cudaErrorInvalidValue;
    return cuda_cpu::sort_pairs(temp, temp_bytes, keys_in, keys_out, values_in, values_out, n_items,
                                n_segments, begin_offsets, end_offsets, true, true, stream);
  }
};

}  // namespace cub
