'use strict';
// End-to-end phase test plugin (tests/integration/test_plugin_phases.py, test_websocket.py): access
// and log.
const fs = require('fs');

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const deny = await kong.request.getHeader('x-deny');
    if (deny) {
      return kong.response.exit(403, JSON.stringify({ denied: deny }), { 'x-denied-by': 'js-gate' });
    }
    const host = await kong.request.getHeader('host');
    await kong.service.request.setHeader('x-from-plugin', `${this.config.tag}:${host}`);
    await kong.service.request.setPath('/rewritten' + (await kong.request.getPath()));
    await kong.response.setHeader('x-plugin-access', this.config.tag);
    await kong.ctx.shared.set('seen', 'yes');
  }

  async log(kong) {
    const status = await kong.response.getStatus();
    const seen = await kong.ctx.shared.get('seen');
    const serialized = JSON.parse(await kong.log.serialize());
    fs.appendFileSync(this.config.log_file,
      JSON.stringify({
        status, seen, uri: serialized.request && serialized.request.uri,
        request_size: serialized.request.size, response_size: serialized.response.size,
      }) + '\n');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { tag: { type: 'string', required: true } },
    { log_file: { type: 'string', required: true } },
  ],
  Version: '1.0.0',
  Priority: 900,
};
