// plugins::failure_of: the one mapping from the wire layer's error kinds to what the runner does
// (docs/plugins.md, failures), the same for every protocol.
#include <gtest/gtest.h>

#include "plugins/bridge.h"

namespace gh::plugins {
namespace {

using Kind = pluginserver::wire::ErrorKind;

TEST(FailureOf, EveryWireKind) {
  EXPECT_EQ(failure_of(Kind::instance_gone), Failure::instance_lost);  // restart it, retry once
  EXPECT_EQ(failure_of(Kind::closed), Failure::instance_lost);         // MsgPack:1: a restarted server
  EXPECT_EQ(failure_of(Kind::timeout), Failure::timeout);
  EXPECT_EQ(failure_of(Kind::transport), Failure::unavailable);
  EXPECT_EQ(failure_of(Kind::protocol), Failure::protocol);  // ProtoBuf:1 out of step: restart the server
  EXPECT_EQ(failure_of(Kind::bad_reply), Failure::error);    // MsgPack:1 garbage: connection dropped only
  EXPECT_EQ(failure_of(Kind::rejected), Failure::error);
  EXPECT_EQ(failure_of(Kind::server_error), Failure::error);
}

TEST(FailureOf, InstanceLostKinds) {
  EXPECT_TRUE(pluginserver::wire::instance_lost(Kind::instance_gone));
  EXPECT_TRUE(pluginserver::wire::instance_lost(Kind::closed));
  EXPECT_FALSE(pluginserver::wire::instance_lost(Kind::protocol));
  EXPECT_TRUE(pluginserver::wire::RpcError(Kind::closed, "x").instance_lost());
  EXPECT_EQ(pluginserver::wire::RpcError(Kind::timeout, "late").error().message, "late");
}

}  // namespace
}  // namespace gh::plugins
