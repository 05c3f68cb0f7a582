// Target selection for services whose host names an upstream, with Kong's algorithms:
// round-robin (smooth weighted), consistent-hashing (Kong's continuum over `slots` points, keyed
// by hash_on / hash_fallback), least-connections (fewest in-flight requests per weight, counted
// for the whole process) and latency (lowest decaying average response time per weight, per
// worker, as Kong's). Unhealthy targets and targets of weight 0 are never picked.
//
// The proxy's part: select() once per request, next() per try, then failed() or responded(),
// and dropping the Selection when the exchange is over.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "upstream/registry.h"

namespace gh::upstream {

// What consistent hashing may read from the request (implemented by the proxy).
class HashInputs {
 public:
  virtual ~HashInputs() = default;
  virtual std::optional<std::string> consumer_id() const = 0;  // or the credential's id
  virtual std::string client_ip() const = 0;
  virtual std::optional<std::string> header(const std::string& name) const = 0;  // values joined by ", "
  virtual std::optional<std::string> cookie(const std::string& name) const = 0;
  virtual std::string path() const = 0;  // normalized request path
  virtual std::optional<std::string> query_arg(const std::string& name) const = 0;
  virtual std::optional<std::string> uri_capture(const std::string& name) const = 0;
};

// The key Kong hashes: hash_on's value, else hash_fallback's, else "" (every such request lands
// on the same point). A cookie that is missing is created: `new_cookie` holds its value.
std::string hash_key(const conf::Upstream& upstream, const HashInputs& inputs, std::string& new_cookie);

struct WorkerUpstream;  // a worker's running state for one upstream

// One request's use of an upstream (Kong's balancer handle).
class Selection {
 public:
  Selection(std::shared_ptr<const UpstreamSet> set, const UpstreamState& state,
            std::shared_ptr<WorkerUpstream> worker, std::string key, std::string new_cookie);
  Selection(const Selection&) = delete;
  Selection& operator=(const Selection&) = delete;
  ~Selection();

  // The target for the next try; false when none is available (Kong: 503 "failure to get a
  // peer from the ring-balancer").
  bool next(TargetAddress& out);
  // The current try failed before a response (connect refused or reset: tcp_failure; timed out).
  void failed(Result result);
  // The current try got a response head with `status`.
  void responded(int status);
  // Kong's Set-Cookie for a hash_on cookie the client did not send ("" when none).
  std::string set_cookie_header() const;

 private:
  void end_try();

  std::shared_ptr<const UpstreamSet> set_;  // keeps state_ alive
  const UpstreamState& state_;
  std::shared_ptr<WorkerUpstream> worker_;  // a reload drops the worker's map, not this
  std::string key_;
  std::string new_cookie_;
  std::vector<bool> tried_;
  int current_ = -1;
  bool connection_open_ = false;
  std::chrono::steady_clock::time_point try_start_{};
};

class Balancer {
 public:
  Balancer();
  ~Balancer();
  // The Selection for a request to `host` when it names an upstream, else nullopt.
  std::optional<Selection> select(const HealthRegistry& registry, const std::string& host,
                                  const HashInputs& inputs);

 private:
  std::shared_ptr<const UpstreamSet> set_;
  uint64_t version_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<WorkerUpstream>> states_;  // by UpstreamState::serial()
};

// The algorithms, exposed for unit tests: the index picked, or -1. `tried` marks targets that
// already failed for this request.
int pick_round_robin(const UpstreamState& state, std::vector<int>& current_weights,
                     const std::vector<bool>& tried);
int pick_consistent(const UpstreamState& state, uint32_t key_hash, const std::vector<bool>& tried);
int pick_least_connections(const UpstreamState& state, size_t rotation, const std::vector<bool>& tried);

}  // namespace gh::upstream
