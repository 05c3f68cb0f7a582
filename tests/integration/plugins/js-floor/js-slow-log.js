'use strict';
// A log handler that waits until the test creates config.gate (bounded), then writes
// config.marker: shutdown tests check that draining waits for it.
const fs = require('fs');

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async log(kong) {
    // kong.response.* is HTTP only: a stream connection's log phase records 0.
    let status = 0;
    try {
      status = await kong.response.getStatus();
    } catch (e) {
      status = 0;
    }
    fs.writeFileSync(this.config.marker + '.started', String(status));
    const giveUp = Date.now() + 30000;
    while (!fs.existsSync(this.config.gate) && Date.now() < giveUp) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await kong.log.notice('slow log done');
    fs.writeFileSync(this.config.marker, String(status));
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ gate: { type: 'string', required: true } }, { marker: { type: 'string', required: true } }],
  Version: '1.0.0',
  Priority: 10,
};
