// Kong& over the plugin socket: PDK calls are frames on the connection serving the event.
#pragma once

#include <gatehouse/pdk/kong.h>

#include "frame_socket.h"

namespace gatehouse::pdk::detail {

class WireChannel final : public Channel {
 public:
  explicit WireChannel(FrameSocket& socket) : socket_(socket) {}

  std::string_view call(std::string_view method, std::string_view args) override;
  void exit(std::string_view method, std::string_view args) override;
  bool exited() const { return exited_; }

 private:
  FrameSocket& socket_;
  bool exited_ = false;
};

}  // namespace gatehouse::pdk::detail
