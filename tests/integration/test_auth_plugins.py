"""The native key-auth, basic-auth, jwt and acl plugins through the real gateway and a real upstream,
checked against what Kong documents and its spec/03-plugins tests: status codes, bodies,
WWW-Authenticate headers, the X-Consumer-* headers the upstream sees, anonymous consumers,
hide_credentials, configurations refused, hostile input; and mixed chains with the real npm
kong-pdk JS server (tests/integration/plugins/js-auth-chain)."""
import base64
import http.client
import json
import time
import urllib.parse

import pytest

from conftest import ROOT
from test_proxy import get as request
import jwt_sign

ALICE_ID = "0b8f0e4a-1c2d-4e3f-9a4b-5c6d7e8f9a01"
BOB_ID = "0b8f0e4a-1c2d-4e3f-9a4b-5c6d7e8f9a02"
ANON_ID = "0b8f0e4a-1c2d-4e3f-9a4b-5c6d7e8f9a03"
ALICE_KEY_ID = "0b8f0e4a-1c2d-4e3f-9a4b-5c6d7e8f9a11"
JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
# js-consumer-echo (here) reads the consumer; js-auth (test_floor_plugins') authenticates one.
JS_PLUGINS = [ROOT / "tests" / "integration" / "plugins" / "js-auth-chain" / "js-consumer-echo.js",
              ROOT / "tests" / "integration" / "plugins" / "js-floor" / "js-auth.js"]


def echoed(data):
    """What the echo upstream received: its JSON with lower-case header names."""
    seen = json.loads(data)
    seen["headers"] = {k.lower(): v for k, v in seen["headers"].items()}
    return seen


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def consumers_yml(rsa_pem="", es_pem="", ps_pem="", ed_pem=""):
    rsa = f"""
      - key: alice-rsa
        algorithm: RS256
        rsa_public_key: |
{indent(rsa_pem, 10)}""" if rsa_pem else ""
    es = f"""
      - key: alice-es
        algorithm: ES256
        rsa_public_key: |
{indent(es_pem, 10)}""" if es_pem else ""
    ps = f"""
      - key: alice-ps
        algorithm: PS256
        rsa_public_key: |
{indent(ps_pem, 10)}""" if ps_pem else ""
    ed = f"""
      - key: alice-ed
        algorithm: EdDSA
        rsa_public_key: |
{indent(ed_pem, 10)}""" if ed_pem else ""
    return f"""
consumers:
  - id: {ALICE_ID}
    username: alice
    custom_id: alice-custom
    keyauth_credentials:
      - id: {ALICE_KEY_ID}
        key: alice-key
    basicauth_credentials:
      - username: alice
        password: "open:sesame"
    jwt_secrets:
      - key: alice-iss
        secret: alice-secret
      - key: alice-b64
        secret: {base64.b64encode(b"binary-secret").decode()}{rsa}{es}{ps}{ed}
    acls:
      - group: admins
      - group: staff
  - id: {BOB_ID}
    username: bob
  - id: {ANON_ID}
    username: anonymous
keyauth_credentials:
  - consumer: bob
    key: bob-key
acls:
  - consumer: bob
    group: staff
"""


def indent(text, spaces):
    return "\n".join(" " * spaces + line for line in text.strip().splitlines())


def route(name, plugins):
    """A route /<name> whose plugins are given as YAML list items (already indented by 10)."""
    return f"""      - name: {name}
        paths: [/{name}]
        plugins:
{plugins}
"""


def auth_yml(upstream_port, routes, extra=""):
    return f"""_format_version: "3.0"
{consumers_yml(**extra) if isinstance(extra, dict) else consumers_yml()}
services:
  - name: echo
    url: http://127.0.0.1:{upstream_port}
    routes:
{routes}
"""


@pytest.fixture(scope="module")
def keys():
    return {alg: jwt_sign.make_key(alg) for alg in ("RS256", "ES256", "PS256", "EdDSA")}


