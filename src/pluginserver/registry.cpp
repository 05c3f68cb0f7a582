#include "pluginserver/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <stdexcept>

#include "common/log.h"
#include "common/strings.h"
#include "pluginserver/process.h"
#include "pluginserver/schema.h"

namespace gh::pluginserver {

namespace {

using nlohmann::json;

constexpr std::string_view kKnownPhases[] = {"certificate", "rewrite", "access",
                                             "response",    "preread", "log"};

// Parses the first JSON value starting at `text` and ignores whatever follows it (log noise).
bool parse_json_prefix(std::string_view text, json& out) {
  nlohmann::detail::json_sax_dom_parser<json> sax(out, false);
  return json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, false) &&
         !out.is_discarded();
}

bool is_plugin_table(const json& value) {
  const json* list = &value;
  if (value.is_object()) {
    if (!value.contains("Plugins")) return false;
    list = &value["Plugins"];
  }
  if (!list->is_array()) return false;
  for (const auto& entry : *list)
    if (!entry.is_object()) return false;
  return true;
}

// What a parse from a '[' or '{' of the output would give: known without parsing once an earlier
// parse has read that bracket as a token (see TableScan).
enum class Verdict : uint8_t { unknown, not_a_table, table };

// A character iterator that remembers the last character the JSON lexer took. When the parser
// reports the start of an array or object, that character is its bracket: the lexer reads nothing
// after a bracket before returning it.
struct TrackedChar {
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  const char* at = nullptr;
  const char** last_taken = nullptr;

  reference operator*() const {
    *last_taken = at;
    return *at;
  }
  TrackedChar& operator++() {
    ++at;
    return *this;
  }
  TrackedChar operator++(int) {
    TrackedChar before = *this;
    ++at;
    return before;
  }
  bool operator==(const TrackedChar& other) const { return at == other.at; }
};

// A SAX pass over one JSON value that gives a verdict for every array and object it reads, not
// only the first: a parse starting at an inner bracket would read the same tokens from there, so
// its value ends where this pass closes the container, and fails where this pass fails while the
// container is open. The verdict is is_plugin_table's, worked out from the events (an array of
// objects only; an object whose last "Plugins" value is such an array).
class TableScan {
 public:
  TableScan(const char* text_begin, const char* const& last_taken, std::vector<Verdict>& verdicts)
      : text_begin_(text_begin), last_taken_(last_taken), verdicts_(verdicts) {}

  bool null() { return value_done(false, false); }
  bool boolean(bool) { return value_done(false, false); }
  bool number_integer(json::number_integer_t) { return value_done(false, false); }
  bool number_unsigned(json::number_unsigned_t) { return value_done(false, false); }
  bool number_float(json::number_float_t, const json::string_t&) { return value_done(false, false); }
  bool string(json::string_t&) { return value_done(false, false); }
  bool binary(json::binary_t&) { return value_done(false, false); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool key(json::string_t& name) {
    open_.back().at_plugins_key = name == "Plugins";
    return true;
  }
  bool end_object() {
    const Frame object = close();
    settle(object, object.has_plugins && object.plugins_are_table);
    return value_done(true, false);
  }
  bool end_array() {
    const Frame array = close();
    settle(array, array.only_objects);
    return value_done(false, array.only_objects);
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

  // After a failed parse: a parse from a container still open fails at the same token.
  void fail_open_containers() {
    for (const Frame& frame : open_) settle(frame, false);
    open_.clear();
  }

 private:
  struct Frame {
    std::size_t start;
    bool is_object;
    bool only_objects = true;        // array: every element so far is an object
    bool at_plugins_key = false;     // object: the value being read is a "Plugins" value
    bool has_plugins = false;        // object
    bool plugins_are_table = false;  // object: the last "Plugins" value is an array of objects
  };

  bool open(bool is_object) {
    if (!open_.empty() && !open_.back().is_object && !is_object) open_.back().only_objects = false;
    open_.push_back(Frame{static_cast<std::size_t>(last_taken_ - text_begin_), is_object});
    return true;
  }
  Frame close() {
    Frame frame = open_.back();
    open_.pop_back();
    return frame;
  }
  void settle(const Frame& frame, bool table) {
    verdicts_[frame.start] = table ? Verdict::table : Verdict::not_a_table;
  }
  // A value (scalar, or a container just closed) read inside the innermost open container.
  bool value_done(bool is_object, bool is_array_of_objects) {
    if (open_.empty()) return true;
    Frame& parent = open_.back();
    if (!parent.is_object && !is_object) parent.only_objects = false;
    if (parent.is_object && parent.at_plugins_key) {
      parent.has_plugins = true;
      parent.plugins_are_table = is_array_of_objects;
    }
    return true;
  }

  const char* text_begin_;
  const char* const& last_taken_;
  std::vector<Verdict>& verdicts_;
  std::vector<Frame> open_;
};

// Parses the JSON value at `start` (a bracket) for the verdicts of every container it reads.
void learn_verdicts(std::string_view text, std::size_t start, std::vector<Verdict>& verdicts) {
  const char* last_taken = text.data();
  TableScan scan(text.data(), last_taken, verdicts);
  TrackedChar first{text.data() + start, &last_taken}, end{text.data() + text.size(), &last_taken};
  if (!json::sax_parse(first, end, &scan, json::input_format_t::json, false)) scan.fail_open_containers();
}

// Candidate starts: '[' or '{' opening a line (after blanks) first, then anywhere.
std::vector<std::size_t> candidate_starts(std::string_view text) {
  std::vector<std::size_t> line_starts, others;
  bool at_line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '[' || c == '{') (at_line_start ? line_starts : others).push_back(i);
    if (c == '\n')
      at_line_start = true;
    else if (c != ' ' && c != '\t' && c != '\r')
      at_line_start = false;
  }
  line_starts.insert(line_starts.end(), others.begin(), others.end());
  return line_starts;
}

std::string version_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return "";  // Python's default `version = None`
}

}  // namespace

