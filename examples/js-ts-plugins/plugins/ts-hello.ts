// The hello plugin in TypeScript: kong-js-pluginserver loads .ts files through ts-node, and the
// kong-pdk types check every PDK call at load time.
import type Kong from "kong-pdk/kong";

interface Config {
  greeting: string;
}

class KongPlugin {
  constructor(private config: Config) {}

  async access(kong: Kong) {
    const host = await kong.request.getHost();
    await kong.response.setHeader("x-hello-from-typescript", `${this.config.greeting}, ${host}`);
  }
}

export = {
  Plugin: KongPlugin,
  Schema: [{ greeting: { type: "string", default: "Hello" } }],
  Version: "1.0.0",
  Priority: 10,
};
