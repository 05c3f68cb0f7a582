// PDK coverage (tests/integration/test_js_pdk.py), TypeScript: everything a plugin can change about
// the request that goes upstream (kong.service.*, kong.service.request.*). The test checks each
// effect on what the real upstream received; return values travel back in `x-returns`.
// The request header `x-case` picks the scenario.
import type kong from "kong-pdk/kong";

interface Config {
  second_port: number;
  upstream_name: string;
}

type Kong = kong;

class KongPlugin {
  config: Config;

  constructor(config: Config) {
    this.config = config;
  }

  async access(kong: Kong) {
    const which = await kong.request.getHeader("x-case");
    const returns: Record<string, unknown> = {};
    switch (which) {
      case "request":
        returns.set_scheme = await kong.service.request.setScheme("http");
        returns.set_method = await kong.service.request.setMethod("PUT");
        returns.set_path = await kong.service.request.setPath("/changed/path");
        returns.set_query = await kong.service.request.setQuery({ b: ["2", "3"], a: "1", flag: true });
        returns.set_header = await kong.service.request.setHeader("x-set", "set-value");
        returns.add_header = await kong.service.request.addHeader("x-added", "second");
        returns.clear_header = await kong.service.request.clearHeader("x-remove-me");
        returns.set_headers = await kong.service.request.setHeaders({ "x-many-a": "a", "x-many-b": ["b1", "b2"] });
        returns.set_body = await kong.service.request.setBody({ greeting: "hello", n: 42 }, "application/json");
        returns.enable_buffering = await kong.service.request.enableBuffering();
        break;
      case "raw":
        returns.set_raw_query = await kong.service.request.setRawQuery("z=26&y");
        returns.set_raw_body = await kong.service.request.setRawBody("raw body from ts");
        break;
      case "target":
        returns.set_target = await kong.service.setTarget("127.0.0.1", this.config.second_port);
        returns.set_retries = await kong.service.setRetries(2);
        returns.set_tls_verify = await kong.service.setTlsVerify(false);
        break;
      case "upstream":
        returns.set_upstream = await kong.service.setUpstream(this.config.upstream_name);
        break;
      case "timeouts":
        returns.set_timeouts = await kong.service.setTimeouts(1000, 1000, 300);
        break;
    }
    // null results (Lua nil) are absent from the JSON: report them as null explicitly
    for (const k of Object.keys(returns)) if (returns[k] === undefined) returns[k] = null;
    await kong.response.setHeader("x-returns", JSON.stringify(returns));
  }
}

export = {
  Plugin: KongPlugin,
  Schema: [{ second_port: { type: "integer", required: true } }, { upstream_name: { type: "string", required: true } }],
  Version: "1.0.0",
  Priority: 900,
};
