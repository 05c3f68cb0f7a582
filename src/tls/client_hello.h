// Reading the SNI out of a TLS ClientHello without terminating TLS (tls_passthrough stream
// routes): the first record the client sends, parsed just enough to find server_name.
#pragma once

#include <string>
#include <string_view>

namespace gh::tls {

struct ClientHelloPeek {
  enum class Status { need_more, not_tls, ok } status = Status::need_more;
  std::string server_name;  // "" when the client sent none (status ok)
};

// `bytes` are the first bytes the client sent (not consumed: they are forwarded as they are).
// need_more until the whole first handshake record is there (at most 16 KiB + 5).
ClientHelloPeek peek_client_hello(std::string_view bytes);

}  // namespace gh::tls
