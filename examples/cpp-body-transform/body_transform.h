// cpp-body-transform: rewrites the upstream's response body in the response phase (the gateway
// buffers the response for plugins that have one). Each configured replacement is applied to
// every occurrence; an optional prefix/suffix wraps the result. The new body goes to the client
// through kong.response.exit, keeping the upstream's status and content type.
#pragma once

#include <gatehouse/pdk/pdk.h>

#include <map>
#include <string>
#include <vector>

namespace cpp_body_transform {

namespace pdk = gatehouse::pdk;

struct Config {
  std::map<std::string, std::string> replace;  // text → replacement
  std::string prefix;
  std::string suffix;
  // Only bodies whose content type starts with one of these are touched.
  std::vector<std::string> content_types = {"application/json", "text/"};

  static auto fields() {
    return pdk::schema_fields(pdk::field("replace", &Config::replace), pdk::field("prefix", &Config::prefix),
                              pdk::field("suffix", &Config::suffix),
                              pdk::field("content_types", &Config::content_types).with_default());
  }
};

inline std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class Plugin {
 public:
  explicit Plugin(Config config) : config_(std::move(config)) {}

  void response(pdk::Kong& kong) const {
    std::string content_type = kong.service.response.get_header("content-type");
    if (!applies_to(content_type)) return;
    std::string body = kong.service.response.get_raw_body();
    for (const auto& [from, to] : config_.replace) body = replace_all(std::move(body), from, to);
    body = config_.prefix + body + config_.suffix;
    kong.response.exit(kong.service.response.get_status(), body,
                       {{"Content-Type", {content_type}}, {"X-Body-Transformed", {"cpp-body-transform"}}});
  }

 private:
  bool applies_to(const std::string& content_type) const {
    for (const auto& prefix : config_.content_types)
      if (content_type.rfind(prefix, 0) == 0) return true;
    return false;
  }

  Config config_;
};

}  // namespace cpp_body_transform
