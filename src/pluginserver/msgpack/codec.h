// MessagePack codec for Kong's `MsgPack:1` plugin-server protocol (kong-gateway-side.md §5).
//
// Value model: nlohmann::json. It keeps what the protocol needs apart: signed/unsigned integers vs
// floats, str (json string) vs bin (json binary_t), empty array vs empty object.
//
// Writer emits Kong's exact byte choices (lua-MessagePack 0.5 as Kong configures it, §5.3):
//   * strings: fixstr / str16 / str32, never str8; bin8/16/32 only for binary values (bodies);
//   * integers: shortest form, unsigned family (0xcc-0xcf) for >= 0, signed family for < 0;
//   * doubles: integral values in the 64-bit range are written as integers (Lua cannot tell
//     2.0 from 2), everything else as float64 (0xcb);
//   * an empty object is written as an empty ARRAY (0x90), because an empty Lua table is one; the
//     one place Kong sends an empty map (0x80), multimap results, writes it explicitly.
//
// Reading is two-step so that partial and hostile input is cheap and safe:
//   * scan() walks a byte range without allocating and says "complete object of N bytes", "need at
//     least M bytes" or "invalid" (limits: max nesting depth, max message size; a length prefix
//     claiming more than the limit is refused before any byte of it arrives);
//   * Reader then decodes a complete object: envelope fields as string_views, values as json.
// StreamDecoder glues both to a socket: read into prepare()/commit(), take objects with next().
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gh::pluginserver::msgpack {

using json = nlohmann::json;

// Malformed, truncated or over-limit MessagePack.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DecodeLimits {
  size_t max_message_bytes = 64 * 1024 * 1024;  // one object, bodies included
  unsigned max_depth = 64;                      // nesting of arrays/maps
};

// Appends MessagePack to a caller-owned buffer (reused across calls: no allocation once warm).
class Writer {
 public:
  explicit Writer(std::string& out) : out_(&out) {}

  void nil() { byte(0xc0); }
  void boolean(bool b) { byte(b ? 0xc3 : 0xc2); }
  void integer(int64_t v);
  void unsigned_integer(uint64_t v);
  void number(double v);   // Lua number rule: integral → integer, otherwise float64
  void float64(double v);  // always 0xcb
  void str(std::string_view s);
  void bin(std::span<const uint8_t> b);
  void bin(std::string_view b) { bin({reinterpret_cast<const uint8_t*>(b.data()), b.size()}); }
  void array_header(uint32_t n);
  void map_header(uint32_t n);
  void value(const json& v);  // any json value, with the rules above

 private:
  void byte(uint8_t b) { out_->push_back(static_cast<char>(b)); }
  void be(uint64_t v, int bytes);
  void length_prefixed(uint8_t fix_base, uint32_t fix_max, uint8_t tag16, uint8_t tag32, size_t n);
  std::string* out_;
};

// Encodes one value into a fresh buffer (tests, tools; the RPC path reuses buffers instead).
std::string encode(const json& v);

// ---- reading ----

struct ScanResult {
  enum class Status { complete, need_more };
  Status status;
  size_t size;  // complete: bytes of the object; need_more: a lower bound of the total bytes needed
};
// Looks for one complete object at the start of `data`. Throws DecodeError for invalid bytes or
// when the object cannot fit `limits` (detected as soon as the headers say so).
ScanResult scan(std::span<const uint8_t> data, const DecodeLimits& limits);

// How far a scan of an object still arriving got: the next scan of the same object (its bytes
// so far and more) goes on from there instead of walking it again from its first byte.
struct ScanProgress {
  size_t pos = 0;                  // bytes of whole heads and payloads walked
  unsigned depth = 0;              // open containers
  uint64_t outstanding = 1;        // objects announced and not walked yet
  std::array<uint64_t, 257> left;  // per open container: its objects not walked yet (max_depth <= 256)
  void restart() { pos = 0, depth = 0, outstanding = 1; }
};
// scan() resumed: `data` must start with the bytes `progress` has walked.
ScanResult scan(std::span<const uint8_t> data, const DecodeLimits& limits, ScanProgress& progress);

enum class Type { nil, boolean, integer, float_, str, bin, array, map, ext };

// Cursor over bytes holding complete objects (bounds-checked anyway: truncation → DecodeError).
// string_views point into the input bytes.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> data, unsigned max_depth = DecodeLimits{}.max_depth)
      : data_(data), max_depth_(max_depth) {}

  Type peek() const;
  bool at_end() const { return pos_ >= data_.size(); }
  size_t position() const { return pos_; }

  bool try_nil();  // consumes a nil if one is next
  bool read_bool();
  int64_t read_int();           // any integer type that fits int64_t
  double read_number();         // integer or float
  std::string_view read_str();  // str only
  std::span<const uint8_t> read_bin();
  uint32_t read_array();  // returns the element count
  uint32_t read_map();    // returns the pair count
  json read_value();
  void skip();
  std::span<const uint8_t> read_raw();  // the raw bytes of the next object

 private:
  json read_value_at(unsigned depth);
  std::string map_key(unsigned depth);
  uint8_t take_byte();
  uint64_t take_be(int bytes);
  std::span<const uint8_t> take(size_t n);
  [[noreturn]] void mismatch(const char* wanted) const;

  std::span<const uint8_t> data_;
  size_t pos_ = 0;
  unsigned max_depth_;
};

// Decodes exactly one object that must fill `bytes` (tests, tools).
json decode(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});
inline json decode(std::string_view bytes, const DecodeLimits& limits = {}) {
  return decode({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, limits);
}

// Byte stream → complete objects. Partial input is normal (stream socket); objects are handed out
// as spans into the internal buffer, valid until the next prepare()/feed()/clear().
class StreamDecoder {
 public:
  explicit StreamDecoder(DecodeLimits limits = {}) : limits_(limits) {}

  // Writable space at the end of the buffer: at least `min_free` bytes, more while a big object
  // is arriving (doubling with the bytes received, never pre-sized from an announced length).
  std::span<uint8_t> prepare(size_t min_free = 4096);
  void commit(size_t n) { end_ += n; }
  void feed(std::span<const uint8_t> bytes);  // prepare + copy + commit

  // The next complete object, or nullopt when more input is needed. Throws DecodeError.
  std::optional<std::span<const uint8_t>> next();

  size_t buffered() const { return end_ - begin_; }
  void clear() { begin_ = end_ = 0, need_ = 0, progress_.restart(); }
  const DecodeLimits& limits() const { return limits_; }

 private:
  DecodeLimits limits_;
  std::vector<uint8_t> buf_;
  size_t begin_ = 0, end_ = 0;
  size_t need_ = 0;  // don't rescan until this many bytes are buffered
  // Where the scan of the object at begin_ stopped: an object arriving in many reads is walked
  // once, not once per read (each rescan from its start made a big object quadratic).
  ScanProgress progress_;
};

}  // namespace gh::pluginserver::msgpack
