#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace gh::metrics {
namespace {

std::string rendered(const Family& family) {
  std::string out;
  family.render(out);
  return out;
}

TEST(Metrics, CounterSumsLabelSetsAndSortsByLabelText) {
  Registry registry;
  auto& c = registry.counter("kong_http_requests_total", "HTTP status codes", {"service", "route", "code"});
  c.add({"svc", "r2", "200"});
  c.add({"svc", "r1", "200"}, 2);
  c.add({"svc", "r1", "200"});
  EXPECT_EQ(rendered(c),
            "# HELP kong_http_requests_total HTTP status codes\n"
            "# TYPE kong_http_requests_total counter\n"
            "kong_http_requests_total{service=\"svc\",route=\"r1\",code=\"200\"} 3\n"
            "kong_http_requests_total{service=\"svc\",route=\"r2\",code=\"200\"} 1\n");
}

TEST(Metrics, AFamilyWithoutSamplesRendersNothing) {
  Registry registry;
  auto& c = registry.counter("c_total", "help", {"a"});
  auto& h = registry.histogram("h_ms", "help", {}, {1, 2});
  auto& v = registry.values("g", "help", Type::gauge, {});
  std::string out;
  render(out, registry.families());
  EXPECT_EQ(out, "");
  c.add({"x"});
  h.observe(LabelValues{}, 1);
  v.set(LabelValues{}, 0);
  render(out, registry.families());
  EXPECT_NE(out.find("c_total{a=\"x\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("g 0\n"), std::string::npos);
  EXPECT_NE(out.find("h_ms_bucket{le=\"1\"} 1\n"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulativeInKongsOrder) {
  Registry registry;
  auto& h = registry.histogram("lat_ms", "Latency", {"service"}, {1, 5, 10});
  h.observe({"b"}, 0);
  h.observe({"a"}, 1);    // le=1 is inclusive
  h.observe({"a"}, 3);    // (1, 5]
  h.observe({"a"}, 100);  // only +Inf
  EXPECT_EQ(rendered(h),
            "# HELP lat_ms Latency\n"
            "# TYPE lat_ms histogram\n"
            "lat_ms_bucket{service=\"a\",le=\"1\"} 1\n"
            "lat_ms_bucket{service=\"a\",le=\"5\"} 2\n"
            "lat_ms_bucket{service=\"a\",le=\"10\"} 2\n"
            "lat_ms_bucket{service=\"a\",le=\"+Inf\"} 3\n"
            "lat_ms_bucket{service=\"b\",le=\"1\"} 1\n"
            "lat_ms_bucket{service=\"b\",le=\"5\"} 1\n"
            "lat_ms_bucket{service=\"b\",le=\"10\"} 1\n"
            "lat_ms_bucket{service=\"b\",le=\"+Inf\"} 1\n"
            "lat_ms_count{service=\"a\"} 3\n"
            "lat_ms_count{service=\"b\"} 1\n"
            "lat_ms_sum{service=\"a\"} 104\n"
            "lat_ms_sum{service=\"b\"} 0\n");
}

TEST(Metrics, ThreadsWriteTheirOwnShardsAndAScrapeSumsThem) {
  Registry registry;
  auto& c = registry.counter("n_total", "n", {"k"});
  auto& h = registry.histogram("h", "h", {"k"}, {10});
  constexpr int kThreads = 4, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        c.add({"same"});
        h.observe({"same"}, 5);
      }
    });
  // Scrapes while the threads write: never torn, never more than the final count.
  for (int i = 0; i < 50; ++i) {
    auto out = rendered(c);
    if (!out.empty()) {
      EXPECT_NE(out.find("n_total{k=\"same\"} "), std::string::npos);
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_NE(rendered(c).find("n_total{k=\"same\"} 80000\n"), std::string::npos);
  auto hist = rendered(h);
  EXPECT_NE(hist.find("h_count{k=\"same\"} 80000\n"), std::string::npos);
  EXPECT_NE(hist.find("h_sum{k=\"same\"} 400000\n"), std::string::npos);
}

TEST(Metrics, LabelValuesAreEscaped) {
  Registry registry;
  auto& c = registry.counter("c", "a \\ help\nline", {"route"});
  c.add({"a\"b\\c\nd"});
  EXPECT_EQ(rendered(c),
            "# HELP c a \\\\ help\\nline\n"
            "# TYPE c counter\n"
            "c{route=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(Metrics, InvalidUtf8IsCutAsKongDoes) {
  EXPECT_EQ(escape_label_value("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(escape_label_value("ab\xff"
                               "cd"),
            "ab");
  EXPECT_EQ(escape_label_value("ab\xc3"), "ab");         // truncated sequence
  EXPECT_EQ(escape_label_value("x\xed\xa0\x80y"), "x");  // a surrogate
  EXPECT_EQ(escape_label_value("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
}

TEST(Metrics, LabelValuesCannotForgeEachOther) {
  Registry registry;
  auto& c = registry.counter("c", "h", {"a", "b"});
  c.add({std::string_view("x\0y", 3), "z"});
  c.add({"x", std::string_view("y\0z", 3)});
  auto out = rendered(c);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 4) << out;  // HELP, TYPE, two series
}

TEST(Metrics, AFullFamilyDropsNewLabelSetsAndCountsThem) {
  Registry registry(2);
  auto& c = registry.counter("c", "h", {"a"});
  Registry other(1);
  other.counter("c", "h", {"a"}).add({"1"});
  c.add({"1"});
  c.add({"2"});
  c.add({"3"});  // dropped
  c.add({"1"});  // existing sets keep counting
  EXPECT_EQ(registry.error_count(), 1u);
  EXPECT_EQ(other.error_count(), 0u);  // each registry counts its own drops
  EXPECT_EQ(rendered(c), "# HELP c h\n# TYPE c counter\nc{a=\"1\"} 2\nc{a=\"2\"} 1\n");
}

TEST(Metrics, ValuesAreSetRemovedAndCleared) {
  Registry registry;
  auto& g = registry.values("kong_upstream_target_health", "Health", Type::gauge, {"upstream", "state"});
  g.set({"u", "healthy"}, 1);
  g.set({"u", "unhealthy"}, 0);
  g.set({"u", "healthy"}, 0);
  EXPECT_EQ(rendered(g),
            "# HELP kong_upstream_target_health Health\n# TYPE kong_upstream_target_health gauge\n"
            "kong_upstream_target_health{upstream=\"u\",state=\"healthy\"} 0\n"
            "kong_upstream_target_health{upstream=\"u\",state=\"unhealthy\"} 0\n");
  g.remove({"u", "healthy"});
  EXPECT_EQ(rendered(g),
            "# HELP kong_upstream_target_health Health\n# TYPE kong_upstream_target_health gauge\n"
            "kong_upstream_target_health{upstream=\"u\",state=\"unhealthy\"} 0\n");
  g.clear();
  EXPECT_EQ(rendered(g), "");
}

TEST(Metrics, RegistryReturnsTheSameFamilyAndRefusesAConflict) {
  Registry registry;
  auto& a = registry.counter("x_total", "h", {"l"});
  EXPECT_EQ(&a, &registry.counter("x_total", "h", {"l"}));
  EXPECT_THROW(registry.counter("x_total", "h", {"other"}), std::logic_error);
  EXPECT_THROW(registry.histogram("x_total", "h", {"l"}, {1}), std::logic_error);
}

TEST(Metrics, FamiliesRenderSortedByName) {
  Registry registry;
  registry.values("b", "h", Type::gauge, {}).set(LabelValues{}, 1);
  registry.values("a", "h", Type::gauge, {}).set(LabelValues{}, 2.5);
  std::string out;
  render(out, registry.families());
  EXPECT_EQ(out, "# HELP a h\n# TYPE a gauge\na 2.5\n# HELP b h\n# TYPE b gauge\nb 1\n");
}

TEST(Metrics, ValuesAreFormattedAsTheExpositionWants) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(12), "12");
  EXPECT_EQ(format_value(-3), "-3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

}  // namespace
}  // namespace gh::metrics
