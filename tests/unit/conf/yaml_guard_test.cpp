#include "conf/yaml_guard.h"

#include <gtest/gtest.h>
#include <yaml-cpp/exceptions.h>

#include "conf/declarative.h"
#include "conf/error.h"

namespace gh::conf {
namespace {

std::string bounds_error(const std::string& yaml, const YamlLimits& limits = {}) {
  try {
    check_yaml_bounds(yaml, "kong.yml", limits);
  } catch (const ConfigError& e) {
    return e.what();
  } catch (const YAML::Exception& e) {
    return "YAML: " + e.msg;
  }
  return "(no error)";
}

// Nine levels of ten aliases each: 10^9 nodes once expanded, 600 bytes as text.
std::string billion_laughs() {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int level = 1; level <= 9; ++level) {
    std::string previous = "*a" + std::to_string(level - 1);
    yaml += "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int i = 0; i < 10; ++i) yaml += (i ? ", " : "") + previous;
    yaml += "]\n";
  }
  return yaml;
}

TEST(YamlGuard, AnAliasBombIsRefusedOnTheLineWhereTheLimitIsCrossed) {
  auto error = bounds_error(billion_laughs(), YamlLimits{1u << 20, 100'000, 64});
  EXPECT_NE(error.find("kong.yml:"), std::string::npos) << error;
  EXPECT_NE(error.find("more than 100000 YAML nodes"), std::string::npos) << error;
  EXPECT_NE(error.find("aliases expanded"), std::string::npos) << error;
}

TEST(YamlGuard, AliasesCountAsTheirExpansion) {
  // Root map (1) + key a (1) + list (1) + 3 items = 6; key b (1) + alias (6 - 2 = 4 nodes: the
  // list and its 3 items) = 11 in all.
  const std::string yaml = "a: &l [1, 2, 3]\nb: *l\n";
  EXPECT_EQ(bounds_error(yaml, YamlLimits{1024, 11, 64}), "(no error)");
  EXPECT_NE(bounds_error(yaml, YamlLimits{1024, 10, 64}).find("more than 10 YAML nodes"), std::string::npos);
}

TEST(YamlGuard, DepthCountsAliasedNodesAtTheirNewPlace) {
  const std::string yaml = "deep: &d {a: {b: {c: x}}}\nhere: {there: *d}\n";
  // "here" → {there} → d's 4 levels (map, a's map, b's map, c's value) = 6 levels under the root.
  EXPECT_EQ(bounds_error(yaml, YamlLimits{1024, 1000, 6}), "(no error)");
  auto error = bounds_error(yaml, YamlLimits{1024, 1000, 5});
  EXPECT_NE(error.find("kong.yml:2: nested deeper than 5 levels"), std::string::npos) << error;
}

TEST(YamlGuard, DeepPlainNestingIsRefused) {
  std::string yaml = "x: " + std::string(100, '[') + std::string(100, ']') + "\n";
  EXPECT_NE(bounds_error(yaml).find("nested deeper than 64 levels"), std::string::npos);
}

TEST(YamlGuard, AnAliasInsideTheNodeItNamesIsACycle) {
  auto error = bounds_error("a: &c {b: *c}\n");
  EXPECT_NE(error.find("kong.yml:1: an alias inside the node it refers to"), std::string::npos) << error;
  EXPECT_NE(bounds_error("- &s [1, *s]\n").find("(a cycle)"), std::string::npos);
}

TEST(YamlGuard, DuplicateKeysAreRefusedWithBothLines) {
  auto error = bounds_error("services:\n  - name: a\n    host: x\n    name: b\n");
  EXPECT_EQ(error,
            "kong.yml:4: duplicate key 'name' (first at line 2): which one applies would be ambiguous");
  // The same key in different mappings, or as a value, is fine.
  EXPECT_EQ(bounds_error("- name: a\n- name: a\n- {x: name, name: y}\n"), "(no error)");
  // An alias used as a key counts as its text.
  EXPECT_NE(bounds_error("k: &n name\nm: {name: 1, *n : 2}\n").find("duplicate key 'name'"),
            std::string::npos);
}

TEST(YamlGuard, KeysMustBeScalars) {
  EXPECT_NE(bounds_error("? [a, b]\n: 1\n").find("a mapping key must be a string"), std::string::npos);
  EXPECT_NE(bounds_error("{? {a: 1} : 2}\n").find("a mapping key must be a string"), std::string::npos);
}

TEST(YamlGuard, InvalidUtf8IsRefusedWithItsLine) {
  EXPECT_EQ(bounds_error("a: 1\nb: \"ok\"\nc: \xff\xfe\n"),
            "kong.yml:3: invalid UTF-8 (byte offset 16): a declarative configuration must be UTF-8 text");
  // An escape cannot produce what the bytes could not: yaml-cpp refuses a lone surrogate.
  EXPECT_NE(bounds_error("a: 1\nb: \"\\ud800\"\n").find("YAML: "), std::string::npos);
  EXPECT_EQ(bounds_error("name: \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"\n"), "(no error)");
}

TEST(YamlGuard, Utf8ValidationFollowsRfc3629) {
  EXPECT_EQ(first_invalid_utf8("plain ascii"), 11u);
  EXPECT_EQ(first_invalid_utf8("\xc3\xa9"), 2u);
  EXPECT_EQ(first_invalid_utf8("x\xc0\xaf"), 1u);         // overlong '/'
  EXPECT_EQ(first_invalid_utf8("\xe0\x80\xaf"), 0u);      // overlong, 3 bytes
  EXPECT_EQ(first_invalid_utf8("\xed\xa0\x80"), 0u);      // UTF-16 surrogate
  EXPECT_EQ(first_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(first_invalid_utf8("ab\xe2\x82"), 2u);        // truncated
  EXPECT_EQ(first_invalid_utf8("\xf4\x8f\xbf\xbf"), 4u);  // U+10FFFF itself
  EXPECT_EQ(line_of_offset("a\nb\nc", 4), 3u);
}

TEST(YamlGuard, SizeIsCheckedFirst) {
  auto error = bounds_error(std::string(2000, '#'), YamlLimits{1000, 100, 64});
  EXPECT_EQ(
      error,
      "kong.yml: 2000 bytes, more than the 1000 bytes gatehouse accepts for a declarative configuration");
}

TEST(YamlGuard, OnlyTheFirstDocumentIsScanned) {
  EXPECT_EQ(bounds_error("a: 1\n---\na: 1\na: 2\n"), "(no error)");
}

TEST(YamlGuard, ParseDeclarativeRunsTheGuardBeforeBuildingNodes) {
  std::string yaml =
      "_format_version: \"3.0\"\n" + billion_laughs() + "plugins:\n  - name: p\n    config: {x: *a9}\n";
  try {
    parse_declarative(yaml, "kong.yml");
    FAIL() << "an alias bomb was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("aliases expanded"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace gh::conf
