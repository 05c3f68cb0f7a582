#include "batch_channel.h"

#include "proto/gatehouse.pb.h"

namespace gatehouse::pdk::detail {

namespace {

std::string read_key(std::string_view method, std::string_view args) {
  std::string key;
  key.reserve(method.size() + 1 + args.size());
  key.append(method).push_back('\0');
  key.append(args);
  return key;
}

}  // namespace

bool ReportedReads::first_time(std::string_view phase, const std::string& key) {
  std::string entry(phase);
  entry.push_back('\0');
  entry += key;
  std::lock_guard lock(mutex_);
  return seen_.insert(std::move(entry)).second;
}

BatchChannel::BatchChannel(FrameSocket& socket, std::string_view prefetched, std::string phase,
                           ReportedReads& reported)
    : socket_(socket), phase_(std::move(phase)), reported_(reported) {
  gatehouse_protocol::Reads reads;
  if (!reads.ParseFromArray(prefetched.data(), static_cast<int>(prefetched.size())))
    throw PdkError("cannot decode the prefetched reads of the event");
  for (auto& read : *reads.mutable_reads())
    prefetched_.insert_or_assign(read_key(read.method(), read.args()), std::move(*read.mutable_reply()));
}

void BatchChannel::check_not_exited(std::string_view method) const {
  // ProtoBuf:1 closes the connection after kong.response.exit, so later calls fail; same here.
  if (exited_) throw PdkError(std::string(method) + " after kong.response.exit: the event has ended");
}

std::string_view BatchChannel::call(std::string_view method, std::string_view args) {
  check_not_exited(method);
  if (auto hit = prefetched_.find(read_key(method, args)); hit != prefetched_.end()) return hit->second;
  learn(method, args);
  queue(method, args);  // the queued writes go first: the gateway applies them before answering
  const bool sent = socket_.write_framed(outbox_);
  outbox_.clear();
  if (!sent) throw PdkError("use of closed network connection");
  auto reply = socket_.read_frame();
  if (!reply) throw PdkError("connection closed by the gateway during " + std::string(method));
  return *reply;
}

void BatchChannel::write(std::string_view method, std::string_view args) {
  check_not_exited(method);
  queue(method, args);
  prefetched_.clear();  // the write may change what they describe: later reads ask the gateway
}

void BatchChannel::exit(std::string_view method, std::string_view args) {
  write(method, args);
  exited_ = true;
}

void BatchChannel::queue(std::string_view method, std::string_view args) {
  append_frame(outbox_, method);
  append_frame(outbox_, args);
}

void BatchChannel::learn(std::string_view method, std::string_view args) {
  if (reported_.first_time(phase_, read_key(method, args))) misses_.emplace_back(method, args);
}

bool BatchChannel::finish(std::string_view rpc_return) {
  if (!misses_.empty()) {
    gatehouse_protocol::Reads report;
    for (auto& [method, args] : misses_) {
      auto* read = report.add_reads();
      read->set_method(method);
      read->set_args(args);
    }
    queue("gatehouse.learn", report.SerializeAsString());
  }
  append_frame(outbox_, {});  // the handler returned
  append_frame(outbox_, rpc_return);
  const bool sent = socket_.write_framed(outbox_);
  outbox_.clear();
  return sent;
}

}  // namespace gatehouse::pdk::detail
