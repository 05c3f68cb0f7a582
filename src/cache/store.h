// A byte-bounded LRU map with per-entry expiry, shared by every worker thread: the memory
// strategy of proxy-cache (Kong keeps its entries in an nginx shared dictionary of a fixed size;
// this is that dictionary). What is counted against the capacity is the key, the entry's own
// bytes and a fixed overhead per entry, so the capacity bounds what the store holds; an entry
// larger than the capacity is refused rather than emptying the store for nothing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gh::cache {

using Clock = std::chrono::steady_clock;

// One cached response, immutable once stored (readers share it without copying under the lock).
struct Entry {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // as the client got them, in order
  std::string body;
  int64_t timestamp = 0;  // when it was stored, seconds since the epoch (Kong's res.timestamp)
  int64_t ttl = 0;        // the resource's own TTL in seconds (Kong's res.ttl)

  // What the entry weighs against the store's capacity (besides its key and the fixed overhead).
  size_t bytes() const;
};

class Store {
 public:
  // Per entry, on top of its key and bytes(): list and hash nodes, the Entry itself.
  static constexpr size_t kEntryOverhead = 256;

  explicit Store(size_t capacity) : capacity_(capacity) {}

  // Stores `entry` under `key` for `ttl` (zero: until evicted), replacing an entry of that key;
  // the least recently used entries go first when room is needed. False when the entry alone
  // is larger than the capacity (nothing is evicted for it then).
  bool set(const std::string& key, std::shared_ptr<const Entry> entry, std::chrono::seconds ttl,
           Clock::time_point now = Clock::now());
  // The live entry of `key` (null when absent or expired), now the most recently used.
  std::shared_ptr<const Entry> get(std::string_view key, Clock::time_point now = Clock::now());
  // Removes `key`; true when a live entry was there.
  bool erase(std::string_view key, Clock::time_point now = Clock::now());
  void clear();

  // A new capacity (a reload changed it): entries are evicted until the store fits.
  void resize(size_t capacity);
  size_t capacity() const;
  size_t used() const;  // bytes counted against the capacity
  size_t size() const;  // entries, expired ones not yet dropped included

  // Whether an entry of `bytes` under a key of `key_size` could ever be stored.
  bool fits(size_t key_size, size_t bytes) const { return charge(key_size, bytes) <= capacity(); }

 private:
  struct Node {
    std::string key;
    std::shared_ptr<const Entry> entry;
    Clock::time_point expires;  // time_point::max() when it never expires
    size_t charge = 0;
  };
  using List = std::list<Node>;  // most recently used first

  static size_t charge(size_t key_size, size_t bytes) { return key_size + bytes + kEntryOverhead; }
  void drop(List::iterator it);  // with mutex_ held
  void evict_to(size_t target);  // with mutex_ held

  mutable std::mutex mutex_;
  size_t capacity_;
  size_t used_ = 0;
  List lru_;
  std::unordered_map<std::string_view, List::iterator> index_;  // views into the nodes' keys
};

}  // namespace gh::cache
