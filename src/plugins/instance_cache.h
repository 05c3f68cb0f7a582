// Running plugin instances, one per (server, config version) for the whole process — not per
// worker as in Kong — so a config is started once however many workers run it.
//
// The shared map (behind a mutex) is the authority; each worker keeps its own copy of the ids it
// used (InstanceCache::Local), valid while generation() has not moved, so an event finds its
// instance without the lock. Every removal moves the generation: the workers then look again.
// A worker that finds an instance being started by another waits for a wake-up (stored or
// released), not by polling.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gh::plugins {

class InstanceCache {
 public:
  enum class Claim { started, claimed, busy };  // already running / yours to start / another is starting it

  // The instance id for (server, seq), or a claim to start it. When another worker is starting
  // it (busy) and `wake` is given, `wake` is called (once, from the starting worker's thread)
  // when that start ends either way; then look again.
  Claim lookup(const std::string& server, int64_t seq, int64_t& id, std::function<void()> wake = {});
  void store(const std::string& server, int64_t seq, int64_t id);
  void release(const std::string& server, int64_t seq);  // a claim that failed to start
  // The server lost this instance: forget it, unless another worker already replaced it.
  void forget(const std::string& server, int64_t seq, int64_t id);
  // A new process of `server` started: the instances the earlier one held are gone. Forgetting
  // them all now lets the next event start a fresh instance directly, instead of failing first on
  // "no plugin instance". Starts in progress are left to finish (or fail) on their own.
  void forget_server(const std::string& server);
  // The running instances of these (server, seq) configs — retired ones, to be closed on their
  // servers — removed and returned as (server, seq) → id. Configs being started are left alone.
  std::map<std::pair<std::string, int64_t>, int64_t> take(
      const std::set<std::pair<std::string, int64_t>>& keys);

  // Moves whenever an instance is removed: a worker's copy made at an older generation is stale.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // One worker's copy of the ids it used, by __seq__ (unique in the process). Not thread-safe:
  // one per worker.
  class Local {
   public:
    // The id for `seq` when the copy is still valid, else nullopt (ask the shared cache).
    std::optional<int64_t> find(const InstanceCache& cache, int64_t seq);
    // Remembers `id`, read from the shared cache at `generation` (read before the lookup).
    void remember(int64_t seq, int64_t id, uint64_t generation);

   private:
    std::unordered_map<int64_t, int64_t> ids_;
    uint64_t generation_ = 0;
  };

 private:
  struct Entry {
    std::optional<int64_t> id;                // nullopt while being started
    std::vector<std::function<void()>> wake;  // workers waiting for that start
  };
  // Ends a start in progress: the waiters are woken (outside the lock).
  static void wake_all(std::vector<std::function<void()>> waiters);
  void removed() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  std::mutex mutex_;
  std::map<std::pair<std::string, int64_t>, Entry> entries_;
  std::atomic<uint64_t> generation_{1};
};

}  // namespace gh::plugins
