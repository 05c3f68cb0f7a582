// multipart/form-data bodies for request-transformer (Kong edits them with lua-multipart): parts
// by name, edited and written back with the request's boundary.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gh::traffic {

// The boundary parameter of a multipart Content-Type (quotes removed); nullopt when absent.
std::optional<std::string> multipart_boundary(std::string_view content_type);

class MultipartBody {
 public:
  // Parses `body`; nullopt when it is not a well-formed multipart body with this boundary (the
  // caller then leaves it alone). At most 1,000 parts.
  static std::optional<MultipartBody> parse(std::string_view body, std::string boundary);

  std::optional<std::string> get(std::string_view name) const;  // the first part's value
  void remove(std::string_view name);                           // every part of that name
  // lua-multipart's set_simple: the first part of that name gets the value, or a new part is added.
  void set_simple(std::string_view name, std::string value);
  std::string serialize() const;

 private:
  struct Part {
    std::string headers;  // as received, without the blank line
    std::string name;
    std::string value;
  };
  std::string boundary_;
  std::vector<Part> parts_;
};

}  // namespace gh::traffic
