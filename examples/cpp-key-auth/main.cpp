#include "key_auth.h"

int main(int argc, char** argv) {
  return gatehouse::pdk::serve<cpp_key_auth::Plugin, cpp_key_auth::Config>(argc, argv, "1.0.0", 1250);
}
