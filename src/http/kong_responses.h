// Responses gatehouse produces itself, with Kong's status texts and JSON bodies, so that clients
// written against Kong see the same errors.
#pragma once

#include <string>
#include <string_view>

namespace gh::http {

// Kong's default message for a status code ("An invalid response was received from the
// upstream server" for 502, ...); "" for codes Kong has none for.
std::string_view kong_default_message(int status);
// {"message":"..."}
std::string json_message_body(std::string_view message);
std::string_view reason_phrase(int status);

}  // namespace gh::http
