#include "pluginserver/gatehouse/client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "pluginserver/protobuf/framing.h"
#include "pluginserver/protobuf/methods.h"
#include "pluginserver/protobuf/pdk_codec.h"
#include "proto/gatehouse.pb.h"

namespace gh::pluginserver::gatehouse {

namespace asio = boost::asio;

namespace {
constexpr std::string_view kLearnCall = "gatehouse.learn";
}  // namespace

bool prefetchable(std::string_view method) {
  static constexpr std::array kOtherReads = {std::string_view("kong.ip.is_trusted"),
                                             std::string_view("kong.log.serialize"),
                                             std::string_view("kong.nginx.req_start_time")};
  if (protobuf::find_pdk_method(method) == nullptr) return false;
  if (method.ends_with(".get_raw_body")) return false;  // bodies may be large: read on demand
  const std::string_view last = method.substr(method.rfind('.') + 1);
  return last == "get" || last.starts_with("get_") ||
         std::find(kOtherReads.begin(), kOtherReads.end(), method) != kOtherReads.end();
}

bool PrefetchPlan::learn(std::int64_t instance_id, std::string_view phase, std::string_view report) {
  gatehouse_protocol::Reads reads;
  if (!reads.ParseFromArray(report.data(), static_cast<int>(report.size()))) return false;
  if (plans_.size() >= kMaxPlans) plans_.clear();
  auto& plan = plans_[{instance_id, std::string(phase)}];
  for (const auto& read : reads.reads()) {
    if (plan.size() >= kMaxReadsPerPhase) break;
    if (!prefetchable(read.method())) continue;
    const bool known = std::any_of(plan.begin(), plan.end(), [&](const Read& r) {
      return r.method->name == read.method() && r.args == read.args();
    });
    if (!known) plan.push_back({protobuf::find_pdk_method(read.method()), read.args()});
  }
  return true;
}

const std::vector<PrefetchPlan::Read>& PrefetchPlan::reads(std::int64_t instance_id,
                                                           std::string_view phase) const {
  static const std::vector<Read> none;
  auto it = plans_.find({instance_id, std::string(phase)});
  return it == plans_.end() ? none : it->second;
}

void PrefetchPlan::forget(std::int64_t instance_id) {
  std::erase_if(plans_, [&](const auto& entry) { return entry.first.first == instance_id; });
}

Client::Client(asio::any_io_executor executor, std::string socket_path, std::chrono::milliseconds timeout)
    : client_(std::move(executor), std::move(socket_path), timeout, std::string(kProtocol), *this) {}

asio::awaitable<protobuf::InstanceStatus> Client::start_instance(std::string name, std::string config_json) {
  co_return co_await client_.start_instance(std::move(name), std::move(config_json));
}

asio::awaitable<void> Client::close_instance(std::int64_t instance_id) {
  plan_.forget(instance_id);
  co_await client_.close_instance(instance_id);
}

asio::awaitable<protobuf::EventOutcome> Client::handle_event(std::int64_t instance_id,
                                                             std::string_view event_name, PdkHandler& pdk) {
  co_return co_await client_.handle_event(instance_id, event_name, pdk);
}

// The Reads frame: every planned read run now, through the same handler and in the same phase as
// the plugin's call would be, its reply encoded exactly as ProtoBuf:1 would answer it.
asio::awaitable<void> Client::event_frames(std::int64_t instance_id, std::string_view event_name,
                                           protobuf::PdkCodec& codec, PdkHandler& pdk, std::string& outbox) {
  gatehouse_protocol::Reads prefetched;
  std::string reply;
  for (const auto& read : plan_.reads(instance_id, event_name)) {
    nlohmann::json arguments;
    try {
      arguments = codec.decode_args(*read.method, read.args);
    } catch (const protobuf::RpcError&) {
      continue;  // reported with arguments that do not decode: the plugin will ask itself
    }
    const PdkResult result = co_await pdk.call(read.method->name, std::move(arguments));
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
  if (!plan_.learn(instance_id, event_name, args))
    spdlog::warn("Gatehouse:1: undecodable {} report ignored", kLearnCall);
  return true;
}

}  // namespace gh::pluginserver::gatehouse
