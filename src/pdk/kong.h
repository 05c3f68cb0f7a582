// The PDK of native plugins (C++ compiled into the gateway): Kong's kong.* functions as typed
// C++ calls on the request in process, with no serialisation. Each writer goes through the same
// functions as the wire table (pdk/state.h), so a native and an external plugin leave the same
// state behind (kong.client.authenticate, kong.response.exit, ...). Invalid arguments throw
// PdkError, as the wire table refuses them; a native plugin that lets it escape fails its phase.
//
//   boost::asio::awaitable<void> access(pdk::Kong& kong) override {
//     auto key = kong.request.get_header("apikey");
//     if (!key) { kong.response.exit(401, R"({"message":"No API key found in request"})"); co_return; }
//     ...
//   }
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "conf/entities.h"
#include "core/request_context.h"
#include "core/snapshot.h"
#include "http/header_name.h"
#include "http/headers.h"
#include "pdk/handler.h"
#include "pdk/plugin_call.h"

namespace gh::pdk {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// kong.request: the client's request as received.
class KongRequest {
 public:
  explicit KongRequest(core::RequestContext& ctx) : ctx_(ctx) {}
  std::string_view get_method() const;
  std::string_view get_scheme() const { return ctx_.scheme; }  // http | https
  std::string get_host() const;                                // lower-case, no port
  uint16_t get_port() const { return ctx_.server_port; }
  std::string get_path() const;  // normalised (Kong's get_path)
  std::string_view get_raw_path() const;
  std::string_view get_raw_query() const;  // without '?'
  // Kong's get_query_arg: the first value of a repeated argument, `true` for a bare flag, null
  // when absent (decoded).
  nlohmann::json get_query_arg(std::string_view name) const;
  nlohmann::json get_query(size_t max_args = 100) const;  // Kong's get_query table
  // The first value of the header (names case-insensitive, '_' matches '-'); nullopt if absent.
  std::optional<std::string_view> get_header(std::string_view name) const;
  const http::Headers& get_headers() const;  // every header as received, in order
  // The raw body, read on first use; nullopt when it is not in memory (larger than
  // client_body_buffer_size, or the client left): Kong's nil + error.
  boost::asio::awaitable<std::optional<std::string_view>> get_raw_body() const;

 private:
  const http::RequestHead& head() const;  // throws PdkError without a client request
  core::RequestContext& ctx_;
};

// kong.client: who is calling.
class KongClient {
 public:
  explicit KongClient(core::RequestContext& ctx) : ctx_(ctx) {}
  std::string_view get_ip() const { return ctx_.remote_ip; }            // the TCP peer
  std::string_view get_forwarded_ip() const { return ctx_.client_ip; }  // after real_ip processing
  // Kong's kong.client.authenticate with entity tables (either may be null, not both).
  void authenticate(nlohmann::json consumer, nlohmann::json credential);
  // The same with a kong.yml consumer (its entity table as kong.client.load_consumer gives it)
  // and a credential table, both shared with the snapshot (core/entity_tables.h), not copied.
  void authenticate(const conf::Consumer* consumer, core::EntityTable credential);
  // The snapshot's table of a kong.yml entity (made on first use by `build`).
  template <typename Entity>
  core::EntityTable shared_table(const Entity& entity, nlohmann::json (*build)(const Entity&)) const;
  const nlohmann::json& get_consumer() const {
    return core::table_or_null(ctx_.authenticated_consumer);
  }  // null: none
  const nlohmann::json& get_credential() const { return core::table_or_null(ctx_.authenticated_credential); }

