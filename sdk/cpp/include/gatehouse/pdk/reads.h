// Declared reads (Gatehouse:1, docs/cpp-pdk.md "Declaring reads"): a plugin may tell the gateway, per
// phase, which reads its handler makes, so that even the first event of an instance gets them with
// the event (one round trip per phase). Undeclared reads are still learned from the first events.
//
//   pdk::Reads reads(std::string_view phase) const {   // in the Plugin class; static works too
//     pdk::Reads reads;
//     if (phase == "access") {
//       reads.kong().request.get_header(config_.header);
//       reads.kong().client.get_ip();
//     }
//     return reads;
//   }
//
// The declaration is written as the calls themselves, on a Kong& that records each call's wire name
// and argument bytes (the same encoding as the real call) instead of sending it; every call returns
// its zero value ("", 0, null, std::nullopt). Only side-effect-free reads are prefetched: the gateway
// ignores (and logs) a declared write or any other call.
#pragma once

#include <gatehouse/pdk/kong.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::pdk {

class Reads {
 public:
  struct Call {
    std::string method;  // wire name, e.g. "kong.request.get_header"
    std::string args;    // ProtoBuf:1 argument message bytes
    bool operator==(const Call&) const = default;
  };

  Reads();
  ~Reads();
  Reads(Reads&&) noexcept;
  Reads& operator=(Reads&&) noexcept;

  // The recording Kong&: each call made on it is one declared read.
  Kong& kong();
  // What was declared, in order, without duplicates.
  const std::vector<Call>& calls() const;
  bool empty() const { return calls().empty(); }

 private:
  class Recorder;
  std::unique_ptr<Recorder> recorder_;
};

}  // namespace gatehouse::pdk
