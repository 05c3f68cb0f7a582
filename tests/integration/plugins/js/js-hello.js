'use strict';
// A small kong-js-pdk plugin (npm kong-pdk 0.6): module exports Plugin, Schema, Version, Priority.
// Used by the plugin-server discovery and schema tests, and available to proxy tests.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const host = await kong.request.getHeader('host');
    await kong.response.setHeader('x-hello-from-javascript', `Javascript says ${this.config.message} to ${host}`);
  }

  async response(kong) {
    await kong.response.setHeader('x-hello-greetings', String(this.config.greetings));
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { message: { type: 'string', required: true } },
    { greetings: { type: 'integer', default: 1, between: [1, 10] } },
    { tone: { type: 'string', default: 'polite', one_of: ['polite', 'casual'] } },
    { tags: { type: 'array', elements: { type: 'string', match: '^[%w-]+$' } } },
  ],
  Version: '0.1.0',
  Priority: 1000,
};
