#include "plugins/instance_cache.h"

#include <limits>

namespace gh::plugins {

InstanceCache::Claim InstanceCache::lookup(const std::string& server, int64_t seq, int64_t& id) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = entries_.try_emplace({server, seq});
  if (inserted) return Claim::claimed;
  if (!it->second.id) return Claim::busy;
  id = *it->second.id;
  return Claim::started;
}

void InstanceCache::store(const std::string& server, int64_t seq, int64_t id) {
  std::lock_guard lock(mutex_);
  entries_[{server, seq}].id = id;
}

void InstanceCache::release(const std::string& server, int64_t seq) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({server, seq});
  if (it != entries_.end() && !it->second.id) entries_.erase(it);
}

void InstanceCache::forget(const std::string& server, int64_t seq, int64_t id) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find({server, seq});
  if (it != entries_.end() && it->second.id == id) entries_.erase(it);
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
  return taken;
}

}  // namespace gh::plugins
