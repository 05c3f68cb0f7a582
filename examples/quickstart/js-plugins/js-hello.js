'use strict';
// The quickstart's JavaScript plugin, written for Kong's npm kong-pdk exactly as for Kong:
// adds x-hello-from-javascript to the response.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const host = await kong.request.getHeader('host');
    await kong.response.setHeader('x-hello-from-javascript', `Javascript says ${this.config.message} to ${host}`);
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ message: { type: 'string', required: true } }],
  Version: '0.1.0',
  Priority: 1000,
};
