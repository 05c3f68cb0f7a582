// proxy-cache (Kong's kong/plugins/proxy-cache), memory strategy: answers a cacheable request
// from a shared in-memory store when it holds a fresh copy (the upstream is not contacted), and
// otherwise lets the request through with a ResponseTap that stores the response if it is
// cacheable. Cache key, X-Cache-Status values, freshness rules and headers as Kong's
// (cache/key.h, cache/rules.h); docs/plugins-bundled.md says where gatehouse differs.
#include <algorithm>
#include <ctime>
#include <mutex>
#include <set>

#include "cache/dictionaries.h"
#include "cache/key.h"
#include "cache/rules.h"
#include "common/log.h"
#include "common/log_throttle.h"
#include "common/strings.h"
#include "plugins/native.h"

namespace gh::plugins {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr std::string_view kStatusHeader = "X-Cache-Status";
constexpr std::string_view kKeyHeader = "X-Cache-Key";
constexpr std::string_view kAgeHeader = "Age";

// Not stored and not served from the cache (Kong's hop_by_hop_headers; Content-Length is set
// from the cached body).
bool hop_by_hop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection",          "keep-alive", "proxy-authenticate",
                                                "proxy-authorization", "te",         "trailers",
                                                "transfer-encoding",   "upgrade",    "content-length"};
  return std::any_of(std::begin(kNames), std::end(kNames), [&](auto n) { return iequals(n, name); });
}

// What a hit does not replay: hop-by-hop headers, a rate limit's remaining count (Kong's
// overwritable_header) and the cache's own headers, set afresh.
bool replayed(std::string_view name) {
  if (hop_by_hop(name) || iequals(name, kAgeHeader) || iequals(name, kStatusHeader) ||
      iequals(name, kKeyHeader))
    return false;
  static constexpr std::string_view kRemaining = "ratelimit-remaining";
  auto equal = [](char a, char b) { return ascii_lower(a) == b; };
  return std::search(name.begin(), name.end(), kRemaining.begin(), kRemaining.end(), equal) == name.end();
}

int64_t unix_now() {
  return static_cast<int64_t>(std::time(nullptr));
}

