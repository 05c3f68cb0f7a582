#include <gatehouse/pdk/reads.h>

#include <algorithm>

namespace gatehouse::pdk {

// A Channel that records calls instead of making them: the declaration goes through the same Kong
// methods, so its (method, args) bytes are exactly those the real call sends.
class Reads::Recorder final : public detail::Channel {
 public:
  Recorder() : kong(*this) {}

  std::string_view call(std::string_view method, std::string_view args) override {
    Call call{std::string(method), std::string(args)};
    if (std::find(calls.begin(), calls.end(), call) == calls.end()) calls.push_back(std::move(call));
    return {};  // a zero-length reply decodes as the zero value
  }
  // Writes and exit are recorded too: the gateway, which decides what it prefetches, refuses them
  // with a message naming them (docs/protocol.md "Declaring reads").
  void write(std::string_view method, std::string_view args) override { call(method, args); }
  void exit(std::string_view method, std::string_view args) override { call(method, args); }
  bool recording() const override { return true; }

  std::vector<Call> calls;
  Kong kong;
};

Reads::Reads() : recorder_(std::make_unique<Recorder>()) {}
Reads::~Reads() = default;
Reads::Reads(Reads&&) noexcept = default;
Reads& Reads::operator=(Reads&&) noexcept = default;

Kong& Reads::kong() {
  if (!recorder_) recorder_ = std::make_unique<Recorder>();  // a moved-from Reads is empty again
  return recorder_->kong;
}

const std::vector<Reads::Call>& Reads::calls() const {
  static const std::vector<Call> none;
  return recorder_ ? recorder_->calls : none;
}

}  // namespace gatehouse::pdk
