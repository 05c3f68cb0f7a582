// The setup every libFuzzer target shares (fuzz_support.h).
#include "fuzz_support.h"

#include <google/protobuf/stubs/logging.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cstdio>
#include <typeinfo>

namespace gh::fuzz {

std::string temporary_directory(std::string_view target) {
  std::string name = "/tmp/gatehouse-" + std::string(target) + "-XXXXXX";
  if (!mkdtemp(name.data())) std::abort();
  return name;
}

void fail_with(std::exception_ptr escaped) {
  try {
    std::rethrow_exception(escaped);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "escaped: %s: %s\n", typeid(e).name(), e.what());
  } catch (...) {
    std::fprintf(stderr, "escaped: an exception of unknown type\n");
  }
  std::abort();
}

}  // namespace gh::fuzz

// The code's own logging (warnings about each hostile input) is off: it is not what is measured,
// and printing it would slow the runs down many times.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}
