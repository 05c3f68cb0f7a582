'use strict';
// Stream test plugin (tests/integration/test_stream.py): in `preread` it refuses clients whose
// address is in config.deny (kong.response.exit: the body goes to the client, then the
// connection closes); in `log` it appends what the stream PDK reports to config.log_file.
const fs = require('fs');

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async preread(kong) {
    const ip = await kong.client.getIp();
    if ((this.config.deny || []).includes(ip)) return kong.response.exit(403, `denied ${ip}\n`);
  }

  async log(kong) {
    if (!this.config.log_file) return;
    const entry = {
      ip: await kong.client.getIp(),
      subsystem: await kong.nginx.getSubsystem(),
      route: (await kong.router.getRoute()).name,
    };
    fs.appendFileSync(this.config.log_file, JSON.stringify(entry) + '\n');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { deny: { type: 'array', elements: { type: 'string' }, default: [] } },
    { log_file: { type: 'string', default: '' } },
  ],
  Version: '1.0.0',
  Priority: 950,
};
