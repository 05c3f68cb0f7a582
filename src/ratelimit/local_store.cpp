#include "ratelimit/local_store.h"

#include <algorithm>

namespace gh::ratelimit {

LocalStore::LocalStore(size_t max_entries) : max_per_shard_(std::max<size_t>(1, max_entries / kShards)) {}

uint32_t LocalStore::scope(std::string_view route_id, std::string_view service_id) {
  std::string name;
  name.append(route_id).append(1, ':').append(service_id);
  std::lock_guard lock(scopes_mutex_);
  return scopes_.try_emplace(std::move(name), static_cast<uint32_t>(scopes_.size())).first->second;
}

void LocalStore::get(uint32_t scope, const Windows& windows, std::span<int64_t> counts) {
  std::fill(counts.begin(), counts.end(), 0);
  const Lookup key = lookup(scope, windows.identifier);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) return;
  if (it->second.expires_at_ms <= windows.now_ms) {
    shard.entries.erase(it);
    return;
  }
  for (size_t i = 0; i < windows.size && i < counts.size(); ++i) {
    const Slot& slot = it->second.slots[static_cast<size_t>(windows.periods[i])];
    if (slot.counts(windows.starts_ms[i], windows.now_ms)) counts[i] = slot.count;
  }
}

void LocalStore::increment(uint32_t scope, const Windows& windows, int64_t value) {
  const int64_t now_ms = windows.now_ms;
  const Lookup key = lookup(scope, windows.identifier);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.entries.find(key);
  if (it == shard.entries.end()) {
    make_room(shard, now_ms);
    it = shard.entries.emplace(Key{scope, std::string(windows.identifier)}, Entry{}).first;
  }
  Entry& entry = it->second;
  for (size_t i = 0; i < windows.size; ++i) {
    Slot& slot = entry.slots[static_cast<size_t>(windows.periods[i])];
    if (!slot.counts(windows.starts_ms[i], now_ms))
      slot = {windows.starts_ms[i], now_ms + period_seconds(windows.periods[i]) * 1000, 0};
    slot.count += value;
    entry.expires_at_ms = std::max(entry.expires_at_ms, slot.expires_at_ms);
  }
}

// Called with the shard locked before a new identity goes in: sweeps expired entries at most
// once a second (or whenever the shard is full), then evicts the entry closest to expiry if the
// shard is still at its cap.
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
