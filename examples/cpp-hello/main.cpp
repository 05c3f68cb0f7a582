#include "hello.h"

int main(int argc, char** argv) {
  return gatehouse::pdk::serve<cpp_hello::Plugin, cpp_hello::Config>(argc, argv, "1.0.0", 1000);
}
