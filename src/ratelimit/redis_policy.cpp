#include "ratelimit/redis_policy.h"

#include <array>
#include <charconv>

#include "common/log.h"
#include "common/log_throttle.h"
#include "ratelimit/decision.h"

namespace gh::ratelimit {

namespace {

// Kong's increment, for every counter of a request in one command: INCRBY each key (KEYS), and
// EXPIRE it (ARGV[i + 1] seconds) when this increment created it. pcall keeps one failing key
// (say, another program's value of another type) from stopping the others, as with Kong's one
// command per key; the first error is still reported.
constexpr std::string_view kIncrementScript =
    "local by, failed = tonumber(ARGV[1]) "
    "for i, key in ipairs(KEYS) do "
    "local n = redis.pcall('incrby', key, by) "
    "if type(n) == 'table' then failed = failed or n "
    "elseif n == by then redis.call('expire', key, ARGV[i + 1]) end "
    "end "
    "return failed or 0";

// One line per interval and worker while Redis is unreachable, not one per request.
void log_increment_failure(const std::string& error) {
  thread_local log::Throttle throttle(std::chrono::seconds(5));
  uint64_t held_back = 0;
  if (!throttle.allow(held_back)) return;
  spdlog::error("[rate-limiting] failed to commit increment pipeline in Redis: {}{}", error,
                held_back ? " (" + std::to_string(held_back) + " more since the last report)" : "");
}

}  // namespace

int64_t counter_value(const redis::Reply& reply, std::string& error) {
  using Type = redis::Reply::Type;
  if (reply.type == Type::null) return 0;
  if (reply.type == Type::integer) return reply.integer;
  if (reply.type == Type::bulk) {
    int64_t value = 0;
    const char* end = reply.text.data() + reply.text.size();
    auto [ptr, ec] = std::from_chars(reply.text.data(), end, value);
    if (ec == std::errc() && ptr == end) return value;
  }
  error = reply.is_error() ? reply.text : "unexpected reply to GET";
  return 0;
}

void RedisPolicy::append_key(std::string& out, const Windows& windows, size_t i) const {
  out.append(key_prefix_);
  append_counter_key_rest(out, windows.identifier, windows.starts_ms[i], windows.periods[i]);
}

boost::asio::awaitable<Usage> RedisPolicy::usage(const Windows& windows) {
  std::string commands, key;
  key.reserve(key_prefix_.size() + windows.identifier.size() + 32);
  commands.reserve(windows.size * (key.capacity() + 24));
  for (size_t i = 0; i < windows.size; ++i) {
    key.clear();
    append_key(key, windows, i);
    redis::encode_command(commands, {"GET", key});
  }
  redis::Result result = co_await redis::execute(options_, std::move(commands), windows.size);
  Usage usage;
  if (!result.error.empty()) {
    usage.error = std::move(result.error);
    co_return usage;
  }
  for (size_t i = 0; i < result.replies.size() && i < usage.counts.size(); ++i) {
    usage.counts[i] = counter_value(result.replies[i], usage.error);
    if (!usage.error.empty()) break;
  }
  co_return usage;
}

void RedisPolicy::increment(const boost::asio::any_io_executor& executor, const Windows& windows) {
  // EVAL script numkeys key... 1 ttl...: at most one window per period.
  constexpr size_t kMaxWindows = kPeriods.size();
  const size_t n = windows.size;
  if (n == 0 || n > kMaxWindows) return;
  // Every key in one buffer, reserved first so the views into it stay valid.
  std::string keys;
  keys.reserve(n * (key_prefix_.size() + windows.identifier.size() + 32));
  std::array<size_t, kMaxWindows + 1> key_starts{};
  for (size_t i = 0; i < n; ++i) {
    key_starts[i] = keys.size();
    append_key(keys, windows, i);
  }
  key_starts[n] = keys.size();
  std::array<NumberText, kMaxWindows + 1> numbers;  // the key count, then each key's lifetime
  std::array<std::string_view, 4 + 2 * kMaxWindows> args;
  args[0] = "EVAL";
  args[1] = kIncrementScript;
  args[2] = numbers[0].integer(static_cast<int64_t>(n));
  args[3 + n] = "1";
  for (size_t i = 0; i < n; ++i) {
    args[3 + i] = std::string_view(keys).substr(key_starts[i], key_starts[i + 1] - key_starts[i]);
    args[4 + n + i] = numbers[i + 1].integer(period_seconds(windows.periods[i]));
  }
  std::string command;
  redis::encode_command(command, std::span<const std::string_view>(args.data(), 4 + 2 * n));
  redis::send_detached(options_, executor, std::move(command), 1, log_increment_failure);
}

}  // namespace gh::ratelimit
