'use strict';
// End-to-end phase test plugin: the `response` phase over a buffered upstream response.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async response(kong) {
    const status = await kong.service.response.getStatus();
    const body = await kong.service.response.getRawBody();
    await kong.response.setHeader('x-upstream-status', String(status));
    await kong.response.setHeader('x-body-length', String(body.length));
    if (this.config.replace) {
      return kong.response.exit(299, this.config.replace, { 'content-type': 'text/plain' });
    }
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ replace: { type: 'string' } }],
  Version: '1.0.0',
  Priority: 800,
};
