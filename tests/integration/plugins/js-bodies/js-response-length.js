'use strict';
// A `response`-phase plugin (so the upstream response is buffered): reports the length of the
// upstream's body in `x-body-length`.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async response(kong) {
    const body = await kong.service.response.getRawBody();
    await kong.response.setHeader('x-body-length', String(body.length));
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [],
  Version: '1.0.0',
  Priority: 800,
};
