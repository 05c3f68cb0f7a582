"""TLS termination and upstream TLS through the real gatehouse binary, with real clients
(Python's ssl module, curl, openssl s_client) and certificates made at test time by a test CA
with the openssl command line."""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import free_port, raw_request, wait_for_file, wait_listening


class CertificateAuthority:
    """A throw-away certificate authority (openssl CLI) issuing server and client certificates."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.crt"
        self.key = self.dir / "ca.key"
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-days", "2", "-subj", "/CN=gatehouse test CA", "-keyout", self.key, "-out", self.cert)

    def _openssl(self, *args):
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    def issue(self, name, dns_names, client=False, ips=()):
        """A leaf for `dns_names` (CN = first name) and `ips`, signed by this CA. Returns (cert_path, key_path)."""
        key, csr, cert = (self.dir / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
        ext = self.dir / f"{name}.ext"
        alt_names = [f"DNS:{n}" for n in dns_names] + [f"IP:{ip}" for ip in ips]
        ext.write_text(f"subjectAltName = {', '.join(alt_names)}\n"
                       f"extendedKeyUsage = {'clientAuth' if client else 'serverAuth'}\n")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                      "-subj", f"/CN={dns_names[0]}", "-keyout", key, "-out", csr)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                      "-days", "2", "-extfile", ext, "-out", cert)
        return cert, key

    def client_context(self):
        ctx = ssl.create_default_context(cafile=str(self.cert))
        return ctx


def indent(text, spaces):
    return "".join(" " * spaces + line + "\n" for line in text.strip().splitlines())


def certificate_entity(cert, key, snis, extra=""):
    return (f"  - cert: |\n{indent(Path(cert).read_text(), 6)}"
            f"    key: |\n{indent(Path(key).read_text(), 6)}"
            f"    snis: {json.dumps(snis)}\n{extra}")


def add_tls_listener(gw, extra=""):
    """Makes `gw` listen on a second, TLS port; returns that port."""
    gw.tls_port = free_port()
    with open(gw.conf, "a") as f:
        f.write(f"proxy_listen = 127.0.0.1:{gw.port}, 127.0.0.1:{gw.tls_port} ssl\n{extra}")
    return gw.tls_port


def start_tls_gateway(make_gateway, kong_yml, conf_extra=""):
    """A started gateway with a plain and a TLS proxy listener (gw.port, gw.tls_port). `conf_extra`
    is kong.conf text, or a function of the gateway returning it (for lines naming its prefix)."""
    gw = make_gateway(kong_yml)
    add_tls_listener(gw, conf_extra(gw) if callable(conf_extra) else conf_extra)
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.start()
    assert wait_listening(gw.proc, gw.tls_port)
    return gw


def without_name_check(context):
    context.check_hostname = False
    return context


def peer_common_name(cert_dict):
    for rdn in cert_dict.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def handshake(port, server_name, context):
    """A TLS handshake as Python's ssl module does it; returns the verified peer certificate."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            return tls.getpeercert(), tls.version()


def https_get(port, server_name, path, context, headers=None):
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    # SNI and certificate name come from the host we pretend to reach; the socket goes to 127.0.0.1.
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sock = context.wrap_socket(sock, server_hostname=server_name)
    conn.request("GET", path, headers={"Host": server_name, **(headers or {})})
    resp = conn.getresponse()
    body = resp.read()
    return conn, resp, body


@pytest.fixture
def ca(tmp_path):
    return CertificateAuthority(tmp_path / "ca")


def tls_kong_yml(upstream_port, certificates, routes_extra=""):
    return f"""
_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
      - name: any
        paths: ["/"]
      - name: secure-only
        paths: ["/secure"]
        protocols: ["https"]
      - name: secure-redirect
        paths: ["/moved"]
        protocols: ["https"]
        https_redirect_status_code: 301
      - name: by-sni
        paths: ["/sni"]
        protocols: ["https"]
        snis: ["api.example.test"]
{routes_extra}
certificates:
{certificates}
"""


@pytest.fixture
def tls_gateway(make_gateway, upstream, ca):
    api = ca.issue("api", ["api.example.test"])
    wild = ca.issue("wild", ["*.wild.example.test"])
    certs = certificate_entity(*api, ["api.example.test"]) + certificate_entity(*wild, ["*.wild.example.test"])
    return start_tls_gateway(make_gateway, tls_kong_yml(upstream.server_address[1], certs))


def test_sni_selects_the_certificate_exact_and_wildcard(tls_gateway, ca):
    ctx = ca.client_context()
    cert, version = handshake(tls_gateway.tls_port, "api.example.test", ctx)
    assert peer_common_name(cert) == "api.example.test"
    assert version in ("TLSv1.2", "TLSv1.3")
    cert, _ = handshake(tls_gateway.tls_port, "shop.wild.example.test", ctx)
    assert peer_common_name(cert) == "*.wild.example.test"
    # A wildcard covers one label only: the default (self-signed) certificate answers instead,
    # and a verifying client refuses it.
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tls_gateway.tls_port, "a.b.wild.example.test", ctx)


