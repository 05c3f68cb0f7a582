'use strict';
// A plugin with only a `certificate` handler (tests/integration/test_tls.py, the plugin-server
// faults during handshakes): it can hold a handshake (config.stall_sni for stall_ms), and nothing
// else of the gateway depends on its server, so plain requests show they are not affected.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async certificate(kong) {
    const sni = await kong.nginx.getVar('ssl_server_name');
    if (sni === this.config.stall_sni) await new Promise((resolve) => setTimeout(resolve, this.config.stall_ms));
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ stall_sni: { type: 'string', default: '' } }, { stall_ms: { type: 'number', default: 0 } }],
  Version: '1.0.0',
  Priority: 910,
};
