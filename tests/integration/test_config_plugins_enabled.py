"""`plugins =` is enforced through the real binary: a kong.yml plugin whose name is not enabled is
refused (config check, start and reload) even when a plugin server reports it, and the messages
say what is missing and where it would come from."""
from test_pluginservers import EMPTY_YML, FIXTURE, script
from test_proxy import get, kong_yml


def two_plugin_server(tmp_path):
    """A supervised server (the Python socket fixture) whose query command reports py-hello and
    py-image."""
    query = script(tmp_path / "py-dump", "#!/bin/sh\n"
                   "echo '[{\"Name\":\"py-hello\",\"Phases\":[\"access\"],\"Version\":\"1.0\",\"Priority\":10},"
                   "{\"Name\":\"py-image\",\"Phases\":[\"access\"],\"Version\":\"1.0\",\"Priority\":10}]'\n")
    sock = tmp_path / "py.socket"
    return (f"pluginserver_names = py\npluginserver_py_query_cmd = {query}\n"
            f"pluginserver_py_start_cmd = /usr/bin/python3 {FIXTURE} {sock}\npluginserver_py_socket = {sock}\n")


def with_route_plugin(upstream_port, plugin):
    return kong_yml(upstream_port, extra_routes=f"""      - name: plugged
        paths: ["/plugged"]
        plugins:
          - name: {plugin}
""")


def test_a_plugin_a_server_reports_but_plugins_does_not_name_is_refused(make_gateway, tmp_path, upstream):
    gw = make_gateway(with_route_plugin(upstream.server_port, "py-hello"),
                      conf_extra="plugins = bundled, py-image\n" + two_plugin_server(tmp_path))
    check = gw.cli("config", "check")
    assert check.returncode == 1, check.stdout
    assert "plugin 'py-hello' (id " in check.stderr, check.stderr
    assert ") not enabled; add it to the 'plugins' configuration property (plugin server 'py' provides it)" \
        in check.stderr
    gw.start(expect_ok=False)
    assert gw.proc.wait(timeout=30) != 0
    assert "py-hello' (id " in gw.logs() and "not enabled" in gw.logs()


def test_reloading_a_plugin_that_is_not_enabled_is_refused(make_gateway, tmp_path, upstream):
    gw = make_gateway(kong_yml(upstream.server_port),
                      conf_extra="plugins = bundled, py-image\n" + two_plugin_server(tmp_path)).start()
    gw.kong_yml.write_text(with_route_plugin(upstream.server_port, "py-hello"))
    reload = gw.cli("reload")
    assert reload.returncode == 1, reload.stdout
    assert "not enabled; add it to the 'plugins' configuration property" in reload.stderr, reload.stderr
    assert get(gw, "/plugged/x")[0].status == 404  # the old configuration serves
    assert get(gw, "/api/x")[0].status == 200


def test_a_plugin_nobody_provides_is_explained_without_a_circle(make_gateway, tmp_path):
    ghost_yml = EMPTY_YML + "plugins:\n  - name: ghost\n"
    servers = two_plugin_server(tmp_path)
    not_enabled = make_gateway(ghost_yml, conf_extra="plugins = bundled\n" + servers).cli("config", "check")
    assert not_enabled.returncode == 1
    assert ("not enabled; add it to the 'plugins' configuration property, and configure a plugin server "
            "that provides it: plugin servers and what they report: py (py-hello, py-image)") in not_enabled.stderr, \
        not_enabled.stderr

    enabled = make_gateway(ghost_yml, conf_extra="plugins = bundled, ghost\n" + servers).cli("config", "check")
    assert enabled.returncode == 1
    assert ("ghost plugin is enabled but not installed: no plugin server reports it; plugin servers and what "
            "they report: py (py-hello, py-image)") in enabled.stderr, enabled.stderr
    assert "not enabled; add it" not in enabled.stderr

    no_server = make_gateway(ghost_yml, conf_extra="plugins = bundled, ghost\n").cli("config", "check")
    assert no_server.returncode == 1
    assert "no plugin server is configured (pluginserver_names" in no_server.stderr, no_server.stderr
