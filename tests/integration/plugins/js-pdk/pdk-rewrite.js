'use strict';
// kong.service.request.* setters called in `rewrite` (tests/integration/test_js_pdk.py): a global
// plugin, as Kong runs `rewrite` only for those. Whatever it sets must reach the upstream, over the
// route's and service's defaults. `x-case: raw` picks set_raw_query instead of set_query.
class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  async rewrite(kong) {
    const request = kong.service.request;
    await request.setScheme('http');
    await request.setMethod('PUT');
    await request.setPath('/pdk/rewritten/path');
    if ((await kong.request.getHeader('x-case')) === 'raw') {
      await request.setRawQuery('raw=1&flag');
    } else {
      await request.setQuery({ q: ['1', '2'], z: 'x y' });
    }
    await request.setHeader('x-rewrite-set', 'set');
    await request.addHeader('x-rewrite-added', 'one');
    await request.addHeader('x-rewrite-added', 'two');
    await request.addHeader('x-client', 'added in rewrite');
    await request.clearHeader('x-remove-me');
    await request.setHeaders({ 'x-rewrite-multi': ['m1', 'm2'] });
    await request.setRawBody('body from rewrite');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [],
  Version: '1.0.0',
  Priority: 900,
};
