// The `local` policy's counters: one table per gateway (plugins::SharedMemory), shared by all
// workers and kept across reloads (Kong's kong_rate_limiting_counters shared dictionary). Thread-safe
// (sharded by key hash, one mutex per shard) and bounded: an expired window is dropped when it is next
// touched, each shard is swept for expired windows as it fills, and a shard at its cap evicts its entry
// closest to expiry before taking a new key (Kong's shm evicts least recently used ones instead).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace gh::ratelimit {

class LocalStore {
 public:
  static constexpr size_t kShards = 64;

  explicit LocalStore(size_t max_entries = size_t{1} << 20);

  // The counter of `key` at `now_ms` (0 when absent or expired).
  int64_t get(std::string_view key, int64_t now_ms);
  // Adds `value`; a new counter lives `ttl_seconds` from now (Kong's shm:incr(key, v, 0, ttl)).
  int64_t increment(std::string_view key, int64_t value, int64_t ttl_seconds, int64_t now_ms);

  size_t size();  // live and not yet swept entries (tests)

 private:
  struct Entry {
    int64_t count = 0;
    int64_t expires_at_ms = 0;
  };
  // A key hashed once: the same hash picks the shard and the bucket (keys are ~100 bytes, and
  // hashing one twice per lookup was a tenth of the plugin's instructions).
  struct HashedKey {
    std::string_view text;
    size_t hash;
  };
  // Lookups by a HashedKey without building a std::string per call.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
    size_t operator()(const HashedKey& key) const { return key.hash; }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const HashedKey& a, std::string_view b) const { return a.text == b; }
    bool operator()(std::string_view a, const HashedKey& b) const { return a == b.text; }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, KeyHash, KeyEqual> entries;
    int64_t next_sweep_ms = 0;
  };

  static HashedKey hashed(std::string_view key) { return {key, std::hash<std::string_view>{}(key)}; }
  Shard& shard_of(const HashedKey& key) { return shards_[key.hash % kShards]; }
  void make_room(Shard& shard, int64_t now_ms);

  size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace gh::ratelimit
