// The byte-bounded LRU store of proxy-cache's memory strategy.
#include "cache/store.h"

#include <gtest/gtest.h>

#include <thread>

namespace gh::cache {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const Entry> entry_of(size_t body_bytes, int status = 200) {
  auto e = std::make_shared<Entry>();
  e->status = status;
  e->body.assign(body_bytes, 'x');
  return e;
}

size_t charge(const std::string& key, size_t body_bytes) {
  return key.size() + entry_of(body_bytes)->bytes() + Store::kEntryOverhead;
}

TEST(Store, StoresAndReturnsTheSameEntry) {
  Store store(1 << 20);
  auto e = entry_of(100, 201);
  ASSERT_TRUE(store.set("k", e, 10s));
  EXPECT_EQ(store.get("k"), e);
  EXPECT_EQ(store.get("other"), nullptr);
  EXPECT_EQ(store.used(), charge("k", 100));
}

TEST(Store, ReplacingAKeyKeepsOneEntryAndItsCharge) {
  Store store(1 << 20);
  ASSERT_TRUE(store.set("k", entry_of(100), 10s));
  ASSERT_TRUE(store.set("k", entry_of(300), 10s));
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.used(), charge("k", 300));
  EXPECT_EQ(store.get("k")->body.size(), 300u);
}

TEST(Store, ExpiredEntriesAreGoneAndFreed) {
  Store store(1 << 20);
  const auto t0 = Clock::now();
  ASSERT_TRUE(store.set("k", entry_of(10), 2s, t0));
  EXPECT_NE(store.get("k", t0 + 1999ms), nullptr);
  EXPECT_EQ(store.get("k", t0 + 2s), nullptr);
  EXPECT_EQ(store.used(), 0u);
}

TEST(Store, ZeroTtlNeverExpires) {
  Store store(1 << 20);
  const auto t0 = Clock::now();
  ASSERT_TRUE(store.set("k", entry_of(10), 0s, t0));
  EXPECT_NE(store.get("k", t0 + std::chrono::hours(24 * 365)), nullptr);
}

TEST(Store, AnEntryLargerThanTheStoreIsRefusedAndEvictsNothing) {
  Store store(4096);
  ASSERT_TRUE(store.set("small", entry_of(100), 10s));
  EXPECT_FALSE(store.set("big", entry_of(4096), 10s));
  EXPECT_FALSE(store.fits(3, 4096));
  EXPECT_NE(store.get("small"), nullptr);
  EXPECT_EQ(store.get("big"), nullptr);
}

TEST(Store, EvictsTheLeastRecentlyUsedFirst) {
  const size_t one = charge("k0", 1000);
  Store store(3 * one);
  ASSERT_TRUE(store.set("k0", entry_of(1000), 10s));
  ASSERT_TRUE(store.set("k1", entry_of(1000), 10s));
  ASSERT_TRUE(store.set("k2", entry_of(1000), 10s));
  ASSERT_NE(store.get("k0"), nullptr);  // k1 is now the least recently used
  ASSERT_TRUE(store.set("k3", entry_of(1000), 10s));
  EXPECT_EQ(store.get("k1"), nullptr);
  EXPECT_NE(store.get("k0"), nullptr);
  EXPECT_NE(store.get("k2"), nullptr);
  EXPECT_NE(store.get("k3"), nullptr);
  EXPECT_LE(store.used(), store.capacity());
}

TEST(Store, UsedNeverExceedsTheCapacity) {
  Store store(64 * 1024);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(store.set("key-" + std::to_string(i), entry_of(static_cast<size_t>(i % 7000)), 10s));
    ASSERT_LE(store.used(), store.capacity());
  }
  EXPECT_NE(store.get("key-1999"), nullptr);
}

TEST(Store, ResizeEvictsDownToTheNewCapacity) {
  Store store(1 << 20);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(store.set("k" + std::to_string(i), entry_of(1000), 10s));
  store.resize(10 * charge("k10", 1000));
  EXPECT_LE(store.used(), store.capacity());
  EXPECT_NE(store.get("k99"), nullptr);
  EXPECT_EQ(store.get("k0"), nullptr);
}

TEST(Store, EraseAndClear) {
  Store store(1 << 20);
  ASSERT_TRUE(store.set("a", entry_of(10), 10s));
  ASSERT_TRUE(store.set("b", entry_of(10), 10s));
  EXPECT_TRUE(store.erase("a"));
  EXPECT_FALSE(store.erase("a"));
  store.clear();
  EXPECT_EQ(store.get("b"), nullptr);
  EXPECT_EQ(store.used(), 0u);
}

TEST(Store, ThreadsShareOneStore) {
  Store store(256 * 1024);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 5000; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + t) % 300);
        if (i % 3 == 0) {
          store.set(key, entry_of(static_cast<size_t>(i % 2000)), 10s);
        } else if (auto e = store.get(key)) {
          ASSERT_EQ(e->status, 200);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(store.used(), store.capacity());
}

}  // namespace
}  // namespace gh::cache
