#include "pluginserver/msgpack/codec.h"

#include <array>
#include <bit>
#include <cmath>
#include <cstring>

namespace gh::pluginserver::msgpack {

// ---------------------------------------------------------------- Writer

void Writer::be(uint64_t v, int bytes) {
  char tmp[8];
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) tmp[i] = static_cast<char>(v & 0xff);
  out_->append(tmp, static_cast<size_t>(bytes));
}

void Writer::unsigned_integer(uint64_t v) {
  if (v <= 0x7f) {
    byte(static_cast<uint8_t>(v));
  } else if (v <= 0xff) {
    byte(0xcc), be(v, 1);
  } else if (v <= 0xffff) {
    byte(0xcd), be(v, 2);
  } else if (v <= 0xffffffffu) {
    byte(0xce), be(v, 4);
  } else {
    byte(0xcf), be(v, 8);
  }
}

void Writer::integer(int64_t v) {
  if (v >= 0) return unsigned_integer(static_cast<uint64_t>(v));
  auto bits = static_cast<uint64_t>(v);
  if (v >= -32) {
    byte(static_cast<uint8_t>(bits & 0xff));
  } else if (v >= INT8_MIN) {
    byte(0xd0), be(bits, 1);
  } else if (v >= INT16_MIN) {
    byte(0xd1), be(bits, 2);
  } else if (v >= INT32_MIN) {
    byte(0xd2), be(bits, 4);
  } else {
    byte(0xd3), be(bits, 8);
  }
}

void Writer::float64(double v) {
  byte(0xcb), be(std::bit_cast<uint64_t>(v), 8);
}

void Writer::number(double v) {
  // A Lua number that is integral is packed as an integer by lua-MessagePack.
  if (std::isfinite(v) && v == std::trunc(v) && v >= -0x1p63 && v < 0x1p64) {
    if (v < 0) return integer(static_cast<int64_t>(v));
    return unsigned_integer(static_cast<uint64_t>(v));
  }
  float64(v);
}

void Writer::length_prefixed(uint8_t fix_base, uint32_t fix_max, uint8_t tag16, uint8_t tag32, size_t n) {
  if (n <= fix_max) {
    byte(static_cast<uint8_t>(fix_base | n));
  } else if (n <= 0xffff) {
    byte(tag16), be(n, 2);
  } else {
    byte(tag32), be(n, 4);
  }
}

void Writer::str(std::string_view s) {
  length_prefixed(0xa0, 31, 0xda, 0xdb, s.size());  // Kong's string_compat: no str8
  out_->append(s);
}

void Writer::bin(std::span<const uint8_t> b) {
  if (b.size() <= 0xff) {
    byte(0xc4), be(b.size(), 1);
  } else if (b.size() <= 0xffff) {
    byte(0xc5), be(b.size(), 2);
  } else {
    byte(0xc6), be(b.size(), 4);
  }
  out_->append(reinterpret_cast<const char*>(b.data()), b.size());
}

void Writer::array_header(uint32_t n) {
  length_prefixed(0x90, 15, 0xdc, 0xdd, n);
}
void Writer::map_header(uint32_t n) {
  length_prefixed(0x80, 15, 0xde, 0xdf, n);
}

void Writer::value(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::discarded:
      return nil();
    case json::value_t::boolean:
      return boolean(v.get<bool>());
    case json::value_t::number_integer:
      return integer(v.get<int64_t>());
    case json::value_t::number_unsigned:
      return unsigned_integer(v.get<uint64_t>());
    case json::value_t::number_float:
      return number(v.get<double>());
    case json::value_t::string:
      return str(v.get_ref<const std::string&>());
    case json::value_t::binary: {
      const auto& b = v.get_binary();
      return bin(std::span<const uint8_t>(b.data(), b.size()));
    }
    case json::value_t::array:
      array_header(static_cast<uint32_t>(v.size()));
      for (const auto& e : v) value(e);
      return;
    case json::value_t::object:
      if (v.empty()) return array_header(0);  // an empty Lua table is packed as an empty array
      map_header(static_cast<uint32_t>(v.size()));
      for (const auto& [k, e] : v.items()) {
        str(k);
        value(e);
      }
      return;
  }
}

