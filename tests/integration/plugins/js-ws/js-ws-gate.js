'use strict';
// tests/integration/test_websocket.py: an external plugin on a WebSocket route. Its access phase
// refuses or alters the handshake; its log phase runs when the tunnel is over and records what
// kong.log.serialize says of it.
const fs = require('fs');

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const deny = await kong.request.getHeader('x-deny');
    if (deny) {
      return kong.response.exit(403, JSON.stringify({ denied: deny }), { 'x-denied-by': 'js-ws-gate' });
    }
    await kong.service.request.setHeader('x-from-plugin', 'js-ws-gate');
    await kong.response.setHeader('x-plugin-access', 'js-ws-gate');
  }

  async log(kong) {
    const serialized = JSON.parse(await kong.log.serialize());
    fs.appendFileSync(this.config.log_file, JSON.stringify({
      uri: serialized.request.uri,
      status: serialized.response.status,
      request_size: serialized.request.size,
      response_size: serialized.response.size,
    }) + '\n');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ log_file: { type: 'string', required: true } }],
  Version: '1.0.0',
  Priority: 900,
};