PluginInfo parse_plugin_info(const json& info) {
  PluginInfo plugin;
  if (!info.is_object()) throw std::runtime_error("plugin info is not an object");
  auto name = info.find("Name");
  if (name == info.end() || !name->is_string() || name->get<std::string>().empty())
    throw std::runtime_error("plugin info without a Name: " + info.dump().substr(0, 200));
  plugin.name = name->get<std::string>();
  plugin.version = version_text(info.value("Version", json()));
  if (auto p = info.find("Priority"); p != info.end() && !p->is_null()) {
    // Whole and within int: a priority past it would not convert (dump_fuzz found 9.3e78).
    const double priority = p->is_number() ? p->get<double>() : 0.5;
    if (!std::isfinite(priority) || std::floor(priority) != priority ||
        priority < static_cast<double>(std::numeric_limits<int>::min()) ||
        priority > static_cast<double>(std::numeric_limits<int>::max()))
      throw std::runtime_error(
          "Plugin \"" + plugin.name +
          "\" cannot be loaded because its PRIORITY field is not a valid integer number");
    plugin.priority = static_cast<int>(priority);
  }
  if (auto phases = info.find("Phases"); phases != info.end() && phases->is_array()) {
    for (const auto& phase : *phases) {
      if (!phase.is_string()) continue;
      auto text = phase.get<std::string>();
      if (std::find(std::begin(kKnownPhases), std::end(kKnownPhases), text) == std::end(kKnownPhases))
        spdlog::warn("[pluginserver] plugin {} reports unknown phase '{}' (ignored by the gateway)",
                     plugin.name, text);
      plugin.phases.push_back(std::move(text));
    }
  }
  plugin.schema = info.value("Schema", json());
  if (!plugin.schema.is_object()) {
    // Python/JS default Schema is []: the plugin takes no configuration.
    plugin.schema = {
        {"name", plugin.name},
        {"fields", json::array({{{"config", {{"type", "record"}, {"fields", json::array()}}}}})}};
  }
  return plugin;
}

