// Helpers shared by the libFuzzer targets (tests/fuzz/README.md).
#pragma once

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace gh::fuzz {

// A broken invariant is a crash: libFuzzer keeps the input that caused it.
inline void require(bool condition) {
  if (!condition) std::abort();
}

// The input as text, and the first byte taken as a choice (how to split the stream, which
// variant to run): every target leaves the rest of the bytes to the code under test.
struct Input {
  uint8_t choice = 0;
  std::string_view rest;
};

inline Input split_choice(const uint8_t* data, size_t size) {
  if (size == 0) return {};
  return {data[0], std::string_view(reinterpret_cast<const char*>(data + 1), size - 1)};
}

// Silences the code's own logging (warnings about each hostile input): it is not what is measured,
// and printing it would slow the runs down many times. Call from LLVMFuzzerInitialize.
inline void quiet_logs() {
  spdlog::set_level(spdlog::level::off);
  google::protobuf::SetLogHandler(nullptr);
}

// Reads every byte of `text`, so that a view past its buffer is an ASan report, not a silent pass.
inline unsigned touch(std::string_view text) {
  unsigned sum = 0;
  for (char c : text) sum += static_cast<unsigned char>(c);
  return sum;
}

}  // namespace gh::fuzz
