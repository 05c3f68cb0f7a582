// The C++ PDK in one include: Kong& (kong.h), declared reads (reads.h), config fields and schema
// (schema.h), serve() (server.h).
#pragma once

#include <gatehouse/pdk/kong.h>
#include <gatehouse/pdk/reads.h>
#include <gatehouse/pdk/schema.h>
#include <gatehouse/pdk/server.h>
#include <gatehouse/pdk/types.h>
