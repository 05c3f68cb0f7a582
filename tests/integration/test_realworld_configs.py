"""Every kong.yml in tests/integration/realworld/ (written for gatehouse in the shapes public Kong
configurations use) through the real binary: `config check` accepts it, and the requests its
`# expect:` lines list get the status Kong would give, through a real upstream.

An expect line: `# expect: METHOD PATH [name=value ...] -> STATUS`. A value `HS256:<iss>:<secret>`
under the name `jwt` becomes `Authorization: Bearer <token>` (a token expiring in 10 minutes)."""
import http.client
import re
import time
from pathlib import Path

import pytest

import jwt_sign

FOLDER = Path(__file__).resolve().parent / "realworld"
EXPECT = re.compile(r"^# expect: (\S+) (\S+)((?: \S+=\S+(?: \S+)?)*) -> (\d{3})$")


def expectations(text):
    out = []
    for line in text.splitlines():
        match = EXPECT.match(line)
        if not match:
            continue
        method, path, pairs, status = match.groups()
        headers = {}
        for name, value in re.findall(r" ([\w-]+)=(\S+(?: (?![\w-]+=(?!=))\S+)?)", pairs):
            if name == "jwt":
                alg, iss, secret = value.split(":")
                token = jwt_sign.sign({"iss": iss, "exp": int(time.time()) + 600}, alg=alg, secret=secret)
                headers["Authorization"] = f"Bearer {token}"
            else:
                headers[name] = value
        out.append((method, path, headers, int(status)))
    return out


def configured(text, upstream_port):
    return (text.replace("UPSTREAM_URL", f"http://127.0.0.1:{upstream_port}")
            .replace("UPSTREAM_HOST", "127.0.0.1").replace("UPSTREAM_PORT", str(upstream_port)))


@pytest.mark.parametrize("name", sorted(p.name for p in FOLDER.glob("*.yml")))
def test_realworld_file_loads_and_routes(make_gateway, upstream, name):
    text = (FOLDER / name).read_text()
    cases = expectations(text)
    assert cases, f"{name} lists no '# expect:' lines"
    gw = make_gateway(configured(text, upstream.server_port))
    check = gw.cli("config", "check")
    assert check.returncode == 0, check.stderr
    gw.start()
    for method, path, headers, status in cases:
        conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=15)
        conn.request(method, path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == status, (name, method, path, headers, body[:300])
