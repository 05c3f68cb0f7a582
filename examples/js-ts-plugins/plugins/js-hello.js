'use strict';
// The smallest useful plugin: greets the client in a response header. Configured per route,
// service or globally in kong.yml (config.greeting).

class KongPlugin {
  constructor(config) {
    this.config = config; // one instance per plugin config; kept across requests
  }

  async access(kong) {
    const host = await kong.request.getHost();
    await kong.response.setHeader('x-hello-from-javascript', `${this.config.greeting}, ${host}`);
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ greeting: { type: 'string', default: 'Hello' } }],
  Version: '1.0.0',
  Priority: 10,
};
