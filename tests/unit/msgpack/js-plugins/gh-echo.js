// Test plugin for tests/unit/msgpack/js_server_test.cpp, run by the real npm kong-pdk server.
// It reports what the gateway's PDK answers looked like once decoded by the JS PDK.
'use strict';

class Plugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    const value = await kong.request.getHeader('x-in');
    const body = await kong.request.getRawBody();
    const headers = await kong.request.getHeaders();
    const bodyKind = Buffer.isBuffer(body) ? `buffer:${body.toString()}` : typeof body;
    let failure = 'none';
    try {
      await kong.service.setUpstream('nope');
    } catch (e) {
      failure = e.message;
    }
    await kong.response.setHeader(
      'x-out', `${this.config.prefix}|${value}|${bodyKind}|${JSON.stringify(headers)}|${failure}`);
    if (this.config.exit) {
      kong.response.exit(418, 'teapot');
      return;
    }
    await kong.log.info('done', 1.5, 7);
  }
}

module.exports = {
  Plugin,
  Name: 'gh-echo',
  Version: '0.1.0',
  Priority: 10,
  Schema: [{ prefix: { type: 'string' } }, { exit: { type: 'boolean' } }],
};
