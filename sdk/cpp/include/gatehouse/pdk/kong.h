// Kong& — the PDK a plugin handler receives. Every method is one rpc of Kong's pluginsocket.proto
// (74 in all), named like the Lua PDK: kong.request.get_header("host") is
// kong.request.get_header("host") here too. See docs/cpp-pdk.md for the reference.
//
// Errors: every call throws PdkError when the gateway cannot be reached or answers something that
// does not decode. Kong itself drops most PDK errors (a failed call answers "nil"), so a missing
// value comes back as "" / 0 / false / std::nullopt, exactly as go-pdk returns zero values.
#pragma once

#include <gatehouse/pdk/types.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::pdk {

namespace detail {
// Where PDK calls go: the plugin socket (the embedded server) or the test kit's simulated gateway.
// Arguments and replies are protobuf-encoded bytes of the method's messages in both cases, so the
// test kit exercises the same encoding as production.
class Channel {
 public:
  virtual ~Channel() = default;
  // One call: returns the reply frame (valid until the next call on this channel).
  virtual std::string_view call(std::string_view method, std::string_view args) = 0;
  // A call whose reply is google.protobuf.Empty (set_*, log lines, ...). Gatehouse:1 queues it
  // and sends it with the next call or the end of the phase (docs/protocol.md); ProtoBuf:1 and
  // the test kit make it an ordinary call.
  virtual void write(std::string_view method, std::string_view args) { call(method, args); }
  // kong.response.exit: terminal. After it every call throws PdkError (go-pdk closes the socket).
  virtual void exit(std::string_view method, std::string_view args) = 0;
  // True for the channel pdk::Reads declares with: it answers every call with the zero value, so
  // helpers that check a reply's type (ctx.shared.get_string) return a zero value instead of throwing.
  virtual bool recording() const { return false; }
};

// One kong.<group> of the PDK: a view on the channel.
class Group {
 public:
  explicit Group(Channel& channel) : channel_(channel) {}

 protected:
  Channel& channel_;
};
}  // namespace detail

// Kong's default for get_headers / get_query (go-pdk sends 100 for -1).
inline constexpr int kDefaultMaxArgs = 100;

class Kong {
 public:
  explicit Kong(detail::Channel& channel);
  Kong(const Kong&) = delete;
  Kong& operator=(const Kong&) = delete;

  class Client : detail::Group {
   public:
    using Group::Group;
    std::string get_ip();
    std::string get_forwarded_ip();
    int get_port();
    int get_forwarded_port();
    std::optional<Credential> get_credential();
    std::optional<Consumer> load_consumer(std::string_view consumer_id, bool by_username = false);
    std::optional<Consumer> get_consumer();
    void authenticate(const std::optional<Consumer>& consumer, const std::optional<Credential>& credential);
    std::string get_protocol(bool allow_terminated = false);
  } client;

  class Ctx {
   public:
    class Shared : detail::Group {
     public:
      using Group::Group;
      void set(std::string_view key, const Value& value);
      Value get(std::string_view key);  // null when unset
      // Typed getters: PdkError "expected type: string" / "expected type: number" otherwise.
      std::string get_string(std::string_view key);
      double get_number(std::string_view key);
    } shared;
    explicit Ctx(detail::Channel& channel) : shared(channel) {}
  } ctx;

  class Ip : detail::Group {
   public:
    using Group::Group;
    bool is_trusted(std::string_view address);
  } ip;

  class Log : detail::Group {
   public:
    using Group::Group;
    // Each argument becomes one element of the ListValue Kong concatenates (numbers stay numbers).
    template <class... Args>
    void alert(const Args&... args) {
      write("kong.log.alert", {Value(args)...});
    }
    template <class... Args>
    void crit(const Args&... args) {
      write("kong.log.crit", {Value(args)...});
    }
    template <class... Args>
    void err(const Args&... args) {
      write("kong.log.err", {Value(args)...});
    }
    template <class... Args>
    void warn(const Args&... args) {
      write("kong.log.warn", {Value(args)...});
    }
    template <class... Args>
    void notice(const Args&... args) {
      write("kong.log.notice", {Value(args)...});
    }
    template <class... Args>
    void info(const Args&... args) {
      write("kong.log.info", {Value(args)...});
    }
    template <class... Args>
    void debug(const Args&... args) {
      write("kong.log.debug", {Value(args)...});
    }
    void set_serialize_value(std::string_view key, const Value& value);
    std::string serialize();  // the JSON text of Kong's log serializer

    void write(std::string_view method, std::initializer_list<Value> args);
  } log;

  class Nginx : detail::Group {
   public:
    using Group::Group;
    std::string get_var(std::string_view name);
    std::string get_tls1_version_str();
    void set_ctx(std::string_view key, const Value& value);
    Value get_ctx(std::string_view key);
    double req_start_time();
    std::string get_subsystem();
  } nginx;

  class Node : detail::Group {
   public:
    using Group::Group;
    std::string get_id();
    MemoryStats get_memory_stats();
  } node;

  class Request : detail::Group {
   public:
    using Group::Group;
    std::string get_scheme();
    std::string get_host();
    int get_port();
    std::string get_forwarded_scheme();
    std::string get_forwarded_host();
    int get_forwarded_port();
    double get_http_version();
    std::string get_method();
    std::string get_path();
    std::string get_path_with_query();
    std::string get_raw_query();
    std::string get_query_arg(std::string_view name);
    Headers get_query(int max_args = kDefaultMaxArgs);
    std::string get_header(std::string_view name);
    Headers get_headers(int max_headers = kDefaultMaxArgs);
    // The request body; reads the gateway's temp file when the body was buffered to disk.
    // Throws PdkError with the gateway's message when the body is unavailable.
    std::string get_raw_body();
    UriCaptures get_uri_captures();
  } request;

  class Response : detail::Group {
   public:
    using Group::Group;
    int get_status();
    std::string get_header(std::string_view name);
    Headers get_headers(int max_headers = kDefaultMaxArgs);
    std::string get_source();
    void set_status(int status);
    void set_header(std::string_view name, std::string_view value);
    void add_header(std::string_view name, std::string_view value);
    void clear_header(std::string_view name);
    void set_headers(const Headers& headers);
    // Terminal: the gateway answers the client with this response and the event ends (the
    // connection is closed, as go-pdk does). Return from the handler after calling it.
    void exit(int status, std::string_view body = {}, const Headers& headers = {});
  } response;

  class Router : detail::Group {
   public:
    using Group::Group;
    std::optional<Route> get_route();
    std::optional<Service> get_service();
  } router;

  class ServiceApi : detail::Group {
   public:
    class Request : detail::Group {
     public:
      using Group::Group;
      void set_scheme(std::string_view scheme);
      void set_path(std::string_view path);
      void set_raw_query(std::string_view query);
      void set_method(std::string_view method);
      void set_query(const Headers& args);
      void set_header(std::string_view name, std::string_view value);
      void add_header(std::string_view name, std::string_view value);
      void clear_header(std::string_view name);
      void set_headers(const Headers& headers);
      void set_raw_body(std::string_view body);
    } request;

    class Response : detail::Group {
     public:
      using Group::Group;
      int get_status();
      std::string get_header(std::string_view name);
      Headers get_headers(int max_headers = kDefaultMaxArgs);
      std::string get_raw_body();
    } response;

    explicit ServiceApi(detail::Channel& channel) : Group(channel), request(channel), response(channel) {}
    bool set_upstream(std::string_view upstream);  // false when Kong found no such upstream
    void set_target(std::string_view host, int port);
  } service;
};

}  // namespace gatehouse::pdk
