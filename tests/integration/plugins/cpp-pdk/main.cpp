#include "probe.h"

int main(int argc, char** argv) {
  return gatehouse::pdk::serve<cpp_pdk_probe::Plugin, cpp_pdk_probe::Config>(argc, argv, "0.1.0", 10);
}