@pytest.fixture
def gw(make_gateway, upstream, keys):
    routes = "".join([
        route("key", "          - name: key-auth"),
        route("key-hide", "          - name: key-auth\n            config: {hide_credentials: true}"),
        route("key-realm", "          - name: key-auth\n            config: {realm: gatehouse}"),
        route("key-body", "          - name: key-auth\n            config: {key_in_body: true, key_in_header: false,"
                          " key_in_query: false, hide_credentials: true}"),
        route("key-anon", f"          - name: key-auth\n            config: {{anonymous: {ANON_ID}}}"),
        route("key-anon-name", "          - name: key-auth\n            config: {anonymous: anonymous}"),
        route("key-anon-ghost", "          - name: key-auth\n            config: {anonymous: ghost}"),
        route("key-preflight", "          - name: key-auth\n            config: {run_on_preflight: false}"),
        route("basic", "          - name: basic-auth"),
        route("basic-hide", "          - name: basic-auth\n            config: {hide_credentials: true}"),
        route("basic-anon", "          - name: basic-auth\n            config: {anonymous: anonymous}"),
        route("jwt", "          - name: jwt"),
        route("jwt-exp", "          - name: jwt\n            config: {claims_to_verify: [exp, nbf]}"),
        route("jwt-max", "          - name: jwt\n            config: {claims_to_verify: [exp], maximum_expiration: 60}"),
        route("jwt-cookie", "          - name: jwt\n            config: {cookie_names: [session], uri_param_names: []}"),
        route("jwt-b64", "          - name: jwt\n            config: {secret_is_base64: true}"),
        route("jwt-anon", "          - name: jwt\n            config: {anonymous: anonymous}"),
        route("acl-allow", "          - name: key-auth\n          - name: acl\n            config: {allow: [admins]}"),
        route("acl-deny", "          - name: key-auth\n          - name: acl\n            config: {deny: [admins]}"),
        route("acl-hide", "          - name: key-auth\n          - name: acl\n"
                          "            config: {allow: [staff], hide_groups_header: true}"),
        route("acl-alone", "          - name: acl\n            config: {allow: [staff]}"),
        route("acl-anon", f"          - name: key-auth\n            config: {{anonymous: {ANON_ID}}}\n"
                          "          - name: acl\n            config: {allow: [staff]}"),
        route("or", "          - name: key-auth\n            config: {anonymous: anonymous}\n"
                    "          - name: basic-auth\n            config: {anonymous: anonymous}"),
        route("and", "          - name: key-auth\n          - name: basic-auth"),
    ])
    extra = {name: jwt_sign.public_pem(keys[alg])
             for name, alg in (("rsa_pem", "RS256"), ("es_pem", "ES256"), ("ps_pem", "PS256"), ("ed_pem", "EdDSA"))}
    return make_gateway(auth_yml(upstream.server_port, routes, extra)).start()


# ---- key-auth (Kong: spec/03-plugins/09-key-auth/02-access_spec.lua) -----------------------------

def test_key_auth_refuses_without_a_key(gw):
    resp, body = request(gw, "/key")
    assert resp.status == 401
    assert json.loads(body) == {"message": "No API key found in request"}
    assert resp.getheader("WWW-Authenticate") == "Key"
    resp, _ = request(gw, "/key-realm")
    assert resp.getheader("WWW-Authenticate") == 'Key realm="gatehouse"'
    resp, body = request(gw, "/key?apikey=")
    assert (resp.status, json.loads(body)) == (401, {"message": "No API key found in request"})


def test_key_auth_refuses_a_wrong_key(gw):
    resp, body = request(gw, "/key", headers={"apikey": "nope"})
    assert resp.status == 401
    assert json.loads(body) == {"message": "Unauthorized"}
    assert resp.getheader("WWW-Authenticate") == "Key"


def test_key_auth_in_header_identifies_the_consumer_upstream(gw):
    resp, body = request(gw, "/key", headers={"apikey": "alice-key"})
    assert resp.status == 200, body
    seen = echoed(body)["headers"]
    assert seen["x-consumer-id"] == ALICE_ID
    assert seen["x-consumer-username"] == "alice"
    assert seen["x-consumer-custom-id"] == "alice-custom"
    assert seen["x-credential-identifier"] == ALICE_KEY_ID
    assert "x-anonymous-consumer" not in seen
    assert seen["apikey"] == "alice-key"  # hide_credentials is off


