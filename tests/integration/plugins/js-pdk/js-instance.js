'use strict';
// Instance lifecycle and fault test plugin (tests/integration/test_js_pdk.py): each instance gets a
// number from a per-process counter, so the client sees which instance (and config) served it.
// config.fail_start makes StartInstance fail (the constructor throws); config.throw_in_access
// throws in the handler; the request headers x-wait-ms (a time) and x-wait-for-file (until the test
// creates that file, at most 30 s) hold the event open, and x-started-file names a file created when
// it is open (the test's marker, instead of a guess of how long the event takes to start).
const fs = require('fs');

let instancesStarted = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class KongPlugin {
  constructor(config) {
    if (config.fail_start) throw new Error('js-instance refuses to start: fail_start is set');
    this.config = config;
    this.number = ++instancesStarted;
  }

  async access(kong) {
    await kong.response.setHeader('x-instance', `${this.number}:${this.config.tag}`);
    const started = await kong.request.getHeader('x-started-file');
    if (started) fs.writeFileSync(started, String(process.pid));
    const wait = Number(await kong.request.getHeader('x-wait-ms'));
    if (wait > 0) await sleep(wait);
    const release = await kong.request.getHeader('x-wait-for-file');
    for (let i = 0; release && !fs.existsSync(release) && i < 1500; i++) await sleep(20);
    if (this.config.throw_in_access) throw new Error('js-instance bug: thrown in access');
    await kong.service.request.setHeader('x-instance-reached', String(this.number));
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { tag: { type: 'string', required: true } },
    { fail_start: { type: 'boolean', default: false } },
    { throw_in_access: { type: 'boolean', default: false } },
  ],
  Version: '1.0.0',
  Priority: 500,
};
