#include "ratelimit/local_store.h"

#include <algorithm>
#include <functional>

namespace gh::ratelimit {

LocalStore::LocalStore(size_t max_entries) : max_per_shard_(std::max<size_t>(1, max_entries / kShards)) {}

int64_t LocalStore::get(std::string_view text, int64_t now_ms) {
  const HashedKey key = hashed(text);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return 0;
  if (it->second.expires_at_ms <= now_ms) {
    shard.entries.erase(it);
    return 0;
  }
  return it->second.count;
}

int64_t LocalStore::increment(std::string_view text, int64_t value, int64_t ttl_seconds, int64_t now_ms) {
  const HashedKey key = hashed(text);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end() && it->second.expires_at_ms <= now_ms) {
    shard.entries.erase(it);
    it = shard.entries.end();
  }
  if (it == shard.entries.end()) {
    make_room(shard, now_ms);
    it = shard.entries.emplace(std::string(text), Entry{0, now_ms + ttl_seconds * 1000}).first;
  }
  it->second.count += value;
  return it->second.count;
}

// Called with the shard locked before a new key goes in: sweeps expired windows at most once
// a second (or whenever the shard is full), then evicts the entry closest to expiry if the shard
// is still at its cap.
void LocalStore::make_room(Shard& shard, int64_t now_ms) {
  const bool full = shard.entries.size() >= max_per_shard_;
  if (full || now_ms >= shard.next_sweep_ms) {
    std::erase_if(shard.entries, [now_ms](const auto& item) { return item.second.expires_at_ms <= now_ms; });
    shard.next_sweep_ms = now_ms + 1000;
  }
  if (shard.entries.size() < max_per_shard_) return;
  auto soonest = std::min_element(
      shard.entries.begin(), shard.entries.end(),
      [](const auto& a, const auto& b) { return a.second.expires_at_ms < b.second.expires_at_ms; });
  shard.entries.erase(soonest);
}

size_t LocalStore::size() {
  size_t total = 0;
  for (auto& shard : shards_) {
    std::lock_guard lock(shard.mutex);
    total += shard.entries.size();
  }
  return total;
}

}  // namespace gh::ratelimit