def test_key_auth_in_query_and_hide_credentials(gw):
    resp, body = request(gw, "/key?apikey=bob-key&x=1")
    assert resp.status == 200, body
    seen = echoed(body)
    assert seen["headers"]["x-consumer-username"] == "bob"
    assert "x-consumer-custom-id" not in seen["headers"]
    resp, body = request(gw, "/key-hide?apikey=bob-key&x=1", headers={"apikey": "alice-key"})
    seen = echoed(body)
    assert seen["headers"]["x-consumer-username"] == "alice"  # the header is searched first
    assert "apikey" not in seen["headers"]
    assert urllib.parse.parse_qs(seen["query"]) == {"x": ["1"]}


def test_key_auth_client_cannot_forge_consumer_headers(gw):
    forged = {"apikey": "bob-key", "X-Consumer-Custom-ID": "admin", "X-Anonymous-Consumer": "true",
              "X-Credential-Identifier": "forged"}
    resp, body = request(gw, "/key", headers=forged)
    seen = echoed(body)["headers"]
    assert "x-consumer-custom-id" not in seen and "x-anonymous-consumer" not in seen
    assert seen["x-credential-identifier"] != "forged"


def test_key_auth_duplicate_key(gw):
    resp, body = request(gw, "/key?apikey=alice-key&apikey=bob-key")
    assert (resp.status, json.loads(body)) == (401, {"message": "Duplicate API key found"})


def test_key_auth_in_form_and_json_bodies(gw):
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    resp, body = request(gw, "/key-body", "POST", form, "apikey=alice-key&keep=1")
    assert resp.status == 200, body
    seen = echoed(body)
    assert seen["headers"]["x-consumer-username"] == "alice"
    assert urllib.parse.parse_qs(seen["body"]) == {"keep": ["1"]}  # hidden from the upstream
    resp, body = request(gw, "/key-body", "POST", {"Content-Type": "application/json"},
                         json.dumps({"apikey": "bob-key", "keep": 1}))
    assert resp.status == 200, body
    seen = echoed(body)
    assert seen["headers"]["x-consumer-username"] == "bob"
    assert json.loads(seen["body"]) == {"keep": 1}
    resp, _ = request(gw, "/key-body", headers={"apikey": "alice-key"})  # key_in_header: false
    assert resp.status == 401


def test_key_auth_anonymous(gw):
    for path in ("/key-anon", "/key-anon-name"):
        resp, body = request(gw, path)
        assert resp.status == 200, body
        seen = echoed(body)["headers"]
        assert seen["x-anonymous-consumer"] == "true"
        assert seen["x-consumer-username"] == "anonymous"
        assert seen["x-consumer-id"] == ANON_ID
        assert "x-credential-identifier" not in seen
    resp, body = request(gw, "/key-anon", headers={"apikey": "alice-key"})
    assert echoed(body)["headers"]["x-consumer-username"] == "alice"
    resp, body = request(gw, "/key-anon-ghost")  # an anonymous consumer that does not exist
    assert resp.status == 500
    assert json.loads(body) == {"message": "An unexpected error occurred"}


def test_key_auth_preflight(gw):
    resp, _ = request(gw, "/key-preflight", "OPTIONS")
    assert resp.status == 200
    resp, _ = request(gw, "/key", "OPTIONS")
    assert resp.status == 401


def test_key_auth_hostile_keys(gw):
    resp, body = request(gw, "/key", headers={"apikey": "k" * 20000})
    assert 400 <= resp.status < 500, resp.status  # the head limit or the key: never a 5xx or a hang
    resp, body = request(gw, "/key-body", "POST", {"Content-Type": "application/json"},
                         json.dumps({"apikey": "k" * 4000}))
    assert (resp.status, json.loads(body)) == (401, {"message": "Unauthorized"})
    # A body larger than client_body_buffer_size is not in memory: Kong's get_body fails, no key.
    resp, body = request(gw, "/key-body", "POST", {"Content-Type": "application/json"},
                         json.dumps({"apikey": "k" * 20000}))
    assert (resp.status, json.loads(body)) == (401, {"message": "No API key found in request"})
    resp, body = request(gw, "/key-body", "POST", {"Content-Type": "application/json"}, "[" * 5000)
    assert resp.status == 401
    resp, _ = request(gw, "/key", headers={"apikey": "alice-key"})
    assert resp.status == 200


# ---- basic-auth (Kong: spec/03-plugins/10-basic-auth/03-access_spec.lua) -------------------------

