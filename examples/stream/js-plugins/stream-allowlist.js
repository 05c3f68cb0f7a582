'use strict';
// stream-allowlist: a preread plugin for TCP/TLS routes. Connections from addresses outside
// config.allow are closed before the upstream is contacted (kong.response.exit with a status of
// 400 or more sends nothing to the client; the message goes to the gateway's error log). The log
// phase, after the connection ended, logs what preread decided (kong.ctx.shared carries it).
class StreamAllowlist {
  constructor(config) {
    this.config = config;
  }

  async preread(kong) {
    const ip = await kong.client.getIp();
    const allowed = this.config.allow.includes(ip);
    await kong.ctx.shared.set('allowlist_verdict', allowed ? 'allowed' : 'refused');
    if (!allowed) return kong.response.exit(403, `stream-allowlist: ${ip} is not allowed`);
  }

  async log(kong) {
    const verdict = await kong.ctx.shared.get('allowlist_verdict');
    await kong.log.info(`${await kong.client.getIp()} ${verdict} on ${await kong.nginx.getSubsystem()}`);
  }
}

module.exports = {
  Plugin: StreamAllowlist,
  Schema: [{ allow: { type: 'array', elements: { type: 'string' }, default: [] } }],
  Version: '1.0.0',
  Priority: 1000,
};
