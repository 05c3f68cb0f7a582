'use strict';
// Reads who authenticated the request (a native auth plugin ran before it: key-auth 1250, jwt 1450,
// basic-auth 1100) and tells the upstream: x-js-consumer (username), x-js-consumer-id,
// x-js-credential (the credential's id) and x-js-tag (this configuration's tag, so a
// consumer-scoped configuration shows it was the one chosen). tests/integration/test_auth_plugins.py
class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const consumer = await kong.client.getConsumer();
    const credential = await kong.client.getCredential();
    await kong.service.request.setHeader('x-js-consumer', consumer ? consumer.username : 'none');
    await kong.service.request.setHeader('x-js-consumer-id', consumer ? consumer.id : 'none');
    await kong.service.request.setHeader('x-js-credential', credential ? credential.id : 'none');
    await kong.service.request.setHeader('x-js-tag', this.config.tag || 'untagged');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ tag: { type: 'string' } }],
  Version: '1.0.0',
  Priority: 900,
};
