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
  // Lookups by string_view without building a std::string per call.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> entries;
    int64_t next_sweep_ms = 0;
  };

  Shard& shard_of(std::string_view key);
  void make_room(Shard& shard, int64_t now_ms);

  size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace gh::ratelimit
