#include "cache/store.h"

namespace gh::cache {

size_t Entry::bytes() const {
  size_t total = sizeof(Entry) + body.size();
  for (const auto& [name, value] : headers) total += name.size() + value.size() + 2 * sizeof(std::string);
  return total;
}

bool Store::set(const std::string& key, std::shared_ptr<const Entry> entry, std::chrono::seconds ttl,
                Clock::time_point now) {
  const size_t cost = charge(key.size(), entry->bytes());
  std::lock_guard lock(mutex_);
  if (cost > capacity_) return false;
  if (auto it = index_.find(key); it != index_.end()) drop(it->second);
  evict_to(capacity_ - cost);
  const auto expires = ttl.count() > 0 ? now + ttl : Clock::time_point::max();
  lru_.push_front(Node{key, std::move(entry), expires, cost});
  index_.emplace(lru_.front().key, lru_.begin());
  used_ += cost;
  return true;
}

std::shared_ptr<const Entry> Store::get(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return nullptr;
  auto node = it->second;
  if (node->expires <= now) {
    drop(node);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, node);
  return node->entry;
}

bool Store::erase(std::string_view key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  const bool live = it->second->expires > now;
  drop(it->second);
  return live;
}

void Store::clear() {
  std::lock_guard lock(mutex_);
  index_.clear();
  lru_.clear();
  used_ = 0;
}

void Store::resize(size_t capacity) {
  std::lock_guard lock(mutex_);
  capacity_ = capacity;
  evict_to(capacity);
}

size_t Store::capacity() const {
  std::lock_guard lock(mutex_);
  return capacity_;
}

size_t Store::used() const {
  std::lock_guard lock(mutex_);
  return used_;
}

size_t Store::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

void Store::drop(List::iterator it) {
  used_ -= it->charge;
  index_.erase(it->key);
  lru_.erase(it);
}

void Store::evict_to(size_t target) {
  while (used_ > target && !lru_.empty()) drop(std::prev(lru_.end()));
}

}  // namespace gh::cache
