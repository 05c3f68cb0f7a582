#include "conf/upstream_fields.h"

#include <cmath>
#include <cstdlib>

namespace gh::conf {

namespace {

const std::set<std::string> kAlgorithms = {"round-robin", "consistent-hashing", "least-connections",
                                           "latency"};
const std::set<std::string> kHashOn = {"none",   "consumer", "ip",        "header",
                                       "cookie", "path",     "query_arg", "uri_capture"};
const std::set<std::string> kCheckTypes = {"tcp", "http", "https"};

bool is_token(const std::string& s) {
  static const std::string_view extra = "!#$%&'*+-.^_`|~";
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && extra.find(static_cast<char>(c)) == std::string_view::npos) return false;
  return true;
}

// Kong's `seconds`: a number between 0 and 65535.
double seconds_or(const Field& f, const std::string& key, double fallback) {
  auto value = f.child(key);
  if (!value) return fallback;
  const std::string text = value->scalar();
  char* end = nullptr;
  const double n = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(n)) value->fail("expected a number, got '" + text + "'");
  if (n < 0 || n > 65535) value->fail("value should be between 0 and 65535");
  return n;
}

std::vector<int> statuses_or(const Field& f, const std::string& key, std::vector<int> fallback) {
  auto list = f.child(key);
  if (!list) return fallback;
  if (!list->node.IsSequence()) list->fail("expected a list");
  std::vector<int> out;
  for (size_t i = 0; i < list->node.size(); ++i) {
    Field item = list->item(i);
    auto n = parse_int_text(item.scalar());
    if (!n || *n < 100 || *n > 999) item.fail("value should be between 100 and 999");
    out.push_back(static_cast<int>(*n));
  }
  return out;
}

constexpr int kMaxCount = 255;  // Kong: counters are stored in one byte each

void read_healthy(const Field& parent, HealthyRule& rule, bool active) {
  auto f = parent.child("healthy");
  if (!f) return;
  if (active)
    f->allow_only({"interval", "http_statuses", "successes"});
  else
    f->allow_only({"http_statuses", "successes"});
  if (active) rule.interval = seconds_or(*f, "interval", rule.interval);
  rule.http_statuses = statuses_or(*f, "http_statuses", rule.http_statuses);
  rule.successes = f->int_or("successes", rule.successes, 0, kMaxCount);
}

void read_unhealthy(const Field& parent, UnhealthyRule& rule, bool active) {
  auto f = parent.child("unhealthy");
  if (!f) return;
  std::set<std::string> allowed = {"http_statuses", "tcp_failures", "timeouts", "http_failures"};
  if (active) allowed.insert("interval");
  f->allow_only(allowed);
  if (active) rule.interval = seconds_or(*f, "interval", rule.interval);
  rule.http_statuses = statuses_or(*f, "http_statuses", rule.http_statuses);
  rule.tcp_failures = f->int_or("tcp_failures", rule.tcp_failures, 0, kMaxCount);
  rule.timeouts = f->int_or("timeouts", rule.timeouts, 0, kMaxCount);
  rule.http_failures = f->int_or("http_failures", rule.http_failures, 0, kMaxCount);
}

std::string check_type(const Field& f, const std::string& fallback) {
  std::string type = f.string_or("type", fallback);
  if (type == "grpc" || type == "grpcs")
    f.child("type")->fail("gRPC health checks are not supported by gatehouse yet (use tcp, http or https)");
  if (!kCheckTypes.count(type)) f.child("type")->fail(expected_one_of(kCheckTypes));
  return type;
}

void read_active(const Field& parent, ActiveHealthcheck& a) {
  auto f = parent.child("active");
  if (!f) return;
  f->allow_only({"type", "timeout", "concurrency", "http_path", "https_sni", "https_verify_certificate",
                 "headers", "healthy", "unhealthy"});
  a.type = check_type(*f, a.type);
  a.timeout = seconds_or(*f, "timeout", a.timeout);
  a.concurrency = f->int_or("concurrency", a.concurrency, 1, 1 << 16);
  a.http_path = f->string_or("http_path", a.http_path);
  if (!a.http_path.starts_with("/") || a.http_path.find_first_of(" \r\n\t") != std::string::npos)
    f->child("http_path")->fail("should start with: /");
  a.https_sni = f->string_or("https_sni", "");
  if (a.https_sni.find_first_of(" /:\r\n") != std::string::npos)
    f->child("https_sni")->fail("invalid value: " + a.https_sni);
  a.https_verify_certificate = f->bool_or("https_verify_certificate", a.https_verify_certificate);
  if (auto headers = f->child("headers")) {
    if (!headers->node.IsMap()) headers->fail("expected a mapping of header name to a list of values");
    for (const auto& entry : headers->node) {
      const std::string name = entry.first.Scalar();
      Field values{headers->file, entry.second, headers->path + "." + name};
      if (!is_token(name)) values.fail("bad header name '" + name + "'");
      auto list = values.as_string_list();
      for (const auto& v : list)
        if (v.find_first_of("\r\n") != std::string::npos)
          values.fail("header values may not hold line breaks");
      a.headers.emplace_back(name, std::move(list));
    }
  }
  read_healthy(*f, a.healthy, true);
  read_unhealthy(*f, a.unhealthy, true);
}

