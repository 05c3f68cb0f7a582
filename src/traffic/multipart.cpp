#include "traffic/multipart.h"

#include "common/strings.h"

namespace gh::traffic {

namespace {

constexpr size_t kMaxParts = 1000;

// The value of `param` (e.g. name="x") in a header line, quotes removed.
std::optional<std::string> header_param(std::string_view line, std::string_view param) {
  std::string lower = to_lower(line);
  size_t at = 0;
  while ((at = lower.find(param, at)) != std::string::npos) {
    bool starts = at == 0 || lower[at - 1] == ';' || lower[at - 1] == ' ';
    if (starts && lower.compare(at + param.size(), 1, "=") == 0) break;
    at += param.size();
  }
  if (at == std::string::npos) return std::nullopt;
  std::string_view rest = line.substr(at + param.size() + 1);
  if (!rest.empty() && rest.front() == '"') {
    size_t close = rest.find('"', 1);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(rest.substr(1, close - 1));
  }
  return std::string(trim(rest.substr(0, rest.find(';'))));
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  auto b = header_param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 200) return std::nullopt;
  return b;
}

std::optional<MultipartBody> MultipartBody::parse(std::string_view body, std::string boundary) {
  MultipartBody out;
  out.boundary_ = std::move(boundary);
  const std::string delimiter = "--" + out.boundary_;
  size_t pos = body.find(delimiter);
  if (pos == std::string_view::npos) return std::nullopt;
  pos += delimiter.size();
  while (true) {
    if (body.substr(pos, 2) == "--") return out;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n" || out.parts_.size() >= kMaxParts) return std::nullopt;
    pos += 2;
    size_t head_end = body.find("\r\n\r\n", pos);
    size_t next = body.find("\r\n" + delimiter, pos);
    if (head_end == std::string_view::npos || next == std::string_view::npos || head_end > next)
      return std::nullopt;
    Part part{std::string(body.substr(pos, head_end - pos)), "",
              std::string(body.substr(head_end + 4, next - head_end - 4))};
    for (std::string_view headers = part.headers; !headers.empty();) {
      size_t eol = headers.find("\r\n");
      std::string_view line = headers.substr(0, eol);
      if (starts_with_icase(line, "content-disposition:"))
        part.name = header_param(line, "name").value_or("");
      headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 2);
    }
    out.parts_.push_back(std::move(part));
    pos = next + 2 + delimiter.size();
  }
}

std::optional<std::string> MultipartBody::get(std::string_view name) const {
  for (const auto& p : parts_)
    if (p.name == name) return p.value;
  return std::nullopt;
}

void MultipartBody::remove(std::string_view name) {
  std::erase_if(parts_, [&](const Part& p) { return p.name == name; });
}

void MultipartBody::set_simple(std::string_view name, std::string value) {
  for (auto& p : parts_) {
    if (p.name == name) {
      p.value = std::move(value);
      return;
    }
  }
  parts_.push_back({"Content-Disposition: form-data; name=\"" + std::string(name) + "\"", std::string(name),
                    std::move(value)});
}

std::string MultipartBody::serialize() const {
  std::string out;
  for (const auto& p : parts_) out += "--" + boundary_ + "\r\n" + p.headers + "\r\n\r\n" + p.value + "\r\n";
  out += "--" + boundary_ + "--\r\n";
  return out;
}

}  // namespace gh::traffic
