// The embedded server loop, go-pdk's behaviour (kong-plugin-servers.md §1.1, §2.2): one thread per
// gateway connection, RpcCall/RpcReturn commands, events served on the same connection, errors
// answered by closing the connection.
#include <gatehouse/pdk/server.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "batch_channel.h"
#include "proto/gatehouse.pb.h"
#include "proto/pluginsocket.pb.h"
#include "wire_channel.h"

namespace gatehouse::pdk::detail {

namespace pb = kong_plugin_protocol;

std::string_view WireChannel::call(std::string_view method, std::string_view args) {
  if (!socket_.write_frames({method, args})) throw PdkError("use of closed network connection");
  auto reply = socket_.read_frame();
  if (!reply) throw PdkError("connection closed by the gateway during " + std::string(method));
  return *reply;
}

void WireChannel::exit(std::string_view method, std::string_view args) {
  // Like go-pdk: send, wait for one reply (Kong never sends it; the read ends when the gateway
  // closes the connection at the end of the request), then close our side.
  if (socket_.write_frames({method, args})) socket_.read_frame();
  socket_.close();
  exited_ = true;
}

namespace {

// go-pdk logs through Go's `log` package: "2006/01/02 15:04:05 message" on stderr.
template <class... Args>
void log_line(const Args&... parts) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y/%m/%d %H:%M:%S ", &tm);
  std::string line = stamp;
  ((line += parts), ...);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// The first frame of a Gatehouse:1 connection (docs/protocol.md §1); never a valid RpcCall.
constexpr std::string_view kGatehouseHello = "Gatehouse:1";
// The pseudo-call that precedes a StartInstance's RpcReturn on a Gatehouse:1 connection when the
// plugin declares reads (docs/protocol.md "Declaring reads").
constexpr std::string_view kDeclareCall = "gatehouse.declare";

struct InstanceEntry {
  std::string name;
  std::int64_t started_at = 0;
  std::unique_ptr<Instance> instance;
  ReportedReads reported;  // Gatehouse:1: reads already reported to the gateway
};

// Instances keyed by id (the config's __seq__, as go-pdk does). shared_ptr: an event keeps its
// instance alive even if the gateway closes it meanwhile.
class InstanceTable {
 public:
  std::shared_ptr<InstanceEntry> find(std::int32_t id) {
    std::lock_guard lock(mutex_);
    auto it = instances_.find(id);
    return it == instances_.end() ? nullptr : it->second;
  }

  // An existing id is overwritten, as go-pdk does. Without an id (__seq__), a random unused one.
  std::int32_t put(std::int32_t id, std::shared_ptr<InstanceEntry> entry) {
    std::lock_guard lock(mutex_);
    bool random_id = false;
    while (id == 0 || (random_id && instances_.count(id))) {
      id = static_cast<std::int32_t>(random_() >> 1);
      random_id = true;
    }
    instances_[id] = std::move(entry);
    return id;
  }

  std::shared_ptr<InstanceEntry> remove(std::int32_t id) {
    std::lock_guard lock(mutex_);
    auto it = instances_.find(id);
    if (it == instances_.end()) return nullptr;
    auto entry = std::move(it->second);
    instances_.erase(it);
    return entry;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::int32_t, std::shared_ptr<InstanceEntry>> instances_;
  std::mt19937 random_{std::random_device{}()};
};

// Live connections, so that SIGTERM can end them and wait for their threads.
class ConnectionRegistry {
 public:
  void add(int fd) {
    std::lock_guard lock(mutex_);
    fds_.insert(fd);
  }
  void remove(int fd) {
    std::lock_guard lock(mutex_);
    fds_.erase(fd);
    if (fds_.empty()) idle_.notify_all();
  }
  // Shuts every connection down (their threads see EOF) and waits for them, bounded.
  void close_all(std::chrono::seconds patience) {
    std::unique_lock lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    idle_.wait_for(lock, patience, [&] { return fds_.empty(); });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  std::set<int> fds_;
};

class Server {
 public:
  Server(PluginSpec spec, std::string name) : spec_(std::move(spec)), name_(std::move(name)) {}

  void serve_connection(int fd);
  ConnectionRegistry& connections() { return connections_; }

 private:
  // `declaration`: on a Gatehouse:1 connection, receives the frames to send before the RpcReturn.
  bool start_instance(const pb::CmdStartInstance& cmd, pb::RpcReturn& ret, std::string* declaration);
  std::string declaration_frames(Instance& instance) const;
  bool instance_status(std::int32_t id, bool close, pb::RpcReturn& ret);
  // false when the connection must be dropped (error, or the event ended with kong.response.exit)
  bool handle_event(const pb::CmdHandleEvent& cmd, std::int64_t sequence, FrameSocket& socket, bool batched);
  std::shared_ptr<InstanceEntry> event_instance(const pb::CmdHandleEvent& cmd);
  // Runs the handler; false if the connection failed under it.
  bool run_handler(InstanceEntry& entry, const std::string& phase, Channel& channel, FrameSocket& socket);
  void report_plugin_error(std::string_view phase, const std::exception& error, Channel& channel);

