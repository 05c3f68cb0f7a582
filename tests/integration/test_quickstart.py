"""The quickstart of the README (examples/quickstart), run for real: an upstream, the npm kong-pdk
JavaScript server with a JS plugin, and the C++ PDK plugin examples/cpp-hello over ProtoBuf:1."""
import http.client
import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BUILD_DIR, GATEHOUSE, ROOT, free_port, stop_checked, wait_listening

import echo_upstream



@pytest.fixture
def quickstart(tmp_path):
    upstream = echo_upstream.start_in_thread(0, "quickstart-upstream")
    port, admin = free_port(), free_port()
    prefix = tmp_path / "prefix"
    conf = (ROOT / "examples" / "quickstart" / "gatehouse.conf.in").read_text()
    # Rendered as scripts/demo does, with this test's ports, prefix and build directory.
    conf = conf.replace("@ROOT@/build/quickstart-prefix", str(prefix))
    conf = conf.replace("@ROOT@", str(ROOT)).replace("@BUILD@", str(BUILD_DIR))
    conf = conf.replace("0.0.0.0:8000", f"127.0.0.1:{port}").replace("127.0.0.1:8001", f"127.0.0.1:{admin}")
    conf = conf.replace(f"declarative_config = {ROOT}/examples/quickstart/kong.yml",
                        f"declarative_config = {tmp_path / 'kong.yml'}")
    conf = re.sub(r"proxy_error_log = .*", f"proxy_error_log = {tmp_path / 'error.log'}", conf)
    (tmp_path / "gatehouse.conf").write_text(conf)
    yml = (ROOT / "examples" / "quickstart" / "kong.yml").read_text().replace("127.0.0.1:9000",
                                                                               f"127.0.0.1:{upstream.server_port}")
    (tmp_path / "kong.yml").write_text(yml)
    output = tmp_path / "stdout.log"
    with open(output, "wb") as out:
        proc = subprocess.Popen([str(GATEHOUSE), "start", "-c", str(tmp_path / "gatehouse.conf")], cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        assert wait_listening(proc, port, timeout=60), (tmp_path / "error.log").read_text()
        yield port, tmp_path
    finally:
        try:
            stop_checked(proc, output, tmp_path / "error.log")
        finally:
            upstream.shutdown()


def test_quickstart_runs_js_and_cpp_plugins(quickstart):
    port, workdir = quickstart
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    conn.request("GET", "/echo/hello", headers={"Host": "demo.test"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 200
    assert body["server"] == "quickstart-upstream"
    assert resp.getheader("x-hello-from-javascript") == "Javascript says from the quickstart to demo.test"
    assert resp.getheader("x-hello-from-cpp") == "C++ says from the quickstart to demo.test"
