// Deterministic entity ids. A name-based UUID must be stable across reloads and builds, so it is
// computed from a fixed hash (two independent FNV-1a 64-bit passes), laid out as a version-5 UUID.
#include <cstdint>
#include <regex>
#include <string>
#include <string_view>

#include "conf/declarative.h"

namespace gh::conf {

namespace {

uint64_t fnv1a(std::string_view text, uint64_t basis) {
  uint64_t hash = basis;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  // Final avalanche (from MurmurHash3's fmix64) so that similar seeds give unrelated ids.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  hash *= 0xc4ceb9fe1a85ec53ULL;
  hash ^= hash >> 33;
  return hash;
}

}  // namespace

std::string deterministic_uuid(std::string_view seed) {
  uint8_t bytes[16];
  uint64_t high = fnv1a(seed, 0xcbf29ce484222325ULL);
  uint64_t low = fnv1a(seed, 0x84222325cbf29ce4ULL ^ high);
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
    bytes[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  }
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0F) | 0x50);  // version 5
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += hex[bytes[i] >> 4];
    out += hex[bytes[i] & 0x0F];
  }
  return out;
}

bool is_uuid(std::string_view text) {
  static const std::regex pattern(
      "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
  return std::regex_match(text.begin(), text.end(), pattern);
}

std::string target_id(const Upstream& upstream, size_t target_index) {
  return deterministic_uuid("target:" + upstream.id + ":" + upstream.targets[target_index].target);
}

}  // namespace gh::conf
