#include "proxy/snapshot.h"

#include <gtest/gtest.h>

#include <regex>

namespace gh::proxy {
namespace {

// kong.conf's node_id wins; without it every snapshot of the process carries the process's one
// UUID (Kong: one id per node, the same across reloads).
TEST(Snapshot, NodeIdIsTheConfiguredOneElseTheProcesss) {
  plugins::SeqAllocator seqs;
  plugins::SharedMemory memory;
  conf::Properties properties;
  auto first = build_snapshot(properties, {1, seqs, memory});
  auto second = build_snapshot(properties, {2, seqs, memory});
  EXPECT_EQ(first->node_id, process_node_id());
  EXPECT_EQ(second->node_id, first->node_id);
  EXPECT_TRUE(std::regex_match(
      first->node_id, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  EXPECT_EQ(second->generation, 2u);

  properties.values["node_id"] = "6f8b5c3e-0c4e-4a57-9d5b-1f2e3d4c5b6a";
  EXPECT_EQ(build_snapshot(properties, {3, seqs, memory})->node_id, "6f8b5c3e-0c4e-4a57-9d5b-1f2e3d4c5b6a");
}

}  // namespace
}  // namespace gh::proxy
