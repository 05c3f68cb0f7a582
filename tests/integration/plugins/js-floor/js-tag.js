'use strict';
// Says which of its configurations ran: x-tag = config.tag (precedence tests: a consumer-scoped
// configuration applies only once an earlier plugin authenticated that consumer).
class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    await kong.response.setHeader('x-tag', this.config.tag);
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ tag: { type: 'string', required: true } }],
  Version: '1.0.0',
  Priority: 800,
};
