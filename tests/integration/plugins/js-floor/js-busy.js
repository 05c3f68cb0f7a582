'use strict';
// Never finishes its access handler, but every PDK call it makes is quick: only the per-event
// deadline can end the event (tests/integration/test_floor_plugins.py).
class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    for (;;) await kong.request.getHeader('x-anything');
  }
}

module.exports = { Plugin: KongPlugin, Schema: [], Version: '1.0.0', Priority: 900 };
