// request-size-limiting (Kong's kong/plugins/request-size-limiting): refuses bodies over
// allowed_payload_size (in size_unit) with 413 {"message":"Request size limit exceeded"} (417 to
// a client waiting for 100 Continue); with require_content_length, 411 without Content-Length.
#include <filesystem>

#include "plugins/native.h"
#include "traffic/size_limit.h"

namespace gh::plugins {
namespace {

using nlohmann::json;

class RequestSizeLimiting final : public NativeHandler {
 public:
  explicit RequestSizeLimiting(const json& config)
      : limit_(config.value("allowed_payload_size", int64_t{128}),
               config.value("size_unit", std::string("megabytes")),
               config.value("require_content_length", false)) {}

  // Decided from the head when it can be: a refusal, a Content-Length, or no body at all.
  bool run_now(core::Phase phase, pdk::Kong& kong) override {
    if (phase != core::Phase::access) return false;
    auto content_length = kong.request.get_header("Content-Length");
    auto expect = kong.request.get_header("Expect");
    if (auto refusal = limit_.check_head(content_length, expect)) {
      refuse(kong, *refusal);
      return true;
    }
    if (traffic::SizeLimit::has_numeric_length(content_length)) return true;
    if (kong.context().request->has_body()) return false;  // a chunked body: counted by `access`
    if (auto refusal = limit_.check_length(0, expect)) refuse(kong, *refusal);
    return true;
  }

  // Once run_now declined (a body of no announced length): the body is read and its real size
  // counted.
  boost::asio::awaitable<void> access(pdk::Kong& kong) override {
    auto length = co_await body_length(kong);
    if (!length) co_return;
    if (auto refusal = limit_.check_length(*length, kong.request.get_header("Expect")))
      refuse(kong, *refusal);
  }

 private:
  static void refuse(pdk::Kong& kong, const traffic::SizeRefusal& refusal) {
    kong.response.exit_json(refusal.status, json{{"message", refusal.message}});
  }

  // The body's size, in memory or in its temporary file (nginx's client_body_temp).
  static boost::asio::awaitable<std::optional<uint64_t>> body_length(pdk::Kong& kong) {
    if (auto body = co_await kong.request.get_raw_body()) co_return body->size();
    const std::string& file = kong.context().request_body_file;
    if (file.empty()) co_return std::nullopt;
    std::error_code ec;
    auto size = std::filesystem::file_size(file, ec);
    co_return ec ? std::nullopt : std::optional<uint64_t>(size);
  }

  traffic::SizeLimit limit_;
};

NativePluginSpec spec() {
  return {
      "request-size-limiting",
      "3.9.0",
      951,
      core::bit(core::Phase::access),
      {{"name", "request-size-limiting"},
       {"fields",
        {{{"config",
           {{"type", "record"},
            {"fields",
             {{{"allowed_payload_size", {{"type", "integer"}, {"default", 128}}}},
              {{"size_unit",
                {{"type", "string"},
                 {"required", true},
                 {"default", "megabytes"},
                 {"one_of", {"megabytes", "kilobytes", "bytes"}}}}},
              {{"require_content_length",
                {{"type", "boolean"}, {"required", true}, {"default", false}}}}}}}}}}}},
      [](const json& config, SharedMemory&) { return std::make_unique<RequestSizeLimiting>(config); },
  };
}

const NativeRegistration kRegistration{spec()};

}  // namespace
}  // namespace gh::plugins
