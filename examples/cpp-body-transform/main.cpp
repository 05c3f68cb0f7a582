#include "body_transform.h"

int main(int argc, char** argv) {
  return gatehouse::pdk::serve<cpp_body_transform::Plugin, cpp_body_transform::Config>(argc, argv, "1.0.0",
                                                                                       800);
}
