#include "tls/client_hello.h"

#include <cstdint>

namespace gh::tls {

namespace {

// A bounds-checked reader: any read past the end marks it failed and returns zeros.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  uint32_t number(size_t bytes) {
    uint32_t value = 0;
    for (size_t i = 0; i < bytes; ++i) value = (value << 8) | byte();
    return value;
  }
  std::string_view take(size_t n) {
    if (n > data_.size() - pos_) {
      failed_ = true;
      pos_ = data_.size();
      return {};
    }
    auto out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  void skip_vector(size_t length_bytes) { take(number(length_bytes)); }
  bool failed() const { return failed_; }
  bool done() const { return pos_ >= data_.size(); }

 private:
  uint8_t byte() {
    if (pos_ >= data_.size()) {
      failed_ = true;
      return 0;
    }
    return static_cast<uint8_t>(data_[pos_++]);
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

constexpr uint8_t kHandshakeRecord = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint16_t kServerNameExtension = 0;

// The host_name entry of a server_name extension's body, or "".
std::string host_name_of(std::string_view extension) {
  Reader list(extension);
  Reader names(list.take(list.number(2)));
  while (!names.done() && !names.failed()) {
    uint32_t type = names.number(1);
    auto name = names.take(names.number(2));
    if (type == 0 && !names.failed()) return std::string(name);
  }
  return "";
}

}  // namespace

ClientHelloPeek peek_client_hello(std::string_view bytes) {
  using Status = ClientHelloPeek::Status;
  if (bytes.empty()) return {};
  if (static_cast<uint8_t>(bytes[0]) != kHandshakeRecord) return {Status::not_tls, ""};
  if (bytes.size() < 5) return {};
  Reader record(bytes);
  record.number(1);                                         // content type
  if (record.number(1) != 3) return {Status::not_tls, ""};  // major version of SSL 3 / TLS 1.x
  record.number(1);
  uint32_t length = record.number(2);
  if (length == 0 || length > 16384 + 2048) return {Status::not_tls, ""};
  if (bytes.size() < 5 + length) return {};
  Reader hello(bytes.substr(5, length));
  if (hello.number(1) != kClientHello) return {Status::not_tls, ""};
  hello.number(3);       // handshake length (a hello split over records keeps what this one holds)
  hello.take(2 + 32);    // client_version, random
  hello.skip_vector(1);  // session_id
  hello.skip_vector(2);  // cipher_suites
  hello.skip_vector(1);  // compression_methods
  if (hello.failed()) return {Status::not_tls, ""};
  if (hello.done()) return {Status::ok, ""};  // no extensions at all
  Reader extensions(hello.take(hello.number(2)));
  while (!extensions.done() && !extensions.failed()) {
    uint32_t type = extensions.number(2);
    auto body = extensions.take(extensions.number(2));
    if (type == kServerNameExtension && !extensions.failed()) return {Status::ok, host_name_of(body)};
  }
  return {Status::ok, ""};
}

}  // namespace gh::tls
