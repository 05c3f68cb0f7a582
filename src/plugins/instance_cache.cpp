#include "plugins/instance_cache.h"

#include <limits>

namespace gh::plugins {

InstanceCache::Claim InstanceCache::lookup(const std::string& server, int64_t seq, int64_t& id,
                                           std::function<void()> wake) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = entries_.try_emplace({server, seq});
  if (inserted) return Claim::claimed;
  if (!it->second.id) {
    // Registered under the lock that saw the start in progress: its end cannot be missed.
    if (wake) it->second.wake.push_back(std::move(wake));
    return Claim::busy;
  }
  id = *it->second.id;
  return Claim::started;
}

void InstanceCache::wake_all(std::vector<std::function<void()>> waiters) {
  for (auto& wake : waiters) wake();
}

void InstanceCache::store(const std::string& server, int64_t seq, int64_t id) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    auto& entry = entries_[{server, seq}];
    entry.id = id;
    waiters.swap(entry.wake);
  }
  wake_all(std::move(waiters));
}

void InstanceCache::release(const std::string& server, int64_t seq) {
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find({server, seq});
    if (it == entries_.end() || it->second.id) return;
    waiters.swap(it->second.wake);
    entries_.erase(it);
  }
  wake_all(std::move(waiters));
}

void InstanceCache::forget(const std::string& server, int64_t seq, int64_t id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({server, seq});
  if (it != entries_.end() && it->second.id == id) {
    entries_.erase(it);
    removed();
  }
}

void InstanceCache::forget_server(const std::string& server) {
  std::lock_guard lock(mutex_);
  auto it = entries_.lower_bound({server, std::numeric_limits<int64_t>::min()});
  while (it != entries_.end() && it->first.first == server) {
    if (it->second.id)
      it = entries_.erase(it);
    else
      ++it;
  }
  removed();
}

std::map<std::pair<std::string, int64_t>, int64_t> InstanceCache::take(
    const std::set<std::pair<std::string, int64_t>>& keys) {
  std::lock_guard lock(mutex_);
  std::map<std::pair<std::string, int64_t>, int64_t> taken;
  for (const auto& key : keys) {
    auto it = entries_.find(key);
    if (it == entries_.end() || !it->second.id) continue;
    taken[key] = *it->second.id;
    entries_.erase(it);
  }
  if (!taken.empty()) removed();
  return taken;
}

std::optional<int64_t> InstanceCache::Local::find(const InstanceCache& cache, int64_t seq) {
  const uint64_t now = cache.generation();
  if (now != generation_) {  // something was removed since: every copied id may be stale
    ids_.clear();
    generation_ = now;
    return std::nullopt;
  }
  auto it = ids_.find(seq);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

void InstanceCache::Local::remember(int64_t seq, int64_t id, uint64_t generation) {
  if (generation != generation_) return;  // read before a removal the copy has not seen: not kept
  ids_[seq] = id;
}

}  // namespace gh::plugins
