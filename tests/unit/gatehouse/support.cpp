// The ProtoBuf:1 tests' scripted plugin server and helpers (Gatehouse:1 is ProtoBuf:1 underneath).
#include "../protobuf/support.cpp"
