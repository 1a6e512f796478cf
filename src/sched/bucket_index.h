// BucketIndex: items (dense ids 0..n-1) kept in buckets by a small integer key,
// with O(1) insert, erase and re-key, and O(K) search for the first non-empty
// bucket at or above a key. The scheduler uses it for "nodes of a pool by free
// accelerators" and "interconnect groups by free nodes" so that a placement
// never scans every node.
//
// Determinism: the order inside a bucket depends only on the sequence of
// operations, so equal inputs give equal picks.
#pragma once

#include <cassert>
#include <cstdint>
#include <vector>

namespace sovgrid::sched {

class BucketIndex {
 public:
  static constexpr std::uint32_t kAbsent = UINT32_MAX;

  BucketIndex() = default;
  BucketIndex(std::uint32_t items, int max_key) { Reset(items, max_key); }

  void Reset(std::uint32_t items, int max_key) {
    buckets_.assign(static_cast<std::size_t>(max_key) + 1, {});
    key_.assign(items, -1);
    pos_.assign(items, kAbsent);
  }

  bool Contains(std::uint32_t item) const { return key_[item] >= 0; }
  int KeyOf(std::uint32_t item) const { return key_[item]; }
  int max_key() const { return static_cast<int>(buckets_.size()) - 1; }

  void Insert(std::uint32_t item, int key) {
    assert(!Contains(item) && key >= 0 && key <= max_key());
    auto& b = buckets_[key];
    pos_[item] = static_cast<std::uint32_t>(b.size());
    key_[item] = key;
    b.push_back(item);
  }

  void Erase(std::uint32_t item) {
    assert(Contains(item));
    auto& b = buckets_[key_[item]];
    const std::uint32_t p = pos_[item];
    const std::uint32_t last = b.back();
    b[p] = last;
    pos_[last] = p;
    b.pop_back();
    key_[item] = -1;
    pos_[item] = kAbsent;
  }

  void Rekey(std::uint32_t item, int key) {
    if (key_[item] == key) return;
    Erase(item);
    Insert(item, key);
  }

  const std::vector<std::uint32_t>& Bucket(int key) const { return buckets_[key]; }

  // Smallest key >= `min_key` with a non-empty bucket, or -1.
  int FirstNonEmptyAtLeast(int min_key) const {
    for (int k = min_key < 0 ? 0 : min_key; k <= max_key(); ++k) {
      if (!buckets_[k].empty()) return k;
    }
    return -1;
  }
  // Largest key >= `min_key` with a non-empty bucket, or -1.
  int LastNonEmptyAtLeast(int min_key) const {
    for (int k = max_key(); k >= (min_key < 0 ? 0 : min_key); --k) {
      if (!buckets_[k].empty()) return k;
    }
    return -1;
  }
  // Number of items with key >= `min_key`.
  std::size_t CountAtLeast(int min_key) const {
    std::size_t n = 0;
    for (int k = min_key < 0 ? 0 : min_key; k <= max_key(); ++k) n += buckets_[k].size();
    return n;
  }

 private:
  std::vector<std::vector<std::uint32_t>> buckets_;
  std::vector<int> key_;
  std::vector<std::uint32_t> pos_;
};

}  // namespace sovgrid::sched