def test_basic_auth_refusals(gw):
    resp, body = request(gw, "/basic")
    assert (resp.status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert resp.getheader("WWW-Authenticate") == 'Basic realm="service"'
    for value in ("foobar", "Basic a29uZw==", "Basic Ym9i", basic("alice", "wrong"), basic("nobody", "x"),
                  "Basic " + "A" * 6000):
        resp, body = request(gw, "/basic", headers={"Authorization": value})
        assert (resp.status, json.loads(body)) == (401, {"message": "Unauthorized"}), value[:40]
        assert resp.getheader("WWW-Authenticate") == 'Basic realm="service"'


def test_basic_auth_accepts_and_identifies(gw):
    resp, body = request(gw, "/basic", headers={"Authorization": basic("alice", "open:sesame")})
    assert resp.status == 200, body
    seen = echoed(body)["headers"]
    assert seen["x-consumer-username"] == "alice"
    assert seen["x-credential-identifier"] == "alice"
    assert seen["authorization"] == basic("alice", "open:sesame")
    resp, body = request(gw, "/basic", headers={"Proxy-Authorization": basic("alice", "open:sesame")})
    assert resp.status == 200
    resp, body = request(gw, "/basic-hide", headers={"Authorization": basic("alice", "open:sesame")})
    assert "authorization" not in echoed(body)["headers"]


def test_basic_auth_anonymous_and_logical_or_and(gw):
    resp, body = request(gw, "/basic-anon")
    seen = echoed(body)["headers"]
    assert (seen["x-consumer-username"], seen["x-anonymous-consumer"]) == ("anonymous", "true")
    resp, body = request(gw, "/or", headers={"Authorization": basic("alice", "open:sesame")})
    seen = echoed(body)["headers"]
    assert seen["x-consumer-username"] == "alice" and "x-anonymous-consumer" not in seen
    resp, body = request(gw, "/or", headers={"apikey": "bob-key"})
    assert echoed(body)["headers"]["x-consumer-username"] == "bob"
    resp, _ = request(gw, "/and", headers={"apikey": "bob-key"})
    assert resp.status == 401
    resp, body = request(gw, "/and", headers={"apikey": "bob-key",
                                              "Authorization": basic("alice", "open:sesame")})
    assert resp.status == 200


def test_basic_auth_password_never_reaches_logs_or_admin(gw):
    request(gw, "/basic", headers={"Authorization": basic("alice", "open:sesame")})
    conn = http.client.HTTPConnection("127.0.0.1", gw.admin_port, timeout=10)
    conn.request("GET", "/consumers")
    admin = conn.getresponse().read().decode()
    conn.close()
    assert "open:sesame" not in admin
    assert "open:sesame" not in gw.logs()


# ---- jwt (Kong: spec/03-plugins/16-jwt/03-access_spec.lua) ---------------------------------------

def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_jwt_accepts_hs256_in_header_query_and_cookie(gw):
    token = jwt_sign.sign({"iss": "alice-iss"}, secret="alice-secret")
    for path, headers in (("/jwt", bearer(token)), (f"/jwt?jwt={token}", {}),
                          ("/jwt-cookie", {"Cookie": f"other=1; session={token}"})):
        resp, body = request(gw, path, headers=headers)
        assert resp.status == 200, (path, body)
        seen = echoed(body)["headers"]
        assert seen["x-consumer-username"] == "alice"
        assert seen["x-credential-identifier"] == "alice-iss"


def test_jwt_rs256_es256_ps256_and_eddsa(gw, keys):
    for alg, iss in (("RS256", "alice-rsa"), ("ES256", "alice-es"), ("PS256", "alice-ps"), ("EdDSA", "alice-ed")):
        token = jwt_sign.sign({"iss": iss}, alg=alg, key=keys[alg])
        resp, body = request(gw, "/jwt", headers=bearer(token))
        assert resp.status == 200, (alg, body)
        other = jwt_sign.sign({"iss": iss}, alg=alg, key=jwt_sign.make_key(alg))
        resp, body = request(gw, "/jwt", headers=bearer(other))
        assert (resp.status, json.loads(body)) == (401, {"message": "Invalid signature"}), alg


def test_jwt_pss_and_eddsa_hostile(gw, keys):
    """A token whose alg is not its credential's, a tampered signature, a signature made another way."""
    def refused(token):
        resp, body = request(gw, "/jwt", headers=bearer(token))
        return resp.status, json.loads(body)["message"]

    # Kong compares the header's alg with the credential's before any signature check.
    assert refused(jwt_sign.sign({"iss": "alice-rsa"}, alg="PS256", key=keys["RS256"])) == (401, "Invalid algorithm")
    assert refused(jwt_sign.sign({"iss": "alice-ps"}, alg="RS256", key=keys["PS256"])) == (401, "Invalid algorithm")
    assert refused(jwt_sign.sign({"iss": "alice-ed"}, alg="ES256", key=keys["ES256"])) == (401, "Invalid algorithm")
    for alg, iss in (("PS256", "alice-ps"), ("EdDSA", "alice-ed")):
        head, claims, sig = jwt_sign.sign({"iss": iss}, alg=alg, key=keys[alg]).split(".")
        raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
        raw[len(raw) // 2] ^= 0x01
        assert refused(f"{head}.{claims}.{jwt_sign.b64url(bytes(raw))}") == (401, "Invalid signature"), alg
        assert refused(f"{head}.{claims}.") == (401, "Invalid signature"), alg
    # PKCS#1 v1.5 bytes under a PS256 header, signed by the credential's own RSA key.
    pkcs1 = jwt_sign.sign({"iss": "alice-ps"}, alg="RS256", key=keys["PS256"],
                          header={"typ": "JWT", "alg": "PS256"})
    assert refused(pkcs1) == (401, "Invalid signature")
    # An Ed25519 signature from another key (the wrong key), and one made by an RSA key.
    assert refused(jwt_sign.sign({"iss": "alice-ed"}, alg="EdDSA", key=jwt_sign.make_key("EdDSA"))) == (
        401, "Invalid signature")


def test_jwt_refusals_say_why(gw):
    cases = [
        ({}, 401, {"message": "Unauthorized"}, "Bearer"),
        (bearer("not.a.token"), 401, {"message": "Bad token; invalid JSON"}, 'Bearer error="invalid_token"'),
        (bearer(jwt_sign.sign({"iss": "alice-iss"}, alg="none")), 401, {"message": "Bad token; invalid alg"},
         'Bearer error="invalid_token"'),
        (bearer(jwt_sign.sign({"sub": "x"}, secret="alice-secret")), 401,
         {"message": "No mandatory 'iss' in claims"}, None),
        (bearer(jwt_sign.sign({"iss": ""}, secret="alice-secret")), 401, {"message": "Invalid 'iss' in claims"},
         None),
        (bearer(jwt_sign.sign({"iss": "unknown"}, secret="x")), 401,
         {"message": "No credentials found for given 'iss'"}, None),
        (bearer(jwt_sign.sign({"iss": "alice-iss"}, alg="HS512", secret="alice-secret")), 401,
         {"message": "Invalid algorithm"}, None),
        (bearer(jwt_sign.sign({"iss": "alice-iss", "admin": True}, secret="forged")), 401,
         {"message": "Invalid signature"}, None),
    ]
    for headers, status, message, www in cases:
        resp, body = request(gw, "/jwt", headers=headers)
        assert (resp.status, json.loads(body)) == (status, message), headers
        if www:
            assert resp.getheader("WWW-Authenticate") == www
    token_a = jwt_sign.sign({"iss": "alice-iss"}, secret="alice-secret")
    token_b = jwt_sign.sign({"iss": "alice-iss", "n": 1}, secret="alice-secret")
    resp, body = request(gw, f"/jwt?jwt={token_a}", headers=bearer(token_b))
    assert (resp.status, json.loads(body)) == (401, {"message": "Multiple tokens provided"})
    resp, body = request(gw, f"/jwt?jwt={token_a}", headers=bearer(token_a))
    assert resp.status == 200  # the same token twice is one token


def test_jwt_claims_and_maximum_expiration(gw):
    now = int(time.time())
    expired = jwt_sign.sign({"iss": "alice-iss", "exp": now - 10}, secret="alice-secret")
    resp, body = request(gw, "/jwt-exp", headers=bearer(expired))
    assert (resp.status, json.loads(body)) == (401, {"exp": "token expired", "nbf": "must be a number"})
    early = jwt_sign.sign({"iss": "alice-iss", "exp": now + 600, "nbf": now + 300}, secret="alice-secret")
    resp, body = request(gw, "/jwt-exp", headers=bearer(early))
    assert json.loads(body) == {"nbf": "token not valid yet"}
    good = jwt_sign.sign({"iss": "alice-iss", "exp": now + 600, "nbf": now - 1}, secret="alice-secret")
    assert request(gw, "/jwt-exp", headers=bearer(good))[0].status == 200
    assert request(gw, "/jwt", headers=bearer(expired))[0].status == 200  # exp not verified there
    too_long = jwt_sign.sign({"iss": "alice-iss", "exp": now + 600}, secret="alice-secret")
    resp, body = request(gw, "/jwt-max", headers=bearer(too_long))
    assert (resp.status, json.loads(body)) == (401, {"exp": "exceeds maximum allowed expiration"})
    short = jwt_sign.sign({"iss": "alice-iss", "exp": now + 30}, secret="alice-secret")
    assert request(gw, "/jwt-max", headers=bearer(short))[0].status == 200


def test_jwt_secret_is_base64_and_anonymous(gw):
    token = jwt_sign.sign({"iss": "alice-b64"}, secret="binary-secret")
    assert request(gw, "/jwt-b64", headers=bearer(token))[0].status == 200
    assert request(gw, "/jwt", headers=bearer(token))[0].status == 401
    resp, body = request(gw, "/jwt-anon", headers=bearer("garbage"))
    assert echoed(body)["headers"]["x-anonymous-consumer"] == "true"


def test_jwt_hostile_tokens(gw):
    header = jwt_sign.b64url(b'{"alg":"HS256"}')
    deep = jwt_sign.b64url(b'{"iss":' + b"[" * 3000 + b"}")
    for token in (f"{header}.{deep}.x", "." * 3000, "a" * 6000, f"{header}.{jwt_sign.b64url(b'null')}.x"):
        resp, body = request(gw, "/jwt", headers=bearer(token))
        assert resp.status == 401, (token[:30], resp.status)
    assert request(gw, "/jwt", headers=bearer(jwt_sign.sign({"iss": "alice-iss"}, secret="alice-secret")))[
        0].status == 200


# ---- acl (Kong: spec/03-plugins/18-acl/02-access_spec.lua) ---------------------------------------

def test_acl_allow_and_deny(gw):
    resp, body = request(gw, "/acl-allow", headers={"apikey": "alice-key"})
    assert resp.status == 200, body
    assert echoed(body)["headers"]["x-consumer-groups"] == "admins, staff"
    resp, body = request(gw, "/acl-allow", headers={"apikey": "bob-key"})
    assert (resp.status, json.loads(body)) == (403, {"message": "You cannot consume this service"})
    resp, _ = request(gw, "/acl-deny", headers={"apikey": "alice-key"})
    assert resp.status == 403
    resp, body = request(gw, "/acl-deny", headers={"apikey": "bob-key"})
    assert echoed(body)["headers"]["x-consumer-groups"] == "staff"
    resp, body = request(gw, "/acl-hide", headers={"apikey": "bob-key", "X-Consumer-Groups": "admins"})
    assert resp.status == 200
    assert "x-consumer-groups" not in echoed(body)["headers"]


def test_acl_without_authentication(gw):
    resp, body = request(gw, "/acl-alone")
    assert (resp.status, json.loads(body)) == (401, {"message": "Unauthorized"})
    resp, body = request(gw, "/acl-anon")  # the anonymous consumer has no groups
    assert (resp.status, json.loads(body)) == (403, {"message": "You cannot consume this service"})


# ---- configurations refused ----------------------------------------------------------------------

@pytest.mark.parametrize("plugin, config, words", [
    ("acl", "{allow: [a], deny: [b]}", "allow"),
    ("acl", "{}", "allow"),
    ("acl", "{allow: a}", "allow"),
    ("key-auth", "{key_names: [\"bad name\"]}", "key_names"),
    ("key-auth", "{hide_credentials: maybe}", "hide_credentials"),
    ("jwt", "{claims_to_verify: [iat]}", "claims_to_verify"),
    ("jwt", "{maximum_expiration: 60}", "claims_to_verify"),
    ("jwt", "{maximum_expiration: -1}", "maximum_expiration"),
    ("basic-auth", "{colour: red}", "colour"),
])
def test_bad_configurations_are_refused(make_gateway, upstream, plugin, config, words):
    yml = auth_yml(upstream.server_port,
                   route("r", f"          - name: {plugin}\n            config: {config}"))
    check = make_gateway(yml).cli("config", "check")
    assert check.returncode == 1, check.stdout
    assert plugin in check.stderr and words in check.stderr, check.stderr


@pytest.mark.parametrize("plugin, config", [
    ("key-auth", "{}"), ("basic-auth", "{}"), ("jwt", "{}"), ("acl", "{allow: [a]}"), ("cors", "{}"),
])
def test_plugins_that_find_the_consumer_cannot_be_scoped_to_one(make_gateway, upstream, plugin, config):
    # Kong's typedefs.no_consumer: the plugin that identifies the consumer cannot be keyed on it.
    yml = auth_yml(upstream.server_port, route("r", "          - name: request-termination")) + f"""plugins:
  - name: {plugin}
    consumer: alice
    config: {config}
"""
    check = make_gateway(yml).cli("config", "check")
    assert check.returncode == 1, check.stdout
    assert plugin in check.stderr and "consumer: value must be null" in check.stderr, check.stderr


def test_plugins_without_the_rule_can_be_scoped_to_a_consumer(make_gateway, upstream):
    yml = auth_yml(upstream.server_port, route("r", "          - name: key-auth")) + """plugins:
  - name: request-termination
    consumer: alice
    config: {status_code: 418}
"""
    check = make_gateway(yml).cli("config", "check")
    assert check.returncode == 0, check.stderr


# ---- mixed chains with the real JS plugin server -------------------------------------------------

def js_conf(prefix, plugins_dir):
    return ("plugins = bundled, js-consumer-echo, js-auth\n"
            "pluginserver_names = js\n"
            f"pluginserver_js_socket = {prefix}/js_pluginserver.sock\n"
            f"pluginserver_js_start_cmd = {JS_SERVER} --plugins-directory {plugins_dir} --kong-prefix {prefix}\n"
            f"pluginserver_js_query_cmd = {JS_SERVER} --plugins-directory {plugins_dir} --dump-all-plugins\n")


def test_native_auth_then_external_plugin_then_native_acl(make_gateway, upstream, tmp_path):
    routes = "".join([
        route("native-first", "          - name: key-auth\n          - name: js-consumer-echo"),
        route("external-first", "          - name: js-auth\n          - name: acl\n"
                                "            config: {allow: [staff]}"),
    ])
    yml = auth_yml(upstream.server_port, routes) + f"""plugins:
  - name: js-consumer-echo
    consumer: alice
    route: native-first
    config: {{tag: alice-only}}
"""
    plugins_dir = tmp_path / "js-plugins"
    plugins_dir.mkdir()
    for plugin in JS_PLUGINS:
        (plugins_dir / plugin.name).symlink_to(plugin)
    gw = make_gateway(yml)
    gw.conf.write_text(gw.conf.read_text() + js_conf(gw.prefix, plugins_dir))
    gw.prefix.mkdir(parents=True, exist_ok=True)
    gw.start()
    resp, body = request(gw, "/native-first", headers={"apikey": "bob-key"})
    assert resp.status == 200, body
    seen = echoed(body)["headers"]
    assert (seen["x-js-consumer"], seen["x-js-consumer-id"]) == ("bob", BOB_ID)
    assert seen["x-js-credential"] != "none"
    assert seen["x-js-tag"] == "untagged"
    # The consumer-scoped configuration applies once key-auth identified alice.
    resp, body = request(gw, "/native-first", headers={"apikey": "alice-key"})
    seen = echoed(body)["headers"]
    assert (seen["x-js-consumer"], seen["x-js-credential"], seen["x-js-tag"]) == \
        ("alice", ALICE_KEY_ID, "alice-only")
    resp, body = request(gw, "/native-first")
    assert (resp.status, json.loads(body)) == (401, {"message": "No API key found in request"})
    # An external plugin authenticates; the native acl reads that consumer's groups.
    resp, body = request(gw, "/external-first", headers={"x-user": "bob"})
    assert resp.status == 200, body
    assert echoed(body)["headers"]["x-consumer-groups"] == "staff"
    resp, body = request(gw, "/external-first", headers={"x-user": "anonymous"})
    assert (resp.status, json.loads(body)) == (403, {"message": "You cannot consume this service"})
    resp, body = request(gw, "/external-first")
    assert (resp.status, json.loads(body)) == (401, {"message": "Unauthorized"})
