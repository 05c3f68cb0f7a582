// PDK coverage (tests/integration/test_js_pdk.py), TypeScript: what a plugin gets when a call is
// refused — outside its phases, a CR/LF header value, an unknown method — and kong.response.error.
// The PDK error messages travel to the client in `x-errors` (JSON, so CR/LF stay escaped).
import type kong from "kong-pdk/kong";

type Kong = kong;

// The PDK error message of a call that must fail, or "no error".
async function failure(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return "no error";
  } catch (e) {
    return (e as Error).message;
  }
}

class KongPlugin {
  constructor(_config: object) {}

  async access(kong: Kong) {
    const which = await kong.request.getHeader("x-case");
    const errors: Record<string, string> = {};
    switch (which) {
      case "phase":
        errors.upstream_status_in_access = await failure(() => kong.service.response.getStatus());
        errors.upstream_body_in_access = await failure(() => kong.service.response.getRawBody());
        break;
      case "crlf":
        errors.response_header = await failure(() => kong.response.setHeader("x-evil", "a\r\nx-injected: yes"));
        errors.upstream_header = await failure(() => kong.service.request.setHeader("x-evil", "b\r\nx-injected: yes"));
        errors.upstream_add_header = await failure(() => kong.service.request.addHeader("x-evil", "c\nd"));
        errors.response_headers = await failure(() => kong.response.setHeaders({ "x-fine": "ok", "x-evil": "e\rf" }));
        break;
      case "unknown":
        // the JS PDK turns any property path into a wire name: kong.request.get_nonexistent_thing
        errors.unknown = await failure(() => (kong.request as any).getNonexistentThing());
        break;
      case "error":
        return kong.response.error(429);
    }
    await kong.response.setHeader("x-errors", JSON.stringify(errors));
  }
}

export = { Plugin: KongPlugin, Schema: [], Version: "1.0.0", Priority: 950 };