def test_https_requests_reach_the_upstream_with_forwarded_proto(tls_gateway, ca):
    conn, resp, body = https_get(tls_gateway.tls_port, "api.example.test", "/hello?x=1", ca.client_context())
    assert resp.status == 200
    seen = json.loads(body)
    assert seen["path"] == "/hello"
    assert seen["headers"]["x-forwarded-proto"] == "https"
    assert seen["headers"]["x-forwarded-port"] == str(tls_gateway.tls_port)
    # Keep-alive over the same TLS connection.
    conn.request("POST", "/again", body=b"x" * 100000, headers={"Host": "api.example.test"})
    resp = conn.getresponse()
    seen = json.loads(resp.read())
    assert resp.status == 200 and seen["body_length"] == 100000
    conn.close()


def test_curl_over_https(tls_gateway, ca):
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(ca.cert), "--resolve", f"api.example.test:{tls_gateway.tls_port}:127.0.0.1",
         "-w", "\n%{http_code} %{http_version}", f"https://api.example.test:{tls_gateway.tls_port}/curl"],
        capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    body, status = out.stdout.rsplit("\n", 1)
    assert status == "200 1.1"  # ALPN: h2 offered by curl, http/1.1 chosen
    assert json.loads(body)["headers"]["x-forwarded-proto"] == "https"


def test_https_only_routes_answer_426_or_redirect_over_plain_http(tls_gateway, ca):
    conn = http.client.HTTPConnection("127.0.0.1", tls_gateway.port, timeout=5)
    conn.request("GET", "/secure/x", headers={"Host": "api.example.test"})
    resp = conn.getresponse()
    assert resp.status == 426
    assert json.loads(resp.read()) == {"message": "Please use HTTPS protocol"}
    conn.request("GET", "/moved/y?q=1", headers={"Host": "api.example.test:8000"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 301
    assert resp.getheader("Location") == "https://api.example.test/moved/y?q=1"
    _, resp, body = https_get(tls_gateway.tls_port, "api.example.test", "/secure/x", ca.client_context())
    assert resp.status == 200 and json.loads(body)["path"] == "/x"  # strip_path


def test_routes_match_on_the_client_sni(tls_gateway, ca):
    # by-sni strips its /sni prefix; the catch-all "/" route forwards the path unchanged.
    _, resp, body = https_get(tls_gateway.tls_port, "api.example.test", "/sni", ca.client_context())
    assert resp.status == 200 and json.loads(body)["path"] == "/"
    # Same Host header, other SNI: by-sni does not match, the catch-all does.
    _, resp, body = https_get(tls_gateway.tls_port, "shop.wild.example.test", "/sni", ca.client_context(),
                              headers={"Host": "api.example.test"})
    assert resp.status == 200 and json.loads(body)["path"] == "/sni"


def test_openssl_s_client_sees_sni_and_protocol_floor(tls_gateway, ca):
    def s_client(*args):
        return subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{tls_gateway.tls_port}",
                               "-CAfile", str(ca.cert), *args], input="", capture_output=True, text=True,
                              timeout=20)
    ok = s_client("-servername", "api.example.test", "-verify_return_error")
    assert "CN = api.example.test" in ok.stdout and "Verify return code: 0 (ok)" in ok.stdout
    # TLS 1.1 is below the default ssl_protocols (TLSv1.2 TLSv1.3): refused.
    old = s_client("-servername", "api.example.test", "-tls1_1")
    assert "Cipher is (NONE)" in old.stdout and "New, TLSv1.3" in ok.stdout


def test_sessions_resume_across_connections_and_workers(tls_gateway, ca, tmp_path):
    session = tmp_path / "session.pem"
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{tls_gateway.tls_port}", "-servername",
            "api.example.test", "-CAfile", str(ca.cert), "-ign_eof"]
    # One request per connection, read to the end: TLS 1.3 tickets arrive after the handshake.
    request = "GET / HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n"
    first = subprocess.run([*base, "-sess_out", str(session)], input=request, capture_output=True, text=True,
                           timeout=20)
    assert first.returncode == 0 and "HTTP/1.1 200" in first.stdout
    # The gateway runs two workers (SO_REUSEPORT): resumption must work whichever one answers.
    reused = 0
    for _ in range(6):
        again = subprocess.run([*base, "-sess_in", str(session)], input=request, capture_output=True, text=True,
                               timeout=20)
        reused += "Reused, TLSv1.3" in again.stdout
    assert reused == 6


def test_default_certificate_is_generated_in_the_prefix(make_gateway, upstream):
    gw = start_tls_gateway(make_gateway, tls_kong_yml(upstream.server_address[1], "  []"))
    generated = gw.prefix / "ssl" / "gatehouse-default.crt"
    assert generated.exists() and (gw.prefix / "ssl" / "gatehouse-default.key").stat().st_mode & 0o077 == 0
    # A client trusting exactly that file verifies what the gateway serves (RSA offered first).
    ctx = ssl.create_default_context(cafile=str(generated))
    ctx.check_hostname = False
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    cert, _ = handshake(gw.tls_port, "localhost", ctx)
    assert peer_common_name(cert) == "localhost"
    first_pem = generated.read_text()
    # Kept across restarts.
    gw.stop()
    gw.start()
    assert wait_listening(gw.proc, gw.tls_port)
    assert generated.read_text() == first_pem


