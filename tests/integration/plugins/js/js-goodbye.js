'use strict';
// A second plugin in the same kong-js-pdk directory: one server, several plugins (gatehouse
// registers every plugin a server reports; Kong 3.9 keeps only the first).

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async log(kong) {
    kong.log.info(`goodbye ${this.config.who}`);
  }
}

module.exports = {
  Plugin: KongPlugin,
  Name: 'js-goodbye',
  Schema: [{ who: { type: 'string', default: 'world' } }],
  Version: '0.2.0',
  Priority: 5,
};
