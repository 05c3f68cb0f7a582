// Running plugin instances, one per (server, config version) for the whole process — not per
// worker as in Kong — so a config is started once however many workers run it.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace gh::plugins {

class InstanceCache {
 public:
  enum class Claim { started, claimed, busy };  // already running / yours to start / another is starting it

  // The instance id for (server, seq), or a claim to start it.
  Claim lookup(const std::string& server, int64_t seq, int64_t& id);
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

 private:
  struct Entry {
    std::optional<int64_t> id;  // nullopt while being started
  };
  std::mutex mutex_;
  std::map<std::pair<std::string, int64_t>, Entry> entries_;
};

}  // namespace gh::plugins
