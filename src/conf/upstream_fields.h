// The balancing part of a kong.yml upstream: algorithm, hash_on / hash_fallback and their
// names, slots and the `healthchecks` record, read with Kong's defaults and entity checks.
#pragma once

#include "conf/entities.h"
#include "conf/yaml_fields.h"

namespace gh::conf {

// Every upstream field except id, name, tags and targets. Fails on the offending field.
void read_upstream_balancing(const Field& f, Upstream& u);

}  // namespace gh::conf