std::vector<std::string> strings_of(const json& config, const char* field) {
  std::vector<std::string> out;
  if (auto it = config.find(field); it != config.end() && it->is_array())
    for (const auto& v : *it)
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

class ProxyCache final : public NativeHandler {
 public:
  ProxyCache(const json& config, const cache::Dictionaries& dictionaries) {
    for (const auto& code : config.value("response_code", json::array({200, 301, 404})))
      if (code.is_number_integer()) response_codes_.insert(code.get<int>());
    methods_ = strings_of(config, "request_method");
    if (!config.contains("request_method")) methods_ = {"GET", "HEAD"};
    for (const auto& text : strings_of(config, "content_type"))
      if (auto media = cache::parse_media_type(text)) content_types_.push_back(std::move(*media));
    cache_ttl_ = config.value("cache_ttl", 300);
    if (auto it = config.find("storage_ttl"); it != config.end() && it->is_number_integer())
      storage_ttl_ = it->get<int64_t>();
    cache_control_ = config.value("cache_control", false);
    ignore_uri_case_ = config.value("ignore_uri_case", false);
    vary_query_params_ = strings_of(config, "vary_query_params");
    vary_headers_ = strings_of(config, "vary_headers");
    read_response_headers(config.value("response_headers", json::object()));
    std::string dictionary = "kong_db_cache";
    if (auto m = config.find("memory"); m != config.end() && m->is_object())
      dictionary = m->value("dictionary_name", dictionary);
    store_ = dictionaries.find(dictionary);
    if (!store_) throw std::invalid_argument("missing shared dict '" + dictionary + "'");
  }

  bool run_now(core::Phase phase, pdk::Kong& kong) override;

  // Kong's cacheable_response (header_filter), for the response about to go to the client.
  bool cacheable_response(int status, const std::vector<std::string_view>& content_types,
                          const cache::Directives& cc, int64_t resource_ttl) const {
    if (!response_codes_.count(status)) return false;
    if (content_types.size() != 1 || content_types.front().empty()) return false;
    if (!cache::content_type_matches(content_types.front(), content_types_)) return false;
    if (!cache_control_) return true;
    if (cc.count("private") || cc.count("no-store") || cc.count("no-cache")) return false;
    return resource_ttl > 0;
  }

  // How long the store keeps an entry (Kong: storage_ttl, else the resource's TTL under
  // cache_control, else cache_ttl).
  std::chrono::seconds storage_ttl(int64_t resource_ttl) const {
    if (storage_ttl_) return std::chrono::seconds(*storage_ttl_);
    return std::chrono::seconds(cache_control_ ? resource_ttl : cache_ttl_);
  }

  bool cache_control() const { return cache_control_; }
  int64_t cache_ttl() const { return cache_ttl_; }
  cache::Store& store() const { return *store_; }

  // Kong's set_header: the diagnostic headers the config enables, all of them with Kong-Debug.
  bool shows(std::string_view header, bool debug) const {
    if (debug) return true;
    if (header == kStatusHeader) return show_status_;
    if (header == kKeyHeader) return show_key_;
    return show_age_;
  }

  // A stored entry the store refused (larger than the whole dictionary): logged, not too often.
  void log_too_large(size_t bytes) const {
    std::lock_guard lock(log_mutex_);
    uint64_t held_back = 0;
    if (!too_large_log_.allow(held_back)) return;
    log::notice(
        "[proxy-cache] a response of {} bytes is larger than the cache ({} bytes): not stored{}", bytes,
        store_->capacity(),
        held_back ? " (" + std::to_string(held_back) + " more since the last message)" : std::string());
  }

 private:
  void read_response_headers(const json& switches) {
    auto flag = [&](const char* name, bool fallback) {
      auto it = switches.find(name);
      return it != switches.end() && it->is_boolean() ? it->get<bool>() : fallback;
    };
    show_status_ = flag("X-Cache-Status", true);
    show_key_ = flag("X-Cache-Key", true);
    show_age_ = flag("Age", true) && flag("age", true);  // "age": the spelling of Kong before 3.8
  }

  bool cacheable_request(std::string_view method, const cache::Directives& cc,
                         const http::Headers& headers) const;
  bool stale(const cache::Entry& entry, const cache::Directives& cc, int64_t now) const;
  std::string key_of(pdk::Kong& kong) const;
  void serve(pdk::Kong& kong, const cache::Entry& entry, const std::string& key, bool debug) const;

  std::set<int> response_codes_;
  std::vector<std::string> methods_;
  std::vector<cache::MediaType> content_types_;
  int64_t cache_ttl_ = 300;
  std::optional<int64_t> storage_ttl_;
  bool cache_control_ = false;
  bool ignore_uri_case_ = false;
  std::vector<std::string> vary_query_params_;
  std::vector<std::string> vary_headers_;
  bool show_status_ = true, show_key_ = true, show_age_ = true;
  std::shared_ptr<cache::Store> store_;
  mutable std::mutex log_mutex_;
  mutable log::Throttle too_large_log_{60s};
};

// The copy of a cacheable request's response on its way to the client (Kong's header_filter and
// body_filter): stored when it is cacheable and arrived whole, dropped as soon as it could not fit.
class Capture final : public core::ResponseTap {
 public:
  Capture(const ProxyCache& plugin, std::string key, bool debug)
      : plugin_(plugin), key_(std::move(key)), debug_(debug) {}

  bool head(core::RequestContext& ctx, int status, const http::Headers& upstream) override {
    // What the client gets: headers plugins set win over the upstream's.
    auto sent = [&](std::string_view name) {
      return ctx.response.headers.has(name) ? ctx.response.headers.get_all(name) : upstream.get_all(name);
    };
    const int64_t now = unix_now();
    cache::Directives cc;
    int64_t resource_ttl = 0;
    if (plugin_.cache_control()) {
      cc = cache::parse_directives(sent("cache-control"));
      const auto expires = sent("expires");
      resource_ttl =
          cache::resource_ttl(cc, expires.empty() ? std::nullopt : std::optional(expires.back()), now);
    }
    if (!plugin_.cacheable_response(status, sent("content-type"), cc, resource_ttl)) {
      if (plugin_.shows(kStatusHeader, debug_)) ctx.response.headers.set(kStatusHeader, "Bypass");
      return false;
    }
    entry_.status = status;
    entry_.ttl = plugin_.cache_control() ? resource_ttl : plugin_.cache_ttl();
    for (const auto& h : upstream)
      if (!hop_by_hop(h.name) && !ctx.response.headers.has(h.name))
        entry_.headers.emplace_back(h.name, h.value);
    for (const auto& h : ctx.response.headers)
      if (!hop_by_hop(h.name)) entry_.headers.emplace_back(h.name, h.value);
    if (auto length = upstream.get("content-length")) return room_for(parse_length(*length));
    return room_for(0);
  }

  bool body(std::string_view piece) override {
    if (!room_for(entry_.body.size() + piece.size())) return false;
    entry_.body.append(piece);
    return true;
  }

  void end(core::RequestContext&) override {
    entry_.timestamp = unix_now();
    const auto ttl = plugin_.storage_ttl(entry_.ttl);
    const size_t bytes = entry_.body.size();
    if (!plugin_.store().set(key_, std::make_shared<const cache::Entry>(std::move(entry_)), ttl))
      plugin_.log_too_large(bytes);
  }

 private:
  static size_t parse_length(std::string_view text) {
    size_t n = 0;
    for (char c : text) {
      if (c < '0' || c > '9') return 0;
      n = n * 10 + static_cast<size_t>(c - '0');
      if (n > (size_t{1} << 48)) break;
    }
    return n;
  }

  // Whether an entry with a body of `body_bytes` could still be stored; logs it once when not.
  bool room_for(size_t body_bytes) {
    if (plugin_.store().fits(key_.size(), entry_.bytes() - entry_.body.size() + body_bytes)) return true;
    plugin_.log_too_large(body_bytes);
    return false;
  }

  const ProxyCache& plugin_;
  std::string key_;
  bool debug_;
  cache::Entry entry_;
};

bool ProxyCache::cacheable_request(std::string_view method, const cache::Directives& cc,
                                   const http::Headers& headers) const {
  if (std::find(methods_.begin(), methods_.end(), method) == methods_.end()) return false;
  if (!cache_control_) return true;
  // Kong means to skip requests with credentials here too (it reads an nginx variable that does
  // not exist); gatehouse does: a shared cache must not hand one user's answer to another.
  return !cc.count("no-store") && !cc.count("no-cache") && !headers.has("authorization");
}

// Kong's freshness rules: the client's max-age / max-stale / min-fresh under cache_control,
// cache_ttl otherwise (an entry may be stored longer, for storage_ttl).
bool ProxyCache::stale(const cache::Entry& entry, const cache::Directives& cc, int64_t now) const {
  const int64_t age = now - entry.timestamp;
  if (!cache_control_) return age > cache_ttl_;
  auto number = [&](std::string_view name) -> std::optional<double> {
    auto it = cc.find(name);
    return it == cc.end() ? std::nullopt : it->second.number;
  };
  if (auto max_age = number("max-age"); max_age && static_cast<double>(age) > *max_age) return true;
  if (auto max_stale = number("max-stale"); max_stale && static_cast<double>(age - entry.ttl) > *max_stale)
    return true;
  if (auto min_fresh = number("min-fresh"); min_fresh && static_cast<double>(entry.ttl - age) < *min_fresh)
    return true;
  return false;
}

std::string ProxyCache::key_of(pdk::Kong& kong) const {
  const auto& ctx = kong.context();
  const auto& req = *ctx.request;
  const auto& consumer = core::table_or_null(ctx.authenticated_consumer);
  const auto consumer_id = consumer.is_object() ? consumer.value("id", std::string()) : std::string();
  const json query = req.query().empty() ? json::object() : kong.request.get_query();
  cache::KeyInputs in;
  in.consumer_id = consumer_id;
  in.route_id = kong.route() ? std::string_view(kong.route()->id) : std::string_view();
  in.method = req.method;
  const std::string uri =
      cache::request_line_uri(req.method, req.target, req.version_minor, ignore_uri_case_);
  in.uri = uri;
  in.query = &query;
  in.headers = &req.headers;
  in.vary_query_params = &vary_query_params_;
  in.vary_headers = &vary_headers_;
  return cache::cache_key(in);
}

// A hit: the stored response, as Kong's kong.response.exit replays it, marked as proxied.
void ProxyCache::serve(pdk::Kong& kong, const cache::Entry& entry, const std::string& key, bool debug) const {
  auto& ctx = kong.context();
  auto& headers = ctx.response.headers;
  for (const auto& [name, value] : entry.headers)
    if (!headers.empty() && replayed(name)) headers.remove(name);
  for (const auto& [name, value] : entry.headers)
    if (replayed(name)) headers.add(name, value);
  if (shows(kAgeHeader, debug))
    headers.set(kAgeHeader, std::to_string(std::max<int64_t>(0, unix_now() - entry.timestamp)));
  if (shows(kStatusHeader, debug)) headers.set(kStatusHeader, "Hit");
  if (shows(kKeyHeader, debug)) headers.set(kKeyHeader, key);
  ctx.upstream_start = ctx.upstream_first_byte = core::Clock::now();
  ctx.response.served_as_proxied = true;
  kong.response.exit(entry.status, entry.body);
}

bool ProxyCache::run_now(core::Phase phase, pdk::Kong& kong) {
  if (phase != core::Phase::access) return false;
  const auto& req = *kong.context().request;
  const bool debug = req.headers.has("kong-debug");
  cache::Directives cc;
  if (cache_control_) cc = cache::parse_directives(req.headers.get_all("cache-control"));
  if (!cacheable_request(req.method, cc, req.headers)) {
    if (shows(kStatusHeader, debug)) kong.response.set_header(kStatusHeader, "Bypass");
    return true;
  }
  std::string key = key_of(kong);
  if (shows(kKeyHeader, debug)) kong.response.set_header(kKeyHeader, key);
  auto entry = store_->get(key);
  const char* status = "Miss";
  if (entry && !stale(*entry, cc, unix_now())) {
    serve(kong, *entry, key, debug);
    return true;
  }
  if (entry) {
    status = "Refresh";
  } else if (cache_control_ && cc.count("only-if-cached")) {
    kong.response.exit(504);  // RFC 9111 §5.2.1.7: nothing cached to answer with
    return true;
  }
  if (shows(kStatusHeader, debug)) kong.response.set_header(kStatusHeader, status);
  kong.context().response_tap = std::make_shared<Capture>(*this, std::move(key), debug);
  return true;
}

json string_array(json fields = json::object()) {
  fields["type"] = "array";
  fields["elements"] = {{"type", "string"}};
  return fields;
}

NativePluginSpec spec() {
  json config_fields = json::array({
      {{"response_code",
        {{"type", "array"},
         {"default", {200, 301, 404}},
         {"elements", {{"type", "integer"}, {"between", {100, 900}}}},
         {"len_min", 1},
         {"required", true}}}},
      {{"request_method", string_array({{"default", {"GET", "HEAD"}}, {"required", true}})}},
      {{"content_type", string_array({{"default", {"text/plain", "application/json"}}, {"required", true}})}},
      {{"cache_ttl", {{"type", "integer"}, {"default", 300}, {"gt", 0}}}},
      {{"strategy", {{"type", "string"}, {"one_of", {"memory"}}, {"required", true}}}},
      {{"cache_control", {{"type", "boolean"}, {"default", false}, {"required", true}}}},
      {{"ignore_uri_case", {{"type", "boolean"}, {"default", false}, {"required", false}}}},
      {{"storage_ttl", {{"type", "integer"}}}},
      {{"memory",
        {{"type", "record"},
         {"fields",
          json::array({{{"dictionary_name",
                         {{"type", "string"}, {"required", true}, {"default", "kong_db_cache"}}}}})}}}},
      {{"vary_query_params", string_array()}},
      {{"vary_headers", string_array()}},
      {{"response_headers",
        {{"type", "record"},
         {"fields", json::array({{{"Age", {{"type", "boolean"}, {"default", true}}}},
                                 {{"age", {{"type", "boolean"}}}},
                                 {{"X-Cache-Status", {{"type", "boolean"}, {"default", true}}}},
                                 {{"X-Cache-Key", {{"type", "boolean"}, {"default", true}}}}})}}}},
  });
  config_fields[1]["request_method"]["elements"]["one_of"] = {"HEAD", "GET", "POST", "PATCH", "PUT"};
  return {
      "proxy-cache",
      "3.9.0",
      100,
      core::bit(core::Phase::access),
      {{"name", "proxy-cache"}, {"fields", {{{"config", {{"type", "record"}, {"fields", config_fields}}}}}}},
      [](const json& config, SharedMemory& memory) {
        return std::make_unique<ProxyCache>(config, memory.dictionaries);
      },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
