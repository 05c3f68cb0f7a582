#include "conf/yaml_guard.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <istream>
#include <optional>
#include <streambuf>
#include <unordered_map>
#include <vector>

#include "conf/error.h"

namespace gh::conf {

namespace {

// An istream over a string_view: the scan reads the caller's text without copying it.
class ViewBuffer : public std::streambuf {
 public:
  explicit ViewBuffer(std::string_view text) {
    char* begin = const_cast<char*>(text.data());  // read-only use: get area only
    setg(begin, begin, begin + text.size());
  }
};

// Counts and checks the nodes of the first document as the loader will walk them.
class BoundsScanner final : public YAML::EventHandler {
 public:
  BoundsScanner(const std::string& file, const YamlLimits& limits) : file_(file), limits_(limits) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    begin_node(mark, std::string(), 1, 1);
    remember_leaf(anchor, std::string());
  }

  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    // Escapes ("\ud800") can produce what the file's bytes could not.
    if (first_invalid_utf8(value) != value.size()) fail(mark, "invalid UTF-8 in a string");
    begin_node(mark, value, 1, 1);
    remember_leaf(anchor, value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return;  // yaml-cpp reports an undefined anchor itself
    const Anchor& target = it->second;
    if (target.open) fail(mark, "an alias inside the node it refers to (a cycle) is not allowed");
    begin_node(mark, target.scalar, target.nodes, target.height);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  struct Frame {
    bool is_map = false;
    bool expect_key = true;
    YAML::anchor_t anchor = YAML::NullAnchor;
    size_t nodes_before = 0;                    // the node count before this collection was counted
    int depth = 0;                              // 1 = the document's root
    int deepest = 0;                            // the deepest level reached inside, aliases expanded
    std::unordered_map<std::string, int> keys;  // key → line, for duplicates (mappings)
  };
  struct Anchor {
    size_t nodes = 1;
    int height = 1;
    bool open = true;                   // still being read: an alias to it would be a cycle
    std::optional<std::string> scalar;  // a scalar's text (an alias can be a key)
  };

  [[noreturn]] void fail(const YAML::Mark& mark, const std::string& message) const {
    throw ConfigError(file_ + ":" + std::to_string(mark.line + 1) + ": " + message);
  }

  // One node (or an alias's expansion: `nodes` nodes, `height` levels) at the current position.
  // `key_text` is its text when it is a scalar: used when the node is a mapping key.
  void begin_node(const YAML::Mark& mark, const std::optional<std::string>& key_text, size_t nodes,
                  int height) {
    const int depth = static_cast<int>(stack_.size()) + 1;
    const int reach = depth + height - 1;
    if (reach > limits_.max_depth)
      fail(mark, "nested deeper than " + std::to_string(limits_.max_depth) +
                     " levels (aliases expanded): gatehouse's limit for a declarative configuration");
    node_count_ += nodes;
    if (node_count_ > limits_.max_nodes)
      fail(mark, "more than " + std::to_string(limits_.max_nodes) +
                     " YAML nodes (keys, values and list items, aliases expanded): gatehouse's limit for a "
                     "declarative configuration");
    if (stack_.empty()) return;
    Frame& parent = stack_.back();
    parent.deepest = std::max(parent.deepest, reach);
    if (!parent.is_map) return;
    if (parent.expect_key) check_key(parent, mark, key_text);
    parent.expect_key = !parent.expect_key;
  }

  void check_key(Frame& map, const YAML::Mark& mark, const std::optional<std::string>& key_text) {
    if (!key_text) fail(mark, "a mapping key must be a string, not a mapping or a list");
    auto [it, inserted] = map.keys.emplace(*key_text, mark.line + 1);
    if (!inserted)
      fail(mark, "duplicate key '" + *key_text + "' (first at line " + std::to_string(it->second) +
                     "): which one applies would be ambiguous");
  }

  void remember_leaf(YAML::anchor_t anchor, const std::string& text) {
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchor{1, 1, false, text};
  }

  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    begin_node(mark, std::nullopt, 1, 1);
    Frame frame;
    frame.is_map = is_map;
    frame.anchor = anchor;
    frame.nodes_before = node_count_ - 1;
    frame.depth = static_cast<int>(stack_.size()) + 1;
    frame.deepest = frame.depth;
    stack_.push_back(std::move(frame));
    if (anchor != YAML::NullAnchor) anchors_[anchor] = Anchor{};
  }

  void close() {
    if (stack_.empty()) return;
    const size_t nodes_before = stack_.back().nodes_before;
    const int depth = stack_.back().depth, deepest = stack_.back().deepest;
    const YAML::anchor_t anchor = stack_.back().anchor;
    stack_.pop_back();
    if (anchor != YAML::NullAnchor)
      anchors_[anchor] = Anchor{node_count_ - nodes_before, deepest - depth + 1, false, std::nullopt};
    if (!stack_.empty()) stack_.back().deepest = std::max(stack_.back().deepest, deepest);
  }

  const std::string& file_;
  const YamlLimits& limits_;
  size_t node_count_ = 0;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Anchor> anchors_;
};

// The length of the UTF-8 sequence starting at `text[i]`, or 0 when it is not valid there.
size_t utf8_sequence_length(std::string_view text, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // the range allowed for the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // no overlong forms
    if (lead == 0xED) high = 0x9F;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // no overlong forms
    if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (i + length > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return length;
}

}  // namespace

size_t first_invalid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    size_t length = utf8_sequence_length(text, i);
    if (length == 0) return i;
    i += length;
  }
  return text.size();
}

size_t line_of_offset(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + static_cast<long>(offset), '\n'));
}

void check_yaml_bounds(std::string_view text, const std::string& file, const YamlLimits& limits) {
  if (text.size() > limits.max_bytes)
    throw ConfigError(file + ": " + std::to_string(text.size()) + " bytes, more than the " +
                      std::to_string(limits.max_bytes) +
                      " bytes gatehouse accepts for a declarative configuration");
  if (size_t bad = first_invalid_utf8(text); bad != text.size())
    throw ConfigError(file + ":" + std::to_string(line_of_offset(text, bad)) +
                      ": invalid UTF-8 (byte offset " + std::to_string(bad) +
                      "): a declarative configuration must be UTF-8 text");
  ViewBuffer buffer(text);
  std::istream in(&buffer);
  YAML::Parser parser(in);
  BoundsScanner scanner(file, limits);
  parser.HandleNextDocument(scanner);  // only the first document is loaded, as Kong does
}

}  // namespace gh::conf
