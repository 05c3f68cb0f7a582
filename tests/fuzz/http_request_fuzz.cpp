// libFuzzer target: the HTTP/1.1 request parser (src/http/parser.h) on a client's byte stream,
// bodies included (Content-Length, chunked with extensions and trailers) and pipelined requests.
// The stream is fed in pieces whose size the first byte chooses, the way a socket delivers it. The
// parser must never read outside what it was given, consume more than it was given, or loop.
#include "fuzz_support.h"
#include "http/parser.h"

using gh::http::Parser;

namespace {

// Feeds `stream` as the session does: parse, act on the head, go on with the body, and start the
// next message on the same connection after a complete one.
void parse_stream(Parser& parser, std::string_view stream, size_t piece) {
  size_t offset = 0;
  while (offset < stream.size()) {
    std::string_view chunk = stream.substr(offset, piece);
    size_t consumed = 0;
    auto status = parser.feed(chunk, consumed);
    gh::fuzz::require(consumed <= chunk.size());
    for (auto body : parser.body()) gh::fuzz::require(gh::fuzz::touch(body) <= 255 * body.size());
    offset += consumed;
    switch (status) {
      case Parser::Status::error:
        (void)parser.error_reason();
        return;
      case Parser::Status::headers_complete: {
        auto& head = parser.request();
        gh::fuzz::touch(head.path());
        gh::fuzz::touch(head.query());
        for (const auto& [name, value] : head.headers) gh::fuzz::touch(name), gh::fuzz::touch(value);
        break;
      }
      case Parser::Status::message_complete:
        parser.reset();
        break;
      case Parser::Status::need_more:
        gh::fuzz::require(consumed == chunk.size());
        break;
    }
    // A call that consumed nothing and reported nothing new would loop forever.
    gh::fuzz::require(consumed > 0 || status != Parser::Status::need_more);
  }
  if (parser.in_message() && parser.needs_eof()) (void)parser.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto [choice, stream] = gh::fuzz::split_choice(data, size);
  Parser parser(Parser::Kind::request);
  parse_stream(parser, stream, 1 + choice % 64);
  return 0;
}
