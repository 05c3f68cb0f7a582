// The codec on its own: Kong's byte choices for every type and length boundary, decoding of every
// MessagePack type, streaming input in arbitrary pieces, limits, and garbage.
#include <random>

#include "test_support.h"

namespace gh::pluginserver::msgpack {
namespace {

using test::bytes_of;
using test::from_hex;
using test::hex;
using test::strict_equal;

std::string enc(const json& v) {
  return hex(encode(v));
}

TEST(Writer, ScalarsAsKongPacksThem) {
  EXPECT_EQ(enc(nullptr), "c0");
  EXPECT_EQ(enc(true), "c3");
  EXPECT_EQ(enc(false), "c2");
  EXPECT_EQ(enc(1.1), "cb3ff199999999999a");
  EXPECT_EQ(enc(7.5), "cb401e000000000000");
  EXPECT_EQ(enc(2.0), "02");  // integral Lua numbers are integers
  EXPECT_EQ(enc(-3.0), "fd");
  EXPECT_EQ(enc(1e300), "cb7e37e43c8800759c");  // integral but beyond 64 bits: float64
  EXPECT_EQ(enc(0.5), "cb3fe0000000000000");
}

TEST(Writer, IntegerBoundaries) {
  EXPECT_EQ(enc(0), "00");
  EXPECT_EQ(enc(127), "7f");
  EXPECT_EQ(enc(128), "cc80");
  EXPECT_EQ(enc(255), "ccff");
  EXPECT_EQ(enc(256), "cd0100");
  EXPECT_EQ(enc(53211), "cdcfdb");
  EXPECT_EQ(enc(65535), "cdffff");
  EXPECT_EQ(enc(65536), "ce00010000");
  EXPECT_EQ(enc(4294967295LL), "ceffffffff");
  EXPECT_EQ(enc(4294967296LL), "cf0000000100000000");
  EXPECT_EQ(enc(UINT64_MAX), "cfffffffffffffffff");
  EXPECT_EQ(enc(-1), "ff");
  EXPECT_EQ(enc(-32), "e0");
  EXPECT_EQ(enc(-33), "d0df");
  EXPECT_EQ(enc(-128), "d080");
  EXPECT_EQ(enc(-129), "d1ff7f");
  EXPECT_EQ(enc(-32768), "d18000");
  EXPECT_EQ(enc(-32769), "d2ffff7fff");
  EXPECT_EQ(enc(INT32_MIN), "d280000000");
  EXPECT_EQ(enc(static_cast<int64_t>(INT32_MIN) - 1), "d3ffffffff7fffffff");
  EXPECT_EQ(enc(INT64_MIN), "d38000000000000000");
}

TEST(Writer, StringsNeverUseStr8) {
  EXPECT_EQ(enc(""), "a0");
  EXPECT_EQ(hex(encode(std::string(31, 'x'))).substr(0, 2), "bf");
  EXPECT_EQ(hex(encode(std::string(32, 'x'))).substr(0, 6), "da0020");
  EXPECT_EQ(hex(encode(std::string(255, 'x'))).substr(0, 6), "da00ff");
  EXPECT_EQ(hex(encode(std::string(256, 'x'))).substr(0, 6), "da0100");
  EXPECT_EQ(hex(encode(std::string(65535, 'x'))).substr(0, 6), "daffff");
  EXPECT_EQ(hex(encode(std::string(65536, 'x'))).substr(0, 10), "db00010000");
  EXPECT_EQ(encode(std::string(65536, 'x')).size(), 65536u + 5);
}

TEST(Writer, BinaryUsesBinFamily) {
  auto bin = [](size_t n) { return json::binary(json::binary_t::container_type(n, 0x41)); };
  EXPECT_EQ(enc(bin(0)), "c400");
  EXPECT_EQ(hex(encode(bin(255))).substr(0, 4), "c4ff");
  EXPECT_EQ(hex(encode(bin(256))).substr(0, 6), "c50100");
  EXPECT_EQ(hex(encode(bin(65535))).substr(0, 6), "c5ffff");
  EXPECT_EQ(hex(encode(bin(65536))).substr(0, 10), "c600010000");
  // the same text as str is str, not bin
  EXPECT_EQ(enc("AB"), "a24142");
  EXPECT_EQ(enc(json::binary({0x41, 0x42})), "c4024142");
}

TEST(Writer, ContainersAndEmptyTables) {
  EXPECT_EQ(enc(json::array()), "90");
  EXPECT_EQ(enc(json::object()), "90");  // an empty Lua table is an empty array
  EXPECT_EQ(enc(json::array({1, "a"})), "9201a161");
  EXPECT_EQ(enc(json{{"a", 1}}), "81a16101");
  json a15 = json::array(), a16 = json::array();
  for (int i = 0; i < 15; ++i) a15.push_back(i);
  for (int i = 0; i < 16; ++i) a16.push_back(i);
  EXPECT_EQ(enc(a15).substr(0, 2), "9f");
  EXPECT_EQ(enc(a16).substr(0, 6), "dc0010");
  json m16 = json::object();
  for (int i = 0; i < 16; ++i) m16["k" + std::to_string(i)] = i;
  EXPECT_EQ(enc(m16).substr(0, 6), "de0010");
  std::string out;
  Writer w(out);
  w.map_header(0);
  w.array_header(70000);
  w.map_header(70000);
  EXPECT_EQ(hex(out), "80dd00011170df00011170");
}

TEST(Decode, EveryType) {
  auto dec = [](std::string_view h) { return decode(from_hex(h)); };
  EXPECT_TRUE(dec("c0").is_null());
  EXPECT_EQ(dec("c3"), true);
  EXPECT_EQ(dec("7f").get<int64_t>(), 127);
  EXPECT_EQ(dec("e0").get<int64_t>(), -32);
  EXPECT_EQ(dec("d0df").get<int64_t>(), -33);
  EXPECT_EQ(dec("cd0100").get<int64_t>(), 256);
  EXPECT_EQ(dec("d1ff7f").get<int64_t>(), -129);
  EXPECT_EQ(dec("d2ffff7fff").get<int64_t>(), -32769);
  EXPECT_EQ(dec("d38000000000000000").get<int64_t>(), INT64_MIN);
  EXPECT_EQ(dec("cfffffffffffffffff").get<uint64_t>(), UINT64_MAX);
  EXPECT_TRUE(dec("cb3ff199999999999a").is_number_float());
  EXPECT_DOUBLE_EQ(dec("ca3fc00000").get<double>(), 1.5);  // float32
  EXPECT_EQ(dec("d903616263"), "abc");                     // str8 (servers may send it)
  EXPECT_EQ(dec("da0003616263"), "abc");
  EXPECT_EQ(dec("db00000003616263"), "abc");
  EXPECT_TRUE(dec("c4024142").is_binary());
  EXPECT_TRUE(dec("c500024142").is_binary());
  EXPECT_TRUE(dec("c60000000141").is_binary());
  EXPECT_TRUE(dec("90").is_array());
  EXPECT_TRUE(dec("80").is_object());  // empty map stays an object when decoding
  EXPECT_EQ(dec("dc0001c3"), json::array({true}));
  EXPECT_EQ(dec("df00000001a161c2"), (json{{"a", false}}));
  json ext = dec("d4050a");  // fixext1 type 5
  ASSERT_TRUE(ext.is_binary());
  EXPECT_EQ(ext.get_binary().subtype(), 5);
  EXPECT_EQ(ext.get_binary().size(), 1u);
  EXPECT_EQ(dec("c703ff010203").get_binary().size(), 3u);  // ext8
  EXPECT_EQ(dec("8101c3"), (json{{"1", true}}));           // integer keys become text
  EXPECT_THROW(dec("c1"), DecodeError);
  EXPECT_THROW(dec("81c0c3"), DecodeError);  // nil key
  EXPECT_THROW(dec("92c3"), DecodeError);    // truncated
  EXPECT_THROW(dec("c3c3"), DecodeError);    // trailing bytes
}

TEST(Decode, RoundTripKeepsTypes) {
  json v = {{"i", -5},
            {"u", 300},
            {"f", 1.25},
            {"s", std::string(40, 'z')},
            {"b", json::binary({0, 255})},
            {"a", json::array()},
            {"n", nullptr},
            {"m", {{"x", {1, 2}}}}};
  std::string why;
  EXPECT_TRUE(strict_equal(decode(encode(v)), v, &why)) << why;
}

// Reader::peek answers from a table of tag bytes: it must name the type read_value decodes, for
// every tag (zeros after the tag make a valid object of each kind: empty lengths, 0 elements).
TEST(Reader, PeekNamesTheTypeOfEveryTag) {
  auto type_of = [](const json& v) {
    switch (v.type()) {
      case json::value_t::null:
        return Type::nil;
      case json::value_t::boolean:
        return Type::boolean;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
        return Type::integer;
      case json::value_t::number_float:
        return Type::float_;
      case json::value_t::string:
        return Type::str;
      case json::value_t::binary:
        return v.get_binary().has_subtype() ? Type::ext : Type::bin;
      case json::value_t::array:
        return Type::array;
      default:
        return Type::map;
    }
  };
  for (unsigned tag = 0; tag < 256; ++tag) {
    std::string data(64, '\0');
    data[0] = static_cast<char>(tag);
    Reader r(bytes_of(data));
    if (tag == 0xc1) {
      EXPECT_THROW(r.peek(), DecodeError);
      continue;
    }
    const Type peeked = r.peek();
    EXPECT_EQ(peeked, type_of(r.read_value())) << "tag 0x" << std::hex << tag;
  }
}

TEST(StreamDecoder, ObjectsArriveInAnyPieces) {
  std::string stream = encode(json::array({1, "hello", json::binary({1, 2, 3})})) + encode(json{{"k", 2.5}}) +
                       encode(std::string(70000, 'q'));
  for (size_t piece : {1u, 2u, 3u, 7u, 4096u, 100000u}) {
    StreamDecoder d;
    std::vector<json> got;
    for (size_t i = 0; i < stream.size(); i += piece) {
      d.feed(bytes_of(std::string_view(stream).substr(i, piece)));
      while (auto obj = d.next()) got.push_back(decode(*obj));
    }
    ASSERT_EQ(got.size(), 3u) << "piece " << piece;
    EXPECT_EQ(got[0][1], "hello");
    EXPECT_EQ(got[1]["k"], 2.5);
    EXPECT_EQ(got[2].get<std::string>().size(), 70000u);
    EXPECT_EQ(d.buffered(), 0u);
  }
}

// A scan resumed from its progress answers as a scan from the first byte, at every point the
// bytes can stop (inside a head's length field, a payload, a nested container), and walks no
// byte twice: its progress stops at the end of the last whole head or payload it was given.
TEST(Scan, ResumedFromItsProgressAnswersAsAFreshScanAndWalksEachByteOnce) {
  json items = json::array();
  for (int i = 0; i < 40; ++i)
    items.push_back(json::array({i * 300, std::string(static_cast<size_t>(i) * 3, 's'), json{{"k", -i}}}));
  const std::string object =
      encode(json{{"items", items}, {"bin", json::binary(std::vector<uint8_t>(300, 7))}});
  const auto bytes = bytes_of(object);
  const DecodeLimits limits;
  ScanProgress progress;
  size_t walked_before = 0;
  for (size_t have = 0; have <= bytes.size(); ++have) {
    const auto given = bytes.first(have);
    const ScanResult fresh = scan(given, limits);
    const ScanResult resumed = scan(given, limits, progress);
    ASSERT_EQ(resumed.status, fresh.status) << "after " << have << " bytes";
    ASSERT_EQ(resumed.size, fresh.size) << "after " << have << " bytes";
    ASSERT_LE(progress.pos, have);
    ASSERT_GE(progress.pos, walked_before) << "walked back";
    walked_before = progress.pos;
  }
  EXPECT_EQ(progress.pos, bytes.size());
  // Byte by byte, each head and payload was taken once: the walk ended where a single scan ends.
  EXPECT_EQ(scan(bytes, limits).size, bytes.size());
}

// The stream decoder keeps the progress of the object arriving, and starts afresh for the next.
TEST(StreamDecoder, ABigObjectInSmallPiecesThenTheNextOne) {
  json items = json::array();
  for (int i = 0; i < 2000; ++i) items.push_back(std::string(40, static_cast<char>('a' + i % 26)));
  const std::string stream = encode(items) + encode(json::array({1, 2})) + encode("end");
  StreamDecoder d;
  std::vector<json> got;
  for (size_t i = 0; i < stream.size(); i += 5) {
    d.feed(bytes_of(std::string_view(stream).substr(i, 5)));
    while (auto obj = d.next()) got.push_back(decode(*obj));
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], items);
  EXPECT_EQ(got[1], json::array({1, 2}));
  EXPECT_EQ(got[2], "end");
  d.feed(bytes_of(from_hex("92c0")));  // a partial array, then clear(): the next object starts afresh
  EXPECT_FALSE(d.next());
  d.clear();
  d.feed(bytes_of(from_hex("c3")));
  auto obj = d.next();
  ASSERT_TRUE(obj);
  EXPECT_EQ(decode(*obj), true);
}

TEST(StreamDecoder, HostileLengthsFailBeforeTheBytesArrive) {
  DecodeLimits limits;
  limits.max_message_bytes = 1 << 20;
  for (const char* h :
       {"dbffffffff", "c6ffffffff", "ddffffffff", "dfffffffff", "94dbffffffff", "c9ffffffff01"}) {
    StreamDecoder d(limits);
    d.feed(bytes_of(from_hex(h)));
    EXPECT_THROW(d.next(), DecodeError) << h;
  }
  // within the limit, a big announced string simply waits for its bytes, without reading them all.
  StreamDecoder d(limits);
  d.feed(bytes_of(from_hex("db00001000")));
  EXPECT_FALSE(d.next());
  EXPECT_GE(d.prepare(1).size(), 4096u - 5);  // buffer sized for the rest of the announced object
  // ...but a big announced object does not make the buffer big before its bytes arrive.
  StreamDecoder d2;                           // default limit 64 MiB
  d2.feed(bytes_of(from_hex("db03c00000")));  // a 60 MiB string follows
  EXPECT_FALSE(d2.next());
  EXPECT_LE(d2.prepare(1).size(), 128u * 1024);
}

TEST(StreamDecoder, DepthLimit) {
  DecodeLimits limits;
  limits.max_depth = 8;
  std::string deep(9, '\x91');
  deep += '\xc0';
  StreamDecoder d(limits);
  d.feed(bytes_of(deep));
  EXPECT_THROW(d.next(), DecodeError);
  std::string ok(8, '\x91');
  ok += '\xc0';
  StreamDecoder d2(limits);
  d2.feed(bytes_of(ok));
  EXPECT_TRUE(d2.next());
  // a deep nesting of 1 million levels is refused without recursion
  StreamDecoder d3;
  d3.feed(bytes_of(std::string(1'000'000, '\x91')));
  EXPECT_THROW(d3.next(), DecodeError);
}

// Random and truncated garbage never crashes, never over-reads (ASan), never allocates hugely:
// each input either decodes, asks for more, or throws DecodeError.
TEST(StreamDecoder, RandomAndTruncatedGarbage) {
  std::mt19937 rng(12345);
  DecodeLimits limits;
  limits.max_message_bytes = 1 << 16;
  std::vector<std::string> seeds;
  for (const auto& name : test::mp_transcripts())
    for (const auto& line : test::load_transcript(name))
      if (!line.bytes.empty()) seeds.push_back(line.bytes);
  ASSERT_FALSE(seeds.empty());
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    if (round % 2 == 0) {  // a mutated real message, maybe truncated
      input = seeds[rng() % seeds.size()];
      for (int flips = rng() % 4; flips >= 0; --flips) input[rng() % input.size()] = static_cast<char>(rng());
      input.resize(rng() % (input.size() + 1));
    } else {  // pure noise
      input.resize(rng() % 64);
      for (auto& c : input) c = static_cast<char>(rng());
    }
    StreamDecoder d(limits);
    try {
      d.feed(bytes_of(input));
      while (auto obj = d.next()) (void)Reader(*obj).read_value();
    } catch (const DecodeError&) {
    }
    try {
      (void)decode(input, limits);
    } catch (const DecodeError&) {
    }
  }
}

}  // namespace
}  // namespace gh::pluginserver::msgpack
