// size limits, correlation ids, request-termination answers.
#include <gtest/gtest.h>

#include <set>

#include "traffic/correlation_id.h"
#include "traffic/size_limit.h"
#include "traffic/termination.h"

using namespace gh::traffic;
using json = nlohmann::json;

TEST(SizeLimit, UnitsAndStatuses) {
  SizeLimit mb(2, "megabytes", false);
  EXPECT_EQ(mb.allowed_bytes(), 2u * 1024 * 1024);
  EXPECT_FALSE(mb.check_head("2097152", std::nullopt));
  auto over = mb.check_head("2097153", std::nullopt);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 413);
  EXPECT_EQ(over->message, "Request size limit exceeded");
  EXPECT_EQ(mb.check_head("2097153", " 100-Continue ")->status, 417);
  EXPECT_EQ(SizeLimit(2, "kilobytes", false).allowed_bytes(), 2048u);
  EXPECT_EQ(SizeLimit(2, "bytes", false).allowed_bytes(), 2u);
  EXPECT_FALSE(mb.check_head(std::nullopt, std::nullopt));  // decided on the body
  EXPECT_FALSE(SizeLimit::has_numeric_length("12x"));
  EXPECT_EQ(SizeLimit(1, "bytes", false).check_length(2, std::nullopt)->status, 413);
}

TEST(SizeLimit, RequireContentLength) {
  SizeLimit s(1, "megabytes", true);
  auto r = s.check_head(std::nullopt, std::nullopt);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 411);
  EXPECT_EQ(r->message, "A valid Content-Length header is required");
  EXPECT_FALSE(s.check_head("10", std::nullopt));
}

TEST(CorrelationId, Generators) {
  std::string u = random_uuid();
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[8], '-');
  EXPECT_EQ(u[14], '4');
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(generate_correlation_id(CorrelationGenerator::uuid, {}));
  EXPECT_EQ(seen.size(), 1000u);
  std::string a = generate_correlation_id(CorrelationGenerator::uuid_counter, {});
  std::string b = generate_correlation_id(CorrelationGenerator::uuid_counter, {});
  ASSERT_EQ(a.substr(0, 37), b.substr(0, 37));
  EXPECT_EQ(a[36], '#');
  EXPECT_EQ(std::stoul(b.substr(37)), std::stoul(a.substr(37)) + 1);
  std::string t =
      generate_correlation_id(CorrelationGenerator::tracker, {"127.0.0.1", 8000, 7, 3, 1700000000.1234});
  EXPECT_TRUE(t.starts_with("127.0.0.1-8000-")) << t;
  EXPECT_TRUE(t.ends_with("-7-3-1700000000.123")) << t;
  EXPECT_EQ(parse_generator("tracker"), CorrelationGenerator::tracker);
}

TEST(Termination, ValidatesLikeKong) {
  EXPECT_FALSE(validate_termination({{"status_code", 503}, {"echo", false}}));
  EXPECT_EQ(validate_termination({{"message", "m"}, {"body", "b"}}),
            "message cannot be used with content_type or body");
  EXPECT_EQ(validate_termination({{"content_type", "text/plain"}}), "content_type requires a body");
  EXPECT_EQ(validate_termination({{"echo", true}, {"body", "b"}}),
            "echo cannot be used with content_type and body");
}

TEST(Termination, Answers) {
  auto t = termination_response({{"status_code", 503}});
  EXPECT_EQ(t.status, 503);
  EXPECT_EQ(t.body, R"({"message":"Service unavailable"})");
  t = termination_response({{"status_code", 418}});
  EXPECT_FALSE(t.body);
  t = termination_response({{"status_code", 404}, {"message", "gone"}});
  EXPECT_EQ(t.body, R"({"message":"gone"})");
  t = termination_response({{"status_code", 200}, {"body", "<h1>hi</h1>"}, {"content_type", "text/html"}});
  EXPECT_EQ(t.body, "<h1>hi</h1>");
  EXPECT_EQ(t.content_type, "text/html");
}
