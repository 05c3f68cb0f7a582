#include "tls/certificate_store.h"

#include <gtest/gtest.h>

namespace gh::tls {
namespace {

// Lookup only: entries without key pairs are enough to see which one is chosen.
class StoreTest : public ::testing::Test {
 protected:
  std::shared_ptr<const CertificateEntry> entry(const std::string& id) {
    auto e = std::make_shared<CertificateEntry>();
    e->id = id;
    return e;
  }
  std::string chosen(std::string_view server_name) {
    const auto* e = store.find(server_name);
    return e ? e->id : "(none)";
  }
  CertificateStore store;
};

TEST_F(StoreTest, ExactNameWinsOverWildcards) {
  store.set_default(entry("default"));
  store.add("api.example.com", entry("exact"));
  store.add("*.example.com", entry("prefix"));
  store.add("api.example.*", entry("suffix"));
  EXPECT_EQ(chosen("api.example.com"), "exact");
  EXPECT_EQ(chosen("API.Example.COM"), "exact");
  EXPECT_EQ(chosen("api.example.com."), "exact");
}

TEST_F(StoreTest, LeadingWildcardBeforeTrailingWildcard) {
  store.set_default(entry("default"));
  store.add("*.example.com", entry("prefix"));
  store.add("shop.example.*", entry("suffix"));
  EXPECT_EQ(chosen("shop.example.com"), "prefix");
  EXPECT_EQ(chosen("shop.example.org"), "suffix");
}

TEST_F(StoreTest, WildcardReplacesExactlyOneLabel) {
  store.set_default(entry("default"));
  store.add("*.example.com", entry("prefix"));
  EXPECT_EQ(chosen("a.example.com"), "prefix");
  EXPECT_EQ(chosen("a.b.example.com"), "default");
  EXPECT_EQ(chosen("example.com"), "default");
}

TEST_F(StoreTest, CatchAllSniBeforeTheDefault) {
  store.set_default(entry("default"));
  EXPECT_EQ(chosen("unknown.test"), "default");
  EXPECT_EQ(chosen(""), "default");
  store.add("*", entry("star"));
  EXPECT_EQ(chosen("unknown.test"), "star");
  EXPECT_EQ(chosen(""), "star");  // clients that send no SNI too
}

TEST_F(StoreTest, NoDefaultAndNoMatchIsNull) {
  store.add("a.test", entry("a"));
  EXPECT_EQ(chosen("b.test"), "(none)");
}

}  // namespace
}  // namespace gh::tls
