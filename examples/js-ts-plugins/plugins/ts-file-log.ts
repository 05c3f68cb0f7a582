// A logging plugin: the `log` phase runs after the response has gone to the client, so it adds
// nothing to the request's latency. kong.log.serialize() gives Kong's log record (request,
// response, latencies, route, service, consumer, ...); this plugin appends it to a file.
import type Kong from "kong-pdk/kong";
import { appendFile } from "fs/promises";

interface Config {
  path: string;
}

class KongPlugin {
  constructor(private config: Config) {}

  async log(kong: Kong) {
    await kong.log.setSerializeValue("logged_by", "ts-file-log", { mode: "set" });
    // serialize() answers Kong's record as a JSON string (kong-pdk's generated types say null)
    const record = JSON.parse((await kong.log.serialize()) as unknown as string);
    await appendFile(this.config.path, JSON.stringify(record) + "\n");
    await kong.log.info("logged ", record.request.method, " ", record.request.uri, " → ", record.response.status);
  }
}

export = {
  Plugin: KongPlugin,
  Schema: [{ path: { type: "string", required: true } }],
  Version: "1.0.0",
  Priority: 5,
};
