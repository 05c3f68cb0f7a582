#include "ratelimit/redis_policy.h"

#include <charconv>

#include "common/log.h"
#include "common/log_throttle.h"

namespace gh::ratelimit {

namespace {

// INCRBY, and EXPIRE when this increment created the key (Kong's script does the same).
constexpr std::string_view kIncrementScript =
    "local n = redis.call('incrby', KEYS[1], ARGV[1]) "
    "if n == tonumber(ARGV[1]) then redis.call('expire', KEYS[1], ARGV[2]) end "
    "return n";

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

boost::asio::awaitable<Usage> RedisPolicy::usage(const std::vector<Counter>& counters, int64_t) {
  std::string commands;
  commands.reserve(counters.size() * (counters.empty() ? 0 : counters.front().key.size() + 24));
  for (const auto& counter : counters) redis::encode_command(commands, {"GET", counter.key});
  redis::Result result = co_await redis::execute(options_, std::move(commands), counters.size());
  Usage usage;
  if (!result.error.empty()) {
    usage.error = std::move(result.error);
    co_return usage;
  }
  for (const auto& reply : result.replies) {
    usage.counts.push_back(counter_value(reply, usage.error));
    if (!usage.error.empty()) break;
  }
  co_return usage;
}

void RedisPolicy::increment(const boost::asio::any_io_executor& executor, std::vector<Counter> counters,
                            int64_t) {
  std::string commands;
  commands.reserve(counters.size() * (kIncrementScript.size() + 200));
  for (const auto& counter : counters)
    redis::encode_command(commands, {"EVAL", kIncrementScript, "1", counter.key, "1",
                                     std::to_string(period_seconds(counter.period))});
  redis::send_detached(options_, executor, std::move(commands), counters.size(), log_increment_failure);
}

}  // namespace gh::ratelimit
