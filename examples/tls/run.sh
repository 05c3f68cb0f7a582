#!/usr/bin/env bash
# TLS example: a test CA, two certificates (an exact name and a wildcard), an echo upstream on
# 127.0.0.1:9000 and gatehouse on 8000 (http) and 8443 (https). Everything it makes goes into
# build/tls-example. Needs a built gatehouse (scripts/build, or BUILD=/path/to/build).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$root/build}
out=$root/build/tls-example
mkdir -p "$out"
cd "$out"

# A test CA and two leaves signed by it (P-256, two days).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=gatehouse example CA" -keyout ca.key -out ca.crt 2>/dev/null
issue() {  # name, DNS name
  printf 'subjectAltName = DNS:%s\nextendedKeyUsage = serverAuth\n' "$2" > "$1.ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.csr" 2>/dev/null
  openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
issue api api.example.test
issue wild '*.apps.example.test'

# kong.yml carries certificates inline: each PEM indented under its key.
python3 - "$root/examples/tls/kong.yml.in" > kong.yml <<'PY'
import sys
text = open(sys.argv[1]).read()
for marker, path in (("@API_CERT@", "api.crt"), ("@API_KEY@", "api.key"),
                     ("@WILD_CERT@", "wild.crt"), ("@WILD_KEY@", "wild.key")):
    text = text.replace(marker, "".join("      " + l for l in open(path).read().splitlines(True)).rstrip("\n"))
print(text)
PY
sed -e "s#@OUT@#$out#g" "$root/examples/tls/gatehouse.conf.in" > gatehouse.conf

/usr/bin/python3 "$root/tests/support/echo_upstream.py" 9000 tls-example-upstream &
upstream_pid=$!
trap 'kill $upstream_pid 2>/dev/null || true' EXIT

cat <<TXT

gatehouse TLS example — try, from another terminal (in $out):
  curl --cacert ca.crt --resolve api.example.test:8443:127.0.0.1 https://api.example.test:8443/echo
  curl --cacert ca.crt --resolve shop.apps.example.test:8443:127.0.0.1 https://shop.apps.example.test:8443/echo
  curl -i -H 'Host: api.example.test' http://127.0.0.1:8000/account      # https-only route: 301 to https
  openssl s_client -connect 127.0.0.1:8443 -servername other.test </dev/null | grep subject
                                                   # unknown SNI: the generated self-signed default
Stop with Ctrl-C.

TXT
"$build/gatehouse" start -c gatehouse.conf
