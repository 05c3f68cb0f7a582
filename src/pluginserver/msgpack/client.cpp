#include "pluginserver/msgpack/client.h"

#include <boost/asio/use_awaitable.hpp>

#include "pdk/table.h"

namespace gh::pluginserver::msgpack {

namespace asio = boost::asio;
using nlohmann::json;

// ---- request parameters

void write_start_instance_param(Writer w, std::string_view name, std::string_view config_json) {
  w.map_header(2);
  w.str("Name");
  w.str(name);
  w.str("Config");
  w.str(config_json);
}

void write_handle_event_param(Writer w, int64_t instance_id, std::string_view event_name) {
  w.map_header(2);
  w.str("InstanceId");
  w.integer(instance_id);
  w.str("EventName");
  w.str(event_name);
}

std::string_view step_method(std::string_view step, const PdkResult& result) {
  return result.status == PdkResult::Status::error ? std::string_view("plugin.StepError") : step;
}

namespace {

constexpr std::string_view kStepMultiMap = "plugin.StepMultiMap";

// Kong's fix_mmap (mp_rpc.lua): header and query maps always travel as {name: [values]}.
void write_multimap(Writer& w, const json& v) {
  if (!v.is_object()) return w.value(v);          // not a map: nothing to fix (Kong would raise)
  w.map_header(static_cast<uint32_t>(v.size()));  // an empty result is an empty MAP here
  for (const auto& [name, value] : v.items()) {
    w.str(name);
    if (value.is_string()) {
      w.array_header(1);
      w.str(value.get_ref<const std::string&>());
    } else if (value.is_boolean() && value.get<bool>()) {
      w.array_header(0);
    } else {
      w.value(value);
    }
  }
}

bool has_data(const PdkResult& r) {
  return r.status == PdkResult::Status::error || (r.status == PdkResult::Status::ok && !r.value.is_null());
}

}  // namespace

void write_step_param(Writer w, int64_t event_id, const PdkResult& result, std::string_view step) {
  const bool data = has_data(result);
  w.map_header(data ? 2 : 1);
  w.str("EventId");
  w.integer(event_id);
  if (!data) return;
  w.str("Data");
  if (result.status == PdkResult::Status::error)
    w.str(result.error);
  else if (step == kStepMultiMap)
    write_multimap(w, result.value);
  else
    w.value(result.value);
}

// ---- responses

namespace {

[[noreturn]] void bad_reply(std::string_view what) {
  throw RpcError(ErrorKind::bad_reply, "plugin server reply: " + std::string(what));
}

// {EventId, Data}: Data is "ret" (the handler returned) or {Method, Args} (a PDK call).
// `method` points into the connection's read buffer: valid until the next request.
struct StepReply {
  int64_t event_id = 0;
  bool ret = false;
  std::string_view method;
  json args;  // an array once read_pdk_call ran (not allocated up front: "ret" has none)
};

json args_array(Reader& r) {
  // Kong: an array is unpacked into positional arguments, any other value is the single argument.
  if (r.try_nil()) return json::array();
  if (r.peek() == Type::array) return r.read_value();
  json one = json::array();
  one.push_back(r.read_value());
  return one;
}

void read_pdk_call(Reader& r, StepReply& step) {
  if (r.peek() != Type::map) bad_reply("Data is neither \"ret\" nor {Method, Args}");
  bool have_method = false;
  for (uint32_t n = r.read_map(); n > 0; --n) {
    std::string_view key = r.peek() == Type::str ? r.read_str() : std::string_view();
    if (key == "Method") {
      step.method = r.read_str();
      have_method = true;
    } else if (key == "Args") {
      step.args = args_array(r);
    } else {
      r.skip();
    }
  }
  if (!have_method) bad_reply("PDK call without Method");
  if (step.args.is_null()) step.args = json::array();  // no Args: no arguments
}

StepReply read_step(Reader& r) {
  StepReply step;
  bool have_data = false, have_event = false;
  try {
    if (r.peek() != Type::map) bad_reply("expected {EventId, Data}");
    for (uint32_t n = r.read_map(); n > 0; --n) {
      std::string_view key = r.peek() == Type::str ? r.read_str() : std::string_view();
      if (key == "EventId") {
        step.event_id = r.read_int();
        have_event = true;
      } else if (key == "Data") {
        have_data = true;
        if (r.peek() == Type::str) {
          if (r.read_str() != "ret") bad_reply("Data is a string other than \"ret\"");
          step.ret = true;
        } else {
          read_pdk_call(r, step);
        }
      } else {
        r.skip();
      }
    }
  } catch (const DecodeError& e) {
    bad_reply(e.what());
  }
  if (!have_data || !have_event) bad_reply("step result without EventId or Data");
  return step;
}

InstanceStatus read_instance_status(Reader& r) {
  InstanceStatus st;
  bool have_id = false;
  try {
    if (r.peek() != Type::map) bad_reply("expected an instance status map");
    for (uint32_t n = r.read_map(); n > 0; --n) {
      std::string_view key = r.peek() == Type::str ? r.read_str() : std::string_view();
      if (key == "Id") {
        st.id = r.read_int();
        have_id = true;
      } else if (key == "Name" && r.peek() == Type::str) {
        st.name = r.read_str();
      } else if (key == "Config") {
        st.config = r.read_value();
      } else if (key == "StartTime" && (r.peek() == Type::integer || r.peek() == Type::float_)) {
        st.start_time = r.read_number();
      } else {
        r.skip();
      }
    }
  } catch (const DecodeError& e) {
    bad_reply(e.what());
  }
  if (!have_id) bad_reply("StartInstance result without Id");
  return st;
}

}  // namespace

// ---- Client

namespace {
ClientOptions options_with_timeout(std::chrono::milliseconds timeout) {
  ClientOptions options;
  options.call_timeout = timeout;
  return options;
}
}  // namespace

Client::Client(asio::any_io_executor ex, std::string socket_path, std::chrono::milliseconds timeout,
               std::shared_ptr<RestartCounts> restarts)
    : Client(std::make_shared<ConnectionPool>(ex, std::move(restarts)), std::move(socket_path),
             options_with_timeout(timeout)) {}

Client::Client(std::shared_ptr<ConnectionPool> pool, std::string socket_path, ClientOptions options)
    : pool_(std::move(pool)), path_(std::move(socket_path)), options_(options) {}

uint32_t Client::next_msgid() {
  if (++msgid_ == 0) msgid_ = 1;  // Kong's counter starts at 1
  return msgid_;
}

Clock::time_point Client::call_deadline(Clock::time_point event_deadline) const {
  return std::min(Clock::now() + options_.call_timeout, event_deadline);
}

void Client::note_server_pid(const Connection& conn) {
  if (conn.server_pid()) server_pid_ = conn.server_pid();
}

asio::awaitable<InstanceStatus> Client::start_instance_impl(std::string name, std::string config_json) {
  const auto deadline = call_deadline(Clock::time_point::max());
  Lease conn(*pool_, co_await pool_->acquire(path_, deadline));
  const uint32_t id = next_msgid();
  Writer w = conn->begin_request(id, "plugin.StartInstance");
  write_start_instance_param(w, name, config_json);
  Reader result = co_await conn->round_trip(id, deadline);
  note_server_pid(*conn);
  co_return read_instance_status(result);
}

asio::awaitable<void> Client::close_instance(int64_t instance_id) {
  const auto deadline = call_deadline(Clock::time_point::max());
  Lease conn(*pool_, co_await pool_->acquire(path_, deadline));
  const uint32_t id = next_msgid();
  conn->begin_request(id, "plugin.CloseInstance").integer(instance_id);
  co_await conn->round_trip(id, deadline);
  note_server_pid(*conn);
}

asio::awaitable<EventOutcome> Client::handle_event_impl(int64_t instance_id, std::string event_name,
                                                        PdkHandler& pdk) {
  const auto event_deadline =
      options_.event_timeout.count() > 0 ? Clock::now() + options_.event_timeout : Clock::time_point::max();
  Lease conn(*pool_, co_await pool_->acquire(path_, call_deadline(event_deadline)));
  uint32_t id = next_msgid();
  write_handle_event_param(conn->begin_request(id, "plugin.HandleEvent"), instance_id, event_name);
  Reader result = co_await conn->round_trip(id, call_deadline(event_deadline));
  note_server_pid(*conn);

  EventOutcome outcome;
  StepReply step = read_step(result);
  outcome.event_id = step.event_id;  // Kong keeps HandleEvent's EventId for every Step
  while (!step.ret) {
    ++outcome.pdk_calls;
    const pdk::PdkFunction* function = pdk::find_pdk_function(step.method);  // the one lookup
    if (function) pdk.tally(*function, pdk::Tally::round_trip);              // every MsgPack:1 call waits
    PdkResult res = co_await pdk.run(function, step.method, std::move(step.args));
    if (res.status == PdkResult::Status::terminal) {
      outcome.terminated = true;  // kong.response.exit/error: the plugin does not wait for a Step
      co_return outcome;
    }
    if (Clock::now() >= event_deadline)
      throw RpcError(ErrorKind::timeout, "plugin server " + path_ + ": event " + std::string(event_name) +
                                             " overran its deadline");
    id = next_msgid();
    const std::string_view step_name = pdk::step_of(function);
    write_step_param(conn->begin_request(id, step_method(step_name, res)), outcome.event_id, res, step_name);
    result = co_await conn->round_trip(id, call_deadline(event_deadline));
    step = read_step(result);
  }
  co_return outcome;
}

}  // namespace gh::pluginserver::msgpack
