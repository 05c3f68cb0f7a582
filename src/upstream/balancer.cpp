#include "upstream/balancer.h"

#include <algorithm>
#include <cmath>

namespace gh::upstream {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kDecaySeconds = 10;  // Kong's latency algorithm: EWMA decay time

// One hash_on (or hash_fallback) source's value, if the request has it.
std::optional<std::string> source_value(const conf::HashSource& source, const HashInputs& in) {
  const auto& kind = source.kind;
  if (kind == "consumer") return in.consumer_id();
  if (kind == "ip") return in.client_ip();
  if (kind == "header") return in.header(source.name);
  if (kind == "cookie") return in.cookie(source.name);
  if (kind == "path") return in.path();
  if (kind == "query_arg") return in.query_arg(source.name);
  if (kind == "uri_capture") return in.uri_capture(source.name);
  return std::nullopt;
}

std::string random_uuid(std::mt19937_64& random) {
  static constexpr char kHex[] = "0123456789abcdef";
  uint64_t halves[2] = {random(), random()};
  halves[0] = (halves[0] & ~0xf000ULL) | 0x4000ULL;            // version 4
  halves[1] = (halves[1] & ~(0xcULL << 60)) | (0x8ULL << 60);  // variant 10xx
  std::string out;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    out += kHex[(halves[i / 16] >> (60 - 4 * (i % 16))) & 0xf];
  }
  return out;
}

bool candidate(const UpstreamState& state, size_t i, const std::vector<bool>& tried) {
  return state.available(i) && !tried[i];
}

}  // namespace

// A worker's running state for one upstream: what the algorithms remember between requests.
struct WorkerUpstream {
  std::vector<int> current_weights;  // round-robin
  std::vector<double> ewma;          // latency: seconds
  std::vector<Clock::time_point> ewma_touched;
  size_t rotation = 0;  // least-connections: where ties start
  std::mt19937_64 random{std::random_device{}()};
};

std::string hash_key(const conf::Upstream& upstream, const HashInputs& inputs, std::string& new_cookie) {
  if (upstream.hash_on.kind == "none") return "";
  if (auto value = source_value(upstream.hash_on, inputs)) return *value;
  if (upstream.hash_on.kind == "cookie") {
    new_cookie = "new";  // the caller fills in the value (it owns the random source)
    return "";
  }
  if (auto value = source_value(upstream.hash_fallback, inputs)) return *value;
  return "";
}

int pick_round_robin(const UpstreamState& state, std::vector<int>& current, const std::vector<bool>& tried) {
  // Smooth weighted round-robin (nginx's): even spread, weights respected over any window.
  int total = 0;
  int best = -1;
  for (size_t i = 0; i < state.size(); ++i) {
    if (!candidate(state, i, tried)) continue;
    const int weight = state.config().targets[i].weight;
    current[i] += weight;
    total += weight;
    if (best < 0 || current[i] > current[static_cast<size_t>(best)]) best = static_cast<int>(i);
  }
  if (best >= 0) current[static_cast<size_t>(best)] -= total;
  return best;
}

int pick_consistent(const UpstreamState& state, uint32_t key_hash, const std::vector<bool>& tried) {
  const auto& ring = state.continuum();
  if (ring.empty()) return -1;
  // From the key's point down to the first target that can take it, wrapping once (Kong).
  size_t index = key_hash % ring.size();
  for (size_t step = 0; step < ring.size(); ++step) {
    const int32_t t = ring[index];
    if (t >= 0 && candidate(state, static_cast<size_t>(t), tried)) return t;
    index = index == 0 ? ring.size() - 1 : index - 1;
  }
  return -1;
}

int pick_least_connections(const UpstreamState& state, size_t rotation, const std::vector<bool>& tried) {
  // Lowest (in-flight + 1) / weight; ties start at a rotating index so light load still spreads.
  int best = -1;
  double best_score = 0;
  const size_t n = state.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (rotation + k) % n;
    if (!candidate(state, i, tried)) continue;
    const double score =
        (state.target(i).connections() + 1.0) / static_cast<double>(state.config().targets[i].weight);
    if (best < 0 || score < best_score) best = static_cast<int>(i), best_score = score;
  }
  return best;
}

namespace {

double decayed_ewma(const WorkerUpstream& w, size_t i, Clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - w.ewma_touched[i]).count();
  return w.ewma[i] * std::exp(-std::max(elapsed, 0.0) / kDecaySeconds);
}

