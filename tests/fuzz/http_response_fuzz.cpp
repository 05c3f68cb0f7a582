// libFuzzer target: the upstream response parser (src/http/parser.h, Kind::response) on what an
// upstream sends: status line, headers, a body delimited by Content-Length, chunked encoding or
// the connection's end, interim 1xx responses. The first byte chooses the piece size and whether
// the request was HEAD (no body expected). An upstream is as hostile as a client.
#include "fuzz_support.h"
#include "http/parser.h"

using gh::http::Parser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [choice, stream] = gh::fuzz::split_choice(data, size);
  const size_t piece = 1 + choice % 64;
  const bool head_request = (choice & 0x40) != 0;
  Parser parser(Parser::Kind::response);
  parser.expect_no_body(head_request);
  size_t offset = 0;
  while (offset < stream.size()) {
    std::string_view chunk = stream.substr(offset, piece);
    size_t consumed = 0;
    auto status = parser.feed(chunk, consumed);
    gh::fuzz::require(consumed <= chunk.size());
    for (auto body : parser.body()) gh::fuzz::touch(body);
    offset += consumed;
    if (status == Parser::Status::error) {
      (void)parser.error_reason();
      return 0;
    }
    if (status == Parser::Status::headers_complete) {
      const auto& head = parser.response();
      gh::fuzz::touch(head.reason);
      for (const auto& [name, value] : head.headers) gh::fuzz::touch(name), gh::fuzz::touch(value);
    }
    if (status == Parser::Status::message_complete) {
      parser.reset();  // after a 1xx, or the next response on a kept-alive connection
      parser.expect_no_body(head_request);
    }
    gh::fuzz::require(consumed > 0 || status != Parser::Status::need_more);
  }
  if (parser.in_message()) (void)parser.finish();  // the upstream closed
  return 0;
}