Dump parse_dump(std::string_view raw_output) {
  const std::string output = strip_ansi(raw_output);
  json table;
  bool found = false;
  // Each candidate's parse used to run to the end of the output ('[' repeated: quadratic); a
  // candidate an earlier parse has read as a token is decided without parsing again, so no byte
  // is read by more than two scans (a bracket inside a string of one starts the other) and the
  // table's own parse.
  std::vector<Verdict> verdicts(output.size(), Verdict::unknown);
  for (std::size_t start : candidate_starts(output)) {
    if (verdicts[start] == Verdict::unknown) learn_verdicts(output, start, verdicts);
    if (verdicts[start] == Verdict::not_a_table) continue;
    json value;
    if (parse_json_prefix(std::string_view(output).substr(start), value) && is_plugin_table(value)) {
      table = std::move(value);
      found = true;
      break;
    }
  }
  if (!found) throw std::runtime_error("no plugin table (JSON array or {\"Plugins\": [...]}) in the output");

  Dump dump;
  const json* list = &table;
  if (table.is_object()) {
    if (auto p = table.find("Protocol"); p != table.end() && p->is_string() && !p->get<std::string>().empty())
      dump.protocol = p->get<std::string>();
    if (auto p = table.find("Protocols"); p != table.end() && p->is_array())
      for (const auto& offered : *p)
        if (offered.is_string()) dump.protocols.push_back(offered.get<std::string>());
    list = &table["Plugins"];
  }
  for (const auto& entry : *list) {
    PluginInfo plugin = parse_plugin_info(entry);
    plugin.protocol = dump.protocol;
    dump.plugins.push_back(std::move(plugin));
  }
  return dump;
}

bool Registry::add(PluginInfo plugin) {
  if (const PluginInfo* existing = find(plugin.name)) {
    spdlog::error("[pluginserver] Duplicate plugin name [{}] by {} and {}; the one from {} is ignored",
                  plugin.name, existing->server, plugin.server, plugin.server);
    return false;
  }
  plugins_.push_back(std::move(plugin));
  return true;
}

void Registry::add_server(ServerConfig server) {
  servers_.push_back(std::move(server));
}

const PluginInfo* Registry::find(std::string_view name) const {
  for (const auto& p : plugins_)
    if (p.name == name) return &p;
  return nullptr;
}

