// InstanceCache: claims, the wake-up of workers waiting for a start in progress, and the
// per-worker copies (Local) that go stale when an instance is removed.
#include "plugins/instance_cache.h"

#include <gtest/gtest.h>

namespace gh::plugins {
namespace {

using Claim = InstanceCache::Claim;

TEST(InstanceCache, OneClaimThenTheOthersWaitForItsEnd) {
  InstanceCache cache;
  int64_t id = 0;
  EXPECT_EQ(cache.lookup("s", 1, id), Claim::claimed);
  int woken = 0;
  EXPECT_EQ(cache.lookup("s", 1, id, [&] { ++woken; }), Claim::busy);
  EXPECT_EQ(cache.lookup("s", 1, id, [&] { ++woken; }), Claim::busy);
  EXPECT_EQ(woken, 0);
  cache.store("s", 1, 42);
  EXPECT_EQ(woken, 2);  // every waiter, once
  EXPECT_EQ(cache.lookup("s", 1, id), Claim::started);
  EXPECT_EQ(id, 42);
  cache.store("s", 1, 43);  // nobody waits any more
  EXPECT_EQ(woken, 2);
}

TEST(InstanceCache, AFailedStartWakesTheWaitersToClaimAgain) {
  InstanceCache cache;
  int64_t id = 0;
  ASSERT_EQ(cache.lookup("s", 1, id), Claim::claimed);
  bool woken = false;
  ASSERT_EQ(cache.lookup("s", 1, id, [&] { woken = true; }), Claim::busy);
  cache.release("s", 1);
  EXPECT_TRUE(woken);
  EXPECT_EQ(cache.lookup("s", 1, id), Claim::claimed);
}

TEST(InstanceCache, LocalCopyIsUsedUntilAnInstanceIsRemoved) {
  InstanceCache cache;
  InstanceCache::Local local;
  int64_t id = 0;
  EXPECT_FALSE(local.find(cache, 1));
  const uint64_t generation = cache.generation();
  ASSERT_EQ(cache.lookup("s", 1, id), Claim::claimed);
  cache.store("s", 1, 42);
  local.remember(1, 42, generation);
  EXPECT_EQ(local.find(cache, 1), 42);
  EXPECT_FALSE(local.find(cache, 2));

  cache.forget("s", 1, 7);  // not its id: nothing removed, the copy stays valid
  EXPECT_EQ(local.find(cache, 1), 42);
  cache.forget("s", 1, 42);  // the server lost it: every worker looks again
  EXPECT_FALSE(local.find(cache, 1));
  EXPECT_EQ(cache.lookup("s", 1, id), Claim::claimed);
}

TEST(InstanceCache, AnIdReadBeforeARemovalIsNotKept) {
  InstanceCache cache;
  InstanceCache::Local local;
  int64_t id = 0;
  EXPECT_FALSE(local.find(cache, 1));
  const uint64_t before = cache.generation();
  ASSERT_EQ(cache.lookup("s", 1, id), Claim::claimed);
  cache.store("s", 1, 42);
  cache.forget_server("s");  // the server restarted between the read and remember()
  EXPECT_FALSE(local.find(cache, 1));
  local.remember(1, 42, before);
  EXPECT_FALSE(local.find(cache, 1));
}

TEST(InstanceCache, RetiringInstancesMakesCopiesStale) {
  InstanceCache cache;
  InstanceCache::Local local;
  int64_t id = 0;
  EXPECT_FALSE(local.find(cache, 1));
  const uint64_t generation = cache.generation();
  ASSERT_EQ(cache.lookup("s", 1, id), Claim::claimed);
  cache.store("s", 1, 42);
  local.remember(1, 42, generation);
  auto taken = cache.take({{"s", 1}, {"s", 2}});
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken.begin()->second, 42);
  EXPECT_FALSE(local.find(cache, 1));
}

}  // namespace
}  // namespace gh::plugins
