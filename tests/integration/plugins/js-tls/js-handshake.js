'use strict';
// A plugin with only a `certificate` handler (tests/integration/test_tls.py, the plugin-server
// faults during handshakes): it can hold a handshake (config.stall_sni for stall_ms, after creating
// config.started_file if set: the test's marker that the event is open), and nothing else of the
// gateway depends on its server, so plain requests show they are not affected.
const fs = require('fs');

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async certificate(kong) {
    const sni = await kong.nginx.getVar('ssl_server_name');
    if (sni !== this.config.stall_sni) return;
    if (this.config.started_file) fs.writeFileSync(this.config.started_file, String(process.pid));
    await new Promise((resolve) => setTimeout(resolve, this.config.stall_ms));
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { stall_sni: { type: 'string', default: '' } },
    { stall_ms: { type: 'number', default: 0 } },
    { started_file: { type: 'string', default: '' } },
  ],
  Version: '1.0.0',
  Priority: 910,
};
