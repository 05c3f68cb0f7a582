// gatehouse's version, in the forms the wire uses (one place: `gatehouse version`, Server and
// Via headers, the admin API).
#pragma once

#include <string_view>

namespace gh {

inline constexpr std::string_view kVersion = "0.1.0";
inline constexpr std::string_view kServerToken = "gatehouse/0.1.0";   // Server: header
inline constexpr std::string_view kViaToken = "1.1 gatehouse/0.1.0";  // Via: header (HTTP/1.1 hop)

}  // namespace gh
