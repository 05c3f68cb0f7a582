'use strict';
// Stream test plugin (tests/integration/test_stream.py) for the `certificate`, `preread` and `log`
// phases of stream connections. preread: lets the connection through only when the client address is in
// config.allow (else kong.response.exit(403, reason): Kong logs the reason and closes), answers
// config.banner itself (kong.response.exit(200, banner): the client gets the banner, the upstream
// is never contacted), and notes what the stream PDK reports in kong.ctx.shared. log: appends one
// JSON line with what preread noted and what the log phase itself sees to config.log_file.
// config.stall_ms holds preread (a slow plugin server), after creating config.started_file if set (the
// test's marker that the event is open); config.crash kills the server mid-event.
const fs = require('fs');

async function errorOf(call) {
  try {
    await call();
    return null;
  } catch (e) {
    return String(e && e.message ? e.message : e);
  }
}

class KongPlugin {
  constructor(config) {
    this.config = config;
  }

  // The TLS handshake of a stream connection (a global instance only: no route is known yet):
  // what it records in kong.ctx.shared must reach the connection's later phases.
  async certificate(kong) {
    await kong.ctx.shared.set('cert_sni', (await kong.nginx.getVar('ssl_server_name')) || '(none)');
  }

  async preread(kong) {
    const ip = await kong.client.getIp();
    await kong.ctx.shared.set('preread', {
      ip,
      forwarded_ip: await kong.client.getForwardedIp(),
      port: await kong.client.getPort(),
      forwarded_port: await kong.client.getForwardedPort(),
      subsystem: await kong.nginx.getSubsystem(),
      // Kong's phase checker: neither is available in preread.
      request_error: await errorOf(() => kong.request.getPath()),
      router_error: await errorOf(() => kong.router.getRoute()),
    });
    if (this.config.crash) process.exit(3);
    if (this.config.stall_ms) {
      if (this.config.started_file) fs.writeFileSync(this.config.started_file, String(process.pid));
      await new Promise((resolve) => setTimeout(resolve, this.config.stall_ms));
    }
    if (this.config.banner) return kong.response.exit(200, this.config.banner);
    if (!(this.config.allow || []).includes(ip)) return kong.response.exit(403, `js-stream-guard denied ${ip}`);
  }

  async log(kong) {
    if (!this.config.log_file) return;
    const route = await kong.router.getRoute();
    const entry = {
      plugin: 'js',
      route: route ? route.name : null,
      preread: await kong.ctx.shared.get('preread'),
      subsystem: await kong.nginx.getSubsystem(),
      protocol: await kong.client.getProtocol(),
      ip: await kong.client.getIp(),
      request_error: await errorOf(() => kong.request.getHeader('host')),
      cert_sni: (await kong.ctx.shared.get('cert_sni')) ?? null,
    };
    fs.appendFileSync(this.config.log_file, JSON.stringify(entry) + '\n');
  }
}

module.exports = {
  Plugin: KongPlugin,
  Schema: [
    { allow: { type: 'array', elements: { type: 'string' }, default: [] } },
    { banner: { type: 'string' } }, // optional (a Kong string cannot be empty)
    { log_file: { type: 'string' } },
    { stall_ms: { type: 'number', default: 0 } },
    { crash: { type: 'boolean', default: false } },
    { started_file: { type: 'string' } },
  ],
  Version: '1.0.0',
  Priority: 950,
};
