#include "pluginserver/gatehouse/client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "pdk/table.h"
#include "pluginserver/protobuf/framing.h"
#include "pluginserver/protobuf/methods.h"
#include "pluginserver/protobuf/pdk_codec.h"
#include "proto/gatehouse.pb.h"

namespace gh::pluginserver::gatehouse {

namespace asio = boost::asio;

namespace {
constexpr std::string_view kLearnCall = "gatehouse.learn";
constexpr std::string_view kDeclareCall = "gatehouse.declare";
}  // namespace

namespace {
// The ProtoBuf:1 method of a read the table marks prefetchable, or nullptr.
const protobuf::PdkMethod* prefetchable_method(std::string_view method) {
  const protobuf::PdkMethod* m = protobuf::find_pdk_method(method);
  return m != nullptr && m->function != nullptr && m->function->read_only() ? m : nullptr;
}
}  // namespace

bool prefetchable(std::string_view method) {
  return prefetchable_method(method) != nullptr;
}

std::shared_ptr<PrefetchPlan> PrefetchPlans::of(const std::string& socket_path) {
  std::lock_guard lock(mutex_);
  auto& plan = plans_[socket_path];  // a few servers
  if (!plan) plan = std::make_shared<PrefetchPlan>();
  return plan;
}

bool PrefetchPlan::add(Reads& plan, std::string_view method, std::string_view args) {
  const protobuf::PdkMethod* read = prefetchable_method(method);
  if (read == nullptr) return false;
  const bool known = std::any_of(plan.begin(), plan.end(),
                                 [&](const Read& r) { return r.method->name == method && r.args == args; });
  if (known) return true;
  if (plan.size() >= kMaxReadsPerPhase) return false;
  plan.push_back({read, std::string(args)});
  return true;
}

template <class Update>
void PrefetchPlan::change(std::int64_t instance_id, std::string_view phase, Update update) {
  std::lock_guard lock(mutex_);
  Key key{instance_id, std::string(phase)};
  if (plans_.size() >= kMaxPlans && !plans_.contains(key)) {
    if (!full_logged_)
      spdlog::warn(
          "Gatehouse:1: {} prefetch plans kept; instance {} {} and later new ones get none (their "
          "reads are asked for one by one) until instances close",
          kMaxPlans, instance_id, phase);
    full_logged_ = true;
    return;
  }
  auto& slot = plans_[std::move(key)];
  auto plan = slot ? std::make_shared<Reads>(*slot) : std::make_shared<Reads>();
  update(*plan);
  slot = std::move(plan);
}

bool PrefetchPlan::learn(std::int64_t instance_id, std::string_view phase, std::string_view report) {
  gatehouse_protocol::Reads reads;
  if (!reads.ParseFromArray(report.data(), static_cast<int>(report.size()))) return false;
  change(instance_id, phase, [&](Reads& plan) {
    for (const auto& read : reads.reads()) add(plan, read.method(), read.args());
  });
  return true;
}

std::optional<std::vector<std::string>> PrefetchPlan::declare(std::int64_t instance_id,
                                                              std::string_view declaration) {
  gatehouse_protocol::Declaration declared;
  if (!declared.ParseFromArray(declaration.data(), static_cast<int>(declaration.size()))) return std::nullopt;
  std::vector<std::string> refused;
  for (const auto& entry : declared.phases()) {
    // Named references, not a structured binding: clang 14 (the fuzz build) cannot capture those.
    const std::string& phase = entry.first;
    const gatehouse_protocol::Reads& reads = entry.second;
    change(instance_id, phase, [&](Reads& plan) {
      for (const auto& read : reads.reads())
        if (!add(plan, read.method(), read.args())) refused.push_back(phase + ": " + read.method());
    });
  }
  return refused;
}

std::shared_ptr<const PrefetchPlan::Reads> PrefetchPlan::find(std::int64_t instance_id,
                                                              std::string_view phase) const {
  std::lock_guard lock(mutex_);
  auto it = plans_.find({instance_id, std::string(phase)});
  return it == plans_.end() ? nullptr : it->second;
}

PrefetchPlan::Reads PrefetchPlan::reads(std::int64_t instance_id, std::string_view phase) const {
  auto plan = find(instance_id, phase);
  return plan ? *plan : Reads{};
}

void PrefetchPlan::forget(std::int64_t instance_id) {
  std::lock_guard lock(mutex_);
  std::erase_if(plans_, [&](const auto& entry) { return entry.first.first == instance_id; });
  if (plans_.size() < kMaxPlans) full_logged_ = false;
}

void PrefetchPlan::clear() {
  std::lock_guard lock(mutex_);
  plans_.clear();
  full_logged_ = false;
}

Client::Client(asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout,
               std::shared_ptr<PrefetchPlan> plan)
    : plan_(std::move(plan)),
      client_(std::move(executor), std::move(socket_path), timeout, std::string(kProtocol), *this) {}

asio::awaitable<protobuf::InstanceStatus> Client::start_instance(std::string name, std::string config_json) {
  co_return co_await client_.start_instance(std::move(name), std::move(config_json));
}

asio::awaitable<void> Client::close_instance(std::int64_t instance_id) {
  plan_->forget(instance_id);
  co_await client_.close_instance(instance_id);
}

asio::awaitable<protobuf::EventOutcome> Client::handle_event(std::int64_t instance_id,
                                                             std::string_view event_name, PdkHandler& pdk) {
  protobuf::EventOutcome outcome;
  try {
    outcome = co_await client_.handle_event(instance_id, event_name, pdk);
  } catch (const protobuf::RpcError& e) {
    if (e.instance_lost()) plan_->forget(instance_id);  // it is restarted, and declares again
    throw;
  }
  // How many round trips the event cost beyond its own (what prefetching saves); the tests read it.
  spdlog::debug("Gatehouse:1 {}: {} event of instance {}: {} calls answered over the wire",
                client_.socket_path(), event_name, instance_id, outcome.answered_calls);
  co_return outcome;
}

// The Reads frame: every planned read run now, through the same handler and in the same phase as
// the plugin's call would be, its reply encoded exactly as ProtoBuf:1 would answer it.
asio::awaitable<void> Client::event_frames(std::int64_t instance_id, std::string_view event_name,
                                           protobuf::PdkCodec& codec, PdkHandler& pdk, std::string& outbox) {
  gatehouse_protocol::Reads prefetched;
  std::string reply;
  static const PrefetchPlan::Reads none;
  const auto plan = plan_->find(instance_id, event_name);  // kept alive across the co_awaits
  for (const auto& read : plan ? *plan : none) {
    nlohmann::json arguments;
    try {
      arguments = codec.decode_args(*read.method, read.args);
    } catch (const protobuf::RpcError&) {
      continue;  // reported with arguments that do not decode: the plugin will ask itself
    }
    pdk.tally(*read.method->function, pdk::Tally::prefetched);  // a plan holds table entries only
    const PdkResult result = co_await pdk.run(read.method->function, read.method->name, std::move(arguments));
    if (result.status == PdkResult::Status::terminal) continue;
    reply.clear();
    codec.encode_result(*read.method, result, reply);
    auto* entry = prefetched.add_reads();
    entry->set_method(read.method->name);
    entry->set_args(read.args);
    entry->set_reply(reply.substr(protobuf::kFrameHeaderSize));
  }
  if (prefetched.reads_size() > 0)
    spdlog::debug("Gatehouse:1 {}: {} reads prefetched for {}", client_.socket_path(),
                  prefetched.reads_size(), event_name);
  protobuf::append_frame(outbox, prefetched);
}

bool Client::serve_own_call(std::int64_t instance_id, std::string_view event_name, std::string_view method,
                            std::string_view args) {
  if (method != kLearnCall) return false;
  if (!plan_->learn(instance_id, event_name, args))
    spdlog::warn("Gatehouse:1: undecodable {} report ignored", kLearnCall);
  return true;
}

std::string_view Client::start_call() const {
  return kDeclareCall;
}

// The reads the instance declared seed its plan, through the same filter as learned ones.
void Client::instance_started(const std::string& plugin_name, std::int64_t instance_id,
                              const std::string* declaration) {
  if (declaration == nullptr) return;
  const auto refused = plan_->declare(instance_id, *declaration);
  if (!refused) {
    spdlog::warn("Gatehouse:1 {}: plugin {} sent an undecodable {}: ignored", client_.socket_path(),
                 plugin_name, kDeclareCall);
    return;
  }
  for (const auto& call : *refused)
    spdlog::warn(
        "Gatehouse:1 {}: plugin {} declares {}, which is not a side-effect-free read the gateway "
        "prefetches (or the phase has {} already): ignored",
        client_.socket_path(), plugin_name, call, PrefetchPlan::kMaxReadsPerPhase);
}

}  // namespace gh::pluginserver::gatehouse
