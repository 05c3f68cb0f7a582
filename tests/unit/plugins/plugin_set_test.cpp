// PluginSet's route plans: what a request resolves through a plan (one lookup per plugin name) is
// exactly what Kong's full precedence walk (resolve()) finds, for every route, consumer and name,
// including names with consumer-scoped entities and routes without a service.
#include "plugins/plugin_set.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugins/shared_memory.h"

namespace gh::plugins {
namespace {

class NoOp final : public NativeHandler {};

NativePluginSpec spec(std::string name, int priority) {
  NativePluginSpec s;
  s.name = std::move(name);
  s.priority = priority;
  s.phases = core::bit(core::Phase::access) | core::bit(core::Phase::log);
  s.make = [](const nlohmann::json&, SharedMemory&) { return std::make_unique<NoOp>(); };
  return s;
}

conf::Plugin entity(std::string id, std::string name, std::string route, std::string service,
                    std::string consumer) {
  conf::Plugin p;
  p.id = std::move(id);
  p.name = std::move(name);
  p.route_id = std::move(route);
  p.service_id = std::move(service);
  p.consumer_id = std::move(consumer);
  return p;
}

conf::Route route(std::string id, std::string service) {
  conf::Route r;
  r.id = std::move(id);
  r.service_id = std::move(service);
  return r;
}

struct Fixture {
  NativePluginSpec a = spec("a-plugin", 1000), b = spec("b-plugin", 900), c = spec("c-plugin", 800);
  conf::Declarative config;
  SeqAllocator seqs;
  SharedMemory memory;

  Fixture() {
    config.routes = {route("r1", "s1"), route("r2", "s1"), route("r3", "s2"), route("r4", "")};
    int n = 0;
    auto add = [&](const std::string& name, const char* r, const char* s, const char* c) {
      config.plugins.push_back(entity("p" + std::to_string(++n), name, r, s, c));
    };
    // a-plugin: every scope, so each level of the precedence is exercised somewhere.
    add("a-plugin", "", "", "");
    add("a-plugin", "", "s1", "");
    add("a-plugin", "r2", "", "");
    add("a-plugin", "r1", "s1", "");
    add("a-plugin", "", "", "alice");
    add("a-plugin", "r3", "", "alice");
    add("a-plugin", "", "s1", "bob");
    add("a-plugin", "r1", "s1", "bob");
    // b-plugin: no consumer-scoped entity (the plan always holds), route and service only.
    add("b-plugin", "r3", "", "");
    add("b-plugin", "", "s1", "");
    // c-plugin: consumer-scoped only (nothing without a consumer).
    add("c-plugin", "", "", "alice");
  }
};

TEST(PluginSet, PlansResolveAsTheFullPrecedenceWalk) {
  Fixture f;
  PluginSet set(f.config, nullptr, f.seqs, {&f.a, &f.b, &f.c}, f.memory);
  ASSERT_EQ(set.name_count(), 3u);
  for (const auto& r : f.config.routes) {
    const auto* plan = set.plan(r.id, r.service_id);
    ASSERT_NE(plan, nullptr) << r.id;
    for (const char* consumer : {"", "alice", "bob", "carol"}) {
      core::EntityTable table;
      if (*consumer) table = std::make_shared<const nlohmann::json>(nlohmann::json{{"id", consumer}});
      Collector collector(set, core::Phase::access, r.id, r.service_id, table);
      std::vector<const ConfiguredPlugin*> walked, expected;
      while (const auto* p = collector.next()) walked.push_back(p);
      for (size_t i = 0; i < set.name_count(); ++i)
        if (const auto* p = set.resolve(i, r.id, r.service_id, consumer)) expected.push_back(p);
      EXPECT_EQ(walked, expected) << "route " << r.id << ", consumer '" << consumer << "'";
      EXPECT_EQ(set.collect(core::Phase::access, r.id, r.service_id, consumer), expected);
    }
  }
}

TEST(PluginSet, PlanPicksTheMostSpecificScope) {
  Fixture f;
  PluginSet set(f.config, nullptr, f.seqs, {&f.a, &f.b, &f.c}, f.memory);
  auto id_of = [&](const char* r, const char* s, size_t name) {
    const auto* p = set.plan(r, s)->without_consumer[name];
    return p ? p->entity->id : std::string("-");
  };
  EXPECT_EQ(id_of("r1", "s1", 0), "p4");  // route+service
  EXPECT_EQ(id_of("r2", "s1", 0), "p3");  // route over service
  EXPECT_EQ(id_of("r3", "s2", 0), "p1");  // global (its route entity is consumer-scoped)
  EXPECT_EQ(id_of("r4", "", 0), "p1");
  EXPECT_EQ(id_of("r1", "s1", 1), "p10");  // service
  EXPECT_EQ(id_of("r3", "s2", 1), "p9");   // route
  EXPECT_EQ(id_of("r4", "", 1), "-");
  EXPECT_EQ(id_of("r1", "s1", 2), "-");  // consumer-scoped only
  EXPECT_TRUE(set.consumer_scoped(0));
  EXPECT_FALSE(set.consumer_scoped(1));
  EXPECT_TRUE(set.consumer_scoped(2));
}

TEST(PluginSet, UnknownRouteOrServiceFallsBackToTheWalk) {
  Fixture f;
  PluginSet set(f.config, nullptr, f.seqs, {&f.a, &f.b, &f.c}, f.memory);
  EXPECT_EQ(set.plan("r9", "s1"), nullptr);
  EXPECT_EQ(set.plan("r1", "s2"), nullptr);  // a route is planned with its own service only
  const auto list = set.collect(core::Phase::access, "r9", "s1");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]->entity->id, "p2");
  EXPECT_EQ(list[1]->entity->id, "p10");
  EXPECT_TRUE(set.may_run(core::Phase::access, "r4", ""));  // the global entity
  EXPECT_FALSE(set.may_run(core::Phase::rewrite, "r1", "s1"));
}

}  // namespace
}  // namespace gh::plugins
