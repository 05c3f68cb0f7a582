// kong.client.* (Kong's pdk/client.lua), kong.client.tls.* (pdk/client/tls.lua) and
// kong.router.*: who is calling, with which certificate, through which route.
#include <fmt/format.h>

#include "common/strings.h"
#include "core/snapshot.h"
#include "pdk/shapes.h"
#include "pdk/state.h"
#include "tls/client_certificate.h"

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
  return nil_or(core::table_or_null(c.ctx.authenticated_consumer));
}
PdkResult get_credential(PdkCall& c) {
  return nil_or(core::table_or_null(c.ctx.authenticated_credential));
}

PdkResult authenticate(PdkCall& c) {
  const json& consumer = c.arg(0);
  const json& credential = c.arg(1);
  if (consumer.is_null() && credential.is_null())
    throw PdkError("either credential or consumer must be provided");
  if (!consumer.is_null() && !consumer.is_object()) throw PdkError("consumer must be a table");
  if (!credential.is_null() && !credential.is_object()) throw PdkError("credential must be a table");
  set_authenticated(c.ctx, core::make_entity_table(consumer), core::make_entity_table(credential));
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

// ---- kong.client.tls.* ---------------------------------------------------------------------
// The first two act on the handshake, so only the certificate phase has them (Kong's phase
// checks); the others read or amend what the handshake established.

SSL* paused_handshake(PdkCall& c) {
  if (!c.ctx.handshake_ssl) throw PdkError("no TLS handshake in progress");
  return c.ctx.handshake_ssl;
}

// ca_certs: Kong takes a cdata X509 chain, which cannot cross a plugin socket; gatehouse takes
// the CA certificates as PEM text (or nothing).
PdkResult request_client_certificate(PdkCall& c) {
  const json& ca = c.arg(0);
  if (!ca.is_null() && !ca.is_string()) throw PdkError("ca_certs must be a string of PEM certificates");
  auto error =
      tls::request_client_certificate(paused_handshake(c), ca.is_string() ? ca.get<std::string>() : "");
  if (!error.empty()) throw PdkError(error);
  return PdkResult::ok(true);
}

PdkResult disable_session_reuse(PdkCall& c) {
  tls::disable_session_reuse(paused_handshake(c));
  return PdkResult::ok(true);
}

PdkResult get_full_client_certificate_chain(PdkCall& c) {
  if (c.ctx.scheme != "https") throw PdkError("connection is not TLS");
  if (!c.ctx.client_certificate) return PdkResult::nil();
  return PdkResult::ok(c.ctx.client_certificate->chain_pem);
}

PdkResult set_client_verify(PdkCall& c) {
  auto verdict = c.string_arg(0, "v");
  if (verdict != "SUCCESS" && verdict != "NONE" && !verdict.starts_with("FAILED:"))
    throw PdkError("unknown client verify value: " + verdict +
                   " accepted values are: \"SUCCESS\", \"NONE\" or \"FAILED:<reason>\"");
  if (c.ctx.scheme != "https") throw PdkError("connection is not TLS");
  c.ctx.client_verify_override = verdict;
  return PdkResult::nil();
}

constexpr PdkFunction kClient[] = {
    {"kong.client.get_ip", kAnyPhase, kReads, kStep, get_ip},
    {"kong.client.get_forwarded_ip", kAnyPhase, kReads, kStep, get_forwarded_ip},
    {"kong.client.get_port", kAnyPhase, kReads, kStep, get_port},
    {"kong.client.get_forwarded_port", kAnyPhase, kReads, kStep, get_forwarded_port},
    {"kong.client.get_consumer", kRoutedPhases, kReads, kStepConsumer, get_consumer},
    {"kong.client.get_credential", kRoutedPhases, kReads, kStepCredential, get_credential},
    {"kong.client.authenticate", kRewrite | kAccess, kCalls, kStepCredential, authenticate},
    {"kong.client.load_consumer", kRoutedPhases | kRewrite, kCalls, kStepConsumer, load_consumer},
    {"kong.client.get_protocol", kRoutedPhases, kReads, kStep, get_protocol},
    {"kong.client.tls.request_client_certificate", kCertificate, kCalls, kStep, request_client_certificate},
    {"kong.client.tls.disable_session_reuse", kCertificate, kCalls, kStep, disable_session_reuse},
    {"kong.client.tls.get_full_client_certificate_chain", kHttpPhases, kReads, kStep,
     get_full_client_certificate_chain},
    {"kong.client.tls.set_client_verify", kBeforeProxy, kCalls, kStep, set_client_verify},
    {"kong.router.get_route", kRoutedPhases, kReads, kStepRoute, get_route},
    {"kong.router.get_service", kRoutedPhases, kReads, kStepService, get_service},
};

}  // namespace

void set_authenticated(core::RequestContext& ctx, core::EntityTable consumer, core::EntityTable credential) {
  ctx.authenticated_consumer = std::move(consumer);
  ctx.authenticated_credential = std::move(credential);
}

std::string authenticated_consumer_id(const core::RequestContext& ctx) {
  const auto& consumer = core::table_or_null(ctx.authenticated_consumer);
  if (consumer.is_object())
    if (auto it = consumer.find("id"); it != consumer.end() && it->is_string()) return it->get<std::string>();
  return {};
}

std::span<const PdkFunction> client_functions() {
  return kClient;
}

}  // namespace gh::pdk