def test_ssl_cert_property_is_the_default_certificate(make_gateway, upstream, ca):
    fallback = ca.issue("fallback", ["fallback.example.test"])
    gw = start_tls_gateway(make_gateway, tls_kong_yml(upstream.server_address[1], certificate_entity(
        *ca.issue("api", ["api.example.test"]), ["api.example.test"])),
        f"ssl_cert = {fallback[0]}\nssl_cert_key = {fallback[1]}\n")
    cert, _ = handshake(gw.tls_port, "unknown.example.test", without_name_check(ca.client_context()))
    assert peer_common_name(cert) == "fallback.example.test"
    assert not (gw.prefix / "ssl" / "gatehouse-default.crt").exists()


def test_catch_all_sni(make_gateway, upstream, ca):
    star = ca.issue("star", ["star.example.test"])
    gw = start_tls_gateway(make_gateway, tls_kong_yml(upstream.server_address[1], certificate_entity(*star, ["*"])))
    cert, _ = handshake(gw.tls_port, "anything.test", without_name_check(ca.client_context()))
    assert peer_common_name(cert) == "star.example.test"


def test_bad_certificates_are_refused_with_their_location(make_gateway, upstream, ca):
    api_cert, _ = ca.issue("api", ["api.example.test"])
    _, other_key = ca.issue("other", ["other.example.test"])
    gw = make_gateway(tls_kong_yml(upstream.server_address[1], certificate_entity(api_cert, other_key,
                                                                                  ["api.example.test"])))
    add_tls_listener(gw)
    check = gw.cli("config", "check")
    assert check.returncode != 0
    assert "certificates[0].key: the key does not belong to the certificate" in check.stdout + check.stderr
    gw.start(expect_ok=False)
    assert gw.proc.wait(timeout=20) != 0
    assert "the key does not belong to the certificate" in gw.logs()


def test_reload_swaps_certificates(make_gateway, upstream, ca):
    first = ca.issue("first", ["api.example.test"])
    gw = start_tls_gateway(make_gateway,
                           tls_kong_yml(upstream.server_address[1], certificate_entity(*first, ["api.example.test"])))
    ctx = ca.client_context()
    serial = lambda: handshake(gw.tls_port, "api.example.test", ctx)[0]["serialNumber"]  # noqa: E731
    before = serial()
    second = ca.issue("second", ["api.example.test"])
    gw.kong_yml.write_text(tls_kong_yml(upstream.server_address[1],
                                        certificate_entity(*second, ["api.example.test"])))
    gw.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline and serial() == before:
        time.sleep(0.1)
    assert serial() != before


# ---- TLS to upstreams (protocol: https services) ------------------------------------------------

import echo_upstream  # noqa: E402  (tests/support, on sys.path through conftest)


def tls_upstream(ca, name, dns_names, ips=(), require_client_cert=False):
    """The echo upstream behind TLS, with a certificate from `ca` (optionally demanding a client
    certificate from the same CA)."""
    cert, key = ca.issue(name, dns_names, ips=ips)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    if require_client_cert:
        ctx.load_verify_locations(cafile=str(ca.cert))
        ctx.verify_mode = ssl.CERT_REQUIRED
    server = echo_upstream.Server(0, name)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CA_ID = "8f5b0e11-1111-4111-8111-111111111111"
CLIENT_CERT_ID = "8f5b0e11-2222-4222-8222-222222222222"


@pytest.fixture
def upstream_tls_gateway(make_gateway, ca):
    good = tls_upstream(ca, "good", ["localhost"], ips=["127.0.0.1"])
    misnamed = tls_upstream(ca, "misnamed", ["other.example.test"])
    mtls = tls_upstream(ca, "mtls", ["localhost"], require_client_cert=True)
    client_cert, client_key = ca.issue("gateway-client", ["gateway.example.test"], client=True)

    def service(name, port, extra, host="localhost"):
        return (f"  - name: {name}\n    url: https://{host}:{port}\n{extra}"
                f"    routes:\n      - name: {name}\n        paths: [\"/{name}\"]\n")
    trust = f"    tls_verify: true\n    ca_certificates: [\"{CA_ID}\"]\n"
    kong_yml = ("_format_version: \"3.0\"\nservices:\n"
                + service("verified", good.server_port, trust)
                + service("by-ip", good.server_port, trust, host="127.0.0.1")
                + service("system-trust", good.server_port, "    tls_verify: true\n")
                + service("unverified", good.server_port, "    tls_verify: false\n")
                + service("misnamed", misnamed.server_port, trust)
                + service("mtls", mtls.server_port, trust + f"    client_certificate: {{id: {CLIENT_CERT_ID}}}\n")
                + service("mtls-anonymous", mtls.server_port, trust)
                + f"ca_certificates:\n  - id: {CA_ID}\n    cert: |\n{indent(ca.cert.read_text(), 6)}"
                + "certificates:\n"
                + certificate_entity(client_cert, client_key, []).replace("  - cert:", f"  - id: {CLIENT_CERT_ID}\n    cert:", 1))
    gw = make_gateway(kong_yml)
    gw.good_port = good.server_port
    gw.start()
    yield gw
    for server in (good, misnamed, mtls):
        server.shutdown()
        server.server_close()


