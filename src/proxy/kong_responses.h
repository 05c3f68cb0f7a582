// Moved to http/kong_responses.h (the PDK and plugin layers below the proxy need it too).
#pragma once

#include "http/kong_responses.h"

namespace gh::proxy {
using http::json_message_body;
using http::kong_default_message;
using http::reason_phrase;
}  // namespace gh::proxy