void read_passive(const Field& parent, PassiveHealthcheck& p) {
  auto f = parent.child("passive");
  if (!f) return;
  f->allow_only({"type", "healthy", "unhealthy"});
  p.type = check_type(*f, p.type);
  read_healthy(*f, p.healthy, false);
  read_unhealthy(*f, p.unhealthy, false);
}

Healthchecks read_healthchecks(const Field& f) {
  Healthchecks h;
  f.allow_only({"active", "passive", "threshold"});
  read_active(f, h.active);
  read_passive(f, h.passive);
  if (auto threshold = f.child("threshold")) {
    h.threshold = seconds_or(f, "threshold", 0);
    if (h.threshold > 100) threshold->fail("value should be between 0 and 100");
  }
  return h;
}

// hash_on / hash_fallback with the field naming its header, query argument or capture group.
HashSource read_hash_source(const Field& f, const std::string& which, const std::string& prefix) {
  HashSource s;
  s.kind = f.string_or(which, "none");
  if (!kHashOn.count(s.kind)) f.child(which)->fail(expected_one_of(kHashOn));
  auto required = [&](const std::string& key) {
    auto value = f.child(key);
    if (!value)
      f.fail("failed conditional validation given value of field '" + which + "': '" + key +
             "' is required when '" + which + "' is set to '" + s.kind + "'");
    return value->scalar();
  };
  if (s.kind == "header") {
    s.name = required(prefix + "_header");
    if (!is_token(s.name)) f.child(prefix + "_header")->fail("bad header name '" + s.name + "'");
  } else if (s.kind == "cookie") {
    s.name = required("hash_on_cookie");  // one cookie for both (Kong)
    if (!is_token(s.name)) f.child("hash_on_cookie")->fail("bad cookie name '" + s.name + "'");
  } else if (s.kind == "query_arg") {
    s.name = required(prefix + "_query_arg");
  } else if (s.kind == "uri_capture") {
    s.name = required(prefix + "_uri_capture");
  }
  return s;
}

void check_hash_combination(const Field& f, const Upstream& u) {
  const auto& on = u.hash_on.kind;
  const auto& fallback = u.hash_fallback.kind;
  auto refuse = [&](const std::string& why) { f.child("hash_fallback")->fail(why); };
  if (fallback == "none") return;
  if (on == "none") refuse("must be 'none' when 'hash_on' is 'none'");
  if (on == "cookie") refuse("must be 'none' when 'hash_on' is 'cookie' (a missing cookie is created)");
  // The same source twice is refused, except two different headers, query args or captures.
  const bool named = on == "header" || on == "query_arg" || on == "uri_capture";
  if (on == fallback && (!named || u.hash_on.name == u.hash_fallback.name))
    refuse("'hash_fallback' must differ from 'hash_on'");
}

}  // namespace

void read_upstream_balancing(const Field& f, Upstream& u) {
  u.algorithm = f.string_or("algorithm", "round-robin");
  if (!kAlgorithms.count(u.algorithm)) f.child("algorithm")->fail(expected_one_of(kAlgorithms));
  u.hash_on = read_hash_source(f, "hash_on", "hash_on");
  u.hash_fallback = read_hash_source(f, "hash_fallback", "hash_fallback");
  check_hash_combination(f, u);
  u.hash_on_cookie_path = f.string_or("hash_on_cookie_path", "/");
  if (!u.hash_on_cookie_path.starts_with("/") ||
      u.hash_on_cookie_path.find_first_of(";\r\n ") != std::string::npos)
    f.child("hash_on_cookie_path")->fail("should start with: / (and hold no ';' or spaces)");
  u.slots = f.int_or("slots", 10000, 10, 1 << 16);
  if (auto h = f.child("healthchecks")) u.healthchecks = read_healthchecks(*h);
}

}  // namespace gh::conf
