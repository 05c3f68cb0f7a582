// Small string helpers shared by every module (one place, not one per module).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gh {

std::string to_lower(std::string_view s);
std::string_view trim(std::string_view s);
// Splits on `sep`, trimming each piece; empty pieces are dropped.
std::vector<std::string> split_list(std::string_view s, char sep = ',');
bool iequals(std::string_view a, std::string_view b);
bool starts_with_icase(std::string_view s, std::string_view prefix);

}  // namespace gh
