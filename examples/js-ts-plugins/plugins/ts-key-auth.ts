// A header/auth plugin: the client sends an API key in a header; a known key authenticates the
// client as a Consumer of kong.yml (kong.client.authenticate), the upstream learns who it is, and
// anything else is answered 401 by the gateway without reaching the upstream.
import type Kong from "kong-pdk/kong";

interface Config {
  header: string; // where the key travels, e.g. "apikey"
  keys: Record<string, string>; // key → consumer username
}

class KongPlugin {
  constructor(private config: Config) {}

  async access(kong: Kong) {
    const key = await kong.request.getHeader(this.config.header);
    const username = key ? this.config.keys[key] : undefined;
    if (!username) {
      const body = Buffer.from(JSON.stringify({ message: "No valid API key found" }));
      return kong.response.exit(401, body, { "Content-Type": "application/json", "WWW-Authenticate": "Key" });
    }
    const consumer = await kong.client.loadConsumer(username, true);
    if (!consumer) {
      return kong.response.error(403, `consumer '${username}' is not configured`);
    }
    await kong.client.authenticate(consumer, { id: `key-of-${username}` });
    await kong.service.request.clearHeader(this.config.header); // the key stays at the gateway
    await kong.service.request.setHeader("x-consumer-username", username);
  }
}

export = {
  Plugin: KongPlugin,
  Schema: [
    { header: { type: "string", default: "apikey" } },
    { keys: { type: "map", keys: { type: "string" }, values: { type: "string" }, required: true } },
  ],
  Version: "1.0.0",
  Priority: 1250,
};
