// The request's side of consistent hashing: what upstream::hash_key may read (Kong's
// get_value_to_hash), over one RequestContext.
#pragma once

#include "core/request_context.h"
#include "upstream/balancer.h"

namespace gh::proxy {

using core::RequestContext;

class RequestHashInputs final : public upstream::HashInputs {
 public:
  explicit RequestHashInputs(const RequestContext& ctx) : ctx_(ctx) {}
  std::optional<std::string> consumer_id() const override;
  std::string client_ip() const override { return ctx_.client_ip; }
  std::optional<std::string> header(const std::string& name) const override;
  std::optional<std::string> cookie(const std::string& name) const override;
  std::string path() const override;
  std::optional<std::string> query_arg(const std::string& name) const override;
  std::optional<std::string> uri_capture(const std::string& name) const override;

 private:
  const RequestContext& ctx_;
};

}  // namespace gh::proxy
