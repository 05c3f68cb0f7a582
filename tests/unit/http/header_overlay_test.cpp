// HeaderOverlay must give, for any base list and any sequence of edits, the same list and the same
// answers as the edits applied to a copy of the base (what the upstream request did before the
// overlay): order, duplicates, case of the names, replacement in place.
#include "http/header_overlay.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/strings.h"

namespace {

using gh::http::HeaderOverlay;
using gh::http::Headers;
using gh::http::HeaderSink;

class ListSource final : public gh::http::HeaderSource {
 public:
  // `summarized`: names() is the list's (else the default, every name).
  explicit ListSource(const Headers& list, bool summarized = false) : list_(list), summarized_(summarized) {}
  void emit(HeaderSink& sink) const override {
    ++emits;
    for (const auto& h : list_) sink.add(h.name, h.value);
  }
  void emit_named(std::string_view name, HeaderSink& sink) const override {
    for (const auto& h : list_)
      if (gh::iequals(h.name, name)) sink.add(h.name, h.value);
  }
  gh::http::HeaderNameFilter names() const override {
    if (!summarized_) return HeaderSource::names();
    gh::http::HeaderNameFilter names;
    for (const auto& h : list_) names.add(h.name);
    return names;
  }
  mutable int emits = 0;

 private:
  const Headers& list_;
  bool summarized_;
};

class Collect final : public HeaderSink {
 public:
  void add(std::string_view name, std::string_view value) override {
    list.push_back(std::string(name) + ": " + std::string(value));
  }
  std::vector<std::string> list;
};

std::vector<std::string> lines(const Headers& headers) {
  std::vector<std::string> out;
  for (const auto& h : headers) out.push_back(h.name + ": " + h.value);
  return out;
}

std::vector<std::string> lines(const HeaderOverlay& overlay, const ListSource& base) {
  Collect collect;
  overlay.emit(base, collect);
  return collect.list;
}

std::vector<std::string> values(const Headers& headers, std::string_view name) {
  std::vector<std::string> out;
  for (auto v : headers.get_all(name)) out.emplace_back(v);
  return out;
}

TEST(HeaderOverlay, NoEditsWritesTheBaseAsItIs) {
  Headers base;
  base.add("Host", "a");
  base.add("Set-Cookie", "1");
  base.add("set-cookie", "2");
  const ListSource source(base);
  HeaderOverlay overlay;
  overlay.attach(&source);
  EXPECT_EQ(lines(overlay, source), lines(base));
  EXPECT_EQ(overlay.get_all("SET-COOKIE"), (std::vector<std::string>{"1", "2"}));
}

TEST(HeaderOverlay, SetReplacesInPlaceKeepingTheBaseName) {
  Headers base;
  base.add("Accept", "a");
  base.add("X-Dup", "1");
  base.add("Host", "h");
  base.add("x-dup", "2");
  const ListSource source(base);
  HeaderOverlay overlay;
  overlay.attach(&source);
  overlay.add("X-Dup", "3");
  overlay.set("X-DUP", "new");
  EXPECT_EQ(lines(overlay, source), (std::vector<std::string>{"Accept: a", "X-Dup: new", "Host: h"}));
  // Written twice (a retried request): the same list.
  EXPECT_EQ(lines(overlay, source), (std::vector<std::string>{"Accept: a", "X-Dup: new", "Host: h"}));
}

TEST(HeaderOverlay, AssignedListIgnoresTheBase) {
  Headers base;
  base.add("Host", "h");
  const ListSource source(base);
  HeaderOverlay overlay;
  Headers whole;
  whole.add("Host", "rewritten");
  overlay.assign(whole);
  overlay.attach(&source);
  overlay.add("X-A", "1");
  EXPECT_FALSE(overlay.has("x-b"));
  EXPECT_EQ(lines(overlay, source), (std::vector<std::string>{"Host: rewritten", "X-A: 1"}));
  EXPECT_EQ(source.emits, 0);
}

// Random bases and edit sequences against the same edits on a copy (http::Headers' semantics).
TEST(HeaderOverlay, AgreesWithEditingACopy) {
  std::mt19937 random(20261207);
  const std::vector<std::string> names = {"Host", "host", "X-A", "x-a", "X-B", "Set-Cookie", "Via", "x-c"};
  auto pick_name = [&] { return names[random() % names.size()]; };
  for (int round = 0; round < 6000; ++round) {
    Headers base;
    const int base_size = static_cast<int>(random() % 6);
    for (int i = 0; i < base_size; ++i) base.add(pick_name(), "b" + std::to_string(i));
    const ListSource source(base, round % 2 == 1);  // every other base summarizes its names
    HeaderOverlay overlay;
    overlay.attach(&source);
    Headers copy = base;
    const int edits = static_cast<int>(random() % 8);
    for (int i = 0; i < edits; ++i) {
      const std::string name = pick_name();
      const std::string value = "e" + std::to_string(i);
      switch (random() % 4) {
        case 0:
          overlay.add(name, value);
          copy.add(name, value);
          break;
        case 1:
          overlay.set(name, value);
          copy.set(name, value);
          break;
        case 2:
          overlay.remove(name);
          copy.remove(name);
          break;
        default:  // set_header of the PDK: remove, then add
          overlay.remove(name);
          overlay.add(name, value);
          copy.remove(name);
          copy.add(name, value);
      }
      const std::string asked = pick_name();
      ASSERT_EQ(overlay.has(asked), copy.has(asked)) << round;
      ASSERT_EQ(overlay.get_all(asked), values(copy, asked)) << round;
    }
    ASSERT_EQ(lines(overlay, source), lines(copy)) << round;
  }
}

}  // namespace
