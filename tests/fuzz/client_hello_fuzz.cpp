// libFuzzer target: the TLS ClientHello peek (src/tls/client_hello.h) that routes tls_passthrough
// streams by SNI. It reads the client's first bytes before anything is authenticated, and is asked
// again as more bytes arrive, so every prefix of the input is peeked too: each answer must be
// need_more, not_tls or ok, and a verdict reached on a prefix must not change with more bytes.
#include <algorithm>
#include <optional>

#include "fuzz_support.h"
#include "tls/client_hello.h"

using gh::tls::ClientHelloPeek;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes = gh::fuzz::as_text(data, size);
  const size_t step = 1 + size / 16;  // about 16 prefixes: the peek is asked as bytes arrive
  std::optional<ClientHelloPeek> decided;
  for (size_t n = 0;; n = std::min(size, n + step)) {
    ClientHelloPeek peek = gh::tls::peek_client_hello(bytes.substr(0, n));
    if (peek.status != ClientHelloPeek::Status::need_more) {
      if (decided)
        gh::fuzz::require(decided->status == peek.status && decided->server_name == peek.server_name);
      decided = peek;
    }
    if (n == size) break;
  }
  return 0;
}