def plain_get(gw, path):
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read()


def test_upstream_tls_verified_with_the_services_ca(upstream_tls_gateway):
    status, body = plain_get(upstream_tls_gateway, "/verified/hello")
    assert status == 200, body
    seen = json.loads(body)
    assert seen["server"] == "good" and seen["path"] == "/hello"
    assert seen["headers"]["host"] == f"localhost:{upstream_tls_gateway.good_port}"
    assert seen["headers"]["x-forwarded-proto"] == "http"  # the client's side, not the upstream's
    status, body = plain_get(upstream_tls_gateway, "/by-ip/x")  # verified against the IP entry
    assert status == 200 and json.loads(body)["server"] == "good"


def test_upstream_tls_connections_are_reused(upstream_tls_gateway):
    ports = {json.loads(plain_get(upstream_tls_gateway, "/verified/n")[1])["client_port"] for _ in range(4)}
    # Two workers: at most one pooled TLS connection each.
    assert len(ports) <= 2


def test_upstream_tls_verification_failures_are_502(upstream_tls_gateway):
    status, body = plain_get(upstream_tls_gateway, "/system-trust/x")  # our test CA is not in the system store
    assert status == 502 and json.loads(body)["message"] == "An invalid response was received from the upstream server"
    status, _ = plain_get(upstream_tls_gateway, "/misnamed/x")  # trusted CA, wrong name
    assert status == 502
    logs = upstream_tls_gateway.logs()
    assert "certificate verify error: 20:unable to get local issuer certificate" in logs
    assert "certificate verify error: 62:hostname mismatch" in logs


def test_upstream_tls_without_verification(upstream_tls_gateway):
    status, body = plain_get(upstream_tls_gateway, "/unverified/x")
    assert status == 200 and json.loads(body)["server"] == "good"


def test_upstream_client_certificate(upstream_tls_gateway):
    status, body = plain_get(upstream_tls_gateway, "/mtls/x")
    assert status == 200, body
    assert json.loads(body)["server"] == "mtls"
    status, _ = plain_get(upstream_tls_gateway, "/mtls-anonymous/x")
    assert status == 502


# ---- The certificate phase (global plugins, during the handshake) -------------------------------

JS_SERVER = Path(__file__).resolve().parents[2] / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
JS_TLS_PLUGINS = Path(__file__).resolve().parent / "plugins" / "js-tls"


def cpp_sni_tag():
    from conftest import BUILD_DIR
    return BUILD_DIR / "examples" / "bin" / "cpp-sni-tag"


def plugin_servers_conf(gw, plugins, timeout_ms=None):
    """The JS server (plugins in JS_TLS_PLUGINS) and the C++ cpp-sni-tag server."""
    binary = cpp_sni_tag()
    js_timeout = f"pluginserver_js_timeout = {timeout_ms}\n" if timeout_ms else ""
    return (f"plugins = bundled, {plugins}\npluginserver_names = js, cpp-sni-tag\n{js_timeout}"
            f"pluginserver_js_socket = {gw.prefix}/js_pluginserver.sock\n"
            f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {JS_TLS_PLUGINS} --kong-prefix {gw.prefix}\n"
            f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {JS_TLS_PLUGINS} --dump-all-plugins\n"
            f"pluginserver_cpp_sni_tag_socket = {gw.prefix}/cpp-sni-tag.socket\n"
            f"pluginserver_cpp_sni_tag_start_cmd = {binary} -kong-prefix {gw.prefix}\n"
            f"pluginserver_cpp_sni_tag_query_cmd = {binary} -dump -kong-prefix {gw.prefix}\n")


CERT_PHASE_SNIS = ["api.example.test", "slow.example.test", "refused.example.test", "mtls.example.test",
                   "mtls-noca.example.test", "noreuse.example.test"]


@pytest.fixture
def cert_phase_gateway(make_gateway, upstream, ca, tmp_path):
    api = ca.issue("api", CERT_PHASE_SNIS)
    kong_yml = tls_kong_yml(upstream.server_address[1], certificate_entity(*api, CERT_PHASE_SNIS))
    config = {"stall_sni": "slow.example.test", "stall_ms": 1500, "started_file": str(tmp_path / "stall-started"),
              "crash_sni": "refused.example.test",
              "mtls_sni": "mtls.example.test", "mtls_ca": ca.cert.read_text(),
              "mtls_noca_sni": "mtls-noca.example.test", "noreuse_sni": "noreuse.example.test"}
    kong_yml += ("plugins:\n"
                 "  - name: js-cert\n"
                 f"    config: {json.dumps(config)}\n"
                 "  - name: cpp-sni-tag\n")
    return start_tls_gateway(make_gateway, kong_yml, lambda gw: plugin_servers_conf(gw, "js-cert, cpp-sni-tag"))


