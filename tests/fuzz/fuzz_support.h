// Helpers shared by the libFuzzer targets (tests/fuzz/README.md). Every target is linked with
// fuzz_support.cpp, whose LLVMFuzzerInitialize silences the code's logging.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

namespace gh::fuzz {

// A broken invariant is a crash: libFuzzer keeps the input that caused it.
inline void require(bool condition) {
  if (!condition) std::abort();
}

// An exception that must not have escaped: says what it was, then aborts (libFuzzer keeps the input).
[[noreturn]] void fail_with(std::exception_ptr escaped);

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

// The whole input as text (targets whose input has no choice byte).
inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A fresh directory under /tmp for a target's files (a config file, a socket), made once per
// process: call it from a function-local static.
std::string temporary_directory(std::string_view target);

// Reads every byte of `text`, so that a view past its buffer is an ASan report, not a silent pass.
inline unsigned touch(std::string_view text) {
  unsigned sum = 0;
  for (char c : text) sum += static_cast<unsigned char>(c);
  return sum;
}

}  // namespace gh::fuzz
