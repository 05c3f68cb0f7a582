#include "auth/acl.h"

#include <algorithm>

namespace gh::auth {

AclDecision decide_acl(const std::vector<std::string>& allow, const std::vector<std::string>& deny,
                       const std::vector<std::string>& consumer_groups) {
  bool deny_mode = !deny.empty();
  const auto& listed = deny_mode ? deny : allow;
  bool in_group = std::any_of(consumer_groups.begin(), consumer_groups.end(), [&](const std::string& group) {
    return std::find(listed.begin(), listed.end(), group) != listed.end();
  });
  AclDecision decision;
  decision.blocked = deny_mode ? in_group : !in_group;
  if (!decision.blocked)
    for (const auto& group : consumer_groups)
      decision.groups_header += (decision.groups_header.empty() ? "" : ", ") + group;
  return decision;
}

}  // namespace gh::auth
