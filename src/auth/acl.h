// acl's decision for a consumer's groups (plugins/acl/handler.lua): with `deny` set, a consumer in
// any of those groups is refused; otherwise one in none of the `allow` groups is. An admitted
// consumer's groups go upstream in X-Consumer-Groups ("a, b"), unless hide_groups_header.
#pragma once

#include <string>
#include <vector>

namespace gh::auth {

struct AclDecision {
  bool blocked = false;
  std::string groups_header;  // when admitted: the header's value (may be empty, as in Kong)
};

AclDecision decide_acl(const std::vector<std::string>& allow, const std::vector<std::string>& deny,
                       const std::vector<std::string>& consumer_groups);

}  // namespace gh::auth
