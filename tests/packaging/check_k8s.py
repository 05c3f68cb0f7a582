#!/usr/bin/env python3
"""Checks deploy/k8s without a cluster (none is reachable here):
1. every object against the Kubernetes API schemas (validate_k8s.js, npm kubernetes-models), and the
   validator itself rejects a broken object;
2. the fields that matter: selectors, probes on /status/ready, the shared socket emptyDir, the grace
   period against preStop + drain, resources, the image's user, kustomization;
3. the pod, played with real processes: the init container's dump, the JavaScript plugin server
   (the real kong-js-pluginserver) on the shared socket dir, gatehouse with the Deployment's KONG_*
   environment (paths and ports moved to this machine), a request through the ConfigMap's route and
   plugin, the probes' endpoints, SIGTERM.
Run: check_k8s.py DEPLOY_DIR   (GATEHOUSE_BUILD_DIR: the gateway to run, default build/)
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
GATEHOUSE = Path(os.environ.get("GATEHOUSE_BUILD_DIR", ROOT / "build")) / "gatehouse"
JS_SERVER = ROOT / "tools" / "node_modules" / ".bin" / "kong-js-pluginserver"
sys.path.insert(0, str(ROOT / "tests" / "support"))
import echo_upstream  # noqa: E402


def load(deploy):
    objects = []
    for path in sorted(deploy.glob("*.yaml")):
        objects += [o for o in yaml.safe_load_all(path.read_text()) if o]
    return objects


def one(objects, kind, name=None):
    found = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def validate_schemas(objects):
    def run(docs):
        return subprocess.run(["node", str(HERE / "validate_k8s.js")], input=json.dumps(docs), text=True,
                              capture_output=True, cwd=HERE)
    result = run(objects)
    print(result.stdout, end="")
    assert result.returncode == 0, "schema validation failed:\n" + result.stdout + result.stderr
    broken = json.loads(json.dumps(one(objects, "Deployment")))
    broken["spec"]["replicas"] = "two"
    assert run([broken]).returncode == 1, "the validator accepted replicas: \"two\""


def env_of(container):
    return {e["name"]: e["value"] for e in container.get("env", [])}


def seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    value, unit = int(match.group(1)), match.group(2) or "s"
    return value / 1000 if unit == "ms" else value * (60 if unit == "m" else 1)


def check_fields(objects, deploy):
    kustomization = one(objects, "Kustomization")
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in deploy.glob("*.yaml") if p.name != "kustomization.yaml"), kustomization["resources"]
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"],
                     one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
                     one(objects, "Service")["spec"]["selector"]):
        assert selector.items() <= labels.items(), f"selector {selector} does not select the pods {labels}"
    assert deployment["spec"]["replicas"] >= 2, "a PodDisruptionBudget needs more than one replica"

    containers = {c["name"]: c for c in pod["containers"] + pod["initContainers"]}
    for name, c in containers.items():
        requests = c.get("resources", {}).get("requests", {})
        assert "cpu" in requests and "memory" in requests, f"{name}: no cpu/memory request"
        assert "memory" in c["resources"].get("limits", {}), f"{name}: no memory limit"
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, name

    gatehouse = containers["gatehouse"]
    env = env_of(gatehouse)
    ports = {p["name"]: p["containerPort"] for p in gatehouse["ports"]}
    status_port = int(env["KONG_STATUS_LISTEN"].rsplit(":", 1)[1])
    assert ports["status"] == status_port, "the status port differs from KONG_STATUS_LISTEN"
    assert gatehouse["readinessProbe"]["httpGet"] == {"path": "/status/ready", "port": "status"}
    assert gatehouse["livenessProbe"]["httpGet"]["port"] == "status"
    for service_port in one(objects, "Service")["spec"]["ports"]:
        assert service_port["targetPort"] in ports, service_port

    # Graceful termination: the kubelet kills after the grace period, counted from preStop's start.
    pre_stop = gatehouse["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = seconds(env["KONG_NGINX_MAIN_WORKER_SHUTDOWN_TIMEOUT"])
    grace = pod["terminationGracePeriodSeconds"]
    assert grace >= int(pre_stop[1]) + drain + 2, f"grace {grace}s < preStop {pre_stop[1]}s + drain {drain}s"

    # The plugin server and gatehouse share the socket directory, an emptyDir.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["plugin-sockets"]
    mounts = {name: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for name, c in containers.items()}
    socket_dir = mounts["gatehouse"]["plugin-sockets"]
    server = containers["js-pluginserver"]
    assert server.get("restartPolicy") == "Always", "the plugin server is not a sidecar"
    assert mounts["js-pluginserver"]["plugin-sockets"] == socket_dir
    prefix = server["command"][server["command"].index("--kong-prefix") + 1]
    assert prefix == socket_dir and env["KONG_PLUGINSERVER_JS_SOCKET"] == f"{socket_dir}/js_pluginserver.sock"
    assert env["KONG_PLUGINSERVER_NAMES"] == "js" and "KONG_PLUGINSERVER_JS_START_CMD" not in env
    # Every ConfigMap a volume names exists, and the image's user is the one the pod runs as.
    for v in volumes.values():
        if "configMap" in v:
            one(objects, "ConfigMap", v["configMap"]["name"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"--uid {pod['securityContext']['runAsUser']} " in dockerfile, "runAsUser is not the image's uid"
    print("fields: selectors, probes, socket emptyDir, grace period, resources, user: ok")
    return deployment


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, what, timeout=60):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError:
        return 0, {}, b""


def play_pod(objects, work):
    """The pod on this machine: each mount path becomes a directory under `work`."""
    deployment = one(objects, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"] + pod["initContainers"]}
    upstream = echo_upstream.start_in_thread(0, "up1")
    dirs = {}
    for v in pod["volumes"]:
        d = work / v["name"]
        d.mkdir()
        dirs[v["name"]] = d
        if "configMap" in v:
            for key, text in one(objects, "ConfigMap", v["configMap"]["name"])["data"].items():
                (d / key).write_text(text)
    kong_yml = dirs["kong-yml"] / "kong.yml"
    kong_yml.write_text(re.sub(r"http://[a-z.-]+:\d+", f"http://127.0.0.1:{upstream.server_port}",
                               kong_yml.read_text()))

    def local(container, text):
        """`text` with the container's mount paths (whole path components, in one pass) and the
        plugin server's program moved to this machine."""
        where = {m["mountPath"]: str(dirs[m["name"]]) for m in container["volumeMounts"]}
        pattern = "|".join(re.escape(p) for p in sorted(where, key=len, reverse=True))
        text = re.sub(rf"(?<![\w/])({pattern})(?=/|\s|$)", lambda m: where[m.group(1)], text)
        return text.replace("kong-js-pluginserver", str(JS_SERVER))

    processes = []
    log = open(work / "processes.log", "w")
    try:
        # Init container 1: the dump, with its own command line (sh -c) made local.
        init = containers["js-plugin-info"]
        subprocess.run([init["command"][0], init["command"][1], local(init, init["command"][2])], check=True,
                       timeout=120)
        # The sidecar: the real kong-js-pluginserver on the shared directory; its startup probe.
        server = containers["js-pluginserver"]
        processes.append(subprocess.Popen([local(server, a) for a in server["command"]], stdout=log,
                                          stderr=subprocess.STDOUT))
        probe = [local(server, a) for a in server["startupProbe"]["exec"]["command"]]
        wait_for(lambda: subprocess.run(probe).returncode == 0, "the plugin server's startup probe")
        # gatehouse with the Deployment's environment, on free loopback ports.
        gatehouse = containers["gatehouse"]
        proxy_port, status_port, admin_port = free_port(), free_port(), free_port()
        env = {k: local(gatehouse, v) for k, v in env_of(gatehouse).items()}
        env.update(KONG_PROXY_LISTEN=f"127.0.0.1:{proxy_port}", KONG_STATUS_LISTEN=f"127.0.0.1:{status_port}",
                   KONG_ADMIN_LISTEN=f"127.0.0.1:{admin_port}", KONG_PREFIX=str(dirs["prefix"]))
        full_env = dict(os.environ, **env)
        gateway = subprocess.Popen([str(GATEHOUSE), "start"], env=full_env, stdout=log, stderr=subprocess.STDOUT)
        processes.append(gateway)
        wait_for(lambda: gateway.poll() is not None or http_get(proxy_port, "/")[0] != 0, "the proxy port")
        assert gateway.poll() is None, f"gatehouse exited with status {gateway.returncode}"
        status, headers, body = http_get(proxy_port, "/echo/x")
        assert status == 200 and json.loads(body)["server"] == "up1", (status, body)
        assert headers.get("X-Hello") == "hello from the pod's plugin server", headers
        print("pod: a request through the ConfigMap's route got the JavaScript plugin's header")
        assert http_get(status_port, "/status/ready")[0] == 200, "/status/ready on status_listen"
        assert http_get(status_port, "/status")[0] == 200, "/status on status_listen"
        print("pod: /status/ready and /status answer 200")
        gateway.send_signal(signal.SIGTERM)
        drain = pod["terminationGracePeriodSeconds"]
        assert gateway.wait(timeout=drain) == 0, "gatehouse did not exit 0 within the grace period"
    except BaseException:
        log.flush()
        print("--- the pod's output:\n" + (work / "processes.log").read_text(errors="replace")[-4000:])
        raise
    finally:
        for p in processes:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
        upstream.shutdown()
        upstream.server_close()
        log.close()


def main(deploy):
    objects = load(deploy)
    validate_schemas(objects)
    check_fields(objects, deploy)
    with tempfile.TemporaryDirectory(prefix="gatehouse-k8s-") as work:
        play_pod(objects, Path(work))
    print("deploy/k8s: ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
