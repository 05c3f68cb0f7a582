// Kong& over a Gatehouse:1 connection (docs/protocol.md): reads the gateway prefetched are answered
// here, writes (calls whose reply is google.protobuf.Empty) are queued and sent with the next call
// or with the end of the phase, so that a handler costs one round trip however many calls it makes.
#pragma once

#include <gatehouse/pdk/kong.h>

#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "frame_socket.h"

namespace gatehouse::pdk::detail {

// The reads an instance already reported to the gateway (per phase), so each is reported once.
class ReportedReads {
 public:
  // True the first time (phase, key) is seen.
  bool first_time(std::string_view phase, const std::string& key);

 private:
  std::mutex mutex_;
  std::set<std::string> seen_;
};

class BatchChannel final : public Channel {
 public:
  // `prefetched`: the serialized gatehouse_protocol.Reads frame that followed cmd_handle_event.
  // Throws PdkError if it does not decode.
  BatchChannel(FrameSocket& socket, std::string_view prefetched, std::string phase, ReportedReads& reported);

  std::string_view call(std::string_view method, std::string_view args) override;
  void write(std::string_view method, std::string_view args) override;
  void exit(std::string_view method, std::string_view args) override;

  // Sends the queued writes, the learn report, the end-of-handler frame and `rpc_return`, in one
  // write. False when the connection is gone.
  bool finish(std::string_view rpc_return);

 private:
  void check_not_exited(std::string_view method) const;
  void queue(std::string_view method, std::string_view args);
  void learn(std::string_view method, std::string_view args);

  FrameSocket& socket_;
  std::string phase_;
  ReportedReads& reported_;
  std::unordered_map<std::string, std::string> prefetched_;  // method '\0' args → reply
  std::string outbox_;                                       // queued frames, not yet sent
  std::vector<std::pair<std::string, std::string>> misses_;  // reads to report (method, args)
  bool exited_ = false;
};

}  // namespace gatehouse::pdk::detail
