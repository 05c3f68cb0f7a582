'use strict';
// End-to-end phase test plugin: the `rewrite` phase (global plugins only, before routing).

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async rewrite(kong) {
    await kong.service.request.setHeader('x-rewrite-seen', 'yes');
    const block = await kong.request.getHeader('x-block-early');
    if (block) return kong.response.exit(418, 'blocked in rewrite');
  }
}

module.exports = { Plugin: KongPlugin, Schema: [], Version: '1.0.0', Priority: 2000 };
