// Shared helpers for the msgpack unit tests: conformance transcripts (tests/data/conformance,
// README §1), strict value comparison (int vs float, str vs bin kept apart), byte comparison
// modulo map key order (README §5), temporary directories.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "pluginserver/msgpack/codec.h"
#include "test_data.h"

namespace gh::pluginserver::msgpack::test {

namespace fs = std::filesystem;

inline std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

inline std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A note's JSON with {"$bin": text} / {"$bin_hex": hex} turned into binary values.
inline json note_value(const json& v) {
  if (v.is_object() && v.size() == 1 && (v.contains("$bin") || v.contains("$bin_hex"))) {
    std::string raw =
        v.contains("$bin") ? v["$bin"].get<std::string>() : from_hex(v["$bin_hex"].get<std::string>());
    return json::binary(json::binary_t::container_type(raw.begin(), raw.end()));
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) out.push_back(note_value(e));
    return out;
  }
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [k, e] : v.items()) out[k] = note_value(e);
    return out;
  }
  return v;
}

struct Line {
  std::string dir;    // "gw>srv" | "srv>gw"
  std::string bytes;  // empty for close lines
  json note;          // decoded form (nlohmann), binary for $bin
  int conn = 0;
  bool close = false;
  bool gateway() const { return dir == "gw>srv"; }
};

using gh::test::conformance_dir;

inline std::vector<Line> load_transcript(const std::string& name) {
  std::istringstream in(gh::test::read_conformance_file(name));
  std::vector<Line> lines;
  for (std::string text; std::getline(in, text);) {
    if (text.empty()) continue;
    json j = json::parse(text);
    Line l;
    l.dir = j["dir"];
    l.conn = j.value("conn", 0);
    l.close = j.value("event", "") == "close";
    l.bytes = from_hex(j["hex"].get<std::string>());
    if (!l.close) l.note = note_value(json::parse(j["note"].get<std::string>()));
    lines.push_back(std::move(l));
  }
  return lines;
}

// Every MsgPack transcript: js-mp-* and py-mp-*.
inline std::vector<std::string> mp_transcripts() {
  return gh::test::conformance_transcripts({"js-mp-", "py-mp-"});
}

// Equality that keeps the protocol's type distinctions: integers (signed or unsigned) vs floats,
// strings vs binary. Map key order is irrelevant (json objects are sorted). `why` gets the path.
inline bool strict_equal(const json& a, const json& b, std::string* why = nullptr,
                         const std::string& path = "$") {
  auto fail = [&](const std::string& what) {
    if (why)
      *why = path + ": " + what + " (" + a.dump(-1, ' ', false, json::error_handler_t::replace) + " vs " +
             b.dump(-1, ' ', false, json::error_handler_t::replace) + ")";
    return false;
  };
  const bool a_int = a.is_number_integer(), b_int = b.is_number_integer();
  if (a_int || b_int) {
    if (a_int != b_int) return fail("integer vs non-integer");
    if (a.is_number_unsigned() && b.is_number_unsigned())
      return a.get<uint64_t>() == b.get<uint64_t>() || fail("value");
    if (a.is_number_unsigned() && a.get<uint64_t>() > INT64_MAX) return fail("value");
    if (b.is_number_unsigned() && b.get<uint64_t>() > INT64_MAX) return fail("value");
    return a.get<int64_t>() == b.get<int64_t>() || fail("value");
  }
  if (a.type() != b.type()) return fail("type");
  switch (a.type()) {
    case json::value_t::array:
      if (a.size() != b.size()) return fail("array size");
      for (size_t i = 0; i < a.size(); ++i)
        if (!strict_equal(a[i], b[i], why, path + "[" + std::to_string(i) + "]")) return false;
      return true;
    case json::value_t::object:
      if (a.size() != b.size()) return fail("key count");
      for (const auto& [k, v] : a.items()) {
        if (!b.contains(k)) return fail("missing key " + k);
        if (!strict_equal(v, b[k], why, path + "." + k)) return false;
      }
      return true;
    case json::value_t::binary:
      return a.get_binary() == b.get_binary() || fail("bytes");
    default:
      return a == b || fail("value");
  }
}

// True when `a` and `b` are the same MessagePack bytes except for the order of map entries:
// every scalar, string and header keeps its exact encoding (str16 vs str8, int widths, bin vs str).
inline bool same_modulo_map_order(std::span<const uint8_t> a, std::span<const uint8_t> b);

inline bool same_next(Reader& ra, Reader& rb) {
  const Type ta = ra.peek(), tb = rb.peek();
  if (ta != tb) return false;
  if (ta != Type::map && ta != Type::array) {
    auto x = ra.read_raw(), y = rb.read_raw();
    return std::equal(x.begin(), x.end(), y.begin(), y.end());
  }
  // containers: identical head bytes, then children
  auto sa = ra.position(), sb = rb.position();
  uint32_t na = ta == Type::map ? ra.read_map() : ra.read_array();
  uint32_t nb = ta == Type::map ? rb.read_map() : rb.read_array();
  (void)sa, (void)sb;
  if (na != nb) return false;
  if (ta == Type::array) {
    for (uint32_t i = 0; i < na; ++i)
      if (!same_next(ra, rb)) return false;
    return true;
  }
  using Pair = std::pair<std::span<const uint8_t>, std::span<const uint8_t>>;
  auto pairs = [](Reader& r, uint32_t n) {
    std::vector<Pair> out;
    for (uint32_t i = 0; i < n; ++i) {
      auto k = r.read_raw();
      out.emplace_back(k, r.read_raw());
    }
    std::sort(out.begin(), out.end(), [](const Pair& x, const Pair& y) {
      return std::lexicographical_compare(x.first.begin(), x.first.end(), y.first.begin(), y.first.end());
    });
    return out;
  };
  auto pa = pairs(ra, na), pb = pairs(rb, nb);
  for (size_t i = 0; i < pa.size(); ++i) {
    if (!std::equal(pa[i].first.begin(), pa[i].first.end(), pb[i].first.begin(), pb[i].first.end()))
      return false;
    if (!same_modulo_map_order(pa[i].second, pb[i].second)) return false;
  }
  return true;
}

inline bool same_modulo_map_order(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Reader ra(a), rb(b);
  return same_next(ra, rb) && ra.at_end() && rb.at_end();
}

inline std::string hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {digits[c >> 4], digits[c & 15]};
  return out;
}

// A fresh directory under /tmp, removed with its content at scope exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gh-msgpack-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace gh::pluginserver::msgpack::test
