// The `local` policy's counters: one table per gateway (plugins::SharedMemory), shared by all
// workers and kept across reloads (Kong's kong_rate_limiting_counters shared dictionary).
//
// Kong keeps one counter per key "ratelimit:<route>:<service>:<identifier>:<window start>:<period>"
// with the period's length as its lifetime from the first increment. This table holds the same
// counters grouped by identity: one entry per (plugin scope, identifier) with a slot per period
// that remembers its window's start and expiry, so a request hashes one short identifier instead
// of formatting and hashing a ~110-byte key per period. A slot counts only while it holds the
// current window and has not expired, exactly when Kong's key would exist. Thread-safe (sharded by
// hash, one mutex per shard) and bounded: an expired entry is dropped when it is next touched,
// each shard is swept for expired entries as it fills, and a shard at its cap evicts its entry
// closest to expiry before taking a new identity (Kong's shm evicts least recently used ones).
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ratelimit/window.h"

namespace gh::ratelimit {

class LocalStore {
 public:
  static constexpr size_t kShards = 64;

  explicit LocalStore(size_t max_entries = size_t{1} << 20);

  // The number of a plugin scope (its route and service ids, Kong's key prefix), the same for
  // the same ids during the store's life, so counters survive a reload that rebuilds the plugin.
  uint32_t scope(std::string_view route_id, std::string_view service_id);

  // counts[i] = the counter of `windows`' window i for this identity: 0 when absent or expired.
  void get(uint32_t scope, const Windows& windows, std::span<int64_t> counts);
  // Adds `value` to every window; a window counted for the first time lives its period's length
  // from now (Kong's shm:incr(key, value, 0, ttl)).
  void increment(uint32_t scope, const Windows& windows, int64_t value);

  size_t size();  // live and not yet swept identities (tests)

 private:
  struct Slot {
    int64_t start_ms = 0;
    int64_t expires_at_ms = 0;  // 0: never counted
    int64_t count = 0;
    bool counts(int64_t start, int64_t now_ms) const { return start_ms == start && expires_at_ms > now_ms; }
  };
  struct Entry {
    std::array<Slot, kPeriods.size()> slots;  // by Period
    int64_t expires_at_ms = 0;                // the latest of its slots'
  };
  struct Key {
    uint32_t scope;
    std::string identifier;
  };
  // A key to look up, hashed once: the same hash picks the shard and the bucket.
  struct Lookup {
    uint32_t scope;
    std::string_view identifier;
    size_t hash;
  };
  static size_t hash_of(uint32_t scope, std::string_view identifier) {
    return std::hash<std::string_view>{}(identifier) ^ (scope * size_t{0x9e3779b97f4a7c15});
  }
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(const Key& key) const { return hash_of(key.scope, key.identifier); }
    size_t operator()(const Lookup& key) const { return key.hash; }
  };
  struct KeyEqual {
    using is_transparent = void;
    bool operator()(const Key& a, const Key& b) const {
      return a.scope == b.scope && a.identifier == b.identifier;
    }
    bool operator()(const Lookup& a, const Key& b) const {
      return a.scope == b.scope && a.identifier == b.identifier;
    }
    bool operator()(const Key& a, const Lookup& b) const {
      return a.scope == b.scope && a.identifier == b.identifier;
    }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<Key, Entry, KeyHash, KeyEqual> entries;
    int64_t next_sweep_ms = 0;
  };

  static Lookup lookup(uint32_t scope, std::string_view identifier) {
    return {scope, identifier, hash_of(scope, identifier)};
  }
  Shard& shard_of(const Lookup& key) { return shards_[key.hash % kShards]; }
  void make_room(Shard& shard, int64_t now_ms);

  size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
  std::mutex scopes_mutex_;
  std::unordered_map<std::string, uint32_t> scopes_;
};

}  // namespace gh::ratelimit