  const PluginSpec spec_;
  std::string name_;
  InstanceTable instances_;
  ConnectionRegistry connections_;
};

void Server::serve_connection(int fd) {
  FrameSocket socket(fd);
  pb::RpcCall call;
  pb::RpcReturn ret;
  std::string out;       // reused for every reply of this connection
  std::string declared;  // Gatehouse:1: frames that go before a StartInstance's RpcReturn
  auto reply = [&] {
    ret.SerializeToString(&out);
    if (declared.empty()) return socket.write_frames({out});
    append_frame(declared, out);  // one write: the declaration, then the RpcReturn
    const bool sent = socket.write_framed(declared);
    declared.clear();
    return sent;
  };
  bool batched = false;  // Gatehouse:1, chosen by the gateway's first frame
  for (bool keep = true; keep;) {
    auto frame = socket.read_frame();
    if (!frame) break;
    if (*frame == kGatehouseHello) {
      batched = true;
      continue;
    }
    if (!call.ParseFromArray(frame->data(), static_cast<int>(frame->size()))) {
      log_line("cannot decode RpcCall");
      break;
    }
    ret.Clear();
    ret.set_sequence(call.sequence());
    switch (call.call_case()) {
      case pb::RpcCall::kCmdStartInstance:
        keep = start_instance(call.cmd_start_instance(), ret, batched ? &declared : nullptr) && reply();
        break;
      case pb::RpcCall::kCmdGetInstanceStatus:
        keep = instance_status(call.cmd_get_instance_status().instance_id(), false, ret) && reply();
        break;
      case pb::RpcCall::kCmdCloseInstance:
        keep = instance_status(call.cmd_close_instance().instance_id(), true, ret) && reply();
        break;
      case pb::RpcCall::kCmdHandleEvent:
        keep = handle_event(call.cmd_handle_event(), call.sequence(), socket, batched);
        break;
      case pb::RpcCall::kCmdGetPluginNames:
      case pb::RpcCall::kCmdGetPluginInfo:
        // Not implemented by go-pdk either: it answers with a zero-length frame.
        keep = socket.write_frames({std::string_view{}});
        break;
      case pb::RpcCall::CALL_NOT_SET:
        log_line("RpcCall without a command");
        keep = false;
        break;
    }
  }
  connections_.remove(fd);
}

bool Server::start_instance(const pb::CmdStartInstance& cmd, pb::RpcReturn& ret, std::string* declaration) {
  auto entry = std::make_shared<InstanceEntry>();
  std::int32_t id = 0;
  try {
    Value config = Value::parse(cmd.config());
    if (auto seq = config.find("__seq__"); seq != config.end() && seq->is_number())
      id = seq->get<std::int32_t>();
    entry->instance = spec_.start(config);
  } catch (const std::exception& e) {
    log_line("cannot start instance of ", cmd.name(), ": ", e.what());
    return false;
  }
  if (declaration) *declaration = declaration_frames(*entry->instance);
  entry->name = cmd.name();
  entry->started_at = std::time(nullptr);
  id = instances_.put(id, entry);
  auto* status = ret.mutable_instance_status();
  status->set_name(entry->name);
  status->set_instance_id(id);
  status->set_started_at(entry->started_at);
  return true;
}

// The `gatehouse.declare` pseudo-call (method and argument frames) listing, per phase, the reads
// the instance declares; empty when it declares none (the gateway then only learns).
std::string Server::declaration_frames(Instance& instance) const {
  gatehouse_protocol::Declaration declaration;
  for (const auto& phase : spec_.phases) {
    std::optional<Reads> reads;
    try {
      reads = instance.declared_reads(phase);
    } catch (const std::exception& e) {
      log_line("the reads of ", phase, " are not declared: ", e.what());
      continue;
    }
    if (!reads) return {};  // the plugin has no reads(): nothing to declare
    if (reads->empty()) continue;
    auto& declared = (*declaration.mutable_phases())[phase];
    for (const auto& call : reads->calls()) {
      auto* read = declared.add_reads();
      read->set_method(call.method);
      read->set_args(call.args);
    }
  }
  if (declaration.phases().empty()) return {};
  std::string frames;
  append_frame(frames, kDeclareCall);
  append_frame(frames, declaration.SerializeAsString());
  return frames;
}

bool Server::instance_status(std::int32_t id, bool close, pb::RpcReturn& ret) {
  auto entry = close ? instances_.remove(id) : instances_.find(id);
  if (!entry) {
    log_line("no plugin instance ", std::to_string(id));
    return false;
  }
  if (close) log_line("closed instance ", std::to_string(id));
  auto* status = ret.mutable_instance_status();
  status->set_name("---");  // go-pdk's status replies carry this placeholder name
  status->set_instance_id(id);
  status->set_started_at(entry->started_at);
  return true;
}

std::shared_ptr<InstanceEntry> Server::event_instance(const pb::CmdHandleEvent& cmd) {
  auto entry = instances_.find(cmd.instance_id());
  if (!entry) {
    log_line("no plugin instance ", std::to_string(cmd.instance_id()));
    return nullptr;
  }
  const auto& phases = spec_.phases;
  if (std::find(phases.begin(), phases.end(), cmd.event_name()) == phases.end()) {
    log_line("undefined method ", cmd.event_name());  // go-pdk's error; the connection is dropped
    return nullptr;
  }
  return entry;
}

bool Server::run_handler(InstanceEntry& entry, const std::string& phase, Channel& channel,
                         FrameSocket& socket) {
  try {
    Kong kong(channel);
    entry.instance->handle(phase, kong);
  } catch (const PdkError& e) {
    log_line(phase, ": ", e.what());
    if (!socket.is_open()) return false;
    report_plugin_error(phase, e, channel);
  } catch (const std::exception& e) {
    log_line(phase, ": ", e.what());
    report_plugin_error(phase, e, channel);
  }
  return true;
}

bool Server::handle_event(const pb::CmdHandleEvent& cmd, std::int64_t sequence, FrameSocket& socket,
                          bool batched) {
  std::optional<std::string> prefetched;  // Gatehouse:1: the Reads frame follows the command
  if (batched) {
    auto frame = socket.read_frame();
    if (!frame) return false;
    prefetched.emplace(*frame);
  }
  auto entry = event_instance(cmd);
  if (!entry) return false;
  pb::RpcReturn ret;
  ret.set_sequence(sequence);
  std::string out;
  ret.SerializeToString(&out);
  if (batched) {
    std::optional<BatchChannel> channel;
    try {
      channel.emplace(socket, *prefetched, cmd.event_name(), entry->reported);
    } catch (const PdkError& e) {
      log_line(cmd.event_name(), ": ", e.what());
      return false;
    }
    return run_handler(*entry, cmd.event_name(), *channel, socket) && channel->finish(out);
  }
  WireChannel channel(socket);
  if (!run_handler(*entry, cmd.event_name(), channel, socket)) return false;
  if (channel.exited()) return false;  // go-pdk closed the connection after kong.response.exit
  return socket.write_frames({std::string_view{}, out});  // end of event, then the RpcReturn
}

// A handler that throws: tell the gateway's log, and (outside the log phase, where the client
// already has its answer) end the request with a 500 as Kong does for a failing Lua plugin.
void Server::report_plugin_error(std::string_view phase, const std::exception& error, Channel& channel) {
  try {
    Kong kong(channel);
    kong.log.err("plugin ", name_, " failed in ", std::string(phase), ": ", error.what());
    if (phase != "log")
      kong.response.exit(500, R"({"message":"An unexpected error occurred"})",
                         {{"Content-Type", {"application/json"}}});
  } catch (const std::exception&) {
    // the connection is gone: nothing more to report on it
  }
}

std::string usage(const std::string& name) {
  return "Usage of " + name +
         ":\n"
         "  -dump\n"
         "    \tDump info about plugins\n"
         "  -help\n"
         "    \tShow usage info\n"
         "  -kong-prefix string\n"
         "    \tKong prefix path (specified by the -p argument commonly used in the kong cli) (default "
         "\"/usr/local/kong\")\n"
         "  -scheduling string\n"
         "    \tbatch: connection threads never preempt the gateway when they wake up; normal: the kernel's "
         "default (default \"batch\")\n";
}

struct Options {
  std::string prefix = "/usr/local/kong";
  bool dump = false;
  bool batch_scheduling = true;
};

// Flags taking a value: "-f value" or "-f=value"; nullopt (after printing Go's message) if missing.
std::optional<std::string_view> flag_value(std::optional<std::string_view> inline_value,
                                           std::string_view flag, int argc, char** argv, int& i,
                                           const std::string& name) {
  if (inline_value) return inline_value;
  if (i + 1 >= argc) {
    std::cerr << "flag needs an argument: -" << flag << "\n" << usage(name);
    return std::nullopt;
  }
  return std::string_view(argv[++i]);
}

// Go's flag package: -f or --f, "-f value" or "-f=value", parsing stops at the first non-flag.
// Returns an exit code when the program must stop (2 for -help and bad flags, as Go does).
std::optional<int> parse_flags(int argc, char** argv, const std::string& name, Options& options) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') break;
    if (arg == "--") break;
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    std::optional<std::string_view> value;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    if (arg == "dump") {
      options.dump = !value || *value == "true" || *value == "1" || *value == "t" || *value == "TRUE";
    } else if (arg == "kong-prefix") {
      value = flag_value(value, arg, argc, argv, i, name);
      if (!value) return 2;
      options.prefix = std::string(*value);
    } else if (arg == "scheduling") {
      value = flag_value(value, arg, argc, argv, i, name);
      if (!value) return 2;
      if (*value != "batch" && *value != "normal") {
        std::cerr << "invalid value \"" << *value << "\" for flag -scheduling: batch or normal\n"
                  << usage(name);
        return 2;
      }
      options.batch_scheduling = *value == "batch";
    } else if (arg == "help" || arg == "h") {
      std::cerr << usage(name);
      return 2;
    } else {
      std::cerr << "flag provided but not defined: -" << arg << "\n" << usage(name);
      return 2;
    }
  }
  return std::nullopt;
}

std::string dump_info(const PluginSpec& spec, const std::string& name, const std::string& socket_path) {
  SchemaJson schema = {{"name", name}, {"fields", SchemaJson::array({{{"config", spec.config_schema}}})}};
  SchemaJson plugin = {{"Name", name},
                       {"Phases", spec.phases},
                       {"Version", spec.version},
                       {"Priority", spec.priority},
                       {"Schema", std::move(schema)}};
  // Kong reads only "Protocol"; gatehouse also reads "Protocols" and picks Gatehouse:1
  // (docs/protocol.md §1).
  SchemaJson info = {{"Protocol", "ProtoBuf:1"},
                     {"Protocols", {"Gatehouse:1", "ProtoBuf:1"}},
                     {"SocketPath", socket_path},
                     {"Plugins", SchemaJson::array({plugin})}};
  return info.dump() + "\n";
}

int listen_on(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) {
    log_line("socket path too long: ", path);
    return -1;
  }
  ::unlink(path.c_str());  // a stale socket from an earlier run (go-pdk: os.Remove)
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    log_line("cannot listen on ", path, ": ", std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// One thread per connection means one wake-up per frame the gateway sends. Under SCHED_OTHER
// each of those threads, having slept, preempts the gateway's worker at once (when they share a
// CPU): two context switches per PDK call, and the worker never gets to drain the other replies
// it has ready. SCHED_BATCH threads do not preempt on wake-up (same CPU share otherwise), so the
// worker finishes its round and the threads then run back to back, as an event-loop server's
// callbacks do (docs/performance.md "Session 5": gateway CPU per call 1.39x -> 0.74x a round trip).
// Called before any connection thread exists: they inherit it. A policy the operator chose
// (chrt, a real-time class) is kept.
void apply_scheduling(bool batch) {
  if (!batch || sched_getscheduler(0) != SCHED_OTHER) return;
  const sched_param default_priority{};
  if (sched_setscheduler(0, SCHED_BATCH, &default_priority) != 0)
    log_line("cannot switch to SCHED_BATCH: ", std::strerror(errno));
}

// Accepts until SIGTERM/SIGINT (read from a signalfd: no async-signal handler needed).
// Connection threads share the server through a shared_ptr: after SIGTERM the process waits for
// them only so long, and a straggler must not outlive the state it uses.
int accept_loop(const std::shared_ptr<Server>& server, int listener, int signals) {
  pollfd fds[2] = {{listener, POLLIN, 0}, {signals, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_line("poll: ", std::strerror(errno));
      return 1;
    }
    if (fds[1].revents) break;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN)
        log_line("accept: ", std::strerror(errno));
      continue;
    }
    server->connections().add(fd);
    std::thread([server, fd] { server->serve_connection(fd); }).detach();
  }
  return 0;
}

}  // namespace

std::string executable_name() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("plugin") : exe.filename().string();
}

int run_server(int argc, char** argv, const PluginSpec& spec) {
  std::string name = executable_name();
  Options options;
  if (auto code = parse_flags(argc, argv, name, options)) return *code;
  std::string socket_path = (std::filesystem::path(options.prefix) / (name + ".socket")).string();
  if (options.dump) {
    std::cout << dump_info(spec, name, socket_path) << std::flush;
    return 0;
  }

  // Block the stop signals in every thread (threads inherit the mask) and read them from an fd.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  int signals = ::signalfd(-1, &stop, SFD_CLOEXEC);

  apply_scheduling(options.batch_scheduling);
  int listener = listen_on(socket_path);
  if (listener < 0 || signals < 0) return 1;
  log_line("Listening on socket: ", socket_path);

  auto server = std::make_shared<Server>(spec, name);
  int code = accept_loop(server, listener, signals);
  ::close(listener);
  ::close(signals);
  server->connections().close_all(std::chrono::seconds(5));
  return code;
}

}  // namespace gatehouse::pdk::detail
