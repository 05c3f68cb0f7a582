#include "pdk/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <unordered_map>
#include <vector>

#include "common/log.h"
#include "metrics/metrics.h"
#include "pdk/request_pdk.h"
#include "pdk/shapes.h"

namespace gh::pdk {

namespace {

// The JS PDK mangles names with digits (kong-plugin-servers.md §2.1.6): accept its spelling.
constexpr std::array<std::pair<std::string_view, std::string_view>, 1> kAliases{{
    {"kong.nginx.get_tls1Version_str", "kong.nginx.get_tls1_version_str"},
}};

// All entries, sorted by name once (static init of a function-local: thread-safe).
const std::vector<PdkFunction>& table() {
  static const std::vector<PdkFunction> all = [] {
    std::vector<PdkFunction> v;
    for (auto part : {request_functions(), response_functions(), service_functions(), client_functions(),
                      node_functions()}) {
      v.insert(v.end(), part.begin(), part.end());
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    return v;
  }();
  return all;
}

std::string type_error(std::string_view what, std::string_view expected, const json& got) {
  return fmt::format("{} must be {} (got {})", what, expected, got.type_name());
}

}  // namespace

// Every PDK call looks its function up: one hash of the name instead of a binary search of
// string comparisons (and the alias scan) per call.
const PdkFunction* find_pdk_function(std::string_view name) {
  static const auto index = [] {
    std::unordered_map<std::string_view, const PdkFunction*> by_name;
    for (const auto& f : table()) by_name.emplace(f.name, &f);
    for (const auto& [alias, real] : kAliases) by_name.emplace(alias, by_name.at(real));
    return by_name;
  }();
  auto it = index.find(name);
  return it == index.end() ? nullptr : it->second;
}

std::vector<std::string_view> supported_methods() {
  std::vector<std::string_view> names;
  for (const auto& f : table()) names.push_back(f.name);
  return names;
}

// ---- PdkCall argument readers ----

const json& PdkCall::arg(size_t i) const {
  static const json null_value;
  return args.is_array() && i < args.size() ? args[i] : null_value;
}

std::string PdkCall::string_arg(size_t i, std::string_view what) const {
  const json& v = arg(i);
  if (!v.is_string()) throw PdkError(type_error(what, "a string", v));
  return v.get<std::string>();
}

std::optional<std::string> PdkCall::optional_string(size_t i, std::string_view what) const {
  if (!has(i)) return std::nullopt;
  return string_arg(i, what);
}

int64_t PdkCall::int_arg(size_t i, std::string_view what) const {
  const json& v = arg(i);
  if (v.is_number_integer()) return v.get<int64_t>();
  // Lua has one number type: 3.0 is an integer there.
  if (v.is_number_float() && v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>()))) {
    return static_cast<int64_t>(v.get<double>());
  }
  throw PdkError(type_error(what, "an integer", v));
}

std::optional<int64_t> PdkCall::optional_int(size_t i, std::string_view what) const {
  if (!has(i)) return std::nullopt;
  return int_arg(i, what);
}

bool PdkCall::bool_arg(size_t i, std::string_view what) const {
  const json& v = arg(i);
  if (!v.is_boolean()) throw PdkError(type_error(what, "a boolean", v));
  return v.get<bool>();
}

const http::RequestHead& PdkCall::request() const {
  if (!ctx.request) throw PdkError("no client request in this context");
  return *ctx.request;
}

// ---- metrics ----

PdkTallies::PdkTallies(metrics::Registry& registry)
    : families_{&registry.counter("gatehouse_pdk_method_calls_total",
                                  "PDK functions run for plugin servers, by method", {"method"}),
                &registry.counter(
                    "gatehouse_pdk_method_prefetched_total",
                    "PDK reads Gatehouse:1 ran before the plugin asked (sent with the event), by method",
                    {"method"}),
                &registry.counter(
                    "gatehouse_pdk_method_round_trips_total",
                    "PDK calls a plugin sent and waited for over the wire (a round trip each), by method",
                    {"method"})} {}

void PdkTallies::count(const PdkFunction& function, Tally what) {
  const auto& all = table();
  if (&function < all.data() || &function >= all.data() + all.size()) return;  // not a table entry
  if (cells_.empty()) cells_.resize(all.size() * families_.size(), nullptr);
  const auto kind = static_cast<size_t>(what);
  auto*& cell = cells_[static_cast<size_t>(&function - all.data()) * families_.size() + kind];
  if (cell == nullptr) {
    const std::string_view method = function.name;
    cell = families_[kind]->cell(metrics::LabelValues(&method, 1));
    if (cell == nullptr) return;  // the family is full
  }
  metrics::bump(*cell, 1);
}

// ---- dispatch ----

namespace {
// One debug line per call (the integration tests collect the wire names plugins called from it);
// spdlog checks the level before formatting, so this costs nothing at the default level.
void trace_call(std::string_view plugin, std::string_view phase, std::string_view method,
                const PdkResult& result) {
  static constexpr std::string_view kOutcome[] = {"ok", "nil", "error", "terminal"};
  spdlog::debug("pdk call {} by '{}' in {}: {}", method, plugin, phase,
                kOutcome[static_cast<int>(result.status)]);
}
}  // namespace

boost::asio::awaitable<PdkResult> RequestPdk::run(const PdkFunction* f, std::string_view method,
                                                  nlohmann::json args) {
  const Phase phase = plugin_.phase;
  const std::string_view phase_name = core::phase_name(phase);
  PdkResult result;
  if (overran_ || std::chrono::steady_clock::now() >= event_deadline_) {
    // The event is over (docs/plugin-servers.md, timeouts): nothing runs, the bridge stops here.
    overran_ = true;
    result.status = PdkResult::Status::terminal;
  } else if (!f) {
    result = PdkResult::fail(fmt::format("method '{}' is not supported", method));
  } else if (!(f->phases & core::bit(phase))) {
    result = PdkResult::fail(fmt::format("function {} cannot be called in {} phase (only in: {})", f->name,
                                         phase_name, core::phase_names(f->phases)));
  } else if (stream_subsystem(ctx_) && f->http_only()) {
    result = PdkResult::fail(fmt::format("function {} is not available in the stream subsystem", f->name));
  } else {
    tally(*f, Tally::call);
    PdkCall call{ctx_, plugin_, args};
    try {
      // An if, not `?:`: GCC 12 miscompiles co_await inside a conditional expression.
      if (f->sync) {
        result = f->sync(call);
      } else {
        result = co_await f->async(call);
      }
      if (result.status == PdkResult::Status::terminal) exited_ = true;
    } catch (const PdkError& e) {
      result = PdkResult::fail(e.what());
    } catch (const std::exception& e) {  // a json type error or similar: the plugin's fault, not a crash
      result = PdkResult::fail(fmt::format("{} failed: {}", f->name, e.what()));
    }
  }
  trace_call(plugin_.name, phase_name, method, result);
  co_return result;
}

}  // namespace gh::pdk
