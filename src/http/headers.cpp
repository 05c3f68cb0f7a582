#include "http/headers.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "common/strings.h"
#include "http/header_name.h"

namespace gh::http {

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const auto& h : list_)
    if (iequals(h.name, name)) return std::string_view(h.value);
  return std::nullopt;
}

size_t Headers::count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : list_) n += iequals(h.name, name) ? 1 : 0;
  return n;
}

std::vector<std::string_view> Headers::get_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : list_)
    if (iequals(h.name, name)) out.emplace_back(h.value);
  return out;
}

bool Headers::has_token(std::string_view name, std::string_view token) const {
  for (const auto& h : list_) {
    if (!iequals(h.name, name)) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

void Headers::set(std::string_view name, std::string value) {
  bool placed = false;
  for (auto it = list_.begin(); it != list_.end();) {
    if (!iequals(it->name, name)) {
      ++it;
    } else if (!placed) {
      it->value = std::move(value);
      placed = true;
      ++it;
    } else {
      it = list_.erase(it);
    }
  }
  if (!placed) list_.push_back({std::string(name), std::move(value)});
}

size_t Headers::remove(std::string_view name) {
  return std::erase_if(list_, [&](const Header& h) { return iequals(h.name, name); });
}

namespace {
// Enough for the requests one worker thread has in flight at once to reuse a list most of the
// time; lists larger than kMaxSpareCapacity are not kept (one odd request does not pin memory).
constexpr size_t kMaxSpares = 16;
constexpr size_t kMaxSpareCapacity = 128;
// A request destroyed while its thread exits (a coroutine frame freed late) must not touch the
// spares after their destructor ran: the flag, trivially destructible, outlives them.
thread_local bool spares_destroyed = false;
struct SpareLists : std::vector<std::vector<Header>> {
  ~SpareLists() { spares_destroyed = true; }
};
thread_local SpareLists spare_lists;
}  // namespace

Headers take_spare_headers(size_t capacity) {
  Headers headers;
  if (!spares_destroyed && !spare_lists.empty()) {
    headers.entries() = std::move(spare_lists.back());
    spare_lists.pop_back();
  }
  headers.reserve(capacity);
  return headers;
}

void give_back_headers(Headers&& headers) {
  auto& list = headers.entries();
  if (spares_destroyed || list.capacity() == 0 || list.capacity() > kMaxSpareCapacity ||
      spare_lists.size() >= kMaxSpares)
    return;
  list.clear();
  spare_lists.push_back(std::move(list));
}

bool is_token_char(unsigned char c) {
  return kTokenChars[c];
}

bool is_valid_header_name(std::string_view name) {
  return is_token(name);
}

bool is_valid_header_value(std::string_view value) {
  // Eight bytes at a time (every header of every message passes here): x has a zero byte iff
  // (x - 0x01..01) & ~x & 0x80..80 is non-zero; x ^ (c * 0x01..01) has one where x has a byte c.
  constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  auto has_zero_byte = [](uint64_t x) { return ((x - kOnes) & ~x & kHighs) != 0; };
  const char* p = value.data();
  size_t n = value.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t x;
    std::memcpy(&x, p, 8);
    if (has_zero_byte(x) || has_zero_byte(x ^ (kOnes * '\r')) || has_zero_byte(x ^ (kOnes * '\n')))
      return false;
  }
  for (; n > 0; ++p, --n)
    if (*p == '\r' || *p == '\n' || *p == '\0') return false;
  return true;
}

}  // namespace gh::http