std::string encode(const json& v) {
  std::string out;
  Writer(out).value(v);
  return out;
}

// ---------------------------------------------------------------- object heads

namespace {

// What the first bytes of an object say about it. For str/bin/ext and fixed-size scalars `payload`
// is the number of bytes after the head; for array/map `items` is the number of child objects.
struct Head {
  Type type;
  uint8_t size;  // bytes of tag + length field
  uint64_t payload = 0;
  uint64_t items = 0;
};

uint64_t load_be(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

// Parses the head at `p` (`avail` bytes available, at least 1). Returns false when the length field
// is not complete yet. Throws on the never-used byte 0xc1.
bool parse_head(const uint8_t* p, size_t avail, Head& h) {
  const uint8_t tag = p[0];
  auto with_length = [&](Type t, int len_bytes, uint64_t extra, bool container, uint64_t per_item) {
    h.type = t;
    h.size = static_cast<uint8_t>(1 + len_bytes);
    if (avail < h.size) return false;
    uint64_t n = load_be(p + 1, len_bytes);
    if (container)
      h.items = n * per_item;
    else
      h.payload = n + extra;
    return true;
  };
  auto fixed = [&](Type t, uint64_t payload) {
    h.type = t, h.size = 1, h.payload = payload;
    return true;
  };
  if (tag <= 0x7f || tag >= 0xe0) return fixed(Type::integer, 0);
  if (tag <= 0x8f) return h.type = Type::map, h.size = 1, h.items = 2u * (tag & 0x0f), true;
  if (tag <= 0x9f) return h.type = Type::array, h.size = 1, h.items = tag & 0x0f, true;
  if (tag <= 0xbf) return fixed(Type::str, tag & 0x1f);
  switch (tag) {
    case 0xc0:
      return fixed(Type::nil, 0);
    case 0xc2:
    case 0xc3:
      return fixed(Type::boolean, 0);
    case 0xc4:
      return with_length(Type::bin, 1, 0, false, 0);
    case 0xc5:
      return with_length(Type::bin, 2, 0, false, 0);
    case 0xc6:
      return with_length(Type::bin, 4, 0, false, 0);
    case 0xc7:
      return with_length(Type::ext, 1, 1, false, 0);
    case 0xc8:
      return with_length(Type::ext, 2, 1, false, 0);
    case 0xc9:
      return with_length(Type::ext, 4, 1, false, 0);
    case 0xca:
      return fixed(Type::float_, 4);
    case 0xcb:
      return fixed(Type::float_, 8);
    case 0xcc:
    case 0xd0:
      return fixed(Type::integer, 1);
    case 0xcd:
    case 0xd1:
      return fixed(Type::integer, 2);
    case 0xce:
    case 0xd2:
      return fixed(Type::integer, 4);
    case 0xcf:
    case 0xd3:
      return fixed(Type::integer, 8);
    case 0xd4:
      return fixed(Type::ext, 2);
    case 0xd5:
      return fixed(Type::ext, 3);
    case 0xd6:
      return fixed(Type::ext, 5);
    case 0xd7:
      return fixed(Type::ext, 9);
    case 0xd8:
      return fixed(Type::ext, 17);
    case 0xd9:
      return with_length(Type::str, 1, 0, false, 0);
    case 0xda:
      return with_length(Type::str, 2, 0, false, 0);
    case 0xdb:
      return with_length(Type::str, 4, 0, false, 0);
    case 0xdc:
      return with_length(Type::array, 2, 0, true, 1);
    case 0xdd:
      return with_length(Type::array, 4, 0, true, 1);
    case 0xde:
      return with_length(Type::map, 2, 0, true, 2);
    case 0xdf:
      return with_length(Type::map, 4, 0, true, 2);
    default:
      break;
  }
  throw DecodeError("msgpack: invalid byte 0xc1");
}

}  // namespace

// ---------------------------------------------------------------- scan

ScanResult scan(std::span<const uint8_t> data, const DecodeLimits& limits) {
  ScanProgress progress;
  return scan(data, limits, progress);
}

ScanResult scan(std::span<const uint8_t> data, const DecodeLimits& limits, ScanProgress& progress) {
  // Iterative walk. `outstanding` counts objects announced by container heads but not yet seen;
  // each needs at least one byte, which gives an early lower bound for hostile counts. An object
  // is taken into `progress` only once its head and payload are all there.
  const unsigned max_depth = std::min(limits.max_depth, 256u);
  auto& [pos, depth, outstanding, left] = progress;
  auto too_big = [&](uint64_t bytes) {
    if (bytes > limits.max_message_bytes)
      throw DecodeError("msgpack: object exceeds the " + std::to_string(limits.max_message_bytes) +
                        "-byte message limit");
  };
  while (true) {
    if (pos >= data.size()) return {ScanResult::Status::need_more, pos + outstanding};
    Head h{};
    if (!parse_head(data.data() + pos, data.size() - pos, h))
      return {ScanResult::Status::need_more, pos + h.size + outstanding - 1};
    const uint64_t end = static_cast<uint64_t>(pos) + h.size + h.payload;
    too_big(end + outstanding - 1 + h.items);
    if (end > data.size()) return {ScanResult::Status::need_more, static_cast<size_t>(end + outstanding - 1)};
    if (h.items > 0 && depth + 1 > max_depth)
      throw DecodeError("msgpack: nesting deeper than " + std::to_string(max_depth) + " levels");
    pos = static_cast<size_t>(end);
    --outstanding;
    if (depth > 0) --left[depth];
    if (h.items > 0) {
      left[++depth] = h.items;
      outstanding += h.items;
    }
    while (depth > 0 && left[depth] == 0) --depth;
    if (depth == 0 && outstanding == 0) return {ScanResult::Status::complete, pos};
  }
}

// ---------------------------------------------------------------- Reader

uint8_t Reader::take_byte() {
  if (pos_ >= data_.size()) throw DecodeError("msgpack: truncated object");
  return data_[pos_++];
}

std::span<const uint8_t> Reader::take(size_t n) {
  if (n > data_.size() - pos_) throw DecodeError("msgpack: truncated object");
  auto s = data_.subspan(pos_, n);
  pos_ += n;
  return s;
}

uint64_t Reader::take_be(int bytes) {
  return load_be(take(static_cast<size_t>(bytes)).data(), bytes);
}

namespace {
// The type of every tag byte, computed once: peek() runs several times per decoded value.
// 0xc1 (never used) maps to ext here; peek() refuses it before looking.
constexpr std::array<Type, 256> kTypeOfTag = [] {
  std::array<Type, 256> types{};
  for (unsigned tag = 0; tag < 256; ++tag) {
    if (tag <= 0x7f || tag >= 0xe0)
      types[tag] = Type::integer;
    else if (tag <= 0x8f || tag == 0xde || tag == 0xdf)
      types[tag] = Type::map;
    else if (tag <= 0x9f || tag == 0xdc || tag == 0xdd)
      types[tag] = Type::array;
    else if (tag <= 0xbf || (tag >= 0xd9 && tag <= 0xdb))
      types[tag] = Type::str;
    else if (tag == 0xc0)
      types[tag] = Type::nil;
    else if (tag == 0xc2 || tag == 0xc3)
      types[tag] = Type::boolean;
    else if (tag >= 0xc4 && tag <= 0xc6)
      types[tag] = Type::bin;
    else if (tag == 0xca || tag == 0xcb)
      types[tag] = Type::float_;
    else if (tag >= 0xcc && tag <= 0xd3)
      types[tag] = Type::integer;
    else
      types[tag] = Type::ext;  // 0xc7-0xc9, 0xd4-0xd8 (and 0xc1)
  }
  return types;
}();
}  // namespace

Type Reader::peek() const {
  if (at_end()) throw DecodeError("msgpack: truncated object");
  const uint8_t tag = data_[pos_];
  if (tag == 0xc1) throw DecodeError("msgpack: invalid byte 0xc1");
  return kTypeOfTag[tag];
}

void Reader::mismatch(const char* wanted) const {
  throw DecodeError(std::string("msgpack: expected ") + wanted + " at offset " + std::to_string(pos_));
}

bool Reader::try_nil() {
  if (at_end() || data_[pos_] != 0xc0) return false;
  ++pos_;
  return true;
}

bool Reader::read_bool() {
  if (peek() != Type::boolean) mismatch("a boolean");
  return take_byte() == 0xc3;
}

int64_t Reader::read_int() {
  if (peek() != Type::integer) mismatch("an integer");
  const uint8_t tag = take_byte();
  if (tag <= 0x7f) return tag;
  if (tag >= 0xe0) return static_cast<int8_t>(tag);
  switch (tag) {
    case 0xcc:
      return static_cast<int64_t>(take_be(1));
    case 0xcd:
      return static_cast<int64_t>(take_be(2));
    case 0xce:
      return static_cast<int64_t>(take_be(4));
    case 0xcf: {
      uint64_t v = take_be(8);
      if (v > static_cast<uint64_t>(INT64_MAX)) throw DecodeError("msgpack: integer out of range");
      return static_cast<int64_t>(v);
    }
    case 0xd0:
      return static_cast<int8_t>(take_be(1));
    case 0xd1:
      return static_cast<int16_t>(take_be(2));
    case 0xd2:
      return static_cast<int32_t>(take_be(4));
    default:
      return static_cast<int64_t>(take_be(8));
  }
}

double Reader::read_number() {
  if (peek() == Type::integer) return static_cast<double>(read_int());
  if (peek() != Type::float_) mismatch("a number");
  if (take_byte() == 0xca) return std::bit_cast<float>(static_cast<uint32_t>(take_be(4)));
  return std::bit_cast<double>(take_be(8));
}

std::string_view Reader::read_str() {
  if (at_end()) mismatch("a string");
  Head h{};
  if (!parse_head(&data_[pos_], data_.size() - pos_, h)) throw DecodeError("msgpack: truncated object");
  if (h.type != Type::str) mismatch("a string");
  pos_ += h.size;
  auto s = take(h.payload);
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

std::span<const uint8_t> Reader::read_bin() {
  if (at_end()) mismatch("binary data");
  Head h{};
  if (!parse_head(&data_[pos_], data_.size() - pos_, h)) throw DecodeError("msgpack: truncated object");
  if (h.type != Type::bin) mismatch("binary data");
  pos_ += h.size;
  return take(h.payload);
}

uint32_t Reader::read_array() {
  if (at_end()) mismatch("an array");
  Head h{};
  if (!parse_head(&data_[pos_], data_.size() - pos_, h)) throw DecodeError("msgpack: truncated object");
  if (h.type != Type::array) mismatch("an array");
  pos_ += h.size;
  return static_cast<uint32_t>(h.items);
}

uint32_t Reader::read_map() {
  if (at_end()) mismatch("a map");
  Head h{};
  if (!parse_head(&data_[pos_], data_.size() - pos_, h)) throw DecodeError("msgpack: truncated object");
  if (h.type != Type::map) mismatch("a map");
  pos_ += h.size;
  return static_cast<uint32_t>(h.items / 2);
}

void Reader::skip() {
  read_raw();
}

std::span<const uint8_t> Reader::read_raw() {
  auto rest = data_.subspan(pos_);
  auto r = scan(rest, DecodeLimits{SIZE_MAX, max_depth_});
  if (r.status != ScanResult::Status::complete) throw DecodeError("msgpack: truncated object");
  pos_ += r.size;
  return rest.first(r.size);
}

json Reader::read_value() {
  return read_value_at(0);
}

// Map keys become json object keys: strings as they are; integers, booleans and floats as text
// (lua tables may have such keys); anything else is refused.
std::string Reader::map_key(unsigned depth) {
  switch (peek()) {
    case Type::str:
      return std::string(read_str());
    case Type::bin: {
      auto b = read_bin();
      return std::string(reinterpret_cast<const char*>(b.data()), b.size());
    }
    case Type::integer:
    case Type::float_:
    case Type::boolean:
      return read_value_at(depth).dump();
    default:
      throw DecodeError("msgpack: unsupported map key type at offset " + std::to_string(pos_));
  }
}

json Reader::read_value_at(unsigned depth) {
  switch (peek()) {
    case Type::nil:
      ++pos_;
      return nullptr;
    case Type::boolean:
      return read_bool();
    case Type::integer: {
      const uint8_t tag = data_[pos_];
      if (tag == 0xcf) {  // the one unsigned value that may not fit int64_t
        ++pos_;
        return json(take_be(8));
      }
      int64_t v = read_int();
      if (tag <= 0x7f || (tag >= 0xcc && tag <= 0xcf)) return json(static_cast<uint64_t>(v));
      return json(v);
    }
    case Type::float_:
      return json(read_number());
    case Type::str:
      return json(std::string(read_str()));
    case Type::bin: {
      auto b = read_bin();
      return json::binary(json::binary_t::container_type(b.begin(), b.end()));
    }
    case Type::ext: {  // no Kong peer sends ext; kept as binary with the ext type as subtype
      Head h{};
      if (!parse_head(&data_[pos_], data_.size() - pos_, h)) throw DecodeError("msgpack: truncated object");
      pos_ += h.size;
      auto body = take(h.payload);
      return json::binary(json::binary_t::container_type(body.begin() + 1, body.end()), body[0]);
    }
    case Type::array: {
      if (depth >= max_depth_) throw DecodeError("msgpack: nesting too deep");
      uint32_t n = read_array();
      json arr = json::array();
      if (n > data_.size() - pos_) throw DecodeError("msgpack: truncated object");
      arr.get_ref<json::array_t&>().reserve(n);
      for (uint32_t i = 0; i < n; ++i) arr.push_back(read_value_at(depth + 1));
      return arr;
    }
    case Type::map: {
      if (depth >= max_depth_) throw DecodeError("msgpack: nesting too deep");
      uint32_t n = read_map();
      json obj = json::object();
      for (uint32_t i = 0; i < n; ++i) {
        std::string key = map_key(depth + 1);
        obj[std::move(key)] = read_value_at(depth + 1);
      }
      return obj;
    }
  }
  throw DecodeError("msgpack: unknown type");
}

json decode(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  auto r = scan(bytes, limits);
  if (r.status != ScanResult::Status::complete) throw DecodeError("msgpack: truncated object");
  if (r.size != bytes.size()) throw DecodeError("msgpack: trailing bytes after the object");
  return Reader(bytes, limits.max_depth).read_value();
}

// ---------------------------------------------------------------- StreamDecoder

std::span<uint8_t> StreamDecoder::prepare(size_t min_free) {
  if (begin_ == end_) begin_ = end_ = 0;
  // Room for the rest of the object being received, but growing at most by doubling what has
  // actually arrived: an announced length alone never makes us allocate (or zero) much memory.
  const size_t missing = need_ > buffered() ? need_ - buffered() : 0;
  const size_t want = std::max(min_free, std::min(missing, std::max(buffered(), size_t{64 * 1024})));
  if (buf_.size() - end_ < want) {
    if (begin_ > 0) {  // compact first: the live bytes are usually few
      std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buf_.size() - end_ < want) buf_.resize(end_ + std::max(want, buf_.size()));
  }
  return {buf_.data() + end_, buf_.size() - end_};
}

void StreamDecoder::feed(std::span<const uint8_t> bytes) {
  if (bytes.empty()) return;
  auto space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

std::optional<std::span<const uint8_t>> StreamDecoder::next() {
  if (begin_ == end_ || buffered() < need_) return std::nullopt;
  auto r = scan({buf_.data() + begin_, buffered()}, limits_, progress_);
  if (r.status == ScanResult::Status::need_more) {
    need_ = r.size;
    return std::nullopt;
  }
  std::span<const uint8_t> obj(buf_.data() + begin_, r.size);
  begin_ += r.size;
  need_ = 0;
  progress_.restart();
  return obj;
}

}  // namespace gh::pluginserver::msgpack