def test_certificate_phase_shares_the_sni_with_the_connections_requests(cert_phase_gateway, ca):
    conn, resp, body = https_get(cert_phase_gateway.tls_port, "api.example.test", "/a", ca.client_context())
    assert resp.status == 200, body
    seen = json.loads(body)["headers"]
    # Set by the JS plugin's certificate handler (MsgPack:1) and by the C++ one (ProtoBuf:1), read in access.
    assert seen["x-js-cert-sni"] == "api.example.test"
    assert seen["x-cpp-sni"] == "api.example.test"
    handshake = seen["x-js-cert-handshake"]
    # The next request on the same connection sees the same handshake's values.
    conn.request("GET", "/b", headers={"Host": "api.example.test"})
    again = json.loads(conn.getresponse().read())["headers"]
    assert again["x-js-cert-sni"] == "api.example.test" and again["x-js-cert-handshake"] == handshake
    conn.close()
    # A plain-HTTP request had no handshake: nothing shared.
    status, body = plain_get(cert_phase_gateway, "/c")
    assert json.loads(body)["headers"]["x-js-cert-sni"] == "(no handshake)"
    assert json.loads(body)["headers"]["x-cpp-sni"] == "(no handshake)"


def test_slow_certificate_phase_delays_only_its_own_handshake(cert_phase_gateway, ca, tmp_path):
    ctx = ca.client_context()
    slow_done = {}

    def slow():
        start = time.time()
        handshake(cert_phase_gateway.tls_port, "slow.example.test", ctx)
        slow_done["seconds"] = time.time() - start

    worker = threading.Thread(target=slow)
    worker.start()
    wait_for_file(tmp_path / "stall-started")  # the slow handshake is inside its certificate phase
    start = time.time()
    for _ in range(3):
        handshake(cert_phase_gateway.tls_port, "api.example.test", ctx)
    fast = time.time() - start
    worker.join(timeout=20)
    assert not worker.is_alive()
    assert 1.4 <= slow_done["seconds"] < 6  # the plugin's 1.5 s stall (stall_ms), not a timeout
    assert fast < 1.0  # the other handshakes did not wait for the stalled one


def test_crashed_plugin_server_ends_the_handshake_cleanly(cert_phase_gateway, ca):
    ctx = ca.client_context()
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        handshake(cert_phase_gateway.tls_port, "refused.example.test", ctx)
    assert "plugin 'js-cert' failed in phase certificate" in cert_phase_gateway.logs()
    # fail_closed: handshakes are refused until the supervisor has restarted the server, then work.
    cert = wait_for_handshakes(cert_phase_gateway, ctx)
    assert peer_common_name(cert) == "api.example.test"


def wait_for_handshakes(gw, ctx, server_name="api.example.test", seconds=20):
    """Retries handshakes until one succeeds (e.g. once the supervisor restarted a plugin server)."""
    deadline = time.time() + seconds
    while True:
        try:
            return handshake(gw.tls_port, server_name, ctx)[0]
        except (ssl.SSLError, OSError):
            assert time.time() < deadline, "handshakes never recovered:\n" + gw.logs()[-3000:]
            time.sleep(0.2)


def running_server_pid(gw, name):
    """The pid of plugin server `name` once it runs and accepts (gatehouse plugins --running)."""
    deadline = time.time() + 15
    while time.time() < deadline:
        out = gw.cli("plugins", "--running", "--json")
        if out.returncode == 0:
            for server in json.loads(out.stdout)["servers"]:
                if server["name"] == name and server.get("pid") and server.get("ready"):
                    return server["pid"]
        time.sleep(0.1)
    raise AssertionError(f"plugin server {name} is not running:\n" + gw.logs()[-3000:])


# ---- kong.client.tls.*: client certificates asked for in the certificate phase ------------------

def client_certificate(ca):
    """A client certificate from `ca` as (cert file, key file). The client (OpenSSL under Python's
    ssl) sends it with the CA certificate it trusts after it: a chain of two."""
    return ca.issue("client", ["client.example.test"], client=True)


def mtls_get(gw, ca, server_name, cert=None, headers=None):
    ctx = ca.client_context()
    if cert:
        ctx.load_cert_chain(*map(str, cert))
    conn, resp, body = https_get(gw.tls_port, server_name, "/mtls", ctx, headers)
    assert resp.status == 200, body
    return conn, json.loads(body)["headers"]