const ServerConfig* Registry::server(std::string_view name) const {
  for (const auto& s : servers_)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<const PluginInfo*> Registry::plugins_of(std::string_view server) const {
  std::vector<const PluginInfo*> out;
  for (const auto& p : plugins_)
    if (p.server == server) out.push_back(&p);
  return out;
}

namespace {

// The first lines of a failed command's output, for the error message.
std::string first_lines(const CommandResult& result, std::size_t max_lines = 5) {
  std::string text =
      strip_ansi(result.out + (result.out.empty() || result.err.empty() ? "" : "\n") + result.err);
  std::string out;
  std::size_t count = 0;
  for (auto& line : split_list(text, '\n')) {
    if (count++ == max_lines) {
      out += "\n  ...";
      break;
    }
    out += "\n  " + (line.size() > 200 ? line.substr(0, 200) + "..." : line);
  }
  return out.empty() ? " (no output)" : out;
}

std::string query_failure(const ServerConfig& server, const CommandResult& result, const std::string& why) {
  return "query command for pluginserver '" + server.name + "' (" + *server.query_cmd + ") " + why +
         "; its output:" + first_lines(result);
}

// The protocol to speak: the dump's Protocol, or Gatehouse:1 when "Protocols" offers it
// (docs/protocol.md), unless pluginserver_<name>_protocol names another one the server offers.
std::string chosen_protocol(const ServerConfig& server, const Dump& dump) {
  auto offered = [&](const std::string& name) {
    return name == dump.protocol ||
           std::find(dump.protocols.begin(), dump.protocols.end(), name) != dump.protocols.end();
  };
  if (server.protocol == "auto") return offered("Gatehouse:1") ? "Gatehouse:1" : dump.protocol;
  if (offered(server.protocol)) return server.protocol;
  spdlog::warn("[pluginserver] {}_protocol = {}: not offered by the server; using {}",
               property_prefix(server.name), server.protocol, dump.protocol);
  return dump.protocol;
}

void query_server(const ServerConfig& server, Registry& registry) {
  CommandResult result = run_command(split_command(*server.query_cmd), server.query_timeout);
  if (result.timed_out)
    throw std::runtime_error(query_failure(
        server, result, "timed out after " + std::to_string(server.query_timeout.count()) + "ms"));
  if (!result.succeeded())
    throw std::runtime_error(query_failure(server, result, describe_exit(result.wait_status)));
  Dump dump;
  try {
    dump = parse_dump(result.out);
  } catch (const std::exception& e) {
    throw std::runtime_error(query_failure(server, result, e.what()));
  }
  if (dump.plugins.empty()) spdlog::warn("[pluginserver] pluginserver '{}' reports no plugins", server.name);
  if (dump.protocol != "MsgPack:1" && dump.protocol != "ProtoBuf:1")
    spdlog::warn("[pluginserver] Unknown protocol implementation: {} (pluginserver '{}')", dump.protocol,
                 server.name);
  const std::string protocol = chosen_protocol(server, dump);
  for (auto& plugin : dump.plugins) {
    plugin.server = server.name;
    plugin.protocol = protocol;
    spdlog::info("[pluginserver] loading protocol {} for plugin {}", plugin.protocol, plugin.name);
    registry.add(std::move(plugin));
  }
}

// Legacy go-pluginserver: info is asked per plugin name, as MessagePack.
bool query_legacy_plugin(const ServerConfig& server, const std::string& name, Registry& registry) {
  CommandResult result = run_command(
      {server.legacy_exe, "-plugins-directory", server.legacy_plugins_dir, "-dump-plugin-info", name},
      server.query_timeout);
  if (!result.succeeded() || result.out.empty()) {
    spdlog::debug("[pluginserver] {} does not provide {}: {}", server.name, name,
                  describe_exit(result.wait_status));
    return false;
  }
  json info = json::from_msgpack(result.out, false, false);
  if (info.is_discarded())
    throw std::runtime_error(query_failure(server, result, "printed no MessagePack plugin info"));
  PluginInfo plugin = parse_plugin_info(info);
  plugin.server = server.name;
  plugin.protocol = "MsgPack:1";
  return registry.add(std::move(plugin));
}

}  // namespace

Registry query_servers(const std::vector<ServerConfig>& servers, const std::vector<std::string>& names) {
  Registry registry;
  spdlog::info("[pluginserver] loading external plugins info");
  for (const auto& server : servers) {
    registry.add_server(server);
    if (server.query_cmd) query_server(server, registry);
  }
  for (const auto& name : names) {
    if (registry.find(name)) continue;
    for (const auto& server : servers)
      if (server.legacy_go && query_legacy_plugin(server, name, registry)) break;
  }
  spdlog::info("[pluginserver] loaded #{} external plugins info", registry.all().size());
  return registry;
}

void check_enabled(const Registry& registry, const std::vector<std::string>& enabled,
                   const std::vector<std::string>& native) {
  for (const auto& name : enabled)
    if (!registry.find(name) && std::find(native.begin(), native.end(), name) == native.end())
      throw std::runtime_error(name + " plugin is enabled but not installed");
}

Registry discover(const std::vector<ServerConfig>& servers, const std::vector<std::string>& enabled,
                  const std::vector<std::string>& native) {
  std::vector<std::string> external;
  for (const auto& name : enabled)
    if (std::find(native.begin(), native.end(), name) == native.end()) external.push_back(name);
  Registry registry = query_servers(servers, external);
  check_enabled(registry, enabled, native);
  return registry;
}

namespace {

std::string describe_entity(const conf::Plugin& plugin) {
  std::vector<std::string> parts;
  if (!plugin.id.empty()) parts.push_back("id " + plugin.id);
  if (!plugin.route_id.empty()) parts.push_back("route " + plugin.route_id);
  if (!plugin.service_id.empty()) parts.push_back("service " + plugin.service_id);
  if (!plugin.consumer_id.empty()) parts.push_back("consumer " + plugin.consumer_id);
  if (plugin.is_global()) parts.push_back("global");
  std::string text;
  for (const auto& part : parts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

}  // namespace

std::vector<std::string> validate_plugins(const SchemaOf& schema_of, std::vector<conf::Plugin>& plugins) {
  std::vector<std::string> errors;
  for (auto& plugin : plugins) {
    const nlohmann::json* schema = schema_of(plugin.name);
    if (!schema) continue;
    PluginScope scope{!plugin.consumer_id.empty(), !plugin.route_id.empty(), !plugin.service_id.empty()};
    for (const auto& error : validate_scope(*schema, scope))
      errors.push_back("plugin '" + plugin.name + "' (" + describe_entity(plugin) + "): " + error);
    for (const auto& error : validate_config(*schema, plugin.config))
      errors.push_back("plugin '" + plugin.name + "' (" + describe_entity(plugin) + "): " + error);
  }
  return errors;
}

std::vector<std::string> validate_plugins(const Registry& registry, std::vector<conf::Plugin>& plugins) {
  return validate_plugins(
      [&registry](std::string_view name) -> const nlohmann::json* {
        const PluginInfo* info = registry.find(name);
        return info ? &info->schema : nullptr;
      },
      plugins);
}

}  // namespace gh::pluginserver