// Kong's latency algorithm: two candidates at random, the lower decayed average per weight wins.
int pick_latency(const UpstreamState& state, WorkerUpstream& w, const std::vector<bool>& tried) {
  std::vector<size_t> candidates;
  for (size_t i = 0; i < state.size(); ++i)
    if (candidate(state, i, tried)) candidates.push_back(i);
  if (candidates.empty()) return -1;
  if (candidates.size() == 1) return static_cast<int>(candidates[0]);
  std::uniform_int_distribution<size_t> any(0, candidates.size() - 1);
  const size_t a = candidates[any(w.random)];
  size_t b = a;
  while (b == a) b = candidates[any(w.random)];
  const auto now = Clock::now();
  auto score = [&](size_t i) { return decayed_ewma(w, i, now) / state.config().targets[i].weight; };
  return static_cast<int>(score(a) <= score(b) ? a : b);
}

}  // namespace

Selection::Selection(std::shared_ptr<const UpstreamSet> set, const UpstreamState& state,
                     std::shared_ptr<WorkerUpstream> worker, std::string key, std::string new_cookie)
    : set_(std::move(set)),
      state_(state),
      worker_(std::move(worker)),
      key_(std::move(key)),
      new_cookie_(std::move(new_cookie)),
      tried_(state.size(), false) {}

Selection::~Selection() {
  end_try();
}

bool Selection::next(TargetAddress& out) {
  end_try();
  if (!state_.above_threshold()) return false;
  const auto& algorithm = state_.config().algorithm;
  auto pick = [&]() -> int {
    if (algorithm == "consistent-hashing") return pick_consistent(state_, xxhash32(key_), tried_);
    if (algorithm == "least-connections") return pick_least_connections(state_, worker_->rotation++, tried_);
    if (algorithm == "latency") return pick_latency(state_, *worker_, tried_);
    return pick_round_robin(state_, worker_->current_weights, tried_);
  };
  int index = pick();
  if (index < 0 && std::find(tried_.begin(), tried_.end(), true) != tried_.end()) {
    tried_.assign(tried_.size(), false);  // every target was tried: go round again
    index = pick();
  }
  if (index < 0) return false;
  current_ = index;
  tried_[static_cast<size_t>(index)] = true;
  out = state_.addresses()[static_cast<size_t>(index)];
  state_.target(static_cast<size_t>(index)).connection_started();
  connection_open_ = true;
  try_start_ = Clock::now();
  return true;
}

void Selection::end_try() {
  if (!connection_open_) return;
  connection_open_ = false;
  state_.target(static_cast<size_t>(current_)).connection_ended();
}

void Selection::failed(Result result) {
  if (current_ < 0) return;
  state_.report(static_cast<size_t>(current_), CheckKind::passive, result);
  end_try();
}

void Selection::responded(int status) {
  if (current_ < 0) return;
  const auto i = static_cast<size_t>(current_);
  state_.report_status(i, CheckKind::passive, status);
  if (state_.config().algorithm != "latency") return;
  // Kong samples connect + response time; here connect + time to the response head.
  const auto now = Clock::now();
  const double rtt = std::chrono::duration<double>(now - try_start_).count();
  const double elapsed = std::chrono::duration<double>(now - worker_->ewma_touched[i]).count();
  const double keep = std::exp(-std::max(elapsed, 0.0) / kDecaySeconds);
  worker_->ewma[i] = worker_->ewma[i] * keep + rtt * (1.0 - keep);
  worker_->ewma_touched[i] = now;
}

std::string Selection::set_cookie_header() const {
  if (new_cookie_.empty()) return "";
  return state_.config().hash_on.name + "=" + new_cookie_ + "; Path=" + state_.config().hash_on_cookie_path +
         "; Same-Site=Lax; HttpOnly";
}

Balancer::Balancer() = default;
Balancer::~Balancer() = default;

std::optional<Selection> Balancer::select(const HealthRegistry& registry, const std::string& host,
                                          const HashInputs& inputs) {
  if (const uint64_t version = registry.version(); version != version_) {
    set_ = registry.current();
    version_ = version;
    states_.clear();
  }
  const UpstreamState* state = set_->find(host);
  if (!state) return std::nullopt;
  auto& worker = states_[state->serial()];
  if (!worker) {
    worker = std::make_shared<WorkerUpstream>();
    worker->current_weights.assign(state->size(), 0);
    worker->ewma.assign(state->size(), 0.0);
    worker->ewma_touched.assign(state->size(), Clock::now());
  }
  std::string key, new_cookie;
  if (state->config().algorithm == "consistent-hashing") {
    key = hash_key(state->config(), inputs, new_cookie);
    if (!new_cookie.empty()) key = new_cookie = random_uuid(worker->random);
  }
  return std::optional<Selection>(std::in_place, set_, *state, worker, std::move(key), std::move(new_cookie));
}

}  // namespace gh::upstream
