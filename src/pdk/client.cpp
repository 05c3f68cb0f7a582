// kong.client.* (Kong's pdk/client.lua) and kong.router.*: who is calling, through which route.
#include <fmt/format.h>

#include "common/strings.h"
#include "pdk/shapes.h"
#include "proxy/snapshot.h"

namespace gh::pdk {

namespace {

PdkResult nil_or(const json& value) {
  return value.is_null() ? PdkResult::nil() : PdkResult::ok(value);
}

// get_ip is the TCP peer (Kong: realip_remote_addr), get_forwarded_ip the address after
// real_ip_header/trusted_ips processing (Kong: remote_addr). Same for the ports.
PdkResult get_ip(PdkCall& c) {
  return PdkResult::ok(c.ctx.remote_ip);
}
PdkResult get_forwarded_ip(PdkCall& c) {
  return PdkResult::ok(c.ctx.client_ip);
}
PdkResult get_port(PdkCall& c) {
  return PdkResult::ok(c.ctx.remote_port);
}
PdkResult get_forwarded_port(PdkCall& c) {
  return PdkResult::ok(c.ctx.client_port);
}

PdkResult get_consumer(PdkCall& c) {
  return nil_or(c.ctx.authenticated_consumer);
}
PdkResult get_credential(PdkCall& c) {
  return nil_or(c.ctx.authenticated_credential);
}

PdkResult authenticate(PdkCall& c) {
  const json& consumer = c.arg(0);
  const json& credential = c.arg(1);
  if (consumer.is_null() && credential.is_null())
    throw PdkError("either credential or consumer must be provided");
  if (!consumer.is_null() && !consumer.is_object()) throw PdkError("consumer must be a table");
  if (!credential.is_null() && !credential.is_object()) throw PdkError("credential must be a table");
  c.ctx.authenticated_consumer = consumer;
  c.ctx.authenticated_credential = credential;
  return PdkResult::nil();
}

// load_consumer(id, by_username?): by id first, then by username when asked (Kong's order).
PdkResult load_consumer(PdkCall& c) {
  auto key = c.string_arg(0, "consumer_id");
  bool by_username = c.has(1) && c.bool_arg(1, "search_by_username");
  if (!c.ctx.snapshot) return PdkResult::nil();
  const auto& consumers = c.ctx.snapshot->config.consumers;
  for (const auto& consumer : consumers) {
    if (consumer.id == key) return PdkResult::ok(consumer_entity(consumer));
  }
  for (const auto& consumer : consumers) {
    if (by_username && consumer.username == key) return PdkResult::ok(consumer_entity(consumer));
  }
  return PdkResult::nil();
}

// "https" also for TLS terminated by a trusted proxy in front, when allow_terminated is set.
PdkResult get_protocol(PdkCall& c) {
  bool allow_terminated = c.has(0) && c.bool_arg(0, "allow_terminated");
  if (c.ctx.scheme == "http" && allow_terminated && c.ctx.request && peer_is_trusted(c.ctx)) {
    auto proto = c.ctx.request->headers.get("x-forwarded-proto");
    if (proto && iequals(trim(*proto), "https")) return PdkResult::ok("https");
  }
  return PdkResult::ok(c.ctx.scheme);
}

PdkResult get_route(PdkCall& c) {
  if (!c.ctx.match || !c.ctx.match->route) return PdkResult::nil();
  return PdkResult::ok(route_entity(*c.ctx.match->route));
}

PdkResult get_service(PdkCall& c) {
  if (!c.ctx.match || !c.ctx.match->service) return PdkResult::nil();
  return PdkResult::ok(service_entity(*c.ctx.match->service));
}

constexpr PdkFunction kClient[] = {
    {"kong.client.get_ip", kAnyPhase, kStep, get_ip},
    {"kong.client.get_forwarded_ip", kAnyPhase, kStep, get_forwarded_ip},
    {"kong.client.get_port", kAnyPhase, kStep, get_port},
    {"kong.client.get_forwarded_port", kAnyPhase, kStep, get_forwarded_port},
    {"kong.client.get_consumer", kRoutedPhases, kStepConsumer, get_consumer},
    {"kong.client.get_credential", kRoutedPhases, kStepCredential, get_credential},
    {"kong.client.authenticate", kRewrite | kAccess, kStepCredential, authenticate},
    {"kong.client.load_consumer", kRoutedPhases | kRewrite, kStepConsumer, load_consumer},
    {"kong.client.get_protocol", kRoutedPhases, kStep, get_protocol},
    {"kong.router.get_route", kRoutedPhases, kStepRoute, get_route},
    {"kong.router.get_service", kRoutedPhases, kStepService, get_service},
};

}  // namespace

std::span<const PdkFunction> client_functions() {
  return kClient;
}

}  // namespace gh::pdk