def test_client_certificate_requested_and_verified_against_the_plugins_ca(cert_phase_gateway, ca):
    conn, seen = mtls_get(cert_phase_gateway, ca, "mtls.example.test", client_certificate(ca))
    # JS (MsgPack:1): request_client_certificate(ca) in the certificate phase, then in access the
    # full chain (the leaf and the CA certificate the client sent after it) and the verification.
    assert seen["x-js-client-chain"] == "2"
    assert seen["x-js-client-verify"] == "SUCCESS"
    # C++ (ProtoBuf:1) reads the same certificate through $ssl_client_s_dn / $ssl_client_verify.
    assert seen["x-cpp-sni-client"] == "CN=client.example.test"
    assert seen["x-cpp-sni-client-verify"] == "SUCCESS"
    # Every request of the connection sees the certificate.
    conn.request("GET", "/again", headers={"Host": "mtls.example.test"})
    assert json.loads(conn.getresponse().read())["headers"]["x-js-client-chain"] == "2"
    conn.close()


def test_client_without_a_certificate_still_connects(cert_phase_gateway, ca):
    _, seen = mtls_get(cert_phase_gateway, ca, "mtls.example.test")
    assert seen["x-js-client-chain"] == "0" and seen["x-js-client-verify"] == "NONE"
    assert "x-cpp-sni-client" not in seen
    # Where no plugin asked, a client holding a certificate is not asked to send it.
    _, seen = mtls_get(cert_phase_gateway, ca, "api.example.test", client_certificate(ca))
    assert seen["x-js-client-chain"] == "0" and seen["x-js-client-verify"] == "NONE"


def test_set_client_verify_overrides_the_verdict_for_one_request(cert_phase_gateway, ca):
    # Asked without a CA: the certificate arrives, but nothing vouches for it.
    conn, seen = mtls_get(cert_phase_gateway, ca, "mtls-noca.example.test", client_certificate(ca),
                          headers={"x-set-client-verify": "SUCCESS"})
    assert seen["x-js-client-chain"] == "2"
    failed = seen["x-js-client-verify"]
    assert failed.startswith("FAILED:") and "certificate" in failed, failed
    assert seen["x-js-client-verify-after"] == "SUCCESS"
    assert seen["x-cpp-sni-client-verify"] == "SUCCESS"  # later plugins see the plugin's verdict
    conn.request("GET", "/again", headers={"Host": "mtls-noca.example.test"})
    again = json.loads(conn.getresponse().read())["headers"]
    assert again["x-cpp-sni-client-verify"] == failed
    # A verdict that is not SUCCESS, NONE or FAILED:<reason> is refused (the JS plugin's call fails).
    conn, seen = mtls_get(cert_phase_gateway, ca, "mtls-noca.example.test", client_certificate(ca),
                          headers={"x-set-client-verify": "MAYBE"})
    assert "x-js-client-verify-after" not in seen
    assert "unknown client verify value: MAYBE" in cert_phase_gateway.logs()


def resumed(gw, ca, server_name, session_file, *extra):
    """Two openssl s_client connections, the second offering the first one's session."""
    base = ["openssl", "s_client", "-connect", f"127.0.0.1:{gw.tls_port}", "-servername", server_name,
            "-CAfile", str(ca.cert), "-ign_eof", *extra]
    request = f"GET / HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n"
    session_file.unlink(missing_ok=True)
    first = subprocess.run([*base, "-sess_out", str(session_file)], input=request, capture_output=True,
                           text=True, timeout=20)
    assert "HTTP/1.1 200" in first.stdout, first.stdout + first.stderr
    if not session_file.exists():
        return False  # TLS 1.3 without a ticket: the client got nothing it could offer again
    again = subprocess.run([*base, "-sess_in", str(session_file)], input=request, capture_output=True,
                           text=True, timeout=20)
    assert "HTTP/1.1 200" in again.stdout
    return "Reused," in again.stdout


def test_disable_session_reuse_in_the_certificate_phase(cert_phase_gateway, ca, tmp_path):
    for protocol in ("-tls1_3", "-tls1_2"):  # TLS 1.3 tickets; TLS 1.2 session ids and tickets
        assert resumed(cert_phase_gateway, ca, "api.example.test", tmp_path / "api.pem", protocol)
        assert not resumed(cert_phase_gateway, ca, "noreuse.example.test", tmp_path / "noreuse.pem", protocol)


# ---- Plugin-server faults during handshakes -----------------------------------------------------

@pytest.fixture
def handshake_fault_gateway(make_gateway, upstream, ca, tmp_path):
    """Only a certificate handler on the JS server (js-handshake), with a 1 s plugin timeout: plain
    requests never involve that server. gw.stall_started: the file the plugin creates when it holds
    a slow.example.test handshake."""
    api = ca.issue("api", ["api.example.test", "slow.example.test"])
    kong_yml = tls_kong_yml(upstream.server_address[1],
                            certificate_entity(*api, ["api.example.test", "slow.example.test"]))
    started = tmp_path / "stall-started"
    kong_yml += ("plugins:\n  - name: js-handshake\n"
                 f"    config: {{stall_sni: slow.example.test, stall_ms: 5000, started_file: \"{started}\"}}\n")
    gw = start_tls_gateway(make_gateway, kong_yml, lambda gw: plugin_servers_conf(gw, "js-handshake", 1000))
    gw.stall_started = started
    return gw


