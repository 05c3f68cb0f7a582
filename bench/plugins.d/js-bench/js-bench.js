'use strict';
// js-bench: the JavaScript plugin of bench/plugins, run by Kong's npm kong-js-pluginserver (MsgPack:1).
// Its access handler makes `calls` PDK calls (kong.request.get_header), one gateway round trip each,
// so request cost can be plotted against PDK calls per request. The twin of sdk/cpp/bench/bench_plugin.cpp.

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async access(kong) {
    for (let i = 0; i < this.config.calls; i++) {
      await kong.request.getHeader('host');
    }
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ calls: { type: 'integer', default: 1, between: [0, 1000] } }],
  Version: '1.0.0',
  Priority: 0,
};
