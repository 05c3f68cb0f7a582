// Base64 as the authentication plugins meet it: Basic credentials (standard alphabet) and JWT
// segments (URL alphabet, padding left out). Decoding is as lenient as Kong's (either alphabet,
// padding optional) and as strict as it must be: anything else is refused, never guessed.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gh::auth {

// Either alphabet, with or without '=' padding; nullopt on any other character or a bad length.
std::optional<std::string> base64_decode(std::string_view text);
// The URL alphabet without padding (RFC 7515's base64url), for signing tokens in tests.
std::string base64url_encode(std::string_view bytes);

}  // namespace gh::auth