def test_stopped_plugin_server_fails_the_handshake_within_the_plugin_timeout(handshake_fault_gateway, ca):
    gw, ctx = handshake_fault_gateway, ca.client_context()
    handshake(gw.tls_port, "api.example.test", ctx)
    pid = running_server_pid(gw, "js")
    os.kill(pid, signal.SIGSTOP)
    try:
        failed = {}

        def stalled_handshake():
            start = time.time()
            try:
                handshake(gw.tls_port, "api.example.test", ctx)
            except (ssl.SSLError, OSError) as e:
                failed["error"] = e
            failed["seconds"] = time.time() - start

        client = threading.Thread(target=stalled_handshake)
        client.start()
        # Meanwhile plain requests are served at once: nothing waits for the stopped server.
        start = time.time()
        for _ in range(5):
            assert plain_get(gw, "/plain")[0] == 200
        assert time.time() - start < 1.0
        client.join(timeout=20)
        assert "error" in failed, "the handshake succeeded although its plugin never answered"
        assert 0.9 <= failed["seconds"] < 4.0  # pluginserver_js_timeout = 1000 ms, not the 60 s handshake limit
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass  # already killed by the supervisor
    # The supervisor kills the hung server (its report is handled on the supervisor's thread, a few
    # ms after the handshake failed) and starts a new one: handshakes work again.
    killed = f"pluginserver 'js' (pid {pid}) did not answer in time"
    deadline = time.time() + 10
    while killed not in gw.logs() and time.time() < deadline:
        time.sleep(0.02)
    assert killed in gw.logs() and "killing it" in gw.logs(), gw.logs()[-3000:]
    wait_for_handshakes(gw, ctx)
    assert running_server_pid(gw, "js") != pid


def test_plugin_server_killed_during_a_handshake(handshake_fault_gateway, ca):
    gw, ctx = handshake_fault_gateway, ca.client_context()
    pid = running_server_pid(gw, "js")
    outcome = {}

    def held_handshake():  # the plugin holds this one for 5 s
        start = time.time()
        try:
            handshake(gw.tls_port, "slow.example.test", ctx)
            outcome["ok"] = True
        except (ssl.SSLError, OSError):
            outcome["ok"] = False
        outcome["seconds"] = time.time() - start

    client = threading.Thread(target=held_handshake)
    client.start()
    wait_for_file(gw.stall_started)  # the plugin holds the handshake: the event is open
    killed = time.time()
    os.kill(pid, signal.SIGKILL)
    client.join(timeout=20)
    assert outcome["ok"] is False
    # ended by the crash, not by the 5 s stall nor the 1 s plugin timeout
    assert time.time() - killed < 0.5, outcome
    assert plain_get(gw, "/plain")[0] == 200
    wait_for_handshakes(gw, ctx)
    assert running_server_pid(gw, "js") != pid


# ---- The admin API over TLS (admin_listen ... ssl) ----------------------------------------------

def add_admin_tls_listener(gw, extra=""):
    gw.admin_tls_port = free_port()
    with open(gw.conf, "a") as f:
        f.write(f"admin_listen = 127.0.0.1:{gw.admin_port}, 127.0.0.1:{gw.admin_tls_port} ssl\n{extra}")


