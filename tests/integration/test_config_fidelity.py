"""Kong's declarative format as real files use it, through the real binary: `_comment` / `_ignore`
anywhere, a service `url` next to the fields it replaces, and top-level keys Kong would refuse
(or that carry credentials of plugins gatehouse does not bundle) refused instead of ignored."""
from test_proxy import get


def real_world_yml(upstream_port):
    """Shaped like the `kong config init` template and Supabase's kong.yml."""
    return f"""_format_version: "3.0"
_transform: true
_comment: This is an example file, to get you started with using declarative configuration in Kong.
_ignore:
  - anchors and notes for humans
services:
  - name: example-service
    _comment: The service that proxies to the echo upstream.
    protocol: https
    url: http://127.0.0.1:{upstream_port}/base
    routes:
      - name: example-route
        _comment: Every request under /example.
        paths: [/example]
        plugins: []
consumers:
  - username: example-user
    _comment: A consumer with no credentials yet.
"""


def test_a_real_world_file_loads_and_the_service_url_wins(make_gateway, upstream):
    gw = make_gateway(real_world_yml(upstream.server_port))
    check = gw.cli("config", "check")
    assert check.returncode == 0, check.stderr
    assert "is valid (1 services, 1 routes, 0 plugins)" in check.stdout
    assert "unknown" not in check.stderr and "ignored" not in check.stderr, check.stderr
    gw.start()
    resp, body = get(gw, "/example/x")
    assert resp.status == 200, body  # plain HTTP to the upstream: the url's scheme, not `protocol: https`


def test_top_level_credentials_load_and_unknown_keys_are_refused(make_gateway, upstream):
    base = real_world_yml(upstream.server_port)
    top_level = ("keyauth_credentials:\n  - consumer: example-user\n    key: secret\n"
                 "basicauth_credentials:\n  - consumer: example-user\n    username: u\n    password: p\n"
                 "jwt_secrets:\n  - consumer: example-user\n    key: k\n    secret: s\n"
                 "acls:\n  - consumer: example-user\n    group: admins\n")
    check = make_gateway(base + top_level).cli("config", "check")
    assert check.returncode == 0, check.stderr
    for key, entry, message in (
            ("hmacauth_credentials", "  - consumer: example-user\n    username: u\n    secret: s\n",
             "hmacauth_credentials: 'hmacauth_credentials' entities are not supported"),
            ("servicess", "  - name: typo\n", "servicess: unknown field")):
        text = base + f"{key}:\n{entry}"
        line = text.count("\n", 0, text.index(f"\n{key}:")) + 2
        gw = make_gateway(text)
        check = gw.cli("config", "check")
        assert check.returncode == 1, (key, check.stdout)
        assert f"kong.yml:{line}: {message}" in check.stderr, check.stderr
