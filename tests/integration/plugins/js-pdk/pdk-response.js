'use strict';
// PDK coverage (tests/integration/test_js_pdk.py), JavaScript: the buffered upstream response
// (kong.service.response.*) and the client response (kong.response.*) in `response` (after
// multi-valued response headers set in `access`), and kong.log.*
// in `log`. What the plugin read goes to the client in `x-seen` (JSON); the log phase appends one
// JSON line per request to config.log_file.
const fs = require('fs');

function plain(value) {
  return Buffer.isBuffer(value) ? value.toString('utf8') : value;
}

// The PDK error message of a call that must fail, or 'no error'.
async function failure(call) {
  try {
    await call();
    return 'no error';
  } catch (e) {
    return e.message;
  }
}

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  // Headers with several values set before the upstream answers: the buffered response keeps them all.
  async access(kong) {
    await kong.response.addHeader('x-access-added', 'a1');
    await kong.response.addHeader('x-access-added', 'a2');
    await kong.response.setHeader('x-access-list', ['l1', 'l2']);
  }

  async response(kong) {
    const seen = {};
    seen.upstream_status = await kong.service.response.getStatus();
    seen.upstream_header = await kong.service.response.getHeader('x-upstream-name');
    seen.upstream_headers = await kong.service.response.getHeaders();
    seen.upstream_raw_body = plain(await kong.service.response.getRawBody());
    seen.upstream_body = await kong.service.response.getBody();
    seen.status = await kong.response.getStatus();
    seen.header = await kong.response.getHeader('x-upstream-name');
    seen.headers = await kong.response.getHeaders();
    seen.source = await kong.response.getSource();
    await kong.response.setStatus(201);
    await kong.response.setHeader('x-resp-set', 'one');
    await kong.response.addHeader('x-resp-added', 'a');
    await kong.response.addHeader('x-resp-added', 'b');
    await kong.response.clearHeader('x-upstream-name');
    await kong.response.setHeaders({ 'x-resp-many': 'many', 'x-resp-list': ['l1', 'l2'] });
    seen.status_after = await kong.response.getStatus();
    await kong.response.setHeader('x-seen', JSON.stringify(seen));
  }

  async log(kong) {
    const line = {};
    await kong.log('plain kong.log from ', 'pdk-response');
    await kong.log.alert('alert line');
    await kong.log.crit('crit line');
    await kong.log.err('err line');
    await kong.log.warn('warn line');
    await kong.log.notice('notice line');
    await kong.log.info('info line');
    await kong.log.debug('debug line');
    await kong.log.deprecation('deprecation line');
    await kong.log.setSerializeValue('request.pdk_extra', 'extra-value');
    line.serialized = JSON.parse(await kong.log.serialize());
    line.status = await kong.response.getStatus();
    line.upstream_status = await kong.service.response.getStatus();
    line.source = await kong.response.getSource();
    // writers are refused once the response is gone
    line.set_header_in_log = await failure(() => kong.response.setHeader('x-late', '1'));
    line.service_set_header_in_log = await failure(() => kong.service.request.setHeader('x-late', '1'));
    fs.appendFileSync(this.config.log_file, JSON.stringify(line) + '\n');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [{ log_file: { type: 'string', required: true } }],
  Version: '1.0.0',
  Priority: 800,
};