def test_admin_api_over_tls_with_admin_ssl_cert(make_gateway, upstream, ca):
    admin_cert, admin_key = ca.issue("admin", ["admin.example.test"])
    api = ca.issue("api", ["api.example.test"])
    gw = make_gateway(tls_kong_yml(upstream.server_address[1], certificate_entity(*api, ["api.example.test"])))
    add_admin_tls_listener(gw, f"admin_ssl_cert = {admin_cert}\nadmin_ssl_cert_key = {admin_key}\n")
    gw.start()
    assert wait_listening(gw.proc, gw.admin_tls_port)
    conn, resp, body = https_get(gw.admin_tls_port, "admin.example.test", "/status", ca.client_context())
    assert resp.status == 200 and json.loads(body)["server"]["connections_active"] >= 0
    conn.request("GET", "/services", headers={"Host": "admin.example.test"})  # keep-alive over TLS
    assert [s["name"] for s in json.loads(conn.getresponse().read())["data"]] == ["echo"]
    conn.close()
    # The admin listener serves admin_ssl_cert whatever the SNI: kong.yml certificates are the proxy's.
    cert, _ = handshake(gw.admin_tls_port, "api.example.test", without_name_check(ca.client_context()))
    assert peer_common_name(cert) == "admin.example.test"
    # curl, and the plain admin listener next to it.
    out = subprocess.run(["curl", "-sS", "--cacert", str(ca.cert), "--resolve",
                          f"admin.example.test:{gw.admin_tls_port}:127.0.0.1",
                          f"https://admin.example.test:{gw.admin_tls_port}/"], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 0 and json.loads(out.stdout)["tagline"] == "Welcome to gatehouse"
    assert raw_request(gw.admin_port, b"GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") \
        .startswith(b"HTTP/1.1 200")


def test_admin_tls_without_admin_ssl_cert_generates_its_own_certificate(make_gateway, upstream):
    gw = make_gateway(tls_kong_yml(upstream.server_address[1], "  []"))
    add_admin_tls_listener(gw)
    gw.start()
    assert wait_listening(gw.proc, gw.admin_tls_port)
    generated = gw.prefix / "ssl" / "admin-gatehouse-default.crt"
    assert generated.exists() and (gw.prefix / "ssl" / "admin-gatehouse-default.key").stat().st_mode & 0o077 == 0
    assert (gw.prefix / "ssl" / "admin-gatehouse-default-ecdsa.crt").exists()
    # Its own pair: the proxy has no TLS listener here, so no proxy default was generated.
    assert not (gw.prefix / "ssl" / "gatehouse-default.crt").exists()
    ctx = without_name_check(ssl.create_default_context(cafile=str(generated)))
    ctx.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")  # the RSA pair (the file the client trusts)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    _, resp, body = https_get(gw.admin_tls_port, "localhost", "/", ctx)
    assert resp.status == 200 and "version" in json.loads(body)


def test_bad_admin_ssl_cert_is_refused(make_gateway, upstream, ca):
    admin_cert, _ = ca.issue("admin", ["admin.example.test"])
    _, other_key = ca.issue("other", ["other.example.test"])
    gw = make_gateway(tls_kong_yml(upstream.server_address[1], "  []"))
    add_admin_tls_listener(gw, f"admin_ssl_cert = {admin_cert}\nadmin_ssl_cert_key = {other_key}\n")
    check = gw.cli("config", "check")
    assert check.returncode != 0
    assert "admin_ssl_cert_key: the key does not belong to the certificate" in check.stdout + check.stderr


def admin_mtls_get(gw, ca, cert=None):
    """(status, body) of GET /services on the admin TLS port, presenting `cert` if given."""
    ctx = ca.client_context()
    if cert:
        ctx.load_cert_chain(*map(str, cert))
    conn, resp, body = https_get(gw.admin_tls_port, "admin.example.test", "/services", ctx)
    conn.close()
    return resp.status, json.loads(body)


@pytest.mark.parametrize("mode", ["on", "optional"])
def test_admin_client_certificates_with_kongs_injected_nginx_directives(make_gateway, upstream, ca, tmp_path, mode):
    admin_cert, admin_key = ca.issue("admin", ["admin.example.test"])
    stranger_ca = CertificateAuthority(tmp_path / "stranger")
    gw = make_gateway(tls_kong_yml(upstream.server_address[1], "  []"))
    add_admin_tls_listener(gw, f"admin_ssl_cert = {admin_cert}\nadmin_ssl_cert_key = {admin_key}\n"
                               f"nginx_admin_ssl_verify_client = {mode}\n"
                               f"nginx_admin_ssl_client_certificate = {ca.cert}\n")
    gw.start()
    assert wait_listening(gw.proc, gw.admin_tls_port)
    status, body = admin_mtls_get(gw, ca, client_certificate(ca))
    assert status == 200 and [s["name"] for s in body["data"]] == ["echo"]
    # A certificate from a CA the listener does not trust: nginx's 400, whatever the mode.
    stranger = stranger_ca.issue("intruder", ["intruder.example.test"], client=True)
    assert admin_mtls_get(gw, ca, stranger) == (400, {"message": "The SSL certificate error"})
    # None at all: refused when required, served when optional.
    if mode == "on":
        assert admin_mtls_get(gw, ca) == (400, {"message": "No required SSL certificate was sent"})
    else:
        assert admin_mtls_get(gw, ca)[0] == 200
    # The plain listener next to it is not concerned (it is loopback-only, as by default).
    assert raw_request(gw.admin_port, b"GET /status HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") \
        .startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("extra, words", [
    ("nginx_admin_ssl_verify_client = on\n", "needs nginx_admin_ssl_client_certificate"),
    ("nginx_admin_ssl_verify_client = sometimes\nnginx_admin_ssl_client_certificate = {ca}\n",
     "expected on, off or optional"),
    ("nginx_admin_ssl_verify_client = on\nnginx_admin_ssl_client_certificate = {key}\n", "no PEM certificate"),
    ("nginx_admin_ssl_verify_depth = 2\n", "nginx_admin_ssl_verify_depth: not supported"),
])
def test_bad_admin_client_verification_is_refused(make_gateway, upstream, ca, extra, words):
    admin_cert, admin_key = ca.issue("admin", ["admin.example.test"])
    gw = make_gateway(tls_kong_yml(upstream.server_address[1], "  []"))
    add_admin_tls_listener(gw, extra.format(ca=ca.cert, key=ca.key))
    check = gw.cli("config", "check")
    assert check.returncode != 0 and words in check.stdout + check.stderr, check.stdout + check.stderr