 private:
  core::RequestContext& ctx_;
};

template <typename Entity>
core::EntityTable KongClient::shared_table(const Entity& entity,
                                           nlohmann::json (*build)(const Entity&)) const {
  if (!ctx_.snapshot) return core::make_entity_table(build(entity));
  return ctx_.snapshot->entity_tables.get(entity, build);
}

// kong.service.request: what goes upstream.
class KongServiceRequest {
 public:
  explicit KongServiceRequest(core::RequestContext& ctx) : ctx_(ctx) {}
  void set_header(std::string_view name, std::string_view value);
  void add_header(std::string_view name, std::string_view value);
  void clear_header(std::string_view name);
  // The same with a name checked already (a constant, or checked when the plugin was made).
  void set_header(http::HeaderName name, std::string_view value);
  void add_header(http::HeaderName name, std::string_view value);
  void clear_header(http::HeaderName name);
  void set_raw_query(std::string query);
  void set_query(const nlohmann::json& args);  // Kong's set_query table, encoded as it does
  void set_raw_body(std::string body);
  void set_method(std::string method);
  void set_path(std::string path);

 private:
  core::RequestContext& ctx_;
};

// kong.response: what the client gets.
class KongResponse {
 public:
  explicit KongResponse(core::RequestContext& ctx) : ctx_(ctx) {}
  // Ends the request here: later plugins of the phase and the proxying are skipped. `headers`
  // replace the response's headers of the same names.
  void exit(int status, std::optional<std::string> body = std::nullopt, const HeaderList& headers = {});
  // exit with a JSON body and Kong's JSON content type (unless `headers` set one): Kong's
  // kong.response.exit(status, {message = ...}).
  void exit_json(int status, const nlohmann::json& body, const HeaderList& headers = {});
  void set_header(std::string_view name, std::string_view value);
  void add_header(std::string_view name, std::string_view value);
  void clear_header(std::string_view name);
  void set_header(http::HeaderName name, std::string_view value);  // a name checked already
  void add_header(http::HeaderName name, std::string_view value);
  void clear_header(http::HeaderName name);
  int get_status() const { return ctx_.response.status; }
  std::optional<std::string_view> get_header(std::string_view name) const;
  const http::Headers& get_headers() const { return ctx_.response.headers; }
  bool exited() const { return exited_; }

 private:
  void apply(const HeaderList& headers);
  core::RequestContext& ctx_;
  bool exited_ = false;
};

// kong.log: "[<plugin>] message" lines in the error log, as Kong namespaces kong.log per plugin.
class KongLog {
 public:
  explicit KongLog(const PluginCall& plugin) : plugin_(plugin) {}
  void debug(std::string_view message) const;
  void info(std::string_view message) const;
  void notice(std::string_view message) const;
  void warn(std::string_view message) const;
  void err(std::string_view message) const;

 private:
  const PluginCall& plugin_;
};

// kong.ctx: per-request tables. `shared` is common to every plugin (kong.ctx.shared); plugin()
// is this plugin's own (kong.ctx.plugin), made on first use: most plugins never keep anything, and
// an entry per plugin call was two allocations per plugin and request.
class KongCtx {
 public:
  KongCtx(core::RequestContext& request_ctx, std::string_view plugin_name);
  nlohmann::json& shared;
  nlohmann::json& plugin();

 private:
  core::RequestContext& request_ctx_;
  std::string_view plugin_name_;
};

class Kong {
 public:
  Kong(core::RequestContext& request_ctx, const PluginCall& plugin);

  KongRequest request;
  KongClient client;
  KongServiceRequest service_request;  // kong.service.request
  KongResponse response;
  KongLog log;
  KongCtx ctx;

  // Entities of this request (null when there is none).
  const conf::Route* route() const;
  const conf::Service* service() const;
  // The authenticated consumer as a kong.yml entity (null when none, or not from kong.yml).
  const conf::Consumer* consumer() const;
  // Every consumer of the configuration (credential lookups: key-auth, basic-auth, ...).
  const std::vector<conf::Consumer>& consumers() const;
  core::Phase phase() const { return plugin_.phase; }
  const PluginCall& plugin() const { return plugin_; }
  core::RequestContext& context() { return ctx_; }

 private:
  core::RequestContext& ctx_;
  const PluginCall& plugin_;
};

}  // namespace gh::pdk
