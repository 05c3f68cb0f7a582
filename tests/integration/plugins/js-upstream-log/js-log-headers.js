'use strict';
// tests/integration/test_upstream_log_headers.py: what the log phase sees of the response headers
// on a route without a `response` phase (the response streamed to the client).
const fs = require('fs');

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    await kong.response.setHeader('x-set-in-access', 'yes');
  }

  async log(kong) {
    const headers = await kong.response.getHeaders();
    const serialized = JSON.parse(await kong.log.serialize());
    fs.appendFileSync(this.config.log_file,
      JSON.stringify({ uri: serialized.request.uri, headers, serialized: serialized.response.headers }) + '\n');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ log_file: { type: 'string', required: true } }],
  Version: '1.0.0',
  Priority: 900,
};
