#include "conf/regex.h"

namespace gh::conf {

Pcre2Code compile_regex(std::string_view pattern, uint32_t options, std::string& error) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   options | PCRE2_UTF, &error_code, &error_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof(message));
    error =
        std::string(reinterpret_cast<const char*>(message)) + " at offset " + std::to_string(error_offset);
    return nullptr;
  }
  // JIT is an optimisation: when unavailable (e.g. a platform without it) matching still works.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return Pcre2Code(code);
}

std::optional<std::string> regex_compile_error(std::string_view pattern) {
  std::string error;
  if (compile_regex(pattern, 0, error)) return std::nullopt;
  return error;
}

}  // namespace gh::conf
