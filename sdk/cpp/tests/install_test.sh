#!/bin/sh
# Installs the PDK into a temporary prefix and builds examples/cpp-hello out of tree against it
# with find_package(gatehouse-pdk), then runs the example's unit test and its -dump.
#   install_test.sh <build dir of the PDK> <examples/cpp-hello source dir> [extra CXX flags]
# (a sanitizer build of the PDK needs the same -fsanitize flags in the example)
set -eu
build=$1
example=$2
flags=${3:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" --component gatehouse-pdk >/dev/null
test -f "$work/prefix/include/gatehouse/pdk/pdk.h"
cmake -S "$example" -B "$work/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" >/dev/null
cmake --build "$work/build" -j2 >/dev/null
"$work/build/cpp-hello-test" >/dev/null
dump=$("$work/build/cpp-hello" -dump -kong-prefix /srv/kp)
case "$dump" in
  # Kong reads Protocol; gatehouse also reads the Protocols it may choose from (docs/protocol.md).
  '{"Protocol":"ProtoBuf:1","Protocols":["Gatehouse:1","ProtoBuf:1"],"SocketPath":"/srv/kp/cpp-hello.socket","Plugins":[{"Name":"cpp-hello","Phases":["access"],'*) ;;
  *) echo "unexpected dump: $dump" >&2; exit 1 ;;
esac
echo "installed PDK builds and runs examples/cpp-hello out of tree"
