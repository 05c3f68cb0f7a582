'use strict';
// A response-rewriting plugin: having a `response` handler makes the gateway buffer the upstream
// response whole; the plugin reads it and sends the client a new body (wrapping the upstream's JSON),
// keeping the upstream status and adding a header.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async response(kong) {
    const status = await kong.service.response.getStatus();
    const contentType = (await kong.service.response.getHeader('content-type')) || '';
    if (!contentType.startsWith('application/json')) return; // leave other bodies alone
    const upstreamBody = await kong.service.response.getRawBody(); // a Buffer
    const wrapped = {
      [this.config.field]: JSON.parse(upstreamBody.toString('utf8')),
      rewritten_by: 'js-rewrite-body',
    };
    return kong.response.exit(status, wrapped, { 'x-rewritten': 'true' });
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ field: { type: 'string', default: 'data' } }],
  Version: '1.0.0',
  Priority: 800,
};
